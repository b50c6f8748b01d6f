//! Rendering: Handlebars templates turned into [`Card`]s, one registry per
//! platform (each with its own escaping and markup helpers, from
//! `platform/`), embedded default templates overridable from `templates/`,
//! inert mentions, and the platforms' size limits.
//!
//! Templates are shared by every platform or written for one:
//! `<dir>/shared/<set>/<name>.hbs` renders on all of them (the embedded
//! defaults are such a set), `<dir>/<platform>/<set>/<name>.hbs` on that
//! platform only. The lookup for set S and kind `a.b.c` tries the names
//! `S/a.b.c`, `S/a.b`, `S/a`, `S/default`, then the same in set `default`;
//! for each name the platform's own file first, then the shared one.
//! Hugging Face Hub kinds are looked up under the prefix `huggingface.`
//! (`huggingface.discussion.create`, …, `huggingface`), so they never take
//! a forge's template of the same name.

mod card;
mod embedded;
mod escape;
mod helpers;
pub mod limits;
mod markdown;
mod parts;
mod platform;
mod samples;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use handlebars::{
    Context, Handlebars, RenderError, RenderErrorReason, TemplateError, TemplateErrorReason,
};
use serde_json::Value as Json;

pub use card::{Author, Card, Field, STATES as COLOR_STATES};
pub use platform::Platform;

use crate::event::{Event, kind_matches};

/// The directory of templates every platform renders.
pub const SHARED_DIR: &str = "shared";

/// Registry names of shared templates start with this (it cannot come from
/// a directory name), so `shared/default/push` and `slack/default/push` are
/// two templates in the Slack registry.
const SHARED: &str = "\u{1}";

/// The prefix Hugging Face Hub kinds are looked up under.
pub const HUB_PREFIX: &str = "huggingface";

