//! The reloadable heart of the service: a validated config and its compiled
//! templates; the step that turns one verified event into the messages to
//! queue (route, then one stored message per target and thread step, see
//! `queued`); and the step that turns a queued message into the card its
//! sink posts (render for the sink's platform), which the lane worker runs
//! when it sends and `hookbridge render` runs to show it.

mod queued;

pub use queued::Origin;

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::config::{Config, SinkKind};
use crate::event::Event;
use crate::outbox::{Lane, NewMessage};
use crate::render::{Card, EventContext, Platform, Renderer, TemplateProblem};
use crate::routing::{self, Destination};

/// Config plus templates: swapped whole on reload.
pub struct Pipeline {
    pub config: Config,
    /// Shared with the lane workers, which render when they send.
    pub renderer: Arc<Renderer>,
}

/// One target's messages as queued, in lane order: the post, then its
/// follow-ups (edits of its thread's parent).
#[derive(Debug, Clone)]
pub struct Routed {
    pub destination: Destination,
    pub lane: Lane,
    pub messages: Vec<NewMessage>,
}

/// One message rendered as its sink will post it, with where it goes
/// (`hookbridge render`, and tests).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub destination: Destination,
    pub sink_kind: SinkKind,
    pub platform: Platform,
    /// The rendered card.
    pub card: Card,
    /// The message as its sink sends it: lane and the card's stored form.
    pub message: NewMessage,
}

/// What a stored message becomes when its lane's worker sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready<'a> {
    /// The card (stored form, with its thread part) to post.
    Send(Cow<'a, str>),
    /// The template renders nothing for this event: nothing is posted.
    Nothing,
    /// The stored message cannot be read (the text says why).
    Unreadable(String),
}

impl Ready<'_> {
    pub fn into_owned(self) -> Ready<'static> {
        match self {
            Ready::Send(s) => Ready::Send(Cow::Owned(s.into_owned())),
            Ready::Nothing => Ready::Nothing,
            Ready::Unreadable(e) => Ready::Unreadable(e),
        }
    }
}

/// Renders a stored message for `platform` with `renderer`'s templates:
/// a queued message becomes its card (or nothing, when the template leaves
/// the event out); a card or text stored by an older version is sent as
/// it is.
pub fn ready<'a>(renderer: &Renderer, stored: &'a str, platform: Platform) -> Ready<'a> {
    if !queued::is_queued(stored) {
        return Ready::Send(Cow::Borrowed(stored));
    }
    let q = match queued::decode(stored) {
        Ok(q) => q,
        Err(e) => return Ready::Unreadable(format!("cannot read the queued event: {e}")),
    };
    let payload = match q.payload() {
        Ok(p) => p,
        Err(e) => return Ready::Unreadable(format!("cannot read the queued event: {e}")),
    };
    let mut event =
        match crate::sources::parse_stored(q.kind, &q.source, &q.delivery, &q.headers, &payload) {
            Ok(event) => event,
            Err(e) => {
                return Ready::Unreadable(format!("cannot parse the queued event again: {e}"));
            }
        };
    let payload = std::mem::take(&mut event.payload);
    let ctx = EventContext::new(&event, payload);
    let card = renderer.render_in(platform, &q.set, &ctx);
    let card = q.part.cut(card, &event, platform);
    if card.is_empty() {
        return Ready::Nothing;
    }
    let stored = card.to_stored();
    Ready::Send(Cow::Owned(match &q.thread {
        Some(t) => crate::threads::attach(&stored, t),
        None => stored,
    }))
}

/// The payload a stored message keeps, as its JSON text; `None` for a
/// card or text an older version stored.
pub fn stored_payload(stored: &str) -> Result<Option<Vec<u8>>, String> {
    if !queued::is_queued(stored) {
        return Ok(None);
    }
    let q = queued::decode(stored).map_err(|e| format!("cannot read the queued event: {e}"))?;
    q.payload().map(Some)
}

