//! Rendering: one Handlebars registry per platform (Slack mrkdwn, Discord
//! markdown, plain text), embedded default templates overridable from
//! `templates/`, inert mentions, and platform size limits.
//!
//! Template names inside a registry are `<set>/<name>` (`default/push`,
//! `compact/default`); files are `<dir>/<platform>/<set>/<name>.hbs`. The
//! lookup for set S and kind `a.b.c` is `S/a.b.c`, `S/a.b`, `S/a`,
//! `S/default`, then the same in set `default`.

mod embedded;
mod escape;
mod helpers;
pub mod limits;
mod samples;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use handlebars::{
    Context, Handlebars, RenderError, RenderErrorReason, TemplateError, TemplateErrorReason,
};
use serde_json::{Value as Json, json};

use crate::config::SinkKind;
use crate::event::{Event, kind_matches};

/// The dialect a message is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    Slack,
    Discord,
    /// Plain text, for the stdout sink.
    Plain,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Slack, Platform::Discord, Platform::Plain];

    pub fn for_sink(kind: SinkKind) -> Platform {
        match kind {
            SinkKind::Slack => Platform::Slack,
            SinkKind::Discord => Platform::Discord,
            SinkKind::Stdout => Platform::Plain,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Discord => "discord",
            Platform::Plain => "plain",
        }
    }

    fn from_dir_name(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// A template problem: which template, where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// e.g. `templates/slack/default/push.hbs` or `embedded:slack/default/push`
    pub template: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.template, l, self.message),
            None => write!(f, "{}: {}", self.template, self.message),
        }
    }
}

/// The registry name of the embedded generic template used when the chosen
/// template fails at render time. A NUL cannot come from a file name, so no
/// override can replace it.
const FALLBACK: &str = "\0fallback";

/// All templates for all platforms, compiled. `Send + Sync`: share one
/// behind an `Arc` (or swap it on reload).
pub struct Renderer {
    slack: Handlebars<'static>,
    discord: Handlebars<'static>,
    plain: Handlebars<'static>,
    /// Where each `(platform, "set/name")` came from: a file path or
    /// `embedded:<platform>/<set>/<name>`.
    origins: BTreeMap<(Platform, String), String>,
}

const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Renderer>();
};

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("templates", &self.origins.len())
            .finish()
    }
}

impl Renderer {
    /// Embedded defaults, overridden by files under `dir` (a missing `dir`
    /// means defaults only). Fails on a template that does not compile.
    pub fn load(dir: &Path) -> Result<Renderer, Vec<TemplateProblem>> {
        Renderer::build(dir, false).map(|(r, _notes)| r)
    }

    /// Strict check for `hookbridge check`: every template compiles and
    /// renders a sample event in strict mode. Empty when all is well.
    pub fn check(dir: &Path) -> Vec<TemplateProblem> {
        let (renderer, mut problems) = match Renderer::build(dir, true) {
            Ok(ok) => ok,
            Err(problems) => return problems,
        };
        let all_samples = samples::all();
        let mut seen = HashSet::new();
        for ((platform, name), origin) in &renderer.origins {
            let hb = renderer.registry(*platform);
            let kind_part = name.split_once('/').map(|(_, k)| k).unwrap_or(name);
            let (samples, known) = samples_for(&all_samples, kind_part);
            for sample in &samples {
                let ctx = match context(sample) {
                    Ok(ctx) => ctx,
                    Err(e) => {
                        problems.push(TemplateProblem {
                            template: origin.clone(),
                            line: None,
                            message: format!(
                                "sample event {} does not serialise: {e}",
                                sample.kind
                            ),
                        });
                        continue;
                    }
                };
                // (line, reason): one problem per distinct failure, named
                // with the first sample that shows it.
                let failure = match hb.render_with_context(name, &ctx) {
                    Ok(text) if text.trim().is_empty() => Some((
                        None,
                        "renders nothing (an empty message cannot be sent)".to_string(),
                    )),
                    Ok(_) => None,
                    Err(e) if !known && is_payload_miss(&e) => None,
                    Err(e) => Some((e.line_no, render_reason(&e))),
                };
                if let Some((line, reason)) = failure
                    && seen.insert((origin.clone(), line, reason.clone()))
                {
                    problems.push(TemplateProblem {
                        template: origin.clone(),
                        line,
                        message: format!("{reason} (rendering a sample `{}` event)", sample.kind),
                    });
                }
            }
        }
        problems
    }

    /// Renders `event` with template set `set` for `platform`: the message
    /// text, escaped, mention-safe and within the platform's limits. Never
    /// fails: a template that errors at render time falls back to the
    /// embedded generic template.
    pub fn render(&self, platform: Platform, set: &str, event: &Event) -> String {
        self.render_in(
            platform,
            set,
            &EventContext::new(event, event.payload.clone()),
        )
    }

