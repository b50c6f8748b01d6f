//! The HTTP front door: `POST /hooks/<source>`, `GET /healthz`, `GET /metrics`.
//!
//! A delivery is read with a hard size cap (counted while reading), handed to
//! its source for verification and parsing, routed and rendered, and
//! committed to the outbox; only then is it answered 202. Every refusal has
//! its documented status and a short body that says why.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;
use poem::error::ReadBodyError;
use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, EndpointExt, IntoEndpoint, Request, Response, Route, handler};
use tokio::io::AsyncReadExt;
use tokio::sync::{Mutex, Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::outbox::{Accepted, DeliveryMeta, Outbox, Store, StoreError};
use crate::pipeline::Pipeline;
use crate::sources::{self, Delivery};

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

/// `/healthz` commits a write through the store's writer queue, so a flood
/// of health checks must not become a flood of writes competing with
/// deliveries: a few checks may run back to back (so that an occasional
/// probe sees the store as it is now), then about one per
/// [`HEALTH_CHECK_EVERY`]; in between, the last answer is reused.
const HEALTH_CHECK_BURST: u32 = 3;
/// See [`HEALTH_CHECK_BURST`].
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(1);
/// A store write check taking longer than this is a failed check (a hung
/// disk must not hang every probe behind the one waiting on it).
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// What request handlers share.
pub struct AppState {
    pub pipeline: ArcSwap<Pipeline>,
    pub store: Arc<dyn Store>,
    pub outbox: Arc<Outbox>,
    pub metrics: Option<PrometheusHandle>,
    /// In KiB: one permit per KiB of body held in memory.
    body_budget: Semaphore,
    /// The budget's whole size, in KiB: the most one request may hold.
    body_budget_kib: usize,
    body_read_timeout: Duration,
    /// Locked across a store write check, so concurrent health checks
    /// share one.
    health: Mutex<Health>,
    /// Every sink `hookbridge_queue_depth` has been exported for, so a sink
    /// that left the config (or emptied) reads 0, not its last depth.
    depth_labels: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// What `/healthz` remembers between requests.
struct Health {
    /// The last store write check: when it finished, and how it went.
    last: Option<(Instant, Result<(), String>)>,
    /// Checks that may run now without waiting, at most
    /// [`HEALTH_CHECK_BURST`]; one more each [`HEALTH_CHECK_EVERY`].
    allowance: u32,
    refilled_at: Instant,
}

impl Health {
    fn new() -> Health {
        Health {
            last: None,
            allowance: HEALTH_CHECK_BURST,
            refilled_at: Instant::now(),
        }
    }

    /// Whether a request that arrived at `arrived` should run a check of
    /// its own; if not, `last` answers it. A check that finished after the
    /// request arrived (it ran while the request waited for the lock) always
    /// answers it.
    fn should_check(&mut self, arrived: Instant) -> bool {
        if let Some((at, _)) = &self.last
            && *at >= arrived
        {
            return false;
        }
        let now = Instant::now();
        let periods = (now - self.refilled_at).as_nanos() / HEALTH_CHECK_EVERY.as_nanos();
        if periods > 0 {
            let n = u32::try_from(periods)
                .unwrap_or(u32::MAX)
                .min(HEALTH_CHECK_BURST);
            self.allowance = (self.allowance + n).min(HEALTH_CHECK_BURST);
            self.refilled_at = if self.allowance == HEALTH_CHECK_BURST {
                now
            } else {
                self.refilled_at + HEALTH_CHECK_EVERY * n
            };
        }
        if self.allowance == 0 && self.last.is_some() {
            return false;
        }
        self.allowance = self.allowance.saturating_sub(1);
        true
    }
}

impl AppState {
    /// State with the default body budget ([`BODY_BUDGET_BYTES`]) and body
    /// read timeout ([`BODY_READ_TIMEOUT`]).
    pub fn new(
        pipeline: Pipeline,
        store: Arc<dyn Store>,
        outbox: Arc<Outbox>,
        metrics: Option<PrometheusHandle>,
    ) -> AppState {
        AppState {
            pipeline: ArcSwap::from_pointee(pipeline),
            store,
            outbox,
            metrics,
            body_budget: Semaphore::new(BODY_BUDGET_BYTES / 1024),
            body_budget_kib: BODY_BUDGET_BYTES / 1024,
            body_read_timeout: BODY_READ_TIMEOUT,
            health: Mutex::new(Health::new()),
            depth_labels: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        }
    }

    /// The same state with another whole-body read timeout (tests use a
    /// short one).
    pub fn with_body_read_timeout(mut self, timeout: Duration) -> AppState {
        self.body_read_timeout = timeout;
        self
    }

    /// The same state with another body budget, in bytes (rounded up to
    /// whole KiB; at least 1 KiB).
    pub fn with_body_budget(mut self, bytes: usize) -> AppState {
        let kib = bytes.div_ceil(1024).clamp(1, Semaphore::MAX_PERMITS);
        self.body_budget = Semaphore::new(kib);
        self.body_budget_kib = kib;
        self
    }
}

/// The part of the body budget one request holds, grown as its body arrives
/// and given back when dropped.
struct Reservation<'a> {
    budget: &'a Semaphore,
    permit: SemaphorePermit<'a>,
    /// KiB held; at most `cap_kib`.
    kib: usize,
    /// The whole budget, in KiB.
    cap_kib: usize,
}

/// The body budget has no room for more bytes now.
struct BudgetExhausted;

impl<'a> Reservation<'a> {
    /// Takes enough of `budget` (`cap_kib` KiB in all) for `bytes`, or
    /// all of it when `bytes` is more than that.
    fn take(budget: &'a Semaphore, cap_kib: usize, bytes: usize) -> Result<Self, BudgetExhausted> {
        let kib = bytes.div_ceil(1024).clamp(1, cap_kib);
        let permit = budget
            .try_acquire_many(u32::try_from(kib).map_err(|_| BudgetExhausted)?)
            .map_err(|_| BudgetExhausted)?;
        Ok(Reservation {
            budget,
            permit,
            kib,
            cap_kib,
        })
    }

    /// Bytes this request may buffer: unbounded once it holds the whole
    /// budget (`max_body_bytes` still bounds it).
    fn bytes(&self) -> usize {
        if self.kib >= self.cap_kib {
            usize::MAX
        } else {
            self.kib * 1024
        }
    }

    /// Holds enough for `bytes` (capped at the whole budget), taking more
    /// of the budget if needed.
    fn grow_to(&mut self, bytes: usize) -> Result<(), BudgetExhausted> {
        let want = bytes.div_ceil(1024).min(self.cap_kib);
        if want <= self.kib {
            return Ok(());
        }
        let more = self
            .budget
            .try_acquire_many(u32::try_from(want - self.kib).map_err(|_| BudgetExhausted)?)
            .map_err(|_| BudgetExhausted)?;
        self.permit.merge(more);
        self.kib = want;
        Ok(())
    }
}

/// The service's routes.
pub fn app(state: Arc<AppState>) -> impl IntoEndpoint {
    Route::new()
        .at("/hooks/:source", hook)
        .at("/healthz", healthz)
        .at("/metrics", metrics_text)
        .data(state)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut body = body.into();
    body.push('\n');
    Response::builder()
        .status(status)
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

fn rejected(
    source: &str,
    delivery: &str,
    reason: &'static str,
    status: StatusCode,
    why: impl Into<String>,
) -> Response {
    metrics::counter!("hookbridge_deliveries_rejected_total", "source" => source.to_string(), "reason" => reason)
        .increment(1);
    let why = why.into();
    tracing::warn!(
        source,
        delivery,
        outcome = "refused",
        status = status.as_u16(),
        reason,
        "delivery refused: {why}"
    );
    text(status, why)
}

#[handler]
async fn hook(
    req: &Request,
    Path(source_name): Path<String>,
    body: Body,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    let pipeline = state.pipeline.load_full();
    let Some(source) = pipeline.config.sources.get(&source_name) else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "no source named `{source_name}`; sources are configured as [sources.<name>] in bridge.toml"
            ),
        );
    };
    // Known sources only, so a scan of random names cannot grow the label set.
    let source_label = source.name.clone();
    if req.method() != Method::POST {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "webhooks are delivered with POST",
        );
        r.headers_mut()
            .insert(header::ALLOW, poem::http::HeaderValue::from_static("POST"));
        return r;
    }
    metrics::counter!("hookbridge_deliveries_received_total", "source" => source_label.clone())
        .increment(1);

    // Only refusals log the id a request claims; accepted ones log the parsed one.
    let claimed_id = || sources::claimed_delivery_id(source.kind, req.headers());
    let limit = pipeline.config.server.max_body_bytes;
    let too_large = || {
        rejected(
            &source_label,
            &claimed_id(),
            "too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body is larger than max_body_bytes ({limit} bytes)"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    // The most bytes worth holding: the body, and one byte past the cap
    // to tell a body that is too large.
    let most = declared.map_or(limit, |n| n as usize).min(limit) + 1;
    let busy = || {
        rejected(
            &source_label,
            &claimed_id(),
            "busy",
            StatusCode::SERVICE_UNAVAILABLE,
            "too many large deliveries in flight; retry later",
        )
    };
    let Ok(mut reserved) = Reservation::take(
        &state.body_budget,
        state.body_budget_kib,
        BODY_RESERVE_STEP.min(most),
    ) else {
        return busy();
    };
    let read = read_body(body, declared, limit, most, &mut reserved);
    let bytes = match tokio::time::timeout(state.body_read_timeout, read).await {
        Ok(Ok(b)) => b,
        Ok(Err(ReadError::TooLarge)) => return too_large(),
        Ok(Err(ReadError::Busy)) => return busy(),
        Ok(Err(ReadError::Read(e))) => {
            return rejected(
                &source_label,
                &claimed_id(),
                "read",
                StatusCode::BAD_REQUEST,
                format!("could not read the body: {e}"),
            );
        }
        Err(_elapsed) => {
            let mut r = rejected(
                &source_label,
                &claimed_id(),
                "timeout",
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "body not received within {}",
                    humantime::format_duration(state.body_read_timeout)
                ),
            );
            // the rest of the body is not read: this connection is done
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };

    let delivery = Delivery {
        headers: req.headers(),
        query: req.uri().query(),
        body: &bytes,
    };
    let mut event = match sources::receive(source, &delivery) {
        Ok(e) => e,
        Err(r) => {
            let status = match r {
                sources::Rejection::Unauthorized(_) => StatusCode::UNAUTHORIZED,
                sources::Rejection::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                sources::Rejection::BadRequest(_) => StatusCode::BAD_REQUEST,
            };
            let claimed = match claimed_id() {
                id if id.is_empty() => sources::body_hash(&bytes),
                id => id,
            };
            return rejected(&source_label, &claimed, r.reason(), status, r.message());
        }
    };

    if crate::pipeline::is_ping(&event) {
        tracing::info!(source = %source_label, delivery = %event.delivery_id, kind = %event.kind, repo = %event.repo.key, outcome = "ping", "delivery");
        return text(StatusCode::OK, "pong: verified; ping is not routed");
    }

    let payload = std::mem::take(&mut event.payload);
    let prepared = pipeline.prepare(&event, payload);
    if prepared.is_empty() {
        tracing::info!(source = %source_label, delivery = %event.delivery_id, kind = %event.kind, repo = %event.repo.key, routes = 0, outcome = "unrouted", "delivery");
        return text(
            StatusCode::OK,
            format!("verified `{}`; no route matched", event.kind),
        );
    }
    let targets: Vec<String> = prepared
        .iter()
        .map(|p| p.destination.target.to_string())
        .collect();
    let lanes: Vec<_> = prepared.iter().map(|p| p.message.lane.clone()).collect();
    let meta = DeliveryMeta {
        source: source_label.clone(),
        delivery_id: event.delivery_id.clone(),
        kind: event.kind.clone(),
        repo: event.repo.key.clone(),
    };
    let messages = prepared.into_iter().map(|p| p.message).collect();
    match state.store.accept(meta, messages).await {
        Ok(Accepted::Stored(ids)) => {
            for lane in &lanes {
                metrics::counter!("hookbridge_messages_routed_total", "sink" => lane.sink.clone())
                    .increment(1);
                state.outbox.wake(lane);
            }
            tracing::info!(source = %source_label, delivery = %event.delivery_id, kind = %event.kind, repo = %event.repo.key, targets = %targets.join(","), outcome = "queued", "delivery");
            text(
                StatusCode::ACCEPTED,
                format!(
                    "verified `{}`: queued {} message{} ({}): ids {}",
                    event.kind,
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" },
                    targets.join(", "),
                    ids.iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            )
        }
        Ok(Accepted::Duplicate) => {
            tracing::info!(source = %source_label, delivery = %event.delivery_id, kind = %event.kind, repo = %event.repo.key, outcome = "duplicate", "delivery");
            text(
                StatusCode::OK,
                format!(
                    "duplicate delivery `{}`: already queued, nothing sent again",
                    event.delivery_id
                ),
            )
        }
        Err(e) => {
            let why = match e {
                StoreError::Busy(_) => "store is busy",
                _ => "store cannot take deliveries now",
            };
            tracing::error!(source = %source_label, delivery = %event.delivery_id, error = %e, outcome = "store_error", "delivery");
            rejected(
                &source_label,
                &event.delivery_id,
                "store",
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{why}; retry later"),
            )
        }
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

/// 200 when the store can commit a write. Concurrent requests share one
/// check, and a flood is answered from the last check once a few have run
/// back to back, so the store sees about one write check a second however
/// many requests arrive ([`HEALTH_CHECK_BURST`], [`HEALTH_CHECK_EVERY`]).
#[handler]
async fn healthz(Data(state): Data<&Arc<AppState>>) -> Response {
    let arrived = Instant::now();
    let result = {
        let mut health = state.health.lock().await;
        match (health.should_check(arrived), &health.last) {
            (false, Some((_, last))) => last.clone(),
            _ => {
                let result =
                    match tokio::time::timeout(HEALTH_CHECK_TIMEOUT, state.store.check_writable())
                        .await
                    {
                        Ok(r) => r.map_err(|e| e.to_string()),
                        Err(_) => Err(format!(
                            "no answer from the store within {}",
                            humantime::format_duration(HEALTH_CHECK_TIMEOUT)
                        )),
                    };
                if let Err(e) = &result {
                    tracing::error!(error = %e, "health check: store is not writable");
                }
                health.last = Some((Instant::now(), result.clone()));
                result
            }
        }
    };
    match result {
        Ok(()) => text(StatusCode::OK, "ok"),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "store is not writable"),
    }
}

#[handler]
async fn metrics_text(Data(state): Data<&Arc<AppState>>) -> Response {
    let Some(handle) = &state.metrics else {
        return text(StatusCode::NOT_FOUND, "metrics are not enabled");
    };
    // On a store error the gauges keep their last values: zeros would say
    // the queues are empty.
    match state.store.depth_by_sink().await {
        Ok(depths) => {
            let mut labels = state
                .depth_labels
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            labels.extend(state.pipeline.load().config.sinks.keys().cloned());
            labels.extend(depths.iter().map(|(sink, _)| sink.clone()));
            for sink in labels.iter() {
                let n = depths
                    .iter()
                    .find(|(s, _)| s == sink)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("hookbridge_queue_depth", "sink" => sink.clone()).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read queue depths"),
    }
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
