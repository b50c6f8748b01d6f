//! Connections: accepting them and holding each within bounds, as the best
//! servers do. hyper serves HTTP/1.1 on every connection; this module adds
//! what hyper leaves to the server:
//!
//! - a deadline for a request's headers ([`Limits::header_read_timeout`]),
//!   so a client that sends half a request line cannot hold a connection;
//! - a deadline for a connection on which nothing moves while no request is
//!   in hand ([`Limits::idle_timeout`]), e.g. a client that never reads its
//!   answers;
//! - a cap on open connections ([`Limits::max_connections`], derived from
//!   the open-file limit). When it is reached, the connections that have
//!   waited longest on their client (idle, still sending headers, or with
//!   a body that stalled) are closed to make room, as nginx reuses its idle
//!   connections; new connections wait in the kernel's queue while every
//!   connection is busy answering a request;
//! - an accept loop that backs off when the process runs out of file
//!   descriptors (EMFILE) instead of retrying at once for ever.
//!
//! The request path pays a few relaxed atomic stores per request (busy,
//! waiting on each body chunk, idle again) and a clock read each;
//! registering a connection takes a lock once when it opens and once when
//! it closes.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, IntoEndpoint, Request};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Sleep;

/// How long a request's headers may take to arrive whole, from when the
/// server starts waiting for them: when the connection opens, or when the
/// previous answer on a kept-alive connection was sent. Senders write a
/// webhook's headers at once; 10 s leaves room for a slow network.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection with no request in hand may go without a byte
/// read or written before it is closed (a request's body has its own
/// deadline, `BODY_READ_TIMEOUT`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Open connections at most, whatever the open-file limit allows: each
/// costs memory (buffers, a task), and a webhook relay needs few.
pub const MAX_CONNECTIONS: usize = 4096;

/// File descriptors kept back from connections out of an open-file limit of
/// `nofile`: the store's files, the sinks' HTTPS connections, the listener,
/// the runtime's own. An eighth of the limit, at least 64 and at most 1,024.
pub fn reserved_fds(nofile: u64) -> u64 {
    (nofile / 8).clamp(64, 1024)
}

/// First pause after an accept error that is not about one connection
/// (out of file descriptors or memory); doubles up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// While at the cap with every connection busy, how often idle ones are
/// looked for again (a busy connection that finishes its request becomes
/// idle, and gives way).
const CAP_RECHECK: Duration = Duration::from_millis(50);
/// The cap and accept-error warnings are logged at most this often each,
/// with a count of what happened in between.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The bounds on connections; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: MAX_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

impl Limits {
    /// The defaults, with at most as many connections as an open-file
    /// limit of `nofile` leaves room for ([`reserved_fds`]).
    pub fn for_open_files(nofile: u64) -> Limits {
        let room = nofile.saturating_sub(reserved_fds(nofile)).max(1);
        Limits {
            max_connections: usize::try_from(room)
                .unwrap_or(usize::MAX)
                .min(MAX_CONNECTIONS),
            ..Limits::default()
        }
    }
}

/// Raises the soft open-file limit to the hard one, where allowed, and
/// returns the soft limit in force (`None` where it cannot be read).
pub fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// `idle_since` of a connection answering a request.
const BUSY: u64 = u64::MAX;
/// `idle_since` of a connection told to close.
const CLOSING: u64 = u64::MAX - 1;

/// One open connection, as the accept loop sees it.
struct Slot {
    /// When the connection last had no request in hand, as
    /// [`Registry::now`]; [`BUSY`] or [`CLOSING`].
    idle_since: AtomicU64,
    /// Tells the connection's task to drop it.
    close: Notify,
}

/// The open connections, so that the accept loop can close idle ones.
struct Registry {
    epoch: Instant,
    slots: Mutex<Slab>,
}

#[derive(Default)]
struct Slab {
    entries: Vec<Option<Arc<Slot>>>,
    free: Vec<usize>,
}

