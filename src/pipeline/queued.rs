//! The queued message: what the request path stores for each message, and
//! the lane worker reads back to render when it sends.
//!
//! Stored as one JSON object, `{"queued":1,"set":…,"thread":…,"part":…,
//! "source":…,"kind":…,"delivery":…,"headers":…,"packed":…}`: the
//! template set, what the message does to its item's thread, which part of
//! the card it sends, where the event came from (the [`Origin`]: enough to
//! parse the payload again, never a secret) and the verified payload
//! (minus any `secret`; byte for byte when the body was that JSON),
//! LZ4-compressed and base64-encoded ([`pack`]). The payload is the bulk of
//! a row and every byte of it goes through the WAL with the commit a
//! sender waits for: webhook JSON packs to a third of its size or less, in
//! a few microseconds. Rows stored by older versions hold a rendered card
//! (`{"card":1,…}`) or plain text instead, and are sent as they are.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use serde::{Deserialize, Serialize};

use crate::config::SourceKind;
use crate::threads::{Part, Step, Threading};

/// Every queued message starts with this.
const TAG: &str = "{\"queued\":1,";

/// The largest payload a packed one may unpack to: twice the largest body
/// the service can be set to take (a payload written anew may be longer
/// than its body), so a damaged row cannot make the worker allocate
/// without bound.
const MAX_UNPACKED: usize = 2 * crate::config::MAX_BODY_BYTES_LIMIT as usize;

/// Where a queued message's event came from: what parsing its payload
/// again takes besides the payload (`sources::parse_stored`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The config's source name.
    pub source: String,
    pub kind: SourceKind,
    /// The delivery id the event was accepted under.
    pub delivery: String,
    /// The headers the source's parser reads (`sources::parse_headers`):
    /// event names only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

impl Origin {
    /// The origin of `event` (parsed from a delivery of a `kind` source
    /// with these `headers`).
    pub fn new(
        event: &crate::event::Event,
        kind: SourceKind,
        headers: &poem::http::HeaderMap,
    ) -> Origin {
        let headers = crate::sources::parse_headers(kind)
            .into_iter()
            .filter_map(|name| {
                let value = headers.get(name)?.to_str().ok()?;
                Some((name.to_string(), value.to_string()))
            })
            .collect();
        Origin {
            source: event.source.clone(),
            kind,
            delivery: event.delivery_id.clone(),
            headers,
        }
    }

    /// Its fields as JSON object members, without the braces: made once
    /// per delivery, shared by its messages.
    pub fn members(&self) -> String {
        // Strings and a kind always serialise.
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string());
        inner(&json).to_string()
    }
}

/// The message's own part, before the origin and payload.
#[derive(Serialize)]
struct Head<'a> {
    set: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread: Option<&'a Threading>,
    #[serde(skip_serializing_if = "Part::is_card")]
    part: Part,
}

/// A queued message read back; the payload stays JSON text.
#[derive(Debug, Deserialize)]
pub struct Queued<'a> {
    /// The template set of the route that named the target.
    pub set: String,
    pub thread: Option<Threading>,
    #[serde(default)]
    pub part: Part,
    pub source: String,
    pub kind: SourceKind,
    pub delivery: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The payload, [`pack`]ed.
    #[serde(borrow)]
    pub packed: Cow<'a, str>,
}

impl Queued<'_> {
    /// The payload's JSON text.
    pub fn payload(&self) -> Result<Vec<u8>, String> {
        unpack(&self.packed)
    }
}

/// A payload's JSON text as a queued message keeps it: LZ4 (block, with
/// its length first), then base64. Made once per delivery.
pub fn pack(payload_json: &str) -> String {
    BASE64.encode(lz4_flex::block::compress_prepend_size(
        payload_json.as_bytes(),
    ))
}

/// The payload [`pack`] packed.
pub fn unpack(packed: &str) -> Result<Vec<u8>, String> {
    let bytes = BASE64
        .decode(packed)
        .map_err(|e| format!("the stored payload is not base64: {e}"))?;
    let (size, _) = lz4_flex::block::uncompressed_size(&bytes)
        .map_err(|e| format!("the stored payload is damaged: {e}"))?;
    if size > MAX_UNPACKED {
        return Err(format!(
            "the stored payload claims {size} bytes, more than any payload"
        ));
    }
    lz4_flex::block::decompress_size_prepended(&bytes)
        .map_err(|e| format!("the stored payload is damaged: {e}"))
}

