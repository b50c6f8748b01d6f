//! The card's block helpers and where they put what they render.
//!
//! `{{#part "title"}}…{{/part}}` renders its block into one part of the
//! card and writes nothing where it stands; `{{#field "Labels"}}…{{/field}}`
//! adds a field (repeatable, in order). Everything a template writes
//! outside these blocks is the card's `text`.
//!
//! A render is synchronous and stays on one thread, so the parts of the
//! render in progress are kept in a thread-local slot that
//! [`collecting`] opens around it. Value parts (`url`, `color`,
//! `author_url`, `author_icon`, `timestamp`) are rendered with the markup
//! escaping off (only control characters are dropped): they are values,
//! checked when the card is built, never markup.

use std::cell::{Cell, RefCell};

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, JsonRender, Output, RenderContext,
    RenderError, RenderErrorReason, Renderable, StringOutput,
};

use super::Platform;
use super::card::{Field, PART_NAMES, RawParts, is_value_part};

thread_local! {
    static PARTS: RefCell<Option<RawParts>> = const { RefCell::new(None) };
    static RAW: Cell<bool> = const { Cell::new(false) };
}

/// Runs `render` with a fresh slot for parts; returns its result and the
/// parts it wrote. Nests (a render inside a render keeps its own parts).
pub(crate) fn collecting<R>(render: impl FnOnce() -> R) -> (R, RawParts) {
    let outer = PARTS.with(|p| p.replace(Some(RawParts::default())));
    let outer_raw = RAW.with(|r| r.replace(false));
    let result = render();
    let parts = PARTS.with(|p| p.replace(outer)).unwrap_or_default();
    RAW.with(|r| r.set(outer_raw));
    (result, parts)
}

/// True while a value part renders: the registry's escape then only drops
/// control characters.
pub(crate) fn raw_values() -> bool {
    RAW.with(Cell::get)
}

fn with_parts(f: impl FnOnce(&mut RawParts)) {
    PARTS.with(|p| {
        if let Some(parts) = p.borrow_mut().as_mut() {
            f(parts);
        }
    });
}

/// The first parameter of a card helper: its name, a string.
fn name_param(h: &Helper<'_>, helper: &'static str) -> Result<String, RenderError> {
    let Some(p) = h.param(0) else {
        return Err(RenderErrorReason::ParamNotFoundForIndex(helper, 0).into());
    };
    Ok(match p.value() {
        serde_json::Value::String(s) => s.clone(),
        other => other.render(),
    })
}

/// Renders the block of `h` into a string, with value escaping when `raw`.
fn render_block<'reg: 'rc, 'rc>(
    h: &Helper<'rc>,
    r: &'reg Handlebars<'reg>,
    ctx: &'rc Context,
    rc: &mut RenderContext<'reg, 'rc>,
    raw: bool,
) -> Result<String, RenderError> {
    let Some(t) = h.template() else {
        return Ok(String::new());
    };
    let before = RAW.with(|c| c.replace(raw));
    let mut out = StringOutput::new();
    let rendered = t.render(r, ctx, rc, &mut out);
    RAW.with(|c| c.set(before));
    rendered?;
    out.into_string().map_err(RenderError::from)
}

fn block_only(h: &Helper<'_>, helper: &str) -> Result<(), RenderError> {
    if h.is_block() {
        return Ok(());
    }
    Err(RenderErrorReason::Other(format!(
        "`{helper}` is a block helper: write {{{{#{helper} \"name\"}}}}…{{{{/{helper}}}}}"
    ))
    .into())
}

/// `{{#part "title"}}…{{/part}}`.
pub(crate) struct Part;

impl HelperDef for Part {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        _out: &mut dyn Output,
    ) -> HelperResult {
        block_only(h, "part")?;
        let name = name_param(h, "part")?;
        if !PART_NAMES.contains(&name.as_str()) {
            return Err(RenderErrorReason::Other(format!(
                "unknown part `{name}` (parts: {}; fields: {{{{#field \"Name\"}}}})",
                PART_NAMES.join(", ")
            ))
            .into());
        }
        let content = render_block(h, r, ctx, rc, is_value_part(&name))?;
        with_parts(|p| {
            p.set(&name, content);
        });
        Ok(())
    }
}

/// `{{#field "Labels"}}…{{/field}}`, `inline=false` for a field of its
/// own row.
pub(crate) struct FieldHelper {
    pub platform: Platform,
}

impl HelperDef for FieldHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        _out: &mut dyn Output,
    ) -> HelperResult {
        block_only(h, "field")?;
        let name = name_param(h, "field")?;
        let inline = h
            .hash_get("inline")
            .map(|v| !matches!(v.value(), serde_json::Value::Bool(false)))
            .unwrap_or(true);
        let value = render_block(h, r, ctx, rc, false)?;
        let name = self.platform.dialect().escape(&name);
        with_parts(|p| {
            p.fields.push(Field {
                name,
                value,
                inline,
            })
        });
        Ok(())
    }
}
