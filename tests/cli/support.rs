//! The command builder every integration test uses: the built binary, a clean
//! environment (no colours, no CI spinners, no user lab folder), output captured.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `lab` with a predictable environment.
pub fn lab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lab"));
    c.env_remove("LAB_LABS_DIR")
        .env_remove("LAB_WORKDIR")
        .env_remove("LAB_PROJECT")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env("NO_COLOR", "1")
        .current_dir(repo());
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the lab binary runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A path relative to the repository, as tests print it.
#[allow(dead_code)]
pub fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}
