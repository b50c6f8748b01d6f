//! Routing: a pure function from config and event to the targets it goes to.
//!
//! Owns the meaning of a `[[routes]]` entry (see `docs/configuration.md`, "Routes"):
//! a route matches when every field it sets matches, and an event goes to the
//! union of all matching routes' targets, each once, in route order then
//! target order. No I/O, and no allocation unless something matches.

use crate::config::{Config, Route, Target};
use crate::event::Event;

/// One place a message goes, and the template set to render it with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    pub target: Target,
    /// Template set of the first matching route that named this target.
    pub template: String,
}

/// Every target of every route that matches `event`, each once, in route
/// order then target order.
pub fn route(config: &Config, event: &Event) -> Vec<Destination> {
    let mut out: Vec<Destination> = Vec::new();
    for route in config.routes.iter().filter(|r| matches(r, event)) {
        for target in &route.to {
            // Routes name a handful of targets: a linear scan beats hashing
            // and keeps the first route's template set for a repeated target.
            if !out.iter().any(|d| d.target == *target) {
                out.push(Destination {
                    target: target.clone(),
                    template: route.template_set().to_string(),
                });
            }
        }
    }
    out
}

/// True when every field `route` sets matches `event`.
pub fn matches(route: &Route, event: &Event) -> bool {
    let labels = &event.labels;
    route
        .sources
        .as_ref()
        .is_none_or(|s| s.contains(&event.source))
        // A payload without a repository has an empty key: no pattern takes it.
        && route
            .repos
            .as_ref()
            .is_none_or(|p| !event.repo.key.is_empty() && p.is_match(&event.repo.key))
        && route
            .events
            .as_ref()
            .is_none_or(|e| e.iter().any(|prefix| event.kind_matches(prefix)))
        // Events without a branch (issues, releases, Hub events) never match
        // a route that asks for branches.
        && route.branches.as_ref().is_none_or(|p| {
            event
                .branch
                .as_deref()
                .is_some_and(|b| !b.is_empty() && p.is_match(b))
        })
        // The login or the name: GitLab shows people by display name, and
        // `dependabot[bot]` is a login.
        && route.exclude_authors.as_ref().is_none_or(|p| {
            !p.is_match(&event.actor.name)
                && (event.actor.login.is_empty() || !p.is_match(&event.actor.login))
        })
        && route
            .labels
            .as_ref()
            .is_none_or(|l| labels.iter().any(|x| listed(l, x)))
        && route
            .exclude_labels
            .as_ref()
            .is_none_or(|l| !labels.iter().any(|x| listed(l, x)))
}

/// True when `label` is in `list`, ignoring case (forges treat labels so).
fn listed(list: &[String], label: &str) -> bool {
    list.iter().any(|l| eq_ignore_case(l, label))
}

/// Unicode case-insensitive equality without allocating.
fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests;
