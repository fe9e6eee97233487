//! The live table of `lab grade --watch`: trainee x lab, the total, the exercise each
//! trainee is on, how long since their last progress, and a mark (STUCK, NO ANSWER).
//! On a terminal the table stays in place and only the cells that changed are
//! written again; elsewhere each round appends a line per trainee whose row changed.

use super::scrub::redact;
use super::Ui;
use crate::grade::watch::{ago, Row, Snapshot};
use crate::grade::TraineeGrade;
use console::{Style, Term};
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, SystemTime};

/// The table of one round: the header row, then one row per trainee.
pub fn grid(s: &Snapshot) -> Vec<Vec<String>> {
    let mut head = vec!["Trainee".to_string()];
    head.extend(s.book.labs.iter().map(|l| l.id.clone()));
    head.extend(["Total", "On", "Progress", "Mark"].map(String::from));
    let mut rows = vec![head];
    let possible = s.book.possible();
    for (t, r) in s.book.trainees.iter().zip(&s.rows) {
        let mut row = vec![redact(&t.trainee).into_owned()];
        for info in &s.book.labs {
            row.push(match t.labs.iter().find(|g| g.lab == info.id) {
                _ if t.rejected => "rejected".into(),
                Some(g) if g.graded => format!("{}/{}", g.points(), info.possible),
                _ => format!("-/{}", info.possible),
            });
        }
        row.push(format!("{}/{possible}", t.points()));
        row.push(on(r));
        row.push(since(r, s.at));
        row.push(mark(t, r));
        rows.push(row);
    }
    rows
}

/// `02/scrape`: the lab's number and the exercise; `done` when nothing is left.
pub fn on(r: &Row) -> String {
    match &r.current {
        Some(c) => format!(
            "{}/{}",
            c.lab.split('-').next().unwrap_or(&c.lab),
            redact(&c.exercise)
        ),
        None => "done".into(),
    }
}

pub fn since(r: &Row, now: SystemTime) -> String {
    ago(now.duration_since(r.last_progress).unwrap_or_default())
}

pub fn mark(t: &TraineeGrade, r: &Row) -> String {
    let mut m = Vec::new();
    if r.stuck {
        m.push("STUCK");
    }
    if r.down.is_some() {
        m.push("NO ANSWER");
    }
    if t.rejected {
        m.push("REJECTED");
    }
    m.join(", ")
}

/// `round 3 at 12:00:15 UTC, took 1.2s, every 15s; stuck after 15m`.
pub fn footer(s: &Snapshot) -> String {
    let stuck = s.rows.iter().filter(|r| r.stuck).count();
    let down = s.rows.iter().filter(|r| r.down.is_some()).count();
    format!(
        "round {} at {} UTC, took {}, every {}; {} stuck (no progress for {}), {} not answering",
        s.round,
        clock(s.at),
        crate::model::format_duration(s.took),
        crate::model::format_duration(s.every),
        stuck,
        crate::model::format_duration(s.stuck_after),
        down
    )
}

