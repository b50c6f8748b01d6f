//! Routing: a pure function from config and event to the targets it goes to.
//!
//! INTERFACE STUB: to be implemented.

use crate::config::{Config, Target};
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
    let _ = (config, event);
    todo!()
}
