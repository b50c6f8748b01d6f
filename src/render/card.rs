//! The card: what a template renders, part by part (`text`, `title` +
//! `url`, `color`, `author`, `body`, `fields`, `footer` + `timestamp`), in
//! the platform's markup; its stored form (a JSON string, what the lane
//! worker hands its sink, and what rows of older versions keep, with their
//! plain-text rows read as text-only cards); and
//! the checks every part gets before any platform sees it (URLs http(s)
//! only, colours from a fixed vocabulary, times normalised to UTC).

use serde::{Deserialize, Serialize};

use super::escape::one_line;

/// One rendered message. Text parts hold the platform's markup, already
/// escaped; `url`, `author.url`, `author.icon` are checked absolute
/// http(s) URLs; `color` is `#rrggbb`; `timestamp` is RFC 3339 in UTC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// The one line that stands alone (notifications, search, screen
    /// readers): who did what to which item.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub color: String,
    #[serde(default, skip_serializing_if = "Author::is_empty")]
    pub author: Author,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub footer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub timestamp: String,
}

/// Who acted: name (markup), profile link, avatar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon: String,
}

impl Author {
    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.url.is_empty() && self.icon.is_empty()
    }
}

/// One short fact: `Labels`, `Branch`, `Reviewers`…
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    /// Side by side with its neighbours where the platform can (Discord
    /// inline fields). Default true.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub inline: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// The stored form starts with this, so a plain-text row (written before
/// messages were cards) is never mistaken for one.
const STORED_TAG: &str = "{\"card\":1,";

impl Card {
    /// A card that is only text (a user template that writes no parts, a
    /// plain-text row stored by an older version).
    pub fn text_only(text: impl Into<String>) -> Card {
        Card {
            text: text.into(),
            ..Card::default()
        }
    }

    /// True when nothing but `text` (and perhaps colour or time) is set:
    /// such a card is drawn as its text alone, the way messages were before
    /// they were cards.
    pub fn is_text_only(&self) -> bool {
        self.title.is_empty()
            && self.body.is_empty()
            && self.fields.is_empty()
            && self.author.name.is_empty()
            && self.footer.is_empty()
    }

    /// True when there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
            && self.title.trim().is_empty()
            && self.body.trim().is_empty()
            && self.fields.is_empty()
    }

    /// The stored form (what a sink sends, and what rows of older versions
    /// keep in `NewMessage.message`): the card's JSON with `"card":1` first.
    pub fn to_stored(&self) -> String {
        // A card of plain strings always serialises.
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string());
        let rest = json.strip_prefix('{').unwrap_or("}");
        if rest == "}" {
            return "{\"card\":1}".to_string();
        }
        let mut out = String::with_capacity(json.len() + STORED_TAG.len());
        out.push_str(STORED_TAG);
        out.push_str(rest);
        out
    }

    /// Reads a stored message: a card, or a plain-text row of an older
    /// version (a text-only card).
    pub fn from_stored(stored: &str) -> Card {
        if (stored.starts_with(STORED_TAG) || stored == "{\"card\":1}")
            && let Ok(card) = serde_json::from_str::<Card>(stored)
        {
            return card;
        }
        Card::text_only(stored)
    }

    /// The parts as a person reads them in a terminal: one labelled line
    /// per part, markup left as the platform gets it (`hookbridge render`).
    pub fn preview(&self) -> String {
        let mut out = String::new();
        let mut line = |label: &str, value: &str| {
            if value.is_empty() {
                return;
            }
            let mut lines = value.lines();
            out.push_str(&format!("  {label:<8} {}\n", lines.next().unwrap_or("")));
            for l in lines {
                out.push_str(&format!("  {:<8} {l}\n", ""));
            }
        };
        line("text", &self.text);
        if !self.color.is_empty() {
            let name = state_of(&self.color)
                .map(|s| format!("{} ({s})", self.color))
                .unwrap_or_else(|| self.color.clone());
            line("color", &name);
        }
        let mut author = self.author.name.clone();
        for extra in [&self.author.url, &self.author.icon] {
            if !extra.is_empty() {
                author.push_str(&format!("  {extra}"));
            }
        }
        line("author", &author);
        line("title", &self.title);
        line("url", &self.url);
        line("body", &self.body);
        for f in &self.fields {
            line("field", &format!("{}: {}", f.name, f.value));
        }
        line("footer", &self.footer);
        line("time", &self.timestamp);
        out
    }
}

