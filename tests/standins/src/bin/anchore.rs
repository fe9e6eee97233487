//! `anchore-standin`: one binary for every role of the Anchore Enterprise stand-in
//! (`anchore-standin service start <role>`), plus `anchore-standin healthcheck`.

use std::process::ExitCode;

fn main() -> ExitCode {
    lab_standins::anchore::server::main(std::env::args().skip(1).collect())
}
