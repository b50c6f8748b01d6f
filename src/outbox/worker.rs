//! Delivery workers: one task per lane (sink + channel), each a strict FIFO
//! over the store. A worker paces to its sink's limits, honours rate-limit
//! answers, retries transient failures with jittered exponential backoff,
//! and gives up (`dead`) on permanent errors or messages older than
//! `max_age`. One lane waiting never holds up another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::store::{Lane, Row, Store};
use crate::config::DeliveryConfig;
use crate::sinks::{Outcome, Sink};

/// First retry delay; doubles per attempt up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often an idle lane looks at the store anyway (rows queued by
/// `hookbridge replay` from another process).
const IDLE_POLL: Duration = Duration::from_secs(2);
/// Pause after a store error before trying again.
const STORE_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The sinks workers post through, by name; swapped on reload.
pub type SinkMap = HashMap<String, Arc<Sink>>;

/// Owns the lane workers.
pub struct Outbox {
    store: Arc<dyn Store>,
    sinks: ArcSwap<SinkMap>,
    delivery: ArcSwap<DeliveryConfig>,
    lanes: Mutex<HashMap<Lane, Arc<Notify>>>,
    tasks: Mutex<JoinSet<()>>,
    stop_tx: watch::Sender<bool>,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `attempts`-th retry delay: exponential, capped, with jitter in [50%, 100%].
pub fn backoff(attempts: u32) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1u32 << attempts.min(16));
    let capped = exp.min(MAX_BACKOFF);
    capped.mul_f64(0.5 + fastrand::f64() * 0.5)
}

impl Outbox {
    /// Starts workers for every lane that has pending rows.
    pub async fn start(
        store: Arc<dyn Store>,
        sinks: SinkMap,
        delivery: DeliveryConfig,
    ) -> Arc<Outbox> {
        let (stop_tx, _) = watch::channel(false);
        let outbox = Arc::new(Outbox {
            store,
            sinks: ArcSwap::from_pointee(sinks),
            delivery: ArcSwap::from_pointee(delivery),
            lanes: Mutex::new(HashMap::new()),
            tasks: Mutex::new(JoinSet::new()),
            stop_tx,
        });
        // Lanes with pending rows get workers now, and later too: rows
        // queued again by `hookbridge replay` from another process may sit
        // in a lane this process has no worker for yet.
        let scanner = outbox.clone();
        let mut stop = outbox.stop_tx.subscribe();
        outbox
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spawn(async move {
                loop {
                    match scanner.store.pending_lanes().await {
                        Ok(lanes) => lanes.iter().for_each(|l| scanner.wake_if_idle(l)),
                        Err(e) => tracing::error!(error = %e, "cannot list pending lanes"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = stop.changed() => return,
                    }
                }
            });
        outbox
    }

    /// Makes sure `lane` has a worker and wakes it.
    pub fn wake(self: &Arc<Self>, lane: &Lane) {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = lanes.get(lane) {
            n.notify_one();
            return;
        }
        if *self.stop_tx.borrow() {
            return;
        }
        let notify = Arc::new(Notify::new());
        lanes.insert(lane.clone(), notify.clone());
        let worker = LaneWorker {
            outbox: self.clone(),
            lane: lane.clone(),
            notify,
            stop: self.stop_tx.subscribe(),
        };
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spawn(worker.run());
    }

    /// Starts a worker for `lane` if it has none; leaves running ones alone.
    fn wake_if_idle(self: &Arc<Self>, lane: &Lane) {
        let known = self
            .lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(lane);
        if !known {
            self.wake(lane);
        }
    }

    /// Replaces the sinks and delivery settings (reload). Messages already
    /// queued keep their rendered bodies.
    pub fn reconfigure(&self, sinks: SinkMap, delivery: DeliveryConfig) {
        self.sinks.store(Arc::new(sinks));
        self.delivery.store(Arc::new(delivery));
    }

    /// Stops every worker after the send in hand, and waits for them.
    pub async fn shutdown(&self) {
        let _ = self.stop_tx.send(true);
        let mut tasks =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        while tasks.join_next().await.is_some() {}
    }
}

struct LaneWorker {
    outbox: Arc<Outbox>,
    lane: Lane,
    notify: Arc<Notify>,
    stop: watch::Receiver<bool>,
}

impl LaneWorker {
    /// Waits for `d`, a wake-up, or shutdown. True when stopping.
    async fn pause(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.notify.notified() => {}
            _ = self.stop.changed() => {}
        }
        *self.stop.borrow()
    }

