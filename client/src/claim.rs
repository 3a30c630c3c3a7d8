//! The claim check over a `wharf-blob` store: [`BlobOffload`] (an [`OffloadHook`] for the
//! [`Producer`](crate::Producer)) and [`BlobResolve`] (a [`ResolveHook`] for the
//! [`Consumer`](crate::Consumer)), thin hooks over [`wharf_blob::ClaimCheck`], plus the
//! [`ClaimRecord`] view of this crate's [`Record`] and [`ConsumerRecord`] that it works on.
//!
//! A value above the threshold is uploaded and the record carries the pointer instead (header
//! `wharf-payload: s3`, value `{"bucket","key","size","sha256","content_type"}`); a polled pointer
//! record gets its value back, verified by size and SHA-256. A missing or corrupt object fails
//! the poll, naming the record, unless the resolver was told to skip missing objects.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use wharf_blob::{BlobStore, ClaimCheck, ClaimRecord, ResolveError, is_pointer};

use crate::hooks::{HookError, OffloadHook, ResolveHook};
use crate::record::{ConsumerRecord, Record, ValueFormat};

/// Both record types keep string headers in a map and a [`ValueFormat`].
macro_rules! claim_record {
    ($($ty:ty),+) => {$(
        impl ClaimRecord for $ty {
            fn value(&self) -> &Bytes {
                &self.value
            }
            fn value_is_json(&self) -> bool {
                self.value_format == ValueFormat::Json
            }
            fn header(&self, name: &str) -> Option<&[u8]> {
                self.headers.get(name).map(String::as_bytes)
            }
            fn set_value(&mut self, value: Bytes, is_json: bool) {
                self.value = value;
                self.value_format = if is_json { ValueFormat::Json } else { ValueFormat::Bytes };
            }
            fn set_header(&mut self, name: &str, value: &str) {
                self.headers.insert(name.to_owned(), value.to_owned());
            }
            fn remove_header(&mut self, name: &str) {
                self.headers.remove(name);
            }
        }
    )+};
}

claim_record!(Record, ConsumerRecord);

/// Uploads large values to a blob store before they are batched.
#[derive(Debug, Clone)]
pub struct BlobOffload {
    check: ClaimCheck,
}

impl BlobOffload {
    /// Values strictly larger than `threshold_bytes` go to `store` under
    /// `<prefix>/<topic>/<yyyy>/<mm>/<dd>/<uuid>`.
    pub fn new(
        store: Arc<dyn BlobStore>,
        prefix: impl Into<String>,
        threshold_bytes: usize,
    ) -> Self {
        Self::from_check(ClaimCheck::new(store, threshold_bytes, prefix))
    }

    /// Offloads with an already opened claim check.
    pub fn from_check(check: ClaimCheck) -> Self {
        Self { check }
    }
}

impl OffloadHook for BlobOffload {
    fn threshold_bytes(&self) -> usize {
        self.check.threshold_bytes()
    }

    fn offload<'a>(
        &'a self,
        topic: &'a str,
        record: Record,
    ) -> BoxFuture<'a, Result<Record, HookError>> {
        Box::pin(async move { Ok(self.check.offload_record(topic, record).await?) })
    }
}

/// What to do with a pointer whose object is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingObject {
    /// Fail the poll, naming the record (default).
    #[default]
    Fail,
    /// Hand the pointer record over unresolved (header still set) and log a warning.
    Skip,
}

/// Replaces pointer records' values with the verified objects.
#[derive(Debug, Clone)]
pub struct BlobResolve {
    check: ClaimCheck,
    missing: MissingObject,
}

impl BlobResolve {
    pub fn new(store: Arc<dyn BlobStore>) -> Self {
        // Resolving never offloads: the threshold and prefix are unused.
        Self::from_check(ClaimCheck::new(store, usize::MAX, ""))
    }

    /// Resolves with an already opened claim check.
    pub fn from_check(check: ClaimCheck) -> Self {
        Self {
            check,
            missing: MissingObject::Fail,
        }
    }

    /// Chooses what a missing object does (corrupt objects always fail).
    pub fn on_missing(mut self, missing: MissingObject) -> Self {
        self.missing = missing;
        self
    }
}

impl ResolveHook for BlobResolve {
    fn resolve(&self, record: ConsumerRecord) -> BoxFuture<'_, Result<ConsumerRecord, HookError>> {
        Box::pin(async move {
            if !is_pointer(&record) {
                return Ok(record);
            }
            // Kept for the skip case (a clone of shared bytes, and only for pointer records).
            let pointer_record = record.clone();
            match self.check.resolve_record(record).await {
                Ok(resolved) => Ok(resolved),
                Err(ResolveError::NotFound { bucket, key })
                    if self.missing == MissingObject::Skip =>
                {
                    tracing::warn!(
                        topic = %pointer_record.topic,
                        partition = pointer_record.partition,
                        offset = pointer_record.offset,
                        bucket = %bucket,
                        key = %key,
                        "claim-check object missing; passing the pointer on as asked"
                    );
                    Ok(pointer_record)
                }
                Err(e) => Err(Box::new(e) as HookError),
            }
        })
    }
}
