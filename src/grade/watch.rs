//! Watching a class: the gradebook of each round, and what the rounds say together
//! (who is on which exercise, when each trainee last made progress, who is stuck,
//! whose environment stopped answering). Plain data, kept in memory; nothing here
//! prints or listens (`report::live`, `report::metrics`, `report::page` render it).

use super::{Gradebook, Mark, TraineeGrade};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

/// The exercise a trainee is on: the first one (labs in order, checks in order)
/// with a check that does not pass yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub lab: String,
    pub exercise: String,
}

/// What the rounds say about one trainee.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub trainee: String,
    /// None when every check that can be judged passes.
    pub current: Option<Current>,
    /// The last time the trainee's points or passed checks changed (the first round
    /// they were seen in, until then).
    pub last_progress: SystemTime,
    /// On an exercise and without progress for `stuck_after` or longer.
    pub stuck: bool,
    /// Why the environment did not answer this round (its engine unreachable, every
    /// check unable to look, the deadline); None when it answered.
    pub down: Option<String>,
    /// Checks that could not look (errors, unreachable), over every round so far.
    pub errors_total: u64,
}

/// One round: the gradebook and the rows, in the gradebook's order.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// 1 for the first round; 0 before it has finished.
    pub round: u64,
    /// When the round finished.
    pub at: SystemTime,
    pub took: Duration,
    pub every: Duration,
    pub stuck_after: Duration,
    pub book: Gradebook,
    pub rows: Vec<Row>,
}

impl Snapshot {
    /// Before the first round has finished.
    pub fn empty(book: Gradebook, every: Duration, stuck_after: Duration) -> Snapshot {
        Snapshot {
            round: 0,
            at: SystemTime::now(),
            took: Duration::ZERO,
            every,
            stuck_after,
            book,
            rows: Vec::new(),
        }
    }

    pub fn row(&self, trainee: &str) -> Option<(&TraineeGrade, &Row)> {
        self.book
            .trainees
            .iter()
            .zip(&self.rows)
            .find(|(t, _)| t.trainee == trainee)
    }
}

#[derive(Debug)]
struct Seen {
    passed: BTreeSet<(String, String)>,
    points: i64,
    since: SystemTime,
    errors_total: u64,
}

/// The progress of every trainee across rounds.
#[derive(Debug)]
pub struct Tracker {
    every: Duration,
    stuck_after: Duration,
    round: u64,
    seen: HashMap<String, Seen>,
}

impl Tracker {
    pub fn new(every: Duration, stuck_after: Duration) -> Tracker {
        Tracker {
            every,
            stuck_after,
            round: 0,
            seen: HashMap::new(),
        }
    }

    /// Takes in one round's gradebook, finished at `now` after `took`.
    pub fn observe(&mut self, book: Gradebook, now: SystemTime, took: Duration) -> Snapshot {
        self.round += 1;
        let mut rows = Vec::with_capacity(book.trainees.len());
        for t in &book.trainees {
            let down = down(t);
            let errors = t
                .labs
                .iter()
                .flat_map(|l| &l.checks)
                .filter(|c| matches!(c.status, Mark::Error | Mark::Unreachable))
                .count() as u64;
            let passed: BTreeSet<(String, String)> = t
                .labs
                .iter()
                .flat_map(|l| {
                    l.checks
                        .iter()
                        .filter(|c| c.status == Mark::Passed)
                        .map(|c| (l.lab.clone(), c.id.clone()))
                })
                .collect();
            let points = t.points();
            let seen = self.seen.entry(t.trainee.clone()).or_insert_with(|| Seen {
                passed: passed.clone(),
                points,
                since: now,
                errors_total: 0,
            });
            seen.errors_total += errors;
            // A round in which the environment did not answer says nothing about the
            // trainee's work: points lost to an unreachable engine are not progress.
            if down.is_none() && (seen.passed != passed || seen.points != points) {
                seen.passed = passed;
                seen.points = points;
                seen.since = now;
            }
            let current = current(t);
            let stuck = current.is_some()
                && now.duration_since(seen.since).unwrap_or_default() >= self.stuck_after;
            rows.push(Row {
                trainee: t.trainee.clone(),
                current,
                last_progress: seen.since,
                stuck,
                down,
                errors_total: seen.errors_total,
            });
        }
        // Trainees no longer in the gradebook (a bundle removed) are forgotten.
        self.seen
            .retain(|name, _| book.trainees.iter().any(|t| &t.trainee == name));
        Snapshot {
            round: self.round,
            at: now,
            took,
            every: self.every,
            stuck_after: self.stuck_after,
            book,
            rows,
        }
    }
}

