//! The claim check as the functions use it: where large values go, and the two steps
//! ([`ClaimCheck::offload_record`] before producing, [`ClaimCheck::resolve_record`] after polling).
//!
//! The store is S3 (`WHARF_OFFLOAD_BUCKET`) or a local directory (`WHARF_OFFLOAD_DIR`, for local
//! runs). Pointers follow `wharf_blob`: header `wharf-payload: s3` and the JSON pointer as value.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use wharf_blob::{
    BlobStore, LocalDirBlobStore, OffloadError, PAYLOAD_HEADER, PAYLOAD_HEADER_S3, Pointer,
    PointerError, ResolveError, S3BlobStore, S3Config,
};
use wharf_client::{ConsumerRecord, Record, ValueFormat};

use crate::env::{ConfigError, Env};

/// Where claim-check payloads live, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCheckConfig {
    /// `WHARF_OFFLOAD_BUCKET`: S3 bucket for values above the threshold.
    pub bucket: Option<String>,
    /// `WHARF_OFFLOAD_DIR`: local directory store instead of S3 (local runs and tests). Used
    /// only when no bucket is set.
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
                .unwrap_or_else(|| "wharf".to_owned()),
            force_path_style: env
                .flag_or("WHARF_OFFLOAD_FORCE_PATH_STYLE", endpoint_url.is_some())?,
            endpoint_url,
        })
    }

    /// Opens the configured store; `None` when neither a bucket nor a directory is set.
    pub async fn open(&self) -> Result<Option<ClaimCheck>, ClaimCheckError> {
        let store: Arc<dyn BlobStore> = if let Some(bucket) = &self.bucket {
            let mut config = S3Config::new(bucket.clone());
            config.endpoint_url = self.endpoint_url.clone();
            config.force_path_style = self.force_path_style;
            Arc::new(
                S3BlobStore::connect(config)
                    .await
                    .map_err(ClaimCheckError::Open)?,
            )
        } else if let Some(dir) = &self.dir {
            Arc::new(LocalDirBlobStore::open(dir).map_err(ClaimCheckError::Open)?)
        } else {
            return Ok(None);
        };
        tracing::debug!(location = %store.location(), threshold_bytes = self.threshold_bytes, "claim check store ready");
        Ok(Some(ClaimCheck {
            store,
            threshold_bytes: self.threshold_bytes,
            prefix: self.prefix.clone(),
        }))
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
    /// A record carries `wharf-payload: s3` but its value is not a pointer.
    #[error("record {topic}/{partition}@{offset} has an invalid claim-check pointer")]
    InvalidPointer {
        topic: String,
        partition: u32,
        offset: u64,
        #[source]
        source: PointerError,
    },
    /// The pointed-to object is missing or does not match the pointer.
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

/// An open claim-check store with its threshold.
#[derive(Debug, Clone)]
pub struct ClaimCheck {
    store: Arc<dyn BlobStore>,
    threshold_bytes: usize,
    prefix: String,
}

impl ClaimCheck {
    /// A claim check over `store` (tests, embedding).
    pub fn new(
        store: Arc<dyn BlobStore>,
        threshold_bytes: usize,
        prefix: impl Into<String>,
    ) -> Self {
        Self {
            store,
            threshold_bytes,
            prefix: prefix.into(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    /// Values strictly larger than this are offloaded.
    pub fn threshold_bytes(&self) -> usize {
        self.threshold_bytes
    }

    /// Returns `record` unchanged when its value is small, else uploads the value and returns the
    /// pointer record (same key, headers, partition and timestamp; header `wharf-payload: s3`).
    pub async fn offload_record(
        &self,
        topic: &str,
        record: Record,
    ) -> Result<Record, ClaimCheckError> {
        if record.value.len() <= self.threshold_bytes {
            return Ok(record);
        }
        let content_type = match record.value_format {
            ValueFormat::Json => "application/json",
            ValueFormat::Bytes => "application/octet-stream",
        };
        let size_bytes = record.value.len();
        let pointer = wharf_blob::offload(
            self.store.as_ref(),
            &self.prefix,
            topic,
            record.value.clone(),
            content_type,
        )
        .await
        .map_err(|source| ClaimCheckError::Offload {
            topic: topic.to_owned(),
            size_bytes,
            source,
        })?;
        tracing::debug!(topic, size_bytes, key = %pointer.key, "offloaded value");
        let mut out = Record {
            value: Bytes::from(pointer.to_json()),
            value_format: ValueFormat::Json,
            ..record
        };
        out.headers
            .insert(PAYLOAD_HEADER.to_owned(), PAYLOAD_HEADER_S3.to_owned());
        Ok(out)
    }
}

/// Whether a polled record is a claim check.
pub fn is_pointer(record: &ConsumerRecord) -> bool {
    record
        .headers
        .get(PAYLOAD_HEADER)
        .is_some_and(|v| v == PAYLOAD_HEADER_S3)
}

/// Replaces a pointer record's value by the verified payload and drops the `wharf-payload`
/// header (the handler sees the record as it was produced); other records pass unchanged.
pub async fn resolve_record(
    claim: Option<&ClaimCheck>,
    mut record: ConsumerRecord,
) -> Result<ConsumerRecord, ClaimCheckError> {
    if !is_pointer(&record) {
        return Ok(record);
    }
    let Some(claim) = claim else {
        return Err(ClaimCheckError::NoStore {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
        });
    };
    let pointer =
        Pointer::from_json(&record.value).map_err(|source| ClaimCheckError::InvalidPointer {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            source,
        })?;
    let value = wharf_blob::resolve(claim.store.as_ref(), &pointer)
        .await
        .map_err(|source| ClaimCheckError::Resolve {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            source,
        })?;
    record.value_format = if pointer.content_type == "application/json" {
        ValueFormat::Json
    } else {
        ValueFormat::Bytes
    };
    record.value = value;
    record.headers.remove(PAYLOAD_HEADER);
    Ok(record)
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
        let bad = Env::from_pairs([("WHARF_OFFLOAD_THRESHOLD_BYTES", "lots")]);
        assert!(ClaimCheckConfig::from_env(&bad).is_err());
    }
}
