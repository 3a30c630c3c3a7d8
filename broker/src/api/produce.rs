//! `POST /v1/topics/{topic}/records`: extracts the request, authorises it, calls
//! [`service::produce`](crate::service::produce) and renders its outcome.
//!
//! Bodies are JSON, or the binary batch encoding of [`wharf_proto::binary`] when the request's
//! `Content-Type` is `application/vnd.wharf.batch.v1`; the answer is binary when `Accept` names
//! that type. Error answers (whole-request failures, and the 400 where every record was refused)
//! are always JSON: clients read error bodies one way.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use wharf_proto::api::{ErrorBody, ProduceResponse, ProduceResult};
use wharf_proto::binary;
use wharf_proto::{IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAY_HEADER};

use super::error::ApiError;
use super::extract::{P, Q, read_body, request_format, wants_binary, wants_result_runs};
use crate::config::Action;
use crate::service::produce::{
    Acks, MAX_IDEMPOTENCY_KEY_LEN, ProduceInput, ProduceOutcome, ProduceStatus, produce as run,
};
use crate::state::Broker;
use wharf_proto::ErrorCode;

/// Query of a produce request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProduceQuery {
    /// `all` (default), `leader` or `none`.
    #[param(value_type = Option<String>)]
    pub acks: Option<Acks>,
}

/// How a produce answer is written, from the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerFormat {
    Json,
    /// One binary result per record (kind 2).
    Binary,
    /// Binary runs of results (kind 4): a few bytes for a batch that landed in one partition,
    /// where kind 2 spends about 12 bytes per record for both sides to write and parse.
    BinaryRuns,
}

impl AnswerFormat {
    fn of(headers: &HeaderMap) -> Self {
        if wants_result_runs(headers) {
            Self::BinaryRuns
        } else if wants_binary(headers) {
            Self::Binary
        } else {
            Self::Json
        }
    }

    /// The binary body (not for [`AnswerFormat::Json`]).
    fn encode(self, results: &[ProduceResult]) -> Vec<u8> {
        debug_assert_ne!(self, Self::Json);
        if self == Self::BinaryRuns {
            let mut out = Vec::new();
            binary::encode_produce_result_runs(&mut out, results);
            out
        } else {
            let mut out = Vec::with_capacity(binary::estimated_len(results.len(), 0));
            binary::encode_produce_response(&mut out, results);
            out
        }
    }
}

/// Renders an outcome (a fresh one or a replay) in the encoding the request asked for.
fn render(outcome: ProduceOutcome, answer: AnswerFormat) -> Response {
    let status = match outcome.status {
        ProduceStatus::Appended => StatusCode::OK,
        ProduceStatus::Partial => StatusCode::MULTI_STATUS,
        ProduceStatus::Accepted => StatusCode::ACCEPTED,
        ProduceStatus::Refused => StatusCode::BAD_REQUEST,
    };
    let (content_type, body): (&'static str, Vec<u8>) = if outcome.status == ProduceStatus::Refused
    {
        let error = ApiError::bad_request(
            ErrorCode::InvalidRecords,
            "every record was refused; see results",
        );
        let body = serde_json::json!({ "error": error.detail(), "results": outcome.results });
        ("application/json", body.to_string().into_bytes())
    } else if answer != AnswerFormat::Json {
        (binary::CONTENT_TYPE, answer.encode(&outcome.results))
    } else {
        // The answer's shape (`ProduceResponse`) over borrowed results: no copy per request.
        #[derive(serde::Serialize)]
        struct Borrowed<'a> {
            results: &'a [ProduceResult],
        }
        let body = serde_json::to_vec(&Borrowed {
            results: &outcome.results,
        })
        .expect("serializes");
        ("application/json", body)
    };
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, content_type)],
        Body::from(body),
    )
        .into_response();
    if outcome.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAY_HEADER, HeaderValue::from_static("true"));
    }
    response
}

#[utoipa::path(
    post,
    path = "/v1/topics/{topic}/records",
    params(("topic" = String, Path, description = "Topic name"), ProduceQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response and append nothing", pattern = "^[!-~]{1,255}$", min_length = 1, max_length = 255)),
    request_body = wharf_proto::api::ProduceRequest,
    responses(
        (status = 200, description = "All records appended (binary with `Accept: application/vnd.wharf.batch.v1`)", body = ProduceResponse),
        (status = 202, description = "Accepted (acks=none)", body = ProduceResponse),
        (status = 207, description = "Some records refused; see per-record errors", body = ProduceResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn produce(
    State(broker): State<Arc<Broker>>,
    P(topic_name): P<String>,
    Q(query): Q<ProduceQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    super::auth::authorize(&broker, &headers, Action::Produce, &topic_name)?;
    if broker.is_stopping() {
        return Err(ApiError::ShuttingDown);
    }
    let idempotency_key = idempotency_key(&headers)?;
    let format = request_format(&headers)?;
    let answer = AnswerFormat::of(&headers);
    let topic = broker.topic_for_produce(&topic_name).await?;
    let body = read_body(&headers, body, broker.config.max_request_bytes).await?;
    let input = ProduceInput {
        body: &body,
        format,
        acks: query.acks.unwrap_or(Acks::All),
        idempotency_key: idempotency_key.as_deref(),
    };
    let outcome = run(&broker, &topic, input).await?;
    Ok(render(outcome, answer))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key must be visible ASCII",
        )
    })?;
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidIdempotencyKey,
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}
