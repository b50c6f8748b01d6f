mod sinks;
mod standin;