    /// As [`render`](Self::render), with a context built once per event and
    /// shared by all of its targets (the request path's form: no copy of
    /// the payload).
    pub fn render_in(&self, platform: Platform, set: &str, ctx: &EventContext<'_>) -> String {
        let text = self.render_unlimited(platform, set, ctx);
        limits::enforce(platform, text)
    }

    /// True when some platform has a template in set `set` (a route naming
    /// a set nobody defined probably has a typo).
    pub fn has_set(&self, set: &str) -> bool {
        self.origins
            .keys()
            .any(|(_, n)| n.split_once('/').is_some_and(|(s, _)| s == set))
    }

    /// Every template set some platform has, sorted.
    pub fn set_names(&self) -> Vec<String> {
        let sets: std::collections::BTreeSet<&str> = self
            .origins
            .keys()
            .filter_map(|(_, n)| n.split_once('/').map(|(s, _)| s))
            .collect();
        sets.into_iter().map(str::to_string).collect()
    }

    /// Names of the templates `platform` has, as `set/name` (for listings).
    pub fn template_names(&self, platform: Platform) -> Vec<String> {
        self.origins
            .keys()
            .filter(|(p, _)| *p == platform)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// The template (`set/name`) that `render` would use first.
    pub fn resolve(&self, platform: Platform, set: &str, kind: &str) -> Option<String> {
        let hb = self.registry(platform);
        let sets: &[&str] = if set == "default" || set.is_empty() {
            &["default"]
        } else {
            &[set, "default"]
        };
        for s in sets {
            let mut k = kind;
            loop {
                if !k.is_empty() {
                    let name = format!("{s}/{k}");
                    if hb.has_template(&name) {
                        return Some(name);
                    }
                }
                match k.rfind('.') {
                    Some(i) => k = &k[..i],
                    None => break,
                }
            }
            let name = format!("{s}/default");
            if hb.has_template(&name) {
                return Some(name);
            }
        }
        None
    }

    fn render_unlimited(&self, platform: Platform, set: &str, ectx: &EventContext<'_>) -> String {
        let hb = self.registry(platform);
        let event = ectx.event;
        let ctx = match &ectx.context {
            Ok(ctx) => ctx,
            Err(e) => {
                tracing::warn!(kind = %event.kind, error = %e, "event does not serialise; minimal message");
                return minimal(platform, event);
            }
        };
        if let Some(name) = self.resolve(platform, set, &event.kind) {
            match hb.render_with_context(&name, ctx) {
                Ok(text) => {
                    let text = tidy(&text);
                    if !text.is_empty() {
                        return text;
                    }
                    tracing::warn!(template = %name, platform = platform.as_str(), kind = %event.kind,
                        "template rendered nothing; using the generic template");
                }
                Err(e) => {
                    tracing::warn!(template = %name, platform = platform.as_str(), kind = %event.kind,
                        error = %render_reason(&e), line = ?e.line_no,
                        "template failed; using the generic template");
                }
            }
        }
        match hb.render_with_context(FALLBACK, ctx) {
            Ok(text) if !tidy(&text).is_empty() => tidy(&text),
            Ok(_) => minimal(platform, event),
            Err(e) => {
                tracing::warn!(platform = platform.as_str(), kind = %event.kind,
                    error = %render_reason(&e), "generic template failed; minimal message");
                minimal(platform, event)
            }
        }
    }

    fn registry(&self, platform: Platform) -> &Handlebars<'static> {
        match platform {
            Platform::Slack => &self.slack,
            Platform::Discord => &self.discord,
            Platform::Plain => &self.plain,
        }
    }

