//! The claim check as the functions use it: the `WHARF_OFFLOAD_*` settings
//! ([`ClaimCheckConfig`], which open a [`wharf_blob::ClaimCheck`]) and the two steps
//! ([`offload_record`] before producing, [`resolve_record`] after polling), which add the
//! functions' error context (topic, size, record coordinates) to the shared claim check.
//!
//! The store is S3 (`WHARF_OFFLOAD_BUCKET`) or a local directory (`WHARF_OFFLOAD_DIR`, for local
//! runs). Pointers follow `wharf_blob`: header `wharf-payload: s3` and the JSON pointer as value.

use std::path::PathBuf;

pub use wharf_blob::{ClaimCheck, is_pointer};
use wharf_blob::{OffloadError, OffloadPolicy, ResolveError, S3Config, StoreConfig};
use wharf_client::{ConsumerRecord, Record};

use crate::env::{ConfigError, Env};

/// Where claim-check payloads live, read from the environment: the functions' surface of
/// [`wharf_blob::ClaimCheckConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCheckConfig {
    /// `WHARF_OFFLOAD_BUCKET`: S3 bucket for values above the threshold.
    pub bucket: Option<String>,
    /// `WHARF_OFFLOAD_DIR`: local directory store instead of S3 (local runs and tests). Used
    /// only when no bucket is set; its pointers name the bucket `local`.
    pub dir: Option<PathBuf>,
    /// `WHARF_OFFLOAD_THRESHOLD_BYTES`: values strictly larger are offloaded. Default 262 144.
    pub threshold_bytes: usize,
    /// `WHARF_OFFLOAD_PREFIX`: object keys are `<prefix>/<topic>/<yyyy>/<mm>/<dd>/<uuid>`.
    /// Default `wharf` (the broker's default too).
    pub prefix: String,
    /// `WHARF_OFFLOAD_ENDPOINT_URL`: S3 endpoint override (LocalStack). Default: the AWS chain
    /// (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, or the region's endpoint).
    pub endpoint_url: Option<String>,
    /// `WHARF_OFFLOAD_FORCE_PATH_STYLE`: path-style S3 addressing. Default: true when an
    /// endpoint override is set, else false.
    pub force_path_style: bool,
}

impl ClaimCheckConfig {
    /// Reads the `WHARF_OFFLOAD_*` variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let endpoint_url = env.get("WHARF_OFFLOAD_ENDPOINT_URL");
        Ok(Self {
            bucket: env.get("WHARF_OFFLOAD_BUCKET"),
            dir: env.get("WHARF_OFFLOAD_DIR").map(PathBuf::from),
            threshold_bytes: env.parse_or(
                "WHARF_OFFLOAD_THRESHOLD_BYTES",
                wharf_blob::DEFAULT_OFFLOAD_THRESHOLD_BYTES,
            )?,
            prefix: env
                .get("WHARF_OFFLOAD_PREFIX")
                .unwrap_or_else(|| wharf_blob::DEFAULT_KEY_PREFIX.to_owned()),
            force_path_style: env
                .flag_or("WHARF_OFFLOAD_FORCE_PATH_STYLE", endpoint_url.is_some())?,
            endpoint_url,
        })
    }

    /// The shared configuration; `None` when neither a bucket nor a directory is set.
    pub fn to_shared(&self) -> Option<wharf_blob::ClaimCheckConfig> {
        let store = if let Some(bucket) = &self.bucket {
            let mut s3 = S3Config::new(bucket.clone());
            s3.endpoint_url = self.endpoint_url.clone();
            s3.force_path_style = self.force_path_style;
            StoreConfig::S3(s3)
        } else {
            StoreConfig::Local {
                dir: self.dir.clone()?,
                bucket: wharf_blob::local::DEFAULT_LOCAL_BUCKET.to_owned(),
            }
        };
        Some(wharf_blob::ClaimCheckConfig {
            store,
            prefix: self.prefix.clone(),
            policy: OffloadPolicy {
                threshold_bytes: self.threshold_bytes,
            },
        })
    }

    /// Opens the configured store; `None` when neither a bucket nor a directory is set.
    pub async fn open(&self) -> Result<Option<ClaimCheck>, ClaimCheckError> {
        let Some(config) = self.to_shared() else {
            return Ok(None);
        };
        let claim = config.open().await.map_err(ClaimCheckError::Open)?;
        tracing::debug!(location = %claim.store().location(), threshold_bytes = self.threshold_bytes, "claim check store ready");
        Ok(Some(claim))
    }
}

