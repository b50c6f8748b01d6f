//! A loopback stand-in for Slack and Discord, for the integration tests.
//!
//! One poem server on `127.0.0.1:<random port>` answers like
//! - Slack: `POST /api/chat.postMessage` (Bearer token) and incoming
//!   webhooks `POST /services/…` (plain `ok`);
//! - Discord: `POST /api/v10/webhooks/{id}/{token}?wait=true` and
//!   `POST /api/v10/channels/{id}/messages` (`Bot` token), answering a message
//!   serenity's `Message` deserializes, with `X-RateLimit-*` headers.
//!
//! Threads and edits, statefully, as the platforms document them:
//! - Slack: every post gets its own `ts`; a reply names its parent with
//!   `thread_ts` (`thread_not_found` if the parent is gone), may be
//!   `reply_broadcast`; `POST /api/chat.update` (`channel` id + `ts`)
//!   edits (`message_not_found`, `cant_update_message` for another's).
//! - Discord: every message gets its own id; `POST
//!   /channels/{id}/messages/{mid}/threads` starts a thread whose id is the
//!   message's; messages posted to a thread id live in the thread; `PATCH
//!   /channels/{id}/messages/{mid}` edits; a webhook posts with `?wait=true`,
//!   a forum post with `thread_name` (its thread is its `channel_id`), into
//!   a thread with `?thread_id=`, and edits with `PATCH
//!   /webhooks/{id}/{token}/messages/{mid}?thread_id=`. A forgotten message
//!   answers 404 Unknown Message (10008), an archived thread 400 (50083).
//!   [`StandIn::forget`] and [`StandIn::archive`] make them so.
//!
//! It records every request, lets a test await "n requests received", and
//! can be scripted per platform with a queue of [`Behaviour`]s consumed in
//! order (an empty queue answers [`Behaviour::Ok`]). Dropping it shuts the
//! server down and cuts open connections.
//!
//! Like the real platforms, it checks every body it receives against the
//! payload shape each documents (block and embed field names and types,
//! unknown fields refused) and every hard limit ([`check_slack_body`],
//! [`check_discord_body`]); a body Slack or Discord would refuse is
//! answered with their refusal (`invalid_blocks`, Discord 50035) and
//! recorded in [`Received::refused`].
//!
//! ```ignore
//! let standin = StandIn::start().await;
//! standin.script(Platform::Slack, [Behaviour::Status(500), Behaviour::Ok]);
//! // … point a sink at standin.slack_api_base() …
//! let got = standin.wait_for(2).await;
//! ```

#![allow(dead_code)] // Each test module uses its own part of the API.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, Request, Response, Server};
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

/// How long [`StandIn::wait_for`] waits before failing the test.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Slack,
    Discord,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Success: Slack `{"ok":true,…}` / webhook `ok`; Discord a message with
    /// `X-RateLimit-Remaining: 4`.
    Ok,
    /// Discord: success with `X-RateLimit-Remaining: 0` and this
    /// `X-RateLimit-Reset-After`. (Slack: same as `Ok`.)
    OkBucketEmpty { reset_after_secs: f64 },
    /// 429 with `Retry-After` (Slack API: JSON `ratelimited`; Discord: also
    /// the JSON body's `retry_after`).
    Status429 { retry_after_secs: u64 },
    /// Discord: a 429 for the whole bot (`X-RateLimit-Global: true`,
    /// `X-RateLimit-Scope: global`, `"global": true`). Slack: as `Status429`.
    Global429 { retry_after_secs: u64 },
    /// Slack API: HTTP 200 `{"ok":false,"error":code}`. Slack webhook: the
    /// status Slack uses for that code (404 `channel_not_found`, …) with the
    /// code as plain text. Discord: 400 with the code as message.
    SlackError(&'static str),
    /// This HTTP status, with the platform's usual error body.
    Status(u16),
    /// Answers `Ok` after this delay.
    Slow(Duration),
    /// Records the request, then never answers (the client must time out).
    LostAnswer,
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// `None` for a path neither platform serves (answered 404).
    pub platform: Option<Platform>,
    pub method: String,
    pub path: String,
    /// The raw query string, `""` when none.
    pub query: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The body exactly as received.
    pub body: String,
    /// When the request arrived.
    pub at: std::time::Instant,
    /// Why the platform would refuse this body (`None`: it is valid).
    pub refused: Option<String>,
}

impl Received {
    /// The body parsed as JSON (panics if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body of {} is not JSON ({e}): {}", self.path, self.body))
    }
}

struct State {
    scripts: Mutex<HashMap<Platform, VecDeque<Behaviour>>>,
    received: watch::Sender<Vec<Received>>,
    world: Mutex<World>,
}

/// One message the stand-in keeps (posted and not forgotten).
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    /// Where it was posted: Slack channel, Discord channel or thread id.
    pub channel: String,
    /// Slack: the parent's `ts` for a reply; Discord: the thread it is in.
    pub thread: Option<String>,
    /// The body as last posted or edited.
    pub body: Value,
    pub edits: u32,
    /// Slack `reply_broadcast`.
    pub broadcast: bool,
}

/// The messages and threads the stand-in knows.
#[derive(Debug, Default)]
struct World {
    next: u64,
    messages: BTreeMap<String, Message>,
    /// Discord thread ids (a thread's id is its starter message's).
    threads: HashSet<String>,
    archived: HashSet<String>,
    /// Every id ever given out, forgotten or not.
    ever: HashSet<String>,
}

