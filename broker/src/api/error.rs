//! The one place where errors become HTTP statuses and JSON error bodies.
//!
//! Every module below the API returns its own typed error; handlers convert them into
//! [`ApiError`] with `?`, and [`ApiError::status`] / [`ApiError::code`] decide what the client
//! sees. Codes are stable snake_case strings: clients branch on them, so renaming one is a
//! breaking change.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use wharf_proto::ErrorCode;
use wharf_proto::api::{ErrorBody, ErrorDetail};

use crate::auth::AuthError;
use crate::config::Action;
use crate::meta::MetaError;
use crate::service::consume::ConsumeError;
use crate::service::produce::ProduceError;
use crate::storage::StorageError;
use crate::topic::TopicError;

/// An error on its way to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("token {token_name} may not {action:?} on {resource}")]
    Forbidden {
        token_name: String,
        action: Action,
        resource: String,
    },
    /// A console form without this session's CSRF token (a cross-site or forged request).
    #[error("the form's csrf token does not match this session")]
    CsrfRejected,
    #[error("{message}")]
    NotFound { code: ErrorCode, message: String },
    #[error("{message}")]
    LimitReached { message: String },
    #[error("unknown topic {topic}")]
    UnknownTopic { topic: String },
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition { topic: String, partition: u32 },
    #[error("no route for {method} {path}")]
    UnknownRoute { method: String, path: String },
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("topic {topic} already exists")]
    TopicExists { topic: String },
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    #[error("request body is larger than the limit of {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: u64 },
    #[error(
        "record of {record_bytes} bytes is larger than the topic's max_record_bytes ({limit_bytes})"
    )]
    RecordTooLarge { record_bytes: u64, limit_bytes: u64 },
    #[error(
        "offset {requested} is out of range: log start {log_start_offset}, high watermark {high_watermark}"
    )]
    OffsetOutOfRange {
        requested: u64,
        log_start_offset: u64,
        high_watermark: u64,
    },
    #[error("unsupported {what}: {value}")]
    UnsupportedMediaType { what: &'static str, value: String },
    #[error("claim check failed: {detail}")]
    ClaimCheck { detail: String, retriable: bool },
    #[error("the broker is shutting down")]
    ShuttingDown,
    /// A limit shared by all clients is reached (connections, body bytes in flight).
    #[error("the broker is overloaded: {resource} at its limit of {limit}")]
    Overloaded { resource: &'static str, limit: u64 },
    #[error("the request body did not arrive within {timeout_ms} ms")]
    RequestTimeout { timeout_ms: u64 },
    #[error("the request line is longer than the broker accepts")]
    UriTooLong,
    #[error("request headers exceed {limit_bytes} bytes or {limit_count} fields")]
    HeadersTooLarge { limit_bytes: u64, limit_count: u32 },
    #[error("malformed http request")]
    MalformedRequest,
    #[error("disk full: {detail}")]
    DiskFull { detail: String },
    #[error("too many open files: {detail}")]
    TooManyOpenFiles { detail: String },
    #[error("storage corruption: {detail}")]
    Corruption { detail: String },
    #[error("internal error: {detail}")]
    Internal { detail: String },
    /// An internal failure that retrying against this broker will not heal.
    #[error("internal error: {detail}")]
    Failed { detail: String },
}

impl ApiError {
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } | Self::CsrfRejected => StatusCode::FORBIDDEN,
            Self::NotFound { .. }
            | Self::UnknownTopic { .. }
            | Self::UnknownPartition { .. }
            | Self::UnknownRoute { .. } => StatusCode::NOT_FOUND,
            Self::LimitReached { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::MalformedRequest => StatusCode::BAD_REQUEST,
            Self::TopicExists { .. } | Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } | Self::RecordTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::OffsetOutOfRange { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::ShuttingDown
            | Self::DiskFull { .. }
            | Self::TooManyOpenFiles { .. }
            | Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::ClaimCheck { .. } => StatusCode::BAD_GATEWAY,
            Self::Corruption { .. } | Self::Internal { .. } | Self::Failed { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { code, .. }
            | Self::Conflict { code, .. }
            | Self::NotFound { code, .. } => code.clone(),
            Self::LimitReached { .. } => ErrorCode::LimitReached,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::Forbidden { .. } | Self::CsrfRejected => ErrorCode::Forbidden,
            Self::UnknownTopic { .. } => ErrorCode::UnknownTopic,
            Self::UnknownPartition { .. } => ErrorCode::UnknownPartition,
            Self::UnknownRoute { .. } => ErrorCode::UnknownRoute,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::TopicExists { .. } => ErrorCode::TopicExists,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::RecordTooLarge { .. } => ErrorCode::RecordTooLarge,
            Self::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            Self::UnsupportedMediaType { .. } => ErrorCode::UnsupportedMediaType,
            Self::ShuttingDown => ErrorCode::ShuttingDown,
            Self::Overloaded { .. } => ErrorCode::Overloaded,
            Self::RequestTimeout { .. } => ErrorCode::RequestTimeout,
            Self::UriTooLong => ErrorCode::UriTooLong,
            Self::HeadersTooLarge { .. } => ErrorCode::HeadersTooLarge,
            Self::MalformedRequest => ErrorCode::MalformedRequest,
            Self::ClaimCheck { .. } => ErrorCode::ClaimCheckFailed,
            Self::DiskFull { .. } => ErrorCode::DiskFull,
            Self::TooManyOpenFiles { .. } => ErrorCode::TooManyOpenFiles,
            Self::Corruption { .. } => ErrorCode::Corruption,
            Self::Internal { .. } | Self::Failed { .. } => ErrorCode::Internal,
        }
    }

    /// Whether the same request may succeed later.
    pub fn retriable(&self) -> bool {
        match self {
            Self::ClaimCheck { retriable, .. } => *retriable,
            other => matches!(
                other,
                Self::ShuttingDown
                    | Self::DiskFull { .. }
                    | Self::TooManyOpenFiles { .. }
                    | Self::Internal { .. }
                    | Self::Overloaded { .. }
                    | Self::RequestTimeout { .. }
            ),
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            Self::OffsetOutOfRange {
                requested,
                log_start_offset,
                high_watermark,
            } => Some(json!({
                "requested": requested,
                "log_start_offset": log_start_offset,
                "high_watermark": high_watermark,
            })),
            Self::PayloadTooLarge { limit_bytes } => Some(json!({ "limit_bytes": limit_bytes })),
            Self::RecordTooLarge {
                record_bytes,
                limit_bytes,
            } => Some(json!({ "record_bytes": record_bytes, "limit_bytes": limit_bytes })),
            _ => None,
        }
    }

    /// The error as it appears in a body (also per record in produce results).
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code().as_str().to_owned(),
            message: self.to_string(),
            retriable: self.retriable(),
            details: self.details(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = %self.code(), error = %self, "request failed");
        }
        // A too-large, stalled or unaffordable body is refused before it has all arrived. hyper then drops the
        // connection instead of reusing it; saying so keeps clients from sending their next
        // request down a connection that is about to close (which fails it spuriously).
        let close = matches!(
            self,
            Self::PayloadTooLarge { .. } | Self::Overloaded { .. } | Self::RequestTimeout { .. }
        );
        let body = ErrorBody {
            error: self.detail(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if close {
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::OffsetOutOfRange {
                requested,
                log_start,
                high_watermark,
            } => Self::OffsetOutOfRange {
                requested,
                log_start_offset: log_start,
                high_watermark,
            },
            StorageError::BatchTooLarge {
                batch_bytes,
                max_bytes,
            } => Self::RecordTooLarge {
                record_bytes: batch_bytes,
                limit_bytes: max_bytes,
            },
            StorageError::EmptyBatch => {
                Self::bad_request(ErrorCode::EmptyBatch, "no records to append")
            }
            StorageError::DiskFull { detail } => Self::DiskFull { detail },
            StorageError::TooManyOpenFiles { detail } => Self::TooManyOpenFiles { detail },
            StorageError::Corruption { detail } => Self::Corruption { detail },
            StorageError::Io { detail } => Self::Internal { detail },
            StorageError::Poisoned { .. }
            | StorageError::InvalidRecord { .. }
            | StorageError::InvalidConfig { .. } => Self::Failed {
                detail: e.to_string(),
            },
        }
    }
}

