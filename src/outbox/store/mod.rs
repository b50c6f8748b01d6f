//! The outbox store: dedup keys and one row per (delivery, target), behind
//! the [`Store`] trait, with SQLite (WAL, group commit) as the embedded
//! implementation and PostgreSQL (`postgres`) for several replicas.
//!
//! Layout: `schema` (versioned DDL and migrations), `sqlite` (the
//! [`SqliteStore`]: one writer thread doing group commit, reads off the
//! async runtime), `checkpoint` (WAL checkpoints on a thread of their own,
//! off the commit path), `watch` (notices the files removed or replaced
//! under the running service), `journal` (send outcomes the store could not
//! record, applied at the next start), `tests`; `postgres` (the [`PgStore`],
//! its own schema and migrations, for replicas sharing one database).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

mod checkpoint;
mod journal;
pub mod postgres;
mod schema;
mod sqlite;
#[cfg(test)]
mod tests;
mod watch;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub type RowId = i64;

/// One delivery queue: a sink and, for bot-token sinks, a channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane {
    pub sink: String,
    /// Empty when the sink has a fixed channel.
    pub channel: String,
}

/// What a delivery is, for dedup and for `hookbridge deliveries`.
#[derive(Debug, Clone)]
pub struct DeliveryMeta {
    pub source: String,
    pub delivery_id: String,
    pub kind: String,
    pub repo: String,
}

/// The platform's ids of a thread's parent message (or of a CI run's
/// living message).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThreadIds {
    /// The message (Slack `ts`, Discord message id).
    pub message_id: String,
    /// The thread, where the platform gives it an id of its own (Discord).
    pub thread_id: Option<String>,
}

/// A thread's ids and the card its message shows now (stored form).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThreadState {
    pub ids: ThreadIds,
    /// `None` keeps the card already stored.
    pub card: Option<String>,
}

/// Thread ids are kept this long after their last use.
pub const THREAD_WINDOW_MS: i64 = 90 * 24 * 3600 * 1000;

/// One message to queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub lane: Lane,
    /// The message's stored form: a queued message the lane worker renders
    /// when it sends (`pipeline::ready`), or a card stored rendered (rows
    /// of older versions); the sink wraps the card in its platform's
    /// request body (`render::request_body`).
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Stored; the new row ids, in the order given.
    Stored(Vec<RowId>),
    /// The (source, delivery id) pair was seen within the dedup window.
    Duplicate,
}

/// What became of a send, for the store to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Sent,
    /// Try again at `at` (Unix milliseconds).
    Retry {
        at: i64,
        error: String,
    },
    Dead {
        error: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Sent,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sent => "sent",
            Status::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "pending" => Some(Status::Pending),
            "sent" => Some(Status::Sent),
            "dead" => Some(Status::Dead),
            _ => None,
        }
    }
}

/// One outbox row. Times are Unix milliseconds.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: RowId,
    pub source: String,
    pub delivery_id: String,
    pub kind: String,
    pub repo: String,
    pub lane: Lane,
    /// The message's stored form (see [`NewMessage::message`]).
    pub message: String,
    pub status: Status,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    /// When the row was last queued (created or replayed): `max_age` counts from here.
    pub queued_at: i64,
}