impl Registry {
    fn new() -> Registry {
        Registry {
            epoch: Instant::now(),
            slots: Mutex::new(Slab::default()),
        }
    }

    /// Nanoseconds since the registry was made, from 1: fine enough that
    /// connections accepted in one burst are told apart.
    fn now(epoch: Instant) -> u64 {
        u64::try_from(epoch.elapsed().as_nanos())
            .unwrap_or(CLOSING - 1)
            .saturating_add(1)
            .min(CLOSING - 1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slab> {
        // A slab of pointers stays consistent whatever panicked.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new connection, idle from now; gone from the registry when the
    /// returned [`Registered`] drops.
    fn register(self: &Arc<Self>) -> Registered {
        let slot = Arc::new(Slot {
            idle_since: AtomicU64::new(Registry::now(self.epoch)),
            close: Notify::new(),
        });
        let mut slab = self.lock();
        let index = match slab.free.pop() {
            Some(i) => {
                slab.entries[i] = Some(slot.clone());
                i
            }
            None => {
                slab.entries.push(Some(slot.clone()));
                slab.entries.len() - 1
            }
        };
        Registered {
            registry: self.clone(),
            index,
            slot,
        }
    }

    /// Tells the `n` connections idle the longest to close; returns how
    /// many were told.
    fn close_idle(&self, n: usize) -> usize {
        let slab = self.lock();
        let mut idle: Vec<(u64, usize)> = slab
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let since = s.as_ref()?.idle_since.load(Ordering::Relaxed);
                (since < CLOSING).then_some((since, i))
            })
            .collect();
        if n < idle.len() {
            idle.select_nth_unstable(n);
            idle.truncate(n);
        }
        let mut told = 0;
        for (since, i) in idle {
            if let Some(slot) = &slab.entries[i]
                && slot
                    .idle_since
                    .compare_exchange(since, CLOSING, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                slot.close.notify_one();
                told += 1;
            }
        }
        told
    }

    /// Tells every connection to close (after the drain deadline).
    fn close_all(&self) {
        for slot in self.lock().entries.iter().flatten() {
            slot.idle_since.store(CLOSING, Ordering::Relaxed);
            slot.close.notify_one();
        }
    }
}

/// A connection's place in the [`Registry`], given back on drop.
struct Registered {
    registry: Arc<Registry>,
    index: usize,
    slot: Arc<Slot>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut slab = self.registry.lock();
        slab.entries[self.index] = None;
        slab.free.push(self.index);
    }
}

/// Marks a connection busy while a request is answered, idle again after.
struct Busy {
    slot: Arc<Slot>,
    epoch: Instant,
}

impl Busy {
    fn enter(slot: &Arc<Slot>, epoch: Instant) -> Busy {
        slot.idle_since.store(BUSY, Ordering::Relaxed);
        Busy {
            slot: slot.clone(),
            epoch,
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.slot
            .idle_since
            .store(Registry::now(self.epoch), Ordering::Relaxed);
    }
}

/// Given to a request (in its extensions) so that the handler can say when
/// it waits on the client: a request whose body has stalled is as idle as
/// a connection still sending its headers, and gives way to new
/// connections at the cap the same way.
#[derive(Clone)]
pub(crate) struct ClientWait {
    slot: Arc<Slot>,
    epoch: Instant,
}

impl ClientWait {
    /// Waiting for the client from now on.
    pub(crate) fn waiting(&self) {
        self.slot
            .idle_since
            .store(Registry::now(self.epoch), Ordering::Relaxed);
    }

    /// The client sent something: working on the request again.
    pub(crate) fn working(&self) {
        self.slot.idle_since.store(BUSY, Ordering::Relaxed);
    }
}

/// A rate-limited warning: at most one per [`LOG_EVERY`], counting the
/// times it was held back.
struct Every {
    last: Option<Instant>,
    held_back: u64,
}

impl Every {
    const fn new() -> Every {
        Every {
            last: None,
            held_back: 0,
        }
    }

