//! The HTTP front door: `POST /hooks/<source>`, `GET /healthz`, `GET /metrics`.
//!
//! A delivery is read with a hard size cap (counted while reading), handed to
//! its source for verification and parsing, routed and rendered, and
//! committed to the outbox; only then is it answered 202. Every refusal has
//! DESIGN's status and a short body that says why.

use std::sync::Arc;

use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;
use poem::error::ReadBodyError;
use poem::http::{Method, StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, EndpointExt, IntoEndpoint, Request, Response, Route, handler};
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

use crate::outbox::{Accepted, DeliveryMeta, Outbox, Store, StoreError};
use crate::pipeline::Pipeline;
use crate::sources::{self, Delivery};

/// Bytes of request bodies that may be in memory at once, across all
/// requests, in KiB. A request reserves its Content-Length (or the body cap
/// when it sends none) before reading; past the budget it gets 503.
const BODY_BUDGET_KIB: usize = 256 * 1024;

/// What request handlers share.
pub struct AppState {
    pub pipeline: ArcSwap<Pipeline>,
    pub store: Arc<dyn Store>,
    pub outbox: Arc<Outbox>,
    pub metrics: Option<PrometheusHandle>,
    body_budget: Semaphore,
}

impl AppState {
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
            body_budget: Semaphore::new(BODY_BUDGET_KIB),
        }
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
    let reserve_kib = declared.map_or(limit, |n| n as usize).min(limit) / 1024 + 1;
    let Ok(_reserved) = state
        .body_budget
        .try_acquire_many(u32::try_from(reserve_kib).unwrap_or(u32::MAX))
    else {
        return rejected(
            &source_label,
            &claimed_id(),
            "busy",
            StatusCode::SERVICE_UNAVAILABLE,
            "too many large deliveries in flight; retry later",
        );
    };
    let bytes = match read_body(body, declared, limit).await {
        Ok(b) => b,
        Err(ReadBodyError::PayloadTooLarge) => return too_large(),
        Err(e) => {
            return rejected(
                &source_label,
                &claimed_id(),
                "read",
                StatusCode::BAD_REQUEST,
                format!("could not read the body: {e}"),
            );
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

    if event.kind == "ping" {
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

/// Reads the body, at most `limit` bytes, into one buffer sized from the
/// declared length (poem's `into_bytes_limit` grows its buffer 4 KiB at a
/// time, copying as it goes). A body longer than it declared is still cut
/// off at `limit`.
async fn read_body(
    body: Body,
    declared: Option<u64>,
    limit: usize,
) -> Result<Vec<u8>, ReadBodyError> {
    let expected = declared.map_or(16 * 1024, |n| usize::try_from(n).unwrap_or(limit));
    let mut buf = Vec::with_capacity(expected.min(limit));
    body.into_async_read()
        .take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .await?;
    if buf.len() > limit {
        return Err(ReadBodyError::PayloadTooLarge);
    }
    Ok(buf)
}

#[handler]
async fn healthz(Data(state): Data<&Arc<AppState>>) -> Response {
    match state.store.check_writable().await {
        Ok(()) => text(StatusCode::OK, "ok"),
        Err(e) => {
            tracing::error!(error = %e, "health check: store is not writable");
            text(StatusCode::SERVICE_UNAVAILABLE, "store is not writable")
        }
    }
}

#[handler]
async fn metrics_text(Data(state): Data<&Arc<AppState>>) -> Response {
    let Some(handle) = &state.metrics else {
        return text(StatusCode::NOT_FOUND, "metrics are not enabled");
    };
    for sink in state.pipeline.load().config.sinks.keys() {
        metrics::gauge!("hookbridge_queue_depth", "sink" => sink.clone()).set(0.0);
    }
    if let Ok(depths) = state.store.depth_by_sink().await {
        for (sink, n) in depths {
            metrics::gauge!("hookbridge_queue_depth", "sink" => sink).set(n as f64);
        }
    }
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
