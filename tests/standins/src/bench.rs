//! The lab bench's images: built locally from files (no registry can be reached),
//! tagged under `lab-bench/…` and under the names the course's compose files use,
//! rebuilt only when their inputs change.
//!
//! Each image is `FROM scratch` plus a binary, the shared libraries `ldd` names for it
//! (Debian's Prometheus links only libc), and a static busybox as `/bin/sh` where a
//! compose healthcheck needs a shell (`CMD-SHELL pg_isready …`).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One file placed in an image.
#[derive(Debug, Clone)]
pub struct Entry {
    pub from: PathBuf,
    /// Absolute path inside the image.
    pub to: String,
    /// Extra names the file answers to inside the image (symlinks).
    pub links: Vec<String>,
}

/// An image to build.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub tag: String,
    /// Build on this bench image instead of `scratch` (then `files` and `dirs` are
    /// usually empty): the Anchore roles share one image's layers.
    pub from: Option<String>,
    /// Other names the image is tagged with (the course's real image names).
    pub aliases: Vec<String>,
    pub files: Vec<Entry>,
    /// Empty folders to create (data and scratch folders).
    pub dirs: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub healthcheck: Option<Vec<String>>,
    pub expose: Vec<u16>,
    /// Environment variables the image sets (`ENV`), as (name, value).
    pub env: Vec<(String, String)>,
    /// Folders the image declares as volumes (`VOLUME`), as the real image does.
    pub volumes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Built {
    pub tag: String,
    /// False when the image with the same inputs was already there.
    pub rebuilt: bool,
    pub took: Duration,
}

