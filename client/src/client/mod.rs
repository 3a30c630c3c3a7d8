//! The low-level [`Client`]: one method per HTTP API v1 route, typed requests and answers, a
//! timeout on every call, no retries (callers decide; only idempotent requests may be retried).
//!
//! Produce and fetch use the binary batch encoding ([`wharf_proto::binary`]) by default
//! ([`Encoding::Binary`]): no base64, no JSON escaping, a few bytes of framing per record. The
//! client still reads a JSON answer when one comes back (any broker error body, or a broker that
//! ignores `Accept`), so it decides by the answer's `Content-Type`, never by what it asked for.
//!
//! One file per concern: this one holds the configuration, the connection and the request
//! plumbing every route shares (auth, timeouts, error bodies, decoding); the routes live in
//! - [`topics`]: create, list, describe, patch, delete;
//! - [`produce`]: produce requests in either encoding, and their answers ([`ProduceAnswer`]);
//! - [`fetch`]: plain reads and offset lookups ([`FetchOptions`], [`FetchBatch`], [`OffsetSpec`]);
//! - [`groups`]: consumer-group membership, polls, commits and offset resets.

mod fetch;
mod groups;
mod produce;
mod topics;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wharf_proto::api::{ErrorBody, ErrorDetail};
use wharf_proto::binary;
use wharf_proto::{ErrorCode, IDEMPOTENT_REPLAY_HEADER};

use crate::error::Error;

pub use fetch::{FetchBatch, FetchOptions, OffsetSpec};
pub use produce::{EncodedBatch, ProduceAnswer};

/// How produce requests and fetch answers travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// The binary batch encoding, `application/vnd.wharf.batch.v1` (default).
    #[default]
    Binary,
    /// The JSON bodies of HTTP API v1 (`value_b64` / `value`), e.g. for a proxy that inspects
    /// bodies.
    Json,
}

/// Idle keep-alive connections kept per broker. Every concurrent request needs its own HTTP/1.1
/// connection; keeping as many as a busy client runs avoids reconnecting (and a TCP handshake
/// plus slow start) between bursts.
const POOL_MAX_IDLE_PER_HOST: usize = 64;

/// Where the broker is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Base URL of the broker, e.g. `http://127.0.0.1:9092` (a trailing `/` is ignored).
    pub url: String,
    /// Bearer token, when the broker has tokens configured.
    pub token: Option<String>,
    /// Longest time one request may take, in milliseconds; long polls add their `wait_ms`.
    /// Default 30 000.
    pub request_timeout_ms: u64,
    /// Longest time to establish a connection, in milliseconds. Default 5 000.
    pub connect_timeout_ms: u64,
    /// Encoding of produce requests and fetch answers: [`Encoding::Binary`] (default) or
    /// [`Encoding::Json`]. Other routes are always JSON.
    pub encoding: Encoding,
}

impl ClientConfig {
    /// Defaults for a broker at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: None,
            request_timeout_ms: 30_000,
            connect_timeout_ms: 5_000,
            encoding: Encoding::default(),
        }
    }

    /// Sets the encoding of produce and fetch bodies.
    #[must_use]
    pub fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Sets the bearer token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

/// When a produce request is answered (`?acks=`); defined with the wire types.
pub use wharf_proto::Acks;

/// An HTTP client of one broker. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    request_timeout: Duration,
    encoding: Encoding,
}

/// Path segments are topic, group and member names, whose alphabet (`[A-Za-z0-9._-]`) needs no
/// escaping; anything else is refused before it can change the path.
fn segment<'a>(what: &str, name: &'a str) -> Result<&'a str, Error> {
    let valid = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(name)
    } else {
        Err(Error::InvalidInput {
            message: format!("invalid {what} name {name:?}: use 1 to 249 of [A-Za-z0-9._-]"),
        })
    }
}

/// `/v1/topics/{topic}`, the prefix of every per-topic route.
fn topic_path(topic: &str) -> Result<String, Error> {
    Ok(format!("/v1/topics/{}", segment("topic", topic)?))
}

/// `/v1/groups/{group}`, the prefix of every per-group route.
fn group_path(group: &str) -> Result<String, Error> {
    Ok(format!("/v1/groups/{}", segment("group", group)?))
}

/// `/v1/groups/{group}/members/{member}`, the prefix of every per-member route.
fn member_path(group: &str, member: &str) -> Result<String, Error> {
    Ok(format!(
        "{}/members/{}",
        group_path(group)?,
        segment("member", member)?
    ))
}

