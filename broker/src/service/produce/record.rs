//! Validation of one produced record, whichever format it came in: the checks both request
//! formats share live in `finish_record`, so a record is stored identically whichever way it
//! came. Failures are [`RecordError`]s: they refuse that record alone.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::value::RawValue;
use wharf_proto::ErrorCode;
use wharf_proto::api::{ErrorDetail, ProduceRecord, SchemaViolationDetails, into_key_bytes};
use wharf_proto::binary;
use wharf_proto::partitioner::partition_for_key;

use crate::claim::ClaimError;
use crate::schema::SCHEMA_ID_HEADER;
use crate::schema::json_fast::{self, FastJson};
use crate::storage::{Bytes, Header, NewRecord, StorageError};

/// Latest timestamp accepted: the end of year 9999, so dates stay printable.
pub const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// Room left for a pointer when an offloaded record is checked against `max_record_bytes`
/// (a pointer's JSON is about 250 bytes).
const POINTER_ALLOWANCE_BYTES: u64 = 512;

/// Deepest nesting of arrays and objects a JSON value may have. Fetch and poll answers embed a
/// value three levels deep (`{"records":[{"value":…}]}`), and JSON readers such as serde_json
/// (and the broker's own group routes) stop at 128 levels: a deeper value would make the
/// partition unreadable for them. Kept a little lower so the envelope may grow.
pub const MAX_VALUE_DEPTH: usize = 120;

/// Why one record of a produce request was refused; the others are not affected.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{message}")]
    InvalidRecord { message: String },
    #[error("give `key` or `key_b64`, not both")]
    AmbiguousKey,
    #[error("give `value` or `value_b64`, not both")]
    AmbiguousValue,
    #[error("a record needs `value` or `value_b64`")]
    MissingValue,
    #[error("{field}: {message}")]
    InvalidBase64 {
        field: &'static str,
        message: String,
    },
    #[error("header names must not be empty")]
    EmptyHeaderName,
    /// The value is valid JSON that JSON readers could not read back from a fetch.
    #[error("value cannot be read back: {reason}")]
    UnreadableValue { reason: String },
    #[error("timestamp must be between 0 and {MAX_TIMESTAMP_MS} ms, got {timestamp_ms}")]
    InvalidTimestamp { timestamp_ms: i64 },
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition { topic: String, partition: u32 },
    #[error(
        "record of {record_bytes} bytes is larger than the topic's max_record_bytes ({limit_bytes})"
    )]
    TooLarge { record_bytes: u64, limit_bytes: u64 },
    /// The key or value does not match the topic's schema.
    #[error("schema violation: {0}")]
    SchemaViolation(crate::schema::Violation),
    /// The claim check could not store the value.
    #[error("claim check failed: {0}")]
    ClaimCheck(#[from] ClaimError),
    /// The append of the record's partition failed (other partitions may have succeeded).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl RecordError {
    fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRecord {
            message: message.into(),
        }
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRecord { .. } => ErrorCode::InvalidRecord,
            Self::AmbiguousKey => ErrorCode::AmbiguousKey,
            Self::AmbiguousValue => ErrorCode::AmbiguousValue,
            Self::MissingValue => ErrorCode::MissingValue,
            Self::InvalidBase64 { .. } => ErrorCode::InvalidBase64,
            Self::EmptyHeaderName => ErrorCode::InvalidHeader,
            Self::UnreadableValue { .. } => ErrorCode::UnreadableValue,
            Self::InvalidTimestamp { .. } => ErrorCode::InvalidTimestamp,
            Self::UnknownPartition { .. } => ErrorCode::UnknownPartition,
            Self::TooLarge { .. } => ErrorCode::RecordTooLarge,
            Self::SchemaViolation(_) => ErrorCode::SchemaViolation,
            Self::ClaimCheck(_) => ErrorCode::ClaimCheckFailed,
            Self::Storage(e) => storage_code(e),
        }
    }

    /// Whether sending the same record again may succeed.
    pub fn retriable(&self) -> bool {
        match self {
            Self::ClaimCheck(e) => claim_retriable(e),
            Self::Storage(e) => storage_retriable(e),
            _ => false,
        }
    }

    /// The error as it appears in the record's result.
    pub fn detail(&self) -> ErrorDetail {
        let details = match self {
            Self::TooLarge {
                record_bytes,
                limit_bytes,
            } => Some(
                serde_json::json!({ "record_bytes": record_bytes, "limit_bytes": limit_bytes }),
            ),
            // The wire type clients read back (`ErrorDetail::schema_violation`).
            Self::SchemaViolation(v) => serde_json::to_value(SchemaViolationDetails {
                subject: v.subject.clone(),
                schema_id: v.schema_id,
                version: v.version,
                pointer: v.pointer.clone(),
            })
            .ok(),
            _ => None,
        };
        ErrorDetail {
            code: self.code().as_str().to_owned(),
            message: self.to_string(),
            retriable: self.retriable(),
            details,
        }
    }
}

