//! A refused delivery: its status, the short reason label that metrics and
//! logs carry, and the text that tells the sender why. [`Refusal::answer`]
//! answers, counts and logs in one step, so no refusal misses one of them.

use poem::Response;
use poem::http::{HeaderValue, StatusCode, header};

use super::text;

/// A delivery turned away, before or after verification.
#[derive(Debug)]
pub(super) struct Refusal {
    status: StatusCode,
    /// The `reason` label of `hookbridge_deliveries_rejected_total`.
    reason: &'static str,
    /// What the sender reads (and the log says).
    why: String,
    /// Whether the connection ends with this answer (the rest of the
    /// request is not read).
    close: bool,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, reason: &'static str, why: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason,
            why: why.into(),
            close: false,
        }
    }

    /// 413: the body is longer than `limit` bytes.
    pub(super) fn too_large(limit: usize) -> Refusal {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("body is larger than max_body_bytes ({limit} bytes)"),
        )
    }

    /// 413: the body is longer than one request may hold in memory.
    pub(super) fn over_share(share: usize) -> Refusal {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "body is larger than one delivery may hold in memory ({share} bytes; \
                 an eighth of the memory for bodies in flight)"
            ),
        )
    }

    /// 503: the memory held for bodies in flight is used up.
    pub(super) fn busy() -> Refusal {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many large deliveries in flight; retry later",
        )
    }

    /// The same refusal, ending the connection after the answer.
    pub(super) fn closing(mut self) -> Refusal {
        self.close = true;
        self
    }

    /// Counts the refusal, logs it with the delivery id it names (the
    /// sender's claim: never trusted, only logged), and answers it.
    pub(super) fn answer(self, source: &str, delivery: &str) -> Response {
        metrics::counter!(crate::metrics::DELIVERIES_REJECTED, "source" => source.to_string(), "reason" => self.reason)
            .increment(1);
        tracing::warn!(
            source,
            delivery,
            outcome = "refused",
            status = self.status.as_u16(),
            reason = self.reason,
            "delivery refused: {}",
            self.why
        );
        let mut r = text(self.status, self.why);
        if self.close {
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }
}
