//! The backends the service layer runs on, as traits the service layer owns.
//!
//! The service layer reaches storage and coordination only through these traits, held in
//! [`crate::state::Broker`] as `Arc<dyn …>`s; which implementation runs is chosen once, in
//! [`crate::state::Broker::open`]. The embedded implementations (disk logs, redb, the in-process
//! coordinator) live beside the types they wrap; a remote one (a Kafka log, a PostgreSQL
//! coordination store) implements the same traits and nothing above them changes.
//!
//! - [`partition`]: [`PartitionLog`] (one partition: append, read, long poll, offsets, retention,
//!   sync) and [`LogBackend`] (a topic's partitions: open or create, delete, stray data).
//! - [`meta`]: [`MetaBackend`], topic settings, idempotency outcomes with a claim that
//!   concurrent retries wait on, and the claim-check deletion queue.
//! - [`groups`]: [`GroupBackend`], consumer-group operations, each one transition a remote store
//!   can make a single conditional update.
//! - [`leader`]: [`Leadership`], which gateway runs the background jobs.
//! - `conformance` (tests): one suite per trait that every implementation runs.
//!
//! # Why boxed futures by hand
//! The traits must be object-safe (`Arc<dyn …>`, chosen at run time), so `async fn` in traits
//! cannot be used directly. Methods that may wait return a [`BoxFuture`]: one allocation per call,
//! which is what the `async-trait` crate would generate too, without a proc-macro dependency and
//! with the cost visible in the signature. Calls a remote backend can answer from memory (bounds
//! it keeps current, retention targets) stay synchronous, so the produce hot path pays exactly one
//! boxed future per partition append and nothing else.
//!
//! # Errors
//! Each trait answers the error type its callers already handle (`StorageError`, `MetaError`,
//! `GroupError`): a remote backend maps its transport failures into their store/i-o variants, so
//! the HTTP layer's mapping (`api/error.rs`) does not change with the backend.

#[cfg(test)]
pub(crate) mod conformance;
pub mod groups;
pub mod leader;
pub mod meta;
pub mod partition;

use std::future::Future;
use std::pin::Pin;

pub use groups::GroupBackend;
pub use leader::{AlwaysLeader, Leadership};
pub use meta::{IdempotencyClaim, IdempotencyHold, MetaBackend};
pub use partition::{LogBackend, PartitionLog};

/// A boxed, sendable future: what every waiting trait method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