/// The code of a storage error (the same the HTTP layer answers a whole request with).
pub fn storage_code(e: &StorageError) -> ErrorCode {
    match e {
        StorageError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        StorageError::BatchTooLarge { .. } => ErrorCode::RecordTooLarge,
        StorageError::EmptyBatch => ErrorCode::EmptyBatch,
        StorageError::DiskFull { .. } => ErrorCode::DiskFull,
        StorageError::TooManyOpenFiles { .. } => ErrorCode::TooManyOpenFiles,
        StorageError::Corruption { .. } => ErrorCode::Corruption,
        StorageError::Io { .. }
        | StorageError::Poisoned { .. }
        | StorageError::InvalidRecord { .. }
        | StorageError::InvalidConfig { .. } => ErrorCode::Internal,
    }
}

/// Whether a storage error may heal by itself (a full disk, no descriptors, an i/o failure).
pub fn storage_retriable(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::DiskFull { .. }
            | StorageError::TooManyOpenFiles { .. }
            | StorageError::Io { .. }
    )
}

/// Whether a claim-check failure may heal: a store outage may; a missing or corrupt object, or a
/// key the store refuses, will not.
pub fn claim_retriable(e: &ClaimError) -> bool {
    use wharf_blob::{BlobError, ResolveError};
    !matches!(
        e,
        ClaimError::Resolve(
            ResolveError::NotFound { .. }
                | ResolveError::SizeMismatch { .. }
                | ResolveError::DigestMismatch { .. }
                | ResolveError::InvalidPointer(_)
                | ResolveError::BucketMismatch { .. },
        ) | ClaimError::Blob(BlobError::InvalidKey { .. })
    )
}

/// A validated record waiting for its append.
#[derive(Debug)]
pub(super) struct Prepared {
    /// Explicit or keyed partition; `None` = keyless (sticky).
    pub(super) partition: Option<u32>,
    pub(super) record: NewRecord,
    /// The value goes to the blob store and the record keeps a pointer.
    pub(super) offload: bool,
    /// The id of the value schema the parse already proved the value valid against (see
    /// [`prepare_binary`]); the schema step then does not check the value again.
    pub(super) value_schema_id: Option<u32>,
}

/// What per-record validation checks against.
#[derive(Debug)]
pub(super) struct Limits<'a> {
    pub(super) topic: &'a str,
    pub(super) partitions: u32,
    pub(super) max_record_bytes: u64,
    pub(super) now_ms: i64,
    pub(super) offload_threshold: Option<usize>,
}

/// Bytes a record occupies in the log, as counted against `max_record_bytes`.
pub(super) fn record_bytes(r: &NewRecord) -> u64 {
    r.payload_bytes() as u64
}

/// Validates one JSON record and turns it into what the log stores.
pub(super) fn prepare(raw: &RawValue, limits: &Limits<'_>) -> Result<Prepared, RecordError> {
    if !is_json_object(raw.get().as_bytes()) {
        return Err(RecordError::invalid("a record must be a JSON object"));
    }
    let record: ProduceRecord =
        serde_json::from_str(raw.get()).map_err(|e| RecordError::invalid(e.to_string()))?;

    let key: Option<Bytes> = match (record.key, record.key_b64) {
        (Some(_), Some(_)) => return Err(RecordError::AmbiguousKey),
        (Some(json), None) => into_key_bytes(json).map(Bytes::from),
        (None, Some(b64)) => Some(decode_b64("key_b64", &b64)?),
        (None, None) => None,
    };

    let (value, value_is_json) = match (record.value, record.value_b64) {
        (Some(_), Some(_)) => return Err(RecordError::AmbiguousValue),
        (Some(json), None) => {
            check_readable(json.get())?;
            (
                Bytes::from(compact_json(json.get()).into_owned().into_bytes()),
                true,
            )
        }
        (None, Some(b64)) => (decode_b64("value_b64", &b64)?, false),
        (None, None) => return Err(RecordError::MissingValue),
    };

    let headers = record
        .headers
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| Header {
            key: name,
            value: Bytes::from(value.into_bytes()),
        })
        .collect();
    finish_record(
        NewRecord {
            timestamp_ms: 0,
            key,
            value,
            headers,
            value_is_json,
        },
        record.partition,
        record.timestamp,
        limits,
    )
}

