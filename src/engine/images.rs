//! The labs' images: present already, or pulled through the daemon. Each layer's
//! progress goes to the caller (`report::pull` shows it the way `docker pull` does).

use crate::model::image::ImageRef;
use bollard::auth::DockerCredentials;
use bollard::models::CreateImageInfo;
use bollard::query_parameters::CreateImageOptions;
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOutcome {
    Present,
    Pulled {
        layers: usize,
        bytes: u64,
    },
    /// Not present and not pulled (`--no-pull`).
    Missing,
    /// The daemon's message.
    Failed(String),
    Skipped,
}

/// An image reference split the way the daemon's pull endpoint wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRef {
    /// `docker.io` for Docker Hub, else the registry host (`ghcr.io`, `localhost:5000`).
    pub registry: String,
    /// Everything but the tag or digest, as written: `docker.io/prom/prometheus`.
    pub name: String,
    /// The tag (default `latest`) or the digest (`sha256:…`).
    pub tag: String,
}

/// Splits `[registry/]path[:tag][@digest]` (registry and tag as [`ImageRef`] reads
/// them). The tag is always explicit in the result: an empty tag would make the
/// daemon pull every tag of the repository.
pub fn parse_ref(image: &str) -> PullRef {
    let r = ImageRef::parse(image);
    let given = image.trim();
    let given = given.split('@').next().unwrap_or(given);
    // With a digest, a tag before it only names; the digest decides.
    let slash = given.rfind('/').map(|i| i + 1).unwrap_or(0);
    let name = match given[slash..].rfind(':') {
        Some(i) => &given[..slash + i],
        None => given,
    };
    PullRef {
        tag: r.tag_or_digest().to_string(),
        registry: r.registry,
        name: name.to_string(),
    }
}

/// Whether the daemon has the image. `Err` when it could not be asked.
pub async fn present(
    docker: &Docker,
    image: &str,
    limit: Duration,
) -> Result<bool, super::EngineError> {
    let inspect = async {
        match docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    };
    super::ask(|| format!("inspect image `{image}`"), limit, inspect).await
}

/// One layer's news during a pull: its id, the daemon's status word (`Downloading`,
/// `Pull complete`…) and the bytes done out of the total (0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerStatus<'a> {
    pub id: &'a str,
    pub status: &'a str,
    pub current: u64,
    pub total: u64,
}

/// Counts one pull's layers and downloaded bytes from the daemon's messages.
#[derive(Debug, Default)]
struct Layers {
    layers: BTreeSet<String>,
    sizes: BTreeMap<String, u64>,
}

impl Layers {
    /// The layer news in `e`, if it is about a layer.
    fn event<'a>(&mut self, e: &'a CreateImageInfo) -> Option<LayerStatus<'a>> {
        let (Some(id), Some(status)) = (e.id.as_deref(), e.status.as_deref()) else {
            return None;
        };
        // `Pulling from prom/prometheus` carries the tag as its id: not a layer.
        if status.starts_with("Pulling from")
            || status.starts_with("Digest:")
            || status.starts_with("Status:")
        {
            return None;
        }
        self.layers.insert(id.to_string());
        let detail = e.progress_detail.as_ref();
        let current = detail.and_then(|d| d.current).unwrap_or(0).max(0) as u64;
        let total = detail.and_then(|d| d.total).unwrap_or(0).max(0) as u64;
        if status == "Downloading" && total > 0 {
            self.sizes.insert(id.to_string(), total);
        }
        Some(LayerStatus {
            id,
            status,
            current,
            total,
        })
    }

    fn totals(&self) -> (usize, u64) {
        (self.layers.len(), self.sizes.values().sum())
    }
}

/// Pulls `image` (credentials from the Docker config when there are some); each
/// layer's news goes to `on_layer`.
pub async fn pull(
    docker: &Docker,
    image: &str,
    cred: Option<DockerCredentials>,
    on_layer: &mut (dyn FnMut(LayerStatus<'_>) + Send),
    limit: Duration,
) -> ImageOutcome {
    let r = parse_ref(image);
    let opts = CreateImageOptions {
        from_image: Some(r.name.clone()),
        tag: Some(r.tag.clone()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(opts), None, cred);
    let mut layers = Layers::default();
    let run = async {
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(info) => {
                    if let Some(l) = layers.event(&info) {
                        on_layer(l);
                    }
                }
                Err(e) => return Err(pull_error(&e)),
            }
        }
        Ok(())
    };
    let outcome = tokio::time::timeout(limit, run).await;
    let (layers, bytes) = layers.totals();
    match outcome {
        Err(_) => ImageOutcome::Failed(format!(
            "not finished within {}",
            crate::model::format_duration(limit)
        )),
        Ok(Err(msg)) => ImageOutcome::Failed(msg),
        Ok(Ok(())) => ImageOutcome::Pulled { layers, bytes },
    }
}

fn pull_error(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match e {
        E::DockerStreamError { error } => error.clone(),
        E::DockerResponseServerError { message, .. } => message.clone(),
        other => crate::engine::docker::short(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_registry_name_and_tag() {
        let r = |reg: &str, name: &str, tag: &str| PullRef {
            registry: reg.into(),
            name: name.into(),
            tag: tag.into(),
        };
        for (input, want) in [
            (
                "docker.io/prom/prometheus:latest",
                r("docker.io", "docker.io/prom/prometheus", "latest"),
            ),
            (
                "grafana/grafana",
                r("docker.io", "grafana/grafana", "latest"),
            ),
            ("postgres:16", r("docker.io", "postgres", "16")),
            (
                "localhost:5000/lab/busybox",
                r("localhost:5000", "localhost:5000/lab/busybox", "latest"),
            ),
            (
                "localhost:5000/lab/busybox:1",
                r("localhost:5000", "localhost:5000/lab/busybox", "1"),
            ),
            (
                "ghcr.io/x/y@sha256:abc",
                r("ghcr.io", "ghcr.io/x/y", "sha256:abc"),
            ),
            (
                "ghcr.io/x/y:1.0@sha256:abc",
                r("ghcr.io", "ghcr.io/x/y", "sha256:abc"),
            ),
            (
                "index.docker.io/library/redis:7",
                r("docker.io", "index.docker.io/library/redis", "7"),
            ),
            (
                "lab-test/busybox:1",
                r("docker.io", "lab-test/busybox", "1"),
            ),
        ] {
            assert_eq!(parse_ref(input), want, "{input}");
        }
    }

    #[test]
    fn layers_and_downloaded_bytes_are_counted() {
        let mut v = Layers::default();
        let ev = |id: &str, status: &str, cur: i64, total: i64| CreateImageInfo {
            id: Some(id.into()),
            status: Some(status.into()),
            progress_detail: Some(bollard::models::ProgressDetail {
                current: Some(cur),
                total: Some(total),
            }),
            ..Default::default()
        };
        let mut seen = 0;
        for e in [
            ev("1", "Pulling from library/x", 0, 0),
            ev("a", "Pulling fs layer", 0, 0),
            ev("b", "Already exists", 0, 0),
            ev("a", "Downloading", 100, 1000),
            ev("a", "Downloading", 1000, 1000),
            ev("a", "Extracting", 500, 1000),
            ev("a", "Pull complete", 0, 0),
        ] {
            seen += usize::from(v.event(&e).is_some());
        }
        assert_eq!(seen, 6, "the `Pulling from` line is no layer");
        assert_eq!(v.totals(), (2, 1000));
    }
}
