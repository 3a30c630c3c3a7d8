//! Request and response bodies of HTTP API v1.
//!
//! Conventions, shared by every route:
//! - JSON object bodies reject unknown fields, so a typo is a 400 rather than a silent default.
//! - Retention settings use Kafka's convention: `-1` means unlimited.
//! - Every failure carries an [`ErrorBody`] with a stable snake_case `code`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

pub use crate::error_code::ErrorCode;

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

impl ErrorDetail {
    /// The code, typed. (`code` stays a `String` field so the broker, which builds these from
    /// its own `&'static str` codes, keeps compiling; the JSON is the same either way.)
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::from(self.code.as_str())
    }

    /// Where a record failed its topic's schema, when this is a `schema_violation`.
    pub fn schema_violation(&self) -> Option<SchemaViolationDetails> {
        SchemaViolationDetails::from_error(&self.error_code(), self.details.as_ref())
    }
}

/// The `details` of a `schema_violation`: which schema refused the record and where.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SchemaViolationDetails {
    /// The subject checked (`<topic>-value` or `<topic>-key`).
    pub subject: String,
    /// The schema the data was checked against; absent when none was found (no schema
    /// registered, an id that is not a version of the subject, not in the wire format).
    pub schema_id: Option<u32>,
    pub version: Option<u32>,
    /// JSON pointer of the first failing place; `""` is the whole key or value.
    pub pointer: String,
}

impl SchemaViolationDetails {
    /// The details of an error with `code`, when it is a `schema_violation` whose details
    /// read as such (a client talking to an older broker gets `None`, never a panic).
    pub fn from_error(code: &ErrorCode, details: Option<&serde_json::Value>) -> Option<Self> {
        if *code != ErrorCode::SchemaViolation {
            return None;
        }
        serde_json::from_value(details?.clone()).ok()
    }
}

// ---------------------------------------------------------------------------------------------
// Topics

/// `POST /v1/topics`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    /// `[A-Za-z0-9._-]{1,249}`, not `.` or `..`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,249}$",
            min_length = 1,
            max_length = 249
        )
    )]
    pub name: String,
    /// Number of partitions (1 to the broker's `max_partitions_per_topic`).
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    #[serde(deserialize_with = "crate::integral::exact")]
    pub partitions: u32,
    /// Delete sealed segments older than this; `-1` keeps them forever. Broker default if absent.
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub retention_ms: Option<i64>,
    /// Delete the oldest sealed segments while a partition is larger; `-1` means unlimited.
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub retention_bytes: Option<i64>,
    /// Roll to a new segment file at this size.
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub segment_bytes: Option<u64>,
    /// Largest record (key + value + headers) the log accepts; larger values must be offloaded.
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_record_bytes: Option<u64>,
    /// How produced records are checked against the topic's schemas; `none` if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_validation: Option<SchemaValidation>,
}

impl CreateTopic {
    /// A topic named `name` with `partitions` partitions; every other setting is the broker's
    /// default.
    pub fn new(name: impl Into<String>, partitions: u32) -> Self {
        Self {
            name: name.into(),
            partitions,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            max_record_bytes: None,
            schema_validation: None,
        }
    }
}

/// `PATCH /v1/topics/{topic}`: every field optional; partitions can only grow.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchTopic {
    /// New partition count; must be larger than the current one.
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub partitions: Option<u32>,
    /// New age retention (`-1` = forever).
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub retention_ms: Option<i64>,
    /// New size retention (`-1` = unlimited).
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub retention_bytes: Option<i64>,
    /// New schema check of produced records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_validation: Option<SchemaValidation>,
}

/// How a topic checks produced records against the schemas of its subjects
/// (`<topic>-value`, `<topic>-key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SchemaValidation {
    /// No check.
    #[default]
    None,
    /// Values are JSON and must validate against the subject's latest JSON Schema (or the one
    /// the `wharf-schema-id` header names).
    Json,
    /// Values are in Confluent's wire format (magic byte 0, 4-byte schema id); the id must be
    /// a version of the subject and the payload must decode with it.
    Registry,
}

