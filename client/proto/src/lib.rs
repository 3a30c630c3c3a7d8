//! Wire types shared by the Wharf broker and its clients.
//!
//! - [`partitioner`]: Kafka's murmur2 key partitioner, so keyed records land where Kafka puts them.
//! - [`api`]: request and response bodies of HTTP API v1 (JSON), and the error body every failure
//!   carries.
//! - [`binary`]: the compact binary batch encoding of produce and fetch bodies
//!   (`application/vnd.wharf.batch.v1`), negotiated with `Content-Type` / `Accept`.
//!
//! The broker is the authority on these shapes; the README's API section documents them for users.

pub mod api;
pub mod binary;
pub mod error_code;
pub mod partitioner;

pub use api::{Acks, ErrorCode};

/// Header that marks a claim-check pointer record (`wharf-payload: s3`).
pub const PAYLOAD_HEADER: &str = "wharf-payload";
/// Request header whose value makes a produce request idempotent.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Response header set when a response is the replay of an earlier idempotent request.
pub const IDEMPOTENT_REPLAY_HEADER: &str = "idempotent-replayed";
