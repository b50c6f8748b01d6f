//! The reloadable heart of the service: a validated config and its compiled
//! templates, and the step that turns one event into the messages to queue
//! (route, then render a card for each target's platform, kept in the
//! outbox in its stored form).

use std::path::Path;

use crate::config::{Config, SinkKind};
use crate::event::Event;
use crate::outbox::{Lane, NewMessage};
use crate::render::{Card, EventContext, Platform, Renderer, TemplateProblem};
use crate::routing::{self, Destination};

/// Config plus templates: swapped whole on reload.
pub struct Pipeline {
    pub config: Config,
    pub renderer: Renderer,
}

/// One message ready to queue, with where it goes.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub destination: Destination,
    pub sink_kind: SinkKind,
    pub platform: Platform,
    /// The rendered card.
    pub card: Card,
    /// The message as queued: lane and the card's stored form.
    pub message: NewMessage,
    /// Messages queued after it in its lane: edits of its thread's parent.
    pub follow_ups: Vec<NewMessage>,
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
        Ok(Pipeline { config, renderer })
    }

    /// Routes `event` and renders one message per destination; a
    /// destination whose template renders nothing (whitespace only, no card
    /// part) gets no message. `payload` is the event's raw payload, handed
    /// over so the template context takes it without a copy
    /// (`std::mem::take(&mut event.payload)`).
    pub fn prepare(&self, event: &Event, payload: serde_json::Value) -> Vec<Prepared> {
        self.plan(event, payload).0
    }

    /// As [`prepare`](Self::prepare), with the destinations whose template
    /// rendered nothing beside the messages (for `render` to say so).
    pub fn plan(
        &self,
        event: &Event,
        payload: serde_json::Value,
    ) -> (Vec<Prepared>, Vec<Destination>) {
        let destinations = routing::route(&self.config, event);
        let mut prepared = Vec::new();
        let mut silent = Vec::new();
        if destinations.is_empty() {
            return (prepared, silent);
        }
        let keys = crate::threads::Keys::of(&self.config, event, &payload);
        let ctx = EventContext::new(event, payload);
        for destination in destinations {
            // Routes only name configured sinks (checked at load).
            let Some(sink) = self.config.sinks.get(&destination.target.sink) else {
                continue;
            };
            let platform = Platform::for_sink(sink.kind);
            let card = self
                .renderer
                .render_in(platform, &destination.template, &ctx);
            if card.is_empty() {
                silent.push(destination);
                continue;
            }
            let lane = Lane {
                sink: destination.target.sink.clone(),
                channel: destination.target.channel.clone().unwrap_or_default(),
            };
            let (message, follow_ups) = crate::threads::queue(
                &self.config,
                event,
                &keys,
                &destination.target,
                platform,
                &card,
                &lane,
            );
            prepared.push(Prepared {
                message: NewMessage { lane, message },
                follow_ups,
                card,
                destination,
                sink_kind: sink.kind,
                platform,
            });
        }
        (prepared, silent)
    }
}
