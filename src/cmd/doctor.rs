//! `lab doctor [N]`: are the course's (or lab N's) prerequisites met on this machine?
//! The Docker engine, Compose, the registry logins, the images, the ports, memory
//! and disk. Every check runs at once, each with its own time limit; the ones that
//! need the engine wait for the one connection attempt. Facts are gathered here and
//! judged by the pure functions of [`verdict`].

mod auth;
pub mod verdict;

use crate::cli::DoctorArgs;
use crate::engine::creds::pull_credentials;
use crate::engine::{creds, host_ports as ports, images, system};
use crate::error::{exit, Result};
use crate::loader::{self, Loaded};
use crate::model::Lab;
use crate::report::Ui;
use bollard::Docker;
use futures_util::future::{join_all, BoxFuture, FutureExt, Shared};
use std::collections::BTreeSet;
use std::time::Duration;
use verdict::*;

/// Ports the course publishes whatever the lab: Anchore API, Prometheus, Grafana, Anchore UI.
pub const COURSE_PORTS: [u16; 4] = [8228, 9090, 3001, 3000];
pub const DEFAULT_MEMORY_MIB: u64 = 4096;
pub const DEFAULT_DISK_MIB: u64 = 10240;
pub const DEFAULT_PROJECT: &str = "anchore-lab";
/// The course's images come from Docker Hub; its login is checked even if no lab lists an image.
const HUB: &str = "docker.io";

const SHORT: Duration = Duration::from_secs(10);
const AUTH: Duration = Duration::from_secs(20);
const PULL: Duration = Duration::from_secs(15 * 60);

/// What the doctor checks: the chosen labs' prerequisites with the course's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub images: Vec<String>,
    pub registries: Vec<String>,
    pub ports: Vec<u16>,
    pub memory_mib: u64,
    pub disk_mib: u64,
    pub commands: Vec<String>,
}

impl Scope {
    pub fn of(labs: &[&Lab]) -> Scope {
        Scope::mapped(labs, &crate::images::ImageMap::default())
    }

    /// The scope with each image replaced by its mapping (`--image`, `LAB_IMAGE_MAP`,
    /// `.lab/images.yaml`): the names that are checked and pulled.
    pub fn mapped(labs: &[&Lab], map: &crate::images::ImageMap) -> Scope {
        let mut images: Vec<String> = Vec::new();
        let mut commands: Vec<String> = Vec::new();
        let mut ports: BTreeSet<u16> = COURSE_PORTS.into_iter().collect();
        for l in labs {
            let p = &l.prerequisites;
            for i in p.images.iter().map(|i| map.apply(i)) {
                if !images.contains(&i) {
                    images.push(i);
                }
            }
            for c in &p.commands {
                if !commands.contains(c) {
                    commands.push(c.clone());
                }
            }
            ports.extend(p.ports.iter().copied());
        }
        let mut registries = vec![HUB.to_string()];
        for i in &images {
            let r = images::parse_ref(i).registry;
            if !registries.contains(&r) {
                registries.push(r);
            }
        }
        Scope {
            registries,
            ports: ports.into_iter().collect(),
            memory_mib: labs
                .iter()
                .filter_map(|l| l.prerequisites.memory_mib)
                .max()
                .unwrap_or(DEFAULT_MEMORY_MIB),
            disk_mib: labs
                .iter()
                .filter_map(|l| l.prerequisites.disk_mib)
                .max()
                .unwrap_or(DEFAULT_DISK_MIB),
            images,
            commands,
        }
    }
}

pub async fn run(labs: &Loaded, args: DoctorArgs, ui: &Ui) -> Result<i32> {
    run_on(labs, args, ui, None).await
}