impl SchemaValidation {
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }
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
    /// Absent when `none`.
    #[serde(default, skip_serializing_if = "SchemaValidation::is_none")]
    pub schema_validation: SchemaValidation,
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

/// When a produce request is answered: the `acks` query parameter of
/// `POST /v1/topics/{topic}/records` (`all|leader|1|none|0`, also Kafka's `-1` for `all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// After the records are durable on disk (default). Kafka's `-1`.
    #[default]
    All,
    /// After the records are in the log (page cache). Kafka's `1`.
    Leader,
    /// As soon as the request is validated: 202, no offsets. Kafka's `0`.
    None,
}

impl Acks {
    /// The canonical spellings, in the order of the variants.
    pub const NAMES: [&'static str; 3] = ["all", "leader", "none"];

    /// The canonical query-string form (also the metrics label).
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// An `acks` value that is none of `all|-1|leader|1|none|0`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("acks must be all, leader or none, not {0:?}")]
pub struct InvalidAcks(pub String);

impl FromStr for Acks {
    type Err = InvalidAcks;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" | "-1" => Ok(Acks::All),
            "leader" | "1" => Ok(Acks::Leader),
            "none" | "0" => Ok(Acks::None),
            other => Err(InvalidAcks(other.to_owned())),
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Acks {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Acks {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        // serde's own wording for an unknown variant, as a derived enum answers.
        text.parse()
            .map_err(|_| serde::de::Error::unknown_variant(&text, &Self::NAMES))
    }
}

/// The bytes a JSON `key` stands for: a string is its UTF-8 bytes (as Kafka's StringSerializer
/// would), `null` is no key, any other JSON value is its compact text. Borrows for strings.
pub fn key_bytes_of_json(key: &serde_json::Value) -> Option<Cow<'_, [u8]>> {
    match key {
        serde_json::Value::String(s) => Some(Cow::Borrowed(s.as_bytes())),
        serde_json::Value::Null => None,
        other => Some(Cow::Owned(other.to_string().into_bytes())),
    }
}

/// [`key_bytes_of_json`] for an owned key: a string key's buffer is reused, not copied.
pub fn into_key_bytes(key: serde_json::Value) -> Option<Vec<u8>> {
    match key {
        serde_json::Value::String(s) => Some(s.into_bytes()),
        other => key_bytes_of_json(&other).map(Cow::into_owned),
    }
}

/// `POST /v1/topics/{topic}/records`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest {
    /// At least one record.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub records: Vec<ProduceRecord>,
}

/// One record to produce. Exactly one of `value` / `value_b64`; at most one of `key` / `key_b64`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProduceRecord {
    /// Key as JSON, stored as [`key_bytes_of_json`] says: a string as its UTF-8 bytes, `null`
    /// as no key, any other JSON value as its compact text.
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
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub partition: Option<u32>,
    /// Milliseconds since the Unix epoch; the broker's clock if absent.
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
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
mod tests;

// ---------------------------------------------------------------------------------------------
// Consumer groups

/// Where a member starts on a partition that has no committed offset.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AutoOffsetReset {
    /// From the log start.
    #[default]
    Earliest,
    /// From the high watermark (only new records).
    Latest,
}

/// `POST /v1/groups/{group}/members`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JoinGroup {
    pub topic: String,
    /// Re-join as this member (idempotent while its lease is live); generated if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// Lease length; heartbeat, poll and commit renew it. Default 30 000 ms.
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_ms: Option<u64>,
    /// Default `earliest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_offset_reset: Option<AutoOffsetReset>,
}

/// One partition a member owns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupAssignment {
    pub partition: u32,
    /// Ownership epoch: commits must carry it.
    pub epoch: u64,
    pub committed_offset: Option<u64>,
    /// Where the next poll reads from, when known.
    pub position: Option<u64>,
}

/// Answer to join and heartbeat: the member and what it owns now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MemberState {
    pub group: String,
    pub member_id: String,
    pub topic: String,
    /// Milliseconds since the Unix epoch.
    pub lease_expires_at: u64,
    pub assignments: Vec<GroupAssignment>,
}

