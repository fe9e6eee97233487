//! `lab-bench build`: builds the bench's local images (only those whose inputs
//! changed) and says how long each took.

use lab_standins::bench;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("build") => {}
        _ => {
            eprintln!("usage: lab-bench build\n\nBuilds the bench images (lab-bench/*) from local files; run `cargo build -p lab-standins` first.");
            return ExitCode::from(2);
        }
    }
    let started = Instant::now();
    let specs = match bench::catalog() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for spec in &specs {
        match bench::build(spec) {
            Ok(b) => eprintln!(
                "{:>12} {} in {:.1}s",
                if b.rebuilt { "Built" } else { "Fresh" },
                b.tag,
                b.took.as_secs_f64()
            ),
            Err(e) => {
                eprintln!("error: {}: {e}", spec.tag);
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!(
        "{:>12} {} images in {:.1}s",
        "Finished",
        specs.len(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
