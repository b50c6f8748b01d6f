//! `GET /healthz`: 200 when the store can commit a write. The check is a
//! real write through the store's writer queue, so a flood of probes is
//! answered from a recent check instead of becoming a flood of writes.

use std::sync::Arc;
use std::time::Duration;

use poem::Response;
use poem::handler;
use poem::http::StatusCode;
use poem::web::Data;
use tokio::time::Instant;

use super::{AppState, text};

/// A few checks may run back to back (so that an occasional probe sees the
/// store as it is now), then about one per [`HEALTH_CHECK_EVERY`]; in
/// between, the last answer is reused.
const HEALTH_CHECK_BURST: u32 = 3;
/// See [`HEALTH_CHECK_BURST`].
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(1);
/// A store write check taking longer than this is a failed check (a hung
/// disk must not hang every probe behind the one waiting on it).
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// What `/healthz` remembers between requests.
pub(super) struct Health {
    /// The last store write check: when it finished, and how it went.
    last: Option<(Instant, Result<(), String>)>,
    /// Checks that may run now without waiting, at most
    /// [`HEALTH_CHECK_BURST`]; one more each [`HEALTH_CHECK_EVERY`].
    allowance: u32,
    refilled_at: Instant,
}

impl Health {
    pub(super) fn new() -> Health {
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

/// One store write check, bounded by [`HEALTH_CHECK_TIMEOUT`].
async fn check(state: &AppState) -> Result<(), String> {
    let result =
        match tokio::time::timeout(HEALTH_CHECK_TIMEOUT, state.store.check_writable()).await {
            Ok(r) => r.map_err(|e| e.chain().to_string()),
            Err(_) => Err(format!(
                "no answer from the store within {}",
                humantime::format_duration(HEALTH_CHECK_TIMEOUT)
            )),
        };
    if let Err(e) = &result {
        tracing::error!(error = %e, "health check: store is not writable");
    }
    result
}

/// 200 when the store can commit a write. Concurrent requests share one
/// check, and a flood is answered from the last check once a few have run
/// back to back, so the store sees about one write check a second however
/// many requests arrive ([`HEALTH_CHECK_BURST`], [`HEALTH_CHECK_EVERY`]).
#[handler]
pub(super) async fn healthz(Data(state): Data<&Arc<AppState>>) -> Response {
    let arrived = Instant::now();
    let result = {
        let mut health = state.health.lock().await;
        match (health.should_check(arrived), &health.last) {
            (false, Some((_, last))) => last.clone(),
            _ => {
                let result = check(state).await;
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
