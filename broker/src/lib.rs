//! The Wharf broker: topics as partitioned, append-only logs on local disk, served over HTTP.
//!
//! Dependencies point one way: `api / console → service → group / topic / claim / meta →
//! partition → storage → log`. Only [`api`] and the web [`console`] know HTTP (they are the only
//! modules that import axum; errors become statuses only in `api::error`); [`server`] assembles
//! the rest and calls [`api::serve`].
//!
//! - [`log`]: the storage engine, the `wharf-log` crate (`broker/log/`): synchronous segmented
//!   storage for one partition (files, CRC, indexes, recovery, retention), without tokio or HTTP.
//! - [`storage`]: the partition-storage traits the broker reaches storage through, and their disk
//!   backend (one [`log::Log`] per partition).
//! - [`partition`]: the async facade over one partition (blocking calls off the reactor, the
//!   high-watermark channel that long polls wait on).
//! - [`topic`]: topic definitions and their partitions; [`meta`]: the embedded metadata store
//!   (topics, idempotency outcomes, claim-check deletions; group offsets share its database).
//! - [`group`]: the synchronous consumer-group coordinator (leases, fair assignment, fenced
//!   commits, durable topic bindings).
//! - [`pg`]: the PostgreSQL coordination backend (`coordination.backend = "postgres"`): topic
//!   settings, idempotency, groups and leadership in tables shared by several gateways.
//! - [`schema`]: the schema registry (subjects, versions, compatibility) and the record checks
//!   produce runs against it, synchronous and transport-free.
//! - [`claim`]: the broker side of the claim check (offload, presigned reads, object lifecycle).
//! - [`auth`]: tokens and their rights on topic patterns, transport-independent.
//! - [`service`]: what the broker does (produce, consume, groups, topics, background jobs) as a
//!   plain Rust API with typed errors and outcome structs, over the shared [`state::Broker`].
//! - [`console`]: the web console at `/ui/` (server-rendered pages over the service layer).
//! - [`api`]: the HTTP API v1; [`metrics`]: Prometheus metrics; [`telemetry`]: logging set-up.
//! - [`fdlimit`]: the soft `RLIMIT_NOFILE` raised to the hard limit at start.
//! - [`reserve`]: disk space held back so that a broker on a full disk can still start.
//! - [`config`]: every setting, documented; [`state`]: the shared [`state::Broker`], opened from
//!   the data directory; [`server`]: assembly, [`run`], graceful shutdown.

pub mod api;
pub mod auth;
pub mod claim;
pub mod config;
#[cfg(feature = "console")]
pub mod console;
pub mod fdlimit;
pub mod group;
/// The storage engine, its own crate (`broker/log`) so that it cannot reach tokio or HTTP.
pub use wharf_log as log;
pub mod meta;
pub mod metrics;
pub mod partition;
pub mod pg;
pub mod reserve;
pub mod schema;
pub mod server;
pub mod service;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod topic;

pub use server::{run, shutdown_signal};
pub use state::RunError;