/// `run` on an engine already connected (or known unreachable) by the command's
/// session, as `lab start` does; `None` connects here.
pub async fn run_on(
    labs: &Loaded,
    args: DoctorArgs,
    ui: &Ui,
    engine: Option<crate::session::DockerHandle>,
) -> Result<i32> {
    let (chosen, what): (Vec<&Lab>, String) = match &args.lab {
        Some(q) => {
            let l = &loader::find(&labs.labs, q)?.lab;
            (vec![l], format!("lab {}", l.id()))
        }
        None => (
            labs.labs.iter().map(|l| &l.lab).collect(),
            format!(
                "the course ({})",
                crate::text::count(labs.labs.len(), "lab")
            ),
        ),
    };
    let dir = args
        .workspace
        .clone()
        .unwrap_or_else(|| crate::env::workspace_dir(None));
    let map = crate::images::ImageMap::for_env(Some(&dir), &args.images)?;
    let scope = Scope::mapped(&chosen, &map);
    let project = args
        .project
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PROJECT.to_string());
    if !ui.json {
        ui.status("Checking", &format!("the prerequisites of {what}"));
    }
    let (mut items, docker_up) = gather(&scope, &project, args.no_pull, engine, ui).await;
    items.extend(server_items(&dir).await);
    let failed = items.iter().any(|i| i.status == Status::Fail);
    ui.out(&crate::report::doctor::doctor(&items, ui));
    Ok(if !docker_up {
        exit::DOCKER_UNREACHABLE
    } else if failed {
        exit::PREREQUISITE
    } else {
        exit::OK
    })
}

/// The release of each server that answers at the environment's URLs (none answer
/// before `lab start`: then no item), with a warning outside the tested range.
async fn server_items(dir: &std::path::Path) -> Vec<Item> {
    // The environment's URLs and passwords, or the defaults where there is none yet.
    let env = crate::env::Environment::open(dir).unwrap_or_else(|_| {
        crate::env::Environment::new(dir, DEFAULT_PROJECT, "docker-compose.yaml", false)
    });
    let target = env.target(Default::default());
    let ctx = crate::probe::Ctx {
        target: std::sync::Arc::new(target),
        http: crate::client::http_client(),
        docker: std::sync::Arc::new(Err("not needed".into())),
        deadline: std::time::Instant::now() + SHORT,
    };
    crate::probe::versions::servers(&ctx)
        .await
        .into_iter()
        .filter_map(|v| {
            let version = v.version.clone()?;
            let name = format!("{} {version}", v.server);
            let detail = format!("at {}: {}", v.url, v.describe());
            Some(match v.tested {
                Some(true) => Item::ok(name, detail),
                _ => Item::warn(
                    name,
                    detail,
                    "lab's checks may misjudge a release it is not tested with: if a check fails that should pass, report it with `lab check N -v` output",
                ),
            })
        })
        .collect()
}

/// The engine as the checks need it, once connected.
#[derive(Clone)]
struct Engine {
    docker: Docker,
    facts: EngineFacts,
    /// Docker's root dir (`docker info`), or why it is unknown.
    root: Result<String, String>,
}

type Shared_<T> = Shared<BoxFuture<'static, T>>;

async fn connect(given: Option<crate::session::DockerHandle>) -> Result<Engine, String> {
    let docker = match given {
        Some(handle) => handle.as_ref().clone()?,
        None => crate::engine::docker::connect().await?,
    };
    let host = crate::engine::docker::host();
    let v = tokio::time::timeout(SHORT, docker.version())
        .await
        .map_err(|_| {
            format!(
                "{host}: no version within {}",
                crate::model::format_duration(SHORT)
            )
        })?
        .map_err(|e| format!("{host}: version: {}", crate::engine::docker::short(&e)))?;
    let root = match tokio::time::timeout(SHORT, docker.info()).await {
        Err(_) => Err("`docker info` gave no answer".to_string()),
        Ok(Err(e)) => Err(format!(
            "`docker info` failed: {}",
            crate::engine::docker::short(&e)
        )),
        Ok(Ok(i)) => i
            .docker_root_dir
            .filter(|r| !r.is_empty())
            .ok_or_else(|| "`docker info` names no root dir".to_string()),
    };
    Ok(Engine {
        docker,
        facts: EngineFacts {
            server_version: v.version.unwrap_or_else(|| "(unknown version)".into()),
            api_version: v.api_version.unwrap_or_else(|| "?".into()),
        },
        root,
    })
}

