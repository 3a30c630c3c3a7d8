//! Request parsing that answers with JSON errors: bodies (token first, size limit, read
//! timeout, the global budget of body bytes in flight, gzip/zstd), queries and path
//! parameters. axum's own extractors answer rejections in plain text, which would break the
//! "every failure is a JSON error" rule.

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::error::ApiError;
use crate::service::produce::RecordsFormat;
use crate::service::produce::record::is_json_object;
use crate::state::Broker;
use wharf_proto::ErrorCode;

/// Query string parsed into `T`, with a JSON 400 on failure.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Q(v))
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidQuery, e.body_text()))
    }
}

/// Path parameters parsed into `T`, with a JSON 400 on failure.
#[derive(Debug)]
pub struct P<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| P(v))
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidPath, e.body_text()))
    }
}

/// How much of a refused (too large) body is read and thrown away before answering 413, and for
/// how long: past either bound the connection is simply closed.
const DISCARD_MAX_BYTES: u64 = 64 * 1024 * 1024;
const DISCARD_MAX_MS: u64 = 5_000;

/// The first bytes of every body that are not counted against the [`BodyBudget`]: small
/// requests keep being served while large stalled bodies hold the whole budget. What this lets
/// through is bounded by `http.max_connections` times it.
pub const UNCOUNTED_BODY_BYTES: u64 = 64 * 1024;

/// The bytes of request bodies buffered at once, across all requests
/// (`http.max_inflight_body_bytes`), beyond each body's first [`UNCOUNTED_BODY_BYTES`].
#[derive(Debug)]
pub struct BodyBudget {
    bytes: Semaphore,
    limit: u64,
}

impl BodyBudget {
    pub fn new(limit: u64) -> Self {
        // tokio caps a semaphore's permits; a larger budget is that cap (still > 2^60 bytes).
        let permits = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Self {
            bytes: Semaphore::new(permits),
            limit,
        }
    }

    fn overloaded(&self) -> ApiError {
        ApiError::Overloaded {
            resource: "request body bytes in flight",
            limit: self.limit,
        }
    }
}

/// Whether the request carries a body (declared, or chunked).
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|len| len > 0)
}

/// Whether the route takes a token when auth is on: everything under `/v1/` but the API
/// description (health, readiness and metrics are open).
fn needs_token(path: &str) -> bool {
    path.starts_with("/v1/") && path != "/v1/openapi.json"
}

/// Middleware: reads every request body to its end before a handler runs.
///
/// Handlers answer some errors (unknown topic, bad query, no right) before touching the body.
/// hyper then closes the connection with the client's bytes still unread, the kernel answers
/// those with a reset, and a client still sending loses the answer (`connection reset` instead
/// of the JSON error). Reading first makes every early answer arrive. A body declared larger than
/// `max_request_bytes` is read and discarded (within [`DISCARD_MAX_BYTES`] and
/// [`DISCARD_MAX_MS`]) so its 413 arrives too; an undeclared (chunked) one is refused here once
/// it passes the limit. Either connection then closes.
///
/// Nothing of a body is read before its token is known (401 and close otherwise, so an
/// anonymous client cannot make the broker buffer anything), a body must arrive within
/// `http.body_read_timeout_ms` (408), and the bytes buffered across all requests stay within
/// `http.max_inflight_body_bytes` (503 `overloaded`, retriable).
pub async fn read_whole_body(
    State((broker, budget)): State<(Arc<Broker>, Arc<BodyBudget>)>,
    req: Request,
    next: Next,
) -> Response {
    let limit = broker.config.max_request_bytes;
    let (parts, body) = req.into_parts();
    if has_body(&parts.headers)
        && needs_token(parts.uri.path())
        && let Err(e) = super::auth::authenticate(&broker, &parts.headers)
    {
        let mut answer = e.into_response();
        answer.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        return answer;
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || ApiError::PayloadTooLarge { limit_bytes: limit }.into_response();
    let mut stream = body.into_data_stream();
    if declared.is_some_and(|len| len > limit) {
        // The handler still runs, on an empty body: its own early answers (unknown topic, no
        // right) come first, and reading the body answers 413 from the declared length.
        discard(&mut stream).await;
        return next.run(Request::from_parts(parts, Body::empty())).await;
    }
    let timeout_ms = broker.config.http.body_read_timeout_ms;
    let collected = tokio::time::timeout(
        std::time::Duration::from_millis(timeout_ms),
        collect_within(&mut stream, limit, Some(&budget)),
    )
    .await;
    let (whole, held) = match collected {
        Ok(Ok(collected)) => collected,
        Ok(Err(ApiError::PayloadTooLarge { .. })) => {
            discard(&mut stream).await;
            return too_large();
        }
        Ok(Err(e @ ApiError::Overloaded { .. })) => {
            // Read on (without keeping it) so the client sees the 503 rather than a reset.
            discard(&mut stream).await;
            return e.into_response();
        }
        Ok(Err(e)) => return e.into_response(),
        Err(_elapsed) => return ApiError::RequestTimeout { timeout_ms }.into_response(),
    };
    let answer = next
        .run(Request::from_parts(parts, Body::from(whole)))
        .await;
    // The body's bytes count against the budget until the handler is done with them.
    drop(held);
    answer
}

/// Reads a body stream to its end, failing with `PayloadTooLarge` as soon as it passes `limit`
/// bytes (the rest is left unread) or `body_read_failed` when the connection breaks. With a
/// budget, every chunk is paid for from it first (`Overloaded` when it cannot be), and the
/// payment is returned with the body.
async fn collect_within<'b>(
    stream: &mut axum::body::BodyDataStream,
    limit: u64,
    budget: Option<&'b BodyBudget>,
) -> Result<(Bytes, Option<SemaphorePermit<'b>>), ApiError> {
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    let mut total: u64 = 0;
    let mut held: Option<SemaphorePermit<'b>> = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                ErrorCode::BodyReadFailed,
                format!("reading the body failed: {e}"),
            )
        })?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(ApiError::PayloadTooLarge { limit_bytes: limit });
        }
        let counted = total
            .saturating_sub(UNCOUNTED_BODY_BYTES)
            .min(chunk.len() as u64);
        if let Some(budget) = budget
            && counted > 0
        {
            let n = u32::try_from(counted).map_err(|_| budget.overloaded())?;
            let paid = budget
                .bytes
                .try_acquire_many(n)
                .map_err(|_| budget.overloaded())?;
            match &mut held {
                Some(h) => h.merge(paid),
                None => held = Some(paid),
            }
        }
        // A single-chunk body is kept as is, without a copy.
        match first.take() {
            None if rest.is_empty() => first = Some(chunk),
            None => rest.extend_from_slice(&chunk),
            Some(f) => {
                rest.extend_from_slice(&f);
                rest.extend_from_slice(&chunk);
            }
        }
    }
    Ok((first.unwrap_or_else(|| rest.freeze()), held))
}