impl World {
    fn id(&mut self, slack: bool) -> String {
        self.next += 1;
        let id = if slack {
            format!("1700000000.{:06}", self.next)
        } else {
            format!("{}", 444_000_000_000_000_000_u64 + self.next)
        };
        self.ever.insert(id.clone());
        id
    }
}

/// The running stand-in; shut down when dropped.
pub struct StandIn {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl StandIn {
    /// Binds `127.0.0.1:0` and starts serving on the current runtime.
    pub async fn start() -> StandIn {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind the stand-in to 127.0.0.1:0");
        let addr = *acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr())
            .expect("stand-in has a socket address");
        let state = Arc::new(State {
            scripts: Mutex::new(HashMap::new()),
            received: watch::Sender::new(Vec::new()),
            world: Mutex::new(World::default()),
        });
        let (tx, rx) = oneshot::channel::<()>();
        let endpoint = StandInEndpoint {
            state: state.clone(),
        };
        tokio::spawn(async move {
            // Timeout zero: on shutdown, connections still open (a lost
            // answer, a slow one) are cut at once.
            let _ = Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    endpoint,
                    async {
                        let _ = rx.await;
                    },
                    Some(Duration::ZERO),
                )
                .await;
        });
        StandIn {
            addr,
            state,
            shutdown: Some(tx),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Slack `api_base`: `http://127.0.0.1:PORT/api/`
    pub fn slack_api_base(&self) -> String {
        format!("{}/api/", self.base_url())
    }

    /// A Slack incoming-webhook URL whose secret part is `secret`.
    pub fn slack_webhook_url(&self, secret: &str) -> String {
        format!("{}/services/T0001/B0001/{secret}", self.base_url())
    }

    /// The Discord `api_base`: `http://127.0.0.1:PORT/api/v10/`
    pub fn discord_api_base(&self) -> String {
        format!("{}/api/v10/", self.base_url())
    }

    /// A Discord webhook URL (as Discord hands them out, without `/v10`).
    pub fn discord_webhook_url(&self, id: u64, token: &str) -> String {
        format!("{}/api/webhooks/{id}/{token}", self.base_url())
    }

    /// Appends answers to `platform`'s queue; they are used in order.
    pub fn script(&self, platform: Platform, behaviours: impl IntoIterator<Item = Behaviour>) {
        self.state
            .scripts
            .lock()
            .unwrap()
            .entry(platform)
            .or_default()
            .extend(behaviours);
    }

    /// Every message kept (not forgotten), by id (Slack `ts` order, Discord
    /// id order: the order they were posted).
    pub fn messages(&self) -> Vec<Message> {
        self.state
            .world
            .lock()
            .unwrap()
            .messages
            .values()
            .cloned()
            .collect()
    }

    /// Forgets message `id` (someone deleted it); a Discord thread started
    /// on it goes too.
    pub fn forget(&self, id: &str) {
        let mut w = self.state.world.lock().unwrap();
        w.messages.remove(id);
        w.threads.remove(id);
    }

    /// Archives Discord thread `id`: posts into it are refused (50083).
    pub fn archive(&self, id: &str) {
        self.state
            .world
            .lock()
            .unwrap()
            .archived
            .insert(id.to_string());
    }

    /// Every request so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.borrow().clone()
    }