/// Runs every check; returns the items in report order and whether Docker answered.
async fn gather(
    scope: &Scope,
    project: &str,
    no_pull: bool,
    given: Option<crate::session::DockerHandle>,
    ui: &Ui,
) -> (Vec<Item>, bool) {
    let engine: Shared_<Result<Engine, String>> = connect(given).boxed().shared();
    let lookups: Shared_<Vec<(String, Lookup, Option<creds::Credential>)>> = {
        let regs = scope.registries.clone();
        async move {
            join_all(regs.into_iter().map(|r| async move {
                let (l, c) = creds::lookup(&r).await;
                (r, l, c)
            }))
            .await
        }
        .boxed()
        .shared()
    };
    let publishers: Shared_<Option<Vec<(u16, Publisher)>>> = {
        let engine = engine.clone();
        async move {
            match engine.await {
                Ok(e) => ports::publishers(&e.docker, SHORT).await.ok(),
                Err(_) => None,
            }
        }
        .boxed()
        .shared()
    };
    let progress = crate::report::pull::Progress::new(ui);

    let docker_item = {
        let engine = engine.clone();
        async move {
            docker_item(
                &crate::engine::docker::host(),
                &engine.await.map(|e| e.facts),
            )
        }
    };
    let compose_item = async { compose_item(&system::compose().await) };
    let login_items = join_all(scope.registries.iter().map(|registry| {
        let (engine, lookups) = (engine.clone(), lookups.clone());
        async move {
            let all = lookups.await;
            let Some((_, lookup, cred)) = all.iter().find(|(r, _, _)| r == registry) else {
                return login_item(
                    registry,
                    &Lookup::None {
                        looked: "not looked up".into(),
                    },
                    None,
                );
            };
            let outcome = match (cred, engine.await) {
                (None, _) => None,
                (Some(_), Err(_)) => Some(AuthOutcome::Skipped),
                (Some(c), Ok(e)) => Some(auth::verify(&e.docker, registry, c, AUTH).await),
            };
            login_item(registry, lookup, outcome.as_ref())
        }
    }));
    let image_items = join_all(scope.images.iter().map(|image| {
        let (engine, lookups, progress) = (engine.clone(), lookups.clone(), &progress);
        async move {
            let registry = images::parse_ref(image).registry;
            let outcome = match engine.await {
                Err(_) => ImageOutcome::Skipped,
                Ok(e) => match images::present(&e.docker, image, SHORT).await {
                    Ok(true) => ImageOutcome::Present,
                    Ok(false) if no_pull => ImageOutcome::Missing,
                    Ok(false) => {
                        let cred = lookups
                            .await
                            .iter()
                            .find(|(r, _, _)| *r == registry)
                            .and_then(|(_, _, c)| c.as_ref())
                            .map(|c| pull_credentials(&registry, c));
                        progress.status(ui, "Pulling", image);
                        let mut view = progress.view(image);
                        let o = images::pull(&e.docker, image, cred, &mut |l| view.layer(l), PULL)
                            .await;
                        view.finish();
                        match &o {
                            ImageOutcome::Pulled { layers, bytes } => progress.status(
                                ui,
                                "Pulled",
                                &format!(
                                    "{image} ({}, {})",
                                    crate::text::count(*layers, "layer"),
                                    human_bytes(*bytes)
                                ),
                            ),
                            _ => progress.status(ui, "Failed", &format!("pulling {image}")),
                        }
                        o
                    }
                    Err(msg) => ImageOutcome::Failed(format!("cannot inspect the image: {msg}")),
                },
            };
            image_item(image, &registry, &outcome)
        }
    }));
    let port_items = join_all(scope.ports.iter().map(|&port| {
        let publishers = publishers.clone();
        async move {
            let local = tokio::task::spawn_blocking(move || {
                let bind = ports::try_bind(port);
                let (holders, note) = match bind {
                    Bind::InUse => ports::holders(&ports::listening_inodes(port)),
                    _ => (vec![], None),
                };
                (bind, holders, note)
            });
            let (bind, holders, holders_note) = match tokio::time::timeout(SHORT, local).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => (
                    Bind::Error(format!("the port test failed: {e}")),
                    vec![],
                    None,
                ),
                Err(_) => (
                    Bind::Error("the port test took too long".into()),
                    vec![],
                    None,
                ),
            };
            let publishers = publishers.await.map(|all| {
                all.into_iter()
                    .filter(|(p, _)| *p == port)
                    .map(|(_, who)| who)
                    .collect()
            });
            port_item(
                &PortFacts {
                    port,
                    bind,
                    holders,
                    holders_note,
                    publishers,
                },
                project,
            )
        }
    }));
    let memory_item = async { memory_item(&system::memory(), scope.memory_mib) };
    let disk_item = {
        let engine = engine.clone();
        async move {
            let root = match engine.await {
                Ok(e) => e.root,
                Err(_) => Err("Docker unreachable".into()),
            };
            let measured = tokio::time::timeout(
                SHORT,
                tokio::task::spawn_blocking(move || system::disk(root)),
            )
            .await;
            let facts = match measured {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Err(format!("the measurement failed: {e}")),
                Err(_) => Err("statvfs took too long (a hung network filesystem?)".into()),
            };
            disk_item(&facts, scope.disk_mib)
        }
    };
    let command_items = async {
        scope
            .commands
            .iter()
            .map(|c| command_item(c, system::which(c).as_deref()))
            .collect::<Vec<_>>()
    };

    let (docker, compose, logins, imgs, prts, mem, disk, cmds) = tokio::join!(
        docker_item,
        compose_item,
        login_items,
        image_items,
        port_items,
        memory_item,
        disk_item,
        command_items
    );
    let up = engine.await.is_ok();
    let mut items = vec![docker, compose];
    items.extend(logins);
    items.extend(imgs);
    items.extend(prts);
    items.push(mem);
    items.push(disk);
    items.extend(cmds);
    (items, up)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::lab::Prerequisites;

    fn lab(p: Prerequisites) -> Lab {
        Lab {
            number: 1,
            slug: "x".into(),
            title: "X".into(),
            summary: "x".into(),
            instructions: "README.md".into(),
            prerequisites: p,
            setup: vec![],
            solve: vec![],
            cleanup: vec![],
            exercises: vec![],
            variants: vec![],
        }
    }

    #[test]
    fn the_doctor_checks_the_mapped_names() {
        let a = lab(Prerequisites {
            images: vec![
                "docker.io/anchore/enterprise:v5.17.0".into(),
                "postgres:13".into(),
            ],
            ..Default::default()
        });
        let map = crate::images::ImageMap::resolve(
            None,
            Some("anchore/enterprise:v5.17.0=mirror.local:5000/anchore/enterprise:v5.17.0"),
            &[],
        )
        .unwrap();
        let s = Scope::mapped(&[&a], &map);
        assert_eq!(
            s.images,
            vec![
                "mirror.local:5000/anchore/enterprise:v5.17.0".to_string(),
                "postgres:13".into()
            ]
        );
        assert_eq!(s.registries, vec!["docker.io", "mirror.local:5000"]);
    }

    #[test]
    fn scope_merges_labs_with_the_course_defaults() {
        let a = lab(Prerequisites {
            images: vec![
                "docker.io/prom/prometheus:latest".into(),
                "ghcr.io/x/y:1".into(),
            ],
            ports: vec![9090, 5432],
            memory_mib: Some(6144),
            disk_mib: None,
            commands: vec!["curl".into()],
        });
        let b = lab(Prerequisites {
            images: vec!["docker.io/prom/prometheus:latest".into()],
            ports: vec![80],
            memory_mib: Some(2048),
            disk_mib: Some(20480),
            commands: vec!["curl".into(), "jq".into()],
        });
        let s = Scope::of(&[&a, &b]);
        assert_eq!(
            s.images,
            vec!["docker.io/prom/prometheus:latest", "ghcr.io/x/y:1"]
        );
        assert_eq!(s.registries, vec!["docker.io", "ghcr.io"]);
        assert_eq!(s.ports, vec![80, 3000, 3001, 5432, 8228, 9090]);
        assert_eq!((s.memory_mib, s.disk_mib), (6144, 20480));
        assert_eq!(s.commands, vec!["curl", "jq"]);
        let none = Scope::of(&[]);
        assert_eq!(none.ports, vec![3000, 3001, 8228, 9090]);
        assert_eq!((none.memory_mib, none.disk_mib), (4096, 10240));
        assert_eq!(none.registries, vec!["docker.io"]);
    }
}
