//! The service layer: what the broker does, without HTTP. Each operation is a plain async (or
//! synchronous) Rust function over the shared [`Broker`](crate::state::Broker) with typed errors
//! and outcome structs; the HTTP layer (`api`) only extracts, authorises, calls these and renders.
//!
//! - [`produce`]: validation, partitioning, claim check, idempotency keys, `acks`.
//! - [`consume`]: fetches with long poll, offset lookups, a group member's poll across its
//!   partitions.
//! - [`groups`]: joins, heartbeats, commits, resets, descriptions and deletions of consumer
//!   groups over the group backend, lease expiry and lag gauges.
//! - [`jobs`]: retention (and the claim-check objects it frees), idempotency expiry.
//! - [`schemas`]: the schema registry's calls off the reactor; registration checks new JSON
//!   Schemas against a sample of the topic's retained records.
//! - [`browse`]: pages of records and bounded searches for the web console (no consumption).
//! - [`topics`]: topic deletion with everything that hangs off the topic.
//! - [`backend`]: the traits the service reaches storage and coordination through (partition
//!   logs, metadata, groups, job leadership).

pub mod backend;
pub mod browse;
pub mod consume;
pub mod groups;
pub mod jobs;
pub mod produce;
pub mod schemas;
pub mod topics;

#[cfg(test)]
mod tests;