    /// Waits (without sleeping) until at least `n` requests have arrived;
    /// fails the test after 10 s.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let mut rx = self.state.received.subscribe();
        let waited = tokio::time::timeout(WAIT_LIMIT, rx.wait_for(|r| r.len() >= n)).await;
        match waited {
            Ok(Ok(got)) => got.clone(),
            _ => panic!(
                "stand-in: waited {WAIT_LIMIT:?} for {n} requests, got {}",
                self.state.received.borrow().len()
            ),
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

struct StandInEndpoint {
    state: Arc<State>,
}

/// What a path is, for answering.
#[derive(Clone, Copy)]
enum Kind {
    SlackApi,
    SlackUpdate,
    SlackWebhook,
    DiscordWebhook {
        id: u64,
    },
    DiscordChannel {
        id: u64,
    },
    /// PATCH of a message: by a bot in a channel, or by a webhook.
    DiscordEdit {
        channel: Option<u64>,
        message: u64,
    },
    DiscordStartThread {
        channel: u64,
        message: u64,
    },
    Unknown,
}

fn kind_of(method: &poem::http::Method, path: &str) -> Kind {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if method == poem::http::Method::PATCH {
        return match parts.as_slice() {
            ["api", "v10", "channels", c, "messages", m] => match (c.parse(), m.parse()) {
                (Ok(c), Ok(m)) => Kind::DiscordEdit {
                    channel: Some(c),
                    message: m,
                },
                _ => Kind::Unknown,
            },
            ["api", "v10", "webhooks", _, _, "messages", m] => match m.parse() {
                Ok(m) => Kind::DiscordEdit {
                    channel: None,
                    message: m,
                },
                Err(_) => Kind::Unknown,
            },
            _ => Kind::Unknown,
        };
    }
    if method != poem::http::Method::POST {
        return Kind::Unknown;
    }
    if let ["api", "v10", "channels", c, "messages", m, "threads"] = parts.as_slice() {
        return match (c.parse(), m.parse()) {
            (Ok(channel), Ok(message)) => Kind::DiscordStartThread { channel, message },
            _ => Kind::Unknown,
        };
    }
    if path == "/api/chat.postMessage" {
        return Kind::SlackApi;
    }
    if path == "/api/chat.update" {
        return Kind::SlackUpdate;
    }
    if path.starts_with("/services/") {
        return Kind::SlackWebhook;
    }
    match parts.as_slice() {
        ["api", "v10", "webhooks", id, token] if !token.is_empty() => match id.parse() {
            Ok(id) => Kind::DiscordWebhook { id },
            Err(_) => Kind::Unknown,
        },
        ["api", "v10", "channels", id, "messages"] => match id.parse() {
            Ok(id) => Kind::DiscordChannel { id },
            Err(_) => Kind::Unknown,
        },
        _ => Kind::Unknown,
    }
}

impl Endpoint for StandInEndpoint {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let body = req.take_body().into_bytes().await.unwrap_or_default();
        let received = Received {
            platform: None,
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().unwrap_or_default().to_string(),
            authorization: req.header("authorization").map(str::to_string),
            content_type: req.header("content-type").map(str::to_string),
            body: String::from_utf8_lossy(&body).into_owned(),
            at: std::time::Instant::now(),
            refused: None,
        };
        let kind = kind_of(req.method(), &received.path);
        let platform = match kind {
            Kind::SlackApi | Kind::SlackWebhook | Kind::SlackUpdate => Some(Platform::Slack),
            Kind::DiscordWebhook { .. }
            | Kind::DiscordChannel { .. }
            | Kind::DiscordEdit { .. }
            | Kind::DiscordStartThread { .. } => Some(Platform::Discord),
            Kind::Unknown => None,
        };
        let refused = platform.and_then(|p| {
            let body: Value = match serde_json::from_str(&received.body) {
                Ok(v) => v,
                Err(e) => return Some(format!("body is not JSON: {e}")),
            };
            let checked = match (p, kind) {
                (_, Kind::SlackUpdate) => check_slack_update(&body),
                (_, Kind::DiscordEdit { .. }) => check_discord_edit(&body),
                (_, Kind::DiscordStartThread { .. }) => check_discord_start_thread(&body),
                (Platform::Slack, _) => check_slack_body(&body),
                (Platform::Discord, _) => check_discord_body(&body),
            };
            checked.err()
        });
        let received = Received {
            platform,
            refused,
            ..received
        };
        if let Some(why) = &received.refused {
            let answer = refusal(kind, why);
            self.state.received.send_modify(|r| r.push(received));
            return Ok(answer);
        }
        let behaviour = platform
            .and_then(|p| self.state.scripts.lock().unwrap().get_mut(&p)?.pop_front())
            .unwrap_or(Behaviour::Ok);
        let answer = match behaviour {
            Behaviour::Ok | Behaviour::Slow(_) | Behaviour::LostAnswer
                if !matches!(kind, Kind::SlackWebhook | Kind::Unknown) =>
            {
                let mut world = self.state.world.lock().unwrap();
                stateful(&mut world, kind, &received)
                    .unwrap_or_else(|| answer(kind, &behaviour, &received))
            }
            _ => answer(kind, &behaviour, &received),
        };
        self.state.received.send_modify(|r| r.push(received));

        match behaviour {
            Behaviour::LostAnswer => std::future::pending::<()>().await,
            Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
            _ => {}
        }
        Ok(answer)
    }
}

fn with_json(builder: poem::ResponseBuilder, body: Value) -> Response {
    builder
        .content_type("application/json")
        .body(body.to_string())
}

fn text(status: StatusCode, body: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html")
        .body(body.to_string())
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).expect("a valid HTTP status in the script")
}

// ------------------------------------------------------- threads and edits

