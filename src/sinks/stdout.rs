//! The stdout sink: prints each message's text under a one-line header
//! naming the sink, whole, so concurrent lanes never interleave.

use std::io::Write;

use super::Outcome;

/// Prints one message; stdout has no one to refuse it, so always `Sent`.
pub(super) fn print(sink: &str, channel: Option<&str>, body: &str) -> Outcome {
    let text = message_text(body);
    // The stdout lock is held for header and text together.
    let mut out = std::io::stdout().lock();
    // A closed or full stdout is no reason to keep a message forever.
    let _ = write_message(&mut out, sink, channel, &text);
    Outcome::Sent { wait: None }
}

/// Header line, then the text, then a flush.
pub(super) fn write_message(
    out: &mut impl Write,
    sink: &str,
    channel: Option<&str>,
    text: &str,
) -> std::io::Result<()> {
    match channel {
        Some(c) => writeln!(out, "--- {sink} {c} ---")?,
        None => writeln!(out, "--- {sink} ---")?,
    }
    writeln!(out, "{}", text.trim_end_matches('\n'))?;
    out.flush()
}

/// The body's `text` (or Discord-shaped `content`), else the body itself.
pub(super) fn message_text(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.to_string();
    };
    ["text", "content"]
        .iter()
        .find_map(|k| value.get(k).and_then(serde_json::Value::as_str))
        .map_or_else(|| body.to_string(), str::to_string)
}
