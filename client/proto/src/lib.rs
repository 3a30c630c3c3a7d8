//! Wire types shared by the Wharf broker and its clients: the contract of HTTP API v1.
//!
//! - [`api`]: request and response bodies (JSON), the error body every failure carries
//!   ([`api::ErrorBody`]), the produce `acks` parameter ([`Acks`]), and the rule that turns a
//!   JSON `key` into key bytes ([`api::key_bytes_of_json`]).
//! - [`error_code`]: [`ErrorCode`], the stable snake_case codes of error bodies, with a fallback
//!   for codes a newer broker sends.
//! - [`binary`]: the compact binary batch encoding of produce and fetch bodies
//!   (`application/vnd.wharf.batch.v1`), negotiated with `Content-Type` / `Accept`; one file per
//!   message kind under `binary/`.
//! - [`integral`]: integer fields of request bodies that also take integral floats (`5.0`), as
//!   JSON Schema counts them integers.
//! - [`partitioner`]: Kafka's murmur2 key partitioner, so keyed records land where Kafka puts
//!   them (the only copy; broker and client producer both call it).
//! - Header names shared by both sides: [`PAYLOAD_HEADER`], [`IDEMPOTENCY_KEY_HEADER`],
//!   [`IDEMPOTENT_REPLAY_HEADER`].
//!
//! The broker is the authority on these shapes; the README's API section documents them for users.

pub mod api;
pub mod binary;
pub mod error_code;
pub mod integral;
pub mod partitioner;

pub use api::{Acks, ErrorCode};
/// Request header whose value makes a produce request idempotent.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Response header set when a response is the replay of an earlier idempotent request.
pub const IDEMPOTENT_REPLAY_HEADER: &str = "idempotent-replayed";
