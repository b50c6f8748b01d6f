//! The stdout sink: prints each message's text under a one-line header
//! naming the sink, whole, so concurrent lanes never interleave.

use std::io::Write;

use super::Outcome;

/// Prints one message; stdout has no one to refuse it, so always `Sent`.
pub(super) fn print(sink: &str, channel: Option<&str>, text: &str) -> Outcome {
    // The stdout lock is held for header and text together.
    let mut out = std::io::stdout().lock();
    // A closed or full stdout is no reason to keep a message forever.
    let _ = write_message(&mut out, sink, channel, text);
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