/// The name templates are looked up by for `event`: its kind, or for the
/// Hugging Face Hub `huggingface.<kind>`.
pub fn lookup_key(event: &Event) -> String {
    if event.source_kind == HUB_PREFIX {
        if event.kind.is_empty() {
            HUB_PREFIX.to_string()
        } else {
            format!("{HUB_PREFIX}.{}", event.kind)
        }
    } else {
        event.kind.clone()
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
    /// Where each `(platform, registry name)` came from: a file path or
    /// `embedded:shared/<set>/<name>`.
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

/// `set/name` of a registry name, and whether it is a shared template.
fn split_name(name: &str) -> (bool, &str) {
    match name.strip_prefix(SHARED) {
        Some(rest) => (true, rest),
        None => (false, name),
    }
}

/// The name a person reads: `shared/default/push` or `default/push`.
fn display_name(name: &str) -> String {
    match split_name(name) {
        (true, rest) => format!("{SHARED_DIR}/{rest}"),
        (false, rest) => rest.to_string(),
    }
}

impl Renderer {
    /// Embedded defaults, overridden by files under `dir` (a missing `dir`
    /// means defaults only). Fails on a template that does not compile.
    pub fn load(dir: &Path) -> Result<Renderer, Vec<TemplateProblem>> {
        Renderer::build(dir, false).map(|(r, _notes)| r)
    }

    /// Strict check for `hookbridge check`: every template compiles and
    /// renders a sample event in strict mode, on every platform it serves,
    /// into a card whose parts are all valid. Empty when all is well.
    pub fn check(dir: &Path) -> Vec<TemplateProblem> {
        let (renderer, mut problems) = match Renderer::build(dir, true) {
            Ok(ok) => ok,
            Err(problems) => return problems,
        };
        let all_samples = samples::all();
        let mut seen = HashSet::new();
        for ((platform, name), origin) in &renderer.origins {
            let hb = renderer.registry(*platform);
            let (_, set_name) = split_name(name);
            let kind_part = set_name.split_once('/').map(|(_, k)| k).unwrap_or(set_name);
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
                let mut failures = Vec::new();
                // Rendering nothing is allowed: that is how a template
                // leaves an event out.
                match render_card(hb, name, &ctx) {
                    Ok((_, card_problems)) => {
                        failures.extend(card_problems.into_iter().map(|p| (None, p)));
                    }
                    Err(e) if !known && is_payload_miss(&e) => {}
                    Err(e) => failures.push((e.line_no, render_reason(&e))),
                }
                for (line, reason) in failures {
                    if seen.insert((origin.clone(), line, reason.clone())) {
                        problems.push(TemplateProblem {
                            template: origin.clone(),
                            line,
                            message: format!(
                                "{reason} (rendering a sample `{}` event)",
                                sample.kind
                            ),
                        });
                    }
                }
            }
        }
        problems
    }

    /// Renders `event` with template set `set` for `platform`: the card,
    /// escaped, mention-safe and bounded. An empty card (see
    /// [`Card::is_empty`]) means the template leaves this event out: send
    /// nothing. Never fails: a template that errors at render time falls
    /// back to the embedded generic template.
    pub fn render(&self, platform: Platform, set: &str, event: &Event) -> Card {
        self.render_in(
            platform,
            set,
            &EventContext::new(event, event.payload.clone()),
        )
    }

    /// As [`render`](Self::render), with a context built once (the lane
    /// worker's form: the payload moved in, not copied).
    pub fn render_in(&self, platform: Platform, set: &str, ctx: &EventContext<'_>) -> Card {
        bound(platform, self.render_unlimited(platform, set, ctx))
    }

    /// True when some platform has a template in set `set` (a route naming
    /// a set nobody defined probably has a typo).
    pub fn has_set(&self, set: &str) -> bool {
        self.origins.keys().any(|(_, n)| {
            split_name(n)
                .1
                .split_once('/')
                .is_some_and(|(s, _)| s == set)
        })
    }

    /// Every template set some platform has, sorted.
    pub fn set_names(&self) -> Vec<String> {
        let sets: std::collections::BTreeSet<&str> = self
            .origins
            .keys()
            .filter_map(|(_, n)| split_name(n).1.split_once('/').map(|(s, _)| s))
            .collect();
        sets.into_iter().map(str::to_string).collect()
    }

    /// Names of the templates `platform` has, as `set/name` for its own
    /// and `shared/set/name` for shared ones (for listings).
    pub fn template_names(&self, platform: Platform) -> Vec<String> {
        self.origins
            .keys()
            .filter(|(p, _)| *p == platform)
            .map(|(_, n)| display_name(n))
            .collect()
    }

    /// The template that `render` would use first for lookup key `key`
    /// (see [`lookup_key`]), as [`template_names`](Self::template_names)
    /// writes it.
    pub fn resolve(&self, platform: Platform, set: &str, key: &str) -> Option<String> {
        self.resolve_name(platform, set, key)
            .map(|n| display_name(&n))
    }

    fn resolve_name(&self, platform: Platform, set: &str, key: &str) -> Option<String> {
        let hb = self.registry(platform);
        let sets: &[&str] = if set == "default" || set.is_empty() {
            &["default"]
        } else {
            &[set, "default"]
        };
        let find = |name: String| -> Option<String> {
            if hb.has_template(&name) {
                return Some(name);
            }
            let shared = format!("{SHARED}{name}");
            hb.has_template(&shared).then_some(shared)
        };
        for s in sets {
            let mut k = key;
            loop {
                if !k.is_empty()
                    && let Some(found) = find(format!("{s}/{k}"))
                {
                    return Some(found);
                }
                match k.rfind('.') {
                    Some(i) => k = &k[..i],
                    None => break,
                }
            }
            if let Some(found) = find(format!("{s}/default")) {
                return Some(found);
            }
        }
        None
    }

    fn render_unlimited(&self, platform: Platform, set: &str, ectx: &EventContext<'_>) -> Card {
        let hb = self.registry(platform);
        let event = ectx.event;
        let ctx = match &ectx.context {
            Ok(ctx) => ctx,
            Err(e) => {
                tracing::warn!(kind = %event.kind, error = %e, "event does not serialise; minimal message");
                return Card::text_only(minimal(platform, event));
            }
        };
        if let Some(name) = self.resolve_name(platform, set, &lookup_key(event)) {
            match render_card(hb, &name, ctx) {
                // Empty is the template's word: this event sends nothing.
                Ok((card, _)) => return card,
                Err(e) => {
                    tracing::warn!(template = %display_name(&name), platform = platform.as_str(), kind = %event.kind,
                        error = %render_reason(&e), line = ?e.line_no,
                        "template failed; using the generic template");
                }
            }
        }
        match render_card(hb, FALLBACK, ctx) {
            Ok((card, _)) if !card.is_empty() => card,
            Ok(_) => Card::text_only(minimal(platform, event)),
            Err(e) => {
                tracing::warn!(platform = platform.as_str(), kind = %event.kind,
                    error = %render_reason(&e), "generic template failed; minimal message");
                Card::text_only(minimal(platform, event))
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

    /// Registers `source` as `name` for `platforms`, recording its origin;
    /// a compile error goes to `problems` once.
    fn register(
        &mut self,
        platforms: &[Platform],
        name: &str,
        source: &str,
        origin: &str,
        problems: &mut Vec<TemplateProblem>,
    ) -> bool {
        for p in platforms {
            if let Err(e) = self.registry_mut(*p).register_template_string(name, source) {
                problems.push(compile_problem(origin.to_string(), &e));
                return false;
            }
            self.origins
                .insert((*p, name.to_string()), origin.to_string());
        }
        true
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
            let origin = format!("embedded:{SHARED_DIR}/{}/{}", t.set, t.name);
            let name = format!("{SHARED}{}/{}", t.set, t.name);
            if r.register(&Platform::ALL, &name, t.source, &origin, &mut problems)
                && t.set == "default"
                && t.name == "default"
            {
                for p in Platform::ALL {
                    if let Err(e) = r
                        .registry_mut(p)
                        .register_template_string(FALLBACK, t.source)
                    {
                        problems.push(compile_problem(origin.clone(), &e));
                        break;
                    }
                }
            }
        }
        let notes = r.load_dir(dir, &mut problems);
        if problems.is_empty() {
            Ok((r, notes))
        } else {
            Err(problems)
        }
    }

    /// Registers `<dir>/<platform>/<set>/<name>.hbs` and
    /// `<dir>/shared/<set>/<name>.hbs` files over the embedded ones.
    /// Compile and read errors go to `problems`; the returned notes name
    /// files the lookup would never use.
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
            let (platforms, prefix): (Vec<Platform>, &str) = if pname == SHARED_DIR {
                (Platform::ALL.to_vec(), SHARED)
            } else if let Some(p) = Platform::from_dir_name(&pname) {
                (vec![p], "")
            } else {
                if platform_dir.is_dir() {
                    notes.push(note(
                        &platform_dir,
                        "not a platform directory (expected shared, slack, discord or plain); ignored",
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
                    if let Some(message) = hub_name_note(stem) {
                        notes.push(note(&file, &message));
                    }
                    let source = match std::fs::read_to_string(&file) {
                        Ok(s) => s,
                        Err(e) => {
                            problems.push(note(&file, &format!("cannot read template: {e}")));
                            continue;
                        }
                    };
                    let name = format!("{prefix}{set}/{stem}");
                    let origin = file.display().to_string();
                    self.register(&platforms, &name, &source, &origin, problems);
                }
            }
        }
        notes
    }
}

/// A note for a file named after a Hub-only kind without the Hub prefix:
/// such templates once served Hugging Face events, which now look up
/// `huggingface.<kind>`; no forge sends these kinds, so the file would never
/// be used. (`discussion.*` files are fine: they serve GitHub discussions.)
fn hub_name_note(stem: &str) -> Option<String> {
    let hub_only = stem == "repo" || stem.starts_with("repo.");
    hub_only.then(|| {
        format!(
            "Hugging Face events are looked up as {HUB_PREFIX}.<kind> (name the file {HUB_PREFIX}.{stem}.hbs for them); no forge sends this kind, so the file is never used"
        )
    })
}

const MISPLACED: &str = "templates go in <platform>/<set>/<name>.hbs or shared/<set>/<name>.hbs (e.g. slack/default/push.hbs); ignored";

/// Renders template `name` into a card: its text and parts, checked. The
/// second value lists the parts that were dropped (for `check`).
fn render_card(
    hb: &Handlebars<'static>,
    name: &str,
    ctx: &Context,
) -> Result<(Card, Vec<String>), RenderError> {
    let (text, parts) = parts::collecting(|| hb.render_with_context(name, ctx));
    let text = text?;
    Ok(parts.into_card(tidy(&text), tidy))
}

/// Per-part bounds applied when a card is rendered, so what the outbox
/// stores stays small; each platform cuts to its exact limits when it
/// builds the request body.
fn bound(platform: Platform, mut card: Card) -> Card {
    use limits::{TRUNCATED, fit, fit_line};
    const LINE: usize = 2_048;
    const BODY: usize = 16_000;
    const FIELDS: usize = 50;
    const VALUE: usize = 2_000;
    card.text = fit(
        platform,
        card.text,
        platform.dialect().text_max(),
        TRUNCATED,
    );
    card.title = fit_line(platform, card.title, LINE);
    card.author.name = fit_line(platform, card.author.name, LINE);
    card.footer = fit_line(platform, card.footer, LINE);
    card.body = fit(platform, card.body, BODY, TRUNCATED);
    if card.fields.len() > FIELDS {
        let more = card.fields.len() - (FIELDS - 1);
        card.fields.truncate(FIELDS - 1);
        card.fields.push(Field {
            name: "…".into(),
            value: format!("and {more} more"),
            inline: false,
        });
    }
    for f in &mut card.fields {
        f.name = fit_line(platform, std::mem::take(&mut f.name), 256);
        f.value = fit(platform, std::mem::take(&mut f.value), VALUE, "…");
    }
    card
}

/// A fresh registry for `platform`: its escaping, its helpers.
fn registry(platform: Platform, strict: bool) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(strict);
    let d = platform.dialect();
    hb.register_escape_fn(move |s| {
        if parts::raw_values() {
            escape::plain(s)
        } else {
            d.escape(s)
        }
    });
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
    /// `payload` is the event's raw payload, handed over (the lane worker
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
        .filter(|e| kind_matches(&lookup_key(e), name))
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

/// The exact JSON request body a sink posts for a stored message (a card,
/// or the plain text an older version stored): Slack
/// `chat.postMessage`/webhook body (with `channel` when given), Discord
/// execute-webhook/create-message body (`allowed_mentions` empty), or
/// `{"text": …}` for stdout. Within every limit of the platform.
pub fn request_body(platform: Platform, channel: Option<&str>, stored: &str) -> Json {
    card_body(platform, channel, &Card::from_stored(stored))
}

/// The exact JSON request body for `card` (see [`request_body`]).
pub fn card_body(platform: Platform, channel: Option<&str>, card: &Card) -> Json {
    platform.dialect().body(card, channel)
}

/// The card as the stdout sink prints it: readable plain text.
pub fn plain_text(card: &Card) -> String {
    platform::plain::text(card)
}
