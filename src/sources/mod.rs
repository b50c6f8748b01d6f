//! Sources: what each sender sends and how to trust it.
//!
//! [`receive`] takes the raw request of one delivery (headers, query, body
//! bytes) for a configured source, verifies it on the raw bytes in constant
//! time, and only then parses it into one normalised [`Event`]. One file per
//! sender family; `signature.rs` holds the cryptographic checks.

mod forge;
mod gitlab;
mod huggingface;
pub mod signature;

use poem::http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::{SourceConfig, SourceKind};
use crate::event::Event;

/// The raw request of one delivery.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub headers: &'a HeaderMap,
    /// The URL query string, without `?`.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

impl Delivery<'_> {
    /// A header as text; missing or non-UTF-8 is `None`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    }

    /// The first of several header names that is present.
    pub fn first_header(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.header(n))
    }

    /// A query parameter, URL-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let q = self.query?;
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Why a delivery was refused; each maps to one HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// 401: signature or token missing or wrong.
    Unauthorized(String),
    /// 415: a content type this source does not send.
    UnsupportedMediaType(String),
    /// 400: the body is not a payload this source sends.
    BadRequest(String),
    /// 413: the body's JSON has more values, or deeper nesting, than any
    /// payload a sender sends ([`MAX_JSON_VALUES`], [`MAX_JSON_DEPTH`]).
    TooComplex(String),
}

impl Rejection {
    /// Short label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Unauthorized(_) => "signature",
            Rejection::UnsupportedMediaType(_) => "content_type",
            Rejection::BadRequest(_) => "payload",
            Rejection::TooComplex(_) => "too_complex",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Rejection::Unauthorized(m)
            | Rejection::UnsupportedMediaType(m)
            | Rejection::BadRequest(m)
            | Rejection::TooComplex(m) => m,
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// The delivery id a request claims, before it is verified: for logging a
/// refusal only (cut to 100 characters; never trusted).
pub fn claimed_delivery_id(kind: SourceKind, headers: &HeaderMap) -> String {
    let names: &[&str] = match kind {
        SourceKind::Github => &["x-github-delivery"],
        SourceKind::Gitea => &["x-gitea-delivery"],
        SourceKind::Forgejo => &["x-forgejo-delivery", "x-gitea-delivery"],
        SourceKind::Gogs => &["x-gogs-delivery"],
        SourceKind::Dagshub => &["x-dagshub-delivery"],
        SourceKind::Gitlab => &["x-gitlab-event-uuid", "idempotency-key"],
        SourceKind::Huggingface => &[],
    };
    let d = Delivery {
        headers,
        query: None,
        body: &[],
    };
    d.first_header(names)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect()
}

/// Verifies, then parses, one delivery for `source`.
pub fn receive(source: &SourceConfig, delivery: &Delivery<'_>) -> Result<Event, Rejection> {
    verify(source, delivery)?;
    parse(source, delivery)
}

/// Checks the delivery's signature or token against the source's secrets,
/// on the raw bytes. A source with no secrets (`allow_unsigned`) accepts all.
pub fn verify(source: &SourceConfig, delivery: &Delivery<'_>) -> Result<(), Rejection> {
    if source.secrets.is_empty() {
        return Ok(());
    }
    match source.kind {
        SourceKind::Github
        | SourceKind::Gitea
        | SourceKind::Forgejo
        | SourceKind::Gogs
        | SourceKind::Dagshub => forge::verify(source, delivery),
        SourceKind::Gitlab => gitlab::verify(source, delivery),
        SourceKind::Huggingface => huggingface::verify(source, delivery),
    }
}

/// Parses a verified delivery into an [`Event`].
pub fn parse(source: &SourceConfig, delivery: &Delivery<'_>) -> Result<Event, Rejection> {
    parse_as(source.kind, &source.name, delivery)
}

/// The headers parsing a delivery of `kind` reads, besides its delivery id
/// and content type: the event names, never a secret. The outbox keeps
/// them beside the payload so that the lane worker can parse it again
/// ([`parse_stored`]).
pub fn parse_headers(kind: SourceKind) -> Vec<&'static str> {
    match kind {
        SourceKind::Github
        | SourceKind::Gitea
        | SourceKind::Forgejo
        | SourceKind::Gogs
        | SourceKind::Dagshub => forge::parse_headers(kind),
        SourceKind::Gitlab => vec!["x-gitlab-event"],
        SourceKind::Huggingface => Vec::new(),
    }
}