/// The colour of each state name a template may write.
pub const STATES: [(&str, &str); 8] = [
    ("open", "#1f883d"),
    ("success", "#1f883d"),
    ("merged", "#8250df"),
    ("closed", "#cf222e"),
    ("failure", "#cf222e"),
    ("draft", "#6e7781"),
    ("neutral", "#6e7781"),
    ("pending", "#bf8700"),
];

/// `open`, `merged`… or `#rrggbb` to `#rrggbb` (lower case); `None` for
/// anything else.
pub fn parse_color(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some((_, hex)) = STATES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some((*hex).to_string());
    }
    let hex = s.strip_prefix('#')?;
    (hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("#{}", hex.to_ascii_lowercase()))
}

/// The first state name whose colour is `hex` (for previews).
fn state_of(hex: &str) -> Option<&'static str> {
    STATES.iter().find(|(_, h)| *h == hex).map(|(n, _)| *n)
}

/// The colour as a number (Discord's `color`).
pub fn color_number(hex: &str) -> Option<u32> {
    u32::from_str_radix(hex.strip_prefix('#')?, 16)
        .ok()
        .filter(|n| *n <= 0xFF_FFFF)
}

/// Longest URL a part may hold (Slack refuses image URLs over 3,000).
const MAX_URL: usize = 2_000;

/// `s` as an absolute http(s) URL (normalised: spaces and the like
/// percent-encoded), or `None`.
pub fn parse_url(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_URL || !super::escape::starts_url(s) {
        return None;
    }
    // Most URLs are plain `https://host/path` of characters the URL
    // parser keeps as they are: nothing to normalise, no parse needed.
    if let Some(after) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        && let Some(slash) = after.find('/')
        && slash > 0
        && after[..slash]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && after[slash..]
            .bytes()
            .all(|b| super::escape::kept_in_url(b) && !matches!(b, b'%' | b'\'' | b'\\'))
        && !after.contains("/.")
    {
        return Some(s.to_string());
    }
    let url = url::Url::parse(s).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    let out = String::from(url);
    (out.len() <= MAX_URL).then_some(out)
}

/// A time as payloads write it, in UTC as RFC 3339 (`2026-01-02T03:04:05Z`):
/// RFC 3339 with `Z` or an offset, `YYYY-MM-DD HH:MM:SS UTC` (GitLab), a
/// space for the `T`, or Unix seconds. `None` for anything else.
pub fn parse_timestamp(s: &str) -> Option<String> {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s.parse().ok()?;
        return Some(format_utc(secs));
    }
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let rest = rest.trim();
    let offset_secs = match rest {
        "" | "Z" | "z" | "UTC" | "+00:00" | "+0000" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let oh: i64 = digits[..2].parse().ok()?;
            let om: i64 = digits[2..].parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec.min(59) - offset_secs;
    Some(format_utc(secs))
}

/// Unix seconds of an RFC 3339 UTC time this module wrote.
pub fn unix_seconds(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() != 20 || b[19] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| ts.get(r).and_then(|p| p.parse::<i64>().ok());
    Some(
        days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?) * 86_400
            + n(11..13)? * 3600
            + n(14..16)? * 60
            + n(17..19)?,
    )
}

/// `2026-01-02 03:04 UTC`, for text fallbacks.
pub fn human_utc(ts: &str) -> String {
    match (ts.get(0..10), ts.get(11..16)) {
        (Some(d), Some(t)) if ts.ends_with('Z') => format!("{d} {t} UTC"),
        _ => ts.to_string(),
    }
}

fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `s` without a `·` or `|` left dangling at either end by an empty value
/// (`· GitHub` when the repo is unknown).
fn trim_separators(s: &str) -> &str {
    s.trim_matches(|c: char| c == '·' || c == '|' || c.is_whitespace())
}

/// The raw parts a template wrote, before they are checked.
#[derive(Debug, Default)]
pub(crate) struct RawParts {
    pub title: Option<String>,
    pub url: Option<String>,
    pub color: Option<String>,
    pub author: Option<String>,
    pub author_url: Option<String>,
    pub author_icon: Option<String>,
    pub body: Option<String>,
    pub footer: Option<String>,
    pub timestamp: Option<String>,
    pub fields: Vec<Field>,
    /// Values a part could not take (`color "blue"`), for `check`.
    pub problems: Vec<String>,
}

/// The part names `{{#part "…"}}` takes.
pub const PART_NAMES: [&str; 9] = [
    "title",
    "url",
    "color",
    "author",
    "author_url",
    "author_icon",
    "body",
    "footer",
    "timestamp",
];

/// Parts whose content is a value (rendered without markup escaping).
pub(crate) fn is_value_part(name: &str) -> bool {
    matches!(
        name,
        "url" | "color" | "author_url" | "author_icon" | "timestamp"
    )
}

impl RawParts {
    /// Stores one part's rendered content (the last one written wins).
    pub fn set(&mut self, name: &str, content: String) -> bool {
        let slot = match name {
            "title" => &mut self.title,
            "url" => &mut self.url,
            "color" => &mut self.color,
            "author" => &mut self.author,
            "author_url" => &mut self.author_url,
            "author_icon" => &mut self.author_icon,
            "body" => &mut self.body,
            "footer" => &mut self.footer,
            "timestamp" => &mut self.timestamp,
            _ => return false,
        };
        *slot = Some(content);
        true
    }

