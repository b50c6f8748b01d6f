//! Slack: mrkdwn escaping (`&`, `<`, `>` as entities, mass mentions made
//! inert), its markup (`<url|label>`, `*bold*`, `_italic_`), where mrkdwn
//! may be cut, Slack's hard limits, and the `chat.postMessage` / incoming
//! webhook body: the card's `text` on top (notifications, search) and the
//! card as blocks inside one attachment carrying its colour bar.

use serde_json::{Map, Value as Json, json};

use super::Dialect;
use crate::render::Platform;
use crate::render::card::{Card, human_utc, unix_seconds};
use crate::render::escape::{
    CodeRules, ZWSP, code_block_with, code_text_with, dropped, mass_mention, sanitize_url_with,
    without,
};
use crate::render::limits::{TRUNCATED, code_floor, fit, fit_line, safe_cut, units};

/// `text` of a message.
pub const TEXT_MAX: usize = 40_000;
/// Text of one section block.
pub const SECTION_MAX: usize = 3_000;
/// Blocks in one message (or attachment).
pub const BLOCKS_MAX: usize = 50;
/// Text of a header block.
pub const HEADER_MAX: usize = 150;
/// Text of one section field.
pub const FIELD_MAX: usize = 2_000;
/// Fields in one section.
pub const FIELDS_MAX: usize = 10;
/// Elements in one context block.
pub const CONTEXT_ELEMENTS_MAX: usize = 10;
/// A card's body: a chat card, not a document (four sections at most).
const BODY_MAX: usize = 12_000;
/// Fields of one card (four sections of ten).
const CARD_FIELDS_MAX: usize = 40;

const MENTION_WORDS: &[&str] = &["everyone", "here", "channel"];

const CODE: CodeRules = CodeRules {
    entities: true,
    break_angle: false,
    mention_words: MENTION_WORDS,
};

pub(crate) struct Slack;

/// Slack mrkdwn: `&`, `<`, `>` become entities (so `<!channel>`, `<@U1>`,
/// `<url|text>` in payload text are shown, not obeyed), and `@channel`,
/// `@here`, `@everyone` get a zero-width space after the `@`.
pub(crate) fn escape(s: &str) -> String {
    let s = &*without(s, dropped);
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for (i, c) in s.char_indices() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' => out.push(' '),
            '@' => {
                out.push('@');
                if mass_mention(MENTION_WORDS, &s[i + 1..]) {
                    out.push(ZWSP);
                }
            }
            c => out.push(c),
        }
    }
    out
}

