//! The minimal receiver: a reference for row 1, not product code.
//!
//! The least a durable webhook receiver can do for a signed GitHub `push`,
//! written as plainly as possible so the report can say how far hookbridge's
//! durable accept is from it: poem on a default multi-thread tokio runtime
//! (the framework and runtime hookbridge uses), the body read with a cap,
//! the HMAC-SHA256 signature checked in constant time, the JSON parsed into
//! the few fields routing needs, and the delivery group-committed to SQLite
//! with the store settings hookbridge uses (WAL, `synchronous=FULL`, 4 KiB
//! pages): one writer thread takes every request waiting on its channel,
//! inserts each in one transaction (a primary key on (source, delivery id)
//! drops duplicates), commits, and only then answers each: 202 new, 200
//! duplicate, 401 bad signature. Checkpoints run on a thread of their own
//! every [`CHECKPOINT_EVERY`], off the commit path, as hookbridge's do.
//!
//! What it leaves out is what hookbridge is for: routing, rendering,
//! messages per sink, the outbox, limits, metrics, logs. It runs as its own
//! process (the bench re-executes itself with `--minimal-receiver <db>`) so
//! it shares the 2 cores with the load generator the way hookbridge does,
//! and prints `minimal receiver listening on <addr>` on stderr.

use std::path::Path;
use std::sync::mpsc;

use anyhow::Context;
use hmac::{Hmac, KeyInit, Mac};
use hyper::body::Bytes;
use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::web::Data;
use poem::{Body, EndpointExt, Request, Route, Server, handler, post};
use rusqlite::{Connection, TransactionBehavior, params};
use serde::Deserialize;
use sha2::Sha256;
use tokio::sync::oneshot;

/// Largest body read (GitHub's own cap on a webhook payload).
const MAX_BODY: usize = 25 << 20;
/// Most deliveries committed in one transaction.
const MAX_BATCH: usize = 512;
/// How often the checkpoint thread copies the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// The line the bench looks for on stderr, followed by the address.
pub const LISTENING: &str = "minimal receiver listening on ";

/// What routing needs from a GitHub payload; serde skips the rest.
#[derive(Deserialize)]
struct Payload {
    repository: Repository,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

/// One delivery on its way to the writer, with where to send the outcome:
/// `Some(true)` stored, `Some(false)` a duplicate, `None` the commit failed.
struct Delivery {
    id: String,
    event: String,
    payload: Payload,
    body: Bytes,
    answer: oneshot::Sender<Option<bool>>,
}

#[derive(Clone)]
struct State {
    /// The keyed MAC, cloned per request.
    mac: Hmac<Sha256>,
    writer: mpsc::Sender<Delivery>,
}

/// `--minimal-receiver <db>`: serves until killed.
pub fn main(db: &Path, secret: &str) -> anyhow::Result<()> {
    let conn = open(db).with_context(|| format!("cannot open {}", db.display()))?;
    let checkpoints = open(db).with_context(|| format!("cannot open {}", db.display()))?;
    std::thread::Builder::new()
        .name("sqlite-ckpt".into())
        .spawn(move || {
            loop {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) =
                    checkpoints.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    eprintln!("minimal receiver: checkpoint failed: {e}");
                }
            }
        })
        .context("cannot start the checkpoint thread")?;
    let (writer, queue) = mpsc::channel();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || write_loop(conn, queue))
        .context("cannot start the writer thread")?;
    let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .map_err(|e| anyhow::anyhow!("hmac key: {e}"))?;
    let app = Route::new()
        .at("/hooks/github", post(github))
        .data(State { mac, writer });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind 127.0.0.1:0")?;
        eprintln!("{LISTENING}{}", listener.local_addr()?);
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        Server::new_with_acceptor(acceptor)
            .run(app)
            .await
            .context("server")
    })
}

#[handler]
async fn github(req: &Request, body: Body, state: Data<&State>) -> StatusCode {
    let body = match body.into_bytes_limit(MAX_BODY).await {
        Ok(b) => b,
        Err(poem::error::ReadBodyError::PayloadTooLarge) => return StatusCode::PAYLOAD_TOO_LARGE,
        Err(_) => return StatusCode::BAD_REQUEST,
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let signature = header("x-hub-signature-256")
        .and_then(|s| s.strip_prefix("sha256="))
        .and_then(|hex| hex::decode(hex).ok());
    let mut mac = state.mac.clone();
    mac.update(&body);
    if signature.is_none_or(|s| mac.verify_slice(&s).is_err()) {
        return StatusCode::UNAUTHORIZED;
    }
    let (Some(event), Some(id)) = (header("x-github-event"), header("x-github-delivery")) else {
        return StatusCode::BAD_REQUEST;
    };
    let Ok(payload) = serde_json::from_slice::<Payload>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let (answer, outcome) = oneshot::channel();
    let delivery = Delivery {
        id: id.to_string(),
        event: event.to_string(),
        payload,
        body,
        answer,
    };
    if state.writer.send(delivery).is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match outcome.await {
        Ok(Some(true)) => StatusCode::ACCEPTED,
        Ok(Some(false)) => StatusCode::OK,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn open(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)?;
    // page_size takes effect only before the file's first write.
    conn.pragma_update(None, "page_size", 4096)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    anyhow::ensure!(
        mode.eq_ignore_ascii_case("wal"),
        "journal_mode is {mode}, not WAL"
    );
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Checkpoints are the checkpoint thread's, never a commit's.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS deliveries (
             source TEXT NOT NULL,
             delivery_id TEXT NOT NULL,
             event TEXT NOT NULL,
             repo TEXT NOT NULL,
             git_ref TEXT,
             body BLOB NOT NULL,
             PRIMARY KEY (source, delivery_id)
         )",
    )?;
    Ok(conn)
}

/// The group commit: waits for one delivery, takes every other one
/// already queued, commits them together, answers each.
fn write_loop(mut conn: Connection, queue: mpsc::Receiver<Delivery>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        match commit(&mut conn, &batch) {
            Ok(stored) => {
                for (d, new) in batch.drain(..).zip(stored) {
                    let _ = d.answer.send(Some(new));
                }
            }
            Err(e) => {
                // The error path only: the bench reports the 500s.
                eprintln!("minimal receiver: commit failed: {e}");
                for d in batch.drain(..) {
                    let _ = d.answer.send(None);
                }
            }
        }
    }
}

/// Inserts the batch in one transaction; per delivery, whether it was new.
fn commit(conn: &mut Connection, batch: &[Delivery]) -> rusqlite::Result<Vec<bool>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut stored = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO deliveries (source, delivery_id, event, repo, git_ref, body)
             VALUES ('github', ?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (source, delivery_id) DO NOTHING",
        )?;
        for d in batch {
            let p = &d.payload;
            let rows = insert.execute(params![
                d.id,
                d.event,
                p.repository.full_name,
                p.git_ref,
                &d.body[..]
            ])?;
            stored.push(rows == 1);
        }
    }
    tx.commit()?;
    Ok(stored)
}
