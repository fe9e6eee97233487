//! How image pulls show their progress: a bar per layer on a terminal, a line per
//! change of a layer's status elsewhere, like `docker pull`.

use crate::engine::images::LayerStatus;
use crate::report::Ui;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;

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

    /// The view of one image's pull; call [`View::finish`] when the pull is over.
    pub fn view<'a>(&'a self, image: &'a str) -> View<'a> {
        View {
            image,
            progress: self,
            bars: BTreeMap::new(),
            last: BTreeMap::new(),
        }
    }
}

/// One pull's view: a bar or a last-printed status per layer.
pub struct View<'a> {
    image: &'a str,
    progress: &'a Progress,
    bars: BTreeMap<String, ProgressBar>,
    last: BTreeMap<String, String>,
}

impl View<'_> {
    pub fn layer(&mut self, l: LayerStatus<'_>) {
        let LayerStatus {
            id,
            status,
            current,
            total,
        } = l;
        match self.progress {
            Progress::Bars(mp) => {
                let image = self.image;
                let bar = self.bars.entry(id.to_string()).or_insert_with(|| {
                    let b = mp.add(ProgressBar::new(0));
                    b.set_style(
                        ProgressStyle::with_template(
                            "{prefix} {msg:<18} {wide_bar} {bytes}/{total_bytes}",
                        )
                        .expect("static template")
                        .progress_chars("=> "),
                    );
                    b.set_prefix(format!("{image} {id}"));
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

    pub fn finish(self) {
        if let Progress::Bars(mp) = self.progress {
            for b in self.bars.values() {
                b.finish_and_clear();
                mp.remove(b);
            }
        }
    }
}
