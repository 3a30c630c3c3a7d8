//! The Wharf broker: topics as partitioned, append-only logs on local disk, served over HTTP.
//!
//! Dependencies point one way: `api → group / topic → partition → storage → log`.
//!
//! - [`log`]: synchronous segmented storage for one partition (files, CRC, indexes, recovery,
//!   retention). Knows nothing of HTTP or tokio.
//! - [`storage`]: the narrow trait the server reaches storage through, and its disk backend
//!   (one [`log::Log`] per partition).
//! - [`partition`]: the async facade over one partition (blocking calls off the reactor, the
//!   high-watermark channel that long polls wait on).
//! - [`topic`]: topic definitions and their partitions; [`meta`]: the embedded metadata store
//!   (topics, idempotency records, group offsets).
//! - [`group`]: consumer groups for stateless consumers (leases, fair assignment, fenced commits).
//! - [`api`]: the HTTP API v1, the only module that knows HTTP; [`metrics`]: Prometheus metrics.
//! - [`claim`]: the broker side of the claim check (offload, presigned reads, object lifecycle).
//! - [`config`]: every setting, documented; [`state`]: the shared [`state::Broker`];
//!   [`server`]: assembly, [`run`], graceful shutdown.

pub mod api;
pub mod auth;
pub mod claim;
pub mod config;
pub mod group;
pub mod log;
pub mod meta;
pub mod metrics;
pub mod partition;
pub mod server;
pub mod service;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod topic;

pub use server::{run, shutdown_signal};
pub use state::RunError;