impl From<crate::claim::ClaimError> for ApiError {
    fn from(e: crate::claim::ClaimError) -> Self {
        Self::ClaimCheck {
            retriable: crate::service::produce::record::claim_retriable(&e),
            detail: e.to_string(),
        }
    }
}

impl From<ConsumeError> for ApiError {
    fn from(e: ConsumeError) -> Self {
        let message = e.to_string();
        let bad = |code| Self::bad_request(code, message);
        match e {
            ConsumeError::InvalidMaxRecords => bad(ErrorCode::InvalidMaxRecords),
            ConsumeError::InvalidMaxBytes => bad(ErrorCode::InvalidMaxBytes),
            ConsumeError::InvalidWaitMs { .. } => bad(ErrorCode::InvalidWaitMs),
            ConsumeError::InvalidMinBytes => bad(ErrorCode::InvalidMinBytes),
            ConsumeError::InvalidResolve { .. } => bad(ErrorCode::InvalidResolve),
            ConsumeError::InvalidAt { .. } => bad(ErrorCode::InvalidAt),
            ConsumeError::UnknownTopic { topic } => Self::UnknownTopic { topic },
            ConsumeError::UnknownPartition { topic, partition } => {
                Self::UnknownPartition { topic, partition }
            }
            ConsumeError::Member(m) => m.into(),
            ConsumeError::Group(g) => (*g).into(),
            ConsumeError::Storage(s) => s.into(),
            ConsumeError::Claim(c) => c.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => Self::Unauthorized,
            AuthError::Forbidden {
                token_name,
                action,
                resource,
            } => Self::Forbidden {
                token_name,
                action,
                resource,
            },
        }
    }
}

