//! Makes sure a stack's images are on the engine before compose starts it: each
//! missing image (or every image, with `--pull`) pulled through bollard with
//! per-layer progress (bars on a terminal, plain lines elsewhere), then one summary
//! line. Credentials come from the Docker config, as `docker pull` finds them; none
//! is ever printed.

use crate::engine::creds::{self, pull_credentials};
use crate::engine::images::{self, ImageOutcome};
use crate::error::{Error, Result};
use crate::model::format_duration;
use crate::report::pull::Progress;
use crate::report::Ui;
use bollard::Docker;
use futures_util::future::join_all;
use std::time::{Duration, Instant};

/// How long one question to the engine may take.
const SHORT: Duration = Duration::from_secs(10);
/// How long one image's pull may take (Anchore's images are large).
const PULL: Duration = Duration::from_secs(15 * 60);

/// What `ensure` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub pulled: Vec<String>,
    pub present: Vec<String>,
    pub took: Duration,
}

impl Summary {
    pub fn line(&self) -> String {
        format!(
            "{} pulled, {} already present, took {}",
            self.pulled.len(),
            self.present.len(),
            format_duration(self.took)
        )
    }
}

/// Pulls each of `wanted` that the engine lacks (all of them when `force`), at
/// once, and fails on the first image that could not be pulled, naming it and
/// keeping the registry's words.
pub async fn ensure(docker: &Docker, wanted: &[String], force: bool, ui: &Ui) -> Result<Summary> {
    let started = Instant::now();
    let mut unique: Vec<String> = Vec::new();
    for w in wanted {
        if !unique.contains(w) {
            unique.push(w.clone());
        }
    }
    let progress = Progress::new(ui);
    let results = join_all(unique.iter().map(|image| {
        let progress = &progress;
        async move {
            if !force {
                match images::present(docker, image, SHORT).await {
                    Ok(true) => return (image, Ok(false)),
                    Ok(false) => {}
                    Err(msg) => {
                        return (
                            image,
                            Err(Error::Pull {
                                image: image.clone(),
                                registry: images::parse_ref(image).registry,
                                message: format!("cannot ask the engine whether it has it: {msg}"),
                            }),
                        )
                    }
                }
            }
            let registry = images::parse_ref(image).registry;
            let cred = creds::lookup(&registry)
                .await
                .1
                .map(|c| pull_credentials(&registry, &c));
            progress.status(ui, "Pulling", image);
            let mut view = progress.view(image);
            let outcome = images::pull(docker, image, cred, &mut |l| view.layer(l), PULL).await;
            view.finish();
            match outcome {
                ImageOutcome::Pulled { layers, .. } => {
                    progress.status(
                        ui,
                        "Pulled",
                        &format!("{image} ({})", crate::text::count(layers, "layer")),
                    );
                    (image, Ok(true))
                }
                ImageOutcome::Failed(message) => (
                    image,
                    Err(Error::Pull {
                        image: image.clone(),
                        registry,
                        message,
                    }),
                ),
                other => (
                    image,
                    Err(Error::Internal(format!("pulling {image} gave {other:?}"))),
                ),
            }
        }
    }))
    .await;
    let mut summary = Summary {
        pulled: vec![],
        present: vec![],
        took: Duration::ZERO,
    };
    for (image, r) in results {
        match r? {
            true => summary.pulled.push(image.clone()),
            false => summary.present.push(image.clone()),
        }
    }
    summary.took = started.elapsed();
    Ok(summary)
}
