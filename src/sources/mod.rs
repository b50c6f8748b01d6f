//! Sources: per-forge verification and parsing into `Event`s.