fn inner(object: &str) -> &str {
    object
        .strip_prefix('{')
        .and_then(|h| h.strip_suffix('}'))
        .unwrap_or_default()
}

/// The stored form of one message: `origin` is [`Origin::members`] and
/// `packed` the payload, [`pack`]ed.
pub fn encode(set: &str, step: &Step, origin: &str, packed: &str) -> String {
    let head = Head {
        set,
        thread: step.thread.as_ref(),
        part: step.part,
    };
    // A struct of strings and enums always serialises.
    let head = serde_json::to_string(&head).unwrap_or_else(|_| "{}".to_string());
    let head = inner(&head);
    let mut out = String::with_capacity(TAG.len() + head.len() + origin.len() + packed.len() + 16);
    out.push_str(TAG);
    for members in [head, origin] {
        if !members.is_empty() {
            out.push_str(members);
            out.push(',');
        }
    }
    out.push_str("\"packed\":\"");
    out.push_str(packed);
    out.push_str("\"}");
    out
}

/// True when `stored` is a queued message (not a card or text an older
/// version rendered before storing).
pub fn is_queued(stored: &str) -> bool {
    stored.starts_with(TAG)
}

/// Reads a queued message back.
pub fn decode(stored: &str) -> Result<Queued<'_>, serde_json::Error> {
    serde_json::from_str(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::Op;

    fn origin() -> Origin {
        Origin {
            source: "gh".into(),
            kind: SourceKind::Github,
            delivery: "d-\"1\"".into(),
            headers: vec![("x-github-event".into(), "pull_request".into())],
        }
    }

    #[test]
    fn a_queued_message_reads_back_whole() {
        let step = Step {
            thread: Some(Threading {
                key: "gh:acme/api#pr-7".into(),
                op: Op::Patch,
                broadcast: false,
                run: None,
            }),
            part: Part::Heading,
        };
        let payload = r#"{"action":"opened","n":[1,2],"t":"ünï \"q\""}"#;
        let stored = encode("compact", &step, &origin().members(), &pack(payload));
        assert!(is_queued(&stored), "{stored}");
        let q = decode(&stored).unwrap();
        assert_eq!(q.set, "compact");
        assert_eq!(q.thread, step.thread);
        assert_eq!(q.part, Part::Heading);
        assert_eq!(q.payload().unwrap(), payload.as_bytes());
        let o = origin();
        assert_eq!(
            (q.source, q.kind, q.delivery, q.headers),
            (o.source, o.kind, o.delivery, o.headers)
        );
    }

    #[test]
    fn a_plain_step_stores_no_thread_or_part() {
        let step = Step {
            thread: None,
            part: Part::Card,
        };
        let origin = Origin {
            headers: Vec::new(),
            ..origin()
        };
        let stored = encode("default", &step, &origin.members(), &pack("{}"));
        assert_eq!(
            stored,
            r#"{"queued":1,"set":"default","source":"gh","kind":"github","delivery":"d-\"1\"","packed":"AgAAACB7fQ"}"#
        );
        assert!(!is_queued(r#"{"card":1,"text":"hi"}"#));
        assert!(!is_queued("plain text of an old row"));
    }

    #[test]
    fn a_payload_packs_small_and_damage_is_an_error_not_a_panic() {
        let json = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/github/push.1.json"
        ))
        .unwrap();
        let packed = pack(&json);
        assert!(
            packed.len() * 2 < json.len(),
            "{} of {}",
            packed.len(),
            json.len()
        );
        assert_eq!(unpack(&packed).unwrap(), json.as_bytes());
        // A length prefix of 4 GiB, a cut stream, not base64.
        let huge = BASE64.encode([0xff, 0xff, 0xff, 0xff, 0x00]);
        let cut = &packed[..packed.len() / 2];
        for bad in [huge.as_str(), cut, "not base64!"] {
            assert!(unpack(bad).is_err(), "{bad}");
        }
    }
}