    /// Waits for `d` or shutdown, ignoring wake-ups (pacing and backoff
    /// of the FIFO head are not shortened by new arrivals).
    async fn hold(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.stop.changed() => {}
        }
        *self.stop.borrow()
    }

    async fn run(mut self) {
        let store = self.outbox.store.clone();
        let mut next_send = Instant::now();
        loop {
            if *self.stop.borrow() {
                return;
            }
            let row = match store.head(&self.lane).await {
                Ok(Some(row)) => row,
                Ok(None) => {
                    if self.pause(IDLE_POLL).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(sink = %self.lane.sink, error = %e, "store read failed");
                    if self.hold(STORE_ERROR_PAUSE).await {
                        return;
                    }
                    continue;
                }
            };
            let delivery = self.outbox.delivery.load_full();
            let now = now_ms();
            if now.saturating_sub(row.queued_at) > delivery.max_age.as_millis() as i64 {
                let why = format!(
                    "gave up: not delivered within max_age ({}); last error: {}",
                    humantime::format_duration(delivery.max_age),
                    row.last_error.as_deref().unwrap_or("none")
                );
                self.finish_dead(&row, &why).await;
                continue;
            }
            if row.next_attempt_at > now {
                let wait = Duration::from_millis((row.next_attempt_at - now) as u64);
                if self.hold(wait).await {
                    return;
                }
                continue;
            }
            let Some(sink) = self.outbox.sinks.load().get(&self.lane.sink).cloned() else {
                tracing::warn!(sink = %self.lane.sink, id = row.id, "no sink of that name in the config; message waits");
                if self.pause(IDLE_POLL * 5).await {
                    return;
                }
                continue;
            };
            let wait = next_send.saturating_duration_since(Instant::now());
            if !wait.is_zero() && self.hold(wait).await {
                return;
            }
            self.send(&row, &sink, &mut next_send).await;
        }
    }

    async fn send(&mut self, row: &Row, sink: &Sink, next_send: &mut Instant) {
        let store = &self.outbox.store;
        let channel = (!self.lane.channel.is_empty()).then_some(self.lane.channel.as_str());
        let started = Instant::now();
        let outcome = sink.send(channel, &row.message).await;
        let sink_name = self.lane.sink.clone();
        metrics::histogram!("hookbridge_send_duration_seconds", "sink" => sink_name.clone())
            .record(started.elapsed().as_secs_f64());
        let pace = self
            .outbox
            .delivery
            .load()
            .min_interval
            .unwrap_or_else(|| sink.min_interval());
        *next_send = Instant::now() + pace;
        let result = match &outcome {
            Outcome::Sent { wait } => {
                if let Some(w) = wait {
                    *next_send = (*next_send).max(Instant::now() + *w);
                }
                metrics::counter!("hookbridge_messages_sent_total", "sink" => sink_name)
                    .increment(1);
                tracing::info!(id = row.id, sink = %self.lane.sink, channel = %self.lane.channel, attempts = row.attempts + 1, "sent");
                store.mark_sent(row.id).await
            }
            Outcome::RateLimited { retry_after } => {
                *next_send = (*next_send).max(Instant::now() + *retry_after);
                metrics::counter!("hookbridge_messages_retried_total", "sink" => sink_name)
                    .increment(1);
                let msg = format!(
                    "rate limited; retry after {}",
                    humantime::format_duration(*retry_after)
                );
                tracing::warn!(id = row.id, sink = %self.lane.sink, "{msg}");
                store
                    .mark_retry(row.id, now_ms() + retry_after.as_millis() as i64, &msg)
                    .await
            }
            Outcome::Retry { error } => {
                let delay = backoff(row.attempts);
                metrics::counter!("hookbridge_messages_retried_total", "sink" => sink_name)
                    .increment(1);
                tracing::warn!(id = row.id, sink = %self.lane.sink, attempts = row.attempts + 1, retry_in = %humantime::format_duration(delay), error = %error, "send failed; will retry");
                store
                    .mark_retry(row.id, now_ms() + delay.as_millis() as i64, error)
                    .await
            }
            Outcome::Permanent { error } => {
                self.finish_dead(row, error).await;
                return;
            }
        };
        if let Err(e) = result {
            tracing::error!(id = row.id, error = %e, "cannot record the send outcome");
            let _ = self.hold(STORE_ERROR_PAUSE).await;
        }
    }

    async fn finish_dead(&mut self, row: &Row, why: &str) {
        metrics::counter!("hookbridge_messages_dead_total", "sink" => self.lane.sink.clone())
            .increment(1);
        tracing::error!(id = row.id, sink = %self.lane.sink, channel = %self.lane.channel, error = %why, "message is dead; `hookbridge replay {}` queues it again", row.id);
        if let Err(e) = self.outbox.store.mark_dead(row.id, why).await {
            tracing::error!(id = row.id, error = %e, "cannot record the dead message");
            let _ = self.hold(STORE_ERROR_PAUSE).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for attempts in 0..40 {
            let d = backoff(attempts);
            let full = BASE_BACKOFF
                .saturating_mul(1u32 << attempts.min(16))
                .min(MAX_BACKOFF);
            assert!(d <= full && d >= full / 2, "{attempts}: {d:?}");
        }
        assert!(backoff(30) <= MAX_BACKOFF);
    }
}
