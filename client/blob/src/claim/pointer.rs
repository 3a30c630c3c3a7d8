//! The pointer: the one definition of what a claim-check record looks like on the wire.
//!
//! A pointer record carries the header [`PAYLOAD_HEADER`]` = `[`PAYLOAD_HEADER_S3`] and the JSON
//! [`Pointer`] `{"bucket","key","size","sha256","content_type"}` as its value. The header value is
//! `s3` whatever the store: the pointer has the shape of an S3 address, and a local-directory
//! pointer is resolved by a [`LocalDirBlobStore`] over the same directory (its bucket is `local`
//! unless the store was given another name).
//!
//! [`LocalDirBlobStore`]: crate::LocalDirBlobStore

use serde::{Deserialize, Serialize};

use super::record::ClaimRecord;
use crate::{BlobError, validate_key};

/// Record header that marks a claim-check record.
pub const PAYLOAD_HEADER: &str = "wharf-payload";
/// Value of [`PAYLOAD_HEADER`] for a pointer to a blob store object.
pub const PAYLOAD_HEADER_S3: &str = "s3";
/// Content type of an offloaded JSON value.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// Content type of any other offloaded value, and of one whose producer gave none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Whether `record` is a claim-check pointer: header `wharf-payload` with the value `s3`.
pub fn is_pointer<R: ClaimRecord + ?Sized>(record: &R) -> bool {
    record.header(PAYLOAD_HEADER) == Some(PAYLOAD_HEADER_S3.as_bytes())
}

/// Whether `record` already carries a `wharf-payload` header of any value: it is a pointer (or a
/// claim of another kind its producer made), and offloading it again would hide that.
pub fn is_claimed<R: ClaimRecord + ?Sized>(record: &R) -> bool {
    record.header(PAYLOAD_HEADER).is_some()
}

/// The content type an offloaded value is stored with: JSON or bytes.
pub fn content_type_for(value_is_json: bool) -> &'static str {
    if value_is_json {
        JSON_CONTENT_TYPE
    } else {
        DEFAULT_CONTENT_TYPE
    }
}

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
    /// Whether the value it points to is JSON (what a resolved record's format becomes).
    pub fn value_is_json(&self) -> bool {
        self.content_type == JSON_CONTENT_TYPE
    }

    /// Parses the pointer of a record that [`is_pointer`]; `Ok(None)` for any other record.
    pub fn of_record<R: ClaimRecord + ?Sized>(record: &R) -> Result<Option<Self>, PointerError> {
        if !is_pointer(record) {
            return Ok(None);
        }
        Self::from_json(record.value()).map(Some)
    }

    /// Turns `record` into this pointer's record: the pointer JSON as its value and the
    /// `wharf-payload: s3` header; key, other headers, partition and timestamp stay.
    pub fn mark<R: ClaimRecord + ?Sized>(&self, record: &mut R) {
        record.set_value(self.to_json().into(), true);
        record.set_header(PAYLOAD_HEADER, PAYLOAD_HEADER_S3);
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claim::record::TestRecord;

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
    fn only_the_s3_payload_header_makes_a_pointer_but_any_payload_header_is_a_claim() {
        let mut record = TestRecord::new("v");
        assert!(!is_pointer(&record) && !is_claimed(&record));
        record.set_header(PAYLOAD_HEADER, "file");
        assert!(!is_pointer(&record) && is_claimed(&record));
        record.set_header(PAYLOAD_HEADER, PAYLOAD_HEADER_S3);
        assert!(is_pointer(&record) && is_claimed(&record));
        record.set_header("Wharf-Payload", PAYLOAD_HEADER_S3);
        record.remove_header(PAYLOAD_HEADER);
        assert!(!is_pointer(&record), "header names are exact");
    }

    #[test]
    fn marking_a_record_makes_it_a_pointer_record_that_parses_back() {
        let mut record = TestRecord::new("large value");
        record.set_header("trace", "t1");
        sample().mark(&mut record);
        assert!(record.is_json);
        assert_eq!(record.headers["trace"], "t1");
        assert_eq!(Pointer::of_record(&record).unwrap(), Some(sample()));
        assert_eq!(Pointer::of_record(&TestRecord::new("plain")).unwrap(), None);
    }

    #[test]
    fn content_type_follows_the_value_format_both_ways() {
        assert_eq!(content_type_for(true), JSON_CONTENT_TYPE);
        assert_eq!(content_type_for(false), DEFAULT_CONTENT_TYPE);
        assert!(sample().value_is_json());
        let bytes = Pointer {
            content_type: content_type_for(false).into(),
            ..sample()
        };
        assert!(!bytes.value_is_json());
    }
}
