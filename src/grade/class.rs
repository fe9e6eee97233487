//! A class to grade: the labs, the roster, the bundles and the instructor's scores,
//! each read and checked once, graded in rounds (once by `lab grade`, again and again
//! by `lab grade --watch`).

use crate::error::{Error, Result};
use crate::grade::{self, bundle, Gradebook, TraineeGrade};
use crate::model::roster::{ManualScores, Roster};
use crate::model::LoadedLab;
use std::path::PathBuf;

/// What one grading round needs: the labs, the roster, the bundles and the
/// instructor's scores, each read and checked once.
pub struct Class<'a> {
    pub chosen: Vec<&'a LoadedLab>,
    /// Every lab of the course (a bundle naming another is rejected).
    pub all: &'a [LoadedLab],
    pub roster: Option<Roster>,
    pub bundles: Option<(PathBuf, bundle::Key)>,
    pub manual: Option<ManualScores>,
    pub opts: grade::Options,
}

impl Class<'_> {
    /// Grades every environment and bundle once; `done` hears of each environment.
    pub async fn round(&self, done: &(dyn Fn(&TraineeGrade) + Sync)) -> Result<Gradebook> {
        let var = |name: &str| std::env::var(name).ok();
        let mut trainees = match &self.roster {
            Some(roster) => grade::grade_roster(roster, &self.chosen, self.opts, &var, done).await,
            None => Vec::new(),
        };
        if let Some((dir, key)) = &self.bundles {
            trainees
                .extend(bundle::grade_dir(dir, key, &self.chosen, self.all).map_err(Error::Usage)?);
        }
        let mut book = Gradebook::new(&self.chosen, trainees);
        if let Some(m) = &self.manual {
            book.apply_manual(m, &self.chosen);
        }
        Ok(book)
    }
}