/// `POST /v1/groups/{group}/members/{member}/poll`; every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    /// Most records in total across partitions (default 500).
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_records: Option<usize>,
    /// Most bytes in total (default 1 MiB).
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_bytes: Option<usize>,
    /// Long poll across all owned partitions (default 0).
    #[serde(
        default,
        deserialize_with = "crate::integral::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub wait_ms: Option<u64>,
    /// `url`: claim-check pointer records get a presigned GET URL in `value_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve: Option<String>,
}

/// A record delivered to a group member: a [`FetchedRecord`] plus where it came from. (The
/// fields are spelled out rather than flattened: serde cannot decode a `RawValue` through
/// `#[serde(flatten)]`.)
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PolledRecord {
    pub topic: String,
    pub partition: u32,
    /// The epoch to commit this record's offset with.
    pub epoch: u64,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Per-partition state after a poll.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PolledPartition {
    pub partition: u32,
    pub epoch: u64,
    /// Next offset this member will read (commit it to mark everything before as done).
    pub position: u64,
    pub high_watermark: u64,
    pub log_start_offset: u64,
}

/// Answer to a poll.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PollResponse {
    pub member_id: String,
    pub topic: String,
    pub lease_expires_at: u64,
    pub records: Vec<PolledRecord>,
    pub partitions: Vec<PolledPartition>,
}

/// One offset to commit: the next offset to consume, as in Kafka.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OffsetCommit {
    pub topic: String,
    #[serde(deserialize_with = "crate::integral::exact")]
    pub partition: u32,
    #[serde(deserialize_with = "crate::integral::exact")]
    pub offset: u64,
    #[serde(deserialize_with = "crate::integral::exact")]
    pub epoch: u64,
}

/// `POST /v1/groups/{group}/offsets`: all or nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    pub member_id: String,
    /// At least one offset.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub offsets: Vec<OffsetCommit>,
}

/// Answer to a commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CommitResponse {
    pub committed: Vec<OffsetCommit>,
    pub lease_expires_at: u64,
}

/// A partition offset pair.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PartitionOffset {
    #[serde(deserialize_with = "crate::integral::exact")]
    pub partition: u32,
    #[serde(deserialize_with = "crate::integral::exact")]
    pub offset: u64,
}

/// Target of an offset reset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ResetTarget {
    /// Every partition to its log start.
    Earliest,
    /// Every partition to its high watermark.
    Latest,
    /// Every partition to its first offset at or after this timestamp (ms).
    Timestamp(#[serde(deserialize_with = "crate::integral::exact")] i64),
    /// Explicit offsets.
    Offsets(Vec<PartitionOffset>),
}

/// `PUT /v1/groups/{group}/offsets`, refused while a member is live:
/// `{"topic":"t","to":"earliest"}`, `{"topic":"t","to":{"timestamp":1732240000000}}`,
/// `{"topic":"t","to":{"offsets":[{"partition":0,"offset":5}]}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetOffsets {
    pub topic: String,
    pub to: ResetTarget,
}

/// One group in `GET /v1/groups`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupSummary {
    pub group: String,
    pub topic: Option<String>,
    pub members: usize,
}

/// `GET /v1/groups`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupList {
    pub groups: Vec<GroupSummary>,
}

/// A live member in a group description.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupMember {
    pub member_id: String,
    pub lease_expires_at: u64,
    pub partitions: Vec<u32>,
}

/// One partition of a group description.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupPartition {
    pub topic: String,
    pub partition: u32,
    pub owner: Option<String>,
    pub epoch: Option<u64>,
    pub committed_offset: Option<u64>,
    pub high_watermark: u64,
    /// High watermark minus committed offset (minus log start when nothing is committed).
    pub lag: u64,
}

/// `GET /v1/groups/{group}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupDescription {
    pub group: String,
    pub topic: Option<String>,
    pub members: Vec<GroupMember>,
    pub partitions: Vec<GroupPartition>,
}
