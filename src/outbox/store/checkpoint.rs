//! WAL checkpoints off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold, so every few hundred commits one batch of callers waits while
//! pages are copied into the database file and that file is synced: the
//! slowest answers of the service. Here the writer's WAL hook only asks a
//! [`Checkpointer`] thread, with a connection of its own, to run a `PASSIVE`
//! checkpoint, which copies pages while the writer goes on appending.
//!
//! Under steady load the WAL is never fully checkpointed at the moment a
//! write begins, so SQLite never rewinds it. Past [`Thresholds::rewind`] frames the
//! writer finishes the checkpoint itself, which lets the next transaction
//! start the WAL from the beginning again, but only once a background pass
//! has left at most a few hundred frames to copy, so that finishing costs
//! the writer about a millisecond; until then it asks for passes without a
//! pause. The WAL file so stays near [`Thresholds::rewind`] frames; should
//! the passes fall behind (a slow disk, a stuck thread), the writer
//! finishes the checkpoint whatever is left once the WAL is four times that.
//!
//! Passes are small and frequent (every 10 ms under load). A pass that
//! cannot reach the end of a WAL still being appended to leaves the pages it
//! copied unsynced in the database file; only a pass that copies everything
//! syncs that file. Rare large passes let megabytes of such pages pile up,
//! and the pass that finally synced them, often the writer's own at the
//! rewind, stalled a batch for 4-10 ms. Small passes often reach the end, so
//! each sync is short (the writer's ~0.5 ms) and the WAL's own syncs no
//! longer queue behind large writes.

use std::ffi::c_int;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;

use super::StoreError;

/// When checkpoints happen, in WAL frames (one frame per page written).
#[derive(Debug, Clone, Copy)]
pub(super) struct Thresholds {
    /// WAL size at which a background pass is asked for.
    pub background: c_int,
    /// WAL size past which the writer completes a checkpoint itself.
    pub rewind: c_int,
    /// Frames the writer copies itself at most when it does.
    pub remainder: c_int,
    /// Least time between two background passes that are not urgent, so
    /// pages written by many commits are copied once.
    pub min_interval: Duration,
}

impl Thresholds {
    /// A pass every 10 ms at most, once the WAL holds 100 frames (a few
    /// batches); a WAL of 32 MiB at most with 4 KiB pages (64 MiB on files
    /// made with 8 KiB pages).
    pub(super) const DEFAULT: Thresholds = Thresholds {
        background: 100,
        rewind: 8192,
        remainder: 256,
        min_interval: Duration::from_millis(10),
    };
}

#[derive(Default)]
struct State {
    wanted: bool,
    /// Run the next pass at once, without waiting for `min_interval`.
    urgent: bool,
    stop: bool,
}

#[derive(Default)]
struct Signal {
    state: Mutex<State>,
    wake: Condvar,
    /// The last pass: WAL frames then (high 32 bits) and frames copied.
    last_pass: AtomicU64,
}

impl Signal {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is flags: still meaningful after a panic elsewhere.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn request(&self, urgent: bool) {
        let mut state = self.lock();
        if !state.wanted || (urgent && !state.urgent) {
            state.wanted = true;
            state.urgent |= urgent;
            self.wake.notify_one();
        }
    }

    fn forget_passes(&self) {
        self.last_pass.store(0, Ordering::Relaxed);
    }

    fn record_pass(&self, frames: c_int, copied: c_int) {
        let packed = (u64::from(frames.max(0).cast_unsigned()) << 32)
            | u64::from(copied.max(0).cast_unsigned());
        self.last_pass.store(packed, Ordering::Relaxed);
    }

    /// Frames of a WAL now `frames` long that are already copied.
    fn copied_of(&self, frames: c_int) -> c_int {
        let packed = self.last_pass.load(Ordering::Relaxed);
        let (then, copied) = ((packed >> 32) as c_int, (packed & 0xffff_ffff) as c_int);
        // A pass over a longer WAL was before the WAL started over (the
        // hook also forgets passes when it sees the WAL shrink).
        if then > frames { 0 } else { copied }
    }
}

