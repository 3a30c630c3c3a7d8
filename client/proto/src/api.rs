//! Request and response bodies of HTTP API v1.
//!
//! Conventions, shared by every route:
//! - JSON object bodies reject unknown fields, so a typo is a 400 rather than a silent default.
//! - Retention settings use Kafka's convention: `-1` means unlimited.
//! - Every failure carries an [`ErrorBody`] with a stable snake_case `code`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The body of every error response: `{"error":{"code","message","retriable"}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// One error: a stable machine-readable code, a human message, and whether retrying can help.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `unknown_topic`, `offset_out_of_range`, `fenced`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// True when the same request may succeed later (e.g. shutting down, disk full).
    pub retriable: bool,
    /// Structured context, e.g. `{"requested","log_start_offset","high_watermark"}` on a 416.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub details: Option<serde_json::Value>,
}

// ---------------------------------------------------------------------------------------------
// Topics

/// `POST /v1/topics`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    /// `[A-Za-z0-9._-]{1,249}`, not `.` or `..`.
    pub name: String,
    /// Number of partitions (1 to the broker's `max_partitions_per_topic`).
    pub partitions: u32,
    /// Delete sealed segments older than this; `-1` keeps them forever. Broker default if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_ms: Option<i64>,
    /// Delete the oldest sealed segments while a partition is larger; `-1` means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_bytes: Option<i64>,
    /// Roll to a new segment file at this size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_bytes: Option<u64>,
    /// Largest record (key + value + headers) the log accepts; larger values must be offloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_record_bytes: Option<u64>,
}

/// `PATCH /v1/topics/{topic}`: every field optional; partitions can only grow.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchTopic {
    /// New partition count; must be larger than the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<u32>,
    /// New age retention (`-1` = forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_ms: Option<i64>,
    /// New size retention (`-1` = unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_bytes: Option<i64>,
}

/// A topic's configuration, and its partitions' state when described individually.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TopicDescription {
    pub name: String,
    pub partitions: u32,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub segment_bytes: u64,
    pub max_record_bytes: u64,
    pub created_at_ms: i64,
    /// Per partition state (present on `GET /v1/topics/{topic}` and after create/patch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_states: Vec<PartitionState>,
}

/// One partition's offsets and size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PartitionState {
    pub partition: u32,
    pub log_start_offset: u64,
    pub high_watermark: u64,
    pub size_bytes: u64,
}

/// `GET /v1/topics`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TopicList {
    pub topics: Vec<TopicDescription>,
}

// ---------------------------------------------------------------------------------------------
// Produce

/// `POST /v1/topics/{topic}/records`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest {
    pub records: Vec<ProduceRecord>,
}

/// One record to produce. Exactly one of `value` / `value_b64`; at most one of `key` / `key_b64`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProduceRecord {
    /// Key as JSON: a string is used as its UTF-8 bytes (as Kafka's StringSerializer would),
    /// any other JSON value as its compact text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub key: Option<serde_json::Value>,
    /// Key as base64 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_b64: Option<String>,
    /// Any JSON value (including `null`); stored as compact bytes and remembered as JSON.
    #[serde(
        default,
        deserialize_with = "present_raw",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub value: Option<Box<RawValue>>,
    /// Raw bytes, base64 (standard alphabet, padded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
    /// String headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Explicit partition; otherwise murmur2 of the key, or sticky for keyless records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<u32>,
    /// Milliseconds since the Unix epoch; the broker's clock if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// Deserializes a present field (even `null`) as `Some`, so `"value": null` is the JSON null
/// value rather than "no value".
fn present_raw<'de, D>(deserializer: D) -> Result<Option<Box<RawValue>>, D::Error>
where
    D: Deserializer<'de>,
{
    Box::<RawValue>::deserialize(deserializer).map(Some)
}

/// Produce response: one result per record, in request order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProduceResponse {
    pub results: Vec<ProduceResult>,
}

/// Where a record landed, or why it was refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProduceResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

// ---------------------------------------------------------------------------------------------
// Fetch

/// A fetched record. `key` when the key is printable UTF-8 text (no control characters), else
/// `key_b64`; `value` when the value was produced as JSON, else `value_b64`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FetchedRecord {
    pub offset: u64,
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_b64: Option<String>,
    #[serde(
        default,
        deserialize_with = "present_raw",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub value: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
    /// With `resolve=url`: a presigned GET URL for a claim-check pointer's object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `GET /v1/topics/{topic}/partitions/{p}/records`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FetchResponse {
    pub records: Vec<FetchedRecord>,
    /// The offset to fetch next.
    pub next_offset: u64,
    pub high_watermark: u64,
    pub log_start_offset: u64,
}

/// `GET /v1/topics/{topic}/partitions/{p}/offsets?at=...`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OffsetLookup {
    pub partition: u32,
    /// The offset found; `null` when no record has a timestamp at or after the one asked for
    /// (as Kafka's `offsetsForTimes`).
    pub offset: Option<u64>,
    pub log_start_offset: u64,
    pub high_watermark: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_value_is_present_and_absent_value_is_none() {
        let with_null: ProduceRecord = serde_json::from_str(r#"{"value":null}"#).unwrap();
        assert_eq!(with_null.value.unwrap().get(), "null");
        let absent: ProduceRecord = serde_json::from_str(r#"{"value_b64":"AA=="}"#).unwrap();
        assert!(absent.value.is_none());
    }

    #[test]
    fn unknown_record_fields_are_rejected() {
        let err = serde_json::from_str::<ProduceRecord>(r#"{"value":1,"vaule":2}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
