//! Discord: markdown escaping (backslashes, line-start markers, mass
//! mentions made inert), its markup (`[label](<url>)`, `**bold**`), where
//! markdown may be cut, Discord's hard limits, and the execute-webhook /
//! create-message body: the card's `text` as `content` and the card as one
//! embed (title, url, colour, author with avatar, description, inline
//! fields, footer, timestamp), with `allowed_mentions` parsing nothing.

use serde_json::{Map, Value as Json, json};

use super::Dialect;
use crate::render::Platform;
use crate::render::card::{Card, color_number};
use crate::render::escape::{
    CodeRules, ZWSP, code_block_with, code_text_with, dropped, mass_mention, sanitize_url_with,
    starts_url, without,
};
use crate::render::limits::{TRUNCATED, code_floor, fit, fit_line, last_unescaped, units};

/// `content` of a message.
pub const CONTENT_MAX: usize = 2_000;
/// Embed title.
pub const TITLE_MAX: usize = 256;
/// Embed description.
pub const DESCRIPTION_MAX: usize = 4_096;
/// Fields of one embed.
pub const FIELDS_MAX: usize = 25;
/// Field name.
pub const FIELD_NAME_MAX: usize = 256;
/// Field value.
pub const FIELD_VALUE_MAX: usize = 1_024;
/// Footer text.
pub const FOOTER_MAX: usize = 2_048;
/// Author name.
pub const NAME_MAX: usize = 256;
/// Title, description, field names and values, footer and author name of
/// all the embeds of a message, together.
pub const EMBED_TOTAL_MAX: usize = 6_000;
/// Embeds of one message.
pub const EMBEDS_MAX: usize = 10;

const MENTION_WORDS: &[&str] = &["everyone", "here"];

const CODE: CodeRules = CodeRules {
    entities: false,
    break_angle: true,
    mention_words: MENTION_WORDS,
};

pub(crate) struct Discord;

/// Discord markdown: backslash-escapes `\ * _ ~ ` | > < [ ]`, heading / list
/// markers at line start (`#`, `-`, `1.`), makes `@everyone` / `@here` inert
/// with a zero-width space, and leaves bare `http(s)://` URLs untouched (an
/// escape inside a URL would become part of the link).
pub(crate) fn escape(s: &str) -> String {
    let s = &*without(s, dropped);
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    let mut line_start = true;
    let mut in_url = false;
    let mut prev: Option<char> = None;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c == '\t' {
            out.push(' ');
            prev = Some(' ');
            in_url = false;
            continue;
        }
        if in_url && (c.is_whitespace() || c == '<') {
            in_url = false;
        }
        if !in_url && starts_url(&s[i..]) && !prev.is_some_and(|p| p.is_alphanumeric()) {
            in_url = true;
        }
        if c == '\n' {
            out.push('\n');
            line_start = true;
            in_url = false;
            prev = Some(c);
            continue;
        }
        if line_start {
            if c == ' ' {
                out.push(c);
                prev = Some(c);
                continue;
            }
            line_start = false;
            match c {
                '#' | '-' | '+' => {
                    out.push('\\');
                    out.push(c);
                    prev = Some(c);
                    continue;
                }
                '0'..='9' => {
                    // "1. item" is an ordered list: escape the dot.
                    out.push(c);
                    while let Some(&(_, d)) = iter.peek() {
                        if d.is_ascii_digit() {
                            out.push(d);
                            iter.next();
                        } else {
                            break;
                        }
                    }
                    // Only `1. ` (a space after the dot) starts a list:
                    // `0.0.1` is left as it is.
                    if let Some(&(j, '.')) = iter.peek()
                        && s[j + 1..].chars().next().is_none_or(char::is_whitespace)
                    {
                        out.push_str("\\.");
                        iter.next();
                        prev = Some('.');
                    } else {
                        prev = Some('0');
                    }
                    continue;
                }
                _ => {}
            }
        }
        match c {
            '@' => {
                out.push('@');
                if mass_mention(MENTION_WORDS, &s[i + 1..]) {
                    out.push(ZWSP);
                }
            }
            '<' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '*' | '_' | '~' | '`' | '|' | '>' if !in_url => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        prev = Some(c);
    }
    out
}

