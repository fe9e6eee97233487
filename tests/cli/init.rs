//! `lab init`: the course's deployment written into a folder, or a trainee's own
//! deployment adopted in place after a backup; nothing of theirs is lost.

use crate::commands::tempdir::Dir;
use crate::support::{lab, run};
use std::path::Path;

fn state(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(".lab/state.json")).unwrap()).unwrap()
}

#[test]
fn init_writes_the_course_deployment_and_says_a_license_is_needed() {
    let d = Dir::new("init");
    let ws = d.path().join("env");
    let r = run(lab()
        .args(["init", "--workspace"])
        .arg(&ws)
        .stdin(std::process::Stdio::null()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let compose = std::fs::read_to_string(ws.join("docker-compose.yaml")).unwrap();
    assert!(
        compose.contains("#  prometheus:\n") && compose.contains("ANCHORE_ENABLE_METRICS=false")
    );
    assert_eq!(state(&ws)["project"], "anchore-lab");
    assert!(
        r.stderr
            .contains("warning: Anchore Enterprise needs a license: copy yours to"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Created environment in"), "{}", r.stderr);

    // Running it again refuses to overwrite the trainee's file.
    std::fs::write(ws.join("docker-compose.yaml"), "# my edits\nservices: {}\n").unwrap();
    let r = run(lab().args(["init", "--workspace"]).arg(&ws));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(ws.join("docker-compose.yaml")).unwrap(),
        "# my edits\nservices: {}\n"
    );

    // --force replaces it, but only after a backup.
    let license = d.path().join("my-license.yaml");
    std::fs::write(&license, "license: yes\n").unwrap();
    let r = run(lab()
        .args(["init", "--force", "--project", "class-a", "--license"])
        .arg(&license)
        .arg("--workspace")
        .arg(&ws));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let backups: Vec<_> = std::fs::read_dir(ws.join(".lab/backups"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        std::fs::read_to_string(backups[0].path()).unwrap(),
        "# my edits\nservices: {}\n"
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("license.yaml")).unwrap(),
        "license: yes\n"
    );
    assert_eq!(state(&ws)["project"], "class-a");
    assert!(!r.stderr.contains("needs a license"), "{}", r.stderr);
}

#[test]
fn adopting_each_reference_deployment_finds_its_project_and_services() {
    let reference = crate::reference::path("compose");
    let cases = [
        ("enterprise-5.3.0-quickstart-docker-compose.yaml", None),
        (
            "enterprise-5.6-webinar-demo-anchore-compose.yaml",
            Some("anchore-demo-560"),
        ),
        ("enterprise-3.1.0-quickstart-docker-compose.yaml", None),
        ("engine-1.0.0-quickstart-docker-compose.yaml", None),
    ];
    for (file, named) in cases {
        let d = Dir::new("adopt");
        let folder = d.path().join("My-Deployment");
        std::fs::create_dir_all(&folder).unwrap();
        let original = std::fs::read_to_string(reference.join(file)).unwrap();
        std::fs::write(folder.join("docker-compose.yaml"), &original).unwrap();
        let r = run(lab().args(["init", "--adopt"]).arg(&folder));
        assert_eq!(r.code, 0, "{file}: {}", r.stderr);
        let s = state(&folder);
        assert_eq!(s["project"], named.unwrap_or("my-deployment"), "{file}");
        assert_eq!(s["adopted"], true);
        assert!(
            r.stderr.contains("Anchore: api, catalog"),
            "{file}: {}",
            r.stderr
        );
        // The trainee's file is untouched, and a copy sits in the backups.
        assert_eq!(
            std::fs::read_to_string(folder.join("docker-compose.yaml")).unwrap(),
            original
        );
        let backups: Vec<_> = std::fs::read_dir(folder.join(".lab/backups"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(
            std::fs::read_to_string(backups[0].path()).unwrap(),
            original,
            "{file}"
        );
    }
}

#[test]
fn adopting_a_folder_without_anchore_says_what_is_missing() {
    let d = Dir::new("adopt-bad");
    let r = run(lab().args(["init", "--adopt"]).arg(d.path()));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no compose file in"), "{}", r.stderr);
    std::fs::write(
        d.path().join("compose.yaml"),
        "services:\n  web:\n    image: nginx\n",
    )
    .unwrap();
    let r = run(lab().args(["init", "--adopt"]).arg(d.path()));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("has no Anchore service"), "{}", r.stderr);
}

#[test]
fn check_uses_the_environment_and_remembers_the_result() {
    let d = Dir::new("init-check");
    let (_labs_dir, labs) = crate::commands::scratch_lab();
    let ws = d.path().join("env");
    assert_eq!(
        run(lab()
            .args(["init", "--project", "p1", "--workspace"])
            .arg(&ws)
            .stdin(std::process::Stdio::null()))
        .code,
        0
    );
    std::fs::write(ws.join("notes.txt"), "hello").unwrap();
    let r = run(lab()
        .arg("--labs-dir")
        .arg(&labs)
        .args(["check", "7", "--workspace"])
        .arg(&ws));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let s = state(&ws);
    assert_eq!(s["results"]["07-scratch"]["passed"], 3);
    assert_eq!(s["results"]["07-scratch"]["points"], 4);
}

fn questions_lab(dir: &Path) -> std::path::PathBuf {
    let labs = dir.join("labs");
    let l = labs.join("01-trace");
    std::fs::create_dir_all(&l).unwrap();
    std::fs::write(l.join("README.md"), "# Trace\n").unwrap();
    std::fs::write(
        l.join("lab.yaml"),
        "number: 1\nslug: trace\ntitle: Trace\nsummary: s\nexercises:\n  - id: e\n    title: E\n    questions:\n      - {id: duration, prompt: How long?, answer_type: duration}\n      - {id: graph, prompt: What does the graph show?}\n    checks:\n      - id: duration-right\n        description: the duration is about 79 s\n        kind: answer\n        question: duration\n        expect: {type: number, of: {literal: 79}, tolerance: 2}\n      - id: graph-answered\n        description: the graph question is answered\n        kind: answer\n        question: graph\n        expect: {type: free_text}\n",
    )
    .unwrap();
    labs
}

#[test]
fn answers_are_recorded_checked_by_type_and_used_by_check() {
    let d = Dir::new("answer");
    let labs = questions_lab(d.path());
    let ws = d.path().join("env");
    assert_eq!(
        run(lab()
            .args(["init", "--workspace"])
            .arg(&ws)
            .stdin(std::process::Stdio::null()))
        .code,
        0
    );
    let answer = |args: &[&str]| {
        run(lab()
            .arg("--labs-dir")
            .arg(&labs)
            .arg("answer")
            .args(args)
            .arg("--workspace")
            .arg(&ws))
    };

    let r = answer(&["1", "duration", "about a minute"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("`about a minute` is not a duration: write it as 79s, 1m19s or 79"),
        "{}",
        r.stderr
    );
    let r = answer(&["1", "duratoin", "79s"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("lab 01-trace has no question `duratoin` (did you mean `duration`?)"),
        "{}",
        r.stderr
    );

    let r = answer(&["1", "duration", "1m19s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Recorded answer to `duration` in lab 01-trace: 1m19s"),
        "{}",
        r.stderr
    );
    let r = answer(&["1", "graph", "It", "shows", "the", "analyzer", "busy"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.join(".lab/answers.json")).unwrap())
            .unwrap();
    assert_eq!(
        saved,
        serde_json::json!({"duration": "1m19s", "graph": "It shows the analyzer busy"})
    );

    let r = run(lab()
        .arg("--labs-dir")
        .arg(&labs)
        .args(["check", "1", "--format", "json", "--workspace"])
        .arg(&ws));
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["checks"][0]["status"], "passed", "{doc:#}");
    assert_eq!(
        doc["checks"][1]["status"], "pending",
        "free text waits for the instructor"
    );
    assert_eq!(doc["summary"]["points"], 1);

    let r = answer(&["1", "duration", "90s"]);
    assert!(r.stderr.contains("Replaced answer"), "{}", r.stderr);
    let r = run(lab()
        .arg("--labs-dir")
        .arg(&labs)
        .args(["check", "1", "--workspace"])
        .arg(&ws));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("expected: the model answer (within ±2)\n         actual: 90"),
        "{}",
        r.stdout
    );
}

#[test]
fn adopting_the_5_17_and_a_6_x_style_deployment_keeps_their_names_and_dotenv() {
    // Enterprise 5.17.0 (anchore/s3c-workshops, tests/fixtures/reference/PROVENANCE.md).
    let fixture = crate::support::repo().join(
        "tests/fixtures/reference/anchore/compose/enterprise-5.17.0-s3c-anchore-compose.yaml",
    );
    let five = std::fs::read_to_string(fixture).unwrap();
    // The 6.x quickstart's shape as issue 12 describes it (the file itself is not
    // stored anywhere): the value in `.env`, new services, a one-shot preflight.
    let six = "name: anchore-6\nservices:\n  db-preflight:\n    image: docker.io/anchore/enterprise:v6.0.0\n    restart: \"no\"\n  api:\n    image: docker.io/anchore/enterprise:v6.0.0\n    environment:\n      - ANCHORE_ENABLE_METRICS=${ANCHORE_ENABLE_METRICS}\n  catalog:\n    image: docker.io/anchore/enterprise:v6.0.0\n    environment:\n      - ANCHORE_ENABLE_METRICS=${ANCHORE_ENABLE_METRICS}\n  component-catalog:\n    image: docker.io/anchore/enterprise:v6.0.0\n    environment:\n      - ANCHORE_ENABLE_METRICS=${ANCHORE_ENABLE_METRICS}\n";
    for (text, project, anchore) in [
        (five.as_str(), "anchore-5170", "api, catalog"),
        (six, "anchore-6", "api, catalog, component-catalog"),
    ] {
        let d = Dir::new("adopt-ver");
        std::fs::write(d.path().join("docker-compose.yaml"), text).unwrap();
        std::fs::write(d.path().join(".env"), "ANCHORE_ENABLE_METRICS=false\n").unwrap();
        let r = run(lab().args(["init", "--adopt"]).arg(d.path()));
        assert_eq!(r.code, 0, "{project}: {}", r.stderr);
        assert_eq!(state(d.path())["project"], project);
        assert!(r.stderr.contains(anchore), "{project}: {}", r.stderr);
        assert_eq!(
            std::fs::read_to_string(d.path().join(".env")).unwrap(),
            "ANCHORE_ENABLE_METRICS=false\n"
        );
    }
}

/// Every file under `dir` (relative path, bytes), sorted.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn an_interrupted_adoption_undoes_what_it_wrote_and_exits_130() {
    // Found by issue 14: an interrupted `lab init --adopt` left `.tmp-PID` files and
    // exited by the signal. The signal is sent to the real process once it has begun
    // writing (its `.lab` folder appears); a large compose file (about 6 MB: the
    // backup, the pristine copy and their fsyncs take a while) keeps the window open.
    let d = Dir::new("init-signal");
    let ws = d.path().join("trainee");
    std::fs::create_dir_all(&ws).unwrap();
    let mut compose = String::from(
        "services:\n  api:\n    image: docker.io/anchore/enterprise:v5.17.0\n    environment:\n",
    );
    while compose.len() < 6 << 20 {
        compose.push_str(&format!(
            "      - ANCHORE_NOTE_{}=a long enough value to make the file large\n",
            compose.len()
        ));
    }
    std::fs::write(ws.join("docker-compose.yaml"), &compose).unwrap();
    let before = tree(&ws);
    for (sig, name) in [(libc::SIGINT, "Ctrl-C"), (libc::SIGTERM, "SIGTERM")] {
        let mut interrupted = 0;
        for attempt in 0..12 {
            let child = lab()
                .args(["init", "--adopt"])
                .arg(&ws)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while !ws.join(".lab").exists() && std::time::Instant::now() < end {
                std::thread::yield_now();
            }
            // SAFETY: kill(2) on our own child's pid, not yet waited for.
            let _ = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let after = tree(&ws);
            assert!(
                !after.iter().any(|(f, _)| f.contains(".tmp-")),
                "{name}, attempt {attempt}: a temporary was left: {:?}",
                after.iter().map(|(f, _)| f).collect::<Vec<_>>()
            );
            match out.status.code() {
                Some(130) => {
                    interrupted += 1;
                    assert!(
                        stderr.contains(&format!(
                            "interrupted: `lab init` was stopped ({name}) before it finished; \
                             what it had written is undone"
                        )),
                        "{stderr}"
                    );
                    assert!(
                        after == before,
                        "{name}, attempt {attempt}: the folder is not as it was: {:?}",
                        after.iter().map(|(f, _)| f).collect::<Vec<_>>()
                    );
                }
                Some(0) => {
                    // The signal came after the last write: a whole environment.
                    assert_eq!(state(&ws)["adopted"], true);
                    assert_eq!(
                        std::fs::read(ws.join("docker-compose.yaml")).unwrap(),
                        compose.as_bytes()
                    );
                    std::fs::remove_dir_all(ws.join(".lab")).unwrap();
                }
                other => panic!(
                    "{name}, attempt {attempt}: exit {other:?} ({:?}): {stderr}",
                    out.status
                ),
            }
            if interrupted >= 2 {
                break;
            }
        }
        assert!(interrupted > 0, "{name} never came mid-adoption");
    }
    // After an interruption, adopting again works as if nothing happened.
    let r = run(lab().args(["init", "--adopt"]).arg(&ws));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(state(&ws)["adopted"], true);
}

#[test]
fn concurrent_checks_and_answers_lose_no_update_of_the_state_files() {
    // Every save of `state.json` and `answers.json` is a read-modify-write under
    // `.lab/lock`: six labs checked three times each and 40 answers recorded, all at
    // once, and every result and every answer is there at the end.
    let d = Dir::new("init-concurrent");
    let labs = d.path().join("labs");
    for n in 1..=6 {
        let l = labs.join(format!("0{n}-c{n}"));
        std::fs::create_dir_all(&l).unwrap();
        std::fs::write(l.join("README.md"), format!("# C{n}\n")).unwrap();
        let mut y = format!(
            "number: {n}\nslug: c{n}\ntitle: C{n}\nsummary: s\nexercises:\n  - id: e\n    title: E\n"
        );
        if n == 1 {
            y.push_str("    questions:\n");
            for q in 0..40 {
                y.push_str(&format!("      - {{id: q{q}, prompt: Q{q}?}}\n"));
            }
        }
        y.push_str("    checks:\n      - id: notes\n        description: notes.txt exists\n        kind: file\n        path: notes.txt\n");
        std::fs::write(l.join("lab.yaml"), y).unwrap();
    }
    let ws = d.path().join("env");
    let r = run(lab()
        .args(["init", "--workspace"])
        .arg(&ws)
        .stdin(std::process::Stdio::null()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(ws.join("notes.txt"), "hello").unwrap();
    let mut children = Vec::new();
    for round in 0..3 {
        for n in 1..=6 {
            children.push(
                lab()
                    .arg("--labs-dir")
                    .arg(&labs)
                    .args(["-q", "check", &n.to_string(), "--workspace"])
                    .arg(&ws)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        for q in (round * 14)..((round + 1) * 14).min(40) {
            children.push(
                lab()
                    .arg("--labs-dir")
                    .arg(&labs)
                    .args(["-q", "answer", "1", &format!("q{q}"), &format!("a{q}")])
                    .arg("--workspace")
                    .arg(&ws)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let s = state(&ws);
    for n in 1..=6 {
        assert_eq!(s["results"][format!("0{n}-c{n}")]["passed"], 1, "{s}");
    }
    let answers: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.join(".lab/answers.json")).unwrap())
            .unwrap();
    for q in 0..40 {
        assert_eq!(answers[format!("q{q}")], format!("a{q}"), "{answers}");
    }
}
