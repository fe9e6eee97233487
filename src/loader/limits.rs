//! Limits on YAML input, checked before any parser builds a tree: a file over
//! [`MAX_YAML_BYTES`] or nested deeper than [`MAX_YAML_DEPTH`] is refused at once.
//! serde_yaml's time grows with the square of the nesting depth (a 40,000-deep file
//! took 12-17 s); this check reads events one at a time and stops at the first one
//! too deep, so it costs a fraction of a millisecond per level it reads.

use super::Pos;
use yaml_rust2::parser::{Event, Parser};

/// No lab, roster, compose or configuration file is near this.
pub const MAX_YAML_BYTES: usize = 8 << 20;
/// Compose files and labs nest about ten levels; this leaves room for any real file.
pub const MAX_YAML_DEPTH: usize = 128;
/// Mappings and sequences in one file. A compose file has hundreds, a lab with 2,000
/// questions about ten thousand; each costs a parsed tree a few hundred bytes, so this
/// bounds the tree to about 100 MB (8 MB of nested flow mappings made 1.35 GB).
pub const MAX_YAML_COLLECTIONS: usize = 250_000;

/// Why a YAML text is refused, and where (the position of the first node too deep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooBig {
    pub at: Option<Pos>,
    pub message: String,
}

impl std::fmt::Display for TooBig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some(p) => write!(f, "{}:{}: {}", p.line, p.column, self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// `Ok` when `text` is within the limits. A syntax error is not this check's to
/// report: the parser that follows says it with its own words.
pub fn check(text: &str) -> Result<(), TooBig> {
    if text.len() > MAX_YAML_BYTES {
        return Err(TooBig {
            at: None,
            message: format!(
                "the file is {} bytes, more than the {} MiB a YAML file may have here",
                text.len(),
                MAX_YAML_BYTES >> 20
            ),
        });
    }
    // Flow collections (`[[[[…`) are counted before any parser sees them: a cheap
    // byte scan, so that even a parser's own recursion is never reached.
    if let Some((line, column)) = deep_flow(text) {
        return Err(too_deep(Some(Pos { line, column })));
    }
    let mut depth = 0usize;
    let mut collections = 0usize;
    let mut parser = Parser::new_from_str(text);
    loop {
        let Ok((ev, mark)) = parser.next_token() else {
            return Ok(());
        };
        match ev {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                collections += 1;
                if collections > MAX_YAML_COLLECTIONS {
                    return Err(TooBig {
                        at: Some(Pos {
                            line: mark.line(),
                            column: mark.col() + 1,
                        }),
                        message: format!(
                            "more than {MAX_YAML_COLLECTIONS} mappings and lists; no lab, roster \
                             or compose file needs that many"
                        ),
                    });
                }
                if depth > MAX_YAML_DEPTH {
                    return Err(too_deep(Some(Pos {
                        line: mark.line(),
                        column: mark.col() + 1,
                    })));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            Event::StreamEnd => break,
            _ => {}
        }
    }
    Ok(())
}

fn too_deep(at: Option<Pos>) -> TooBig {
    TooBig {
        at,
        message: format!(
            "nested more than {MAX_YAML_DEPTH} levels deep; no lab, roster or compose file \
             needs that many"
        ),
    }
}

/// The line and column (1-based) where `[`/`{` nesting outside quotes and comments
/// first passes the limit.
fn deep_flow(text: &str) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    for c in text.chars() {
        col += 1;
        if c == '\n' {
            line += 1;
            col = 0;
            comment = false;
            prev = c;
            continue;
        }
        if comment {
            continue;
        }
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' if depth > 0 || prev.is_whitespace() || prev == ':' => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_YAML_DEPTH {
                        return Some((line, col));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn ordinary_files_pass() {
        let compose = "services:\n  api:\n    environment:\n      - A=1 # [[[\n    ports: [\"8228:8228\"]\n    labels: {a: '[['}\n";
        assert_eq!(check(compose), Ok(()));
        let nested: String = (0..MAX_YAML_DEPTH - 1).map(|_| '[').collect();
        assert_eq!(
            check(&nested),
            Ok(()),
            "a syntax error is the parser's to tell"
        );
    }

    #[test]
    fn a_40000_deep_file_is_refused_at_once() {
        // Found by issue 14: 12-17 s in serde_yaml, past every timeout.
        for deep in [
            "[".repeat(40_000) + &"]".repeat(40_000),
            "{a: ".repeat(40_000) + &"}".repeat(40_000),
            "- ".repeat(40_000) + "x\n",
            (0..2_000)
                .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
                .collect::<String>(),
        ] {
            let t = Instant::now();
            let e = check(&deep).unwrap_err();
            assert!(e.message.contains("nested more than 128"), "{e}");
            assert!(e.at.is_some(), "{e}");
            assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        }
    }

    /// Found by the safety benchmark: 8 MB of flow mappings nested 120 deep (under
    /// both limits above) built a 1.35 GB tree and outlived its check's timeout.
    #[test]
    fn a_file_of_too_many_collections_is_refused_with_where() {
        let line = "{a: ".repeat(120) + "1" + &"}".repeat(120) + "\n";
        let many = format!("k:\n{}", format!("  - {line}").repeat(3_000));
        let e = check(&many).unwrap_err();
        assert!(
            e.message.contains("more than 250000 mappings and lists"),
            "{e}"
        );
        let at = e.at.expect("a position");
        assert!(at.line > 2_000, "{at:?}");
        // A big, ordinary file passes: 20,000 questions of five fields.
        let lab: String = (0..20_000)
            .map(|i| format!("- id: q{i}\n  prompt: p\n  answer: {{type: number, within: 2}}\n  tags: [a, b]\n"))
            .collect();
        assert_eq!(check(&lab), Ok(()));
    }

    #[test]
    fn an_oversized_file_is_refused_before_reading_it() {
        let big = "a: 1\n".repeat(MAX_YAML_BYTES / 5 + 1);
        let e = check(&big).unwrap_err();
        assert!(e.message.contains("8 MiB"), "{e}");
    }
}
