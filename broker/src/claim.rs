//! The broker's side of the claim check.
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

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wharf_blob::{
    BlobError, BlobStore, LocalDirBlobStore, OffloadPolicy, PAYLOAD_HEADER, PAYLOAD_HEADER_S3,
    Pointer, ResolveError, S3BlobStore, S3Config,
};

use crate::config::{BlobStoreKind, BrokerConfig};
use crate::meta::{MetaError, MetaStore};
use crate::metrics::Metrics;
use crate::storage::Record;

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

/// The blob store and the offload policy.
#[derive(Debug)]
pub struct ClaimCheck {
    store: Arc<dyn BlobStore>,
    prefix: String,
    policy: OffloadPolicy,
    presign_expiry: Duration,
}

/// Whether a record is a claim-check pointer.
pub fn is_pointer(record: &Record) -> bool {
    record
        .headers
        .iter()
        .any(|h| h.key == PAYLOAD_HEADER && h.value.as_ref() == PAYLOAD_HEADER_S3.as_bytes())
}

impl ClaimCheck {
    /// Builds the store the configuration names (local directory by default).
    pub async fn from_config(config: &BrokerConfig) -> Result<Self, ClaimError> {
        let c = &config.claim_check;
        let store: Arc<dyn BlobStore> = match c.store {
            BlobStoreKind::Local => Arc::new(
                LocalDirBlobStore::open(config.blob_dir())?.with_bucket_name(c.bucket.clone()),
            ),
            BlobStoreKind::S3 => {
                let mut s3 = S3Config::new(c.bucket.clone());
                s3.endpoint_url = c.endpoint_url.clone();
                s3.region = c.region.clone();
                s3.force_path_style = c.force_path_style;
                Arc::new(S3BlobStore::connect(s3).await?)
            }
        };
        Ok(Self {
            store,
            prefix: c.prefix.clone(),
            policy: OffloadPolicy {
                threshold_bytes: usize::try_from(c.threshold_bytes).unwrap_or(usize::MAX),
            },
            presign_expiry: Duration::from_millis(c.presign_expiry_ms),
        })
    }

    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    pub fn threshold_bytes(&self) -> usize {
        self.policy.threshold_bytes
    }

    pub fn should_offload(&self, value_len: usize) -> bool {
        self.policy.should_offload(value_len)
    }

    /// Uploads a value and returns the pointer bytes to store instead.
    pub async fn offload(
        &self,
        topic: &str,
        value: Bytes,
        value_is_json: bool,
    ) -> Result<Bytes, ClaimError> {
        let content_type = if value_is_json {
            "application/json"
        } else {
            "application/octet-stream"
        };
        let pointer = wharf_blob::offload(
            self.store.as_ref(),
            &self.prefix,
            topic,
            value,
            content_type,
        )
        .await?;
        Ok(Bytes::from(pointer.to_json()))
    }

    /// What a `resolve=url` reader gets for a pointer record: a presigned URL, or (for stores that
    /// cannot presign) the value itself.
    pub async fn resolve_for_reader(&self, record: &Record) -> Result<Resolved, ClaimError> {
        let pointer = Pointer::from_json(&record.value).map_err(ResolveError::from)?;
        match self
            .store
            .presign_get(&pointer.key, self.presign_expiry)
            .await
        {
            Ok(url) => Ok(Resolved::Url(url)),
            Err(BlobError::Unsupported { .. }) => {
                let bytes = wharf_blob::resolve(self.store.as_ref(), &pointer).await?;
                Ok(Resolved::Inline {
                    value: bytes,
                    is_json: pointer.content_type == "application/json",
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
            .filter(|p| p.bucket == self.store.bucket())
            .map(|p| p.key)
            .collect()
    }

    /// Deletes objects; failures are queued in the metadata store for the next pass.
    pub async fn delete_objects(&self, keys: Vec<String>, meta: &MetaStore, metrics: &Metrics) {
        let mut failed = Vec::new();
        for key in keys {
            match self.store.delete(&key).await {
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
        let meta = meta.clone();
        let queued = tokio::task::spawn_blocking(move || meta.queue_blob_deletes(&failed)).await;
        if !matches!(queued, Ok(Ok(()))) {
            tracing::error!(
                "could not queue failed claim-check deletions; objects may be orphaned until the bucket lifecycle rule removes them"
            );
        }
    }

    /// Retries queued deletions.
    pub async fn retry_queued_deletes(&self, meta: &MetaStore, metrics: &Metrics) {
        let m = meta.clone();
        let Ok(Ok(keys)) = tokio::task::spawn_blocking(move || m.queued_blob_deletes()).await
        else {
            return;
        };
        for key in keys {
            match self.store.delete(&key).await {
                Ok(_) => {
                    metrics.blob_deletes.inc();
                    let m = meta.clone();
                    let _ = tokio::task::spawn_blocking(move || m.dequeue_blob_delete(&key)).await;
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
