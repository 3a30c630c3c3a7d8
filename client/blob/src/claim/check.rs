//! [`ClaimCheck`]: a store plus the offload rule, applied to whole records; and
//! [`ClaimCheckConfig`], the one configuration every user-facing surface (the broker's
//! `claim_check.*`, the functions' `WHARF_OFFLOAD_*`) converts into.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use super::offload::{DEFAULT_KEY_PREFIX, OffloadError, OffloadPolicy, offload};
use super::pointer::{Pointer, content_type_for};
use super::record::ClaimRecord;
use super::resolve::{ResolveError, resolve};
use crate::{BlobError, BlobStore, LocalDirBlobStore, S3BlobStore, S3Config};

/// Which blob store holds the payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A local directory; `bucket` is the name written into pointers.
    Local { dir: PathBuf, bucket: String },
    /// An S3 bucket (or an S3-compatible endpoint such as LocalStack).
    S3(S3Config),
}

/// Everything needed to open a [`ClaimCheck`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCheckConfig {
    /// Where the payloads go.
    pub store: StoreConfig,
    /// Object keys are `<prefix>/<topic>/<yyyy>/<mm>/<dd>/<uuid>`. Default `wharf`.
    pub prefix: String,
    /// When a value is offloaded.
    pub policy: OffloadPolicy,
}

impl ClaimCheckConfig {
    /// The default prefix and threshold over `store`.
    pub fn new(store: StoreConfig) -> Self {
        Self {
            store,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            policy: OffloadPolicy::default(),
        }
    }

    /// Opens the store (creating the local directory, or building the S3 client).
    pub async fn open(&self) -> Result<ClaimCheck, BlobError> {
        let store: Arc<dyn BlobStore> = match &self.store {
            StoreConfig::Local { dir, bucket } => {
                Arc::new(LocalDirBlobStore::open(dir)?.with_bucket_name(bucket.clone()))
            }
            StoreConfig::S3(s3) => Arc::new(S3BlobStore::connect(s3.clone()).await?),
        };
        Ok(ClaimCheck {
            store,
            prefix: self.prefix.clone(),
            policy: self.policy,
        })
    }
}

/// An open claim check: the store, the key prefix and the offload rule, applied to any
/// [`ClaimRecord`]. The broker, the client and the functions all offload and resolve through it.
#[derive(Debug, Clone)]
pub struct ClaimCheck {
    store: Arc<dyn BlobStore>,
    prefix: String,
    policy: OffloadPolicy,
}

