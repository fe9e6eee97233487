//! The labs' images: present already, or pulled through the daemon with per-layer
//! progress like `docker pull` (bars on a terminal, plain lines elsewhere).

use super::verdict::ImageOutcome;
use crate::report::Ui;
use bollard::auth::DockerCredentials;
use bollard::models::CreateImageInfo;
use bollard::query_parameters::CreateImageOptions;
use bollard::Docker;
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// An image reference split the way the daemon's pull endpoint wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `docker.io` for Docker Hub, else the registry host (`ghcr.io`, `localhost:5000`).
    pub registry: String,
    /// Everything but the tag or digest: `docker.io/prom/prometheus`.
    pub name: String,
    /// The tag (default `latest`) or the digest (`sha256:…`).
    pub tag: String,
}

/// Splits `[registry/]path[:tag][@digest]`. The tag is always explicit in the
/// result: an empty tag would make the daemon pull every tag of the repository.
pub fn parse_ref(image: &str) -> ImageRef {
    let image = image.trim();
    let (rest, tag) = match image.split_once('@') {
        Some((n, d)) => (n, d.to_string()),
        None => {
            let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
            match image[slash..].rfind(':') {
                Some(i) => (&image[..slash + i], image[slash + i + 1..].to_string()),
                None => (image, "latest".to_string()),
            }
        }
    };
    // With a digest, a tag before it only names; the digest decides.
    let name = match image.contains('@') {
        true => {
            let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
            match rest[slash..].rfind(':') {
                Some(i) => &rest[..slash + i],
                None => rest,
            }
        }
        false => rest,
    };
    let registry = match name.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            super::creds::normalize(first)
        }
        _ => "docker.io".to_string(),
    };
    ImageRef {
        registry,
        name: name.to_string(),
        tag,
    }
}

/// Whether the daemon has the image. `Err` when it could not be asked.
pub async fn present(docker: &Docker, image: &str, limit: Duration) -> Result<bool, String> {
    match tokio::time::timeout(limit, docker.inspect_image(image)).await {
        Err(_) => Err(format!(
            "no answer within {}",
            crate::model::format_duration(limit)
        )),
        Ok(Ok(_)) => Ok(true),
        Ok(Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        })) => Ok(false),
        Ok(Err(e)) => Err(crate::docker::short(&e)),
    }
}

/// How pulls show their progress.
pub enum Progress {
    Bars(MultiProgress),
    Lines { quiet: bool },
}

impl Progress {
    pub fn new(ui: &Ui) -> Progress {
        if ui.interactive {
            Progress::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Progress::Lines { quiet: ui.quiet }
        }
    }

    /// A status line (`Pulled …`) that does not tear the bars.
    pub fn status(&self, ui: &Ui, verb: &str, msg: &str) {
        match self {
            Progress::Bars(mp) => mp.suspend(|| ui.status(verb, msg)),
            Progress::Lines { .. } => ui.status(verb, msg),
        }
    }
}

/// One pull's view: a bar or a last-printed status per layer, and the totals.
struct View<'a> {
    image: &'a str,
    progress: &'a Progress,
    bars: BTreeMap<String, ProgressBar>,
    last: BTreeMap<String, String>,
    layers: BTreeSet<String>,
    sizes: BTreeMap<String, u64>,
}

impl<'a> View<'a> {
    fn new(image: &'a str, progress: &'a Progress) -> Self {
        View {
            image,
            progress,
            bars: BTreeMap::new(),
            last: BTreeMap::new(),
            layers: BTreeSet::new(),
            sizes: BTreeMap::new(),
        }
    }

    fn event(&mut self, e: &CreateImageInfo) {
        let (Some(id), Some(status)) = (e.id.as_deref(), e.status.as_deref()) else {
            return;
        };
        // `Pulling from prom/prometheus` carries the tag as its id: not a layer.
        if status.starts_with("Pulling from")
            || status.starts_with("Digest:")
            || status.starts_with("Status:")
        {
            return;
        }
        self.layers.insert(id.to_string());
        let detail = e.progress_detail.as_ref();
        let current = detail.and_then(|d| d.current).unwrap_or(0).max(0) as u64;
        let total = detail.and_then(|d| d.total).unwrap_or(0).max(0) as u64;
        if status == "Downloading" && total > 0 {
            self.sizes.insert(id.to_string(), total);
        }
        match self.progress {
            Progress::Bars(mp) => {
                let bar = self.bars.entry(id.to_string()).or_insert_with(|| {
                    let b = mp.add(ProgressBar::new(0));
                    b.set_style(
                        ProgressStyle::with_template(
                            "{prefix} {msg:<18} {wide_bar} {bytes}/{total_bytes}",
                        )
                        .expect("static template")
                        .progress_chars("=> "),
                    );
                    b.set_prefix(format!("{} {id}", self.image));
                    b
                });
                bar.set_message(status.to_string());
                if total > 0 {
                    bar.set_length(total);
                    bar.set_position(current.min(total));
                }
                if status == "Pull complete" || status == "Already exists" {
                    bar.set_position(bar.length().unwrap_or(0));
                }
            }
            Progress::Lines { quiet } => {
                if !quiet && self.last.get(id).map(String::as_str) != Some(status) {
                    eprintln!("{}: {id}: {status}", self.image);
                }
                self.last.insert(id.to_string(), status.to_string());
            }
        }
    }

    fn finish(self) -> (usize, u64) {
        if let Progress::Bars(mp) = self.progress {
            for b in self.bars.values() {
                b.finish_and_clear();
                mp.remove(b);
            }
        }
        (self.layers.len(), self.sizes.values().sum())
    }
}

/// Pulls `image` (credentials from the Docker config when there are some).
pub async fn pull(
    docker: &Docker,
    image: &str,
    cred: Option<DockerCredentials>,
    progress: &Progress,
    limit: Duration,
) -> ImageOutcome {
    let r = parse_ref(image);
    let opts = CreateImageOptions {
        from_image: Some(r.name.clone()),
        tag: Some(r.tag.clone()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(opts), None, cred);
    let mut view = View::new(image, progress);
    let run = async {
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(info) => view.event(&info),
                Err(e) => return Err(pull_error(&e)),
            }
        }
        Ok(())
    };
    let outcome = tokio::time::timeout(limit, run).await;
    let (layers, bytes) = view.finish();
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
        other => crate::docker::short(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_registry_name_and_tag() {
        let r = |reg: &str, name: &str, tag: &str| ImageRef {
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
        let progress = Progress::Lines { quiet: true };
        let mut v = View::new("x:1", &progress);
        let ev = |id: &str, status: &str, cur: i64, total: i64| CreateImageInfo {
            id: Some(id.into()),
            status: Some(status.into()),
            progress_detail: Some(bollard::models::ProgressDetail {
                current: Some(cur),
                total: Some(total),
            }),
            ..Default::default()
        };
        for e in [
            ev("1", "Pulling from library/x", 0, 0),
            ev("a", "Pulling fs layer", 0, 0),
            ev("b", "Already exists", 0, 0),
            ev("a", "Downloading", 100, 1000),
            ev("a", "Downloading", 1000, 1000),
            ev("a", "Extracting", 500, 1000),
            ev("a", "Pull complete", 0, 0),
        ] {
            v.event(&e);
        }
        assert_eq!(v.finish(), (2, 1000));
    }
}
