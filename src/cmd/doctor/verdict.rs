//! The pure half of `lab doctor`: facts gathered from the machine in, report items
//! out. Nothing here reads the machine, so every verdict is tested on its own.

pub use crate::engine::compose::parse_version as compose_version;
pub use crate::engine::creds::Lookup;
pub use crate::engine::host_ports::{Bind, Holder, Publisher};
pub use crate::engine::images::ImageOutcome;
pub use crate::engine::system::{parse_meminfo, ComposeFacts, DiskFacts, MemFacts};

pub use crate::model::doctor::{Item, Status};

pub const SKIPPED_DOCKER: &str = "skipped: Docker unreachable";

// ---------------------------------------------------------------- Docker engine

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineFacts {
    pub server_version: String,
    pub api_version: String,
}

/// `reason` comes from `crate::engine::docker::connect`, which names the host already.
pub fn docker_item(host: &str, engine: &Result<EngineFacts, String>) -> Item {
    match engine {
        Ok(e) => Item::ok(
            "docker",
            format!(
                "Docker {} (API {}) at {host}",
                e.server_version, e.api_version
            ),
        ),
        Err(reason) => {
            let hint = if reason.to_lowercase().contains("permission denied") {
                "add your user to the `docker` group (`sudo usermod -aG docker $USER`, \
                 then log in again), or run lab with sudo"
            } else {
                "start the Docker daemon (`sudo systemctl start docker`, or `dockerd &`), \
                 or point DOCKER_HOST at a running engine"
            };
            Item::fail(
                "docker",
                format!("cannot reach the Docker engine: {reason}"),
                hint,
            )
        }
    }
}

// ---------------------------------------------------------------- compose

pub fn compose_item(f: &ComposeFacts) -> Item {
    match f {
        ComposeFacts::V2(v) => Item::ok("compose", format!("docker compose {v} (Compose v2 plugin)")),
        ComposeFacts::V1(v) => Item::ok(
            "compose",
            format!("docker-compose {v} (standalone Compose v1; the labs accept it, v2 `docker compose` is recommended)"),
        ),
        ComposeFacts::Missing { message, hint } => {
            Item::fail("compose", message.clone(), hint.clone())
        }
    }
}

// ---------------------------------------------------------------- docker login

/// The daemon's answer to the stored credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    Accepted,
    /// The registry refused the credential (wrong password, expired token).
    Rejected(String),
    /// The registry could not be asked (network, DNS, TLS): nothing known.
    Unverified(String),
    /// The Docker engine is unreachable.
    Skipped,
}

/// Sorts the daemon's error for POST /auth: refusals against everything else.
pub fn classify_auth_error(status: u16, message: &str) -> AuthOutcome {
    let m = message.to_lowercase();
    let refused = [
        "unauthorized",
        "incorrect username or password",
        "authentication required",
        "access denied",
        "denied:",
        "invalid username/password",
        "invalid credentials",
    ];
    if status == 401 || status == 403 || refused.iter().any(|r| m.contains(r)) {
        AuthOutcome::Rejected(message.to_string())
    } else {
        AuthOutcome::Unverified(message.to_string())
    }
}

pub fn login_item(registry: &str, lookup: &Lookup, auth: Option<&AuthOutcome>) -> Item {
    let name = format!("login {registry}");
    let again = format!("docker login {registry}");
    match (lookup, auth) {
        (Lookup::None { looked }, _) => Item::warn(
            name,
            format!(
                "not logged in to {registry} ({looked}); public images still pull anonymously{}",
                if registry == "docker.io" {
                    ", within Docker Hub's anonymous rate limit"
                } else {
                    ""
                }
            ),
            again,
        ),
        (Lookup::Error { message, hint }, _) => Item::fail(name, message.clone(), hint.clone()),
        (Lookup::Found { username, from }, None | Some(AuthOutcome::Skipped)) => Item::skip(
            name,
            format!("credentials for `{username}` found ({from}); verification {SKIPPED_DOCKER}"),
        ),
        (Lookup::Found { username, from }, Some(AuthOutcome::Accepted)) => Item::ok(
            name,
            format!("logged in as `{username}` ({from}); the registry accepts the credentials"),
        ),
        (Lookup::Found { username, from }, Some(AuthOutcome::Rejected(msg))) => Item::fail(
            name,
            format!("the registry rejects the credentials of `{username}` ({from}): {msg}"),
            format!("{again} again: the password or access token is wrong, expired or revoked"),
        ),
        (Lookup::Found { username, from }, Some(AuthOutcome::Unverified(msg))) => Item::warn(
            name,
            format!("credentials for `{username}` found ({from}) but could not be verified: {msg}"),
            format!(
                "the Docker engine could not reach {registry}: check the network, DNS and proxy \
                 settings of the Docker daemon"
            ),
        ),
    }
}

