//! Renders a lab's Markdown instructions for a terminal: headings in bold, text
//! wrapped to the width, code blocks indented, lists with bullets, links with URLs.

use super::Ui;
use console::Style;
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Parser, Tag, TagEnd};

pub fn render(md: &str, width: usize, ui: &Ui) -> String {
    let width = width.clamp(40, 100);
    let bold = ui.style(Style::new().bold());
    let heading = ui.style(Style::new().bold().underlined());
    let code = ui.style(Style::new().cyan());
    let dim = ui.style(Style::new().dim());

    let mut out = String::new();
    // The paragraph being built: words with their rendered forms, so wrapping counts
    // visible characters and not escape codes.
    let mut words: Vec<(String, usize)> = Vec::new();
    let mut indent = 0usize;
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut pending_bullet: Option<String> = None;
    let mut in_code = false;
    let mut strong = 0;
    let mut link: Option<String> = None;

    // Whether the last text ended inside a word, so the next text continues it
    // (`foo` then `,`) instead of starting a new word.
    let mut glue = false;
    let push_text =
        |words: &mut Vec<(String, usize)>, glue: &mut bool, text: &str, style: Option<&Style>| {
            let continues = *glue && !text.starts_with(char::is_whitespace);
            *glue = !text.is_empty() && !text.ends_with(char::is_whitespace);
            for (i, w) in text.split_whitespace().enumerate() {
                let shown = match style {
                    Some(s) => s.apply_to(w).to_string(),
                    None => w.to_string(),
                };
                // Glue to the previous word when the text continues it (`foo` then `,`).
                if i == 0 && continues {
                    if let Some(last) = words.last_mut() {
                        last.0.push_str(&shown);
                        last.1 += w.chars().count();
                        continue;
                    }
                }
                words.push((shown, w.chars().count()));
            }
        };

    let flush = |out: &mut String,
                 words: &mut Vec<(String, usize)>,
                 indent: usize,
                 bullet: &mut Option<String>| {
        if words.is_empty() {
            return;
        }
        let first_prefix = bullet.take().unwrap_or_else(|| " ".repeat(indent));
        let rest_prefix = " ".repeat(indent.max(first_prefix.chars().count()));
        let mut line = first_prefix.clone();
        let mut len = first_prefix.chars().count();
        let mut line_has_word = false;
        for (shown, n) in words.drain(..) {
            if line_has_word && len + 1 + n > width {
                out.push_str(line.trim_end());
                out.push('\n');
                line = rest_prefix.clone();
                len = rest_prefix.len();
                line_has_word = false;
            }
            if line_has_word {
                line.push(' ');
                len += 1;
            }
            line.push_str(&shown);
            len += n;
            line_has_word = true;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };

    for ev in Parser::new(md) {
        match ev {
            Event::Start(Tag::Heading { .. }) => {}
            Event::End(TagEnd::Heading(level)) => {
                let text: Vec<String> = words.drain(..).map(|(w, _)| w).collect();
                let text = text.join(" ");
                if !out.is_empty() {
                    out.push('\n');
                }
                let styled = if level == HeadingLevel::H1 {
                    heading.apply_to(text.to_uppercase())
                } else {
                    heading.apply_to(text)
                };
                out.push_str(&format!("{styled}\n\n"));
            }
            Event::Start(Tag::Paragraph) => {}
            Event::End(TagEnd::Paragraph) => {
                glue = false;
                flush(&mut out, &mut words, indent, &mut pending_bullet);
                if lists.is_empty() {
                    out.push('\n');
                }
            }
            Event::Start(Tag::List(start)) => {
                flush(&mut out, &mut words, indent, &mut pending_bullet);
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
                if lists.is_empty() {
                    out.push('\n');
                }
            }
            Event::Start(Tag::Item) => {
                flush(&mut out, &mut words, indent, &mut pending_bullet);
                let depth = lists.len().saturating_sub(1);
                let marker = match lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}.");
                        *n += 1;
                        m
                    }
                    _ => "•".to_string(),
                };
                let prefix = format!("{}{} ", "  ".repeat(depth + 1), marker);
                indent = prefix.chars().count();
                pending_bullet = Some(prefix);
            }
            Event::End(TagEnd::Item) => {
                flush(&mut out, &mut words, indent, &mut pending_bullet);
                indent = 0;
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                flush(&mut out, &mut words, indent, &mut pending_bullet);
                in_code = true;
                if let CodeBlockKind::Fenced(lang) = kind {
                    if !lang.is_empty() {
                        out.push_str(&format!("    {}\n", dim.apply_to(format!("({lang})"))));
                    }
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                out.push('\n');
            }
            Event::Text(t) if in_code => {
                for l in t.lines() {
                    out.push_str(&format!("    {}\n", code.apply_to(l)));
                }
            }
            Event::Text(t) => {
                let style = if strong > 0 { Some(&bold) } else { None };
                push_text(&mut words, &mut glue, &t, style);
            }
            Event::Code(t) => push_text(&mut words, &mut glue, &t, Some(&code)),
            Event::Start(Tag::Strong) | Event::Start(Tag::Emphasis) => strong += 1,
            Event::End(TagEnd::Strong) | Event::End(TagEnd::Emphasis) => strong -= 1,
            Event::Start(Tag::Link { dest_url, .. }) => link = Some(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = link.take() {
                    push_text(&mut words, &mut glue, &format!(" ({url})"), Some(&dim));
                }
            }
            Event::SoftBreak => push_text(&mut words, &mut glue, " ", None),
            Event::HardBreak => flush(&mut out, &mut words, indent, &mut pending_bullet),
            Event::Rule => out.push_str(&format!("{}\n\n", "─".repeat(width.min(60)))),
            _ => {}
        }
    }
    flush(&mut out, &mut words, indent, &mut pending_bullet);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_headings_lists_code_and_links_readably() {
        let md = "# Enable Prometheus\n\nUncomment the `prometheus` block in\nthe compose file. See [the docs](https://docs.anchore.com).\n\n1. Edit the file\n2. Run it:\n\n```sh\ndocker compose up -d\n```\n\n- one\n- two\n";
        let out = render(md, 80, &Ui::plain());
        assert_eq!(
            out,
            "ENABLE PROMETHEUS\n\nUncomment the prometheus block in the compose file. See the docs\n(https://docs.anchore.com).\n\n  1. Edit the file\n  2. Run it:\n\n    (sh)\n    docker compose up -d\n\n  • one\n  • two\n"
        );
    }

    #[test]
    fn wraps_long_paragraphs_at_the_width() {
        let md = "word ".repeat(30);
        let out = render(&md, 40, &Ui::plain());
        assert!(out.lines().all(|l| l.chars().count() <= 40), "{out}");
        assert_eq!(out.split_whitespace().count(), 30);
    }
}