/// A successful call's answer, with the messages and threads it makes or
/// changes kept; `None` when it is not the stand-in's to answer this way
/// (no credentials: the usual refusal answers).
fn stateful(w: &mut World, kind: Kind, req: &Received) -> Option<Response> {
    let body: Value = serde_json::from_str(&req.body).ok()?;
    let query: HashMap<String, String> = url::form_urlencoded::parse(req.query.as_bytes())
        .into_owned()
        .collect();
    let slack_ok = |v: Value| Some(with_json(Response::builder().status(StatusCode::OK), v));
    let slack_err = |code: &str| slack_ok(json!({"ok": false, "error": code}));
    match kind {
        Kind::SlackApi | Kind::SlackUpdate => {
            req.authorization
                .as_deref()
                .filter(|a| a.starts_with("Bearer ") && a.len() > "Bearer ".len())?;
            let channel = body["channel"].as_str().unwrap_or_default();
            // Slack answers with the channel's id; names map to a fixed id.
            let channel_id = match channel.strip_prefix('#') {
                Some(name) => format!("C{}", name.to_ascii_uppercase()),
                None => channel.to_string(),
            };
            if let Kind::SlackUpdate = kind {
                let ts = body["ts"].as_str().unwrap_or_default();
                let Some(m) = w.messages.get_mut(ts) else {
                    return slack_err("message_not_found");
                };
                if m.channel != channel_id {
                    return slack_err("cant_update_message");
                }
                let mut kept = body.clone();
                if let Some(o) = kept.as_object_mut() {
                    o.remove("ts");
                }
                m.body = kept;
                m.edits += 1;
                return slack_ok(
                    json!({"ok": true, "channel": channel_id, "ts": ts, "text": body["text"]}),
                );
            }
            let thread = body["thread_ts"].as_str().map(str::to_string);
            if let Some(t) = &thread
                && !w.messages.contains_key(t)
            {
                return slack_err("thread_not_found");
            }
            let ts = w.id(true);
            w.messages.insert(
                ts.clone(),
                Message {
                    id: ts.clone(),
                    channel: channel_id.clone(),
                    thread,
                    body: body.clone(),
                    edits: 0,
                    broadcast: body["reply_broadcast"].as_bool() == Some(true),
                },
            );
            slack_ok(json!({
                "ok": true, "channel": channel_id, "ts": ts,
                "message": {"type": "message", "text": body["text"], "ts": ts},
            }))
        }
        Kind::DiscordChannel { id } => {
            req.authorization
                .as_deref()
                .filter(|a| a.len() > "Bot ".len())?;
            let channel = id.to_string();
            let thread = w.threads.contains(&channel).then(|| channel.clone());
            if w.archived.contains(&channel) {
                return Some(discord_error(400, "Thread is archived", 50083));
            }
            if thread.is_none() && w.ever.contains(&channel) {
                // a thread id whose thread is gone
                return Some(discord_error(404, "Unknown Channel", 10003));
            }
            Some(discord_post(w, &channel, thread, &body))
        }
        Kind::DiscordWebhook { .. } => {
            let (channel, thread) = match query.get("thread_id") {
                Some(t) => {
                    if w.archived.contains(t) {
                        return Some(discord_error(400, "Thread is archived", 50083));
                    }
                    if !w.threads.contains(t) {
                        return Some(discord_error(404, "Unknown Channel", 10003));
                    }
                    (t.clone(), Some(t.clone()))
                }
                None => match body["thread_name"].as_str() {
                    // A forum post: the thread and its starter share an id.
                    Some(_) => {
                        let id = w.id(false);
                        w.threads.insert(id.clone());
                        w.next -= 1; // the post gets the thread's id
                        (id.clone(), Some(id))
                    }
                    None => ("222000000000000001".to_string(), None),
                },
            };
            if query.get("wait").map(String::as_str) != Some("true") {
                return Some(Response::builder().status(StatusCode::NO_CONTENT).finish());
            }
            Some(discord_post(w, &channel, thread, &body))
        }
        Kind::DiscordStartThread { channel, message } => {
            req.authorization
                .as_deref()
                .filter(|a| a.len() > "Bot ".len())?;
            let id = message.to_string();
            match w.messages.get(&id) {
                Some(m) if m.channel == channel.to_string() => {}
                _ => return Some(discord_error(404, "Unknown Message", 10008)),
            }
            if !w.threads.insert(id.clone()) {
                return Some(discord_error(
                    400,
                    "A thread has already been created for this message",
                    160_004,
                ));
            }
            Some(with_json(
                Response::builder().status(StatusCode::CREATED),
                json!({"id": id, "type": 11, "parent_id": channel.to_string(), "name": body["name"]}),
            ))
        }
        Kind::DiscordEdit { channel, message } => {
            let id = message.to_string();
            let Some(m) = w.messages.get_mut(&id) else {
                return Some(discord_error(404, "Unknown Message", 10008));
            };
            let expected = match channel {
                Some(c) => c.to_string(),
                None => query
                    .get("thread_id")
                    .cloned()
                    .unwrap_or_else(|| "222000000000000001".into()),
            };
            if m.channel != expected {
                return Some(discord_error(404, "Unknown Message", 10008));
            }
            for (k, v) in body.as_object()? {
                m.body[k] = v.clone();
            }
            m.edits += 1;
            let channel = m.channel.clone();
            Some(discord_message_with(&id, &channel, &m.body.clone(), None))
        }
        _ => None,
    }
}

/// Keeps a posted Discord message and answers it.
fn discord_post(w: &mut World, channel: &str, thread: Option<String>, body: &Value) -> Response {
    let id = w.id(false);
    w.messages.insert(
        id.clone(),
        Message {
            id: id.clone(),
            channel: channel.to_string(),
            thread,
            body: body.clone(),
            edits: 0,
            broadcast: false,
        },
    );
    discord_message_with(&id, channel, body, None)
}

fn discord_message_with(id: &str, channel: &str, body: &Value, webhook: Option<u64>) -> Response {
    let mut message = json!({
        "id": id, "type": 0, "channel_id": channel,
        "content": body.get("content").cloned().unwrap_or(json!("")),
        "author": {"id": "333000000000000001", "username": "hookbridge-bot", "discriminator": "0",
                   "avatar": null, "bot": true, "global_name": null},
        "attachments": [], "embeds": [], "mentions": [], "mention_roles": [],
        "pinned": false, "mention_everyone": false, "tts": false,
        "timestamp": "2026-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
        "flags": 0, "components": [],
    });
    if let Some(w) = webhook {
        message["webhook_id"] = json!(w.to_string());
    }
    with_json(
        Response::builder()
            .status(StatusCode::OK)
            .header("X-RateLimit-Limit", "5")
            .header("X-RateLimit-Remaining", "4")
            .header("X-RateLimit-Reset-After", "0.400"),
        message,
    )
}