impl ClaimCheck {
    /// Values strictly larger than `threshold_bytes` go to `store` under
    /// `<prefix>/<topic>/<yyyy>/<mm>/<dd>/<uuid>`.
    pub fn new(
        store: Arc<dyn BlobStore>,
        threshold_bytes: usize,
        prefix: impl Into<String>,
    ) -> Self {
        Self {
            store,
            prefix: prefix.into(),
            policy: OffloadPolicy { threshold_bytes },
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    /// The offload rule.
    pub fn policy(&self) -> OffloadPolicy {
        self.policy
    }

    /// Values strictly larger than this are offloaded.
    pub fn threshold_bytes(&self) -> usize {
        self.policy.threshold_bytes
    }

    /// Uploads one value for `topic` (whatever its size: the caller applied the rule) and
    /// returns its pointer.
    pub async fn offload_value(
        &self,
        topic: &str,
        value: Bytes,
        value_is_json: bool,
    ) -> Result<Pointer, OffloadError> {
        let content_type = content_type_for(value_is_json);
        let pointer = offload(
            self.store.as_ref(),
            &self.prefix,
            topic,
            value,
            content_type,
        )
        .await?;
        tracing::debug!(topic, size_bytes = pointer.size, key = %pointer.key, "offloaded value");
        Ok(pointer)
    }

    /// Returns `record` unchanged unless [`OffloadPolicy::applies_to`] it; else uploads the
    /// value and returns the pointer record (same key, other headers, partition and timestamp).
    pub async fn offload_record<R: ClaimRecord>(
        &self,
        topic: &str,
        mut record: R,
    ) -> Result<R, OffloadError> {
        if !self.policy.applies_to(&record) {
            return Ok(record);
        }
        let pointer = self
            .offload_value(topic, record.value().clone(), record.value_is_json())
            .await?;
        pointer.mark(&mut record);
        Ok(record)
    }

    /// Replaces a pointer record's value by the verified object, with the format its content
    /// type names, and drops the `wharf-payload` header (the reader sees the record as it was
    /// produced). Other records pass unchanged.
    pub async fn resolve_record<R: ClaimRecord>(&self, mut record: R) -> Result<R, ResolveError> {
        let Some(pointer) = Pointer::of_record(&record)? else {
            return Ok(record);
        };
        let value = resolve(self.store.as_ref(), &pointer).await?;
        set_resolved(&mut record, value, &pointer);
        Ok(record)
    }
}

/// Gives a pointer record its resolved `value` back: the value, its format and no
/// `wharf-payload` header.
pub fn set_resolved<R: ClaimRecord + ?Sized>(record: &mut R, value: Bytes, pointer: &Pointer) {
    record.set_value(value, pointer.value_is_json());
    record.remove_header(super::pointer::PAYLOAD_HEADER);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claim::pointer::{PAYLOAD_HEADER, PAYLOAD_HEADER_S3, is_pointer};
    use crate::claim::record::TestRecord;

    async fn local_check(threshold_bytes: usize) -> (ClaimCheck, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ClaimCheckConfig::new(StoreConfig::Local {
            dir: dir.path().join("blobs"),
            bucket: "local".into(),
        });
        config.policy.threshold_bytes = threshold_bytes;
        (config.open().await.unwrap(), dir)
    }

    #[tokio::test]
    async fn a_large_json_record_round_trips_through_offload_and_resolve() {
        let (check, _dir) = local_check(8).await;
        let mut record = TestRecord::new(r#"{"a":"0123456789"}"#);
        record.is_json = true;
        record.set_header("trace", "t1");
        let pointer_record = check
            .offload_record("orders", record.clone())
            .await
            .unwrap();
        assert!(is_pointer(&pointer_record));
        let pointer = Pointer::of_record(&pointer_record).unwrap().unwrap();
        assert!(pointer.key.starts_with("wharf/orders/"), "{}", pointer.key);
        assert_eq!(pointer.content_type, "application/json");
        assert_eq!(check.resolve_record(pointer_record).await.unwrap(), record);
    }

    #[tokio::test]
    async fn small_and_already_claimed_records_pass_through_unchanged() {
        let (check, _dir) = local_check(8).await;
        let small = TestRecord::new("12345678");
        assert_eq!(
            check.offload_record("t", small.clone()).await.unwrap(),
            small
        );
        let mut claimed = TestRecord::new("a value longer than eight bytes");
        claimed.set_header(PAYLOAD_HEADER, "file");
        assert_eq!(
            check.offload_record("t", claimed.clone()).await.unwrap(),
            claimed
        );
        assert_eq!(
            check.resolve_record(claimed.clone()).await.unwrap(),
            claimed
        );
    }

    #[tokio::test]
    async fn a_bytes_record_resolves_as_bytes() {
        let (check, _dir) = local_check(0).await;
        let record = TestRecord::new(vec![0u8, 159, 146, 150]);
        let pointer_record = check.offload_record("t", record.clone()).await.unwrap();
        assert!(pointer_record.is_json, "a pointer's own value is JSON");
        assert_eq!(pointer_record.headers[PAYLOAD_HEADER], PAYLOAD_HEADER_S3);
        assert_eq!(check.resolve_record(pointer_record).await.unwrap(), record);
    }

    #[tokio::test]
    async fn a_pointer_record_whose_value_is_not_a_pointer_fails_to_resolve() {
        let (check, _dir) = local_check(0).await;
        let mut record = TestRecord::new("not json");
        record.set_header(PAYLOAD_HEADER, PAYLOAD_HEADER_S3);
        assert!(matches!(
            check.resolve_record(record).await,
            Err(ResolveError::InvalidPointer(_))
        ));
    }
}