    fn registry_mut(&mut self, platform: Platform) -> &mut Handlebars<'static> {
        match platform {
            Platform::Slack => &mut self.slack,
            Platform::Discord => &mut self.discord,
            Platform::Plain => &mut self.plain,
        }
    }

    /// Embedded templates plus the files under `dir`. Besides the renderer,
    /// returns notes that are not fatal for `load` but that `check` reports
    /// (files in places the lookup never reads).
    fn build(
        dir: &Path,
        strict: bool,
    ) -> Result<(Renderer, Vec<TemplateProblem>), Vec<TemplateProblem>> {
        let mut r = Renderer {
            slack: registry(Platform::Slack, strict),
            discord: registry(Platform::Discord, strict),
            plain: registry(Platform::Plain, strict),
            origins: BTreeMap::new(),
        };
        let mut problems = Vec::new();
        for t in embedded::EMBEDDED {
            let Some(platform) = Platform::from_dir_name(t.platform) else {
                continue;
            };
            let origin = format!("embedded:{}/{}/{}", t.platform, t.set, t.name);
            let name = format!("{}/{}", t.set, t.name);
            if let Err(e) = r
                .registry_mut(platform)
                .register_template_string(&name, t.source)
            {
                problems.push(compile_problem(origin.clone(), &e));
                continue;
            }
            if t.set == "default"
                && t.name == "default"
                && let Err(e) = r
                    .registry_mut(platform)
                    .register_template_string(FALLBACK, t.source)
            {
                problems.push(compile_problem(origin.clone(), &e));
            }
            r.origins.insert((platform, name), origin);
        }
        let notes = r.load_dir(dir, &mut problems);
        if problems.is_empty() {
            Ok((r, notes))
        } else {
            Err(problems)
        }
    }

    /// Registers `<dir>/<platform>/<set>/<name>.hbs` files over the embedded
    /// ones. Compile and read errors go to `problems`; the returned notes
    /// name files the lookup would never use.
    fn load_dir(
        &mut self,
        dir: &Path,
        problems: &mut Vec<TemplateProblem>,
    ) -> Vec<TemplateProblem> {
        let mut notes = Vec::new();
        let note = |path: &Path, message: &str| TemplateProblem {
            template: path.display().to_string(),
            line: None,
            message: message.to_string(),
        };
        match std::fs::metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return notes,
            Err(e) => {
                problems.push(note(dir, &format!("cannot read templates directory: {e}")));
                return notes;
            }
            Ok(m) if !m.is_dir() => {
                problems.push(note(dir, "templates path is not a directory"));
                return notes;
            }
            Ok(_) => {}
        }
        for platform_dir in sorted_entries(dir, problems) {
            let Some(pname) = file_name(&platform_dir) else {
                continue;
            };
            if pname.starts_with('.') {
                continue;
            }
            // Other files (a README, …) are fine; a misspelt platform
            // directory or a template in the wrong place is worth a note.
            let Some(platform) = Platform::from_dir_name(&pname) else {
                if platform_dir.is_dir() {
                    notes.push(note(
                        &platform_dir,
                        "not a platform directory (expected slack, discord or plain); ignored",
                    ));
                } else if pname.ends_with(".hbs") {
                    notes.push(note(&platform_dir, MISPLACED));
                }
                continue;
            };
            if !platform_dir.is_dir() {
                continue;
            }
            for set_dir in sorted_entries(&platform_dir, problems) {
                let Some(set) = file_name(&set_dir) else {
                    continue;
                };
                if set.starts_with('.') {
                    continue;
                }
                if !set_dir.is_dir() {
                    if set.ends_with(".hbs") {
                        notes.push(note(&set_dir, MISPLACED));
                    }
                    continue;
                }
                for file in sorted_entries(&set_dir, problems) {
                    let Some(fname) = file_name(&file) else {
                        continue;
                    };
                    if fname.starts_with('.') {
                        continue;
                    }
                    let Some(stem) = fname.strip_suffix(".hbs").filter(|s| !s.is_empty()) else {
                        continue;
                    };
                    if file.is_dir() {
                        notes.push(note(&file, MISPLACED));
                        continue;
                    }
                    let source = match std::fs::read_to_string(&file) {
                        Ok(s) => s,
                        Err(e) => {
                            problems.push(note(&file, &format!("cannot read template: {e}")));
                            continue;
                        }
                    };
                    let name = format!("{set}/{stem}");
                    let origin = file.display().to_string();
                    match self
                        .registry_mut(platform)
                        .register_template_string(&name, &source)
                    {
                        Ok(()) => {
                            self.origins.insert((platform, name), origin);
                        }
                        Err(e) => problems.push(compile_problem(origin, &e)),
                    }
                }
            }
        }
        notes
    }
}

const MISPLACED: &str =
    "templates go in <platform>/<set>/<name>.hbs (e.g. slack/default/push.hbs); ignored";

/// A fresh registry for `platform`: its escaping, its helpers.
fn registry(platform: Platform, strict: bool) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(strict);
    hb.register_escape_fn(move |s| escape::escape(platform, s));
    helpers::register(&mut hb, platform);
    hb
}

/// The template context: `{"event": …, "payload": …}`.
/// The context of `event` with a copy of its payload (for `check` and tests).
fn context(event: &Event) -> Result<Context, serde_json::Error> {
    EventContext::new(event, event.payload.clone()).context
}

/// The template context of one event, `{"event": …, "payload": …}`, built
/// once and rendered for every target.
pub struct EventContext<'a> {
    event: &'a Event,
    context: Result<Context, serde_json::Error>,
}