impl From<ProduceError> for ApiError {
    fn from(e: ProduceError) -> Self {
        match e {
            ProduceError::InvalidJson { message } => {
                Self::bad_request(ErrorCode::InvalidJson, message)
            }
            ProduceError::InvalidBatch(e) => {
                Self::bad_request(ErrorCode::InvalidBatch, e.to_string())
            }
            ProduceError::EmptyBatch => Self::bad_request(ErrorCode::EmptyBatch, e.to_string()),
            ProduceError::Storage(s) => s.into(),
            ProduceError::Meta(m) => m.into(),
            ProduceError::IdempotencyKeyReused => Self::Conflict {
                code: ErrorCode::IdempotencyKeyReused,
                message: e.to_string(),
            },
            ProduceError::Task { .. } => Self::Internal {
                detail: e.to_string(),
            },
        }
    }
}

impl From<MetaError> for ApiError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Corruption { .. } => Self::Corruption {
                detail: e.to_string(),
            },
            MetaError::Store { .. } | MetaError::Remote { .. } | MetaError::Task { .. } => {
                Self::Internal {
                    detail: e.to_string(),
                }
            }
        }
    }
}

impl From<TopicError> for ApiError {
    fn from(e: TopicError) -> Self {
        match e {
            TopicError::InvalidName { .. } => {
                Self::bad_request(ErrorCode::InvalidTopicName, e.to_string())
            }
            TopicError::InvalidConfig { .. } => {
                Self::bad_request(ErrorCode::InvalidTopicConfig, e.to_string())
            }
            TopicError::PartitionsCannotShrink { .. } => {
                Self::bad_request(ErrorCode::PartitionsCannotShrink, e.to_string())
            }
            TopicError::Exists { name } => Self::TopicExists { topic: name },
            TopicError::Unknown { name } => Self::UnknownTopic { topic: name },
            TopicError::Storage(s) => s.into(),
            TopicError::Meta(m) => m.into(),
        }
    }
}

/// The schema registry's media type (Confluent's), on every `/schemas/` answer.
pub const SCHEMA_REGISTRY_JSON: &str = "application/vnd.schemaregistry.v1+json";

/// An error of a `/schemas/` route, answered as Confluent Schema Registry does
/// (`{"error_code": 40401, "message": …}`, the status its code starts with) so its clients
/// understand it, with Wharf's `error` object beside it.
#[derive(Debug, thiserror::Error)]
pub enum RegistryApiError {
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaError),
    /// Authentication, body and path errors, as for every other route.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<AuthError> for RegistryApiError {
    fn from(e: AuthError) -> Self {
        Self::Api(e.into())
    }
}

impl RegistryApiError {
    /// Status, Confluent's numeric code and Wharf's code.
    fn parts(&self) -> (StatusCode, u32, String) {
        use crate::schema::SchemaError as S;
        match self {
            Self::Schema(e) => {
                let (status, code) = match e {
                    S::SubjectNotFound { .. } => (StatusCode::NOT_FOUND, "subject_not_found"),
                    S::VersionNotFound { .. } => (StatusCode::NOT_FOUND, "version_not_found"),
                    S::SchemaNotFound { .. } => (StatusCode::NOT_FOUND, "schema_not_found"),
                    S::InvalidSchema { .. } | S::InvalidSubject { .. } => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_schema")
                    }
                    S::InvalidVersion { .. } => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_version")
                    }
                    S::InvalidCompatibility { .. } => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_compatibility")
                    }
                    S::Incompatible { .. } => (StatusCode::CONFLICT, "incompatible_schema"),
                    S::Store { .. } | S::Corruption { .. } => {
                        (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                    }
                };
                (status, e.confluent_code(), code.to_owned())
            }
            Self::Api(e) => {
                let status = e.status();
                // Confluent's convention: the status followed by a digit (40101, 50001...).
                (
                    status,
                    u32::from(status.as_u16()) * 100 + 1,
                    e.code().to_string(),
                )
            }
        }
    }
}

impl IntoResponse for RegistryApiError {
    fn into_response(self) -> Response {
        let (status, error_code, code) = self.parts();
        if status.is_server_error() {
            tracing::error!(code = %code, error = %self, "schema registry request failed");
        }
        let message = self.to_string();
        let body = json!({
            "error_code": error_code,
            "message": message,
            "error": {"code": code, "message": message, "retriable": status.is_server_error()},
        });
        (
            status,
            [(axum::http::header::CONTENT_TYPE, SCHEMA_REGISTRY_JSON)],
            body.to_string(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_disk_or_descriptors_is_a_retriable_503_with_its_own_code() {
        for (storage, code) in [
            (
                StorageError::DiskFull {
                    detail: "no space".into(),
                },
                ErrorCode::DiskFull,
            ),
            (
                StorageError::TooManyOpenFiles {
                    detail: "emfile".into(),
                },
                ErrorCode::TooManyOpenFiles,
            ),
        ] {
            let e = ApiError::from(storage);
            assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(e.code(), code);
            assert!(e.retriable());
        }
        // A poisoned partition (failed fsync) is not something a retry heals.
        let poisoned = ApiError::from(StorageError::Poisoned {
            detail: "fsync failed".into(),
        });
        assert_eq!(poisoned.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!poisoned.retriable());
    }
}
