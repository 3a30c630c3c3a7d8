//! The broker's side of the claim check: a thin adapter over [`wharf_blob::ClaimCheck`] (which
//! holds the pointer format, the offload rule and the verified resolve) that adds what only the
//! broker does.
//!
//! - Offload: an HTTP producer's value above `claim_check.threshold_bytes` goes to the blob store
//!   and the log keeps the pointer (header `wharf-payload: s3`), so the log stays small whatever
//!   the client.
//! - Readers that ask `resolve=url` get a presigned GET URL next to a pointer record; with the
//!   local-directory store (which cannot presign) they get the value's bytes inline instead.
//! - Lifecycle: objects are deleted only after retention deleted the segment holding the record
//!   that points to them, never earlier. Their keys are read from the doomed segments *before*
//!   deletion and removed *after*; a failed removal is queued in `meta.redb` and retried at the
//!   next retention pass (and counted in `wharf_blob_deletes_failed_total`).

use std::time::Duration;

use bytes::Bytes;
use ref_cast::RefCast;
use wharf_blob::{
    BlobError, BlobStore, ClaimCheck, ClaimRecord, OffloadPolicy, Pointer, ResolveError, S3Config,
    StoreConfig,
};

use crate::config::{BlobStoreKind, BrokerConfig};
use crate::meta::MetaError;
use crate::metrics::Metrics;
use crate::service::backend::MetaBackend;
use crate::storage::{Header, NewRecord, Record};