impl Dialect for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn escape(&self, raw: &str) -> String {
        escape(raw)
    }

    fn code_text(&self, raw: &str) -> String {
        code_text_with(raw, &CODE)
    }

    fn sanitize_url(&self, raw: &str) -> Option<String> {
        sanitize_url_with(raw, false, true)
    }

    fn link(&self, url: &str, label: &str) -> String {
        let Some(url) = self.sanitize_url(url) else {
            return label.to_string();
        };
        let label = label.trim();
        if label.is_empty() {
            return format!("<{url}>");
        }
        // `|` in the label is legal but ambiguous; show a look-alike.
        if label.contains(['|', '\n']) {
            let label = label.replace('|', "\u{2223}").replace('\n', " ");
            return format!("<{url}|{label}>");
        }
        format!("<{url}|{label}>")
    }

    fn bold(&self, inner: &str) -> String {
        wrap("*", inner)
    }

    fn italic(&self, inner: &str) -> String {
        wrap("_", inner)
    }

    fn strike(&self, inner: &str) -> String {
        wrap("~", inner)
    }

    fn code_block(&self, raw: &str) -> String {
        let code = code_block_with(raw.trim_matches('\n'), &CODE);
        if code.trim().is_empty() {
            return String::new();
        }
        format!("```\n{code}\n```")
    }

    fn unmarkup(&self, markup: &str) -> String {
        unmarkup(markup)
    }

    fn cut_floor(&self, s: &str, cut: usize) -> usize {
        code_floor(s, markup_floor(s, cut), false)
    }

    fn text_max(&self) -> usize {
        TEXT_MAX
    }

    fn body(&self, card: &Card, channel: Option<&str>) -> Json {
        let mut body = Map::new();
        if let Some(channel) = channel {
            body.insert("channel".into(), Json::from(channel));
        }
        if card.is_text_only() {
            let text = fit(Platform::Slack, card.text.clone(), TEXT_MAX, TRUNCATED);
            let text = if text.trim().is_empty() {
                "(empty message)".to_string()
            } else {
                text
            };
            let blocks: Vec<Json> = sections(&text).into_iter().map(section).collect();
            body.insert("text".into(), Json::from(text));
            body.insert("blocks".into(), Json::Array(blocks));
        } else {
            let text = match card.text.trim() {
                "" => fallback_line(card),
                t => t.to_string(),
            };
            let text = fit(Platform::Slack, text, TEXT_MAX, TRUNCATED);
            let mut attachment = Map::new();
            if !card.color.is_empty() {
                attachment.insert("color".into(), Json::from(card.color.as_str()));
            }
            attachment.insert("blocks".into(), Json::Array(blocks(card)));
            body.insert("text".into(), Json::from(text));
            body.insert("attachments".into(), json!([attachment]));
        }
        body.insert("unfurl_links".into(), Json::Bool(false));
        body.insert("unfurl_media".into(), Json::Bool(false));
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

/// A section block of mrkdwn (`verbatim`: Slack adds no links of its own).
fn section(text: &str) -> Json {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": true}})
}

fn mrkdwn(text: &str) -> Json {
    json!({"type": "mrkdwn", "text": text, "verbatim": true})
}

/// The card's line for places that need one: title, else the text, else
/// the body's first line.
fn fallback_line(card: &Card) -> String {
    [&card.title, &card.text, &card.body]
        .into_iter()
        .map(|s| s.lines().find(|l| !l.trim().is_empty()).unwrap_or(""))
        .find(|s| !s.is_empty())
        .unwrap_or("message")
        .to_string()
}

/// The card as blocks: author (avatar and name), title, body sections,
/// fields, footer with the time; at most [`BLOCKS_MAX`].
fn blocks(card: &Card) -> Vec<Json> {
    let mut head = Vec::new();
    let mut tail = Vec::new();
    if !card.author.name.is_empty() {
        let mut elements = Vec::new();
        if !card.author.icon.is_empty() {
            // Entities stay: Slack reads no mention in them.
            let alt = fit_line(Platform::Slack, unlink(&card.author.name), 100);
            elements.push(json!({"type": "image", "image_url": card.author.icon, "alt_text": alt}));
        }
        let name = fit_line(Platform::Slack, card.author.name.clone(), 250);
        let name = Slack.link(&card.author.url, &name);
        elements.push(mrkdwn(&name));
        head.push(json!({"type": "context", "elements": elements}));
    }
    if !card.title.is_empty() {
        let title = fit_line(Platform::Slack, card.title.clone(), 1_000);
        let line = Slack.bold(&Slack.link(&card.url, &title));
        head.push(section(&line));
    } else if !card.url.is_empty() {
        head.push(section(&Slack.link(&card.url, "")));
    }
    let fields: Vec<&crate::render::card::Field> = card.fields.iter().collect();
    let shown = fields.len().min(CARD_FIELDS_MAX);
    let more = (fields.len() > shown).then(|| format!("\n… and {} more", fields.len() - shown));
    let mut field_texts: Vec<String> = fields[..shown]
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = fit_line(Platform::Slack, f.name.clone(), 200);
            let head = if name.is_empty() {
                String::new()
            } else {
                format!("{}\n", Slack.bold(&name))
            };
            let suffix = if i + 1 == shown {
                more.as_deref().map_or(0, units)
            } else {
                0
            };
            let room = FIELD_MAX - units(&head) - suffix;
            format!("{head}{}", fit(Platform::Slack, f.value.clone(), room, "…"))
        })
        .collect();
    if let (Some(more), Some(last)) = (&more, field_texts.last_mut()) {
        last.push_str(more);
    }
    for chunk in field_texts.chunks(FIELDS_MAX) {
        let chunk: Vec<Json> = chunk.iter().map(|t| mrkdwn(t)).collect();
        tail.push(json!({"type": "section", "fields": chunk}));
    }
    let mut footer = Vec::new();
    if !card.footer.is_empty() {
        footer.push(fit_line(Platform::Slack, card.footer.clone(), 1_000));
    }
    if let Some(secs) = unix_seconds(&card.timestamp) {
        footer.push(format!(
            "<!date^{secs}^{{date_short_pretty}} at {{time}}|{}>",
            human_utc(&card.timestamp)
        ));
    }
    if !footer.is_empty() {
        tail.push(json!({"type": "context", "elements": [mrkdwn(&footer.join(" · "))]}));
    }
    let room = BLOCKS_MAX.saturating_sub(head.len() + tail.len()).max(1);
    let body = fit(Platform::Slack, card.body.clone(), BODY_MAX, TRUNCATED);
    let mut out = head;
    out.extend(sections_max(&body, room).into_iter().map(section));
    out.extend(tail);
    if out.is_empty() {
        out.push(section(&fallback_line(card)));
    }
    out
}

/// Moves `cut` back out of an entity (`&amp;`) or a `<…>` link it would split.
fn markup_floor(s: &str, mut cut: usize) -> usize {
    let head = &s[..cut];
    // An entity (`&amp;`) is at most 5 bytes long.
    if let Some(amp) = head.rfind('&')
        && cut - amp < 6
        && !head[amp..].contains(';')
    {
        cut = amp;
    }
    // A `<…>` link or mention: payload `<` is always escaped, so a raw `<`
    // after the last `>` is an open link of ours.
    let head = &s[..cut];
    if let Some(lt) = head.rfind('<')
        && !head[lt..].contains('>')
        && lt > 0
    {
        cut = lt;
    }
    cut
}

/// mrkdwn as plain text: links as their labels, entities decoded.
pub(crate) fn unmarkup(s: &str) -> String {
    unlink(s)
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// mrkdwn with links as their labels.
fn unlink(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>').map(|i| open + i) else {
            rest = &rest[open..];
            break;
        };
        let inner = &rest[open + 1..close];
        match inner.split_once('|') {
            Some((_, label)) => out.push_str(label),
            None => out.push_str(inner),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Splits Slack mrkdwn into section texts of at most
/// [`SECTION_MAX`] units, at most [`BLOCKS_MAX`] of them.
pub fn sections(text: &str) -> Vec<&str> {
    sections_max(text, BLOCKS_MAX)
}

/// As [`sections`], at most `max_blocks` of them.
pub fn sections_max(text: &str, max_blocks: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text.trim_matches('\n');
    while !rest.is_empty() && out.len() < max_blocks {
        let cut = safe_cut(Platform::Slack, rest, SECTION_MAX, true);
        // A cut at 0 would loop forever: take what fits instead.
        let cut = if cut == 0 {
            let hard = safe_cut(Platform::Plain, rest, SECTION_MAX, false);
            if hard == 0 {
                rest.chars()
                    .next()
                    .map(char::len_utf8)
                    .unwrap_or(rest.len())
            } else {
                hard
            }
        } else {
            cut
        };
        let chunk = rest[..cut].trim_end();
        if !chunk.trim().is_empty() {
            out.push(chunk);
        }
        rest = rest[cut..].trim_start_matches('\n');
    }
    out
}