async fn discard(stream: &mut axum::body::BodyDataStream) {
    let drain = async {
        let mut read: u64 = 0;
        while let Some(Ok(chunk)) = stream.next().await {
            read += chunk.len() as u64;
            if read > DISCARD_MAX_BYTES {
                break;
            }
        }
    };
    // Past the bound the answer is sent anyway and the connection closes.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(DISCARD_MAX_MS), drain).await;
}

/// Reads a whole request body of at most `limit` bytes, decompressing gzip or zstd (the limit
/// applies to the decompressed size too, so a small bomb cannot inflate past it).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::PayloadTooLarge { limit_bytes: limit };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(too_large());
    }

    // Already buffered (and paid for) by `read_whole_body`.
    let (raw, _) = collect_within(&mut body.into_data_stream(), limit, None).await?;

    let encoding = headers.get(header::CONTENT_ENCODING).map(|v| {
        v.to_str()
            .unwrap_or("<non-ascii>")
            .trim()
            .to_ascii_lowercase()
    });
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Ok(raw),
        Some("gzip") | Some("x-gzip") => {
            decompress(flate2::read::GzDecoder::new(raw.as_ref()), limit, "gzip")
        }
        Some("zstd") => {
            let decoder = zstd::stream::read::Decoder::new(raw.as_ref()).map_err(|e| {
                ApiError::bad_request(ErrorCode::InvalidEncoding, format!("bad zstd body: {e}"))
            })?;
            decompress(decoder, limit, "zstd")
        }
        Some(other) => Err(ApiError::UnsupportedMediaType {
            what: "content-encoding",
            value: other.to_owned(),
        }),
    }
}

fn decompress(reader: impl Read, limit: u64, name: &str) -> Result<Bytes, ApiError> {
    let mut out = Vec::new();
    reader.take(limit + 1).read_to_end(&mut out).map_err(|e| {
        ApiError::bad_request(ErrorCode::InvalidEncoding, format!("bad {name} body: {e}"))
    })?;
    if out.len() as u64 > limit {
        return Err(ApiError::PayloadTooLarge { limit_bytes: limit });
    }
    Ok(Bytes::from(out))
}

/// Accepts JSON bodies. `curl -d` sends `application/x-www-form-urlencoded` and some tools send
/// `text/plain`; both are read as JSON rather than refused, since the body is what matters.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let value = value.to_str().unwrap_or("").to_ascii_lowercase();
    let mime = value.split(';').next().unwrap_or("").trim();
    match mime {
        "" | "application/json" | "application/x-www-form-urlencoded" | "text/plain" => Ok(()),
        m if m.ends_with("+json") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType {
            what: "content-type",
            value: mime.to_owned(),
        }),
    }
}

/// The format of a produce body, from its `Content-Type`; anything neither JSON nor binary is
/// a 415 as before.
pub fn request_format(headers: &HeaderMap) -> Result<RecordsFormat, ApiError> {
    let is_binary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(wharf_proto::binary::names_binary);
    if is_binary {
        return Ok(RecordsFormat::Binary);
    }
    require_json(headers).map(|()| RecordsFormat::Json)
}

/// Whether the client asked for binary answers (`Accept` names the binary batch type).
pub fn wants_binary(headers: &HeaderMap) -> bool {
    accept_matches(headers, wharf_proto::binary::names_binary)
}

/// Whether the client takes produce answers in runs (`Accept` names the binary batch type with
/// `results=runs`).
pub fn wants_result_runs(headers: &HeaderMap) -> bool {
    accept_matches(headers, wharf_proto::binary::accepts_result_runs)
}

fn accept_matches(headers: &HeaderMap, matches: fn(&str) -> bool) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(matches)
}

/// Reads, checks and parses a JSON object body of at most `limit` bytes.
pub async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Result<T, ApiError> {
    require_json(headers)?;
    let bytes = read_body(headers, body, limit).await?;
    parse_json(&bytes)
}

/// Parses a JSON object body into `T`, naming the problem in a 400.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if !is_json_object(body) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidJson,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidJson, e.to_string()))
}