/// Why the claim check could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("blob store: {0}")]
    Blob(#[from] BlobError),
    #[error("claim check offload failed: {0}")]
    Offload(#[from] wharf_blob::OffloadError),
    #[error("claim check resolve failed: {0}")]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// A log record as the shared claim check sees it (headers are an ordered list with byte
/// values). A wrapper because the record types belong to the storage engine's crate, which knows
/// nothing of the claim check; `RefCast` turns a `&Record` into a `&LogRecord<Record>` in place.
#[derive(ref_cast::RefCast)]
#[repr(transparent)]
struct LogRecord<R>(R);

macro_rules! claim_record {
    ($($ty:ty),+) => {$(
        impl ClaimRecord for LogRecord<$ty> {
            fn value(&self) -> &Bytes {
                &self.0.value
            }
            fn value_is_json(&self) -> bool {
                self.0.value_is_json
            }
            fn header(&self, name: &str) -> Option<&[u8]> {
                let found = self.0.headers.iter().find(|h| h.key == name);
                found.map(|h| h.value.as_ref())
            }
            fn set_value(&mut self, value: Bytes, is_json: bool) {
                self.0.value = value;
                self.0.value_is_json = is_json;
            }
            fn set_header(&mut self, name: &str, value: &str) {
                self.remove_header(name);
                let value = Bytes::copy_from_slice(value.as_bytes());
                self.0.headers.push(Header { key: name.to_owned(), value });
            }
            fn remove_header(&mut self, name: &str) {
                self.0.headers.retain(|h| h.key != name);
            }
        }
    )+};
}

claim_record!(NewRecord, Record);

/// The shared claim check plus the broker's presign lifetime and object lifecycle.
#[derive(Debug)]
pub struct BrokerClaimCheck {
    check: ClaimCheck,
    presign_expiry: Duration,
}

/// Whether a record is a claim-check pointer.
pub fn is_pointer(record: &Record) -> bool {
    wharf_blob::is_pointer(LogRecord::ref_cast(record))
}

/// Whether the offload rule applies to a record an HTTP producer sent (value above
/// `threshold_bytes`, no `wharf-payload` header yet).
pub fn should_offload(record: &NewRecord, threshold_bytes: usize) -> bool {
    OffloadPolicy { threshold_bytes }.applies_to(LogRecord::ref_cast(record))
}

/// Turns `record` into the pointer record for `pointer` (value and `wharf-payload: s3`).
pub fn mark_pointer(record: &mut NewRecord, pointer: &Pointer) {
    pointer.mark(LogRecord::ref_cast_mut(record));
}

/// The broker's `claim_check.*` settings as the shared configuration.
pub fn shared_config(config: &BrokerConfig) -> wharf_blob::ClaimCheckConfig {
    let c = &config.claim_check;
    let store = match c.store {
        // The local store names `claim_check.bucket` in its pointers too.
        BlobStoreKind::Local => StoreConfig::Local {
            dir: config.blob_dir(),
            bucket: c.bucket.clone(),
        },
        BlobStoreKind::S3 => {
            let mut s3 = S3Config::new(c.bucket.clone());
            s3.endpoint_url = c.endpoint_url.clone();
            s3.region = c.region.clone();
            s3.force_path_style = c.force_path_style;
            StoreConfig::S3(s3)
        }
    };
    wharf_blob::ClaimCheckConfig {
        store,
        prefix: c.prefix.clone(),
        policy: OffloadPolicy {
            threshold_bytes: usize::try_from(c.threshold_bytes).unwrap_or(usize::MAX),
        },
    }
}

impl BrokerClaimCheck {
    /// Builds the store the configuration names (local directory by default).
    pub async fn from_config(config: &BrokerConfig) -> Result<Self, ClaimError> {
        Ok(Self {
            check: shared_config(config).open().await?,
            presign_expiry: Duration::from_millis(config.claim_check.presign_expiry_ms),
        })
    }

    pub fn store(&self) -> &std::sync::Arc<dyn BlobStore> {
        self.check.store()
    }

    pub fn threshold_bytes(&self) -> usize {
        self.check.threshold_bytes()
    }

    /// Uploads a value and returns the pointer to store instead.
    pub async fn offload(
        &self,
        topic: &str,
        value: Bytes,
        value_is_json: bool,
    ) -> Result<Pointer, ClaimError> {
        Ok(self
            .check
            .offload_value(topic, value, value_is_json)
            .await?)
    }

    /// What a `resolve=url` reader gets for a pointer record: a presigned URL, or (for stores that
    /// cannot presign) the value itself.
    pub async fn resolve_for_reader(&self, record: &Record) -> Result<Resolved, ClaimError> {
        let pointer = Pointer::from_json(&record.value).map_err(ResolveError::from)?;
        match self
            .store()
            .presign_get(&pointer.key, self.presign_expiry)
            .await
        {
            Ok(url) => Ok(Resolved::Url(url)),
            Err(BlobError::Unsupported { .. }) => {
                let bytes = wharf_blob::resolve(self.store().as_ref(), &pointer).await?;
                Ok(Resolved::Inline {
                    value: bytes,
                    is_json: pointer.value_is_json(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Object keys (in this store's bucket) that pointer records among `records` refer to.
    pub fn keys_referenced(&self, records: &[Record]) -> Vec<String> {
        records
            .iter()
            .filter(|r| is_pointer(r))
            .filter_map(|r| Pointer::from_json(&r.value).ok())
            .filter(|p| p.bucket == self.store().bucket())
            .map(|p| p.key)
            .collect()
    }

    /// Deletes objects; failures are queued in the metadata store for the next pass.
    pub async fn delete_objects(
        &self,
        keys: Vec<String>,
        meta: &dyn MetaBackend,
        metrics: &Metrics,
    ) {
        let mut failed = Vec::new();
        for key in keys {
            match self.store().delete(&key).await {
                Ok(_) => {
                    metrics.blob_deletes.inc();
                }
                Err(e) => {
                    metrics.blob_deletes_failed.inc();
                    tracing::warn!(key = %key, error = %e, "claim-check object deletion failed; will retry");
                    failed.push(key);
                }
            }
        }
        if failed.is_empty() {
            return;
        }
        if meta.queue_blob_deletes(&failed).await.is_err() {
            tracing::error!(
                "could not queue failed claim-check deletions; objects may be orphaned until the bucket lifecycle rule removes them"
            );
        }
    }

    /// Retries queued deletions.
    pub async fn retry_queued_deletes(&self, meta: &dyn MetaBackend, metrics: &Metrics) {
        let Ok(keys) = meta.queued_blob_deletes().await else {
            return;
        };
        for key in keys {
            match self.store().delete(&key).await {
                Ok(_) => {
                    metrics.blob_deletes.inc();
                    let _ = meta.dequeue_blob_delete(&key).await;
                }
                Err(e) => {
                    metrics.blob_deletes_failed.inc();
                    tracing::warn!(key = %key, error = %e, "queued claim-check deletion failed again");
                }
            }
        }
    }
}

/// A pointer record as a `resolve=url` reader sees it.
#[derive(Debug)]
pub enum Resolved {
    Url(String),
    Inline { value: Bytes, is_json: bool },
}
