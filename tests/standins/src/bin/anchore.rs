//! `anchore-standin`: one binary for every role of the Anchore Enterprise stand-in
//! (`anchore-standin service start <role>`), plus `anchore-standin healthcheck`.
//!
//! In the bench images it is also installed as `pg_isready` and `redis-cli`, so the
//! quickstart's own healthchecks (`CMD-SHELL pg_isready -U postgres`, `redis-cli PING`)
//! run unchanged: called by those names, it checks the db or redis role.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let args: Vec<String> = match name.as_str() {
        "pg_isready" => vec!["healthcheck".into(), "db".into()],
        "redis-cli" => vec!["healthcheck".into(), "redis".into()],
        _ => args.collect(),
    };
    lab_standins::anchore::server::main(args)
}
