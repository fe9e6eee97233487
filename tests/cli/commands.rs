//! The everyday commands, run as a user runs them.

use crate::support::{lab, run};

/// A labs folder with one lab whose checks need nothing but files and commands.
pub fn scratch_lab() -> (tempdir::Dir, std::path::PathBuf) {
    let dir = tempdir::Dir::new("cmds");
    let labs = dir.path().join("labs");
    let lab_dir = labs.join("07-scratch");
    std::fs::create_dir_all(&lab_dir).unwrap();
    std::fs::write(
        lab_dir.join("README.md"),
        "# Scratch\n\nCreate `notes.txt` saying hello.\n",
    )
    .unwrap();
    std::fs::write(
        lab_dir.join("lab.yaml"),
        r#"number: 7
slug: scratch
title: Scratch lab
summary: Files and commands only.
exercises:
  - id: notes
    title: Write notes
    checks:
      - id: notes-exist
        description: notes.txt exists
        kind: file
        path: notes.txt
        points: 2
        hint: create notes.txt in the working folder
      - id: notes-say-hello
        description: notes.txt says hello
        kind: file
        path: notes.txt
        contains: hello
        needs: [notes-exist]
      - id: shell-works
        description: the shell answers
        kind: command
        argv: ["echo ready"]
        shell: true
        stdout: ready
"#,
    )
    .unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    (dir, labs)
}

pub mod tempdir {
    /// A temporary folder removed when dropped: the suite's one helper (tempfile).
    pub use crate::support::TempDir as Dir;
}

#[test]
fn list_shows_the_built_in_labs() {
    let r = run(lab().arg("list"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("00  example"), "{}", r.stdout);
}

#[test]
fn an_unknown_lab_suggests_the_nearest_and_exits_2() {
    let r = run(lab().args(["show", "exampel"]));
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr, "error: no lab named `exampel` (did you mean `example`?)\nhint: run `lab list` to see the labs\n");
}

#[test]
fn a_lab_is_named_by_number_padded_number_or_slug() {
    let (_d, labs) = scratch_lab();
    for name in ["7", "07", "scratch", "07-scratch"] {
        let r = run(lab().arg("--labs-dir").arg(&labs).args(["show", name]));
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert!(
            r.stdout.starts_with("Lab 07: Scratch lab\n"),
            "{name}: {}",
            r.stdout
        );
    }
}

#[test]
fn show_renders_instructions_exercises_and_points() {
    let (_d, labs) = scratch_lab();
    let r = run(lab().arg("--labs-dir").arg(&labs).args(["show", "7"]));
    assert_eq!(
        r.stdout,
        "Lab 07: Scratch lab\nFiles and commands only.\n\nSCRATCH\n\nCreate notes.txt saying hello.\n\nExercises\n\n  notes Write notes  (4 points)\n    - notes.txt exists [notes-exist, 2 points]\n    - notes.txt says hello [notes-say-hello, 1 point]\n    - the shell answers [shell-works, 1 point]\n\nCheck your work with: lab check 7\n"
    );
}

#[test]
fn check_fails_with_expected_actual_and_hint_then_passes_once_fixed() {
    let (d, labs) = scratch_lab();
    let work = d.path().join("work");
    let r = run(lab()
        .arg("--labs-dir")
        .arg(&labs)
        .args(["check", "7", "--workdir"])
        .arg(&work));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("   FAIL notes.txt exists [notes-exist]"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("       expected: notes.txt exists\n         actual: no such file\n           hint: create notes.txt in the working folder\n"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("   SKIP notes.txt says hello [notes-say-hello]"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("lab 07-scratch not passed: 1 passed, 1 failed, 1 skipped; 1/4 points in"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("Checking lab 07-scratch (3 checks)"),
        "{}",
        r.stderr
    );

    std::fs::write(work.join("notes.txt"), "hello\n").unwrap();
    let r = run(lab()
        .arg("--labs-dir")
        .arg(&labs)
        .args(["check", "7", "--workdir"])
        .arg(&work));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("lab 07-scratch passed: 3 passed; 4/4 points in"),
        "{}",
        r.stdout
    );
}

#[test]
fn check_one_exercise_and_an_unknown_exercise() {
    let (d, labs) = scratch_lab();
    let work = d.path().join("work");
    let r = run(lab()
        .arg("--labs-dir")
        .arg(&labs)
        .args(["check", "7", "-e", "nots", "--workdir"])
        .arg(&work));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("error: no exercise `nots` in lab 07-scratch (did you mean `notes`?)"),
        "{}",
        r.stderr
    );
}

#[test]
fn check_writes_a_junit_report() {
    let (d, labs) = scratch_lab();
    let work = d.path().join("work");
    let junit = d.path().join("report.xml");
    let r = run(lab()
        .arg("--labs-dir")
        .arg(&labs)
        .args(["check", "7", "--workdir"])
        .arg(&work)
        .arg("--junit")
        .arg(&junit));
    assert_eq!(r.code, 1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(
            r#"<testsuite name="07-scratch" tests="3" skipped="1" errors="0" failures="1""#
        ),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testcase name="notes::shell-works" classname="07-scratch.notes""#),
        "{xml}"
    );
}

#[test]
fn colours_are_off_with_no_color_and_with_color_never() {
    let (d, labs) = scratch_lab();
    let work = d.path().join("work");
    let r = run(lab()
        .arg("--labs-dir")
        .arg(&labs)
        .args(["check", "7", "--color", "never", "--workdir"])
        .arg(&work));
    assert!(!r.stdout.contains('\x1b') && !r.stderr.contains('\x1b'));
    let r = run(lab()
        .arg("--labs-dir")
        .arg(&labs)
        .args(["check", "7", "--color", "always", "--workdir"])
        .arg(&work));
    assert!(
        r.stdout.contains('\x1b'),
        "--color always colours even when piped"
    );
}

#[test]
fn completions_are_printed_for_bash() {
    let r = run(lab().args(["completions", "bash"]));
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("_lab()"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
}

#[test]
fn a_broken_labs_dir_stops_every_command_with_its_problems() {
    let d = tempdir::Dir::new("broken");
    let lab_dir = d.path().join("01-x");
    std::fs::create_dir_all(&lab_dir).unwrap();
    std::fs::write(
        lab_dir.join("lab.yaml"),
        "number: 1\nslug: x\ntitle: X\nsummary: s\nexercises: []\n",
    )
    .unwrap();
    let r = run(lab().arg("--labs-dir").arg(d.path()).arg("list"));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("01-x/lab.yaml:5:12: exercises: a lab needs at least one exercise"),
        "{}",
        r.stderr
    );
}
