//! `anchore-standin`: one binary for every role of the Anchore Enterprise stand-in
//! (`anchore-standin service start <role>`), plus `anchore-standin healthcheck`.
//!
//! In the bench images it is also installed as `pg_isready` and `redis-cli`, so the
//! quickstart's own healthchecks (`CMD-SHELL pg_isready -U postgres`, `redis-cli PING`)
//! run unchanged: called by those names, it checks the db or redis role. As `postgres`
//! (the quickstart's db `command:`), it starts the db role.

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
        // The quickstart's `command: ["postgres", "-c", "max_connections=1000"]`: the
        // db role; server settings (`-c name=value`) have no effect on the stand-in.
        "postgres" => {
            let rest: Vec<String> = args.collect();
            let mut it = rest.iter();
            while let Some(a) = it.next() {
                let ok = match a.as_str() {
                    "-c" => it.next().is_some_and(|kv| kv.contains('=')),
                    other => other.starts_with("--") && other.contains('='),
                };
                if !ok {
                    eprintln!(
                        "postgres: invalid argument: {a:?} (the stand-in takes -c name=value)"
                    );
                    return ExitCode::from(1);
                }
            }
            vec!["service".into(), "start".into(), "db".into()]
        }
        _ => args.collect(),
    };
    lab_standins::anchore::server::main(args)
}
