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