impl Dialect for Discord {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn escape(&self, raw: &str) -> String {
        escape(raw)
    }

    fn code_text(&self, raw: &str) -> String {
        code_text_with(raw, &CODE)
    }

    fn sanitize_url(&self, raw: &str) -> Option<String> {
        sanitize_url_with(raw, false, false)
    }

    fn link(&self, url: &str, label: &str) -> String {
        let Some(url) = self.sanitize_url(url) else {
            return label.to_string();
        };
        let label = label.trim();
        if label.is_empty() {
            return format!("<{url}>");
        }
        if label.contains('\n') {
            return format!("[{}](<{url}>)", label.replace('\n', " "));
        }
        format!("[{label}](<{url}>)")
    }

    fn bold(&self, inner: &str) -> String {
        wrap("**", inner)
    }

    fn italic(&self, inner: &str) -> String {
        wrap("_", inner)
    }

    fn strike(&self, inner: &str) -> String {
        wrap("~~", inner)
    }

    fn bullet(&self, ordered: Option<u64>) -> String {
        match ordered {
            Some(n) => format!("{n}. "),
            None => "- ".to_string(),
        }
    }

    fn code_block(&self, raw: &str) -> String {
        let code = code_block_with(raw.trim_matches('\n'), &CODE);
        if code.trim().is_empty() {
            return String::new();
        }
        format!("```\n{code}\n```")
    }

    fn unmarkup(&self, markup: &str) -> String {
        unmarkup(markup, true)
    }

    fn cut_floor(&self, s: &str, cut: usize) -> usize {
        code_floor(s, markup_floor(s, cut), true)
    }

    fn text_max(&self) -> usize {
        CONTENT_MAX
    }

    fn body(&self, card: &Card, _channel: Option<&str>) -> Json {
        let mut body = Map::new();
        let content = fit(Platform::Discord, card.text.clone(), CONTENT_MAX, TRUNCATED);
        if card.is_text_only() {
            let content = if content.trim().is_empty() {
                "(empty message)".to_string()
            } else {
                content
            };
            body.insert("content".into(), Json::from(content));
        } else {
            if !content.trim().is_empty() {
                body.insert("content".into(), Json::from(content));
            }
            body.insert("embeds".into(), json!([embed(card)]));
        }
        body.insert("allowed_mentions".into(), json!({"parse": []}));
        Json::Object(body)
    }
}

fn wrap(mark: &str, inner: &str) -> String {
    let inner = inner.trim();
    if inner.is_empty() {
        return String::new();
    }
    format!("{mark}{inner}{mark}")
}

/// Link markup out, the rest kept (titles and field names show markdown
/// but no links).
fn without_links(s: &str) -> String {
    if !s.contains("](<") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(mid) = rest.find("](<") {
        let Some(open) = last_unescaped(&rest[..mid], b'[') else {
            out.push_str(&rest[..mid + 3]);
            rest = &rest[mid + 3..];
            continue;
        };
        let Some(close) = rest[mid..].find(">)").map(|i| mid + i) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..mid]);
        rest = &rest[close + 2..];
    }
    out.push_str(rest);
    out
}

