//! The claim check over a `wharf-blob` store: [`BlobOffload`] (an [`OffloadHook`] for the
//! [`Producer`](crate::Producer)) and [`BlobResolve`] (a [`ResolveHook`] for the
//! [`Consumer`](crate::Consumer)).
//!
//! A value above the threshold is uploaded and the record carries the pointer instead (header
//! `wharf-payload: s3`, value `{"bucket","key","size","sha256","content_type"}`); a polled pointer
//! record gets its value back, verified by size and SHA-256. A missing or corrupt object fails
//! the poll, naming the record, unless the resolver was told to skip missing objects.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use wharf_blob::{
    BlobStore, OffloadPolicy, PAYLOAD_HEADER, PAYLOAD_HEADER_S3, Pointer, ResolveError,
};

use crate::hooks::{HookError, OffloadHook, ResolveHook};
use crate::record::{ConsumerRecord, Record, ValueFormat};

const JSON_CONTENT_TYPE: &str = "application/json";

/// Uploads large values to a blob store before they are batched.
#[derive(Debug, Clone)]
pub struct BlobOffload {
    store: Arc<dyn BlobStore>,
    prefix: String,
    policy: OffloadPolicy,
}

impl BlobOffload {
    /// Values strictly larger than `threshold_bytes` go to `store` under
    /// `<prefix>/<topic>/<yyyy>/<mm>/<dd>/<uuid>`.
    pub fn new(
        store: Arc<dyn BlobStore>,
        prefix: impl Into<String>,
        threshold_bytes: usize,
    ) -> Self {
        Self {
            store,
            prefix: prefix.into(),
            policy: OffloadPolicy { threshold_bytes },
        }
    }
}

impl OffloadHook for BlobOffload {
    fn threshold_bytes(&self) -> usize {
        self.policy.threshold_bytes
    }

    fn offload<'a>(
        &'a self,
        topic: &'a str,
        mut record: Record,
    ) -> BoxFuture<'a, Result<Record, HookError>> {
        Box::pin(async move {
            if record.headers.contains_key(PAYLOAD_HEADER) {
                // Already a pointer: never offload twice.
                return Ok(record);
            }
            let content_type = match record.value_format {
                ValueFormat::Json => JSON_CONTENT_TYPE,
                ValueFormat::Bytes => wharf_blob::claim::DEFAULT_CONTENT_TYPE,
            };
            let pointer = wharf_blob::offload(
                self.store.as_ref(),
                &self.prefix,
                topic,
                record.value.clone(),
                content_type,
            )
            .await?;
            record.value = Bytes::from(pointer.to_json());
            record.value_format = ValueFormat::Json;
            record
                .headers
                .insert(PAYLOAD_HEADER.to_owned(), PAYLOAD_HEADER_S3.to_owned());
            Ok(record)
        })
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
    store: Arc<dyn BlobStore>,
    missing: MissingObject,
}

impl BlobResolve {
    pub fn new(store: Arc<dyn BlobStore>) -> Self {
        Self {
            store,
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
    fn resolve(
        &self,
        mut record: ConsumerRecord,
    ) -> BoxFuture<'_, Result<ConsumerRecord, HookError>> {
        Box::pin(async move {
            if record.headers.get(PAYLOAD_HEADER).map(String::as_str) != Some(PAYLOAD_HEADER_S3) {
                return Ok(record);
            }
            let pointer = Pointer::from_json(&record.value)?;
            match wharf_blob::resolve(self.store.as_ref(), &pointer).await {
                Ok(value) => {
                    record.value = value;
                    record.value_format = if pointer.content_type == JSON_CONTENT_TYPE {
                        ValueFormat::Json
                    } else {
                        ValueFormat::Bytes
                    };
                    record.headers.remove(PAYLOAD_HEADER);
                    Ok(record)
                }
                Err(ResolveError::NotFound { bucket, key })
                    if self.missing == MissingObject::Skip =>
                {
                    tracing::warn!(
                        topic = %record.topic,
                        partition = record.partition,
                        offset = record.offset,
                        bucket = %bucket,
                        key = %key,
                        "claim-check object missing; passing the pointer on as asked"
                    );
                    Ok(record)
                }
                Err(e) => Err(Box::new(e) as HookError),
            }
        })
    }
}
