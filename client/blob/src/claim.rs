//! The claim-check protocol shared by the broker, the client and the functions.
//!
//! A producer whose value is larger than [`OffloadPolicy::threshold_bytes`] calls [`offload`]:
//! the value goes to the blob store under `<prefix>/<topic>/<yyyy>/<mm>/<dd>/<uuid>` and the record
//! carries the header [`PAYLOAD_HEADER`]` = `[`PAYLOAD_HEADER_S3`] with the JSON [`Pointer`]
//! `{"bucket","key","size","sha256","content_type"}` as its value. A consumer that sees the header
//! calls [`resolve`], which fails loudly on a missing object or on a size or digest mismatch.
//!
//! The header value is `s3` whatever the store: the pointer has the shape of an S3 address, and a
//! local-directory pointer (bucket `local`) is resolved by a [`LocalDirBlobStore`] over the same
//! directory.
//!
//! [`LocalDirBlobStore`]: crate::LocalDirBlobStore

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{BlobError, BlobStore, validate_key};

/// Record header that marks a claim-check record.
pub const PAYLOAD_HEADER: &str = "wharf-payload";
/// Value of [`PAYLOAD_HEADER`] for a pointer to a blob store object.
pub const PAYLOAD_HEADER_S3: &str = "s3";
/// Default offload threshold: values above 256 KiB are offloaded.
pub const DEFAULT_OFFLOAD_THRESHOLD_BYTES: usize = 262_144;
/// Content type used when a producer gives none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// The claim check: where the value is and how to verify it. Serialized as
/// `{"bucket":..,"key":..,"size":..,"sha256":..,"content_type":..}` (fields in that order).
///
/// Unknown fields are ignored when parsing, so that newer producers can add fields without
/// breaking older consumers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    /// Bucket of the blob store that holds the value.
    pub bucket: String,
    /// Object key within that store.
    pub key: String,
    /// Size of the value in bytes.
    pub size: u64,
    /// SHA-256 of the value, 64 lowercase hex digits.
    pub sha256: String,
    /// Content type of the value (`application/json`, `application/octet-stream`, ...).
    pub content_type: String,
}

/// A record value that is not a valid [`Pointer`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PointerError {
    /// Not JSON of the pointer's shape.
    #[error("claim-check pointer is not valid json: {0}")]
    Json(#[from] serde_json::Error),
    /// The `sha256` field is not 64 lowercase hex digits.
    #[error("claim-check pointer sha256 {sha256:?} is not 64 lowercase hex digits")]
    BadDigest {
        /// The field as found.
        sha256: String,
    },
    /// The `key` field is not a valid key.
    #[error("claim-check pointer key is invalid")]
    BadKey(#[source] BlobError),
}

impl Pointer {
    /// The record value: compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses and checks a record value.
    pub fn from_json(value: &[u8]) -> Result<Self, PointerError> {
        let pointer: Self = serde_json::from_slice(value)?;
        pointer.validate()?;
        Ok(pointer)
    }

    /// Checks the digest format and the key.
    pub fn validate(&self) -> Result<(), PointerError> {
        let is_hex = self.sha256.len() == 64
            && self
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_hex {
            return Err(PointerError::BadDigest {
                sha256: self.sha256.clone(),
            });
        }
        validate_key(&self.key).map_err(PointerError::BadKey)
    }
}

/// When to offload a value instead of storing it in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffloadPolicy {
    /// Values strictly larger than this many bytes are offloaded. Default 262 144 (256 KiB).
    #[serde(default = "default_threshold")]
    pub threshold_bytes: usize,
}

fn default_threshold() -> usize {
    DEFAULT_OFFLOAD_THRESHOLD_BYTES
}

impl Default for OffloadPolicy {
    fn default() -> Self {
        Self {
            threshold_bytes: DEFAULT_OFFLOAD_THRESHOLD_BYTES,
        }
    }
}

impl OffloadPolicy {
    /// Whether a value of `len_bytes` goes to the blob store.
    pub fn should_offload(&self, len_bytes: usize) -> bool {
        len_bytes > self.threshold_bytes
    }
}