/// `HH:MM:SS` of a time, in UTC.
pub fn clock(t: SystemTime) -> String {
    let s = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// What to write to bring the screen from the last round to this one.
#[derive(Debug, PartialEq)]
pub enum Draw {
    /// Everything again (the first round, or a column got wider, or rows came or went).
    Full,
    /// Only these cells: (row, column) of the grid.
    Cells(Vec<(usize, usize)>),
}

/// The table as last drawn.
#[derive(Debug, Default)]
pub struct Screen {
    cells: Vec<Vec<String>>,
    widths: Vec<usize>,
}

impl Screen {
    /// Compares the new grid with the one on the screen and keeps it.
    pub fn update(&mut self, grid: Vec<Vec<String>>) -> Draw {
        let widths = widths(&grid);
        let same_shape = self.cells.len() == grid.len()
            && self
                .cells
                .iter()
                .zip(&grid)
                .all(|(a, b)| a.len() == b.len())
            && widths.len() == self.widths.len()
            && widths.iter().zip(&self.widths).all(|(n, o)| n <= o);
        let draw = if same_shape && !self.cells.is_empty() {
            let mut changed = Vec::new();
            for (r, (a, b)) in self.cells.iter().zip(&grid).enumerate() {
                for (c, (x, y)) in a.iter().zip(b).enumerate() {
                    if x != y {
                        changed.push((r, c));
                    }
                }
            }
            Draw::Cells(changed)
        } else {
            self.widths = widths;
            Draw::Full
        };
        self.cells = grid;
        draw
    }

    /// Where a column starts on its line (two spaces between columns).
    pub fn column_at(&self, col: usize) -> usize {
        self.widths[..col].iter().map(|w| w + 2).sum()
    }

    pub fn cell(&self, row: usize, col: usize) -> String {
        let w = self.widths[col];
        format!("{:<w$}", self.cells[row][col])
    }

    /// The whole table, a line per row.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (r, row) in self.cells.iter().enumerate() {
            let line: Vec<String> = (0..row.len()).map(|c| self.cell(r, c)).collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        out
    }
}

fn widths(grid: &[Vec<String>]) -> Vec<usize> {
    let mut w: Vec<usize> = Vec::new();
    for row in grid {
        for (i, c) in row.iter().enumerate() {
            let n = console::measure_text_width(c);
            if i >= w.len() {
                w.push(n);
            } else {
                w[i] = w[i].max(n);
            }
        }
    }
    w
}

/// The live view on stdout: a table kept in place on a terminal (when it fits),
/// appended lines elsewhere.
pub struct Live {
    term: Term,
    in_place: bool,
    screen: Screen,
    /// Lines drawn below the cursor's starting point (table and footer).
    drawn: usize,
    /// Plain mode: each trainee's last line (without the time since progress).
    last_lines: Vec<(String, String)>,
    quiet: bool,
    color: bool,
}

impl Live {
    pub fn new(ui: &Ui) -> Live {
        let term = Term::stdout();
        let in_place = term.is_term() && !ui.quiet && std::env::var_os("CI").is_none();
        Live {
            term,
            in_place,
            screen: Screen::default(),
            drawn: 0,
            last_lines: Vec::new(),
            quiet: ui.quiet,
            color: ui.color,
        }
    }

    /// Shows one round.
    pub fn show(&mut self, s: &Snapshot) {
        if self.quiet {
            return;
        }
        let grid = grid(s);
        let fits = self.term.size().0 as usize > grid.len() + 1;
        if self.in_place && fits {
            let _ = self.draw(grid, &footer(s));
        } else {
            let _ = self.append(s, &grid);
        }
    }

    fn styled(&self, col: usize, last: usize, text: String) -> String {
        if !self.color || col != last || text.trim().is_empty() {
            return text;
        }
        let style = if text.contains("STUCK") {
            Style::new().red().bold()
        } else {
            Style::new().yellow()
        };
        style.force_styling(true).apply_to(text).to_string()
    }