fn decode_b64(field: &'static str, text: &str) -> Result<Bytes, RecordError> {
    B64.decode(text.as_bytes())
        .map(Bytes::from)
        .map_err(|e| RecordError::InvalidBase64 {
            field,
            message: e.to_string(),
        })
}

/// Validates one binary record. Keys and values share the request body's buffer (no copy);
/// a value flagged as JSON is checked and compacted as JSON `value`s are, because fetch answers
/// embed stored JSON values verbatim.
///
/// `schema` is the topic's latest value schema in the byte-level subset
/// ([`crate::schema::TopicCheck::fast_value`]): a JSON value is then checked against it in the
/// same pass that proves it well-formed and readable ([`json_fast::scan`]), unless the record
/// names its schema in a header. Text the pass is not sure of takes the full checks, which
/// explain a refusal.
pub(super) fn prepare_binary(
    record: binary::ProduceRecord,
    limits: &Limits<'_>,
    schema: Option<(u32, &FastJson)>,
) -> Result<Prepared, RecordError> {
    let mut value_schema_id = None;
    let value = if record.value_is_json {
        let schema = schema.filter(|_| !record.headers.iter().any(|h| h.name == SCHEMA_ID_HEADER));
        match json_fast::scan(&record.value, schema.map(|(_, f)| f), MAX_VALUE_DEPTH) {
            Some(scanned) => {
                let value = if scanned.spaced {
                    // The pass checked the text is UTF-8.
                    let text = std::str::from_utf8(&record.value).unwrap_or_default();
                    Bytes::from(compact_json(text).into_owned().into_bytes())
                } else {
                    record.value
                };
                // A tombstone carries no schema id.
                value_schema_id = schema.filter(|_| value != "null").map(|(id, _)| id);
                value
            }
            None => checked_json_value(record.value)?,
        }
    } else {
        record.value
    };
    let headers = record
        .headers
        .into_iter()
        .map(|h| Header {
            key: h.name,
            value: h.value,
        })
        .collect();
    finish_record(
        NewRecord {
            timestamp_ms: 0,
            key: record.key,
            value,
            headers,
            value_is_json: record.value_is_json,
        },
        record.partition,
        record.timestamp_ms,
        limits,
    )
    .map(|prepared| Prepared {
        value_schema_id,
        ..prepared
    })
}

/// The full checks of a JSON value in bytes, each with its own error; compacted.
fn checked_json_value(value: Bytes) -> Result<Bytes, RecordError> {
    let text = std::str::from_utf8(&value)
        .map_err(|_| RecordError::invalid("a JSON value must be UTF-8"))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| RecordError::invalid(format!("value is not valid JSON: {e}")))?;
    check_readable(text)?;
    Ok(match compact_json(text) {
        Cow::Borrowed(_) => value,
        Cow::Owned(compacted) => Bytes::from(compacted.into_bytes()),
    })
}

/// The checks both request formats share: header names, timestamp, partition choice, size and
/// claim-check offload.
fn finish_record(
    mut record: NewRecord,
    partition: Option<u32>,
    timestamp_ms: Option<i64>,
    limits: &Limits<'_>,
) -> Result<Prepared, RecordError> {
    if record.headers.iter().any(|h| h.key.is_empty()) {
        return Err(RecordError::EmptyHeaderName);
    }
    record.timestamp_ms = match timestamp_ms {
        None => limits.now_ms,
        Some(t) if (0..=MAX_TIMESTAMP_MS).contains(&t) => t,
        Some(t) => return Err(RecordError::InvalidTimestamp { timestamp_ms: t }),
    };

    let partition = match (partition, &record.key) {
        (Some(p), _) if p >= limits.partitions => {
            return Err(RecordError::UnknownPartition {
                topic: limits.topic.to_owned(),
                partition: p,
            });
        }
        (Some(p), _) => Some(p),
        (None, Some(k)) => Some(partition_for_key(k, limits.partitions)),
        (None, None) => None,
    };

    // The shared rule: a record that already is a pointer is never offloaded again.
    let offload = limits
        .offload_threshold
        .is_some_and(|t| crate::claim::should_offload(&record, t));
    let size = if offload {
        record_bytes(&record) - record.value.len() as u64 + POINTER_ALLOWANCE_BYTES
    } else {
        record_bytes(&record)
    };
    if size > limits.max_record_bytes {
        return Err(RecordError::TooLarge {
            record_bytes: size,
            limit_bytes: limits.max_record_bytes,
        });
    }
    Ok(Prepared {
        partition,
        record,
        offload,
        value_schema_id: None,
    })
}