/// The card as one embed, within every embed limit.
fn embed(card: &Card) -> Json {
    let mut title = fit_line(Platform::Discord, without_links(&card.title), TITLE_MAX);
    let mut description = fit(
        Platform::Discord,
        card.body.clone(),
        DESCRIPTION_MAX,
        TRUNCATED,
    );
    let author = fit_line(Platform::Plain, unmarkup(&card.author.name, true), NAME_MAX);
    let footer = fit_line(Platform::Plain, unmarkup(&card.footer, true), FOOTER_MAX);
    let mut fields: Vec<(String, String, bool)> = card
        .fields
        .iter()
        .map(|f| {
            let name = fit_line(Platform::Discord, without_links(&f.name), FIELD_NAME_MAX);
            // A field needs a name: an invisible one when the template gave none.
            let name = if name.trim().is_empty() {
                ZWSP.to_string()
            } else {
                name
            };
            let value = fit(Platform::Discord, f.value.clone(), FIELD_VALUE_MAX, "…");
            (name, value, f.inline)
        })
        .collect();
    let mut hidden = 0;
    if fields.len() > FIELDS_MAX {
        hidden = fields.len() - (FIELDS_MAX - 1);
        fields.truncate(FIELDS_MAX - 1);
    }
    let total = |title: &str, description: &str, fields: &[(String, String, bool)], more: usize| {
        units(title)
            + units(description)
            + units(&author)
            + units(&footer)
            + fields
                .iter()
                .map(|(n, v, _)| units(n) + units(v))
                .sum::<usize>()
            + if more > 0 { 40 } else { 0 }
    };
    // Over the total: the description gives way first (down to a few
    // lines), then fields from the end, then the title.
    loop {
        let over = total(&title, &description, &fields, hidden).saturating_sub(EMBED_TOTAL_MAX);
        if over == 0 {
            break;
        }
        let d = units(&description);
        if d > 300 {
            let keep = d.saturating_sub(over).max(300);
            description = fit(Platform::Discord, description, keep, TRUNCATED);
        } else if fields.pop().is_some() {
            hidden += 1;
        } else if units(&title) > 64 {
            title = fit_line(Platform::Discord, title, 64);
        } else {
            description = fit(Platform::Discord, description, 0, "…");
            break;
        }
    }
    let mut e = Map::new();
    if !title.is_empty() {
        e.insert("title".into(), Json::from(title));
    }
    if !card.url.is_empty() {
        e.insert("url".into(), Json::from(card.url.as_str()));
    }
    if let Some(c) = color_number(&card.color) {
        e.insert("color".into(), Json::from(c));
    }
    if !author.is_empty() {
        let mut a = Map::new();
        a.insert("name".into(), Json::from(author));
        if !card.author.url.is_empty() {
            a.insert("url".into(), Json::from(card.author.url.as_str()));
        }
        if !card.author.icon.is_empty() {
            a.insert("icon_url".into(), Json::from(card.author.icon.as_str()));
        }
        e.insert("author".into(), Json::Object(a));
    }
    if !description.trim().is_empty() {
        e.insert("description".into(), Json::from(description));
    }
    let mut list: Vec<Json> = fields
        .into_iter()
        .map(|(name, value, inline)| json!({"name": name, "value": value, "inline": inline}))
        .collect();
    if hidden > 0 {
        list.push(json!({"name": "…", "value": format!("and {hidden} more"), "inline": false}));
    }
    if !list.is_empty() {
        e.insert("fields".into(), Json::Array(list));
    }
    if !footer.is_empty() {
        e.insert("footer".into(), json!({"text": footer}));
    }
    if !card.timestamp.is_empty() {
        e.insert("timestamp".into(), Json::from(card.timestamp.as_str()));
    }
    Json::Object(e)
}

/// Moves `cut` back off a dangling escape backslash or out of a masked link.
fn markup_floor(s: &str, mut cut: usize) -> usize {
    // Never leave a dangling escape backslash.
    let trailing = s[..cut].bytes().rev().take_while(|b| *b == b'\\').count();
    if trailing % 2 == 1 {
        cut -= 1;
    }
    // A masked link `[text](<url>)` cut in half shows its markup.
    let head = &s[..cut];
    if let Some(open) = last_unescaped(head, b'[')
        && !head[open..].contains(')')
        && open > 0
    {
        cut = open;
    }
    cut
}

/// Discord markdown as plain text (author names and footers show no
/// markdown): masked links as their labels, escapes undone, markers out
/// (bare URLs kept whole).
pub(crate) fn unmarkup(s: &str, strip_markers: bool) -> String {
    let s = without_links(s);
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    let mut in_url = false;
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() {
            in_url = false;
        } else if !in_url && starts_url(&s[i..]) {
            in_url = true;
        }
        match c {
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                    // `<@1>` shown as text stays text, there too.
                    if next == '<' {
                        out.push(ZWSP);
                    }
                }
            }
            '*' | '_' | '~' | '`' | '|' if strip_markers && !in_url => {}
            c => out.push(c),
        }
    }
    out
}