/// Why a claim-check step failed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimCheckError {
    /// The store could not be set up (bad bucket config, directory not writable, ...).
    #[error("cannot open the claim-check store")]
    Open(#[source] wharf_blob::BlobError),
    /// Uploading a large value failed; nothing was produced.
    #[error("offloading a {size_bytes}-byte value of topic {topic} failed")]
    Offload {
        topic: String,
        size_bytes: usize,
        #[source]
        source: OffloadError,
    },
    /// The pointer is invalid, or the pointed-to object is missing or does not match it.
    #[error("record {topic}/{partition}@{offset}: claim check cannot be resolved")]
    Resolve {
        topic: String,
        partition: u32,
        offset: u64,
        #[source]
        source: ResolveError,
    },
    /// A pointer record arrived but no store is configured.
    #[error(
        "record {topic}/{partition}@{offset} is a claim check but no store is configured (set WHARF_OFFLOAD_BUCKET or WHARF_OFFLOAD_DIR)"
    )]
    NoStore {
        topic: String,
        partition: u32,
        offset: u64,
    },
}

/// Returns `record` unchanged when the offload rule does not apply, else uploads the value and
/// returns the pointer record (same key, headers, partition and timestamp).
pub async fn offload_record(
    claim: &ClaimCheck,
    topic: &str,
    record: Record,
) -> Result<Record, ClaimCheckError> {
    let size_bytes = record.value.len();
    claim
        .offload_record(topic, record)
        .await
        .map_err(|source: OffloadError| ClaimCheckError::Offload {
            topic: topic.to_owned(),
            size_bytes,
            source,
        })
}

/// Replaces a pointer record's value by the verified payload and drops the `wharf-payload`
/// header (the handler sees the record as it was produced); other records pass unchanged.
pub async fn resolve_record(
    claim: Option<&ClaimCheck>,
    record: ConsumerRecord,
) -> Result<ConsumerRecord, ClaimCheckError> {
    if !is_pointer(&record) {
        return Ok(record);
    }
    let (topic, partition, offset) = (record.topic.clone(), record.partition, record.offset);
    let Some(claim) = claim else {
        return Err(ClaimCheckError::NoStore {
            topic,
            partition,
            offset,
        });
    };
    claim
        .resolve_record(record)
        .await
        .map_err(|source: ResolveError| ClaimCheckError::Resolve {
            topic,
            partition,
            offset,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_the_documented_variables() {
        let env = Env::from_pairs([
            ("WHARF_OFFLOAD_BUCKET", "b"),
            ("WHARF_OFFLOAD_THRESHOLD_BYTES", "1024"),
            ("WHARF_OFFLOAD_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ]);
        let c = ClaimCheckConfig::from_env(&env).unwrap();
        assert_eq!(c.bucket.as_deref(), Some("b"));
        assert_eq!(c.threshold_bytes, 1024);
        assert!(c.force_path_style);
        assert_eq!(c.prefix, "wharf");
        let shared = c.to_shared().unwrap();
        assert_eq!(shared.policy.threshold_bytes, 1024);
        assert_eq!(shared.prefix, "wharf");
        match shared.store {
            StoreConfig::S3(s3) => {
                assert_eq!(s3.bucket, "b");
                assert!(s3.force_path_style);
            }
            other => panic!("expected S3, got {other:?}"),
        }
        let bad = Env::from_pairs([("WHARF_OFFLOAD_THRESHOLD_BYTES", "lots")]);
        assert!(ClaimCheckConfig::from_env(&bad).is_err());
    }

    #[test]
    fn a_directory_is_the_store_only_without_a_bucket_and_nothing_set_means_no_claim_check() {
        let none = ClaimCheckConfig::from_env(&Env::from_pairs([])).unwrap();
        assert_eq!(none.to_shared(), None);
        let dir = Env::from_pairs([("WHARF_OFFLOAD_DIR", "/tmp/blobs")]);
        let shared = ClaimCheckConfig::from_env(&dir)
            .unwrap()
            .to_shared()
            .unwrap();
        assert_eq!(
            shared.store,
            StoreConfig::Local {
                dir: "/tmp/blobs".into(),
                bucket: "local".into()
            }
        );
        let both = Env::from_pairs([
            ("WHARF_OFFLOAD_DIR", "/tmp/blobs"),
            ("WHARF_OFFLOAD_BUCKET", "b"),
        ]);
        let shared = ClaimCheckConfig::from_env(&both)
            .unwrap()
            .to_shared()
            .unwrap();
        assert!(matches!(shared.store, StoreConfig::S3(_)));
    }
}