/// Parses a payload the outbox kept (its JSON, with the
/// [`parse_headers`] of its delivery) into the [`Event`] it was accepted
/// as. Not verified again: it was verified before it was stored.
pub fn parse_stored(
    kind: SourceKind,
    source: &str,
    delivery_id: &str,
    headers: &[(String, String)],
    payload_json: &[u8],
) -> Result<Event, Rejection> {
    let mut map = HeaderMap::with_capacity(headers.len() + 1);
    map.insert(
        poem::http::header::CONTENT_TYPE,
        poem::http::HeaderValue::from_static("application/json"),
    );
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (
            poem::http::HeaderName::from_bytes(name.as_bytes()),
            poem::http::HeaderValue::from_str(value),
        ) else {
            return Err(Rejection::BadRequest(format!(
                "stored header `{name}` is not a valid header"
            )));
        };
        map.insert(name, value);
    }
    let delivery = Delivery {
        headers: &map,
        query: None,
        body: payload_json,
    };
    let mut event = parse_as(kind, source, &delivery)?;
    event.delivery_id = delivery_id.to_string();
    Ok(event)
}

fn parse_as(kind: SourceKind, name: &str, delivery: &Delivery<'_>) -> Result<Event, Rejection> {
    let mut event = match kind {
        SourceKind::Github
        | SourceKind::Gitea
        | SourceKind::Forgejo
        | SourceKind::Gogs
        | SourceKind::Dagshub => forge::parse(kind, delivery)?,
        SourceKind::Gitlab => gitlab::parse(delivery)?,
        SourceKind::Huggingface => huggingface::parse(delivery)?,
    };
    event.source = name.to_string();
    event.source_kind = kind.as_str().to_string();
    if event.delivery_id.is_empty() {
        event.delivery_id = body_hash(delivery.body);
    }
    // Old Gogs/Gitea payloads carry the webhook secret: never keep it.
    let redacted = match &mut event.payload {
        Value::Object(map) => map.remove("secret").is_some(),
        _ => false,
    };
    event.body_is_payload = !redacted && reads_as_json(media_type(delivery).as_deref());
    Ok(event)
}

/// The delivery id of a sender that sends none: a hash of the body, so a
/// resend of the same bytes is recognised as a duplicate.
pub fn body_hash(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// The media type of the request, lowercased, without parameters.
fn media_type(delivery: &Delivery<'_>) -> Option<String> {
    delivery.header("content-type").map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    })
}

/// True for the media types whose body is read as the JSON payload itself
/// (not a form carrying it in `payload=`).
fn reads_as_json(media: Option<&str>) -> bool {
    match media {
        None | Some("application/json") | Some("") => true,
        Some(m) => m.ends_with("+json"),
    }
}

/// Decodes a JSON body, or a form body with the JSON in `payload=` when
/// `form_ok`. The body must be a JSON object.
fn decode_body(delivery: &Delivery<'_>, form_ok: bool) -> Result<Value, Rejection> {
    let media = media_type(delivery);
    let text: std::borrow::Cow<'_, str> = match media.as_deref() {
        m if reads_as_json(m) => utf8(delivery.body)?.into(),
        // Form decoding yields text already (invalid bytes become U+FFFD).
        Some("application/x-www-form-urlencoded") if form_ok => {
            match form_urlencoded::parse(delivery.body).find(|(k, _)| k == "payload") {
                Some((_, v)) => v,
                None => {
                    return Err(Rejection::BadRequest(
                        "form body has no `payload` field".into(),
                    ));
                }
            }
        }
        other => {
            return Err(Rejection::UnsupportedMediaType(format!(
                "content type `{}` is not sent by this source; configure the webhook to send application/json",
                other.unwrap_or_default()
            )));
        }
    };
    check_shape(&text)?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| Rejection::BadRequest(format!("body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(Rejection::BadRequest("body is not a JSON object".into()));
    }
    Ok(value)
}

/// The most JSON values a body may have, counted as the containers it opens
/// and the commas between values. Parsed, a value costs about 70 bytes (a
/// `[],` costs three of the body's), so this bounds one parse to about
/// 70 MB; a GitHub push of 2,048 commits, the most it sends, has about
/// 300,000 even with a hundred files a commit.
pub const MAX_JSON_VALUES: usize = 1_000_000;

/// The deepest nesting of arrays and objects a body may have; payloads nest
/// about ten deep.
pub const MAX_JSON_DEPTH: usize = 64;