// ---------------------------------------------------------------- images

pub fn image_item(image: &str, registry: &str, o: &ImageOutcome) -> Item {
    let name = format!("image {image}");
    match o {
        ImageOutcome::Present => Item::ok(name, "present"),
        ImageOutcome::Pulled { layers, bytes } => Item::ok(
            name,
            format!(
                "pulled ({}, {} downloaded)",
                crate::text::count(*layers, "layer"),
                human_bytes(*bytes)
            ),
        ),
        ImageOutcome::Missing => Item::fail(
            name,
            "not present (not pulled: --no-pull)",
            format!("run `docker pull {image}`, or `lab doctor` without --no-pull"),
        ),
        ImageOutcome::Failed(msg) => Item::fail(
            name,
            format!("pull failed: {msg}"),
            pull_hint(image, registry, msg),
        ),
        ImageOutcome::Skipped => Item::skip(name, SKIPPED_DOCKER),
    }
}

/// The next step after a failed pull, chosen from the daemon's message.
pub fn pull_hint(image: &str, registry: &str, msg: &str) -> String {
    let m = msg.to_lowercase();
    if m.contains("toomanyrequests") || m.contains("rate limit") {
        format!("the registry's anonymous pull limit is reached: `docker login {registry}`, or wait and try again")
    } else if m.contains("unauthorized")
        || m.contains("denied")
        || m.contains("authentication required")
    {
        format!("`docker login {registry}` with an account that may pull {image}")
    } else if m.contains("manifest unknown") || m.contains("not found") {
        format!("check the image name and tag: {registry} has no {image}")
    } else {
        format!(
            "the Docker engine cannot reach {registry}: check the network, DNS and proxy, or \
             configure a registry mirror (`registry-mirrors` in /etc/docker/daemon.json) and \
             restart Docker"
        )
    }
}

