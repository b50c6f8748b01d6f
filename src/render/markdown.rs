//! Markdown from payloads (issue and pull request descriptions, comments,
//! reviews, release notes) converted to a platform's own markup with
//! `pulldown-cmark`: headings, bold, italics, strikethrough, lists, links,
//! quotes and code survive as the platform writes them; HTML comments,
//! other HTML tags and images are dropped; tables become one line per row;
//! checklists show ☐ / ☑. All text goes through the platform's escaping
//! (so mentions stay inert) and link targets through its URL check.
//!
//! An excerpt stops at `limit` visible characters, at the end of a block
//! or a sentence when one is close enough, else at a word, and says so
//! with a visible `…`. Markup opened before the cut is closed.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::limits::units;
use super::platform::Dialect;

/// Markdown read past this many bytes is never shown (the excerpt ends
/// long before): the source is cut here, at a line end, before parsing.
fn source_cap(limit: usize) -> usize {
    limit.saturating_mul(24).max(16 * 1024)
}

/// `src` (Markdown) as `d`'s markup, at most about `limit` visible
/// characters.
pub(crate) fn convert(d: &dyn Dialect, src: &str, limit: usize) -> String {
    let src = src.trim();
    if src.is_empty() || limit == 0 {
        return String::new();
    }
    let cap = source_cap(limit);
    let (src, src_cut) = if src.len() > cap {
        let mut end = cap;
        while !src.is_char_boundary(end) {
            end -= 1;
        }
        let end = src[..end]
            .rfind('\n')
            .filter(|i| *i > end / 2)
            .unwrap_or(end);
        (&src[..end], true)
    } else {
        (src, false)
    };
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_GFM;
    let mut w = Writer {
        d,
        stack: vec![Frame::new(Kind::Root)],
        visible: 0,
        limit,
        checkpoint: None,
        done: false,
        marked: false,
    };
    for event in Parser::new_ext(src, options) {
        w.event(event);
        if w.done {
            break;
        }
    }
    let cut = w.done || src_cut;
    let marked = w.marked;
    let mut out = w.finish();
    if cut && !marked {
        out.truncate(out.trim_end().len());
        if !out.is_empty() {
            out.push('\n');
        }
        out.push('…');
    }
    out
}

#[derive(Clone, Debug)]
enum Kind {
    Root,
    Paragraph,
    Heading,
    Quote,
    List {
        next: Option<u64>,
    },
    Item {
        marker: String,
    },
    CodeBlock,
    HtmlBlock,
    Table,
    Row {
        head: bool,
    },
    Cell,
    Emphasis,
    Strong,
    Strike,
    Link {
        dest: String,
    },
    /// Dropped with everything inside it.
    Drop,
}

#[derive(Clone, Debug)]
struct Frame {
    kind: Kind,
    buf: String,
    /// Cells of a table row; rows of a table.
    cells: Vec<String>,
}

impl Frame {
    fn new(kind: Kind) -> Frame {
        Frame {
            kind,
            buf: String::new(),
            cells: Vec::new(),
        }
    }
}

struct Writer<'d> {
    d: &'d dyn Dialect,
    stack: Vec<Frame>,
    visible: usize,
    limit: usize,
    /// The stack at the latest block or sentence end.
    checkpoint: Option<(Vec<Frame>, usize)>,
    done: bool,
    /// The `…` is already in place (inside the text that was cut).
    marked: bool,
}

/// True when `c` ends a sentence.
fn sentence_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。' | '！' | '？')
}

/// Byte index just after the last sentence end in `s` that is followed by
/// whitespace (or ends `s` when `at_end`).
fn last_sentence(s: &str, at_end: bool) -> Option<usize> {
    let mut best = None;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if sentence_end(c) {
            let end = i + c.len_utf8();
            match iter.peek() {
                Some((_, n)) if n.is_whitespace() => best = Some(end),
                None if at_end => best = Some(end),
                _ => {}
            }
        }
    }
    best
}

/// Byte index of `s` after at most `n` UTF-16 units.
fn prefix_units(s: &str, n: usize) -> usize {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += c.len_utf16();
        if used > n {
            return i;
        }
    }
    s.len()
}

