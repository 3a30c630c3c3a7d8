//! Errors of the low-level [`Client`](crate::Client): one enum for every HTTP call.
//!
//! The producer and consumer add their own enums on top ([`ProduceError`](crate::ProduceError),
//! [`ConsumeError`](crate::ConsumeError)) and keep the underlying [`Error`] as their source.

use std::time::Duration;

use wharf_proto::ErrorCode;

/// Why a call to the broker failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The broker answered with an error body (`{"error":{"code","message","retriable"}}`).
    #[error("broker refused {operation} with {status} {code}: {message}")]
    Api {
        /// What the client was doing, e.g. `produce orders`.
        operation: String,
        /// HTTP status.
        status: u16,
        /// Stable snake_case code, e.g. `unknown_topic`, `fenced`; `http_<status>` (as
        /// [`ErrorCode::Other`]) when the answer was not a broker error body.
        code: ErrorCode,
        /// The broker's human-readable message.
        message: String,
        /// Whether the broker says the same request may succeed later.
        retriable: bool,
        /// Structured context (e.g. offset bounds on `offset_out_of_range`).
        details: Option<serde_json::Value>,
    },
    /// The request did not complete within its timeout.
    #[error("{operation} timed out after {timeout_ms} ms")]
    Timeout { operation: String, timeout_ms: u64 },
    /// The connection failed or broke before a complete response arrived.
    #[error("{operation} failed in transport: {source}")]
    Transport {
        operation: String,
        #[source]
        source: reqwest::Error,
    },
    /// The broker's answer was not the expected JSON.
    #[error("could not decode the answer to {operation} (status {status}): {message}")]
    Decode {
        operation: String,
        status: u16,
        message: String,
    },
    /// The caller's input cannot be sent (bad URL, invalid topic name in a path, ...).
    #[error("invalid input: {message}")]
    InvalidInput { message: String },
}

impl Error {
    /// Whether retrying the same request may succeed: transport errors, timeouts, 5xx, 429 and
    /// answers marked `retriable`. Only safe for idempotent requests (the producer retries with
    /// the same `Idempotency-Key`).
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Api {
                status, retriable, ..
            } => *retriable || *status >= 500 || *status == 429 || *status == 408,
            Error::Timeout { .. } | Error::Transport { .. } => true,
            Error::Decode { .. } | Error::InvalidInput { .. } => false,
        }
    }

    /// The broker's error code, if the broker answered with one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, if the broker answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A commit was refused because this member no longer owns a partition at that epoch.
    pub fn is_fenced(&self) -> bool {
        self.code() == Some(&ErrorCode::Fenced)
    }

    /// The group does not know this member (its lease lapsed, or it left).
    pub fn is_unknown_member(&self) -> bool {
        matches!(self, Error::Api { status: 404, code, .. } if matches!(code, ErrorCode::UnknownMember | ErrorCode::UnknownGroup))
    }

    pub(crate) fn from_reqwest(operation: &str, timeout: Duration, e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Error::Timeout {
                operation: operation.to_owned(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }
        } else {
            Error::Transport {
                operation: operation.to_owned(),
                source: e,
            }
        }
    }
}