/// What went wrong in the store. Variants that wrap a cause keep it as
/// their `source` and do not repeat it in their own text, so an error chain
/// printer (`{:#}`, [`StoreError::chain`]) says each part once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A statement failed. Says SQLite's message itself, so it names no
    /// source: an error chain printer would say it twice.
    #[error("store: {0}")]
    Sqlite(rusqlite::Error),
    #[error("store is closed")]
    Closed,
    #[error("store is busy: {0}")]
    Busy(String),
    /// The file could not be opened or set up; `hint` says what usually
    /// causes it.
    #[error("cannot open store {}{hint}", path.display())]
    Open {
        path: PathBuf,
        hint: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("could not switch the store to WAL mode (journal_mode is {mode:?})")]
    NotWal { mode: String },
    #[error("store schema version {found} is invalid; is this a hookbridge store?")]
    InvalidVersion { found: i64 },
    #[error(
        "store schema version {found} is newer than this binary knows ({known}); upgrade hookbridge"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error(
        "store schema version {found} is older than this binary's ({known}); \
         stop the running service and start this version's `hookbridge serve` once to upgrade the file"
    )]
    SchemaTooOld { found: i64, known: i64 },
    /// PostgreSQL said no; the text says what was being done and why.
    #[error("store: {0}")]
    Database(String),
    /// Several replicas: this one no longer holds the row's lane (another
    /// replica sends it now), so it must not record an outcome there.
    #[error("store: lane lease lost: {0}")]
    LeaseLost(String),
    #[error("store migration to version {version} failed")]
    Migrate {
        version: i64,
        #[source]
        source: rusqlite::Error,
    },
    /// A write transaction failed as a whole (every write of its batch gets
    /// this error, so the cause is shared).
    #[error("store write failed: {what}")]
    Write {
        what: &'static str,
        #[source]
        source: Arc<rusqlite::Error>,
    },
    /// SQLite rolled back the whole transaction of a batch (a full disk):
    /// none of its writes stand.
    #[error("store transaction rolled back")]
    RolledBack(#[source] Arc<StoreError>),
    #[error("store read failed")]
    Read(#[source] tokio::task::JoinError),
    #[error("cannot start the store's {name} thread")]
    Thread {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A store file was removed or replaced while the service ran: what it
    /// commits now would be lost at the next start.
    #[error(
        "the store file {} was {what} while hookbridge was running; restart hookbridge",
        path.display()
    )]
    Lost { path: PathBuf, what: &'static str },
    #[error("this store keeps no outcome journal")]
    NoJournal,
    #[error("cannot write the outcome journal")]
    Journal(#[source] std::io::Error),
    #[error("no outbox row with id {0}")]
    NoRow(RowId),
    #[error("store writer gave an unexpected answer")]
    UnexpectedAnswer,
}

impl StoreError {
    /// The error and each of its causes, `: `-separated: what a log line
    /// shows (`%e` alone would show only the first).
    pub fn chain(&self) -> impl std::fmt::Display + '_ {
        Chain(self)
    }
}

struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Sqlite(e)
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Atomically: if (source, delivery_id) was seen in the last 7 days,
    /// `Duplicate`; else record it and insert one pending row per message.
    /// Returns only after the transaction is durable. Concurrent calls share
    /// one commit.
    async fn accept(
        &self,
        meta: DeliveryMeta,
        messages: Vec<NewMessage>,
    ) -> Result<Accepted, StoreError>;
    /// The oldest pending row of a lane (FIFO head), whatever its next_attempt_at.
    async fn head(&self, lane: &Lane) -> Result<Option<Row>, StoreError>;
    async fn mark_sent(&self, id: RowId) -> Result<(), StoreError>;
    /// Counts an attempt, keeps the error, and schedules the next one.
    async fn mark_retry(
        &self,
        id: RowId,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), StoreError>;
    /// Counts an attempt and gives up on the row.
    async fn mark_dead(&self, id: RowId, error: &str) -> Result<(), StoreError>;
    /// Thread `key` in `lane`, unless unknown or older than 90 days. A
    /// store that keeps no threads knows none: every threaded message
    /// then posts as a parent of its own.
    async fn thread_state(
        &self,
        _lane: &Lane,
        _key: &str,
    ) -> Result<Option<ThreadState>, StoreError> {
        Ok(None)
    }
    /// The platform's ids of thread `key` in `lane`, unless unknown or
    /// older than 90 days.
    async fn thread(&self, lane: &Lane, key: &str) -> Result<Option<ThreadIds>, StoreError> {
        Ok(self.thread_state(lane, key).await?.map(|t| t.ids))
    }
    /// Keeps each `(key, state)` of `lane` (90 days after the last put).
    async fn put_threads(
        &self,
        _lane: &Lane,
        _threads: &[(String, ThreadState)],
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// Keeps the platform's ids of thread `key` in `lane`.
    async fn put_thread(&self, lane: &Lane, key: &str, ids: &ThreadIds) -> Result<(), StoreError> {
        let state = ThreadState {
            ids: ids.clone(),
            card: None,
        };
        self.put_threads(lane, &[(key.to_string(), state)]).await
    }
    /// Marks row `id` sent and keeps each `(key, state)` of its lane, in
    /// one transaction: a crash never leaves a sent parent whose ids are
    /// unknown. Fenced like [`Store::mark_sent`]. (The default, for a
    /// store that keeps no threads, only marks the row.)
    async fn mark_sent_thread(
        &self,
        id: RowId,
        _lane: &Lane,
        _threads: &[(String, ThreadState)],
    ) -> Result<(), StoreError> {
        self.mark_sent(id).await
    }
    /// As [`Store::mark_sent_thread`], and the row keeps `posted`, the card
    /// its sink posted (stored form), in place of the queued message it was
    /// rendered from: a sent row holds what was posted, not its payload.
    /// (The default, for a store that cannot, keeps the queued message.)
    async fn mark_posted(
        &self,
        id: RowId,
        _posted: &str,
        lane: &Lane,
        threads: &[(String, ThreadState)],
    ) -> Result<(), StoreError> {
        self.mark_sent_thread(id, lane, threads).await
    }
    /// Lanes that have pending rows.
    async fn pending_lanes(&self) -> Result<Vec<Lane>, StoreError>;
    /// Rows, newest first, optionally of one status.
    async fn list(&self, status: Option<Status>, limit: usize) -> Result<Vec<Row>, StoreError>;
    /// Queues rows again (status pending, attempts 0, queued now). Returns how many.
    async fn replay(&self, ids: &[RowId]) -> Result<usize, StoreError>;
    /// Queues every dead row again. Returns how many.
    async fn replay_dead(&self) -> Result<usize, StoreError>;
    /// Pending rows per sink.
    async fn depth_by_sink(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// Ok when a write would succeed now.
    async fn check_writable(&self) -> Result<(), StoreError>;
    /// Records `verdict` for row `id` (one of the `mark_*`).
    async fn record(&self, id: RowId, verdict: &Verdict) -> Result<(), StoreError> {
        match verdict {
            Verdict::Sent => self.mark_sent(id).await,
            Verdict::Retry { at, error } => self.mark_retry(id, *at, error).await,
            Verdict::Dead { error } => self.mark_dead(id, error).await,
        }
    }
    /// Keeps `verdict` for row `id` where the service's next start applies
    /// it before anything is sent: for an outcome the store cannot record
    /// now (see `journal`). A store without a journal says
    /// [`StoreError::NoJournal`].
    async fn hold_outcome(&self, _id: RowId, _verdict: &Verdict) -> Result<(), StoreError> {
        Err(StoreError::NoJournal)
    }
    /// Forgets what [`Store::hold_outcome`] kept for row `id`, now that the
    /// store has recorded its outcome.
    async fn release_outcome(&self, _id: RowId) -> Result<(), StoreError> {
        Ok(())
    }
    /// Which lanes this process may send. One service per store (SQLite)
    /// holds every lane; replicas on PostgreSQL share them through leases.
    fn leases(&self) -> std::sync::Arc<dyn crate::outbox::lease::Leases> {
        std::sync::Arc::new(crate::outbox::lease::AlwaysHeld)
    }
}
