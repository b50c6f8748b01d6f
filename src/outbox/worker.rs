//! Delivery workers: one task per lane (sink + channel), each a strict FIFO
//! over the store. A worker paces to its sink's limits, honours rate-limit
//! answers (waiting at least a second after any), retries transient
//! failures with jittered exponential backoff, makes at most one failed
//! attempt a second, and gives up (`dead`) on permanent errors or messages
//! older than `max_age`. One lane waiting never holds up another.
//!
//! A worker renders each message when its turn comes (`pipeline::ready`),
//! with the templates loaded now: a message the template leaves out is
//! marked sent without a call, and takes no turn of the lane's pace.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use super::store::{Lane, Row, RowId, Store, StoreError, ThreadIds, ThreadState, Verdict};
use crate::config::DeliveryConfig;
use crate::pipeline::{Ready, ready};
use crate::render::{Card, Renderer};
use crate::sinks::{Outcome, Sink, ThreadCall, ThreadOutcome};
use crate::threads::{self, Op, Threading, merge};

/// First retry delay; doubles per attempt up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often an idle lane looks at the store anyway (rows queued by
/// `hookbridge replay` from another process).
const IDLE_POLL: Duration = Duration::from_secs(2);
/// Pause after a store error before trying again.
const STORE_ERROR_PAUSE: Duration = Duration::from_secs(1);
/// First pause before trying again to record a send's outcome; doubles up
/// to [`RECORD_RETRY_MAX`]. The outcome is kept meanwhile, never re-sent.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(200);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(10);
/// At shutdown, how long a worker keeps trying to record an outcome that
/// is neither in the store nor in the outcome journal, before it stops
/// anyway (and the message is sent again after the restart).
const RECORD_AT_SHUTDOWN: Duration = Duration::from_secs(10);
/// The longest wait this code ever schedules for a row: a platform's
/// Retry-After, capped. A stored `next_attempt_at` further away than what
/// could have been scheduled means the wall clock went back.
const MAX_SCHEDULED_WAIT: Duration = crate::sinks::MAX_PLATFORM_WAIT;
/// How `last_error` starts for a rate-limited row (its wait may be long).
const RATE_LIMITED: &str = "rate limited";
/// The least wait after a 429, whatever it says: `Retry-After: 0` (or a
/// Discord `retry_after` of 0) would have a lane retry at once, hundreds of
/// times a second.
const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);
/// The least time between an attempt that did not succeed (a 429, an
/// error, a permanent refusal) and the lane's next attempt: at most one
/// failed request a second per lane, however its rows fail. Platforms
/// ban clients that send many invalid requests (Discord: 10,000 in ten
/// minutes); successful sends keep their own pace.
const MIN_GAP_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// How many messages are parsed and rendered at once, across all lanes.
const RENDERS_AT_ONCE: usize = 1;

/// The sinks workers post through, by name; swapped on reload.
pub type SinkMap = HashMap<String, Arc<Sink>>;

/// Owns the lane workers.
pub struct Outbox {
    store: Arc<dyn Store>,
    sinks: ArcSwap<SinkMap>,
    delivery: ArcSwap<DeliveryConfig>,
    /// The templates messages are rendered with when they are sent.
    renderer: ArcSwap<Renderer>,
    /// Renders run off the async threads, [`RENDERS_AT_ONCE`] at a time: a
    /// large payload parsed and rendered for several lanes at once must
    /// not hold up accepting.
    renders: Arc<Semaphore>,
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
    /// Starts workers for every lane that has pending rows; they render
    /// with `renderer`.
    pub async fn start(
        store: Arc<dyn Store>,
        sinks: SinkMap,
        delivery: DeliveryConfig,
        renderer: Arc<Renderer>,
    ) -> Arc<Outbox> {
        let (stop_tx, _) = watch::channel(false);
        let outbox = Arc::new(Outbox {
            store,
            sinks: ArcSwap::from_pointee(sinks),
            delivery: ArcSwap::from_pointee(delivery),
            renderer: ArcSwap::new(renderer),
            renders: Arc::new(Semaphore::new(RENDERS_AT_ONCE)),
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
                        Err(e) => tracing::error!(error = %e.chain(), "cannot list pending lanes"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = stop.changed() => return,
                    }
                }
            });
        // Several replicas: a lane this process takes over gets its worker now.
        let weak = Arc::downgrade(&outbox);
        outbox
            .store
            .leases()
            .on_acquire(Arc::new(move |lane: &Lane| {
                if let Some(o) = weak.upgrade() {
                    o.wake(lane);
                }
            }));
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
            due: None,
            keep: Vec::new(),
            posted: None,
            rendered: None,
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