    /// `Some(times held back since the last one)` when a line is due now.
    fn due(&mut self) -> Option<u64> {
        if self.last.is_some_and(|at| at.elapsed() < LOG_EVERY) {
            self.held_back += 1;
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.held_back))
    }
}

/// Accept errors that concern one connection (it went away before it was
/// accepted): the next accept may succeed at once.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Serves `ep` on `listener` within `limits` until `shutdown` resolves;
/// then stops accepting, lets open requests finish for at most `drain`, and
/// closes what is left.
pub async fn serve<E>(
    listener: TcpListener,
    ep: E,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> io::Result<()>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let ep = Arc::new(ep.into_endpoint().map_to_response());
    let local = listener.local_addr()?;
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max));
    let registry = Arc::new(Registry::new());
    // Each connection's task holds a receiver; `true` starts the drain.
    let (drain_tx, drain_rx) = watch::channel(false);
    // Idle connections closed per look when the cap is reached.
    let batch = (max / 16).max(1);
    let mut cap_warning = Every::new();
    let mut accept_warning = Every::new();
    let mut backoff: Option<Duration> = None;
    tokio::pin!(shutdown);

    'accept: loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = None;
                accepted
            }
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                // Out of file descriptors (or memory): idle connections give
                // way, and the next try waits a little longer each time
                // instead of spinning.
                let closed = registry.close_idle(batch);
                let pause =
                    backoff.map_or(ACCEPT_BACKOFF_FIRST, |d| (d * 2).min(ACCEPT_BACKOFF_MAX));
                backoff = Some(pause);
                if let Some(held_back) = accept_warning.due() {
                    tracing::error!(
                        error = %e,
                        closed_idle = closed,
                        held_back,
                        retry_in = %humantime::format_duration(pause),
                        "cannot accept connections (raise LimitNOFILE if this says too many open files)"
                    );
                }
                tokio::select! {
                    () = tokio::time::sleep(pause) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        // At the cap, the accepted connection waits for room, and the
        // connections idle the longest make it (never this one: it is not
        // registered yet).
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => loop {
                let closed = registry.close_idle(batch);
                if let Some(held_back) = cap_warning.due() {
                    tracing::warn!(
                        max_connections = max,
                        closed_idle = closed,
                        held_back,
                        "connection cap reached: closing the connections idle the longest; \
                         new connections wait while all are busy (raise LimitNOFILE, or limit \
                         connections per client in front of hookbridge)"
                    );
                }
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => break p,
                        Err(_) => break 'accept,
                    },
                    () = tokio::time::sleep(CAP_RECHECK) => {}
                    () = &mut shutdown => break 'accept,
                }
            },
        };
        let conn = Conn {
            registered: registry.register(),
            epoch: registry.epoch,
            local,
            peer,
            limits,
        };
        let ep = ep.clone();
        let drain_rx = drain_rx.clone();
        tokio::spawn(async move {
            conn.serve(stream, ep, drain_rx).await;
            drop(permit);
        });
    }
    drop(listener);
    finish(permits, max, registry, drain_tx, drain).await
}

/// The drain: open connections finish the request in hand (idle ones close
/// at once); after `drain` the rest are closed.
async fn finish(
    permits: Arc<Semaphore>,
    max: usize,
    registry: Arc<Registry>,
    drain_tx: watch::Sender<bool>,
    drain: Duration,
) -> io::Result<()> {
    let _ = drain_tx.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(drain, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            drain = %humantime::format_duration(drain),
            "connections still open after the drain; closing them"
        );
        registry.close_all();
    }
    Ok(())
}

/// One accepted connection.
struct Conn {
    registered: Registered,
    epoch: Instant,
    local: SocketAddr,
    peer: SocketAddr,
    limits: Limits,
}

