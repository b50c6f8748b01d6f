//! The HTTP front door: `POST /hooks/<source>`, `GET /healthz`, `GET /metrics`.
//!
//! A delivery is read with a hard size cap (counted while reading, see
//! `body`), handed to its source for verification and parsing, routed, and
//! committed to the outbox with its targets (the lane workers render each
//! message when they send it); only then is it answered 202.
//! Every refusal has its documented status and a short body that says why
//! (`refusal`); `/healthz` lives in `health`. Connections, their deadlines
//! and their cap are `conn`'s.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;
use poem::http::{Method, StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, EndpointExt, IntoEndpoint, Request, Response, Route, handler};
use tokio::sync::Mutex;

use crate::config::SourceConfig;
use crate::event::Event;
use crate::outbox::{Accepted, DeliveryMeta, Outbox, Store, StoreError};
use crate::pipeline::Pipeline;
use crate::sources::{self, Delivery};

mod body;
mod conn;
mod health;
mod refusal;

pub use body::{BODY_BUDGET_BYTES, BODY_READ_TIMEOUT, BODY_SHARE_DIVISOR};
pub use conn::{
    HEADER_READ_TIMEOUT, IDLE_TIMEOUT, Limits, MAX_CONNECTIONS, raise_open_file_limit,
    reserved_fds, serve,
};
use refusal::Refusal;

/// What request handlers share.
pub struct AppState {
    pub pipeline: ArcSwap<Pipeline>,
    pub store: Arc<dyn Store>,
    pub outbox: Arc<Outbox>,
    pub metrics: Option<PrometheusHandle>,
    body_budget: body::Budget,
    body_read_timeout: Duration,
    /// Locked across a store write check, so concurrent health checks
    /// share one.
    health: Mutex<health::Health>,
    /// Every sink `hookbridge_queue_depth` has been exported for, so a sink
    /// that left the config (or emptied) reads 0, not its last depth.
    depth_labels: std::sync::Mutex<std::collections::BTreeSet<String>>,
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
            body_budget: body::Budget::new(BODY_BUDGET_BYTES),
            body_read_timeout: BODY_READ_TIMEOUT,
            health: Mutex::new(health::Health::new()),
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
        self.body_budget = body::Budget::new(bytes);
        self
    }
}

/// The service's routes.
pub fn app(state: Arc<AppState>) -> impl IntoEndpoint {
    Route::new()
        .at("/hooks/:source", hook)
        .at("/healthz", health::healthz)
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

/// The one log line of a verified delivery, whatever became of it: every
/// such line carries the same fields, named here once.
struct DeliveryLog<'a> {
    source: &'a str,
    event: &'a Event,
}

impl DeliveryLog<'_> {
    /// `outcome`: `queued` (with the `targets`), `duplicate`, `unrouted`
    /// (with `routes = 0`) or `ping`.
    fn info(&self, outcome: &'static str, targets: Option<&str>, routes: Option<usize>) {
        let e = self.event;
        tracing::info!(source = %self.source, delivery = %e.delivery_id, kind = %e.kind,
            repo = %e.repo.key, targets, routes, outcome, "delivery");
    }

    fn store_error(&self, error: &StoreError) {
        tracing::error!(source = %self.source, delivery = %self.event.delivery_id,
            error = %error.chain(), outcome = "store_error", "delivery");
    }
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
    if req.method() != Method::POST {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "webhooks are delivered with POST",
        );
        r.headers_mut()
            .insert(header::ALLOW, poem::http::HeaderValue::from_static("POST"));
        return r;
    }
    // Known sources only, so a scan of random names cannot grow the label set.
    metrics::counter!(crate::metrics::DELIVERIES_RECEIVED, "source" => source.name.clone())
        .increment(1);

    let limit = pipeline.config.server.max_body_bytes;
    let read = body::read(
        req.headers(),
        body,
        limit,
        &state.body_budget,
        state.body_read_timeout,
        req.extensions().get::<conn::ClientWait>(),
    );
    // Held until the answer: the body stays in memory while it is verified,
    // parsed and stored.
    let received = match read.await {
        Ok(received) => received,
        // Only refusals log the id a request claims; accepted ones log the parsed one.
        Err(refusal) => {
            return refusal.answer(
                &source.name,
                &sources::claimed_delivery_id(source.kind, req.headers()),
            );
        }
    };
    let delivery = Delivery {
        headers: req.headers(),
        query: req.uri().query(),
        body: &received.bytes,
    };
    match deliver(state, &pipeline, source, &delivery).await {
        Ok(answer) => answer,
        Err((refusal, id)) => refusal.answer(&source.name, &id),
    }
}