/// `chat.update`: `channel` and `ts`, and a message body.
pub fn check_slack_update(body: &Value) -> Result<(), String> {
    let o = obj(body, "body")?;
    string(o.get("ts").unwrap_or(&Value::Null), "body.ts", 1, 40)?;
    string(
        o.get("channel").unwrap_or(&Value::Null),
        "body.channel",
        1,
        80,
    )?;
    if o.contains_key("thread_ts") || o.contains_key("reply_broadcast") {
        return Err("body: chat.update takes no thread_ts or reply_broadcast".into());
    }
    let mut rest = body.clone();
    if let Some(r) = rest.as_object_mut() {
        r.remove("ts");
    }
    check_slack_body(&rest)
}

/// A message edit: `content`, `embeds`, `allowed_mentions` (and the rest
/// of a message's editable keys).
pub fn check_discord_edit(body: &Value) -> Result<(), String> {
    let o = obj(body, "body")?;
    only(
        o,
        &[
            "content",
            "embeds",
            "allowed_mentions",
            "components",
            "flags",
            "attachments",
        ],
        "body",
    )?;
    check_discord_body(body)
}

/// Start Thread from Message: `name` (1–100), `auto_archive_duration`.
pub fn check_discord_start_thread(body: &Value) -> Result<(), String> {
    let o = obj(body, "body")?;
    only(
        o,
        &["name", "auto_archive_duration", "rate_limit_per_user"],
        "body",
    )?;
    string(o.get("name").unwrap_or(&Value::Null), "body.name", 1, 100)?;
    match o.get("auto_archive_duration").and_then(Value::as_u64) {
        None | Some(60 | 1440 | 4320 | 10080) => Ok(()),
        Some(d) => Err(format!(
            "body.auto_archive_duration: {d} is not 60, 1440, 4320 or 10080"
        )),
    }
}

fn answer(kind: Kind, behaviour: &Behaviour, req: &Received) -> Response {
    match kind {
        Kind::Unknown => text(StatusCode::NOT_FOUND, "no such stand-in path"),
        Kind::SlackApi | Kind::SlackUpdate => slack_api(behaviour, req),
        Kind::SlackWebhook => slack_webhook(behaviour),
        Kind::DiscordWebhook { .. }
        | Kind::DiscordChannel { .. }
        | Kind::DiscordEdit { .. }
        | Kind::DiscordStartThread { .. } => discord(kind, behaviour, req),
    }
}

fn slack_api(behaviour: &Behaviour, req: &Received) -> Response {
    let ok = Response::builder().status(StatusCode::OK);
    let authed = req
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer ") && a.len() > "Bearer ".len());
    if !authed {
        return with_json(ok, json!({"ok": false, "error": "not_authed"}));
    }
    match behaviour {
        Behaviour::Ok
        | Behaviour::OkBucketEmpty { .. }
        | Behaviour::Slow(_)
        | Behaviour::LostAnswer => {
            let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
            with_json(
                ok,
                json!({
                    "ok": true,
                    "channel": body.get("channel").cloned().unwrap_or(Value::Null),
                    "ts": "1700000000.000100",
                    "message": {
                        "type": "message",
                        "text": body.get("text").cloned().unwrap_or(Value::Null),
                        "ts": "1700000000.000100",
                    },
                }),
            )
        }
        Behaviour::Status429 { retry_after_secs } | Behaviour::Global429 { retry_after_secs } => {
            with_json(
                Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .header("Retry-After", retry_after_secs.to_string()),
                json!({"ok": false, "error": "ratelimited"}),
            )
        }
        Behaviour::SlackError(code) => with_json(ok, json!({"ok": false, "error": code})),
        Behaviour::Status(code) => text(status(*code), "Slack stand-in error"),
    }
}

fn slack_webhook(behaviour: &Behaviour) -> Response {
    match behaviour {
        Behaviour::Ok
        | Behaviour::OkBucketEmpty { .. }
        | Behaviour::Slow(_)
        | Behaviour::LostAnswer => text(StatusCode::OK, "ok"),
        Behaviour::Status429 { retry_after_secs } | Behaviour::Global429 { retry_after_secs } => {
            Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("Retry-After", retry_after_secs.to_string())
                .content_type("text/html")
                .body("rate_limited")
        }
        Behaviour::SlackError(code) => {
            let code_status = match *code {
                "channel_not_found" | "no_service" | "no_team" | "team_disabled" => 404,
                "action_prohibited" | "invalid_token" | "posting_to_general_channel_denied" => 403,
                "channel_is_archived" | "no_active_hooks" => 410,
                _ => 400,
            };
            text(status(code_status), code)
        }
        Behaviour::Status(code) => text(status(*code), "Slack stand-in error"),
    }
}