/// Refuses a JSON text with more than [`MAX_JSON_VALUES`] values or
/// nesting deeper than [`MAX_JSON_DEPTH`], before it is parsed: a 25 MiB
/// body of `[],[],…` would cost some 600 MB as parsed values. A text
/// shorter than [`MAX_JSON_VALUES`] bytes cannot have more values (each
/// counted byte is one), so only longer ones are scanned: the usual
/// payload costs nothing, a 25 MiB one a few milliseconds. Too deep a
/// short text is refused by the parser's own recursion limit (128).
fn check_shape(text: &str) -> Result<(), Rejection> {
    if text.len() < MAX_JSON_VALUES {
        return Ok(());
    }
    let (mut values, mut depth) = (1usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                values += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(Rejection::TooComplex(format!(
                        "body nests JSON deeper than {MAX_JSON_DEPTH} levels"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' => values += 1,
            _ => {}
        }
        if values > MAX_JSON_VALUES {
            return Err(Rejection::TooComplex(format!(
                "body has more than {MAX_JSON_VALUES} JSON values"
            )));
        }
    }
    Ok(())
}

/// A JSON body as text. JSON is UTF-8 (RFC 8259): checked once over the
/// whole body, the parser then reads it as `str` and skips its per-string
/// check (-15% instructions parsing a push).
fn utf8(body: &[u8]) -> Result<&str, Rejection> {
    std::str::from_utf8(body).map_err(|e| {
        Rejection::BadRequest(format!(
            "body is not valid JSON: not UTF-8 at byte {}",
            e.valid_up_to()
        ))
    })
}

/// `v[a][b]…` as a string, when it is one.
fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// First non-empty string among several paths, or "".
fn first_str(v: &Value, paths: &[&[&str]]) -> String {
    paths
        .iter()
        .find_map(|p| str_at(v, p).filter(|s| !s.is_empty()))
        .unwrap_or_default()
        .to_string()
}

/// Sets a push's branch or tag from its ref (`refs/heads/…`, `refs/tags/…`).
fn set_push_ref(ev: &mut Event, r#ref: &str) {
    if let Some(b) = r#ref.strip_prefix("refs/heads/") {
        ev.branch = Some(b.to_string());
    } else if let Some(t) = r#ref.strip_prefix("refs/tags/") {
        ev.tag = Some(t.to_string());
    } else if !r#ref.is_empty() {
        ev.branch = Some(r#ref.to_string());
    }
}

/// The `commits` array of a push, whichever forge's shape it has.
fn commits_of(p: &Value) -> Vec<crate::event::Commit> {
    p.get("commits")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| crate::event::Commit {
                    id: first_str(c, &[&["id"], &["sha"]]),
                    message: first_str(c, &[&["message"], &["title"]]),
                    url: first_str(c, &[&["url"]]),
                    author: first_str(
                        c,
                        &[
                            &["author", "username"],
                            &["author", "name"],
                            &["author", "login"],
                        ],
                    ),
                    ..Default::default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_u64()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod shape_tests {
    use super::*;

    /// `{"a":[` + `n` copies of `item` joined by commas + `]}`.
    fn array_of(item: &str, n: usize) -> String {
        let mut s = String::from("{\"a\":[");
        for i in 0..n {
            if i > 0 {
                s.push(',');
            }
            s.push_str(item);
        }
        s.push_str("]}");
        s
    }

    #[test]
    fn values_past_the_limit_are_refused_before_parsing() {
        let many = array_of("[]", MAX_JSON_VALUES / 2 + 1);
        assert!(matches!(check_shape(&many), Err(Rejection::TooComplex(_))));
        // strings are not counted, whatever they hold
        let long = array_of("\"[,{\\\"\"", MAX_JSON_VALUES / 4);
        assert!(check_shape(&long).is_ok(), "{}", &long[..40]);
        // a payload of fewer values passes, however long
        let few = array_of(&format!("\"{}\"", "x".repeat(1000)), 2000);
        assert!(check_shape(&few).is_ok());
    }

    #[test]
    fn nesting_past_the_limit_is_refused() {
        let pad = " ".repeat(MAX_JSON_VALUES);
        let deep = format!("{}{pad}{}", "[".repeat(65), "]".repeat(65));
        assert!(matches!(check_shape(&deep), Err(Rejection::TooComplex(_))));
        let fine = format!("{}{pad}{}", "[".repeat(64), "]".repeat(64));
        assert!(check_shape(&fine).is_ok());
    }
}