impl Conn {
    async fn serve<E>(self, stream: TcpStream, ep: Arc<E>, mut drain: watch::Receiver<bool>)
    where
        E: Endpoint<Output = poem::Response> + 'static,
    {
        let slot = self.registered.slot.clone();
        let (epoch, local, peer) = (self.epoch, self.local, self.peer);
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let busy = Busy::enter(&slot, epoch);
            req.extensions_mut().insert(ClientWait {
                slot: slot.clone(),
                epoch,
            });
            let ep = ep.clone();
            async move {
                let req = Request::from((
                    req,
                    LocalAddr(local.into()),
                    RemoteAddr(peer.into()),
                    Scheme::HTTP,
                ));
                let resp = ep.get_response(req).await;
                drop(busy);
                Ok::<_, Infallible>(hyper::Response::from(resp))
            }
        });
        let io = Watched::new(
            stream,
            self.registered.slot.clone(),
            self.limits.idle_timeout,
        );
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout);
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut draining = *drain.borrow();
        if draining {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended");
                    }
                    return;
                }
                () = self.registered.slot.close.notified() => {
                    tracing::debug!(peer = %self.peer, "connection closed to make room");
                    return;
                }
                _ = drain.changed(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// A socket that fails with `TimedOut` once nothing has been read or
/// written on it for `idle` while its connection has no request in hand.
/// The timer is re-armed only when it fires, not on every byte.
struct Watched {
    io: TcpStream,
    slot: Arc<Slot>,
    idle: Duration,
    /// When a byte last moved.
    last: Instant,
    timer: Pin<Box<Sleep>>,
}

impl Watched {
    fn new(io: TcpStream, slot: Arc<Slot>, idle: Duration) -> Watched {
        let now = Instant::now();
        Watched {
            io,
            slot,
            idle,
            last: now,
            timer: Box::pin(tokio::time::sleep_until((now + idle).into())),
        }
    }

    /// Called when the socket is not ready: `Ready(error)` once the
    /// connection has been idle too long, else `Pending` (with the timer
    /// armed to wake this task).
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            let due = self.last + self.idle;
            let busy = self.slot.idle_since.load(Ordering::Relaxed) == BUSY;
            if now >= due && !busy {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle too long",
                ));
            }
            let next = if busy { now + self.idle } else { due };
            self.timer.as_mut().reset(next.into());
        }
    }

    fn moved(&mut self, n: usize) {
        if n > 0 {
            self.last = Instant::now();
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.moved(buf.filled().len() - before);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.moved(n);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                this.moved(n);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_the_process_own_files() {
        assert_eq!(Limits::for_open_files(256).max_connections, 192);
        assert_eq!(Limits::for_open_files(1024).max_connections, 896);
        assert_eq!(
            Limits::for_open_files(1 << 20).max_connections,
            MAX_CONNECTIONS
        );
        assert_eq!(Limits::for_open_files(10).max_connections, 1);
    }

    #[test]
    fn the_longest_idle_close_first_and_busy_ones_never() {
        let registry = Arc::new(Registry::new());
        let conns: Vec<Registered> = (0..5).map(|_| registry.register()).collect();
        for (c, since) in conns.iter().zip([50, 10, 40, 20, 30]) {
            c.slot.idle_since.store(since, Ordering::Relaxed);
        }
        conns[1].slot.idle_since.store(BUSY, Ordering::Relaxed);
        assert_eq!(registry.close_idle(2), 2);
        let closing: Vec<bool> = conns
            .iter()
            .map(|c| c.slot.idle_since.load(Ordering::Relaxed) == CLOSING)
            .collect();
        assert_eq!(closing, [false, false, false, true, true]);
        // the rest, busy excepted
        assert_eq!(registry.close_idle(10), 2);
        assert_eq!(conns[1].slot.idle_since.load(Ordering::Relaxed), BUSY);
        // places are reused
        drop(conns);
        let again: Vec<Registered> = (0..5).map(|_| registry.register()).collect();
        assert_eq!(registry.lock().entries.len(), again.len());
    }
}