fn discord(kind: Kind, behaviour: &Behaviour, req: &Received) -> Response {
    if let Kind::DiscordChannel { .. } = kind {
        let authed = req
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bot ") && a.len() > "Bot ".len());
        if !authed {
            return discord_error(401, "401: Unauthorized", 0);
        }
    }
    match behaviour {
        Behaviour::Ok | Behaviour::Slow(_) | Behaviour::LostAnswer => {
            discord_message(kind, req, 4, 0.4)
        }
        Behaviour::OkBucketEmpty { reset_after_secs } => {
            discord_message(kind, req, 0, *reset_after_secs)
        }
        Behaviour::Status429 { retry_after_secs } => with_json(
            Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("Retry-After", retry_after_secs.to_string())
                .header("X-RateLimit-Scope", "user"),
            json!({
                "message": "You are being rate limited.",
                "retry_after": *retry_after_secs as f64,
                "global": false,
            }),
        ),
        Behaviour::Global429 { retry_after_secs } => with_json(
            Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("Retry-After", retry_after_secs.to_string())
                .header("X-RateLimit-Global", "true")
                .header("X-RateLimit-Scope", "global"),
            json!({
                "message": "You are being rate limited.",
                "retry_after": *retry_after_secs as f64,
                "global": true,
            }),
        ),
        Behaviour::SlackError(code) => discord_error(400, code, 50035),
        Behaviour::Status(code) => {
            let (message, err_code) = match (*code, kind) {
                (401, _) => ("401: Unauthorized", 0),
                (403, _) => ("Missing Access", 50001),
                (404, Kind::DiscordWebhook { .. }) => ("Unknown Webhook", 10015),
                (404, _) => ("Unknown Channel", 10003),
                (c, _) if c >= 500 => ("500: Internal Server Error", 0),
                _ => ("Discord stand-in error", 0),
            };
            discord_error(*code, message, err_code)
        }
    }
}

fn discord_error(code: u16, message: &str, err_code: i64) -> Response {
    with_json(
        Response::builder().status(status(code)),
        json!({"message": message, "code": err_code}),
    )
}

/// A created message, as Discord answers it.
fn discord_message(kind: Kind, req: &Received, remaining: u32, reset_after: f64) -> Response {
    let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
    let (channel_id, webhook_id) = match kind {
        Kind::DiscordWebhook { id } => (222_000_000_000_000_001_u64, Some(id)),
        Kind::DiscordChannel { id } => (id, None),
        _ => (0, None),
    };
    let author = match webhook_id {
        Some(id) => json!({
            "id": id.to_string(), "username": "hookbridge", "discriminator": "0000",
            "avatar": null, "bot": true, "global_name": null,
        }),
        None => json!({
            "id": "333000000000000001", "username": "hookbridge-bot", "discriminator": "0",
            "avatar": null, "bot": true, "global_name": null,
        }),
    };
    let mut message = json!({
        "id": "444000000000000001",
        "type": 0,
        "channel_id": channel_id.to_string(),
        "content": body.get("content").cloned().unwrap_or(json!("")),
        "author": author,
        "attachments": [],
        "embeds": [],
        "mentions": [],
        "mention_roles": [],
        "pinned": false,
        "mention_everyone": false,
        "tts": false,
        "timestamp": "2026-01-01T00:00:00.000000+00:00",
        "edited_timestamp": null,
        "flags": 0,
        "components": [],
    });
    if let Some(id) = webhook_id {
        message["webhook_id"] = json!(id.to_string());
    }
    with_json(
        Response::builder()
            .status(StatusCode::OK)
            .header("X-RateLimit-Limit", "5")
            .header("X-RateLimit-Remaining", remaining.to_string())
            .header("X-RateLimit-Reset", "1767225600.400")
            .header("X-RateLimit-Reset-After", format!("{reset_after:.3}"))
            .header("X-RateLimit-Bucket", "standin-bucket"),
        message,
    )
}

/// What the platform answers a body it refuses.
fn refusal(kind: Kind, why: &str) -> Response {
    match kind {
        Kind::SlackApi => with_json(
            Response::builder().status(StatusCode::OK),
            json!({"ok": false, "error": "invalid_blocks", "errors": [why]}),
        ),
        Kind::SlackWebhook => text(StatusCode::BAD_REQUEST, "invalid_blocks"),
        _ => with_json(
            Response::builder().status(StatusCode::BAD_REQUEST),
            json!({"message": "Invalid Form Body", "code": 50035, "errors": {"_errors": [{"code": "BASE_TYPE_INVALID", "message": why}]}}),
        ),
    }
}

// ------------------------------------------------------- payload shapes

/// Length as the platforms count it (UTF-16 units: never less than code
/// points, so a body within it is within either count).
fn len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

fn obj<'a>(v: &'a Value, at: &str) -> Result<&'a serde_json::Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{at}: not an object"))
}

fn only(o: &serde_json::Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), String> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{at}: unknown field `{k}`")),
        None => Ok(()),
    }
}

fn string<'a>(v: &'a Value, at: &str, min: usize, max: usize) -> Result<&'a str, String> {
    let s = v.as_str().ok_or_else(|| format!("{at}: not a string"))?;
    let n = len(s);
    if n < min || n > max {
        return Err(format!("{at}: length {n}, must be {min}..={max}"));
    }
    Ok(s)
}

fn opt_bool(o: &serde_json::Map<String, Value>, key: &str, at: &str) -> Result<(), String> {
    match o.get(key) {
        None | Some(Value::Bool(_)) => Ok(()),
        Some(_) => Err(format!("{at}.{key}: not a boolean")),
    }
}

fn url(v: &Value, at: &str, max: usize) -> Result<(), String> {
    let s = string(v, at, 1, max)?;
    let parsed = url::Url::parse(s).map_err(|e| format!("{at}: not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{at}: not an http(s) URL"));
    }
    Ok(())
}

fn array<'a>(v: &'a Value, at: &str, min: usize, max: usize) -> Result<&'a Vec<Value>, String> {
    let a = v.as_array().ok_or_else(|| format!("{at}: not an array"))?;
    if a.len() < min || a.len() > max {
        return Err(format!("{at}: {} items, must be {min}..={max}", a.len()));
    }
    Ok(a)
}

