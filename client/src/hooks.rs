//! Seams for claim-check offload: a producer-side hook that may replace a large record before it
//! is batched, and a consumer-side hook that may replace a record after it is polled.
//!
//! The claim-check implementation (S3 upload, pointer records, sha256 checks) lives in
//! `wharf-blob`; it plugs in here by implementing these traits, so this crate needs no S3 code.

use std::fmt;

use futures::future::BoxFuture;

use crate::record::{ConsumerRecord, Record};

/// What a hook may fail with; kept as the source of the producer's or consumer's error.
pub type HookError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Replaces records whose value is larger than [`OffloadHook::threshold_bytes`] before they are
/// batched (e.g. uploads the value and returns a pointer record with header `wharf-payload: s3`).
pub trait OffloadHook: Send + Sync + fmt::Debug {
    /// Values with more bytes than this are passed to [`OffloadHook::offload`]; smaller ones
    /// are sent as they are without calling the hook.
    fn threshold_bytes(&self) -> usize;

    /// Returns the record to send instead of `record`.
    fn offload<'a>(
        &'a self,
        topic: &'a str,
        record: Record,
    ) -> BoxFuture<'a, Result<Record, HookError>>;
}

/// Transforms every polled record before the consumer hands it out (e.g. resolves claim-check
/// pointers). An error fails the poll loudly; the record is not skipped.
pub trait ResolveHook: Send + Sync + fmt::Debug {
    /// Returns the record to hand out instead of `record`.
    fn resolve(&self, record: ConsumerRecord) -> BoxFuture<'_, Result<ConsumerRecord, HookError>>;
}