    /// The card of `text` (everything outside the part blocks, tidied) and
    /// these parts: one-line parts on one line, URLs, colour and time
    /// checked (a bad one is dropped and noted in `problems`).
    pub fn into_card(mut self, text: String, tidy: impl Fn(&str) -> String) -> (Card, Vec<String>) {
        let mut problems = std::mem::take(&mut self.problems);
        let mut url = |name: &str, v: Option<String>| -> String {
            let v = v.unwrap_or_default();
            let v = v.trim();
            if v.is_empty() {
                return String::new();
            }
            parse_url(v).unwrap_or_else(|| {
                problems.push(format!(
                    "part `{name}` is not an absolute http(s) URL ({}); dropped",
                    super::escape::truncate_chars(v, 60)
                ));
                String::new()
            })
        };
        let card_url = url("url", self.url.take());
        let author_url = url("author_url", self.author_url.take());
        let author_icon = url("author_icon", self.author_icon.take());
        let color = match self.color.as_deref().map(str::trim) {
            None | Some("") => String::new(),
            Some(c) => parse_color(c).unwrap_or_else(|| {
                problems.push(format!(
                    "part `color`: `{}` is not a state (open, success, merged, closed, failure, draft, neutral, pending) or #rrggbb; dropped",
                    super::escape::truncate_chars(c, 40)
                ));
                String::new()
            }),
        };
        let timestamp = match self.timestamp.as_deref().map(str::trim) {
            None | Some("") => String::new(),
            Some(t) => parse_timestamp(t).unwrap_or_else(|| {
                problems.push(format!(
                    "part `timestamp`: `{}` is not a time (RFC 3339 or Unix seconds); dropped",
                    super::escape::truncate_chars(t, 40)
                ));
                String::new()
            }),
        };
        let line =
            |v: Option<String>| trim_separators(&one_line(&v.unwrap_or_default())).to_string();
        let title = line(self.title.take());
        let has_parts = !title.is_empty()
            || self.body.as_deref().is_some_and(|b| !b.trim().is_empty())
            || !self.fields.is_empty()
            || self.author.as_deref().is_some_and(|a| !a.trim().is_empty())
            || self.footer.as_deref().is_some_and(|f| !f.trim().is_empty());
        // A card's text is its one line; a template of text alone keeps its
        // lines (the text is then the body too).
        let text = if has_parts {
            one_line(&text).into_owned()
        } else {
            text
        };
        let fields = self
            .fields
            .into_iter()
            .map(|f| Field {
                name: one_line(&f.name).into_owned(),
                value: tidy(&f.value),
                inline: f.inline,
            })
            .filter(|f| !f.value.is_empty())
            .collect();
        let card = Card {
            text,
            title,
            url: card_url,
            color,
            author: Author {
                name: line(self.author.take()),
                url: author_url,
                icon: author_icon,
            },
            body: tidy(self.body.as_deref().unwrap_or("")),
            fields,
            footer: line(self.footer.take()),
            timestamp,
        };
        (card, problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_and_old_rows_are_text() {
        let card = Card {
            text: "hi".into(),
            title: "t".into(),
            fields: vec![Field {
                name: "a".into(),
                value: "b".into(),
                inline: false,
            }],
            ..Card::default()
        };
        let s = card.to_stored();
        assert!(s.starts_with(STORED_TAG), "{s}");
        assert_eq!(Card::from_stored(&s), card);
        assert_eq!(
            Card::from_stored("*push* to x"),
            Card::text_only("*push* to x")
        );
        // Text that merely looks like JSON stays text.
        assert_eq!(
            Card::from_stored("{\"card\":2}"),
            Card::text_only("{\"card\":2}")
        );
        assert_eq!(
            Card::from_stored("{\"card\":1, broken"),
            Card::text_only("{\"card\":1, broken")
        );
    }

    #[test]
    fn colors_urls_and_times() {
        assert_eq!(parse_color("merged").as_deref(), Some("#8250df"));
        assert_eq!(parse_color(" #ABCDEF ").as_deref(), Some("#abcdef"));
        assert_eq!(parse_color("blue"), None);
        assert_eq!(parse_color("#abc"), None);
        assert_eq!(color_number("#8250df"), Some(0x8250df));
        assert_eq!(parse_url("javascript:alert(1)"), None);
        assert_eq!(parse_url("ftp://x.org/a"), None);
        assert_eq!(parse_url("/relative"), None);
        assert_eq!(
            parse_url("https://x.org/a b").as_deref(),
            Some("https://x.org/a%20b")
        );
        // What the fast path takes as it is, the URL parser would too.
        for u in [
            "https://github.com/acme/api/pull/1",
            "https://github.com/a/b/compare/1a...2b?x=1&y=2#L1",
            "http://x.org/a;b,c!d*e$f+g=h:i~j",
            "https://avatars.githubusercontent.com/u/6752317?v=3",
            "https://x.org/a/../b",
            "https://x.org/a/%2e%2e/b",
            "https://X.org/a",
            "https://x.org:443/a",
            "https://x.org/it's",
        ] {
            let want = url::Url::parse(u).map(String::from).ok();
            assert_eq!(parse_url(u), want, "{u}");
        }
        for (s, want) in [
            ("2019-05-15T15:20:33Z", "2019-05-15T15:20:33Z"),
            ("2015-05-05T19:40:15-04:00", "2015-05-05T23:40:15Z"),
            ("2017-03-13T13:52:11+05:30", "2017-03-13T08:22:11Z"),
            ("2013-12-03 17:23:34 UTC", "2013-12-03T17:23:34Z"),
            ("2021-03-11T13:05:29.123456Z", "2021-03-11T13:05:29Z"),
            ("1430869212", "2015-05-05T23:40:12Z"),
            ("2024-02-29 00:00:00", "2024-02-29T00:00:00Z"),
        ] {
            assert_eq!(parse_timestamp(s).as_deref(), Some(want), "{s}");
            assert!(unix_seconds(want).is_some());
        }
        assert_eq!(unix_seconds("2015-05-05T23:40:12Z"), Some(1_430_869_212));
        for bad in [
            "",
            "yesterday",
            "2019-13-01T00:00:00Z",
            "2019-05-15T15:20:33+5",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