/// Refuses valid JSON text that JSON readers could not read back: nesting deeper than
/// [`MAX_VALUE_DEPTH`], numbers beyond f64's range (`1e400`, which serde_json refuses and others
/// read as infinity) and integers beyond i64/u64 (which lose digits as f64).
pub fn check_readable(text: &str) -> Result<(), RecordError> {
    let unreadable = |reason: String| Err(RecordError::UnreadableValue { reason });
    let bytes = text.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_VALUE_DEPTH {
                    return unreadable(format!("nested deeper than {MAX_VALUE_DEPTH} levels"));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let end = bytes[i..]
                    .iter()
                    .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .map_or(bytes.len(), |n| i + n);
                let number = &text[i..end];
                let is_integer = !number.contains(['.', 'e', 'E']);
                let readable = if is_integer {
                    number.parse::<i64>().is_ok() || number.parse::<u64>().is_ok()
                } else {
                    number.parse::<f64>().is_ok_and(f64::is_finite)
                };
                if !readable {
                    let shown: String = number.chars().take(40).collect();
                    return unreadable(format!(
                        "number {shown} is beyond what JSON readers take (f64, or i64/u64 integers)"
                    ));
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Whether JSON text is an object. serde's derived `Deserialize` also takes a struct as an
/// array of its fields in order (`[3]` would pass as `{"partitions":3}`), which would bypass
/// the named, typo-proof fields the API promises; callers refuse anything but an object.
pub fn is_json_object(text: &[u8]) -> bool {
    text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Removes insignificant whitespace from valid JSON text (values are stored compactly).
pub fn compact_json(text: &str) -> Cow<'_, str> {
    if !text
        .bytes()
        .any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The one-pass scan the binary path uses is sure only of text the full checks accept,
        /// and its "needs compacting" is exactly what `compact_json` does.
        #[test]
        fn the_one_pass_scan_agrees_with_the_full_checks(
            (text, _) in crate::schema::json_fast::tests::document_text(),
            spaces in prop::collection::vec(prop::sample::select(vec!["", " ", "\n"]), 2),
        ) {
            let text = format!("{}{text}{}", spaces[0], spaces[1]);
            let full = checked_json_value(Bytes::from(text.clone().into_bytes()));
            match json_fast::scan(text.as_bytes(), None, MAX_VALUE_DEPTH) {
                Some(scanned) => {
                    let value = full.expect("the full checks accept what the scan is sure of");
                    prop_assert_eq!(scanned.spaced, value != text.as_str());
                }
                None => {
                    // Only text the scan leaves to serde: `\u` escapes, or a refusal.
                    prop_assert!(text.contains("\\u") || full.is_err(), "{}", text);
                }
            }
        }
    }

    #[test]
    fn compact_json_keeps_whitespace_inside_strings_only() {
        assert_eq!(compact_json(r#"{"a": 1}"#), r#"{"a":1}"#);
        assert_eq!(compact_json("{ \"a b\" : [1, 2 ] }\n"), r#"{"a b":[1,2]}"#);
        assert_eq!(
            compact_json(r#"{"q":"say \"hi there\""}"#),
            r#"{"q":"say \"hi there\""}"#
        );
        assert!(matches!(compact_json("[1,2]"), Cow::Borrowed(_)));
    }

    #[test]
    fn values_json_readers_cannot_read_back_are_refused() {
        let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        assert!(check_readable(&nested(MAX_VALUE_DEPTH)).is_ok());
        assert!(matches!(
            check_readable(&nested(MAX_VALUE_DEPTH + 1)),
            Err(RecordError::UnreadableValue { .. })
        ));
        let deep_objects = format!("{}{}", r#"{"a":"#.repeat(200), "}".repeat(200));
        assert!(check_readable(&deep_objects).is_err());
        for ok in [
            "1e300",
            "-1.5e-400",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
            r#"{"s":"[[[[ 1e400 ]]]] \" 99999999999999999999"}"#,
        ] {
            assert!(check_readable(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1e400",
            "[-1e400]",
            "18446744073709551616",
            "-9223372036854775809",
            r#"{"n":123456789012345678901234567890}"#,
        ] {
            let err = check_readable(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::UnreadableValue, "{bad}");
        }
        // What passes, serde_json reads back, inside the deepest answer envelope.
        let answer = format!(r#"{{"records":[{{"value":{}}}]}}"#, nested(MAX_VALUE_DEPTH));
        assert!(serde_json::from_str::<serde_json::Value>(&answer).is_ok());
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn keyed_records_get_kafkas_partition_and_bad_input_is_refused() {
        let limits = |partitions, max_record_bytes, now_ms| Limits {
            topic: "t",
            partitions,
            max_record_bytes,
            now_ms,
            offload_threshold: None,
        };
        let p = prepare(
            &raw(r#"{"key":"foobar","value":{"a": 1}}"#),
            &limits(50, 1024, 7),
        )
        .unwrap();
        assert_eq!(p.partition, Some(16));
        assert_eq!(p.record.value.as_ref(), br#"{"a":1}"#);
        assert!(p.record.value_is_json);
        assert_eq!(p.record.timestamp_ms, 7);

        let code = |text: &str| {
            prepare(&raw(text), &limits(4, 16, 0))
                .err()
                .unwrap()
                .code()
                .to_string()
        };
        assert_eq!(code(r#"{"key":"a"}"#), "missing_value");
        assert_eq!(code(r#"{"value":1,"value_b64":"AA=="}"#), "ambiguous_value");
        assert_eq!(code(r#"{"value_b64":"!!"}"#), "invalid_base64");
        assert_eq!(code(r#"{"value":1,"partition":4}"#), "unknown_partition");
        assert_eq!(code(r#"{"value":1,"timestamp":-5}"#), "invalid_timestamp");
        assert_eq!(
            code(r#"{"value":"01234567890123456789"}"#),
            "record_too_large"
        );
        assert_eq!(code(r#"{"value":1,"extra":true}"#), "invalid_record");
        assert_eq!(code(r#"{"value":1,"headers":{"":"x"}}"#), "invalid_header");
        // Positional records (serde's array form of a struct) are not records.
        assert_eq!(code(r#"["k",null,1]"#), "invalid_record");
    }

    #[test]
    fn binary_records_are_validated_like_json_ones() {
        let limits = Limits {
            topic: "t",
            partitions: 50,
            max_record_bytes: 1024,
            now_ms: 7,
            offload_threshold: None,
        };
        let json_value = binary::ProduceRecord {
            key: Some(Bytes::from_static(b"foobar")),
            value: Bytes::from_static(b"{\"a\": 1}"),
            value_is_json: true,
            ..binary::ProduceRecord::default()
        };
        let p = prepare_binary(json_value, &limits, None).unwrap();
        assert_eq!(p.partition, Some(16));
        assert_eq!(p.record.value.as_ref(), br#"{"a":1}"#);
        assert_eq!(p.record.timestamp_ms, 7);

        let code = |r: binary::ProduceRecord| {
            prepare_binary(r, &limits, None)
                .err()
                .unwrap()
                .code()
                .to_string()
        };
        let not_json = binary::ProduceRecord {
            value: Bytes::from_static(b"{nope"),
            value_is_json: true,
            ..binary::ProduceRecord::default()
        };
        assert_eq!(code(not_json), "invalid_record");
        let far_partition = binary::ProduceRecord {
            partition: Some(50),
            ..binary::ProduceRecord::default()
        };
        assert_eq!(code(far_partition), "unknown_partition");
        let empty_header = binary::ProduceRecord {
            headers: vec![binary::Header {
                name: String::new(),
                value: Bytes::new(),
            }],
            ..binary::ProduceRecord::default()
        };
        assert_eq!(code(empty_header), "invalid_header");
    }

    #[test]
    fn record_errors_render_their_code_retriability_and_size_details() {
        let too_large = RecordError::TooLarge {
            record_bytes: 20,
            limit_bytes: 16,
        };
        let detail = too_large.detail();
        assert_eq!(detail.code, "record_too_large");
        assert!(!detail.retriable);
        assert_eq!(
            detail.details,
            Some(serde_json::json!({"record_bytes": 20, "limit_bytes": 16}))
        );
        let disk = RecordError::Storage(StorageError::DiskFull {
            detail: "no space".into(),
        });
        assert_eq!((disk.code(), disk.retriable()), (ErrorCode::DiskFull, true));
        let fds = RecordError::Storage(StorageError::TooManyOpenFiles {
            detail: "emfile".into(),
        });
        assert_eq!(
            (fds.code(), fds.retriable()),
            (ErrorCode::TooManyOpenFiles, true)
        );
        // A poisoned partition stays read-only until a restart: clients must not retry it.
        let poisoned = RecordError::Storage(StorageError::Poisoned {
            detail: "fsync failed".into(),
        });
        assert_eq!(
            (poisoned.code(), poisoned.retriable()),
            (ErrorCode::Internal, false)
        );
    }
}