/// The first exercise with a check that does not pass and that the trainee can act
/// on (not one waiting for the instructor, not one that cannot be checked remotely).
pub fn current(t: &TraineeGrade) -> Option<Current> {
    t.labs.iter().filter(|l| l.graded).find_map(|l| {
        l.checks
            .iter()
            .find(|c| {
                c.manual.is_none()
                    && !matches!(c.status, Mark::Passed | Mark::Pending | Mark::NotChecked)
            })
            .map(|c| Current {
                lab: l.lab.clone(),
                exercise: c.exercise.clone(),
            })
    })
}

/// Why an environment did not answer this round, if it did not: its engine was
/// unreachable, the deadline hit, or every check that ran could not look.
pub fn down(t: &TraineeGrade) -> Option<String> {
    if t.rejected {
        return None;
    }
    let checks: Vec<_> = t
        .labs
        .iter()
        .filter(|l| l.graded)
        .flat_map(|l| &l.checks)
        .filter(|c| !matches!(c.status, Mark::NotChecked | Mark::Skipped))
        .collect();
    let unreachable = checks.iter().any(|c| c.status == Mark::Unreachable);
    let all_errors = !checks.is_empty()
        && checks
            .iter()
            .all(|c| matches!(c.status, Mark::Error | Mark::Unreachable));
    let late = t
        .problems
        .iter()
        .any(|p| p.starts_with("not finished within"));
    if !(unreachable || all_errors || late) {
        return None;
    }
    let why = t
        .problems
        .iter()
        .find(|p| p.starts_with("Docker engine unreachable") || p.starts_with("not finished"))
        .or_else(|| t.problems.first())
        .cloned()
        .unwrap_or_else(|| "no check could look".into());
    Some(why)
}

