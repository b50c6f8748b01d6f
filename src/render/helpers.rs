//! Template helpers, one set per platform (the markup comes from the
//! platform's module), and the card's block helpers `part` and `field`.
//!
//! Two kinds, so that payload text is escaped exactly once:
//! - *value* helpers (`truncate`, `short_sha`, `first_line`, `plural`,
//!   `take`, `minus`, `add`, `coalesce`, `concat`, `humanize`, `lower`,
//!   `upper`) return plain values: `{{truncate event.title 80}}` is escaped
//!   by the registry's escape fn, and as a subexpression they hand raw text
//!   to the outer helper;
//! - *markup* helpers (`link`, `bold`, `italic`, `code`, `quote`) escape their
//!   text arguments themselves and write finished markup. Their block forms
//!   (`{{#bold}}…{{/bold}}`) wrap already-rendered (already escaped) content,
//!   which is how markup nests: `{{#bold}}{{link url text}}{{/bold}}`.
//!   `markdown` converts payload Markdown to the platform's markup.
//! - *card* helpers: `{{#part "title"}}…{{/part}}` renders its block into
//!   that part of the card, `{{#field "Labels"}}…{{/field}}` adds a field;
//!   both write nothing where they stand (see [`parts`](super::parts)).

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, JsonRender, JsonTruthy, Output,
    RenderContext, RenderError, RenderErrorReason, Renderable, ScopedJson, StringOutput,
};
use serde_json::Value as Json;
use std::borrow::Cow;

use super::Platform;
use super::escape::{self, one_line, truncate_chars};
use super::{markdown, parts};

/// Registers every hookbridge helper for `platform` on `hb`.
pub(crate) fn register(hb: &mut Handlebars<'static>, platform: Platform) {
    let values: [(&str, ValueFn); 17] = [
        ("truncate", truncate),
        ("take_last", take_last),
        ("short_sha", short_sha),
        ("first_line", first_line),
        ("plural", plural),
        ("take", take),
        ("minus", minus),
        ("min", min),
        ("add", add),
        ("coalesce", coalesce),
        ("concat", concat),
        ("humanize", humanize),
        ("event_words", event_words),
        ("lower", lower),
        ("upper", upper),
        ("line", line),
        ("source_label", source_label),
    ];
    for (name, f) in values {
        hb.register_helper(name, Box::new(Value(f)));
    }
    hb.register_helper("link", Box::new(Link { platform }));
    hb.register_helper("markdown", Box::new(Markdown { platform }));
    hb.register_helper("part", Box::new(parts::Part));
    hb.register_helper("field", Box::new(parts::FieldHelper { platform }));
    hb.register_helper("code", Box::new(Code { platform }));
    hb.register_helper("ref", Box::new(Reference { platform }));
    hb.register_helper(
        "bold",
        Box::new(Wrap {
            platform,
            style: Style::Bold,
        }),
    );
    hb.register_helper(
        "italic",
        Box::new(Wrap {
            platform,
            style: Style::Italic,
        }),
    );
    hb.register_helper(
        "quote",
        Box::new(Wrap {
            platform,
            style: Style::Quote,
        }),
    );
}

// ---------------------------------------------------------------- params

/// Parameter `idx` of `h`: `None` when absent or missing in lenient mode; an
/// error when missing in strict mode (so `check` catches `event.titel`).
fn param<'a>(
    h: &'a Helper<'_>,
    r: &Handlebars<'_>,
    idx: usize,
) -> Result<Option<&'a Json>, RenderError> {
    match h.param(idx) {
        None => Ok(None),
        Some(p) if p.is_value_missing() => {
            if r.strict_mode() {
                Err(RenderError::strict_error(p.relative_path()))
            } else {
                Ok(None)
            }
        }
        Some(p) => Ok(Some(p.value())),
    }
}

/// Like [`param`] but the parameter must be written in the template.
fn required<'a>(
    h: &'a Helper<'_>,
    r: &Handlebars<'_>,
    name: &'static str,
    idx: usize,
) -> Result<Option<&'a Json>, RenderError> {
    if h.param(idx).is_none() {
        return Err(RenderErrorReason::ParamNotFoundForIndex(name, idx).into());
    }
    param(h, r, idx)
}

