//! [`ErrorCode`]: the stable snake_case `code` of every error body ([`crate::api::ErrorDetail`]).
//!
//! Clients branch on these codes, so renaming one is a breaking change. HTTP statuses are not
//! here: they belong to the broker's HTTP layer, and the same code may travel without one (per
//! record in a 207, inside a binary produce answer).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares the enum and its one table of spellings, so the variants and their strings cannot
/// drift apart.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)+) => {
        /// A broker error code. Codes this version does not know (a newer broker's) are kept as
        /// [`ErrorCode::Other`], so they still compare, print and re-serialize as sent.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
            /// A code this version does not know, as the broker spelled it.
            Other(String),
        }

        impl ErrorCode {
            /// Every code this version knows, in the order of the README's error table.
            pub const KNOWN: &[ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $text,)+
                    ErrorCode::Other(text) => text,
                }
            }

            /// The known code spelled `text`, if any.
            fn known(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(ErrorCode::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    // 400
    /// The body is not the JSON the route expects.
    InvalidJson = "invalid_json",
    /// A binary body that does not decode; nothing appended.
    InvalidBatch = "invalid_batch",
    InvalidQuery = "invalid_query",
    InvalidPath = "invalid_path",
    InvalidTopicName = "invalid_topic_name",
    InvalidTopicConfig = "invalid_topic_config",
    PartitionsCannotShrink = "partitions_cannot_shrink",
    EmptyBatch = "empty_batch",
    /// Every record of a produce request was refused; `results` has each reason.
    InvalidRecords = "invalid_records",
    InvalidIdempotencyKey = "invalid_idempotency_key",
    InvalidMaxRecords = "invalid_max_records",
    InvalidMaxBytes = "invalid_max_bytes",
    InvalidWaitMs = "invalid_wait_ms",
    InvalidMinBytes = "invalid_min_bytes",
    InvalidAt = "invalid_at",
    InvalidEncoding = "invalid_encoding",
    InvalidJoin = "invalid_join",
    InvalidCommit = "invalid_commit",
    InvalidReset = "invalid_reset",
    InvalidResolve = "invalid_resolve",
    BodyReadFailed = "body_read_failed",
    /// The HTTP layer could not parse the request (request line, header syntax).
    MalformedRequest = "malformed_request",
    // 400, per record of a produce request
    /// A record is not a produce record object (or a binary record's JSON value is not JSON).
    InvalidRecord = "invalid_record",
    MissingValue = "missing_value",
    AmbiguousValue = "ambiguous_value",
    AmbiguousKey = "ambiguous_key",
    InvalidBase64 = "invalid_base64",
    InvalidTimestamp = "invalid_timestamp",
    InvalidHeader = "invalid_header",
    /// A record's JSON value nests deeper than 128 levels or holds a number that does not
    /// round-trip (beyond f64, or an integer beyond i64/u64): JSON readers could not read it back.
    UnreadableValue = "unreadable_value",
    /// A record's key or value does not match the topic's schema (`details`: subject,
    /// schema_id, version, pointer).
    SchemaViolation = "schema_violation",
    // 401 / 403
    Unauthorized = "unauthorized",
    Forbidden = "forbidden",
    // 404
    UnknownTopic = "unknown_topic",
    UnknownPartition = "unknown_partition",
    UnknownGroup = "unknown_group",
    /// The member's lease lapsed (or it left): join again.
    UnknownMember = "unknown_member",
    UnknownRoute = "unknown_route",
    // 405
    MethodNotAllowed = "method_not_allowed",
    // 408
    /// The request body did not arrive within `http.body_read_timeout_ms`.
    RequestTimeout = "request_timeout",
    // 409
    TopicExists = "topic_exists",
    /// A commit from a non-owner or with an old epoch; nothing changed.
    Fenced = "fenced",
    GroupTopicMismatch = "group_topic_mismatch",
    MembersLive = "members_live",
    /// A retry of an interrupted idempotent request carried other records than the original.
    IdempotencyKeyReused = "idempotency_key_reused",
    // 413
    PayloadTooLarge = "payload_too_large",
    RecordTooLarge = "record_too_large",
    // 415
    UnsupportedMediaType = "unsupported_media_type",
    // 416
    OffsetOutOfRange = "offset_out_of_range",
    // 429
    LimitReached = "limit_reached",
    // 414 / 431
    UriTooLong = "uri_too_long",
    HeadersTooLarge = "headers_too_large",
    // 500
    Internal = "internal",
    Corruption = "corruption",
    // 502
    ClaimCheckFailed = "claim_check_failed",
    // 503
    ShuttingDown = "shutting_down",
    DiskFull = "disk_full",
    /// The broker ran out of file descriptors; nothing of the request was kept.
    TooManyOpenFiles = "too_many_open_files",
    /// Too many connections or body bytes in flight; retry later.
    Overloaded = "overloaded",
}

impl From<&str> for ErrorCode {
    fn from(text: &str) -> Self {
        Self::known(text).unwrap_or_else(|| ErrorCode::Other(text.to_owned()))
    }
}

impl From<String> for ErrorCode {
    fn from(text: String) -> Self {
        Self::known(&text).unwrap_or(ErrorCode::Other(text))
    }
}

impl FromStr for ErrorCode {
    /// Never fails: an unknown code is [`ErrorCode::Other`].
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(text))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips_through_its_text_and_json() {
        for code in ErrorCode::KNOWN {
            assert_eq!(&ErrorCode::from(code.as_str()), code);
            assert!(!matches!(
                ErrorCode::from(code.as_str()),
                ErrorCode::Other(_)
            ));
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(&serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn unknown_codes_are_kept_as_sent() {
        let code: ErrorCode = serde_json::from_str("\"quota_exceeded\"").unwrap();
        assert_eq!(code, ErrorCode::Other("quota_exceeded".to_owned()));
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"quota_exceeded\"");
        assert_eq!("fenced".parse::<ErrorCode>(), Ok(ErrorCode::Fenced));
    }
}