/// Why [`offload`] failed. Nothing was produced; at worst an unreferenced object was uploaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OffloadError {
    /// The topic name cannot be part of an object key.
    #[error("cannot offload for topic {topic:?}: {reason}")]
    InvalidTopic {
        /// The rejected topic.
        topic: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The upload failed (or the prefix made an invalid key).
    #[error("offload upload failed")]
    Store(#[from] BlobError),
}

/// Why [`resolve`] could not hand back the value. Each case is distinct so that a consumer can
/// decide (fail, or skip when told to) and report which object is broken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The pointed-to object does not exist (deleted early, or never uploaded).
    #[error("claim-check object not found: bucket {bucket}, key {key}")]
    NotFound {
        /// Bucket from the pointer.
        bucket: String,
        /// Key from the pointer.
        key: String,
    },
    /// The object has another size than the pointer says.
    #[error("claim-check object {bucket}/{key} has {actual} bytes, pointer says {expected}")]
    SizeMismatch {
        /// Bucket from the pointer.
        bucket: String,
        /// Key from the pointer.
        key: String,
        /// Size from the pointer.
        expected: u64,
        /// Size of the object read.
        actual: u64,
    },
    /// The object's SHA-256 differs from the pointer's.
    #[error("claim-check object {bucket}/{key} has sha256 {actual}, pointer says {expected}")]
    DigestMismatch {
        /// Bucket from the pointer.
        bucket: String,
        /// Key from the pointer.
        key: String,
        /// Digest from the pointer.
        expected: String,
        /// Digest of the object read.
        actual: String,
    },
    /// The pointer names a bucket that this store does not serve.
    #[error("claim-check pointer is for bucket {pointer_bucket}, this store serves {store_bucket}")]
    BucketMismatch {
        /// Bucket from the pointer.
        pointer_bucket: String,
        /// [`BlobStore::bucket`] of the store.
        store_bucket: String,
    },
    /// The pointer itself is malformed.
    #[error("invalid claim-check pointer")]
    InvalidPointer(#[from] PointerError),
    /// The store failed for another reason (network, permissions, i/o).
    #[error("claim-check read failed")]
    Store(#[source] BlobError),
}

/// `<prefix>/<topic>/<yyyy>/<mm>/<dd>/<uuid>` (UTC date; no leading segment when `prefix` is
/// empty; slashes around `prefix` are trimmed).
pub fn object_key(prefix: &str, topic: &str, at: OffsetDateTime, id: Uuid) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let date = format!(
        "{:04}/{:02}/{:02}",
        at.year(),
        u8::from(at.month()),
        at.day()
    );
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("{topic}/{date}/{}", id.hyphenated())
    } else {
        format!("{prefix}/{topic}/{date}/{}", id.hyphenated())
    }
}