/// A JSON value as display text: strings as they are (borrowed), null as
/// empty.
fn text(v: Option<&Json>) -> Cow<'_, str> {
    match v {
        None | Some(Json::Null) => Cow::Borrowed(""),
        Some(Json::String(s)) => Cow::Borrowed(s),
        Some(v) => Cow::Owned(v.render()),
    }
}

/// A JSON value as a number: numbers, numeric strings, array/object sizes.
fn number(v: Option<&Json>) -> Option<f64> {
    match v? {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok(),
        Json::Array(a) => Some(a.len() as f64),
        Json::Object(o) => Some(o.len() as f64),
        Json::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Json::Null => None,
    }
}

fn count(name: &'static str, v: Option<&Json>) -> Result<usize, RenderError> {
    match number(v) {
        Some(n) if n >= 0.0 && n.is_finite() => Ok(n as usize),
        Some(_) => Ok(0),
        None => Err(RenderErrorReason::ParamTypeMismatchForName(
            name,
            "count".to_string(),
            "a number".to_string(),
        )
        .into()),
    }
}

/// Whole numbers render without a trailing `.0`.
fn num_json(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Json::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Json::Number)
            .unwrap_or(Json::Null)
    }
}

// ---------------------------------------------------------- value helpers

/// What a value helper computes from its call: a plain JSON value.
type ValueFn = fn(&Helper<'_>, &Handlebars<'_>) -> Result<Json, RenderError>;

/// Adapts a [`ValueFn`] to handlebars: the one `HelperDef` every value
/// helper shares.
struct Value(ValueFn);

impl HelperDef for Value {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        Ok(ScopedJson::Derived((self.0)(h, r)?))
    }
}

/// `{{truncate text n}}`: at most `n` chars, ending in `…` when cut.
fn truncate(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let s = text(required(h, r, "truncate", 0)?);
    let n = count("truncate", required(h, r, "truncate", 1)?)?;
    Ok(Json::String(truncate_chars(&s, n)))
}

/// `{{short_sha id}}`: the first 7 characters of a commit id.
fn short_sha(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let s = text(required(h, r, "short_sha", 0)?);
    Ok(Json::String(s.trim().chars().take(7).collect()))
}

/// `{{first_line text}}`: the first non-empty line, trimmed.
fn first_line(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let s = text(required(h, r, "first_line", 0)?);
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    Ok(Json::String(line.to_string()))
}

/// `{{plural n "commit"}}` -> `1 commit` / `3 commits`;
/// `{{plural n "entry" "entries"}}` for irregular plurals.
fn plural(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let n = number(required(h, r, "plural", 0)?).unwrap_or(0.0);
    let word = text(required(h, r, "plural", 1)?);
    let words = match param(h, r, 2)? {
        Some(v) => text(Some(v)),
        None => Cow::Owned(format!("{word}s")),
    };
    let shown = num_json(n).render();
    let w = if n == 1.0 { word } else { words };
    Ok(Json::String(format!("{shown} {w}")))
}

/// `{{#each (take list 5)}}`: the first `n` items of a list.
fn take(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let list = required(h, r, "take", 0)?;
    let n = count("take", required(h, r, "take", 1)?)?;
    let items = match list {
        Some(Json::Array(a)) => a.iter().take(n).cloned().collect(),
        _ => Vec::new(),
    };
    Ok(Json::Array(items))
}

/// `{{#each (take_last list 5)}}`: the last `n` items of a list, in order
/// (the newest commits of a push).
fn take_last(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let list = required(h, r, "take_last", 0)?;
    let n = count("take_last", required(h, r, "take_last", 1)?)?;
    let items = match list {
        Some(Json::Array(a)) => a[a.len().saturating_sub(n)..].to_vec(),
        _ => Vec::new(),
    };
    Ok(Json::Array(items))
}

/// The two numbers of `{{minus a b}}` / `{{add a b}}` (missing: 0).
fn operands(
    h: &Helper<'_>,
    r: &Handlebars<'_>,
    name: &'static str,
) -> Result<(f64, f64), RenderError> {
    let a = number(required(h, r, name, 0)?).unwrap_or(0.0);
    let b = number(required(h, r, name, 1)?).unwrap_or(0.0);
    Ok((a, b))
}