impl Writer<'_> {
    fn top(&mut self) -> &mut Frame {
        // The root frame is never popped.
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    fn dropping(&self) -> bool {
        self.stack.iter().any(|f| matches!(f.kind, Kind::Drop))
    }

    fn in_code(&self) -> bool {
        matches!(
            self.stack.last().map(|f| &f.kind),
            Some(Kind::CodeBlock | Kind::HtmlBlock)
        )
    }

    fn save(&mut self) {
        self.checkpoint = Some((self.stack.clone(), self.visible));
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.text(&t),
            Event::Code(t) => {
                if self.dropping() {
                    return;
                }
                let code = self.d.code(&t);
                self.visible += units(&t);
                self.top().buf.push_str(&code);
                if self.visible > self.limit {
                    self.stop(true);
                }
            }
            Event::Html(t) => {
                if let Some(Kind::HtmlBlock) = self.stack.last().map(|f| &f.kind) {
                    self.top().buf.push_str(&t);
                }
            }
            Event::InlineHtml(t) => {
                let tag = t.trim().to_ascii_lowercase();
                if (tag.starts_with("<br") || tag.starts_with("</br")) && !self.dropping() {
                    self.top().buf.push('\n');
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if !self.dropping() {
                    self.top().buf.push('\n');
                }
            }
            Event::Rule => {
                if !self.dropping() {
                    self.push_block("———".to_string());
                }
            }
            Event::TaskListMarker(done) => {
                let mark = if done { "☑ " } else { "☐ " };
                for f in self.stack.iter_mut().rev() {
                    if let Kind::Item { marker } = &mut f.kind {
                        *marker = mark.to_string();
                        break;
                    }
                }
            }
            Event::FootnoteReference(r) => {
                let t = self.d.escape(&format!("[{r}]"));
                self.top().buf.push_str(&t);
            }
            Event::InlineMath(t) | Event::DisplayMath(t) => self.text(&t),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        let kind = match tag {
            Tag::Paragraph => Kind::Paragraph,
            Tag::Heading { .. } => Kind::Heading,
            Tag::BlockQuote(_) => Kind::Quote,
            Tag::CodeBlock(_) => Kind::CodeBlock,
            Tag::HtmlBlock => Kind::HtmlBlock,
            Tag::List(first) => Kind::List { next: first },
            Tag::Item => {
                let marker = match self.stack.last_mut().map(|f| &mut f.kind) {
                    Some(Kind::List { next: Some(n) }) => {
                        let m = self.d.bullet(Some(*n));
                        *n += 1;
                        m
                    }
                    _ => self.d.bullet(None),
                };
                self.visible += 2;
                Kind::Item { marker }
            }
            Tag::Table(_) => Kind::Table,
            Tag::TableHead => Kind::Row { head: true },
            Tag::TableRow => Kind::Row { head: false },
            Tag::TableCell => Kind::Cell,
            Tag::Emphasis => Kind::Emphasis,
            Tag::Strong => Kind::Strong,
            Tag::Strikethrough => Kind::Strike,
            Tag::Link { dest_url, .. } => Kind::Link {
                dest: dest_url.to_string(),
            },
            Tag::Image { .. } | Tag::MetadataBlock(_) | Tag::FootnoteDefinition(_) => Kind::Drop,
            Tag::Superscript | Tag::Subscript => Kind::Emphasis,
            Tag::DefinitionList | Tag::DefinitionListTitle | Tag::DefinitionListDefinition => {
                Kind::Paragraph
            }
        };
        self.stack.push(Frame::new(kind));
    }

    fn end(&mut self, _tag: TagEnd) {
        if self.stack.len() <= 1 {
            return;
        }
        let block = self.close_top();
        if block && !self.dropping() && !self.in_code() {
            self.save();
        }
    }

    /// Pops the top frame and writes it into its parent; true when it was
    /// a block (a place where an excerpt may end).
    fn close_top(&mut self) -> bool {
        let Some(frame) = self.stack.pop() else {
            return false;
        };
        let d = self.d;
        let buf = frame.buf;
        match frame.kind {
            Kind::Root => {
                // Never popped; put it back.
                self.stack.push(Frame {
                    kind: Kind::Root,
                    buf,
                    cells: frame.cells,
                });
                false
            }
            Kind::Paragraph => {
                self.push_block(single_spaced(buf.trim()));
                true
            }
            Kind::Heading => {
                self.push_block(d.heading(buf.trim()));
                true
            }
            Kind::Quote => {
                let quoted: Vec<String> = buf
                    .lines()
                    .map(str::trim_end)
                    .filter(|l| !l.is_empty())
                    .map(|l| format!("> {l}"))
                    .collect();
                self.push_block(quoted.join("\n"));
                true
            }
            Kind::List { .. } => {
                self.push_block(buf.trim_end().to_string());
                true
            }
            Kind::Item { marker } => {
                let indent = " ".repeat(marker.chars().count().min(4));
                let mut lines = buf.trim().lines().filter(|l| !l.trim().is_empty());
                let mut item = format!("{marker}{}", lines.next().unwrap_or("").trim_start());
                for l in lines {
                    item.push('\n');
                    item.push_str(&indent);
                    item.push_str(l);
                }
                let top = self.top();
                if !top.buf.is_empty() && !top.buf.ends_with('\n') {
                    top.buf.push('\n');
                }
                top.buf.push_str(item.trim_end());
                true
            }
            Kind::CodeBlock => {
                self.push_block(d.code_block(&buf));
                true
            }
            Kind::HtmlBlock => {
                let text = strip_html(&buf);
                if !text.is_empty() {
                    let text = d.escape(&text);
                    self.push_block(text);
                }
                true
            }
            Kind::Table => {
                self.push_block(frame.cells.join("\n"));
                true
            }
            Kind::Row { head } => {
                let cells: Vec<String> = frame
                    .cells
                    .iter()
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .map(|c| if head { d.bold(&c) } else { c })
                    .collect();
                if !cells.is_empty() {
                    self.top().cells.push(cells.join(" · "));
                }
                false
            }
            Kind::Cell => {
                self.top().cells.push(buf.replace('\n', " "));
                false
            }
            Kind::Emphasis => {
                let s = d.italic(&buf);
                self.top().buf.push_str(&s);
                false
            }
            Kind::Strong => {
                let s = d.bold(&buf);
                self.top().buf.push_str(&s);
                false
            }
            Kind::Strike => {
                let s = d.strike(&buf);
                self.top().buf.push_str(&s);
                false
            }
            Kind::Link { dest } => {
                let label = buf.trim();
                let s = if d.unmarkup(label) == dest || label.is_empty() {
                    match d.sanitize_url(&dest) {
                        Some(_) => d.link(&dest, ""),
                        None => label.to_string(),
                    }
                } else {
                    d.link(&dest, label)
                };
                self.top().buf.push_str(&s);
                false
            }
            Kind::Drop => false,
        }
    }

    /// Appends a finished block to the top frame, a blank line after the
    /// previous one (a line break inside list items).
    fn push_block(&mut self, block: String) {
        if block.trim().is_empty() {
            return;
        }
        let top = self.top();
        let tight = matches!(top.kind, Kind::Item { .. } | Kind::List { .. });
        if !top.buf.is_empty() {
            let want = if tight { "\n" } else { "\n\n" };
            while !top.buf.ends_with(want) {
                if top.buf.ends_with('\n') && want == "\n" {
                    break;
                }
                top.buf.push('\n');
            }
        }
        top.buf.push_str(&block);
    }

    fn text(&mut self, t: &str) {
        if self.dropping() || self.done {
            return;
        }
        let in_code = self.in_code();
        let n = units(t);
        if self.visible + n <= self.limit {
            if in_code {
                self.top().buf.push_str(t);
                self.visible += n;
                return;
            }
            // A sentence end inside: a place to come back to.
            match last_sentence(t, false) {
                Some(end) if end < t.len() => {
                    self.emit(&t[..end]);
                    self.save();
                    self.emit(&t[end..]);
                }
                _ => self.emit(t),
            }
            return;
        }
        // This text goes past the limit: end the excerpt in it, or at the
        // last block or sentence end, or at a word.
        let room = self.limit.saturating_sub(self.visible);
        let head = &t[..prefix_units(t, room)];
        let enough = |v: usize| v * 3 >= self.limit;
        let sentence = if in_code {
            head.rfind('\n')
        } else {
            last_sentence(head, head.len() == t.len())
        };
        if let Some(end) = sentence.filter(|e| enough(self.visible + units(&head[..*e]))) {
            let part = &head[..end];
            self.emit_any(part, in_code);
            self.stop(false);
            return;
        }
        if let Some((stack, visible)) = self.checkpoint.take()
            && enough(visible)
        {
            self.stack = stack;
            self.visible = visible;
            self.stop(true);
            return;
        }
        let cut = head
            .rfind(char::is_whitespace)
            .filter(|i| *i > 0)
            .unwrap_or(head.len());
        let part = head[..cut].trim_end();
        self.emit_any(part, in_code);
        self.stop(false);
    }

    fn emit_any(&mut self, s: &str, in_code: bool) {
        if in_code {
            self.top().buf.push_str(s);
            self.visible += units(s);
        } else {
            self.emit(s);
        }
    }

    fn emit(&mut self, s: &str) {
        let escaped = self.d.escape(s);
        self.visible += units(s);
        self.top().buf.push_str(&escaped);
    }

    /// Ends the excerpt: marks where, and stops reading. `at_block`: the
    /// cut is at a block end (the marker goes on a line of its own).
    fn stop(&mut self, at_block: bool) {
        if !at_block {
            let top = self.top();
            top.buf.truncate(top.buf.trim_end().len());
            top.buf.push_str(" …");
            self.marked = true;
        }
        self.done = true;
    }

    /// Closes every open frame and returns the markup.
    fn finish(mut self) -> String {
        while self.stack.len() > 1 {
            self.close_top();
        }
        let out = std::mem::take(&mut self.top().buf);
        out.trim().to_string()
    }
}

/// `s` with runs of spaces (left where an image or a tag was dropped) made
/// one space.
fn single_spaced(s: &str) -> String {
    if !s.contains("  ") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.push(c);
    }
    out
}

