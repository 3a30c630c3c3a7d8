//! The offload rule: which values leave the log ([`OffloadPolicy`]), under which key
//! ([`object_key`]), and the upload that turns a value into a [`Pointer`] ([`offload`]).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::pointer::{DEFAULT_CONTENT_TYPE, Pointer, is_claimed};
use super::record::ClaimRecord;
use super::sha256_hex_off_runtime;
use crate::{BlobError, BlobStore};

/// Default offload threshold: values above 256 KiB (the SQS extended client's threshold) are
/// offloaded.
pub const DEFAULT_OFFLOAD_THRESHOLD_BYTES: usize = 262_144;
/// Default object key prefix, the same for the broker and the functions.
pub const DEFAULT_KEY_PREFIX: &str = "wharf";

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

    /// The offload rule for a whole record: only the value's bytes count (not key or headers),
    /// and a record that already carries a `wharf-payload` header is never offloaded again.
    pub fn applies_to<R: ClaimRecord + ?Sized>(&self, record: &R) -> bool {
        !is_claimed(record) && self.should_offload(record.value().len())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claim::pointer::PAYLOAD_HEADER;
    use crate::claim::record::TestRecord;
    use time::macros::datetime;

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

    #[test]
    fn only_the_value_counts_and_claimed_records_are_never_offloaded_again() {
        let policy = OffloadPolicy { threshold_bytes: 4 };
        let mut record = TestRecord::new("1234");
        record.set_header("a-long-header-name", &"h".repeat(100));
        assert!(!policy.applies_to(&record), "headers do not count");
        record.value = Bytes::from_static(b"12345");
        assert!(policy.applies_to(&record));
        record.set_header(PAYLOAD_HEADER, "file");
        assert!(!policy.applies_to(&record), "already a claim");
    }
}