/// `{{minus a b}}`: arithmetic for "and N more".
fn minus(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let (a, b) = operands(h, r, "minus")?;
    Ok(num_json(a - b))
}

/// `{{min a b}}`: the smaller number (how many of a list `take` shows).
fn min(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let (a, b) = operands(h, r, "min")?;
    Ok(num_json(a.min(b)))
}

/// `{{add a b}}`.
fn add(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let (a, b) = operands(h, r, "add")?;
    Ok(num_json(a + b))
}

/// `{{coalesce a b …}}`: the first argument that is not empty/false/null.
/// Missing arguments are the point of coalesce: never strict here.
fn coalesce(h: &Helper<'_>, _: &Handlebars<'_>) -> Result<Json, RenderError> {
    Ok(h.params()
        .iter()
        .find(|p| !p.is_value_missing() && p.value().is_truthy(false))
        .map(|p| p.value().clone())
        .unwrap_or_else(|| Json::String(String::new())))
}

/// `{{concat a b …}}`: the arguments as one string (to build a URL or a
/// label; the result is escaped like any other value).
fn concat(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let mut out = String::new();
    for i in 0..h.params().len() {
        out.push_str(&text(param(h, r, i)?));
    }
    Ok(Json::String(out))
}

/// `{{event_words event.kind event.action}}`: what happened, in plain
/// words, for the generic template: `pipeline.success` -> `pipeline
/// succeeded`, `gollum` -> `wiki updated`, `collection.create` ->
/// `collection created`.
fn event_words(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let kind = text(required(h, r, "event_words", 0)?);
    let action = text(h.param(1).map(|p| p.value())).into_owned();
    Ok(Json::String(kind_in_words(&kind, &action)))
}

/// See [`event_words`].
pub(crate) fn kind_in_words(kind: &str, action: &str) -> String {
    let suffix = format!(".{action}");
    let (subject, action) = match kind.strip_suffix(suffix.as_str()) {
        Some(rest) if !action.is_empty() => (rest, action),
        _ => match kind.rsplit_once('.') {
            Some((rest, last)) if action.is_empty() => (rest, last),
            _ => (kind, action),
        },
    };
    let subject = match subject {
        "gollum" | "wiki_page" => "wiki",
        "watch" => "star",
        "build" | "job" => "job",
        "note" => "comment",
        "tag_push" => "tag",
        "emoji" => "reaction",
        "repo" => "repository",
        "repo.content" => "repository content",
        "repo.config" => "repository settings",
        "merge_request" => "merge request",
        "" => "event",
        other => other,
    }
    .replace(['_', '.'], " ");
    let verb = match action {
        "" if kind == "gollum" => "updated".to_string(),
        "" => String::new(),
        "create" | "created" | "started" => "created".into(),
        "update" | "updated" | "edit" | "edited" => "updated".into(),
        "delete" | "deleted" | "remove" | "removed" => "deleted".into(),
        "open" | "opened" => "opened".into(),
        "close" | "closed" => "closed".into(),
        "reopen" | "reopened" => "reopened".into(),
        "success" | "succeeded" | "passed" => "succeeded".into(),
        "failed" | "failure" | "error" => "failed".into(),
        "canceled" | "cancelled" => "cancelled".into(),
        "award" => "added".into(),
        "revoke" => "removed".into(),
        other => other.replace(['_', '.'], " "),
    };
    if verb.is_empty() {
        subject.trim().to_string()
    } else {
        format!("{} {verb}", subject.trim())
    }
}

/// `{{humanize "review_requested"}}` -> `review requested`.
fn humanize(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let s = text(required(h, r, "humanize", 0)?);
    Ok(Json::String(s.replace(['_', '.'], " ").trim().to_string()))
}

/// `{{lower s}}`.
fn lower(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    Ok(Json::String(
        text(required(h, r, "lower", 0)?).to_lowercase(),
    ))
}

/// `{{upper s}}`.
fn upper(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    Ok(Json::String(
        text(required(h, r, "upper", 0)?).to_uppercase(),
    ))
}

/// `{{line s}}`: `s` on one line (line breaks become spaces), for names
/// and one-line lists.
fn line(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let s = text(required(h, r, "line", 0)?);
    Ok(Json::String(one_line(&s).into_owned()))
}

