//! Reading a delivery's body: a hard size cap counted while reading
//! (whatever `Content-Length` says), a deadline for the whole body, and the
//! memory budget shared by every body in flight.

use std::time::Duration;

use poem::Body;
use poem::error::ReadBodyError;
use poem::http::{HeaderMap, StatusCode, header};
use tokio::io::AsyncReadExt;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::refusal::Refusal;

/// Bytes of request bodies that may be in memory at once, across all
/// requests. A request holds a share of it for the bytes it has actually
/// received (reserved [`BODY_RESERVE_STEP`] at a time, so a slow sender holds
/// only what it sent); when the budget runs out mid-read it gets 503. One
/// request never holds more than the whole budget: a body larger than the
/// budget (`max_body_bytes` may be up to 1 GiB) is read while holding all of it.
pub const BODY_BUDGET_BYTES: usize = 256 << 20;

/// How much of the body budget a request takes at a time: up front (or its
/// Content-Length, when smaller) and then each time its buffer fills what
/// it holds.
const BODY_RESERVE_STEP: usize = 64 << 10;

/// How long a whole request body may take to arrive, from when the handler
/// starts reading it; a slower one is answered 408. (The server's idle
/// timeout restarts on every byte, so without this a body trickled one byte
/// a minute would be read for ever.)
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The memory budget for bodies in flight, in KiB permits.
pub(super) struct Budget {
    /// One permit per KiB of body held in memory.
    permits: Semaphore,
    /// The budget's whole size, in KiB: the most one request may hold.
    kib: usize,
}

impl Budget {
    /// A budget of `bytes` (rounded up to whole KiB; at least 1 KiB).
    pub(super) fn new(bytes: usize) -> Budget {
        let kib = bytes.div_ceil(1024).clamp(1, Semaphore::MAX_PERMITS);
        Budget {
            permits: Semaphore::new(kib),
            kib,
        }
    }
}

/// The part of the body budget one request holds, grown as its body arrives
/// and given back when dropped.
struct Reservation<'a> {
    budget: &'a Budget,
    permit: SemaphorePermit<'a>,
    /// KiB held; at most the whole budget.
    kib: usize,
}

/// The body budget has no room for more bytes now.
struct BudgetExhausted;

impl<'a> Reservation<'a> {
    /// Takes enough of `budget` for `bytes`, or all of it when `bytes` is
    /// more than that.
    fn take(budget: &'a Budget, bytes: usize) -> Result<Self, BudgetExhausted> {
        let kib = bytes.div_ceil(1024).clamp(1, budget.kib);
        let permit = budget
            .permits
            .try_acquire_many(u32::try_from(kib).map_err(|_| BudgetExhausted)?)
            .map_err(|_| BudgetExhausted)?;
        Ok(Reservation {
            budget,
            permit,
            kib,
        })
    }

    /// Bytes this request may buffer: unbounded once it holds the whole
    /// budget (`max_body_bytes` still bounds it).
    fn bytes(&self) -> usize {
        if self.kib >= self.budget.kib {
            usize::MAX
        } else {
            self.kib * 1024
        }
    }

    /// Holds enough for `bytes` (capped at the whole budget), taking more
    /// of the budget if needed.
    fn grow_to(&mut self, bytes: usize) -> Result<(), BudgetExhausted> {
        let want = bytes.div_ceil(1024).min(self.budget.kib);
        if want <= self.kib {
            return Ok(());
        }
        let more = self
            .budget
            .permits
            .try_acquire_many(u32::try_from(want - self.kib).map_err(|_| BudgetExhausted)?)
            .map_err(|_| BudgetExhausted)?;
        self.permit.merge(more);
        self.kib = want;
        Ok(())
    }
}

/// Reads a delivery's whole body: at most `limit` bytes, within `timeout`,
/// holding a share of `budget` for what it has read. Every way it can fail
/// is a [`Refusal`].
pub(super) async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    budget: &Budget,
    timeout: Duration,
) -> Result<Vec<u8>, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Refusal::too_large(limit));
    }
    // The most bytes worth holding: the body, and one byte past the cap
    // to tell a body that is too large.
    let most = declared.map_or(limit, |n| n as usize).min(limit) + 1;
    let Ok(mut reserved) = Reservation::take(budget, BODY_RESERVE_STEP.min(most)) else {
        return Err(Refusal::busy());
    };
    let read = read_body(body, declared, limit, most, &mut reserved);
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(ReadError::TooLarge)) => Err(Refusal::too_large(limit)),
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
    /// The body budget ran out while reading.
    Busy,
    Read(ReadBodyError),
}

/// Reads the body, at most `limit` bytes, into one buffer sized from the
/// declared length (poem's `into_bytes_limit` grows its buffer 4 KiB at a
/// time, copying as it goes). A body longer than it declared is still cut
/// off at `limit`. `reserved` is grown ahead of the bytes read, never to
/// more than `most`; the caller bounds the time it takes.
async fn read_body(
    body: Body,
    declared: Option<u64>,
    limit: usize,
    most: usize,
    reserved: &mut Reservation<'_>,
) -> Result<Vec<u8>, ReadError> {
    let expected = declared.map_or(16 * 1024, |n| usize::try_from(n).unwrap_or(limit));
    // No more capacity than the budget held: a stalled upload declaring
    // 1 GiB must not get a 1 GiB buffer.
    let mut buf = Vec::with_capacity(expected.min(limit).min(reserved.bytes()));
    let mut reader = body.into_async_read().take(limit as u64 + 1);
    loop {
        if buf.len() >= reserved.bytes() {
            // another step, but no more than the body can still bring
            let want = (buf.len() + BODY_RESERVE_STEP).min(most.max(buf.len() + 1));
            reserved.grow_to(want).map_err(|_| ReadError::Busy)?;
        }
        // never more in the buffer than is reserved
        let room = reserved.bytes() - buf.len();
        let n = (&mut reader)
            .take(room as u64)
            .read_buf(&mut buf)
            .await
            .map_err(|e| ReadError::Read(e.into()))?;
        if n == 0 {
            break;
        }
    }
    if buf.len() > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(buf)
}
