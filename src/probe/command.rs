//! `command` checks: run a program in the environment's folder (no shell unless
//! asked), with the attempt's time limit; judge its exit code and stdout.

use super::{Ctx, Observation, ProbeResult};
use crate::model::check::CommandCheck;
use crate::text::clip;
use std::process::Stdio;

pub async fn probe(c: &CommandCheck, ctx: &Ctx) -> ProbeResult {
    let (program, args): (&str, Vec<&str>) = if c.shell {
        (
            "sh",
            vec!["-c", c.argv.first().map(String::as_str).unwrap_or("")],
        )
    } else {
        let (p, rest) = c.argv.split_first().ok_or("argv is empty")?;
        (p.as_str(), rest.iter().map(String::as_str).collect())
    };
    let shown = if c.shell {
        format!("sh -c {:?}", args[1])
    } else {
        c.argv.join(" ")
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&args)
        .current_dir(&ctx.target.workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The attempt's timeout drops the future; the child must not outlive it.
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("`{program}` not found on PATH"),
        _ => format!("cannot run `{shown}`: {e}"),
    })?;
    let limit = ctx.remaining();
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "`{shown}` did not finish within {}",
                crate::model::format_duration(super::tenths(limit))
            )
        })?
        .map_err(|e| format!("`{shown}` failed: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();

    let mut expected = vec![format!("exit code {}", c.exit_code)];
    let mut problems = Vec::new();
    if code != Some(c.exit_code) {
        let got = code
            .map(|c| format!("exit code {c}"))
            .unwrap_or_else(|| "killed by a signal".into());
        let tail = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        problems.push(if tail.is_empty() {
            got
        } else {
            format!("{got} ({})", clip(tail.trim(), 100))
        });
    }
    if let Some(pattern) = &c.stdout {
        expected.push(format!("stdout matching /{pattern}/"));
        let re = regex::Regex::new(pattern).map_err(|e| format!("invalid regex: {e}"))?;
        if !re.is_match(&stdout) {
            let first = stdout.lines().next().unwrap_or("");
            problems.push(if first.is_empty() {
                "no output".into()
            } else {
                format!("stdout {:?}", clip(first, 100))
            });
        }
    }
    Ok(if problems.is_empty() {
        Observation::pass(format!("`{shown}`: {}", expected.join(", ")))
    } else {
        Observation::fail(expected.join(", "), problems.join("; "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::testing::{ctx_for, target_in, TempDir};
    use std::time::{Duration, Instant};

    fn cmd(argv: &[&str], shell: bool) -> CommandCheck {
        CommandCheck {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            shell,
            exit_code: 0,
            stdout: None,
        }
    }

    #[tokio::test]
    async fn exit_code_and_stdout_are_judged() {
        let dir = TempDir::new();
        let ctx = ctx_for(target_in(dir.path()), Duration::from_secs(5));
        let mut c = cmd(&["echo", "9090 up"], false);
        c.stdout = Some(r"^\d+ up".into());
        assert!(matches!(
            probe(&c, &ctx).await.unwrap(),
            Observation::Pass { .. }
        ));
        c.stdout = Some("down".into());
        assert_eq!(
            probe(&c, &ctx).await.unwrap(),
            Observation::fail("exit code 0, stdout matching /down/", "stdout \"9090 up\"")
        );
    }

    #[tokio::test]
    async fn shell_runs_only_when_asked_and_reports_stderr_on_failure() {
        let dir = TempDir::new();
        let ctx = ctx_for(target_in(dir.path()), Duration::from_secs(5));
        let c = cmd(&["echo oops >&2; exit 3"], true);
        assert_eq!(
            probe(&c, &ctx).await.unwrap(),
            Observation::fail("exit code 0", "exit code 3 (oops)")
        );
        // Without a shell the script is a program name that does not exist.
        let e = probe(&cmd(&["echo oops >&2; exit 3"], false), &ctx)
            .await
            .unwrap_err();
        assert!(e.contains("not found on PATH"), "{e}");
    }

    #[tokio::test]
    async fn a_hanging_command_is_killed_at_the_deadline() {
        let dir = TempDir::new();
        let ctx = ctx_for(target_in(dir.path()), Duration::from_millis(300));
        let started = Instant::now();
        let e = probe(&cmd(&["sleep", "30"], false), &ctx)
            .await
            .unwrap_err();
        assert!(e.starts_with("`sleep 30` did not finish within"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn runs_in_the_environment_folder() {
        let dir = TempDir::new();
        std::fs::write(dir.path().join("marker.txt"), "here").unwrap();
        let ctx = ctx_for(target_in(dir.path()), Duration::from_secs(5));
        let mut c = cmd(&["cat", "marker.txt"], false);
        c.stdout = Some("^here$".into());
        assert!(matches!(
            probe(&c, &ctx).await.unwrap(),
            Observation::Pass { .. }
        ));
    }
}