impl<'a> EventContext<'a> {
    /// `payload` is the event's raw payload, handed over (the request path
    /// moves it out of the event rather than copy it).
    pub fn new(event: &'a Event, payload: Json) -> EventContext<'a> {
        let context = serde_json::to_value(event).map(|ev| {
            let mut map = serde_json::Map::with_capacity(2);
            map.insert("event".to_string(), ev);
            map.insert("payload".to_string(), payload);
            Context::from(Json::Object(map))
        });
        EventContext { event, context }
    }
}

/// The last resort: kind and repo, escaped for the platform.
fn minimal(platform: Platform, event: &Event) -> String {
    let kind = if event.kind.is_empty() {
        "event"
    } else {
        &event.kind
    };
    let repo = if event.repo.name.is_empty() {
        &event.repo.key
    } else {
        &event.repo.name
    };
    let line = if repo.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} in {repo}")
    };
    escape::escape(platform, &line)
}

/// Trailing spaces off every line, at most one blank line in a row, no
/// leading or trailing blank lines.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out
}

fn compile_problem(template: String, e: &TemplateError) -> TemplateProblem {
    let reason = match e.reason() {
        // The parser's list of every rule it expected says little.
        TemplateErrorReason::InvalidSyntax(msg) if msg.starts_with("expected ") => {
            "invalid Handlebars syntax: a malformed tag, or a block (`{{#…}}`) never closed"
                .to_string()
        }
        other => other.to_string(),
    };
    let (line, message) = match e.pos() {
        Some((line, col)) => (Some(line), format!("{reason} (column {col})")),
        None => (None, reason),
    };
    TemplateProblem {
        template,
        line,
        message,
    }
}

/// A render error's reason without handlebars' "Error rendering …" prefix
/// (the problem already names template and line).
fn render_reason(e: &RenderError) -> String {
    match e.reason() {
        RenderErrorReason::MissingVariable(Some(path)) => {
            format!("unknown field `{path}` (strict mode)")
        }
        RenderErrorReason::MissingVariable(None) => "unknown field (strict mode)".to_string(),
        RenderErrorReason::HelperNotFound(name) => format!("unknown helper `{name}`"),
        other => other.to_string(),
    }
}

/// A strict-mode miss on a `payload.*` path: expected when the sample
/// payload is a generic one.
fn is_payload_miss(e: &RenderError) -> bool {
    matches!(e.reason(), RenderErrorReason::MissingVariable(Some(p)) if p.starts_with("payload"))
        || matches!(e.reason(), RenderErrorReason::MissingVariable(None))
}

/// The sample events a template named `name` is checked against, and
/// whether they are real samples of that kind (`false`: a generic stand-in).
fn samples_for(all: &[Event], name: &str) -> (Vec<Event>, bool) {
    if name == "default" {
        return (vec![samples::generic("star.created")], true);
    }
    let matching: Vec<Event> = all
        .iter()
        .filter(|e| kind_matches(&e.kind, name))
        .cloned()
        .collect();
    if matching.is_empty() {
        (vec![samples::generic(name)], false)
    } else {
        (matching, true)
    }
}

fn sorted_entries(dir: &Path, problems: &mut Vec<TemplateProblem>) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut v: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            v.sort();
            v
        }
        Err(e) => {
            problems.push(TemplateProblem {
                template: dir.display().to_string(),
                line: None,
                message: format!("cannot list directory: {e}"),
            });
            Vec::new()
        }
    }
}

fn file_name(p: &Path) -> Option<String> {
    p.file_name().and_then(|n| n.to_str()).map(str::to_string)
}

/// The exact JSON request body a sink posts for `text`: Slack
/// `chat.postMessage`/webhook body (with `channel` when given), Discord
/// execute-webhook/create-message body (`allowed_mentions` empty), or
/// `{"text": …}` for stdout.
pub fn request_body(platform: Platform, channel: Option<&str>, text: &str) -> serde_json::Value {
    match platform {
        Platform::Slack => {
            let blocks: Vec<Json> = limits::slack_sections(text)
                .into_iter()
                .map(|chunk| {
                    json!({
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": chunk, "verbatim": true},
                    })
                })
                .collect();
            let mut body = serde_json::Map::new();
            if let Some(channel) = channel {
                body.insert("channel".into(), Json::from(channel));
            }
            body.insert("text".into(), Json::from(text));
            body.insert("blocks".into(), Json::Array(blocks));
            body.insert("unfurl_links".into(), Json::Bool(false));
            body.insert("unfurl_media".into(), Json::Bool(false));
            Json::Object(body)
        }
        Platform::Discord => json!({
            "content": text,
            "allowed_mentions": {"parse": []},
        }),
        Platform::Plain => json!({ "text": text }),
    }
}