impl Client {
    /// Builds a client; fails only on an unusable configuration.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let base = config.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::InvalidInput {
                message: format!("broker url must start with http:// or https://, got {base:?}"),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            // Requests are written in one go; Nagle would hold back the tail of each.
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::InvalidInput {
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            base,
            token: config.token,
            request_timeout: Duration::from_millis(config.request_timeout_ms),
            encoding: config.encoding,
        })
    }

    /// The encoding of produce and fetch bodies.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// This client (sharing its connection pool) with another encoding.
    #[must_use]
    pub fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The broker's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The per-request timeout (long polls add their wait).
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends a request and returns the status, headers' replay flag and body bytes, mapping
    /// error statuses to [`Error::Api`].
    async fn send(
        &self,
        operation: &str,
        rb: RequestBuilder,
        timeout: Duration,
    ) -> Result<(StatusCode, bool, bytes::Bytes), Error> {
        let (status, replayed, _, body) = self.send_typed(operation, rb, timeout).await?;
        Ok((status, replayed, body))
    }

    /// [`Client::send`], also telling whether the answer is in the binary batch encoding.
    async fn send_typed(
        &self,
        operation: &str,
        rb: RequestBuilder,
        timeout: Duration,
    ) -> Result<(StatusCode, bool, bool, bytes::Bytes), Error> {
        let response = rb
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| Error::from_reqwest(operation, timeout, e))?;
        let status = response.status();
        let replayed = response.headers().contains_key(IDEMPOTENT_REPLAY_HEADER);
        let is_binary = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(binary::names_binary);
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::from_reqwest(operation, timeout, e))?;
        Ok((status, replayed, is_binary, body))
    }

    fn binary_decode_error(operation: &str, status: StatusCode, e: binary::DecodeError) -> Error {
        Error::Decode {
            operation: operation.to_owned(),
            status: status.as_u16(),
            message: format!("binary answer: {e}"),
        }
    }

    fn api_error(operation: &str, status: StatusCode, body: &[u8]) -> Error {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody {
                error:
                    ErrorDetail {
                        code,
                        message,
                        retriable,
                        details,
                    },
            }) => Error::Api {
                operation: operation.to_owned(),
                status: status.as_u16(),
                code: code.into(),
                message,
                retriable,
                details,
            },
            // Not our broker's JSON (a proxy, a load balancer): keep what it said.
            Err(_) => Error::Api {
                operation: operation.to_owned(),
                status: status.as_u16(),
                code: ErrorCode::Other(format!("http_{}", status.as_u16())),
                message: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
                retriable: status.is_server_error(),
                details: None,
            },
        }
    }

    fn decode<T: DeserializeOwned>(
        operation: &str,
        status: StatusCode,
        body: &[u8],
    ) -> Result<T, Error> {
        serde_json::from_slice(body).map_err(|e| Error::Decode {
            operation: operation.to_owned(),
            status: status.as_u16(),
            message: e.to_string(),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        operation: &str,
        rb: RequestBuilder,
        timeout: Duration,
    ) -> Result<T, Error> {
        let (status, _, body) = self.send(operation, rb, timeout).await?;
        if !status.is_success() {
            return Err(Self::api_error(operation, status, &body));
        }
        Self::decode(operation, status, &body)
    }

    /// `GET path`, answered in JSON, within the request timeout.
    async fn get<T: DeserializeOwned>(&self, operation: &str, path: &str) -> Result<T, Error> {
        self.call(
            operation,
            self.request(Method::GET, path),
            self.request_timeout,
        )
        .await
    }

    /// `method path` with `body` as JSON, answered in JSON, within the request timeout.
    async fn call_json<T: DeserializeOwned, B: Serialize>(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let rb = self.request(method, path).json(body);
        self.call(operation, rb, self.request_timeout).await
    }

    /// `method path` without a body, answered with no content, within the request timeout.
    async fn call_empty(&self, operation: &str, method: Method, path: &str) -> Result<(), Error> {
        let rb = self.request(method, path);
        let (status, _, body) = self.send(operation, rb, self.request_timeout).await?;
        if !status.is_success() {
            return Err(Self::api_error(operation, status, &body));
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Operations

    /// `GET /health`: the broker process answers.
    pub async fn health(&self) -> Result<(), Error> {
        self.call_empty("health", Method::GET, "/health").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_proto::api::PollResponse;

    #[test]
    fn polled_records_with_json_values_decode() {
        let body = r#"{"member_id":"m","topic":"t","lease_expires_at":5,"records":[
            {"topic":"t","partition":1,"epoch":7,"offset":3,"timestamp":9,"key":"k","value":{"a":[1,2]},"headers":{"h":"v"}},
            {"topic":"t","partition":1,"epoch":7,"offset":4,"timestamp":9,"value":null},
            {"topic":"t","partition":1,"epoch":7,"offset":5,"timestamp":9,"value_b64":"AA=="}],
            "partitions":[{"partition":1,"epoch":7,"position":6,"high_watermark":6,"log_start_offset":0}]}"#;
        let answer: PollResponse = serde_json::from_str(body).unwrap();
        assert_eq!(
            answer.records[0].value.as_ref().unwrap().get(),
            r#"{"a":[1,2]}"#
        );
        assert_eq!(answer.records[0].epoch, 7);
        assert_eq!(answer.records[1].value.as_ref().unwrap().get(), "null");
        assert_eq!(answer.records[2].value_b64.as_deref(), Some("AA=="));
        assert_eq!(answer.partitions[0].position, 6);
    }

    #[test]
    fn names_that_would_change_the_path_are_refused() {
        assert!(segment("topic", "orders.v1_x-y").is_ok());
        for bad in ["", ".", "..", "a/b", "a?b", "a b", "a%2Fb"] {
            assert!(segment("topic", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn error_bodies_and_foreign_answers_become_api_errors() {
        let e = Client::api_error(
            "op",
            StatusCode::CONFLICT,
            br#"{"error":{"code":"fenced","message":"no","retriable":false}}"#,
        );
        assert!(e.is_fenced());
        assert!(!e.is_retriable());
        let e = Client::api_error("op", StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(e.code().map(ErrorCode::as_str), Some("http_502"));
        assert!(e.is_retriable());
    }

    #[test]
    fn urls_must_be_http() {
        assert!(Client::new(ClientConfig::new("localhost:1")).is_err());
        assert!(Client::new(ClientConfig::new("http://localhost:1/")).is_ok());
    }
}