    fn draw(&mut self, grid: Vec<Vec<String>>, footer: &str) -> std::io::Result<()> {
        let rows = grid.len();
        let last_col = grid.first().map_or(0, |r| r.len().saturating_sub(1));
        match self.screen.update(grid) {
            Draw::Full => {
                if self.drawn > 0 {
                    self.term.clear_last_lines(self.drawn)?;
                }
                let bold = Style::new().bold().force_styling(self.color);
                let mut out = String::new();
                for (r, line) in self.screen.text().lines().enumerate() {
                    if r == 0 {
                        let _ = writeln!(out, "{}", bold.apply_to(line));
                    } else {
                        // Marks in colour: the last column, drawn again styled.
                        let cols = self.screen.cells[r].len();
                        let mut cells: Vec<String> =
                            (0..cols).map(|c| self.screen.cell(r, c)).collect();
                        if let Some(m) = cells.last_mut() {
                            *m = self.styled(cols - 1, last_col, m.clone());
                        }
                        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
                    }
                }
                let _ = writeln!(out, "{footer}");
                self.term.write_str(&out)?;
                self.drawn = rows + 1;
            }
            Draw::Cells(changed) => {
                for (r, c) in changed {
                    let up = self.drawn - r;
                    let text = self.styled(c, last_col, self.screen.cell(r, c));
                    self.term.move_cursor_up(up)?;
                    self.term.write_str("\r")?;
                    let x = self.screen.column_at(c);
                    if x > 0 {
                        self.term.move_cursor_right(x)?;
                    }
                    self.term.write_str(&text)?;
                    self.term.write_str("\r")?;
                    self.term.move_cursor_down(up)?;
                }
                self.term.move_cursor_up(1)?;
                self.term.clear_line()?;
                self.term.write_line(footer)?;
            }
        }
        self.term.flush()
    }

    fn append(&mut self, s: &Snapshot, grid: &[Vec<String>]) -> std::io::Result<()> {
        let Some((head, rows)) = grid.split_first() else {
            return Ok(());
        };
        let progress = head.len() - 2;
        let lines: Vec<(String, String)> = rows
            .iter()
            .map(|row| {
                let mut parts = Vec::new();
                for (i, cell) in row.iter().enumerate().skip(1) {
                    if i != progress && !cell.is_empty() {
                        parts.push(format!("{} {cell}", head[i]));
                    }
                }
                (row[0].clone(), parts.join(", "))
            })
            .collect();
        let mut out = String::new();
        let _ = writeln!(out, "{}", footer(s));
        for (i, (name, line)) in lines.iter().enumerate() {
            if self.last_lines.get(i) != Some(&(name.clone(), line.clone())) {
                let _ = writeln!(
                    out,
                    "  {name}: {line}, last progress {} ago",
                    rows[i][progress]
                );
            }
        }
        self.last_lines = lines;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.as_bytes())?;
        stdout.flush()
    }
}

/// How long until the next round should start, `every` after the last one started.
pub fn until_next(started: std::time::Instant, every: Duration) -> Duration {
    every.saturating_sub(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn the_first_round_draws_everything_then_only_changed_cells() {
        let mut s = Screen::default();
        let one = g(&[&["Trainee", "Total", "Mark"], &["alice", "2/9", ""]]);
        assert_eq!(s.update(one.clone()), Draw::Full);
        assert_eq!(s.update(one), Draw::Cells(vec![]));
        let two = g(&[&["Trainee", "Total", "Mark"], &["alice", "4/9", "NEW"]]);
        assert_eq!(s.update(two), Draw::Cells(vec![(1, 1), (1, 2)]));
        assert_eq!(s.column_at(2), "Trainee".len() + 2 + "Total".len() + 2);
        assert_eq!(s.cell(1, 1), "4/9  ", "padded to the column's width");
    }

    #[test]
    fn a_wider_cell_or_a_new_row_draws_everything_again() {
        let mut s = Screen::default();
        s.update(g(&[&["Trainee", "Total"], &["alice", "2/9"]]));
        assert_eq!(
            s.update(g(&[&["Trainee", "Total"], &["alice", "100/190"]])),
            Draw::Full
        );
        assert_eq!(
            s.update(g(&[&["Trainee", "Total"], &["alice", "9/19"]])),
            Draw::Cells(vec![(1, 1)]),
            "a narrower cell keeps the column's width"
        );
        assert_eq!(
            s.update(g(&[
                &["Trainee", "Total"],
                &["alice", "9/19"],
                &["bob", "0/19"]
            ])),
            Draw::Full
        );
        assert_eq!(s.text(), "Trainee  Total\nalice    9/19\nbob      0/19\n");
    }

    #[test]
    fn clock_reads_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(clock(t), "22:13:20");
    }
}