/// HTML of a block with comments and tags taken out: the text between.
fn strip_html(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    loop {
        let next_comment = rest.find("<!--");
        let next_tag = rest.find('<');
        match (next_comment, next_tag) {
            (Some(c), Some(t)) if c <= t => {
                out.push_str(&rest[..c]);
                match rest[c + 4..].find("-->") {
                    Some(e) => rest = &rest[c + 4 + e + 3..],
                    None => break,
                }
            }
            (_, Some(t)) => {
                out.push_str(&rest[..t]);
                match rest[t..].find('>') {
                    Some(e) => rest = &rest[t + e + 1..],
                    None => break,
                }
            }
            (_, None) => {
                out.push_str(rest);
                break;
            }
        }
    }
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Platform;

    fn slack(s: &str, n: usize) -> String {
        convert(Platform::Slack.dialect(), s, n)
    }
    fn discord(s: &str, n: usize) -> String {
        convert(Platform::Discord.dialect(), s, n)
    }

    #[test]
    fn markup_survives_in_each_dialect() {
        let md = "# Title\n\nSome **bold**, _it_, ~~gone~~ and `code` with a [link](https://x.org/a_b).\n\n- one\n- two\n  - nested\n\n1. first\n2. second\n\n> quoted *text*\n\n```rust\nfn main() {}\n```";
        let s = slack(md, 2_000);
        assert_eq!(
            s,
            "*Title*\n\nSome *bold*, _it_, ~gone~ and `code` with a <https://x.org/a_b|link>.\n\n• one\n• two\n  • nested\n\n1. first\n2. second\n\n> quoted _text_\n\n```\nfn main() {}\n```"
        );
        let d = discord(md, 2_000);
        assert_eq!(
            d,
            "**Title**\n\nSome **bold**, _it_, ~~gone~~ and `code` with a [link](<https://x.org/a_b>).\n\n- one\n- two\n  - nested\n\n1. first\n2. second\n\n> quoted _text_\n\n```\nfn main() {}\n```"
        );
    }

    #[test]
    fn comments_images_and_html_are_dropped_tables_and_checklists_read() {
        let md = "<!-- PR template: describe your change -->\n\nFixes it ![screenshot](https://x.org/s.png) now.<!-- inline -->\n\n<details>\n<summary>Logs</summary>\n\n</details>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo";
        let s = slack(md, 2_000);
        assert!(
            !s.contains("PR template") && !s.contains("screenshot") && !s.contains("<!--"),
            "{s}"
        );
        assert!(!s.contains("details"), "{s}");
        assert!(s.contains("Logs"), "{s}");
        assert!(s.contains("*a* · *b*\n1 · 2"), "{s}");
        assert!(s.contains("☑ done\n☐ todo"), "{s}");
    }

    #[test]
    fn mentions_stay_inert_and_links_are_checked() {
        let md = "@everyone <@123> [x](javascript:alert(1)) [y](https://x.org/@here) <!channel>";
        let s = slack(md, 500);
        assert!(
            s.contains("@\u{200B}everyone") && s.contains("&lt;@123&gt;"),
            "{s}"
        );
        assert!(!s.contains("javascript"), "{s}");
        assert!(s.contains("https://x.org/%40here"), "{s}");
        let d = discord(md, 500);
        assert!(
            d.contains("@\u{200B}everyone") && d.contains("\\<@123\\>"),
            "{d}"
        );
    }

    #[test]
    fn excerpts_end_at_a_sentence_or_block_with_a_marker() {
        let md = "First sentence here. Second sentence is longer than the rest of it all.\n\nNext paragraph.";
        let s = slack(md, 40);
        assert_eq!(s, "First sentence here. …");
        let two =
            "Para one is short.\n\nPara two goes on and on and on and on and on without a stop";
        assert_eq!(slack(two, 40), "Para one is short.\n…");
        let words = "word ".repeat(100);
        let s = slack(&words, 30);
        assert!(s.ends_with("word …") && s.len() < 40, "{s}");
        // Markup open at the cut is closed.
        let s = discord("**bold text that runs on and on and on**", 15);
        assert!(s.starts_with("**bold") && s.ends_with("…**"), "{s}");
        let big = "x".repeat(200_000);
        let s = slack(&big, 600);
        assert!(units(&s) < 700, "{}", s.len());
    }
}