/// The shared libraries and loader a dynamically linked binary needs, as `ldd` lists them.
pub fn libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| format!("cannot run ldd: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

/// A binary with its libraries, as image entries.
pub fn binary_with_libs(binary: &Path, to: &str, links: &[&str]) -> Result<Vec<Entry>, String> {
    let mut entries = vec![Entry {
        from: binary.to_path_buf(),
        to: to.into(),
        links: links.iter().map(|s| s.to_string()).collect(),
    }];
    for lib in libraries(binary)? {
        let to = lib.display().to_string();
        entries.push(Entry {
            from: lib,
            to,
            links: vec![],
        });
    }
    Ok(entries)
}

/// How long a probe of a container that already passed one waits first (`crate::settle`).
pub const HEALTH_SETTLE: Duration = Duration::from_secs(60);

/// A list as a Dockerfile's exec form (`["a", "b"]`).
fn json(v: &[String]) -> String {
    serde_json::to_string(v).expect("strings serialize")
}

/// A value as a Dockerfile's `ENV` writes it: quoted, with JSON's escapes.
fn quoted(v: &str) -> String {
    serde_json::to_string(v).expect("a string")
}

fn dockerfile(spec: &ImageSpec) -> String {
    let mut d = match &spec.from {
        Some(base) => format!("FROM {base}\n"),
        None => String::from("FROM scratch\n"),
    };
    if !spec.files.is_empty() || !spec.dirs.is_empty() {
        d.push_str("COPY rootfs/ /\n");
    }
    for p in &spec.expose {
        d.push_str(&format!("EXPOSE {p}\n"));
    }
    if !spec.volumes.is_empty() {
        d.push_str(&format!("VOLUME {}\n", json(&spec.volumes)));
    }
    for (k, v) in &spec.env {
        d.push_str(&format!("ENV {k}={}\n", quoted(v)));
    }
    if let Some(h) = &spec.healthcheck {
        // Every probe is a `docker exec` (a runc start, about 70 ms of the engine's CPU
        // on the bench), and engine 20.10 has no `--start-interval` to probe often only
        // while starting. So probes come every half second until the first pass, and a
        // probe that has not passed yet keeps trying inside for up to 10 s
        // (`crate::settle::RISE`): one exec sees a starting stand-in healthy, and a
        // `service_healthy` dependency waits no longer. Once healthy, the probe itself
        // waits HEALTH_SETTLE first (`crate::settle`), so a healthy container is probed
        // about once a minute: at 2 s, four idle smoke stacks of a dozen services each
        // kept the engine busy on a whole core. A probe in its wait when a snapshot
        // pauses the container stops waiting at the unpause (`wait_unless_frozen`), so
        // the settle does not delay the snapshot's wait for health. The timeout covers
        // the wait.
        d.push_str(&format!(
            "ENV {}={}\nHEALTHCHECK --interval=500ms --timeout={}s --start-period=1s --retries=60 CMD {}\n",
            crate::settle::VAR,
            HEALTH_SETTLE.as_secs(),
            HEALTH_SETTLE.as_secs() + 5,
            json(h)
        ));
    }
    if !spec.entrypoint.is_empty() {
        d.push_str(&format!("ENTRYPOINT {}\n", json(&spec.entrypoint)));
    }
    if !spec.cmd.is_empty() {
        d.push_str(&format!("CMD {}\n", json(&spec.cmd)));
    }
    d
}

/// A digest of everything that goes into the image: the Dockerfile, each file's
/// place and bytes, the folders and links.
pub fn inputs_digest(spec: &ImageSpec) -> Result<String, String> {
    let mut h = Sha256::new();
    h.update(dockerfile(spec).as_bytes());
    if let Some(base) = &spec.from {
        // A rebuilt base makes its children stale.
        h.update(docker(&["image", "inspect", "--format", "{{.Id}}", base])?.as_bytes());
    }
    for e in &spec.files {
        let bytes = std::fs::read(&e.from)
            .map_err(|err| format!("cannot read {}: {err}", e.from.display()))?;
        h.update(e.to.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
        for l in &e.links {
            h.update(l.as_bytes());
        }
    }
    for d in &spec.dirs {
        h.update(d.as_bytes());
    }
    Ok(format!("{:x}", h.finalize()))
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

const INPUTS_LABEL: &str = "lab.bench.inputs";

/// Builds the image unless one with the same inputs exists; tags the aliases either way.
pub fn build(spec: &ImageSpec) -> Result<Built, String> {
    let started = Instant::now();
    let digest = inputs_digest(spec)?;
    let current = docker(&[
        "image",
        "inspect",
        "--format",
        &format!("{{{{index .Config.Labels \"{INPUTS_LABEL}\"}}}}"),
        &spec.tag,
    ])
    .ok();
    let rebuilt = current.as_deref() != Some(digest.as_str());
    if rebuilt && only_settings(spec) {
        commit(spec, &digest)?;
    } else if rebuilt {
        let ctx = std::env::temp_dir().join(format!(
            "lab-bench-ctx-{}-{}",
            std::process::id(),
            spec.tag.replace(['/', ':'], "_")
        ));
        let _ = std::fs::remove_dir_all(&ctx);
        std::fs::create_dir_all(&ctx).map_err(|e| format!("{}: {e}", ctx.display()))?;
        let root = ctx.join("rootfs");
        for d in &spec.dirs {
            std::fs::create_dir_all(root.join(d.trim_start_matches('/')))
                .map_err(|e| format!("{d}: {e}"))?;
        }
        for e in &spec.files {
            let dst = root.join(e.to.trim_start_matches('/'));
            std::fs::create_dir_all(dst.parent().expect("absolute paths have parents"))
                .map_err(|err| err.to_string())?;
            std::fs::copy(&e.from, &dst)
                .map_err(|err| format!("cannot copy {}: {err}", e.from.display()))?;
            for l in &e.links {
                let link = root.join(l.trim_start_matches('/'));
                std::fs::create_dir_all(link.parent().expect("absolute paths have parents"))
                    .map_err(|err| err.to_string())?;
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&e.to, &link)
                    .map_err(|err| format!("cannot link {l}: {err}"))?;
            }
        }
        std::fs::write(ctx.join("Dockerfile"), dockerfile(spec)).map_err(|e| e.to_string())?;
        let label = format!("{INPUTS_LABEL}={digest}");
        let ctx_s = ctx.display().to_string();
        let result = docker(&[
            "build", "--quiet", "--label", &label, "--tag", &spec.tag, &ctx_s,
        ]);
        let _ = std::fs::remove_dir_all(&ctx);
        result?;
    }
    for alias in &spec.aliases {
        docker(&["tag", &spec.tag, alias])?;
    }
    Ok(Built {
        tag: spec.tag.clone(),
        rebuilt,
        took: started.elapsed(),
    })
}

/// Whether an image only changes its base's settings (command, environment, ports):
/// no files, no folders, no healthcheck or volumes of its own.
fn only_settings(spec: &ImageSpec) -> bool {
    spec.from.is_some()
        && spec.files.is_empty()
        && spec.dirs.is_empty()
        && spec.healthcheck.is_none()
        && spec.volumes.is_empty()
}

/// Makes an image that only changes its base's settings by committing a container of
/// the base with those changes (`docker commit --change`): one container created and
/// removed, where the engine's legacy builder made and committed one per Dockerfile
/// instruction (5 to 6 s an image on the bench's engine, under 1 s this way). The
/// healthcheck, which `--change` cannot set, is the base's.
fn commit(spec: &ImageSpec, digest: &str) -> Result<(), String> {
    let base = spec.from.as_deref().expect("only_settings checked it");
    let mut changes = Vec::new();
    for (k, v) in &spec.env {
        changes.push(format!("ENV {k}={}", quoted(v)));
    }
    for p in &spec.expose {
        changes.push(format!("EXPOSE {p}"));
    }
    if !spec.entrypoint.is_empty() {
        changes.push(format!("ENTRYPOINT {}", json(&spec.entrypoint)));
    }
    if !spec.cmd.is_empty() {
        changes.push(format!("CMD {}", json(&spec.cmd)));
    }
    changes.push(format!("LABEL {INPUTS_LABEL}={digest}"));
    let container = format!(
        "lab-bench-commit-{}-{}",
        std::process::id(),
        spec.tag.replace(['/', ':'], "_")
    );
    let _ = docker(&["rm", "-f", &container]);
    docker(&["create", "--name", &container, base])?;
    let mut args = vec!["commit"];
    for c in &changes {
        args.extend(["--change", c.as_str()]);
    }
    args.extend([container.as_str(), spec.tag.as_str()]);
    let made = docker(&args);
    let _ = docker(&["rm", "-f", &container]);
    made.map(|_| ())
}

/// Where cargo put the stand-in binaries (the same profile as the running test or tool).
pub fn standin_binary(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/deps/test-binary or target/<profile>/lab-bench
    let mut dir = exe.parent();
    while let Some(d) = dir {
        let candidate = d.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent();
        if d.file_name().is_some_and(|n| n == "target") {
            break;
        }
    }
    Err(format!(
        "{name} is not built: run `cargo build -p lab-standins`"
    ))
}

/// Debian's static busybox, as `/bin/sh` for images whose healthchecks need a shell.
pub fn busybox() -> Result<Entry, String> {
    let p = PathBuf::from("/bin/busybox");
    if !p.is_file() {
        return Err(
            "/bin/busybox is missing: run `bash .ci/setup` (installs busybox-static)".into(),
        );
    }
    if !libraries(&p)?.is_empty() {
        return Err("/bin/busybox is not static: install busybox-static".into());
    }
    Ok(Entry {
        from: p,
        to: "/bin/busybox".into(),
        links: vec!["/bin/sh".into(), "/bin/sleep".into(), "/bin/cat".into()],
    })
}

/// The bench's images. Tags under `lab-bench/…`, plus the names the course's compose
/// files and labs use, so an unchanged quickstart file starts on the bench.
pub fn catalog() -> Result<Vec<ImageSpec>, String> {
    let anchore = standin_binary("anchore-standin")?;
    let grafana = standin_binary("grafana-standin")?;
    let sh = busybox()?;
    let with_sh = |mut entries: Vec<Entry>| {
        entries.push(sh.clone());
        entries
    };
    // The Anchore stand-in answers to the names the real images run:
    // `anchore-enterprise-manager service start apiext` (Enterprise), `anchore-manager …`
    // (engine), and the healthcheck tools `pg_isready` and `redis-cli`.
    let anchore_files = with_sh(binary_with_libs(
        &anchore,
        "/usr/bin/anchore-standin",
        &[
            "/usr/bin/anchore-enterprise-manager",
            "/usr/bin/anchore-manager",
            "/usr/bin/pg_isready",
            "/usr/bin/redis-cli",
            "/usr/bin/postgres",
        ],
    )?);
    let anchore_image = |tag: &str, aliases: &[&str], cmd: &[&str], port: u16| {
        let base = tag == "lab-bench/anchore:latest";
        ImageSpec {
            tag: tag.into(),
            from: (!base).then(|| "lab-bench/anchore:latest".to_string()),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            files: if base { anchore_files.clone() } else { vec![] },
            dirs: if base {
                vec![
                    "/tmp".into(),
                    "/analysis_scratch".into(),
                    "/var/lib/postgresql/data".into(),
                    "/data".into(),
                ]
            } else {
                vec![]
            },
            entrypoint: vec![],
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            // The roles inherit the base's healthcheck.
            healthcheck: base
                .then(|| vec!["/usr/bin/anchore-standin".into(), "healthcheck".into()]),
            expose: vec![port],
            env: if tag == "lab-bench/anchore-db:latest" {
                // The db role keeps its store on the database's volume, as Postgres does.
                vec![("STANDIN_DATA_DIR".into(), "/var/lib/postgresql/data".into())]
            } else if base {
                // Every nginx analysis lasts two Prometheus scrape intervals (5 s in
                // the course's anchore-prometheus.yml) and more: lab 3's
                // `processing-seen` is then seen by a scrape whatever the phase,
                // where a 2 s analysis could fall between two scrapes.
                vec![(
                    "STANDIN_IMAGE_RULES".into(),
                    r#"[{"match": "nginx", "seconds": 11}]"#.into(),
                )]
            } else {
                vec![]
            },
            volumes: vec![],
        }
    };
    Ok(vec![
        anchore_image(
            "lab-bench/anchore:latest",
            &[
                "docker.io/anchore/enterprise:v5.3.0",
                "docker.io/anchore/enterprise:v5.17.0",
                "docker.io/anchore/enterprise:v5.6.0",
            ],
            &["anchore-enterprise-manager", "service", "start", "apiext"],
            8228,
        ),
        anchore_image(
            "lab-bench/anchore-db:latest",
            &["docker.io/library/postgres:13", "postgres:13"],
            &["anchore-standin", "service", "start", "db"],
            5432,
        ),
        anchore_image(
            "lab-bench/anchore-redis:latest",
            &[
                "docker.io/library/redis:7",
                "redis:7",
                "docker.io/library/redis:4",
                "redis:4",
            ],
            &["anchore-standin", "service", "start", "redis"],
            6379,
        ),
        anchore_image(
            "lab-bench/anchore-ui:latest",
            &[
                "docker.io/anchore/enterprise-ui:v5.3.0",
                "docker.io/anchore/enterprise-ui:v5.17.0",
            ],
            &["anchore-standin", "service", "start", "ui"],
            3000,
        ),
        prometheus_image()?,
        ImageSpec {
            tag: "lab-bench/grafana:latest".into(),
            from: None,
            aliases: vec![
                "docker.io/grafana/grafana:latest".into(),
                "grafana/grafana:latest".into(),
            ],
            files: binary_with_libs(&grafana, "/usr/bin/grafana-standin", &[])?,
            dirs: vec![
                "/var/lib/grafana".into(),
                "/etc/grafana/provisioning/datasources".into(),
                "/tmp".into(),
            ],
            entrypoint: vec![],
            cmd: vec!["/usr/bin/grafana-standin".into()],
            healthcheck: Some(vec![
                "/usr/bin/grafana-standin".into(),
                "healthcheck".into(),
            ]),
            expose: vec![3000],
            env: vec![],
            volumes: vec![],
        },
        registry_image()?,
    ]
    .into_iter()
    .chain(prometheus_releases()?)
    .chain(grafana_profiles())
    .collect())
}

/// `lab-bench/grafana:9.5` … `:13`: the Grafana stand-in playing each release
/// (`LAB_STANDIN_GRAFANA`), for `--image docker.io/grafana/grafana:latest=lab-bench/grafana:12`.
fn grafana_profiles() -> Vec<ImageSpec> {
    crate::grafana::profile::names()
        .into_iter()
        .map(|name| ImageSpec {
            tag: format!("lab-bench/grafana:{name}"),
            from: Some("lab-bench/grafana:latest".into()),
            aliases: vec![],
            files: vec![],
            dirs: vec![],
            entrypoint: vec![],
            cmd: vec![],
            healthcheck: None,
            expose: vec![],
            env: vec![("LAB_STANDIN_GRAFANA".into(), name.into())],
            volumes: vec![],
        })
        .collect()
}

/// The course's `docker.io/prom/prometheus:latest`: what `latest` is today, a 3.x
/// release (Debian sid's 3.5, which `.ci/setup` unpacks).
pub fn prometheus_image() -> Result<ImageSpec, String> {
    prometheus_release(
        &Path::new(PROMETHEUS_RELEASES).join("prometheus-3/prometheus"),
        "lab-bench/prometheus:latest",
        &["docker.io/prom/prometheus:latest", "prom/prometheus:latest"],
        "unpacks Debian sid's prometheus",
    )
}

/// Where `.ci/setup` unpacks the Prometheus releases the course meets.
const PROMETHEUS_RELEASES: &str = "/usr/local/lib/lab-bench";

/// The real Prometheus releases the course meets: Debian trixie's 2.53 and sid's 3.x
/// (`.ci/setup` unpacks them), as `lab-bench/prometheus:2.53` and `:3`, for
/// `--image docker.io/prom/prometheus:latest=lab-bench/prometheus:3`.
pub fn prometheus_releases() -> Result<Vec<ImageSpec>, String> {
    ["2.53", "3"]
        .iter()
        .map(|tag| {
            prometheus_release(
                &Path::new(PROMETHEUS_RELEASES).join(format!("prometheus-{tag}/prometheus")),
                &format!("lab-bench/prometheus:{tag}"),
                &[],
                "unpacks Debian trixie's and sid's prometheus",
            )
        })
        .collect()
}

fn prometheus_release(
    prometheus: &Path,
    tag: &str,
    aliases: &[&str],
    setup_does: &str,
) -> Result<ImageSpec, String> {
    if !prometheus.is_file() {
        return Err(format!(
            "{} is missing: run `bash .ci/setup` ({setup_does})",
            prometheus.display()
        ));
    }
    Ok(ImageSpec {
        tag: tag.into(),
        from: None,
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        files: {
            let mut files = binary_with_libs(prometheus, "/bin/prometheus", &[])?;
            // Like the real image, a default configuration that scrapes only itself.
            files.push(Entry {
                from: Path::new(env!("CARGO_MANIFEST_DIR")).join("files/prometheus.yml"),
                to: "/etc/prometheus/prometheus.yml".into(),
                links: vec![],
            });
            files
        },
        dirs: vec![
            "/prometheus".into(),
            "/etc/prometheus".into(),
            "/tmp".into(),
        ],
        entrypoint: vec!["/bin/prometheus".into()],
        cmd: vec![
            "--config.file=/etc/prometheus/prometheus.yml".into(),
            "--storage.tsdb.path=/prometheus".into(),
        ],
        healthcheck: None,
        expose: vec![9090],
        env: vec![],
        // As prom/prometheus declares it: the TSDB on a volume of its own, kept when
        // compose recreates the container and carried by a copy of the volume.
        volumes: vec!["/prometheus".into()],
    })
}

/// Debian's docker-registry (the distribution registry), configured at run time.
pub fn registry_image() -> Result<ImageSpec, String> {
    let registry = PathBuf::from("/usr/bin/docker-registry");
    if !registry.is_file() {
        return Err("/usr/bin/docker-registry is missing: run `bash .ci/setup` (installs Debian's docker-registry)".into());
    }
    Ok(ImageSpec {
        tag: "lab-bench/registry:latest".into(),
        from: None,
        aliases: vec![],
        files: binary_with_libs(&registry, "/bin/registry", &[])?,
        dirs: vec![
            "/var/lib/registry".into(),
            "/etc/docker/registry".into(),
            "/tmp".into(),
        ],
        entrypoint: vec!["/bin/registry".into()],
        cmd: vec!["serve".into(), "/etc/docker/registry/config.yml".into()],
        healthcheck: None,
        expose: vec![5000],
        env: vec![],
        volumes: vec![],
    })
}

/// A compose project that is always taken down, also when a test panics.
pub struct Project {
    pub name: String,
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

impl Project {
    /// A fresh project folder with a unique name for this process and tag.
    pub fn new(tag: &str) -> Project {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "labbench-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Project {
            name,
            dir,
            files: vec![],
        }
    }

    /// `docker compose -p NAME -f … ARGS`, with compose's own stderr in the error.
    pub fn compose(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("docker");
        cmd.arg("compose")
            .arg("-p")
            .arg(&self.name)
            .current_dir(&self.dir);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        let out = cmd
            .args(args)
            .output()
            .map_err(|e| format!("cannot run docker compose: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "docker compose {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::env::var_os("LAB_BENCH_KEEP").is_some() {
            eprintln!(
                "keeping compose project {} in {}",
                self.name,
                self.dir.display()
            );
            return;
        }
        let _ = self.compose(&["down", "--volumes", "--remove-orphans", "--timeout", "2"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A plain HTTP/1.0 request on loopback, for tests and readiness waits: no client
/// library, so a hanging server costs at most `limit`.
pub fn http(
    method: &str,
    url: &str,
    auth: Option<(&str, &str)>,
    body: Option<&str>,
    limit: Duration,
) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs"))?;
    let (host, path) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{p}")),
        None => (rest, "/".to_string()),
    };
    let addr: std::net::SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(host)
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, limit).map_err(|e| format!("{url}: {e}"))?;
    s.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\n");
    if let Some((u, p)) = auth {
        use base64::Engine;
        req.push_str(&format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        ));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("{url}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{url}: no HTTP answer"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{url}: bad status line"))?;
    Ok((status, body.to_string()))
}

/// Polls `f` until it gives a value or `limit` passes; the error names `what` and
/// the last reason `f` gave.
pub fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let end = Instant::now() + limit;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(why) if Instant::now() >= end => {
                return Err(format!("{what}: not within {limit:?}: {why}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// Builds every bench image once per process (they are rebuilt only when their
/// inputs changed), and reports the time.
pub fn ensure_images() -> Result<(), String> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let started = Instant::now();
        for spec in catalog()? {
            build(&spec)?;
        }
        eprintln!(
            "bench images ready in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_libraries_and_the_loader() {
        let libs = libraries(Path::new("/bin/ls")).unwrap();
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
        assert!(
            libs.iter()
                .any(|l| l.to_string_lossy().contains("ld-linux")),
            "{libs:?}"
        );
    }

    #[test]
    fn the_digest_changes_with_any_input() {
        let spec = ImageSpec {
            tag: "lab-bench/x:1".into(),
            from: None,
            aliases: vec![],
            files: vec![Entry {
                from: "/bin/ls".into(),
                to: "/bin/ls".into(),
                links: vec![],
            }],
            dirs: vec!["/data".into()],
            entrypoint: vec!["/bin/ls".into()],
            cmd: vec![],
            healthcheck: None,
            expose: vec![],
            env: vec![],
            volumes: vec![],
        };
        let a = inputs_digest(&spec).unwrap();
        assert_eq!(a, inputs_digest(&spec).unwrap());
        let mut other = spec.clone();
        other.dirs.push("/more".into());
        assert_ne!(a, inputs_digest(&other).unwrap());
        let mut other = spec.clone();
        other.expose.push(9090);
        assert_ne!(a, inputs_digest(&other).unwrap());
    }
}
