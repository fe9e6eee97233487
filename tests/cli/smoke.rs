//! `lab smoke` on lab material that needs no Docker (tests/fixtures/smoke): good
//! material passes; broken material is named check by check, in the terminal and in
//! the JUnit report, and the exit code says so.

use crate::support::{lab, run, TempDir};

fn smoke(labs: &str, args: &[&str]) -> crate::support::Run {
    // A snapshot cache of its own (empty), not the user's.
    let cache = crate::support::TempDir::new("smoke-cache");
    run(lab()
        .env("XDG_CACHE_HOME", cache.path())
        .args([
            "--labs-dir",
            &format!("tests/fixtures/smoke/{labs}"),
            "smoke",
        ])
        .args(args))
}

/// The first line of `out` that holds `needle` (empty when none does).
fn line_of<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines().find(|l| l.contains(needle)).unwrap_or_default()
}

/// Every line must appear in the output.
fn assert_has(out: &str, lines: &[&str]) {
    for line in lines {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn good_material_passes_its_solution_and_every_variant() {
    let r = smoke("good", &["--all"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
            "Passed lab 01-notes solution (setup ",
            "Passed lab 01-notes variant wrong-word (setup ",
            // Steps after the solution's: it starts where the solution ends.
            "Passed lab 01-notes variant extra-line (snapshot wait ",
            "3 of 3 scenarios passed in ",
        ],
    );
}

#[test]
fn scenarios_that_differ_only_in_their_answers_are_judged_in_one_environment() {
    let r = smoke("shared", &["--all"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
            "Smoke 1 lab (5 scenarios in 3 fresh environments)",
            // The solution's environment: its steps once, then each member's answers.
            "Passed lab 01-notes solution (setup ",
            // `unanswered` starts from the answers the steps left (none), not from the
            // solution's: otherwise its check would pass and it would be broken.
            "Passed lab 01-notes variant unanswered (checks ",
            "; in the environment of the solution), ",
            "Passed lab 01-notes variant wrong-tool (answers ",
            // An answer followed by another step, or other steps: environments of their own
            // (a step after the solution's: from where the solution ends).
            "Passed lab 01-notes variant extra-line (snapshot wait ",
            "Passed lab 01-notes variant wrong-word (setup ",
            "5 of 5 scenarios passed in ",
        ],
    );
    let r = smoke("shared", &["--all", "--isolated"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
            "Smoke 1 lab (5 scenarios in 5 fresh environments)",
            "Passed lab 01-notes variant unanswered (setup ",
            "Passed lab 01-notes variant wrong-tool (setup ",
        ],
    );
    assert!(
        !r.stderr.contains("; in the environment of"),
        "{}",
        r.stderr
    );
}

#[test]
fn scenarios_side_by_side_are_reported_as_they_finish_then_in_the_courses_order() {
    let r = smoke("good", &["--all", "--jobs", "3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(", 3 at once, under "), "{}", r.stderr);
    // Each as it finishes, counted.
    for n in 1..=3 {
        assert!(
            r.stderr.contains(&format!(", {n} of 3 done\n")),
            "{}",
            r.stderr
        );
    }
    // Then the summary, in the course's order whatever the order they finished in.
    let summary = r
        .stderr
        .split_once("Summary in the course's order:")
        .unwrap_or_else(|| panic!("no summary in {}", r.stderr))
        .1;
    let at = |s: &str| {
        summary
            .find(s)
            .unwrap_or_else(|| panic!("no {s:?} in the summary {summary}"))
    };
    assert!(
        at("passed lab 01-notes solution in ") < at("passed lab 01-notes variant wrong-word in ")
    );
    assert!(
        at("passed lab 01-notes variant wrong-word in ")
            < at("passed lab 01-notes variant extra-line in ")
    );
}

/// A copy of the good material with one more variant that takes `secs` seconds.
fn with_slow_variant(dir: &std::path::Path, secs: u32) -> std::path::PathBuf {
    let labs = dir.join("labs");
    let lab = labs.join("01-notes");
    std::fs::create_dir_all(&lab).unwrap();
    let from = std::path::Path::new("tests/fixtures/smoke/good/01-notes");
    std::fs::copy(from.join("README.md"), lab.join("README.md")).unwrap();
    let yaml = std::fs::read_to_string(from.join("lab.yaml")).unwrap();
    let slow = format!(
        "variants:\n  - id: slow\n    description: A correct alternative that takes its time.\n    after:\n      - action: run\n        argv: [sleep, \"{secs}\"]\n    fails: []\n"
    );
    std::fs::write(lab.join("lab.yaml"), yaml.replacen("variants:\n", &slow, 1)).unwrap();
    labs
}

#[test]
fn ctrl_c_reports_what_finished_and_what_was_cut_short() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};
    let dir = TempDir::new("smoke-sigint");
    let labs = with_slow_variant(dir.path(), 60);
    let root = dir.path().join("root");
    let mut child = lab()
        .args([
            "--labs-dir",
            labs.to_str().unwrap(),
            "smoke",
            "--all",
            "--jobs",
            "4",
        ])
        .args(["--workspace-root", root.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // Interrupted once the three quick scenarios have finished and the slow one runs.
    let mut seen = String::new();
    while !seen.contains(", 3 of 4 done") {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "ended early: {seen}"
        );
        seen.push_str(&line);
    }
    let started = Instant::now();
    // SAFETY: kill(2) on our own child's pid, which it still is (not yet waited for).
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let code = child.wait().unwrap().code();
    let out = format!("{seen}{rest}");
    assert_eq!(code, Some(130), "{out}");
    assert!(started.elapsed() < Duration::from_secs(20), "{out}");
    assert!(
        rest.contains(
            "interrupted: 3 of 4 scenarios finished (0 broken) when the run was interrupted"
        ),
        "{out}"
    );
    let summary = rest
        .split_once("Summary in the course's order:")
        .expect(&out)
        .1;
    for name in ["solution", "variant wrong-word", "variant extra-line"] {
        assert!(
            summary.contains(&format!("passed lab 01-notes {name} in ")),
            "{out}"
        );
    }
    assert!(
        rest.contains(
            "lab 01-notes variant slow: cut short (compose project `lab-smoke-01-notes-slow`"
        ),
        "{out}"
    );
    assert!(!root.exists(), "the run's folders stay: {out}");
}

#[test]
fn a_solution_hands_its_environment_to_the_next_lab_s_solution_with_its_own_answers() {
    // Lab 1's solution shares its environment with two variants that differ in their
    // answers, the last leaving "Grafana"; lab 2's solution goes on in that environment
    // and checks that lab 1's answer is the solution's.
    let r = smoke("handover", &["--all", "--jobs", "4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
            "Passed lab 01-notes variant wrong-tool (answers ",
            "; in the environment of the solution; its environment handed over to the next lab's solution), ",
            "Passed lab 02-more solution (handover wait ",
            "; in the environment the previous lab's solution handed over; ",
            "Passed lab 02-more variant no-line (snapshot wait ",
            "5 of 5 scenarios passed in ",
        ],
    );
    // With --keep each environment is judged as it is kept: none is handed over.
    let r = smoke("handover", &["--all", "--keep"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("handed over"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Passed lab 02-more solution (snapshot wait "),
        "{}",
        r.stderr
    );
}

#[test]
fn the_checks_before_a_solution_are_judged_where_another_scenario_starts_the_same() {
    let defect =
        "check `compose-file-there` passes before the solution (found docker-compose.yaml exists)";
    // Side by side, the variant that starts where the solution does judges them
    // before its own steps, and the solution goes straight to its steps.
    let r = smoke("broken", &["1", "--jobs", "2"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let line = line_of(&r.stderr, "Broken lab 01-notes solution");
    assert!(
        line.contains("; its checks before in the environment of lab 01-notes variant wrong-word")
            && !line.contains(", checks before "),
        "{}",
        r.stderr
    );
    let line = line_of(&r.stderr, "lab 01-notes variant wrong-word (");
    assert!(line.contains("checks before the solution "), "{}", r.stderr);
    assert!(r.stderr.contains(defect), "{}", r.stderr);
    // One at a time, the solution judges its own.
    let r = smoke("broken", &["1", "--jobs", "1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let line = line_of(&r.stderr, "Broken lab 01-notes solution");
    assert!(
        line.contains(", checks before ") && !line.contains("environment of"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(defect), "{}", r.stderr);
}

#[test]
fn a_check_passing_before_the_solution_and_an_unnoticed_mistake_are_named() {
    let dir = TempDir::new("smoke-junit");
    let junit = dir.path().join("smoke.xml");
    let r = smoke("broken", &["1", "--junit", junit.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
        "Broken lab 01-notes solution",
        "check `compose-file-there` passes before the solution (found docker-compose.yaml exists): it awards 1 point for work the trainee has not done",
        "Broken lab 01-notes variant wrong-word",
        "check `notes-exist` should fail for this mistake but is PASS",
        "check `notes-say-metrics` fails too (expected notes.txt contains /metrics/, found no line matches); the variant names only `notes-exist`",
        "Passed lab 01-notes variant extra-line",
        "1 of 3 scenarios passed",
        ],
    );
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report is written");
    assert!(
        xml.contains(r#"<testsuite name="01-notes" tests="3" skipped="0" errors="0" failures="2""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="variant wrong-word" classname="01-notes""#),
        "{xml}"
    );
}

#[test]
fn repeat_reports_each_check_that_did_not_always_behave() {
    let r = smoke("broken", &["1", "--repeat", "2", "--no-variants"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "lab 01-notes solution: `compose-file-there` as expected in 0 of 2 runs (0%)"
        ),
        "{}",
        r.stderr
    );
    let good = smoke("good", &["1", "--repeat", "2"]);
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert!(
        good.stderr
            .contains("every check gave the same result in each of the 2 runs"),
        "{}",
        good.stderr
    );
}

#[test]
fn keep_leaves_the_broken_environment_and_says_where() {
    let root = TempDir::new("smoke-keep");
    let r = smoke(
        "broken",
        &[
            "1",
            "--keep",
            "--workspace-root",
            root.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let kept = root.path().join("01-notes-solution");
    assert!(kept.join("notes.txt").is_file(), "{}", r.stderr);
    assert!(r.stderr.contains("Kept the environment in"), "{}", r.stderr);
    // It stopped at the first broken scenario.
    assert!(!r.stderr.contains("variant wrong-word"), "{}", r.stderr);
}

#[test]
fn smoke_without_labs_or_all_says_what_to_name() {
    let r = smoke("good", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("name the labs to smoke-test (`lab smoke 2 3`), or use --all"),
        "{}",
        r.stderr
    );
}

#[test]
fn only_a_matrix_runs_only_its_scenarios() {
    // CI's second smoke stage: the server releases after `--all` on the default images.
    let r = smoke(
        "good",
        &["--matrix", "1@docker.io/library/alpine:3=lab-test/alpine:3"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
            "Smoke 1 lab (1 scenario in 1 fresh environment, 1 of them on the images of 1 --matrix profile)",
            "Passed lab 01-notes solution [alpine:3] (",
            "1 of 1 scenario passed in ",
        ],
    );
    assert!(!r.stderr.contains("variant"), "{}", r.stderr);
}

/// Every file under `dir`, with its path relative to it.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_labs_starting_state_is_cached_across_runs_and_its_setup_not_replayed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("smoke-cache");
    let cache = dir.path().join("cache");
    let license = dir.path().join("license.yaml");
    std::fs::write(&license, "canary-license-8d1f2c\n").unwrap();
    let cached = |extra: &[&str]| {
        let mut args = vec![
            "2",
            "--snapshot-cache",
            cache.to_str().unwrap(),
            "--license",
            license.to_str().unwrap(),
        ];
        args.extend(extra);
        smoke("chain", &args)
    };
    // --no-snapshots touches no cache.
    let r = cached(&["--no-snapshots"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!cache.exists(), "{}", r.stderr);
    assert!(!r.stderr.contains("restore"), "{}", r.stderr);

    // The first run replays lab 1 once (the leader) and keeps the snapshot.
    let first = cached(&[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_has(
        &first.stderr,
        &[
            "Passed lab 02-more solution (setup ",
            ", snapshot to cache ",
            "Passed lab 02-more variant no-line (snapshot wait ",
            ", restore ",
        ],
    );
    assert!(
        !first.stderr.contains("restore from cache"),
        "{}",
        first.stderr
    );
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = entries[0].path();
    assert_eq!(
        std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // The license each scenario gets is not in the cache, by name or content.
    for f in files_under(&cache) {
        assert_ne!(f.file_name().unwrap(), "license.yaml", "{}", f.display());
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains("canary-license"), "{}", f.display());
    }
    assert_eq!(
        std::fs::read_to_string(entry.join("work/setup.log")).unwrap(),
        "replayed\n"
    );

    // The second: every scenario starts from the cache; the setup is not replayed
    // (lab 1's notes, which lab 2's checks read, come from the snapshot).
    let second = cached(&[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_has(
        &second.stderr,
        &[
            "Passed lab 02-more solution (restore from cache ",
            "Passed lab 02-more variant no-line (restore from cache ",
            "Time ",
            "restore from cache ",
        ],
    );
    assert!(!second.stderr.contains("(setup "), "{}", second.stderr);

    // --fresh-snapshots replays the setup and replaces the entry.
    let fresh = cached(&["--fresh-snapshots"]);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert_has(&fresh.stderr, &["Passed lab 02-more solution (setup "]);
    assert!(
        !fresh.stderr.contains("restore from cache"),
        "{}",
        fresh.stderr
    );
    let names: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(names, vec![entry.clone()], "one entry, replaced in place");

    // An entry that cannot be restored says how to take it again.
    std::fs::remove_dir_all(entry.join("work")).unwrap();
    let broken = cached(&["--no-variants"]);
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    assert_has(
        &broken.stderr,
        &["(a snapshot from the cache: --fresh-snapshots takes it again)"],
    );
}

#[test]
fn a_variant_after_the_solution_starts_where_the_solution_ends() {
    // Lab 2 alone: its solution replays lab 1 (no solution of the run ends there), takes
    // where it starts, runs its step, then takes where it ends; the variant restores that
    // and runs only its own step. Started from lab 2's start instead, it would miss the
    // solution's line and fail `notes-say-prometheus`.
    let dir = TempDir::new("smoke-after");
    let cache = dir.path().join("cache");
    let lab_two = || {
        let cache = cache.to_str().unwrap();
        smoke("after", &["2", "--jobs", "3", "--snapshot-cache", cache])
    };
    let r = lab_two();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_has(
        &r.stderr,
        &[
            "Passed lab 02-more solution (setup ",
            "Passed lab 02-more variant no-line (snapshot wait ",
            "Passed lab 02-more variant one-more-line (snapshot wait ",
            "3 of 3 scenarios passed in ",
        ],
    );
    let solution = r
        .stderr
        .lines()
        .find(|l| l.contains("Passed lab 02-more solution"))
        .unwrap();
    assert_eq!(
        solution.matches("snapshot to cache").count(),
        2,
        "where it starts and where it ends: {solution}"
    );
    // Both are kept: the next run restores each scenario from the cache.
    let again = lab_two();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_has(
        &again.stderr,
        &[
            "Passed lab 02-more solution (restore from cache ",
            "Passed lab 02-more variant one-more-line (restore from cache ",
        ],
    );
}

#[test]
fn two_runs_at_once_on_one_cache_both_pass_leave_one_entry_and_prune_the_stale() {
    let dir = TempDir::new("smoke-cache-race");
    let cache = dir.path().join("cache");
    // An entry of another setup, unused for 8 days, to be pruned (and said with -v).
    let stale = cache.join("02-more-0000000000000000-0000000000000000");
    std::fs::create_dir_all(stale.join("work")).unwrap();
    std::fs::write(stale.join("manifest.json"), "{}").unwrap();
    let used = std::fs::File::create(stale.join("used")).unwrap();
    used.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(8 * 24 * 3600))
        .unwrap();
    let spawn = || {
        lab()
            .args([
                "--labs-dir",
                "tests/fixtures/smoke/chain",
                "smoke",
                "2",
                "-v",
            ])
            .args(["--snapshot-cache", cache.to_str().unwrap()])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut said = String::new();
    for o in &outs {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{err}");
        said.push_str(&err);
    }
    assert!(
        said.contains(
            "Pruned snapshot 02-more-0000000000000000-0000000000000000 from the cache (not used for 7 days"
        ),
        "{said}"
    );
    let names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("02-more-"), "{names:?}");
    assert!(std::path::Path::new(&cache)
        .join(&names[0])
        .join("manifest.json")
        .is_file());
    // Whichever stored second (or found the first's), no copy of its own is left; the
    // entry serves a third run.
    let third = smoke("chain", &["2", "--snapshot-cache", cache.to_str().unwrap()]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_has(
        &third.stderr,
        &["Passed lab 02-more solution (restore from cache "],
    );
}
