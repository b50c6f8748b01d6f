//! The stdout sink: prints each message's text under a one-line header
//! naming the sink, whole, so concurrent lanes never interleave.
//!
//! One writer thread owns stdout. Lanes hand it messages through a bounded
//! queue and await the write, so a stalled stdout (a full pipe nobody
//! reads) holds that thread and the queue, never a runtime thread: the
//! HTTP side and the other sinks go on, and the stdout lanes time out and
//! retry like any other sink.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use tokio::sync::oneshot;

use super::Outcome;

/// Messages waiting for the writer thread; past this a send is retried.
const QUEUE: usize = 64;

/// One message, formatted, and who waits for it.
struct Job {
    bytes: Vec<u8>,
    written: oneshot::Sender<()>,
}

/// The writer thread's queue, started on first use; `None` if the thread
/// could not be started.
fn writer() -> Option<&'static SyncSender<Job>> {
    static WRITER: OnceLock<Option<SyncSender<Job>>> = OnceLock::new();
    WRITER
        .get_or_init(|| {
            let (tx, rx) = sync_channel::<Job>(QUEUE);
            let spawned = std::thread::Builder::new()
                .name("stdout-sink".into())
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        // Its lane gave up waiting (timeout) and will send
                        // it again: printing this copy too would repeat it.
                        if job.written.is_closed() {
                            continue;
                        }
                        let mut out = std::io::stdout().lock();
                        // A closed or full stdout is no reason to keep a
                        // message forever.
                        let _ = out.write_all(&job.bytes).and_then(|()| out.flush());
                        drop(out);
                        let _ = job.written.send(());
                    }
                });
            match spawned {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the stdout sink's writer thread");
                    None
                }
            }
        })
        .as_ref()
}

/// Prints one message: `Sent` once it is written; a retry when the writer
/// is behind (stdout not read) or gone.
pub(super) async fn print(sink: &str, channel: Option<&str>, text: &str) -> Outcome {
    let Some(writer) = writer() else {
        return Outcome::retry("the stdout writer thread could not be started");
    };
    let mut bytes = Vec::with_capacity(text.len() + sink.len() + 16);
    // Writing to a Vec cannot fail.
    let _ = write_message(&mut bytes, sink, channel, text);
    let (written, done) = oneshot::channel();
    match writer.try_send(Job { bytes, written }) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return Outcome::retry("stdout is not keeping up (is anything reading it?)");
        }
        Err(TrySendError::Disconnected(_)) => {
            return Outcome::retry("the stdout writer thread has stopped");
        }
    }
    match done.await {
        Ok(()) => Outcome::Sent { wait: None },
        Err(_) => Outcome::retry("the stdout writer thread has stopped"),
    }
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