/// A Slack text object of at most `max` characters.
fn slack_text(v: &Value, at: &str, max: usize, plain_only: bool) -> Result<(), String> {
    let o = obj(v, at)?;
    only(o, &["type", "text", "verbatim", "emoji"], at)?;
    match o.get("type").and_then(Value::as_str) {
        Some("mrkdwn") if !plain_only => {
            if o.contains_key("emoji") {
                return Err(format!("{at}: `emoji` is for plain_text"));
            }
        }
        Some("plain_text") => {
            if o.contains_key("verbatim") {
                return Err(format!("{at}: `verbatim` is for mrkdwn"));
            }
        }
        other => return Err(format!("{at}.type: {other:?} is not a text type here")),
    }
    opt_bool(o, "verbatim", at)?;
    opt_bool(o, "emoji", at)?;
    string(
        o.get("text").unwrap_or(&Value::Null),
        &format!("{at}.text"),
        1,
        max,
    )?;
    Ok(())
}

fn slack_blocks(v: &Value, at: &str) -> Result<(), String> {
    for (i, b) in array(v, at, 1, 50)?.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let o = obj(b, &at)?;
        if let Some(id) = o.get("block_id") {
            string(id, &format!("{at}.block_id"), 1, 255)?;
        }
        match o.get("type").and_then(Value::as_str) {
            Some("section") => {
                only(o, &["type", "text", "fields", "block_id", "accessory"], &at)?;
                if o.get("text").is_none() && o.get("fields").is_none() {
                    return Err(format!("{at}: a section needs text or fields"));
                }
                if let Some(t) = o.get("text") {
                    slack_text(t, &format!("{at}.text"), 3_000, false)?;
                }
                if let Some(f) = o.get("fields") {
                    for (j, t) in array(f, &format!("{at}.fields"), 1, 10)?.iter().enumerate() {
                        slack_text(t, &format!("{at}.fields[{j}]"), 2_000, false)?;
                    }
                }
            }
            Some("context") => {
                only(o, &["type", "elements", "block_id"], &at)?;
                let elements = o.get("elements").unwrap_or(&Value::Null);
                for (j, e) in array(elements, &format!("{at}.elements"), 1, 10)?
                    .iter()
                    .enumerate()
                {
                    let at = format!("{at}.elements[{j}]");
                    let eo = obj(e, &at)?;
                    if eo.get("type").and_then(Value::as_str) == Some("image") {
                        only(eo, &["type", "image_url", "alt_text"], &at)?;
                        url(
                            eo.get("image_url").unwrap_or(&Value::Null),
                            &format!("{at}.image_url"),
                            3_000,
                        )?;
                        string(
                            eo.get("alt_text").unwrap_or(&Value::Null),
                            &format!("{at}.alt_text"),
                            1,
                            2_000,
                        )?;
                    } else {
                        slack_text(e, &at, 3_000, false)?;
                    }
                }
            }
            Some("header") => {
                only(o, &["type", "text", "block_id"], &at)?;
                slack_text(
                    o.get("text").unwrap_or(&Value::Null),
                    &format!("{at}.text"),
                    150,
                    true,
                )?;
            }
            Some("divider") => only(o, &["type", "block_id"], &at)?,
            other => {
                return Err(format!(
                    "{at}.type: {other:?} is not a block this relay sends"
                ));
            }
        }
    }
    Ok(())
}

/// Checks a `chat.postMessage` / incoming-webhook body as Slack would.
pub fn check_slack_body(body: &Value) -> Result<(), String> {
    let o = obj(body, "body")?;
    only(
        o,
        &[
            "channel",
            "text",
            "blocks",
            "attachments",
            "unfurl_links",
            "unfurl_media",
            "thread_ts",
            "reply_broadcast",
            "username",
            "icon_url",
            "icon_emoji",
            "mrkdwn",
            "link_names",
            "metadata",
        ],
        "body",
    )?;
    opt_bool(o, "unfurl_links", "body")?;
    opt_bool(o, "unfurl_media", "body")?;
    if let Some(c) = o.get("channel") {
        string(c, "body.channel", 1, 80)?;
    }
    let text = match o.get("text") {
        Some(t) => string(t, "body.text", 0, 40_000)?,
        None => "",
    };
    if let Some(b) = o.get("blocks") {
        slack_blocks(b, "body.blocks")?;
    }
    let mut attached = false;
    if let Some(a) = o.get("attachments") {
        for (i, att) in array(a, "body.attachments", 1, 100)?.iter().enumerate() {
            let at = format!("body.attachments[{i}]");
            let ao = obj(att, &at)?;
            only(
                ao,
                &[
                    "blocks",
                    "color",
                    "fallback",
                    "pretext",
                    "author_name",
                    "author_link",
                    "author_icon",
                    "title",
                    "title_link",
                    "text",
                    "fields",
                    "image_url",
                    "thumb_url",
                    "footer",
                    "footer_icon",
                    "ts",
                    "mrkdwn_in",
                ],
                &at,
            )?;
            if let Some(c) = ao.get("color") {
                let c = string(c, &format!("{at}.color"), 1, 16)?;
                let hex = c
                    .strip_prefix('#')
                    .is_some_and(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()));
                if !hex && !["good", "warning", "danger"].contains(&c) {
                    return Err(format!("{at}.color: {c:?} is not a colour"));
                }
            }
            if let Some(f) = ao.get("fallback") {
                string(f, &format!("{at}.fallback"), 0, 3_000)?;
            }
            if let Some(b) = ao.get("blocks") {
                slack_blocks(b, &format!("{at}.blocks"))?;
                attached = true;
            }
        }
    }
    if text.trim().is_empty() && o.get("blocks").is_none() && !attached {
        return Err("body: no text, blocks or attachments".into());
    }
    Ok(())
}