/// `{{source_label event.source_kind}}`: `GitHub`, `GitLab`, `Hugging
/// Face`…; other names as they are.
fn source_label(h: &Helper<'_>, r: &Handlebars<'_>) -> Result<Json, RenderError> {
    let s = text(required(h, r, "source_label", 0)?);
    let label = match s.as_ref() {
        "github" => "GitHub",
        "gitlab" => "GitLab",
        "gitea" => "Gitea",
        "forgejo" => "Forgejo",
        "gogs" => "Gogs",
        "dagshub" => "DagsHub",
        "huggingface" => "Hugging Face",
        other => other,
    };
    Ok(Json::String(label.to_string()))
}

// --------------------------------------------------------- markup helpers

fn write(out: &mut dyn Output, s: &str) -> HelperResult {
    out.write(s).map_err(RenderError::from)
}

/// `{{link url text}}`: Slack `<url|text>`, Discord `[text](<url>)`, plain
/// `text (url)`. The text is escaped here; a URL that is empty or not
/// `http(s)` leaves just the text.
struct Link {
    platform: Platform,
}
impl HelperDef for Link {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let url = text(required(h, r, "link", 0)?);
        let label = text(param(h, r, 1)?);
        let label = label.trim();
        write(out, &link(self.platform, &url, label))
    }
}

/// The markup of one link (see [`Link`]): `label` is raw text.
pub(crate) fn link(platform: Platform, url: &str, label: &str) -> String {
    let d = platform.dialect();
    d.link(url, &d.escape(&one_line(label)))
}

/// `{{markdown text 600}}`: payload Markdown as the platform's markup, an
/// excerpt of at most about that many characters (default 4,000).
struct Markdown {
    platform: Platform,
}
impl HelperDef for Markdown {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let src = text(required(h, r, "markdown", 0)?);
        let limit = match param(h, r, 1)? {
            Some(v) => count("markdown", Some(v))?,
            None => 4_000,
        };
        write(
            out,
            &markdown::convert(self.platform.dialect(), &src, limit),
        )
    }
}

/// `{{ref event.item.reference}}`: an item's reference as its forge
/// writes it: `#12`, `!12`, `$5` shown as they are (a sigil and digits
/// need no escaping mid-line), anything else escaped.
struct Reference {
    platform: Platform,
}
impl HelperDef for Reference {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let s = text(required(h, r, "ref", 0)?);
        let plain = s
            .strip_prefix(['#', '!', '$'])
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if plain {
            write(out, &s)
        } else {
            write(out, &self.platform.dialect().escape(&s))
        }
    }
}

/// `{{code text}}`: an inline code span no text can break out of.
struct Code {
    platform: Platform,
}
impl HelperDef for Code {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let s = text(required(h, r, "code", 0)?);
        write(out, &self.platform.dialect().code(&s))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Bold,
    Italic,
    Quote,
}

/// `{{bold text}}`, `{{italic text}}`, `{{quote text}}` and their block
/// forms, whose content is rendered (and escaped) by the template itself.
struct Wrap {
    platform: Platform,
    style: Style,
}
impl HelperDef for Wrap {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let inner = if h.is_block() {
            let mut so = StringOutput::new();
            if let Some(t) = h.template() {
                t.render(r, ctx, rc, &mut so)?;
            }
            so.into_string().map_err(RenderError::from)?
        } else {
            let name = match self.style {
                Style::Bold => "bold",
                Style::Italic => "italic",
                Style::Quote => "quote",
            };
            escape::escape(self.platform, &text(required(h, r, name, 0)?))
        };
        write(out, &wrap(self.platform, self.style, &inner))
    }
}

fn wrap(platform: Platform, style: Style, inner: &str) -> String {
    if style == Style::Quote {
        let inner = inner.trim();
        if inner.is_empty() {
            return String::new();
        }
        // A literal `>` starts a quote on Slack and Discord alike.
        let prefix = "> ";
        // Blank lines are dropped: a bare `>` would not continue the quote.
        return inner
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .map(|l| format!("{prefix}{l}"))
            .collect::<Vec<_>>()
            .join("\n");
    }
    let d = platform.dialect();
    match style {
        Style::Bold => d.bold(inner),
        Style::Italic => d.italic(inner),
        Style::Quote => unreachable!("quotes are handled above"),
    }
}
