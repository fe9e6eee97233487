//! Where each field of a YAML document stands: path -> line and column.
//!
//! serde_yaml reports where parsing stopped, but not where a field that later fails
//! validation was written, and it loses the place inside internally tagged enums
//! (serde buffers their content). This index, built from a YAML event parser that
//! keeps markers, gives every node a position by its field path.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone)]
pub struct Node {
    /// `exercises[1].checks[2].timeout`; the document root is the empty path.
    pub path: String,
    /// Where the key stands, for mapping values.
    pub key: Option<Pos>,
    /// Where the value starts.
    pub value: Pos,
    /// The scalar's text, for scalars.
    pub scalar: Option<String>,
}

/// Every node of the first document, in document order.
#[derive(Debug, Default)]
pub struct Index {
    nodes: Vec<Node>,
}

enum Frame {
    Map {
        path: String,
        pending_key: Option<(String, Pos)>,
        /// The mapping's own node, and whether its first key is still to come.
        node: usize,
        first_key: bool,
    },
    Seq {
        path: String,
        next: usize,
    },
}

struct Builder {
    stack: Vec<Frame>,
    nodes: Vec<Node>,
    done: bool,
}

fn pos(m: Marker) -> Pos {
    // yaml-rust2 markers: 1-based lines, 0-based columns.
    Pos {
        line: m.line(),
        column: m.col() + 1,
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    /// The path and key position the next value takes; `None` when the next scalar
    /// is a mapping key.
    fn next_slot(&mut self) -> Option<(String, Option<Pos>)> {
        match self.stack.last_mut() {
            None => Some((String::new(), None)),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                Some((p, None))
            }
            Some(Frame::Map {
                path, pending_key, ..
            }) => pending_key.take().map(|(k, kp)| (join(path, &k), Some(kp))),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.done {
            return;
        }
        match ev {
            Event::Scalar(text, ..) => match self.next_slot() {
                Some((path, key)) => self.nodes.push(Node {
                    path,
                    key,
                    value: pos(mark),
                    scalar: Some(text),
                }),
                None => {
                    if let Some(Frame::Map {
                        pending_key,
                        node,
                        first_key,
                        ..
                    }) = self.stack.last_mut()
                    {
                        let at = pos(mark);
                        // A block mapping's start marker stands at its first `:`; the
                        // mapping is better shown where its first key begins.
                        if *first_key {
                            *first_key = false;
                            let n = &mut self.nodes[*node];
                            if (at.line, at.column) < (n.value.line, n.value.column) {
                                n.value = at;
                            }
                        }
                        *pending_key = Some((text, at));
                    }
                }
            },
            Event::Alias(_) => {
                if let Some((path, key)) = self.next_slot() {
                    self.nodes.push(Node {
                        path,
                        key,
                        value: pos(mark),
                        scalar: None,
                    });
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                // A complex key (a mapping used as a key) is not a lab-file shape; give it
                // a placeholder name so the walk stays balanced.
                let (path, key) = self
                    .next_slot()
                    .unwrap_or_else(|| ("<complex key>".into(), None));
                self.nodes.push(Node {
                    path: path.clone(),
                    key,
                    value: pos(mark),
                    scalar: None,
                });
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map {
                        path,
                        pending_key: None,
                        node: self.nodes.len() - 1,
                        first_key: true,
                    }
                } else {
                    Frame::Seq { path, next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::DocumentEnd => self.done = true,
            _ => {}
        }
    }
}

impl Index {
    /// Builds the index; a document the event parser cannot read gives an empty index
    /// (serde_yaml reports that error with its own position).
    pub fn build(text: &str) -> Index {
        // Too big or too deep: no index (the parse that follows refuses the text).
        if super::limits::check(text).is_err() {
            return Index { nodes: Vec::new() };
        }
        let mut b = Builder {
            stack: Vec::new(),
            nodes: Vec::new(),
            done: false,
        };
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut b, false).is_err() {
            // The document stops at a syntax error: a key already read whose value did
            // not parse is still the best name for where the error is.
            if let Some(Frame::Map {
                path,
                pending_key: Some((k, kp)),
                ..
            }) = b.stack.last()
            {
                b.nodes.push(Node {
                    path: join(path, k),
                    key: Some(*kp),
                    value: *kp,
                    scalar: None,
                });
            }
        }
        Index { nodes: b.nodes }
    }

    /// The field a position falls in: the last node that starts at or before it on
    /// the same line, else the mapping or list around the last node before it.
    pub fn enclosing(&self, at: Pos) -> Option<&Node> {
        let before = |p: Pos| (p.line, p.column) <= (at.line, at.column);
        let last = self
            .nodes
            .iter()
            .rev()
            .find(|n| before(n.key.unwrap_or(n.value)))?;
        if last.key.unwrap_or(last.value).line == at.line {
            return Some(last);
        }
        let parent = match last.path.rfind(['.', '[']) {
            Some(cut) => &last.path[..cut],
            None => "",
        };
        self.get(parent).or(Some(last))
    }

    /// The first key written twice in one mapping, at its second occurrence.
    pub fn duplicate_key(&self) -> Option<&Node> {
        let mut seen = std::collections::HashSet::new();
        self.nodes
            .iter()
            .filter(|n| n.key.is_some())
            .find(|n| !seen.insert(n.path.as_str()))
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.path == path)
    }

    /// The node at `path` or, failing that, its nearest ancestor that has one.
    pub fn nearest(&self, path: &str) -> Option<&Node> {
        let mut p = path.to_string();
        loop {
            if let Some(n) = self.get(&p) {
                return Some(n);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }

    /// Nodes at or below `path`, in document order.
    pub fn subtree<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |n| {
            path.is_empty()
                || n.path == path
                || n.path
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
number: 2
exercises:
  - id: a
    checks:
      - id: one
        timeout: 5 sec
      - id: two
";

    #[test]
    fn indexes_nested_paths_with_one_based_positions() {
        let idx = Index::build(DOC);
        let n = idx.get("exercises[0].checks[0].timeout").unwrap();
        assert_eq!(
            n.value,
            Pos {
                line: 6,
                column: 18
            }
        );
        assert_eq!(n.key, Some(Pos { line: 6, column: 9 }));
        assert_eq!(n.scalar.as_deref(), Some("5 sec"));
        assert_eq!(idx.get("exercises[0].checks[1].id").unwrap().value.line, 7);
    }

    #[test]
    fn nearest_falls_back_to_the_closest_ancestor() {
        let idx = Index::build(DOC);
        let n = idx.nearest("exercises[0].checks[1].needs[3]").unwrap();
        assert_eq!(n.path, "exercises[0].checks[1]");
    }

    #[test]
    fn a_block_mapping_starts_at_its_first_key_and_a_flow_one_at_its_brace() {
        let idx = Index::build(DOC);
        let check = idx.get("exercises[0].checks[0]").unwrap();
        assert_eq!(check.value, Pos { line: 5, column: 9 });
        assert_eq!(idx.get("").unwrap().value, Pos { line: 1, column: 1 });
        let idx = Index::build("eventually: {within: 2m}\n");
        assert_eq!(
            idx.get("eventually").unwrap().value,
            Pos {
                line: 1,
                column: 13
            }
        );
    }

    #[test]
    fn enclosing_names_the_field_on_the_line_or_the_mapping_around_it() {
        let idx = Index::build(DOC);
        let on_line = idx
            .enclosing(Pos {
                line: 6,
                column: 20,
            })
            .unwrap();
        assert_eq!(on_line.path, "exercises[0].checks[0].timeout");
        // A line after the last value of a check belongs to the check.
        let text = "a:\n  b: 1\n  c: 2\n\td: 3\n";
        let idx = Index::build(text);
        assert_eq!(idx.enclosing(Pos { line: 4, column: 1 }).unwrap().path, "a");
    }

    #[test]
    fn a_key_whose_value_does_not_parse_is_still_indexed() {
        let idx = Index::build("a:\n  url: \"http://x\n  b: 1\n");
        let n = idx.get("a.url").expect("the pending key is kept");
        assert_eq!(n.key, Some(Pos { line: 2, column: 3 }));
    }

    #[test]
    fn the_second_of_two_equal_keys_is_the_duplicate() {
        let idx = Index::build("a:\n  b: 1\n  c: 2\n  b: 3\n");
        let n = idx.duplicate_key().unwrap();
        assert_eq!(n.path, "a.b");
        assert_eq!(n.key, Some(Pos { line: 4, column: 3 }));
        assert!(Index::build(DOC).duplicate_key().is_none());
    }

    #[test]
    fn subtree_does_not_include_siblings_sharing_a_prefix() {
        let idx = Index::build("a: 1\nab: 2\n");
        let paths: Vec<_> = idx.subtree("a").map(|n| n.path.as_str()).collect();
        assert_eq!(paths, ["a"]);
    }
}