/// The text the outbox keeps for `payload`, parsed from `body`: the body
/// itself when it is the payload's JSON as it is (`body_is_payload`, see
/// [`Event::body_is_payload`]: no copy, no second serialisation), else the
/// payload serialised.
pub fn payload_json<'a>(body: &'a [u8], payload: &Value, body_is_payload: bool) -> Cow<'a, str> {
    if body_is_payload && let Ok(text) = std::str::from_utf8(body) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(serde_json::to_string(payload).unwrap_or_else(|_| "null".to_string()))
}

/// Why a pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    // Transparent: the config error says it all, and a chain printer
    // (`{:#}`) must not say it again as its source.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("templates:\n{}", format_problems(.0))]
    Templates(Vec<TemplateProblem>),
}

fn format_problems(p: &[TemplateProblem]) -> String {
    p.iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A forge testing the hook: the service verifies and answers it, and
/// never routes it (`render` says so too).
pub fn is_ping(event: &Event) -> bool {
    event.kind == "ping"
}

/// Routes naming a template set no platform has: a misspelt set would
/// quietly render with `default`, so start-up, reload and `check` refuse it.
pub fn unknown_template_sets(config: &Config, renderer: &Renderer) -> Vec<TemplateProblem> {
    config
        .routes
        .iter()
        .filter(|r| !renderer.has_set(r.template_set()))
        .map(|r| TemplateProblem {
            template: config.path.display().to_string(),
            line: Some(r.line),
            message: format!(
                "routes[{}].template: no template set named `{}` (sets: {}); \
                 fix the name or add templates/<platform>/{}/",
                r.index,
                r.template_set(),
                renderer.set_names().join(", "),
                r.template_set(),
            ),
        })
        .collect()
}

impl Prepared {
    /// The card's text line (the whole message for a text-only card).
    pub fn text(&self) -> &str {
        &self.card.text
    }

    /// The exact request body its sink will post.
    pub fn body(&self) -> serde_json::Value {
        crate::render::card_body(
            self.platform,
            self.destination.target.channel.as_deref(),
            &self.card,
        )
    }
}

impl Pipeline {
    /// Reads the config file and compiles its templates.
    pub fn load(path: &Path) -> Result<Pipeline, LoadError> {
        let config = Config::load(path)?;
        Pipeline::from_config(config)
    }

    pub fn from_config(config: Config) -> Result<Pipeline, LoadError> {
        let renderer = Renderer::load(&config.templates_dir).map_err(LoadError::Templates)?;
        let unknown = unknown_template_sets(&config, &renderer);
        if !unknown.is_empty() {
            return Err(LoadError::Templates(unknown));
        }
        Ok(Pipeline {
            config,
            renderer: Arc::new(renderer),
        })
    }

    /// Routes `event` and makes each target's messages as the outbox keeps
    /// them, unrendered: the lane worker renders each when it sends (see
    /// [`ready`]). `payload` is the event's payload, `payload_json` its
    /// JSON text ([`payload_json`]) and `origin` where it came from.
    pub fn queue(
        &self,
        event: &Event,
        payload: &Value,
        origin: &Origin,
        payload_json: &str,
    ) -> Vec<Routed> {
        let destinations = routing::route(&self.config, event);
        if destinations.is_empty() {
            return Vec::new();
        }
        let origin = origin.members();
        let packed = queued::pack(payload_json);
        let keys = crate::threads::Keys::of(&self.config, event, payload);
        let mut routed = Vec::with_capacity(destinations.len());
        for destination in destinations {
            // Routes only name configured sinks (checked at load).
            let Some(sink) = self.config.sinks.get(&destination.target.sink) else {
                continue;
            };
            let platform = Platform::for_sink(sink.kind);
            let lane = Lane {
                sink: destination.target.sink.clone(),
                channel: destination.target.channel.clone().unwrap_or_default(),
            };
            let steps =
                crate::threads::steps(&self.config, event, &keys, &destination.target, platform);
            let messages = steps
                .iter()
                .map(|step| NewMessage {
                    lane: lane.clone(),
                    message: queued::encode(&destination.template, step, &origin, &packed),
                })
                .collect();
            routed.push(Routed {
                destination,
                lane,
                messages,
            });
        }
        routed
    }

    /// Routes `event` and renders each target's post exactly as its sink
    /// will post it (through the stored form, as the lane worker does; the
    /// follow-ups that edit a thread's parent are cut from the same card);
    /// the destinations whose template renders nothing come beside them. `payload` is the event's raw payload and `origin` where it
    /// came from.
    pub fn plan(
        &self,
        event: &Event,
        payload: Value,
        origin: &Origin,
    ) -> (Vec<Prepared>, Vec<Destination>) {
        let payload_text = serde_json::to_string(&payload).unwrap_or_else(|_| "null".to_string());
        let mut prepared = Vec::new();
        let mut silent = Vec::new();
        for routed in self.queue(event, &payload, origin, &payload_text) {
            let Some(sink) = self.config.sinks.get(&routed.destination.target.sink) else {
                continue;
            };
            let platform = Platform::for_sink(sink.kind);
            // The post comes first; when it renders nothing, so does every
            // follow-up (see `threads::Part::cut`).
            let post = routed.messages.first();
            let Some(Ready::Send(stored)) =
                post.map(|m| ready(&self.renderer, &m.message, platform))
            else {
                silent.push(routed.destination);
                continue;
            };
            let message = NewMessage {
                lane: routed.lane,
                message: stored.into_owned(),
            };
            prepared.push(Prepared {
                card: Card::from_stored(&message.message),
                message,
                destination: routed.destination,
                sink_kind: sink.kind,
                platform,
            });
        }
        (prepared, silent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_json_body_is_stored_as_it_came() {
        let body = br#" {"action":"opened","n":1}"#;
        let payload = json!({"action": "opened", "n": 1});
        assert!(matches!(
            payload_json(body, &payload, true),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            payload_json(body, &payload, true),
            r#" {"action":"opened","n":1}"#
        );
    }

    #[test]
    fn a_body_that_may_hold_a_secret_or_is_a_form_is_serialised_anew() {
        // The parsed payload has had its secret taken out.
        let payload = json!({"action": "opened"});
        for body in [
            &br#"{"action":"opened","secret":"hunter2"}"#[..],
            b"payload=%7B%22action%22%3A%22opened%22%7D",
        ] {
            let stored = payload_json(body, &payload, false);
            assert!(matches!(stored, Cow::Owned(_)));
            assert_eq!(stored, r#"{"action":"opened"}"#);
        }
    }

    #[test]
    fn a_secret_however_written_is_never_kept() {
        let mut headers = poem::http::HeaderMap::new();
        headers.insert("x-github-event", "push".parse().unwrap());
        let source = crate::config::SourceConfig {
            name: "gh".into(),
            kind: crate::config::SourceKind::Github,
            secrets: Vec::new(),
            allow_unsigned: true,
        };
        // `\u0065` is `e`: the key is `secret`, though no `"secret"` is in the bytes.
        let body = br#"{"ref":"refs/heads/main","secr\u0065t":"hunter2","repository":{"full_name":"a/b"}}"#;
        let delivery = crate::sources::Delivery {
            headers: &headers,
            query: None,
            body,
        };
        let event = crate::sources::parse(&source, &delivery).unwrap();
        assert!(!event.body_is_payload);
        let kept = payload_json(body, &event.payload, event.body_is_payload);
        assert!(!kept.contains("hunter2"), "{kept}");
        assert!(kept.contains("refs/heads/main"), "{kept}");
    }

    #[test]
    fn a_form_body_is_never_kept_as_the_payload_even_when_it_looks_like_json() {
        let mut headers = poem::http::HeaderMap::new();
        headers.insert("x-github-event", "issues".parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let source = crate::config::SourceConfig {
            name: "gh".into(),
            kind: crate::config::SourceKind::Github,
            secrets: Vec::new(),
            allow_unsigned: true,
        };
        // The form's `payload` is one object; read as JSON, the body is another.
        let real = r#"{"action":"opened","issue":{"number":1},"repository":{"full_name":"a/b"}}"#;
        let form: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", real)
            .finish();
        let body = format!(
            r#"{{"z":"&{form}&","action":"deleted","issue":{{"number":9}},"repository":{{"full_name":"evil/other"}}}}"#
        );
        let delivery = crate::sources::Delivery {
            headers: &headers,
            query: None,
            body: body.as_bytes(),
        };
        let event = crate::sources::parse(&source, &delivery).unwrap();
        assert_eq!(event.repo.key, "a/b");
        assert!(!event.body_is_payload);
        let kept = payload_json(body.as_bytes(), &event.payload, event.body_is_payload);
        assert!(!kept.contains("evil/other"), "{kept}");
        let again = crate::sources::parse_stored(
            source.kind,
            "gh",
            "d-1",
            &[("x-github-event".into(), "issues".into())],
            kept.as_bytes(),
        )
        .unwrap();
        assert_eq!(
            (again.kind.as_str(), again.repo.key.as_str(), again.number),
            ("issues.opened", "a/b", Some(1))
        );
    }

    fn renderer() -> Renderer {
        Renderer::load(Path::new("no-templates-here")).expect("embedded templates compile")
    }

    #[test]
    fn older_rows_are_sent_as_they_are() {
        let r = renderer();
        for stored in [r#"{"card":1,"text":"hi"}"#, "plain text of an old row"] {
            assert_eq!(
                ready(&r, stored, Platform::Slack),
                Ready::Send(Cow::Borrowed(stored))
            );
        }
    }

    #[test]
    fn a_queued_message_renders_for_the_platform_it_is_sent_on() {
        let r = renderer();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github");
        let body = std::fs::read(dir.join("issues.opened.1.json")).unwrap();
        let mut headers = poem::http::HeaderMap::new();
        headers.insert("x-github-event", "issues".parse().unwrap());
        headers.insert("x-github-delivery", "d-1".parse().unwrap());
        headers.insert("x-hub-signature-256", "sha256=00".parse().unwrap());
        let source = crate::config::SourceConfig {
            name: "gh".into(),
            kind: crate::config::SourceKind::Github,
            secrets: Vec::new(),
            allow_unsigned: true,
        };
        let delivery = crate::sources::Delivery {
            headers: &headers,
            query: None,
            body: &body,
        };
        let event = crate::sources::parse(&source, &delivery).unwrap();
        let origin = Origin::new(&event, source.kind, &headers);
        // Only the event name is kept: no signature, no delivery header.
        assert_eq!(
            origin.headers,
            [("x-github-event".to_string(), "issues".to_string())]
        );
        let step = crate::threads::Step {
            thread: None,
            part: crate::threads::Part::Card,
        };
        let stored = queued::encode(
            "default",
            &step,
            &origin.members(),
            &queued::pack(&payload_json(&body, &event.payload, event.body_is_payload)),
        );
        for platform in [Platform::Slack, Platform::Discord, Platform::Plain] {
            let Ready::Send(card) = ready(&r, &stored, platform) else {
                panic!("{platform:?}: nothing to send");
            };
            let direct = r.render(platform, "default", &event);
            assert!(!direct.is_empty());
            assert_eq!(Card::from_stored(&card), direct, "{platform:?}");
        }
        assert!(matches!(
            ready(&r, r#"{"queued":1,"set":"default","packed":7}"#, Platform::Slack),
            Ready::Unreadable(e) if e.starts_with("cannot read the queued event")
        ));
        // A payload its parser no longer takes.
        let wrong = stored.replace("\"kind\":\"github\"", "\"kind\":\"gitlab\"");
        assert!(matches!(
            ready(&r, &wrong, Platform::Slack),
            Ready::Unreadable(e) if e.starts_with("cannot parse the queued event again")
        ));
    }
}