    /// Replaces the sinks, delivery settings and templates (reload).
    /// Messages already queued are rendered with the new templates when
    /// they are sent.
    pub fn reconfigure(&self, sinks: SinkMap, delivery: DeliveryConfig, renderer: Arc<Renderer>) {
        let old = self.sinks.load();
        for (name, sink) in &sinks {
            if let Some(previous) = old.get(name) {
                sink.inherit_limits(previous);
            }
        }
        self.sinks.store(Arc::new(sinks));
        self.delivery.store(Arc::new(delivery));
        self.renderer.store(renderer);
    }

    /// Stops every worker after the send in hand, and waits for them.
    pub async fn shutdown(&self) {
        let _ = self.stop_tx.send(true);
        let mut tasks =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        while tasks.join_next().await.is_some() {}
        // Several replicas: the others take this one's lanes at once.
        self.store.leases().release_all().await;
    }
}

struct LaneWorker {
    outbox: Arc<Outbox>,
    lane: Lane,
    notify: Arc<Notify>,
    stop: watch::Receiver<bool>,
    /// When the head row is due, on the monotonic clock: the row, its
    /// stored `next_attempt_at`, and the instant. Waits are timed with this
    /// rather than the wall clock, so a clock stepped back does not stretch
    /// them.
    due: Option<(RowId, i64, Instant)>,
    /// Thread ids learnt by the send in hand, kept with its `sent`.
    keep: Vec<(String, ThreadState)>,
    /// The card the send in hand posts, when it was rendered from a queued
    /// message: kept in the row in its place once sent.
    posted: Option<String>,
    /// The head row as rendered, and the templates it was rendered with:
    /// a head that waits for its turn is rendered once.
    rendered: Option<(RowId, Arc<Renderer>, Ready<'static>)>,
}

impl Drop for LaneWorker {
    /// A worker that ends (shutdown, or a panic) leaves the lane map, so
    /// the next wake-up or scan starts a new one instead of notifying
    /// nobody.
    fn drop(&mut self) {
        let mut lanes = self
            .outbox
            .lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if lanes
            .get(&self.lane)
            .is_some_and(|n| Arc::ptr_eq(n, &self.notify))
        {
            lanes.remove(&self.lane);
        }
    }
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
        let leases = store.leases();
        let lane = self.lane.clone();
        let mut next_send = Instant::now();
        loop {
            if *self.stop.borrow() {
                return;
            }
            // what a previous turn posted is never recorded for another row
            self.posted = None;
            let row = match store.head(&self.lane).await {
                Ok(Some(row)) => row,
                Ok(None) => {
                    if self.pause(IDLE_POLL).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(sink = %self.lane.sink, error = %e.chain(), "store read failed");
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
                if self.record(&row, Verdict::Dead { error: why }).await {
                    return;
                }
                continue;
            }
            // Waits are held in steps of at most IDLE_POLL, reading the head
            // again after each: a replayed row, a changed config or max_age
            // is seen within one step.
            let wait = self.until_due(&row, now);
            if !wait.is_zero() {
                if self.hold(wait.min(IDLE_POLL)).await {
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
            let Some(ready) = self.render(&row, &sink).await else {
                // the runtime is stopping
                continue;
            };
            let message = match ready {
                Ready::Send(message) => message.into_owned(),
                Ready::Nothing => {
                    metrics::counter!(crate::metrics::MESSAGES_EMPTY, "sink" => self.lane.sink.clone())
                        .increment(1);
                    tracing::info!(id = row.id, sink = %self.lane.sink, channel = %self.lane.channel,
                        "the template renders nothing for this event; nothing posted");
                    if self.record(&row, Verdict::Sent).await {
                        return;
                    }
                    continue;
                }
                Ready::Unreadable(error) => {
                    if self.record(&row, Verdict::Dead { error }).await {
                        return;
                    }
                    continue;
                }
            };
            // The lane's own pace, then the sink's (a global rate limit, a
            // bot's pace across channels), claimed only when about to send.
            let mut wait = next_send.saturating_duration_since(Instant::now());
            if wait.is_zero()
                && let Some(at) = sink.claim_send()
            {
                wait = at.saturating_duration_since(Instant::now());
            }
            if !wait.is_zero() {
                if self.hold(wait.min(IDLE_POLL)).await {
                    return;
                }
                continue;
            }
            // Several replicas: a send still in flight when this replica's
            // lease on the lane runs out is cut off; the lane's new owner
            // sends the row.
            self.posted = (message != row.message).then(|| message.clone());
            let verdict = tokio::select! {
                biased; // a lease already gone: the send does not start
                () = leases.lost(&lane) => {
                    tracing::warn!(id = row.id, sink = %lane.sink, channel = %lane.channel, "lane lease ran out mid-send; another replica sends this lane now");
                    continue;
                }
                v = self.send(&row, &message, &sink, &mut next_send) => v,
            };
            if self.record(&row, verdict).await {
                return;
            }
        }
    }

    /// How long until `row` may be sent. A row this worker scheduled is
    /// timed on the monotonic clock; any other (after a restart) from its
    /// stored wall-clock time, capped at the longest wait ever scheduled.
    fn until_due(&mut self, row: &Row, now: i64) -> Duration {
        if row.next_attempt_at <= now {
            return Duration::ZERO;
        }
        let due = match self.due {
            Some((id, at, due)) if id == row.id && at == row.next_attempt_at => due,
            _ => {
                // Not scheduled by this worker (a restart, or a clock that
                // went back): no wait is longer than what could have been
                // scheduled for it. A row never tried was due when queued.
                let longest = if row.attempts == 0 {
                    Duration::ZERO
                } else if row
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.starts_with(RATE_LIMITED))
                {
                    MAX_SCHEDULED_WAIT
                } else {
                    MAX_BACKOFF
                };
                let wall = Duration::from_millis((row.next_attempt_at - now).unsigned_abs());
                let due = Instant::now() + wall.min(longest);
                self.due = Some((row.id, row.next_attempt_at, due));
                due
            }
        };
        due.saturating_duration_since(Instant::now())
    }

    /// `row` rendered for `sink` with the current templates (kept while
    /// the row waits for its turn, until the templates change), on a
    /// blocking thread. `None` when the runtime is stopping.
    async fn render(&mut self, row: &Row, sink: &Sink) -> Option<Ready<'static>> {
        let renderer = self.outbox.renderer.load_full();
        if let Some((id, with, ready)) = &self.rendered
            && *id == row.id
            && Arc::ptr_eq(with, &renderer)
        {
            return Some(ready.clone());
        }
        let permit = self.outbox.renders.clone().acquire_owned().await.ok()?;
        let stored = row.message.clone();
        let platform = sink.platform();
        let with = renderer.clone();
        let done = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            ready(&with, &stored, platform).into_owned()
        })
        .await;
        let ready = match done {
            Ok(ready) => ready,
            Err(e) if e.is_panic() => {
                tracing::error!(id = row.id, sink = %self.lane.sink, "rendering this message panicked");
                Ready::Unreadable("rendering this message failed (a panic; see the log)".into())
            }
            Err(_) => return None,
        };
        self.rendered = Some((row.id, renderer, ready.clone()));
        Some(ready)
    }

    /// Posts `message`, the card of `row`, and decides what becomes of it.
    async fn send(
        &mut self,
        row: &Row,
        message: &str,
        sink: &Sink,
        next_send: &mut Instant,
    ) -> Verdict {
        let lane_channel = self.lane.channel.clone();
        let channel = (!lane_channel.is_empty()).then_some(lane_channel.as_str());
        let started = Instant::now();
        self.keep.clear();
        let outcome = match threads::of_stored(message) {
            None => sink.send(channel, message).await,
            Some(t) => {
                let (outcome, called) = self.send_threaded(row, message, sink, channel, &t).await;
                if !called {
                    // nothing was posted: no pace to keep, nothing to count
                    return match outcome {
                        Outcome::Retry { error } => self.schedule(row.id, STORE_ERROR_PAUSE, error),
                        _ => Verdict::Sent,
                    };
                }
                outcome
            }
        };
        let sink_name = self.lane.sink.clone();
        metrics::histogram!(crate::metrics::SEND_DURATION, "sink" => sink_name.clone())
            .record(started.elapsed().as_secs_f64());
        let pace = self
            .outbox
            .delivery
            .load()
            .min_interval
            .unwrap_or_else(|| sink.min_interval());
        *next_send = Instant::now() + pace;
        if !matches!(outcome, Outcome::Sent { .. }) {
            *next_send = (*next_send).max(Instant::now() + MIN_GAP_AFTER_FAILURE);
        }
        match outcome {
            Outcome::Sent { wait } => {
                if let Some(w) = wait {
                    *next_send = (*next_send).max(Instant::now() + w);
                }
                metrics::counter!(crate::metrics::MESSAGES_SENT, "sink" => sink_name).increment(1);
                tracing::info!(id = row.id, sink = %self.lane.sink, channel = %self.lane.channel, attempts = row.attempts + 1, "sent");
                Verdict::Sent
            }
            Outcome::RateLimited { retry_after } => {
                let retry_after = retry_after.max(MIN_RATE_LIMIT_WAIT);
                *next_send = (*next_send).max(Instant::now() + retry_after);
                metrics::counter!(crate::metrics::MESSAGES_RETRIED, "sink" => sink_name)
                    .increment(1);
                let msg = format!(
                    "{RATE_LIMITED}; retry after {}",
                    humantime::format_duration(retry_after)
                );
                tracing::warn!(id = row.id, sink = %self.lane.sink, "{msg}");
                self.schedule(row.id, retry_after, msg)
            }
            Outcome::Retry { error } => {
                let delay = backoff(row.attempts);
                metrics::counter!(crate::metrics::MESSAGES_RETRIED, "sink" => sink_name)
                    .increment(1);
                tracing::warn!(id = row.id, sink = %self.lane.sink, attempts = row.attempts + 1, retry_in = %humantime::format_duration(delay), error = %error, "send failed; will retry");
                self.schedule(row.id, delay, error)
            }
            Outcome::Permanent { error } => Verdict::Dead { error },
        }
    }

    /// Sends a threaded row (see `threads`): the outcome, and whether a
    /// platform call was made. Thread ids to keep go to `self.keep`, which
    /// `record` stores with the row's `sent` in one transaction.
    async fn send_threaded(
        &mut self,
        row: &Row,
        message: &str,
        sink: &Sink,
        channel: Option<&str>,
        t: &Threading,
    ) -> (Outcome, bool) {
        let store = self.outbox.store.clone();
        let lane = &self.lane;
        let read_failed = |e: StoreError| {
            tracing::error!(id = row.id, sink = %lane.sink, error = %e.chain(), "cannot read thread ids");
            (
                Outcome::retry(format!("cannot read thread ids: {}", e.chain())),
                false,
            )
        };
        let card = Card::from_stored(message);
        let plain = card.to_stored();
        let parent = match store.thread_state(lane, &t.key).await {
            Ok(p) => p,
            Err(e) => return read_failed(e),
        };
        match t.op {
            Op::Edit | Op::Patch => {
                let Some(parent) = parent else {
                    return (Outcome::Sent { wait: None }, false);
                };
                let Some(before) = parent.card.as_deref().map(Card::from_stored) else {
                    return (Outcome::Sent { wait: None }, false);
                };
                let after = merge(&before, &card, t.op);
                if after == before {
                    return (Outcome::Sent { wait: None }, false);
                }
                let stored = after.to_stored();
                let call = ThreadCall::Edit {
                    ids: &parent.ids,
                    in_thread: false,
                };
                match sink.thread(channel, &stored, call).await {
                    ThreadOutcome::Done(_) => {
                        self.keep.push((
                            t.key.clone(),
                            ThreadState {
                                ids: parent.ids.clone(),
                                card: Some(stored),
                            },
                        ));
                        (Outcome::Sent { wait: None }, true)
                    }
                    ThreadOutcome::Gone(error) => {
                        tracing::info!(id = row.id, sink = %lane.sink, %error, "the parent to edit is gone; nothing to edit");
                        (Outcome::Sent { wait: None }, true)
                    }
                    ThreadOutcome::Failed(o) => (o, true),
                }
            }
            Op::Line => {
                let Some(parent) = parent else {
                    return (Outcome::Sent { wait: None }, false);
                };
                if parent.card.as_deref() == Some(plain.as_str()) {
                    // this event is the parent: the channel shows it already
                    return (Outcome::Sent { wait: None }, false);
                }
                match sink
                    .thread(channel, message, ThreadCall::Line { ids: &parent.ids })
                    .await
                {
                    ThreadOutcome::Done(_) | ThreadOutcome::Gone(_) => {
                        (Outcome::Sent { wait: None }, true)
                    }
                    ThreadOutcome::Failed(o) => (o, true),
                }
            }
            Op::Post => {
                // A CI run that posted already: edit its message.
                if let Some(run) = &t.run {
                    let living = match store.thread_state(lane, run).await {
                        Ok(l) => l,
                        Err(e) => return read_failed(e),
                    };
                    if let Some(living) = living {
                        let in_thread = parent
                            .as_ref()
                            .is_some_and(|p| p.ids.message_id != living.ids.message_id);
                        let call = ThreadCall::Edit {
                            ids: &living.ids,
                            in_thread,
                        };
                        match sink.thread(channel, message, call).await {
                            ThreadOutcome::Done(_) => {
                                self.keep.push((
                                    run.clone(),
                                    ThreadState {
                                        ids: living.ids.clone(),
                                        card: Some(plain),
                                    },
                                ));
                                return (Outcome::Sent { wait: None }, true);
                            }
                            ThreadOutcome::Gone(error) => {
                                tracing::info!(id = row.id, sink = %lane.sink, %error, "the run's message is gone; posting it again");
                            }
                            ThreadOutcome::Failed(o) => return (o, true),
                        }
                    }
                }
                if let Some(parent) = parent.as_ref().filter(|_| t.run.as_ref() != Some(&t.key)) {
                    let call = ThreadCall::Reply {
                        ids: &parent.ids,
                        broadcast: t.broadcast,
                    };
                    match sink.thread(channel, message, call).await {
                        ThreadOutcome::Done(ids) => {
                            // A Discord thread started by this reply (its
                            // parent's start had failed) is kept.
                            if parent.ids.thread_id.is_none()
                                && let Some(thread) = ids.as_ref().and_then(|i| i.thread_id.clone())
                            {
                                self.keep.push((
                                    t.key.clone(),
                                    ThreadState {
                                        ids: ThreadIds {
                                            message_id: parent.ids.message_id.clone(),
                                            thread_id: Some(thread),
                                        },
                                        card: None,
                                    },
                                ));
                            }
                            if let (Some(run), Some(ids)) = (&t.run, ids) {
                                self.keep.push((
                                    run.clone(),
                                    ThreadState {
                                        ids,
                                        card: Some(plain),
                                    },
                                ));
                            }
                            return (Outcome::Sent { wait: None }, true);
                        }
                        ThreadOutcome::Gone(error) => {
                            tracing::warn!(id = row.id, sink = %lane.sink, thread = %t.key, %error,
                                "the thread's parent is gone; this message starts a new one");
                        }
                        ThreadOutcome::Failed(o) => return (o, true),
                    }
                }
                let call = ThreadCall::Parent { title: &card.title };
                match sink.thread(channel, message, call).await {
                    ThreadOutcome::Done(Some(ids)) => {
                        if let Some(run) = t.run.as_ref().filter(|r| **r != t.key) {
                            self.keep.push((
                                run.clone(),
                                ThreadState {
                                    ids: ids.clone(),
                                    card: Some(plain.clone()),
                                },
                            ));
                        }
                        self.keep.push((
                            t.key.clone(),
                            ThreadState {
                                ids,
                                card: Some(plain),
                            },
                        ));
                        (Outcome::Sent { wait: None }, true)
                    }
                    ThreadOutcome::Done(None) => (Outcome::Sent { wait: None }, true),
                    ThreadOutcome::Gone(error) => (Outcome::Permanent { error }, true),
                    ThreadOutcome::Failed(o) => (o, true),
                }
            }
        }
    }

    /// A retry of `id` after `delay`, remembered on the monotonic clock.
    fn schedule(&mut self, id: RowId, delay: Duration, error: String) -> Verdict {
        let at = now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        self.due = Some((id, at, Instant::now() + delay));
        Verdict::Retry { at, error }
    }

    /// Records `verdict` for `row`, trying again (with growing pauses) for
    /// as long as the store refuses: the row is never posted again while its
    /// outcome is known but not stored. The first refusal also puts the
    /// outcome in the store's outcome journal, which the next start applies
    /// before sending anything, so a stop meanwhile posts nothing twice.
    /// At shutdown an outcome in neither place is tried for
    /// [`RECORD_AT_SHUTDOWN`] more. True when stopping.
    async fn record(&mut self, row: &Row, verdict: Verdict) -> bool {
        if let Verdict::Dead { error } = &verdict {
            metrics::counter!(crate::metrics::MESSAGES_DEAD, "sink" => self.lane.sink.clone())
                .increment(1);
            tracing::error!(id = row.id, sink = %self.lane.sink, channel = %self.lane.channel, error = %error, "message is dead; `hookbridge replay {}` queues it again", row.id);
        }
        let store = self.outbox.store.clone();
        let mut pause = RECORD_RETRY_FIRST;
        let mut journaled = false;
        let mut stopping: Option<Instant> = None;
        let keep = std::mem::take(&mut self.keep);
        let posted = self.posted.take();
        loop {
            let done = match (&verdict, &posted, keep.is_empty()) {
                (Verdict::Sent, Some(posted), _) => {
                    store.mark_posted(row.id, posted, &self.lane, &keep).await
                }
                (Verdict::Sent, None, false) => {
                    store.mark_sent_thread(row.id, &self.lane, &keep).await
                }
                _ => store.record(row.id, &verdict).await,
            };
            let Err(e) = done else {
                if journaled && let Err(e) = store.release_outcome(row.id).await {
                    // applied again at the next start: only to a pending row
                    tracing::warn!(id = row.id, error = %e.chain(), "cannot clear the outcome journal's slot");
                }
                return stopping.is_some() || *self.stop.borrow();
            };
            if let StoreError::LeaseLost(why) = &e {
                tracing::warn!(id = row.id, sink = %self.lane.sink, channel = %self.lane.channel, %why, "outcome not recorded: another replica sends this lane now");
                return stopping.is_some() || *self.stop.borrow();
            }
            if !journaled {
                match store.hold_outcome(row.id, &verdict).await {
                    Ok(()) => {
                        journaled = true;
                        tracing::warn!(
                            id = row.id,
                            "the send's outcome is kept in the outcome journal until the store takes it; a restart applies it first"
                        );
                    }
                    Err(je) => {
                        tracing::error!(id = row.id, error = %je.chain(), "cannot keep the send's outcome in the outcome journal either");
                    }
                }
            }
            tracing::error!(id = row.id, error = %e.chain(), retry_in = %humantime::format_duration(pause),
                "cannot record the send's outcome; the message is not sent again meanwhile");
            if stopping.is_none() && *self.stop.borrow() {
                stopping = Some(Instant::now());
            }
            match stopping {
                // safe in the journal: stop now
                Some(_) if journaled => return true,
                Some(since) if since.elapsed() >= RECORD_AT_SHUTDOWN => {
                    tracing::error!(id = row.id, sink = %self.lane.sink,
                        "stopping without the send's outcome recorded: the message is sent again after the restart");
                    return true;
                }
                Some(since) => {
                    let left = RECORD_AT_SHUTDOWN.saturating_sub(since.elapsed());
                    tokio::time::sleep(pause.min(left)).await;
                }
                None => {
                    if self.hold(pause).await {
                        stopping = Some(Instant::now());
                    }
                }
            }
            pause = (pause * 2).min(RECORD_RETRY_MAX);
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