/// Checks an execute-webhook / create-message body as Discord would.
pub fn check_discord_body(body: &Value) -> Result<(), String> {
    let o = obj(body, "body")?;
    only(
        o,
        &[
            "content",
            "username",
            "avatar_url",
            "tts",
            "embeds",
            "allowed_mentions",
            "components",
            "flags",
            "thread_name",
            "applied_tags",
            "message_reference",
            "nonce",
        ],
        "body",
    )?;
    let content = match o.get("content") {
        Some(c) => string(c, "body.content", 0, 2_000)?,
        None => "",
    };
    let mut embeds_total = 0;
    let mut has_embed = false;
    if let Some(e) = o.get("embeds") {
        for (i, embed) in array(e, "body.embeds", 0, 10)?.iter().enumerate() {
            has_embed = true;
            let at = format!("body.embeds[{i}]");
            let eo = obj(embed, &at)?;
            only(
                eo,
                &[
                    "title",
                    "type",
                    "description",
                    "url",
                    "timestamp",
                    "color",
                    "footer",
                    "image",
                    "thumbnail",
                    "video",
                    "provider",
                    "author",
                    "fields",
                ],
                &at,
            )?;
            if let Some(t) = eo.get("title") {
                embeds_total += len(string(t, &format!("{at}.title"), 1, 256)?);
            }
            if let Some(d) = eo.get("description") {
                embeds_total += len(string(d, &format!("{at}.description"), 1, 4_096)?);
            }
            if let Some(u) = eo.get("url") {
                url(u, &format!("{at}.url"), 2_048)?;
            }
            if let Some(ts) = eo.get("timestamp") {
                let ts = string(ts, &format!("{at}.timestamp"), 20, 40)?;
                let b = ts.as_bytes();
                if !(b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':') {
                    return Err(format!("{at}.timestamp: {ts:?} is not ISO 8601"));
                }
            }
            if let Some(c) = eo.get("color") {
                match c.as_u64() {
                    Some(n) if n <= 0xFF_FFFF => {}
                    _ => return Err(format!("{at}.color: {c} is not a colour number")),
                }
            }
            if let Some(f) = eo.get("footer") {
                let fo = obj(f, &format!("{at}.footer"))?;
                only(fo, &["text", "icon_url"], &format!("{at}.footer"))?;
                embeds_total += len(string(
                    fo.get("text").unwrap_or(&Value::Null),
                    &format!("{at}.footer.text"),
                    1,
                    2_048,
                )?);
                if let Some(u) = fo.get("icon_url") {
                    url(u, &format!("{at}.footer.icon_url"), 2_048)?;
                }
            }
            if let Some(a) = eo.get("author") {
                let ao = obj(a, &format!("{at}.author"))?;
                only(ao, &["name", "url", "icon_url"], &format!("{at}.author"))?;
                embeds_total += len(string(
                    ao.get("name").unwrap_or(&Value::Null),
                    &format!("{at}.author.name"),
                    1,
                    256,
                )?);
                for k in ["url", "icon_url"] {
                    if let Some(u) = ao.get(k) {
                        url(u, &format!("{at}.author.{k}"), 2_048)?;
                    }
                }
            }
            if let Some(f) = eo.get("fields") {
                for (j, field) in array(f, &format!("{at}.fields"), 0, 25)?.iter().enumerate() {
                    let at = format!("{at}.fields[{j}]");
                    let fo = obj(field, &at)?;
                    only(fo, &["name", "value", "inline"], &at)?;
                    opt_bool(fo, "inline", &at)?;
                    embeds_total += len(string(
                        fo.get("name").unwrap_or(&Value::Null),
                        &format!("{at}.name"),
                        1,
                        256,
                    )?);
                    embeds_total += len(string(
                        fo.get("value").unwrap_or(&Value::Null),
                        &format!("{at}.value"),
                        1,
                        1_024,
                    )?);
                }
            }
            for k in ["image", "thumbnail"] {
                if let Some(v) = eo.get(k) {
                    let vo = obj(v, &format!("{at}.{k}"))?;
                    url(
                        vo.get("url").unwrap_or(&Value::Null),
                        &format!("{at}.{k}.url"),
                        2_048,
                    )?;
                }
            }
        }
    }
    if embeds_total > 6_000 {
        return Err(format!(
            "body.embeds: {embeds_total} characters in all, must be at most 6000"
        ));
    }
    if content.is_empty() && !has_embed {
        return Err("body: cannot send an empty message".into());
    }
    if let Some(m) = o.get("allowed_mentions") {
        let mo = obj(m, "body.allowed_mentions")?;
        only(
            mo,
            &["parse", "roles", "users", "replied_user"],
            "body.allowed_mentions",
        )?;
        if let Some(p) = mo.get("parse") {
            for v in array(p, "body.allowed_mentions.parse", 0, 3)? {
                if !matches!(v.as_str(), Some("roles" | "users" | "everyone")) {
                    return Err(format!(
                        "body.allowed_mentions.parse: {v} is not a mention type"
                    ));
                }
            }
        }
    }
    Ok(())
}
