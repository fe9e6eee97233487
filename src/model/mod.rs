//! The lab model: plain data read from lab files. No I/O happens here.

pub mod action;
pub mod analysis;
pub mod check;
pub mod compare;
pub mod compose;
pub mod doctor;
pub mod duration;
pub mod image;
pub mod jsonpath;
pub mod lab;
pub mod roster;
pub mod state;
pub mod status;
pub mod target;
pub mod time;

pub use action::Step;
pub use check::{Check, CheckSpec};
pub use duration::{format_duration, parse_duration, Dur};
pub use lab::{AnswerType, Exercise, Lab, Question};
pub use target::{Endpoint, Moved, Secret, Target};

/// A lab together with where it was read from.
#[derive(Debug, Clone)]
pub struct LoadedLab {
    pub lab: Lab,
    /// The lab's folder as shown to the user (a path, or `<built-in>/02-prometheus`).
    pub origin: String,
    /// The instructions' Markdown text.
    pub instructions: String,
    /// The lab's files, relative to its folder, with their contents.
    pub files: std::collections::BTreeMap<String, Vec<u8>>,
}