/// `3m`, `1h05m`, `12s`: how long ago, for a table cell.
pub fn ago(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::{GradedCheck, LabGrade, Origin};

    fn check(id: &str, exercise: &str, status: Mark, points: i64) -> GradedCheck {
        GradedCheck {
            id: id.into(),
            exercise: exercise.into(),
            kind: "http".into(),
            description: id.into(),
            status,
            expected: None,
            actual: None,
            message: None,
            hint: None,
            points,
            possible: 1,
            manual: None,
        }
    }

    fn trainee(name: &str, checks: Vec<GradedCheck>, problems: &[&str]) -> TraineeGrade {
        TraineeGrade {
            trainee: name.into(),
            origin: Origin::Roster,
            problems: problems.iter().map(|p| p.to_string()).collect(),
            rejected: false,
            labs: vec![LabGrade {
                lab: "02-prometheus".into(),
                graded: true,
                checks,
            }],
            answers: Default::default(),
        }
    }

    fn book(trainees: Vec<TraineeGrade>) -> Gradebook {
        Gradebook {
            labs: Vec::new(),
            trainees,
        }
    }

    fn at(mins: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + mins * 60)
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn the_current_exercise_is_the_first_with_a_check_not_passing() {
        let t = trainee(
            "a",
            vec![
                check("up", "start", Mark::Passed, 1),
                check("free", "start", Mark::Pending, 0),
                check("remote", "start", Mark::NotChecked, 0),
                check("job", "scrape", Mark::Failed, 0),
                check("rule", "alert", Mark::Failed, 0),
            ],
            &[],
        );
        assert_eq!(
            current(&t),
            Some(Current {
                lab: "02-prometheus".into(),
                exercise: "scrape".into()
            })
        );
        let done = trainee("b", vec![check("up", "start", Mark::Passed, 1)], &[]);
        assert_eq!(current(&done), None);
    }

    #[test]
    fn stuck_after_the_given_time_without_progress_and_not_when_done() {
        let mut tr = Tracker::new(MIN, 15 * MIN);
        let failing = |p| book(vec![trainee("a", vec![check("job", "scrape", p, 0)], &[])]);
        let s = tr.observe(failing(Mark::Failed), at(0), Duration::ZERO);
        assert!(!s.rows[0].stuck);
        assert_eq!(s.rows[0].last_progress, at(0));
        let s = tr.observe(failing(Mark::Failed), at(14), Duration::ZERO);
        assert!(!s.rows[0].stuck, "14 minutes is not 15");
        let s = tr.observe(failing(Mark::Failed), at(15), Duration::ZERO);
        assert!(s.rows[0].stuck);
        assert_eq!(s.rows[0].last_progress, at(0));
        // Passing the check is progress, and a trainee with nothing left is not stuck.
        let s = tr.observe(failing(Mark::Passed), at(40), Duration::ZERO);
        assert_eq!(s.rows[0].last_progress, at(40));
        assert!(!s.rows[0].stuck);
        assert_eq!(s.rows[0].current, None);
        let s = tr.observe(failing(Mark::Passed), at(90), Duration::ZERO);
        assert!(!s.rows[0].stuck);
    }

    #[test]
    fn losing_points_is_a_change_but_an_unreachable_round_is_not() {
        let mut tr = Tracker::new(MIN, 15 * MIN);
        let b = |s1, s2, problems: &[&str]| {
            book(vec![trainee(
                "a",
                vec![check("up", "start", s1, 0), check("job", "scrape", s2, 0)],
                problems,
            )])
        };
        tr.observe(b(Mark::Passed, Mark::Failed, &[]), at(0), Duration::ZERO);
        let down = b(
            Mark::Unreachable,
            Mark::Unreachable,
            &["Docker engine unreachable: connection refused; …"],
        );
        let s = tr.observe(down, at(5), Duration::ZERO);
        assert_eq!(s.rows[0].last_progress, at(0));
        assert!(s.rows[0]
            .down
            .as_deref()
            .unwrap()
            .starts_with("Docker engine unreachable"));
        assert_eq!(s.rows[0].errors_total, 2);
        // Back, and it broke what passed: that is a change of the passed checks.
        let s = tr.observe(b(Mark::Failed, Mark::Failed, &[]), at(7), Duration::ZERO);
        assert_eq!(s.rows[0].down, None);
        assert_eq!(s.rows[0].last_progress, at(7));
        assert_eq!(s.rows[0].errors_total, 2);
    }

    #[test]
    fn one_error_among_answers_is_not_down_but_all_errors_are() {
        let some = trainee(
            "a",
            vec![
                check("up", "start", Mark::Passed, 1),
                check("q", "start", Mark::Error, 0),
            ],
            &["02-prometheus/q could not look: timeout"],
        );
        assert_eq!(down(&some), None);
        let all = trainee(
            "a",
            vec![
                check("up", "start", Mark::Error, 0),
                check("q", "start", Mark::Skipped, 0),
            ],
            &["02-prometheus/up could not look: connection refused"],
        );
        assert_eq!(
            down(&all).as_deref(),
            Some("02-prometheus/up could not look: connection refused")
        );
    }

    #[test]
    fn ago_reads_as_a_short_cell() {
        assert_eq!(ago(Duration::from_secs(12)), "12s");
        assert_eq!(ago(Duration::from_secs(15 * 60 + 59)), "15m");
        assert_eq!(ago(Duration::from_secs(3600 + 5 * 60)), "1h05m");
    }
}