/// Same rule as the broker's topic names (`[A-Za-z0-9._-]{1,249}`, not `.` or `..`).
fn check_topic(topic: &str) -> Result<(), OffloadError> {
    let reject = |reason| {
        Err(OffloadError::InvalidTopic {
            topic: topic.to_owned(),
            reason,
        })
    };
    if topic.is_empty() || topic.len() > 249 {
        return reject("topic name must have 1 to 249 characters");
    }
    if topic == "." || topic == ".." {
        return reject("topic name must not be '.' or '..'");
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return reject("topic name may only contain [A-Za-z0-9._-]");
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Values above this are hashed on tokio's blocking pool: SHA-256 of a few MiB takes
/// milliseconds, which would stall every other task on the worker thread.
const INLINE_DIGEST_MAX_BYTES: usize = 1024 * 1024;

async fn sha256_hex_off_runtime(bytes: &Bytes) -> String {
    if bytes.len() <= INLINE_DIGEST_MAX_BYTES {
        return sha256_hex(bytes);
    }
    let shared = bytes.clone(); // reference count, not a copy
    match tokio::task::spawn_blocking(move || sha256_hex(&shared)).await {
        Ok(digest) => digest,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        // Only when the runtime is shutting down: hashing here is still correct.
        Err(_) => sha256_hex(bytes),
    }
}

/// Uploads `value` under a fresh key for `topic` and returns the pointer to produce instead.
/// An empty `content_type` becomes [`DEFAULT_CONTENT_TYPE`].
pub async fn offload<S: BlobStore + ?Sized>(
    store: &S,
    prefix: &str,
    topic: &str,
    value: Bytes,
    content_type: &str,
) -> Result<Pointer, OffloadError> {
    check_topic(topic)?;
    let content_type = if content_type.is_empty() {
        DEFAULT_CONTENT_TYPE
    } else {
        content_type
    };
    let key = object_key(prefix, topic, OffsetDateTime::now_utc(), Uuid::new_v4());
    let size = value.len() as u64;
    let sha256 = sha256_hex_off_runtime(&value).await;
    store.put(&key, value, content_type).await?;
    Ok(Pointer {
        bucket: store.bucket().to_owned(),
        key,
        size,
        sha256,
        content_type: content_type.to_owned(),
    })
}

/// Fetches the value a pointer refers to and checks its size and SHA-256.
pub async fn resolve<S: BlobStore + ?Sized>(
    store: &S,
    pointer: &Pointer,
) -> Result<Bytes, ResolveError> {
    pointer.validate()?;
    if pointer.bucket != store.bucket() {
        return Err(ResolveError::BucketMismatch {
            pointer_bucket: pointer.bucket.clone(),
            store_bucket: store.bucket().to_owned(),
        });
    }
    let bytes = match store.get(&pointer.key).await {
        Ok(bytes) => bytes,
        Err(BlobError::NotFound { .. }) => {
            return Err(ResolveError::NotFound {
                bucket: pointer.bucket.clone(),
                key: pointer.key.clone(),
            });
        }
        Err(other) => return Err(ResolveError::Store(other)),
    };
    let actual_size = bytes.len() as u64;
    if actual_size != pointer.size {
        return Err(ResolveError::SizeMismatch {
            bucket: pointer.bucket.clone(),
            key: pointer.key.clone(),
            expected: pointer.size,
            actual: actual_size,
        });
    }
    let actual_digest = sha256_hex_off_runtime(&bytes).await;
    if actual_digest != pointer.sha256 {
        return Err(ResolveError::DigestMismatch {
            bucket: pointer.bucket.clone(),
            key: pointer.key.clone(),
            expected: pointer.sha256.clone(),
            actual: actual_digest,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sample() -> Pointer {
        Pointer {
            bucket: "wharf-offload".into(),
            key: "wharf/orders/2026/01/02/0b7c3f8e-4a4e-4bfc-9a0c-54b1c2e0f001".into(),
            size: 300_000,
            sha256: "ab".repeat(32),
            content_type: "application/json".into(),
        }
    }

    #[test]
    fn pointer_serializes_exactly_as_the_design_says() {
        let json = String::from_utf8(sample().to_json()).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"bucket":"wharf-offload","key":"wharf/orders/2026/01/02/0b7c3f8e-4a4e-4bfc-9a0c-54b1c2e0f001","size":300000,"sha256":"{}","content_type":"application/json"}}"#,
                "ab".repeat(32)
            )
        );
        assert_eq!(Pointer::from_json(json.as_bytes()).unwrap(), sample());
    }

    #[test]
    fn pointer_parsing_ignores_unknown_fields_but_checks_digest_and_key() {
        let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        value["future_field"] = serde_json::json!(1);
        Pointer::from_json(value.to_string().as_bytes()).unwrap();

        let bad_digest = Pointer {
            sha256: "AB".repeat(32),
            ..sample()
        };
        assert!(matches!(
            Pointer::from_json(&bad_digest.to_json()),
            Err(PointerError::BadDigest { .. })
        ));
        let bad_key = Pointer {
            key: "../etc/passwd".into(),
            ..sample()
        };
        assert!(matches!(
            Pointer::from_json(&bad_key.to_json()),
            Err(PointerError::BadKey(_))
        ));
        assert!(matches!(
            Pointer::from_json(br#"{"bucket":"b"}"#),
            Err(PointerError::Json(_))
        ));
    }

    #[test]
    fn object_keys_follow_prefix_topic_date_uuid() {
        let id = Uuid::parse_str("0b7c3f8e-4a4e-4bfc-9a0c-54b1c2e0f001").unwrap();
        let at = datetime!(2026-03-04 23:30 -02:00); // 2026-03-05 01:30 UTC
        assert_eq!(
            object_key("wharf/", "orders.v1", at, id),
            "wharf/orders.v1/2026/03/05/0b7c3f8e-4a4e-4bfc-9a0c-54b1c2e0f001"
        );
        assert_eq!(
            object_key("", "t", at, id),
            "t/2026/03/05/0b7c3f8e-4a4e-4bfc-9a0c-54b1c2e0f001"
        );
    }

    #[test]
    fn offload_policy_offloads_strictly_above_the_threshold() {
        let policy = OffloadPolicy::default();
        assert_eq!(policy.threshold_bytes, 262_144);
        assert!(!policy.should_offload(262_144));
        assert!(policy.should_offload(262_145));
        let parsed: OffloadPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, policy);
        assert!(serde_json::from_str::<OffloadPolicy>(r#"{"threshold":1}"#).is_err());
    }

    #[test]
    fn topics_that_cannot_be_key_segments_are_rejected() {
        for topic in ["", ".", "..", "a/b", "a b", &"t".repeat(250)] {
            assert!(check_topic(topic).is_err(), "{topic:?}");
        }
        check_topic("orders.created_v1-x").unwrap();
    }
}