/// Logs a failed checkpoint: busy (the other side is checkpointing) is
/// routine; anything else (disk full, I/O error) is a warning, at most once
/// a minute.
struct FailureLog {
    last_warning: Option<Instant>,
}

impl FailureLog {
    const EVERY: Duration = Duration::from_secs(60);

    fn note(&mut self, e: &rusqlite::Error, who: &'static str) {
        if super::sqlite::is_busy(e) {
            tracing::debug!(error = %e, who, "store checkpoint skipped: busy");
        } else if self
            .last_warning
            .is_none_or(|at| at.elapsed() >= Self::EVERY)
        {
            self.last_warning = Some(Instant::now());
            tracing::warn!(error = %e, who, "store checkpoint failed; the WAL file grows until one succeeds");
        }
    }
}

/// The background checkpoint thread; stops and joins when dropped.
pub(super) struct Checkpointer {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread with its own connection to the store at `path`,
    /// and installs the WAL hook on the writer's connection `writer`.
    pub(super) fn start(
        path: &Path,
        writer: &mut Connection,
        limits: Thresholds,
    ) -> Result<Checkpointer, StoreError> {
        let conn = super::sqlite::open_file(path, false)?;
        // A connection sees the WAL only once it has read the database;
        // before that a checkpoint does nothing.
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
        let signal = Arc::new(Signal::default());
        let thread = {
            let signal = Arc::clone(&signal);
            std::thread::Builder::new()
                .name("outbox-store-ckpt".into())
                .spawn(move || run(&conn, &signal, limits.min_interval))
                .map_err(|source| StoreError::Thread {
                    name: "checkpoint",
                    source,
                })?
        };
        // From here on, dropping it stops the thread.
        let checkpointer = Checkpointer {
            signal: Arc::clone(&signal),
            thread: Some(thread),
        };
        let mut last_frames = 0;
        let mut failures = FailureLog { last_warning: None };
        // Replaces SQLite's automatic checkpoint. The hook runs after the
        // commit: an error from it would report a committed batch as
        // failed, so it only logs.
        writer.wal_hook(Some(move |wal: &mut Wal, frames: c_int| {
            if frames < last_frames {
                // The WAL started over: earlier passes were over the old one.
                signal.forget_passes();
            }
            last_frames = frames;
            if frames < limits.background {
                return Ok(());
            }
            let left = frames - signal.copied_of(frames);
            if frames < limits.rewind {
                signal.request(false);
            } else if left > limits.remainder && frames < limits.rewind.saturating_mul(4) {
                signal.request(true);
            } else {
                match wal.checkpoint_v2(CheckpointMode::PASSIVE) {
                    Ok((frames, copied)) => signal.record_pass(frames, copied),
                    Err(e) => failures.note(&e, "writer"),
                }
            }
            Ok(())
        }))?;
        Ok(checkpointer)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signal.lock().stop = true;
        self.signal.wake.notify_one();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("outbox store checkpoint thread panicked");
        }
    }
}

fn run(conn: &Connection, signal: &Signal, min_interval: Duration) {
    let mut last_pass: Option<Instant> = None;
    let mut failures = FailureLog { last_warning: None };
    loop {
        {
            let mut state = signal.lock();
            while !state.wanted && !state.stop {
                state = signal.wake.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            // Not urgent: let pages gather for a while after the last pass.
            if let Some(at) = last_pass {
                let wait = min_interval.saturating_sub(at.elapsed());
                (state, _) = signal
                    .wake
                    .wait_timeout_while(state, wait, |s| !s.stop && !s.urgent)
                    .unwrap_or_else(|p| p.into_inner());
            }
            if state.stop {
                return;
            }
            state.wanted = false;
            state.urgent = false;
        }
        match conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
            Ok((frames, copied)) => {
                signal.record_pass(frames, copied);
                tracing::trace!(frames, copied, "store checkpoint");
            }
            Err(e) => failures.note(&e, "background"),
        }
        last_pass = Some(Instant::now());
    }
}
