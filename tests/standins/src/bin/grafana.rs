//! `grafana-standin`: serves the Grafana stand-in, or with `healthcheck` probes a running one (images have no shell or curl).

use std::process::ExitCode;

use lab_standins::grafana::{config::Config, logfmt, server};

const USAGE: &str = "usage: grafana-standin [healthcheck]

Serves a stand-in for Grafana 11.1's HTTP API. Settings come from the environment:
  GF_SERVER_HTTP_ADDR, GF_SERVER_HTTP_PORT (3000), GF_SECURITY_ADMIN_USER (admin),
  GF_SECURITY_ADMIN_PASSWORD (admin), GF_PATHS_DATA (/var/lib/grafana),
  GF_PATHS_PROVISIONING (/etc/grafana/provisioning), GF_FEATURE_TOGGLES_ENABLE.
`healthcheck` exits 0 when this server's /api/health answers.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("grafana-standin: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("grafana-standin: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {}
        ["healthcheck"] => {
            let settle =
                match lab_standins::settle::from_env(std::env::var(lab_standins::settle::VAR).ok())
                {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("grafana-standin: {e}");
                        return ExitCode::from(2);
                    }
                };
            let healthy = lab_standins::settle::probe(settle, || {
                if runtime.block_on(server::healthcheck(&config)) {
                    Ok(())
                } else {
                    Err("no answer".into())
                }
            });
            return if healthy.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        ["-h"] | ["--help"] | ["help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    logfmt::emit(
        "server",
        "info",
        "Starting Grafana",
        &[
            ("version", config.profile.version.into()),
            ("commit", lab_standins::grafana::GRAFANA_COMMIT.into()),
        ],
    );
    let result = server::prepare(config).and_then(|app| runtime.block_on(server::run(app)));
    // Blocked tasks (an in-flight health check) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            logfmt::emit("server", "error", "Server shutdown", &[("error", e)]);
            ExitCode::FAILURE
        }
    }
}
