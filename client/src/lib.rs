//! Rust client for Wharf, over HTTP API v1.
//!
//! - [`client`]: [`Client`], one typed method per route (topics, produce, fetch, offsets,
//!   groups), a timeout on every call, no hidden retries.
//! - [`producer`]: [`Producer`], batching per partition by size and linger time, bounded
//!   memory with back-pressure, retries under one `Idempotency-Key` per batch, a [`Delivery`]
//!   per record.
//! - [`consumer`]: [`Consumer`], a consumer-group member: join, poll, commit (explicit or after
//!   each batch), background heartbeats, re-join after `fenced`, leave on shutdown or drop.
//! - [`record`]: [`Record`] (to produce) and [`ConsumerRecord`] (polled or fetched).
//! - [`hooks`]: the claim-check seams ([`OffloadHook`] before batching, [`ResolveHook`] after
//!   polling); `wharf-blob` implements them.
//! - [`claim`]: [`BlobOffload`] / [`BlobResolve`], the claim check over a `wharf-blob` store.
//! - [`error`]: [`Error`], what any broker call fails with.
//!
//! The `wharf` command line and `wharf bench` live in their own crate, `wharf-cli`
//! (`client/cli`), so that users of this library do not build their dependencies.

pub mod claim;
pub mod client;
pub mod consumer;
pub mod error;
pub mod hooks;
pub mod producer;
pub mod record;

pub use claim::{BlobOffload, BlobResolve, MissingObject};
pub use client::{
    Acks, Client, ClientConfig, EncodedBatch, Encoding, FetchBatch, FetchOptions, OffsetSpec,
    ProduceAnswer,
};
pub use consumer::{CommitMode, CommitOutcome, ConsumeError, Consumer, ConsumerConfig, Heartbeat};
pub use error::Error;
pub use hooks::{HookError, OffloadHook, ResolveHook};
pub use producer::{
    Delivery, ProduceError, Producer, ProducerConfig, ProducerStats, RecordMetadata,
};
pub use record::{ConsumerRecord, Record, ValueFormat};
pub use wharf_proto;
pub use wharf_proto::ErrorCode;
