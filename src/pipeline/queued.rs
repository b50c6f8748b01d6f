//! The queued message: what the request path stores for each message, and
//! the lane worker reads back to render when it sends.
//!
//! Stored as one JSON object, `{"queued":1,"set":…,"thread":…,"part":…,
//! "event":…,"payload":…}`: the template set, what the message does to its
//! item's thread, which part of the card it sends, the verified event and
//! its payload (minus any `secret`). The event and payload texts are made
//! once per delivery and shared by all of its messages; a JSON body is
//! kept byte for byte. Rows stored by older versions hold a rendered card
//! (`{"card":1,…}`) or plain text instead, and are sent as they are.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::Event;
use crate::threads::{Part, Step, Threading};

/// Every queued message starts with this.
const TAG: &str = "{\"queued\":1,";

/// The small part of a queued message, before the event and payload.
#[derive(Serialize)]
struct Head<'a> {
    set: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread: Option<&'a Threading>,
    #[serde(skip_serializing_if = "Part::is_card")]
    part: Part,
}

/// A queued message read back.
#[derive(Debug, Deserialize)]
pub struct Queued {
    /// The template set of the route that named the target.
    pub set: String,
    pub thread: Option<Threading>,
    #[serde(default)]
    pub part: Part,
    pub event: Event,
    #[serde(default)]
    pub payload: Value,
}

/// The stored form of one message of an event: `event_json` is the
/// event's JSON, `payload_json` its payload's (both valid JSON texts).
pub fn encode(set: &str, step: &Step, event_json: &str, payload_json: &str) -> String {
    let head = Head {
        set,
        thread: step.thread.as_ref(),
        part: step.part,
    };
    // A struct of strings and enums always serialises.
    let head = serde_json::to_string(&head).unwrap_or_else(|_| "{}".to_string());
    let inner = head
        .strip_prefix('{')
        .and_then(|h| h.strip_suffix('}'))
        .unwrap_or_default();
    let mut out =
        String::with_capacity(TAG.len() + inner.len() + event_json.len() + payload_json.len() + 24);
    out.push_str(TAG);
    out.push_str(inner);
    if !inner.is_empty() {
        out.push(',');
    }
    out.push_str("\"event\":");
    out.push_str(event_json);
    out.push_str(",\"payload\":");
    out.push_str(payload_json);
    out.push('}');
    out
}

/// True when `stored` is a queued message (not a card or text an older
/// version rendered before storing).
pub fn is_queued(stored: &str) -> bool {
    stored.starts_with(TAG)
}

/// Reads a queued message back.
pub fn decode(stored: &str) -> Result<Queued, serde_json::Error> {
    serde_json::from_str(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::Op;

    #[test]
    fn a_queued_message_reads_back_whole() {
        let event = Event {
            kind: "pull_request.opened".into(),
            title: "Fix \"quotes\" and ünïcode".into(),
            number: Some(7),
            labels: vec!["bug".into()],
            ..Event::default()
        };
        let step = Step {
            thread: Some(Threading {
                key: "gh:acme/api#pr-7".into(),
                op: Op::Patch,
                broadcast: false,
                run: None,
            }),
            part: Part::Heading,
        };
        let event_json = serde_json::to_string(&event).unwrap();
        let stored = encode(
            "compact",
            &step,
            &event_json,
            r#"{"action":"opened","n":[1,2]}"#,
        );
        assert!(is_queued(&stored), "{stored}");
        let q = decode(&stored).unwrap();
        assert_eq!(q.set, "compact");
        assert_eq!(q.thread, step.thread);
        assert_eq!(q.part, Part::Heading);
        assert_eq!(q.event.title, event.title);
        assert_eq!(q.event.number, Some(7));
        assert_eq!(q.event.labels, event.labels);
        assert_eq!(q.payload["n"][1], 2);
    }

    #[test]
    fn a_plain_step_stores_no_thread_or_part() {
        let step = Step {
            thread: None,
            part: Part::Card,
        };
        let stored = encode("default", &step, "{}", "{}");
        assert_eq!(
            stored,
            r#"{"queued":1,"set":"default","event":{},"payload":{}}"#
        );
        assert!(!is_queued(r#"{"card":1,"text":"hi"}"#));
        assert!(!is_queued("plain text of an old row"));
    }
}
