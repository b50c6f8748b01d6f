//! The Prometheus metric names `/metrics` exposes, declared once; every
//! counter, gauge and histogram in the code names one of these.

/// Deliveries received per source (label `source`), before verification.
pub const DELIVERIES_RECEIVED: &str = "hookbridge_deliveries_received_total";
/// Deliveries refused (labels `source`, `reason`).
pub const DELIVERIES_REJECTED: &str = "hookbridge_deliveries_rejected_total";
/// Messages queued per sink (label `sink`).
pub const MESSAGES_ROUTED: &str = "hookbridge_messages_routed_total";
/// Messages the platform took (label `sink`).
pub const MESSAGES_SENT: &str = "hookbridge_messages_sent_total";
/// Sends that will be tried again: 429, 5xx, timeouts (label `sink`).
pub const MESSAGES_RETRIED: &str = "hookbridge_messages_retried_total";
/// Messages whose template rendered nothing when their turn came: marked
/// sent, nothing posted (label `sink`).
pub const MESSAGES_EMPTY: &str = "hookbridge_messages_empty_total";
/// Messages given up (label `sink`).
pub const MESSAGES_DEAD: &str = "hookbridge_messages_dead_total";
/// Pending messages per sink (label `sink`).
pub const QUEUE_DEPTH: &str = "hookbridge_queue_depth";
/// Time one send took (label `sink`), a histogram.
pub const SEND_DURATION: &str = "hookbridge_send_duration_seconds";