/// `81.3 MB`, like `docker pull` (powers of 1000).
pub fn human_bytes(b: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

// ---------------------------------------------------------------- ports

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFacts {
    pub port: u16,
    pub bind: Bind,
    pub holders: Vec<Holder>,
    /// Why holders may be incomplete (other users' processes unreadable…).
    pub holders_note: Option<String>,
    /// `None` when the Docker engine could not be asked.
    pub publishers: Option<Vec<Publisher>>,
}

pub fn port_item(f: &PortFacts, project: &str) -> Item {
    let name = format!("port {}", f.port);
    let port = f.port;
    if let Some(pubs) = f.publishers.as_ref().filter(|p| !p.is_empty()) {
        let ours = |p: &Publisher| p.project.as_deref() == Some(project);
        let names = |it: &mut dyn Iterator<Item = &Publisher>| {
            it.map(|p| p.name.clone()).collect::<Vec<_>>().join(", ")
        };
        if pubs.iter().all(ours) {
            return Item::ok(
                name,
                format!(
                    "held by this course's container {} (compose project `{project}`)",
                    names(&mut pubs.iter())
                ),
            );
        }
        let others: Vec<&Publisher> = pubs.iter().filter(|p| !ours(p)).collect();
        let who: Vec<String> = others
            .iter()
            .map(|p| match &p.project {
                Some(pr) => format!("container {} (compose project `{pr}`)", p.name),
                None => format!("container {}", p.name),
            })
            .collect();
        let hint = match &others[0].project {
            Some(pr) => format!(
                "stop it (`docker compose -p {pr} down`, or `docker stop {}`), or pass \
                 --project {pr} if that is your course environment",
                others[0].name
            ),
            None => format!("stop it: `docker stop {}`", others[0].name),
        };
        return Item::fail(name, format!("in use by {}", who.join(", ")), hint);
    }
    match &f.bind {
        Bind::Free => Item::ok(name, "free"),
        Bind::Error(e) => Item::warn(
            name,
            format!("cannot test whether port {port} is free: {e}"),
            format!("check it yourself: `ss -ltnp 'sport = :{port}'`"),
        ),
        Bind::InUse if f.holders.is_empty() => Item::fail(
            name,
            format!(
                "in use by a process lab cannot identify{}",
                f.holders_note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ),
            format!("find it with `sudo ss -ltnp 'sport = :{port}'` and stop it: the course publishes port {port}"),
        ),
        Bind::InUse => {
            let proxies = f.holders.iter().all(|h| h.comm == "docker-proxy");
            let who: Vec<String> = f
                .holders
                .iter()
                .map(|h| format!("{} (pid {})", h.comm, h.pid))
                .collect();
            if proxies && f.publishers.is_none() {
                Item::fail(
                    name,
                    format!(
                        "in use by {}: a Docker container publishes it, and with Docker unreachable lab cannot tell which",
                        who.join(", ")
                    ),
                    format!("once Docker answers, `docker ps --filter publish={port}` names it"),
                )
            } else {
                Item::fail(
                    name,
                    format!("in use by {}", who.join(", ")),
                    format!(
                        "stop {} or move it to another port: the course publishes port {port}",
                        f.holders[0].comm
                    ),
                )
            }
        }
    }
}

// ---------------------------------------------------------------- memory and disk

pub fn memory_item(f: &Result<MemFacts, String>, need_mib: u64) -> Item {
    match f {
        Err(e) => Item::warn(
            "memory",
            format!("cannot read /proc/meminfo: {e}"),
            format!("make sure the machine (or Docker Desktop's VM) has at least {need_mib} MiB"),
        ),
        Ok(m) => {
            let total = m.total_kib / 1024;
            let avail = m.available_kib / 1024;
            if total < need_mib {
                Item::fail(
                    "memory",
                    format!("{total} MiB in total, less than the {need_mib} MiB the labs need"),
                    format!("use a machine (or give Docker Desktop's VM) at least {need_mib} MiB"),
                )
            } else if avail < need_mib {
                Item::warn(
                    "memory",
                    format!("{avail} MiB available of {total} MiB; the labs need {need_mib} MiB"),
                    "close other programs or stop containers you do not need (`docker ps`)",
                )
            } else {
                Item::ok(
                    "memory",
                    format!("{avail} MiB available of {total} MiB (the labs need {need_mib} MiB)"),
                )
            }
        }
    }
}

pub fn disk_item(f: &Result<DiskFacts, String>, need_mib: u64) -> Item {
    match f {
        Err(e) => Item::warn(
            "disk",
            format!("cannot measure free disk space: {e}"),
            format!("make sure {need_mib} MiB are free where Docker keeps images (`docker info`: Docker Root Dir)"),
        ),
        Ok(d) => {
            let free = d.free_bytes / (1024 * 1024);
            if free < need_mib {
                Item::fail(
                    "disk",
                    format!("{free} MiB free on {}, less than the {need_mib} MiB the labs need", d.what),
                    "free space: `docker system prune` removes stopped containers, unused networks and dangling images",
                )
            } else {
                Item::ok(
                    "disk",
                    format!("{free} MiB free on {}; the labs need {need_mib} MiB", d.what),
                )
            }
        }
    }
}

// ---------------------------------------------------------------- commands

pub fn command_item(name: &str, found: Option<&std::path::Path>) -> Item {
    match found {
        Some(p) => Item::ok(format!("command {name}"), format!("{}", p.display())),
        None => Item::fail(
            format!("command {name}"),
            format!("`{name}` is not on PATH"),
            format!("install {name}, or add the folder that holds it to PATH"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_versions_are_read_from_both_generations() {
        for (out, want) in [
            ("Docker Compose version v2.27.0\n", Some("v2.27.0")),
            (
                "Docker Compose version 2.20.2+ds1-0ubuntu1~22.04.1",
                Some("2.20.2+ds1-0ubuntu1~22.04.1"),
            ),
            (
                "docker-compose version 1.29.2, build unknown\ndocker-py version: 5.0.3",
                Some("1.29.2"),
            ),
            ("\n\nDocker Compose version v2.3.3", Some("v2.3.3")),
            ("docker: unknown command: docker compose", None),
            ("", None),
        ] {
            assert_eq!(compose_version(out).as_deref(), want, "{out:?}");
        }
    }

    #[test]
    fn compose_verdicts() {
        assert_eq!(
            compose_item(&ComposeFacts::V2("v2.27.0".into())).status,
            Status::Ok
        );
        let v1 = compose_item(&ComposeFacts::V1("1.29.2".into()));
        assert_eq!(v1.status, Status::Ok);
        assert!(v1.detail.contains("docker-compose 1.29.2"));
        let e = crate::error::Error::ComposeMissing {
            tried: "`docker compose version`: docker: unknown command; \
                    `docker-compose version`: not found on PATH"
                .into(),
            forced: None,
        };
        let none = compose_item(&ComposeFacts::Missing {
            message: e.to_string(),
            hint: e.hint().unwrap_or_default(),
        });
        assert_eq!(none.status, Status::Fail);
        assert!(
            none.detail.contains("unknown command") && none.detail.contains("not found on PATH")
        );
        assert!(none.hint.unwrap().contains("docker-compose-plugin"));
    }

    #[test]
    fn docker_verdicts() {
        let ok = docker_item(
            "unix:///var/run/docker.sock",
            &Ok(EngineFacts {
                server_version: "20.10.24".into(),
                api_version: "1.41".into(),
            }),
        );
        assert_eq!(
            ok.detail,
            "Docker 20.10.24 (API 1.41) at unix:///var/run/docker.sock"
        );
        let down = docker_item("unix:///x", &Err("unix:///x: no socket at /x".into()));
        assert_eq!(down.status, Status::Fail);
        assert!(down.hint.unwrap().contains("start the Docker daemon"));
        let denied = docker_item(
            "unix:///x",
            &Err("unix:///x: Permission denied (os error 13)".into()),
        );
        assert!(denied.hint.unwrap().contains("docker` group"));
    }

    #[test]
    fn auth_errors_split_refusals_from_network_trouble() {
        let cases = [
            (401, "login attempt to https://registry-1.docker.io/v2/ failed with status: 401 Unauthorized", true),
            (500, "Get \"https://registry-1.docker.io/v2/\": unauthorized: incorrect username or password", true),
            (500, "Error response from daemon: denied: requested access to the resource is denied", true),
            (500, "Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: no such host", false),
            (500, "Get \"https://registry-1.docker.io/v2/\": net/http: TLS handshake timeout", false),
        ];
        for (status, msg, refused) in cases {
            let o = classify_auth_error(status, msg);
            assert_eq!(matches!(o, AuthOutcome::Rejected(_)), refused, "{msg}");
            assert_eq!(matches!(o, AuthOutcome::Unverified(_)), !refused, "{msg}");
        }
    }

    #[test]
    fn login_verdicts() {
        let found = Lookup::Found {
            username: "bob".into(),
            from: "config.json auths".into(),
        };
        let none = login_item(
            "docker.io",
            &Lookup::None {
                looked: "no entry in /h/.docker/config.json".into(),
            },
            None,
        );
        assert_eq!(none.status, Status::Warn);
        assert_eq!(none.hint.as_deref(), Some("docker login docker.io"));
        assert_eq!(
            login_item("docker.io", &found, Some(&AuthOutcome::Accepted)).status,
            Status::Ok
        );
        let rejected = login_item(
            "docker.io",
            &found,
            Some(&AuthOutcome::Rejected("unauthorized".into())),
        );
        assert_eq!(rejected.status, Status::Fail);
        assert!(rejected.detail.contains("`bob`"));
        assert!(rejected.hint.unwrap().starts_with("docker login docker.io"));
        assert_eq!(
            login_item(
                "docker.io",
                &found,
                Some(&AuthOutcome::Unverified("no such host".into()))
            )
            .status,
            Status::Warn
        );
        let skipped = login_item("docker.io", &found, Some(&AuthOutcome::Skipped));
        assert_eq!(skipped.status, Status::Skip);
        assert!(skipped.detail.contains(SKIPPED_DOCKER));
        let broken = login_item(
            "docker.io",
            &Lookup::Error {
                message: "credsStore `desktop`: docker-credential-desktop is not on PATH".into(),
                hint: "install it".into(),
            },
            None,
        );
        assert_eq!(broken.status, Status::Fail);
    }

    #[test]
    fn image_verdicts_and_pull_hints() {
        assert_eq!(
            image_item("a:1", "docker.io", &ImageOutcome::Present).detail,
            "present"
        );
        assert_eq!(
            image_item(
                "a:1",
                "docker.io",
                &ImageOutcome::Pulled {
                    layers: 3,
                    bytes: 81_300_000
                }
            )
            .detail,
            "pulled (3 layers, 81.3 MB downloaded)"
        );
        let missing = image_item("a:1", "docker.io", &ImageOutcome::Missing);
        assert_eq!(missing.status, Status::Fail);
        assert!(missing.hint.unwrap().contains("docker pull a:1"));
        assert_eq!(
            image_item("a:1", "docker.io", &ImageOutcome::Skipped).status,
            Status::Skip
        );
        for (msg, want) in [
            ("toomanyrequests: You have reached your pull rate limit", "pull limit"),
            ("pull access denied for x, repository does not exist or may require 'docker login'", "docker login docker.io"),
            ("manifest for x:nope not found: manifest unknown", "check the image name"),
            ("Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host", "registry-mirrors"),
        ] {
            let i = image_item("x", "docker.io", &ImageOutcome::Failed(msg.into()));
            assert_eq!(i.status, Status::Fail);
            assert!(i.detail.contains(msg));
            assert!(i.hint.as_ref().unwrap().contains(want), "{msg}: {:?}", i.hint);
        }
    }

    #[test]
    fn bytes_read_like_docker_pull() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(2_340_000_000), "2.3 GB");
    }

    fn port(bind: Bind, holders: Vec<Holder>, publishers: Option<Vec<Publisher>>) -> PortFacts {
        PortFacts {
            port: 9090,
            bind,
            holders,
            holders_note: None,
            publishers,
        }
    }

    fn publisher(name: &str, project: Option<&str>) -> Publisher {
        Publisher {
            name: name.into(),
            project: project.map(Into::into),
        }
    }

    #[test]
    fn port_verdicts() {
        let proxy = || {
            vec![Holder {
                pid: 42,
                comm: "docker-proxy".into(),
            }]
        };
        let cases: Vec<(PortFacts, Status, &str)> = vec![
            (port(Bind::Free, vec![], Some(vec![])), Status::Ok, "free"),
            (port(Bind::Free, vec![], None), Status::Ok, "free"),
            (
                port(
                    Bind::InUse,
                    proxy(),
                    Some(vec![publisher(
                        "anchore-lab-prometheus-1",
                        Some("anchore-lab"),
                    )]),
                ),
                Status::Ok,
                "held by this course's container anchore-lab-prometheus-1",
            ),
            (
                port(
                    Bind::InUse,
                    proxy(),
                    Some(vec![publisher("other-prom-1", Some("other"))]),
                ),
                Status::Fail,
                "in use by container other-prom-1 (compose project `other`)",
            ),
            (
                port(Bind::InUse, proxy(), Some(vec![publisher("web", None)])),
                Status::Fail,
                "in use by container web",
            ),
            (
                port(
                    Bind::InUse,
                    vec![Holder {
                        pid: 7,
                        comm: "nginx".into(),
                    }],
                    Some(vec![]),
                ),
                Status::Fail,
                "in use by nginx (pid 7)",
            ),
            (
                port(Bind::InUse, proxy(), None),
                Status::Fail,
                "Docker unreachable",
            ),
            (
                port(Bind::InUse, vec![], Some(vec![])),
                Status::Fail,
                "cannot identify",
            ),
            (
                port(Bind::Error("permission denied".into()), vec![], None),
                Status::Warn,
                "permission denied",
            ),
        ];
        for (facts, status, words) in cases {
            let item = port_item(&facts, "anchore-lab");
            assert_eq!(item.name, "port 9090");
            assert_eq!(item.status, status, "{facts:?}: {item:?}");
            assert!(item.detail.contains(words), "{facts:?}: {}", item.detail);
            assert_eq!(item.hint.is_some(), status != Status::Ok, "{item:?}");
        }
        let other = port_item(
            &port(
                Bind::InUse,
                proxy(),
                Some(vec![publisher("p-1", Some("old"))]),
            ),
            "anchore-lab",
        );
        assert!(other.hint.unwrap().contains("docker compose -p old down"));
    }

    #[test]
    fn meminfo_is_parsed() {
        let text = "MemTotal:       16314560 kB\nMemFree:          512000 kB\nMemAvailable:    8157280 kB\n";
        assert_eq!(
            parse_meminfo(text),
            Ok(MemFacts {
                total_kib: 16314560,
                available_kib: 8157280
            })
        );
        assert!(parse_meminfo("MemTotal: 1 kB\n")
            .unwrap_err()
            .contains("MemAvailable"));
        assert!(parse_meminfo("MemTotal: x kB\nMemAvailable: 1 kB").is_err());
    }

    #[test]
    fn memory_verdicts() {
        let mib = |t: u64, a: u64| {
            Ok(MemFacts {
                total_kib: t * 1024,
                available_kib: a * 1024,
            })
        };
        let cases = [
            (mib(16384, 8192), 4096, Status::Ok),
            (mib(4096, 4096), 4096, Status::Ok),
            (mib(8192, 2048), 4096, Status::Warn),
            (mib(2048, 1024), 4096, Status::Fail),
            (Err("No such file".to_string()), 4096, Status::Warn),
        ];
        for (facts, need, status) in cases {
            let item = memory_item(&facts, need);
            assert_eq!(item.status, status, "{facts:?}: {item:?}");
            assert!(item.detail.contains("MiB") || item.detail.contains("No such file"));
        }
        assert_eq!(
            memory_item(&mib(2048, 1024), 4096).detail,
            "2048 MiB in total, less than the 4096 MiB the labs need"
        );
    }

    #[test]
    fn disk_verdicts() {
        let d = |mib: u64| {
            Ok(DiskFacts {
                what: "Docker root dir /var/lib/docker".into(),
                free_bytes: mib * 1024 * 1024,
            })
        };
        assert_eq!(disk_item(&d(20480), 10240).status, Status::Ok);
        let low = disk_item(&d(100), 10240);
        assert_eq!(low.status, Status::Fail);
        assert!(low
            .detail
            .contains("100 MiB free on Docker root dir /var/lib/docker"));
        assert_eq!(disk_item(&Err("x".into()), 10240).status, Status::Warn);
    }

    #[test]
    fn command_verdicts() {
        assert_eq!(
            command_item("jq", Some(std::path::Path::new("/usr/bin/jq"))).status,
            Status::Ok
        );
        let missing = command_item("anchorectl", None);
        assert_eq!(missing.status, Status::Fail);
        assert_eq!(missing.name, "command anchorectl");
    }
}