/// Verifies, parses, routes and stores one delivery whose body has been
/// read (its messages are rendered when they are sent). A refusal comes
/// with the delivery id to log it under.
async fn deliver(
    state: &AppState,
    pipeline: &Pipeline,
    source: &SourceConfig,
    delivery: &Delivery<'_>,
) -> Result<Response, (Refusal, String)> {
    let mut event = sources::receive(source, delivery).map_err(|r| {
        let status = match r {
            sources::Rejection::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            sources::Rejection::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            sources::Rejection::BadRequest(_) => StatusCode::BAD_REQUEST,
            sources::Rejection::TooComplex(_) => StatusCode::PAYLOAD_TOO_LARGE,
        };
        let claimed = match sources::claimed_delivery_id(source.kind, delivery.headers) {
            id if id.is_empty() => sources::body_hash(delivery.body),
            id => id,
        };
        (Refusal::new(status, r.reason(), r.message()), claimed)
    })?;
    let payload = std::mem::take(&mut event.payload);
    let log = DeliveryLog {
        source: &source.name,
        event: &event,
    };
    if crate::pipeline::is_ping(&event) {
        log.info("ping", None, None);
        return Ok(text(StatusCode::OK, "pong: verified; ping is not routed"));
    }
    let payload_json =
        crate::pipeline::payload_json(delivery.body, &payload, event.body_is_payload);
    let origin = crate::pipeline::Origin::new(&event, source.kind, delivery.headers);
    let routed = pipeline.queue(&event, &payload, &origin, &payload_json);
    drop(payload);
    if routed.is_empty() {
        log.info("unrouted", None, Some(0));
        return Ok(text(
            StatusCode::OK,
            format!("verified `{}`; no route matched", event.kind),
        ));
    }
    let targets: Vec<String> = routed
        .iter()
        .map(|r| r.destination.target.to_string())
        .collect();
    let lanes: Vec<_> = routed.iter().map(|r| r.lane.clone()).collect();
    let meta = DeliveryMeta {
        source: source.name.clone(),
        delivery_id: event.delivery_id.clone(),
        kind: event.kind.clone(),
        repo: event.repo.key.clone(),
    };
    let messages = routed.into_iter().flat_map(|r| r.messages).collect();
    match state.store.accept(meta, messages).await {
        Ok(Accepted::Stored(ids)) => {
            for lane in &lanes {
                metrics::counter!(crate::metrics::MESSAGES_ROUTED, "sink" => lane.sink.clone())
                    .increment(1);
                state.outbox.wake(lane);
            }
            log.info("queued", Some(&targets.join(",")), None);
            Ok(text(
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
            ))
        }
        Ok(Accepted::Duplicate) => {
            log.info("duplicate", None, None);
            Ok(text(
                StatusCode::OK,
                format!(
                    "duplicate delivery `{}`: already queued, nothing sent again",
                    event.delivery_id
                ),
            ))
        }
        Err(e) => {
            log.store_error(&e);
            let why = match e {
                StoreError::Busy(_) => "store is busy",
                _ => "store cannot take deliveries now",
            };
            let refusal = Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store",
                format!("{why}; retry later"),
            );
            Err((refusal, event.delivery_id.clone()))
        }
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
                metrics::gauge!(crate::metrics::QUEUE_DEPTH, "sink" => sink.clone()).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e.chain(), "metrics: cannot read queue depths"),
    }
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
