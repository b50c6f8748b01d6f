//! Reading a delivery's body: a hard size cap counted while reading
//! (whatever `Content-Length` says), a deadline for the whole body, and the
//! memory budget shared by every body in flight, taken as bytes arrive and
//! at most a bounded share per request.

use std::time::Duration;

use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Bytes;
use poem::Body;
use poem::error::ReadBodyError;
use poem::http::{HeaderMap, StatusCode, header};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::conn::ClientWait;
use super::refusal::Refusal;

/// Bytes of request bodies that may be in memory at once, across all
/// requests. A request takes its share as its bytes arrive (never before:
/// a request that announces 25 MiB and sends one byte holds a KiB), and
/// gets 503 when the budget runs out mid-read.
pub const BODY_BUDGET_BYTES: usize = 256 << 20;

/// One request holds at most this part of the budget (an eighth: 32 MiB of
/// the default), so that one sender cannot hold it all; a longer body is
/// answered 413 whatever `max_body_bytes` allows.
pub const BODY_SHARE_DIVISOR: usize = 8;

/// How long a whole request body may take to arrive, from when the handler
/// starts reading it; a slower one is answered 408. (Without it a body
/// trickled one byte a minute would be read for ever.)
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The memory budget for bodies in flight, in KiB permits.
pub(super) struct Budget {
    /// One permit per KiB of body held in memory.
    permits: Semaphore,
    /// The most one request may hold, in KiB.
    share_kib: usize,
}

impl Budget {
    /// A budget of `bytes` (rounded up to whole KiB; at least 1 KiB).
    pub(super) fn new(bytes: usize) -> Budget {
        let kib = bytes.div_ceil(1024).clamp(1, Semaphore::MAX_PERMITS);
        Budget {
            permits: Semaphore::new(kib),
            share_kib: (kib / BODY_SHARE_DIVISOR).max(1),
        }
    }

    /// The most bytes one request may hold.
    pub(super) fn share(&self) -> usize {
        self.share_kib * 1024
    }
}

/// The part of the body budget one request holds, grown as its body arrives
/// and given back when dropped.
struct Reservation<'a> {
    budget: &'a Budget,
    permit: Option<SemaphorePermit<'a>>,
    /// KiB held; at most the budget's share.
    kib: usize,
}

impl<'a> Reservation<'a> {
    /// Nothing held yet.
    fn new(budget: &'a Budget) -> Reservation<'a> {
        Reservation {
            budget,
            permit: None,
            kib: 0,
        }
    }

    /// Holds enough for `bytes`, taking more of the budget if needed.
    fn grow_to(&mut self, bytes: usize) -> Result<(), ReadError> {
        let want = bytes.div_ceil(1024);
        if want <= self.kib {
            return Ok(());
        }
        if want > self.budget.share_kib {
            return Err(ReadError::OverShare);
        }
        let more = u32::try_from(want - self.kib).map_err(|_| ReadError::OverShare)?;
        let more = self
            .budget
            .permits
            .try_acquire_many(more)
            .map_err(|_| ReadError::Busy)?;
        match &mut self.permit {
            Some(held) => held.merge(more),
            None => self.permit = Some(more),
        }
        self.kib = want;
        Ok(())
    }
}

/// A body read whole, and the part of the budget it holds until dropped
/// (the handler keeps it while it verifies, parses and stores the body).
pub(super) struct Received<'a> {
    pub bytes: Vec<u8>,
    _held: Reservation<'a>,
}

/// Reads a delivery's whole body: at most `limit` bytes, within `timeout`,
/// holding a share of `budget` for what it has received. While it waits on
/// the client, `wait` (when the connection gave one) says so, so that a
/// stalled body gives way at the connection cap. Every way it can fail is
/// a [`Refusal`].
pub(super) async fn read<'a>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    budget: &'a Budget,
    timeout: Duration,
    wait: Option<&ClientWait>,
) -> Result<Received<'a>, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let share = budget.share();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Refusal::too_large(limit));
    }
    if declared.is_some_and(|n| n > share as u64) {
        return Err(Refusal::over_share(share));
    }
    let read = read_body(body, declared, limit, budget, wait);
    let result = tokio::time::timeout(timeout, read).await;
    if let Some(wait) = wait {
        wait.working();
    }
    match result {
        Ok(Ok((bytes, held))) => Ok(Received { bytes, _held: held }),
        Ok(Err(ReadError::TooLarge)) => Err(Refusal::too_large(limit)),
        Ok(Err(ReadError::OverShare)) => Err(Refusal::over_share(share)),
        Ok(Err(ReadError::Busy)) => Err(Refusal::busy()),
        Ok(Err(ReadError::Read(e))) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "read",
            format!("could not read the body: {e}"),
        )),
        // the rest of the body is not read: this connection is done
        Err(_elapsed) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "body not received within {}",
                humantime::format_duration(timeout)
            ),
        )
        .closing()),
    }
}

/// Why a body could not be read whole.
enum ReadError {
    /// Longer than `max_body_bytes`.
    TooLarge,
    /// Longer than one request's share of the budget.
    OverShare,
    /// The body budget ran out while reading.
    Busy,
    Read(ReadBodyError),
}

/// Reads the body chunk by chunk as it arrives into one buffer, taking
/// budget for the buffer's capacity before it grows. The buffer grows to
/// twice what it holds, and never past the declared length (plus one byte
/// to tell a body longer than it said), so what a request holds stays
/// within twice what it has sent; a body with a `Content-Length` that comes
/// in one or two chunks is one allocation. A body longer than it declared is still cut off at `limit`.
async fn read_body<'a>(
    body: Body,
    declared: Option<u64>,
    limit: usize,
    budget: &'a Budget,
    wait: Option<&ClientWait>,
) -> Result<(Vec<u8>, Reservation<'a>), ReadError> {
    let mut reserved = Reservation::new(budget);
    // The most bytes worth room: the body, and one byte past the cap.
    let most = declared
        .map_or(limit, |n| usize::try_from(n).unwrap_or(limit))
        .min(limit)
        .saturating_add(1);
    let mut body = BoxBody::<Bytes, std::io::Error>::from(body);
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if let Some(wait) = wait {
            wait.waiting();
        }
        let Some(frame) = body.frame().await else {
            break;
        };
        if let Some(wait) = wait {
            wait.working();
        }
        let frame = frame.map_err(|e| ReadError::Read(e.into()))?;
        let Ok(chunk) = frame.into_data() else {
            continue; // trailers
        };
        let len = buf.len() + chunk.len();
        if len > limit {
            return Err(ReadError::TooLarge);
        }
        if len > budget.share() {
            return Err(ReadError::OverShare);
        }
        if len > buf.capacity() {
            // double what it holds (at least twice this chunk, so a body
            // of two chunks is usually one allocation), never past `most`
            // nor the request's share
            let capacity = len.max(
                buf.capacity()
                    .max(len)
                    .saturating_mul(2)
                    .min(most)
                    .min(budget.share()),
            );
            reserved.grow_to(capacity)?;
            buf.reserve_exact(capacity - buf.len());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf, reserved))
}
