//! The Hugging Face Hub: the secret comes back as `X-Webhook-Secret` (or
//! `?secret=` in the URL), the event is `event.scope` + `event.action` in
//! the body, and there is no delivery id (a body hash stands in). Only
//! webhook payload version 3 is understood; version 2 gets a clear 400.

use serde_json::Value;

use super::signature::token_matches;
use super::{Delivery, Rejection, decode_body, first_str, str_at, u64_at};
use crate::config::SourceConfig;
use crate::event::{Actor, Event, Repo};

pub(super) fn verify(source: &SourceConfig, d: &Delivery<'_>) -> Result<(), Rejection> {
    let token = match d.header("x-webhook-secret") {
        Some(t) => t.to_string(),
        None => match d.query_param("secret") {
            Some(t) => t,
            None => {
                return Err(Rejection::Unauthorized(
                    "missing X-Webhook-Secret header (or ?secret= in the URL); set the webhook's secret on the Hub".into(),
                ))
            }
        },
    };
    if token_matches(&source.secrets, token.as_bytes()) {
        Ok(())
    } else {
        Err(Rejection::Unauthorized(
            "the webhook secret does not match the configured secret".into(),
        ))
    }
}

pub(super) fn parse(d: &Delivery<'_>) -> Result<Event, Rejection> {
    let p = decode_body(d, false)?;
    let version = u64_at(&p, &["webhook", "version"]);
    if p.get("event").is_some_and(Value::is_string) || version.is_some_and(|v| v < 3) {
        return Err(Rejection::BadRequest(
            "Hugging Face webhook payload version 2 is not supported; edit the webhook on the Hub to send version 3".into(),
        ));
    }
    let scope = str_at(&p, &["event", "scope"]).unwrap_or_default();
    let action = str_at(&p, &["event", "action"]).unwrap_or_default();
    if scope.is_empty() || action.is_empty() {
        return Err(Rejection::BadRequest(
            "Hugging Face payload has no `event.scope` and `event.action`".into(),
        ));
    }
    let kind = format!("{scope}.{action}");

    let repo = p.get("repo").unwrap_or(&Value::Null);
    let repo_type = first_str(repo, &[&["type"]]);
    let name = first_str(repo, &[&["name"]]);
    let key = if name.is_empty() {
        String::new()
    } else {
        match repo_type.as_str() {
            "dataset" => format!("datasets/{name}"),
            "space" => format!("spaces/{name}"),
            _ => name.clone(),
        }
    };
    let mut ev = Event {
        kind,
        repo: Repo {
            key,
            name,
            url: first_str(repo, &[&["url", "web"]]),
            repo_type,
        },
        ..Event::default()
    };
    ev.url = ev.repo.url.clone();

    // Who acted: a comment's author, or a new discussion's. The Hub
    // usually sends only an account id, which means nothing in a chat
    // message, so only a name is used; and a discussion's author did not
    // necessarily make an update to it (a close, a merge), so none then.
    let author = match (scope, action) {
        (s, _) if s.ends_with(".comment") => first_str(&p, &[&["comment", "author", "name"]]),
        ("discussion", "create") => first_str(&p, &[&["discussion", "author", "name"]]),
        _ => String::new(),
    };
    ev.actor = Actor {
        name: author,
        url: String::new(),
    };

    if let Some(disc) = p.get("discussion").filter(|v| v.is_object()) {
        ev.title = first_str(disc, &[&["title"]]);
        ev.number = u64_at(disc, &["num"]);
        let u = first_str(disc, &[&["url", "web"]]);
        if !u.is_empty() {
            ev.url = u;
        }
        if let Some(base) = str_at(disc, &["changes", "base"]) {
            ev.branch = Some(base.strip_prefix("refs/heads/").unwrap_or(base).to_string());
        }
    }
    if let Some(comment) = p.get("comment").filter(|v| v.is_object()) {
        ev.body = first_str(comment, &[&["content"]]);
        // A new discussion arrives with its opening comment: link the
        // discussion; a comment event links the comment.
        let u = first_str(comment, &[&["url", "web"]]);
        if !u.is_empty() && scope.starts_with("discussion.comment") {
            ev.url = u;
        }
    }
    if let Some(refs) = p.get("updatedRefs").and_then(Value::as_array) {
        // A content update on a branch: route by it.
        ev.branch = refs
            .iter()
            .filter_map(|r| str_at(r, &["ref"]))
            .find_map(|r| r.strip_prefix("refs/heads/"))
            .map(str::to_string);
    }
    ev.payload = p;
    Ok(ev)
}
