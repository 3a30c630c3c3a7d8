//! `POST /v1/topics/{topic}/records`: validation per record, partition choice, one append per
//! partition per request, `acks`, and `Idempotency-Key`.
//!
//! Bodies are JSON, or the binary batch encoding of [`wharf_proto::binary`] when the request's
//! `Content-Type` is `application/vnd.wharf.batch.v1`; the answer is binary when `Accept` names
//! that type. Both request formats go through the same per-record validation ([`finish_record`]),
//! so a record is stored identically whichever way it came. Error answers (whole-request
//! failures, and the 400 where every record was refused) are always JSON: clients read error
//! bodies one way.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::value::RawValue;
use wharf_blob::{PAYLOAD_HEADER, PAYLOAD_HEADER_S3};
use wharf_proto::api::{ErrorBody, ProduceRecord, ProduceResponse, ProduceResult};
use wharf_proto::binary;
use wharf_proto::partitioner::partition_for_key;
use wharf_proto::{IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAY_HEADER};

use super::error::ApiError;
use super::extract::{BodyFormat, P, Q, is_json_object, read_body, request_format, wants_binary};
use crate::config::Action;
use crate::meta::StoredResponse;
use crate::metrics::{AcksLabels, TopicLabels};
use crate::state::{Broker, now_ms};
use crate::storage::{Bytes, Durability, Header, NewRecord};
use crate::topic::Topic;

/// Latest timestamp accepted: the end of year 9999, so dates stay printable.
const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;
/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// When a produce request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acks {
    /// After the records are durable on disk (default). Kafka's `-1`.
    #[serde(alias = "-1")]
    All,
    /// After the records are in the log (page cache). Kafka's `1`.
    #[serde(alias = "1")]
    Leader,
    /// As soon as the request is validated: 202, no offsets. Kafka's `0`.
    #[serde(alias = "0")]
    None,
}

impl Acks {
    fn label(self) -> &'static str {
        match self {
            Acks::All => "all",
            Acks::Leader => "leader",
            Acks::None => "none",
        }
    }
}

/// Query of a produce request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProduceQuery {
    /// `all` (default), `leader` or `none`.
    #[param(value_type = Option<String>)]
    pub acks: Option<Acks>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

/// A validated record waiting for its append.
struct Prepared {
    /// Explicit or keyed partition; `None` = keyless (sticky).
    partition: Option<u32>,
    record: NewRecord,
    /// The value goes to the blob store and the record keeps a pointer.
    offload: bool,
}

/// Room left for a pointer when an offloaded record is checked against `max_record_bytes`
/// (a pointer's JSON is about 250 bytes).
const POINTER_ALLOWANCE_BYTES: u64 = 512;

/// A finished produce: the status and one result per record, rendered as JSON or binary at the
/// end (and remembered as JSON for idempotent retries).
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    results: Vec<ProduceResult>,
    /// Every record was refused: a JSON error body that also carries the results.
    all_refused: bool,
}

impl Reply {
    /// The JSON body (what is stored for idempotent replays, too).
    fn json_body(&self) -> String {
        if self.all_refused {
            serde_json::json!({
                "error": ApiError::bad_request("invalid_records", "every record was refused; see results").detail(),
                "results": self.results,
            })
            .to_string()
        } else {
            // The answer's shape (`ProduceResponse`) over borrowed results: no copy per request.
            #[derive(serde::Serialize)]
            struct Borrowed<'a> {
                results: &'a [ProduceResult],
            }
            serde_json::to_string(&Borrowed {
                results: &self.results,
            })
            .expect("serializes")
        }
    }

    fn into_response(self, binary_answer: bool) -> Response {
        if binary_answer && !self.all_refused {
            let mut out = Vec::with_capacity(binary::estimated_len(self.results.len(), 0));
            binary::encode_produce_response(&mut out, &self.results);
            return respond(self.status, binary::CONTENT_TYPE, out.into(), false);
        }
        respond(
            self.status,
            "application/json",
            self.json_body().into(),
            false,
        )
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: Body, replayed: bool) -> Response {
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAY_HEADER, HeaderValue::from_static("true"));
    }
    response
}

/// Replays a stored (JSON) answer, re-encoded as binary when the client asked for binary.
fn replay(status: StatusCode, body: String, binary_answer: bool) -> Response {
    if binary_answer
        && status.is_success()
        && let Ok(stored) = serde_json::from_str::<ProduceResponse>(&body)
    {
        let mut out = Vec::with_capacity(binary::estimated_len(stored.results.len(), 0));
        binary::encode_produce_response(&mut out, &stored.results);
        return respond(status, binary::CONTENT_TYPE, out.into(), true);
    }
    respond(status, "application/json", body.into(), true)
}

#[utoipa::path(
    post,
    path = "/v1/topics/{topic}/records",
    params(("topic" = String, Path, description = "Topic name"), ProduceQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first response and append nothing")),
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
    broker
        .auth
        .authorize(&headers, Action::Produce, &topic_name)?;
    if broker.is_stopping() {
        return Err(ApiError::ShuttingDown);
    }
    let acks = query.acks.unwrap_or(Acks::All);
    let idempotency_key = idempotency_key(&headers)?;
    let format = request_format(&headers)?;
    let binary_answer = wants_binary(&headers);
    let topic = broker.topic_for_produce(&topic_name).await?;
    let body = read_body(&headers, body, broker.config.max_request_bytes).await?;

    let Some(key) = idempotency_key else {
        return Ok(produce_body(&broker, &topic, &body, format, acks)
            .await?
            .into_response(binary_answer));
    };

    // One request per key at a time: a retry racing its original waits, then replays it.
    let scoped = format!("{topic_name}\u{0}{key}");
    let _guard = broker.key_locks.lock(&scoped).await;
    let meta = broker.meta.clone();
    let lookup_key = scoped.clone();
    let stored = tokio::task::spawn_blocking(move || meta.idempotent_response(&lookup_key))
        .await
        .map_err(|e| ApiError::Internal {
            detail: e.to_string(),
        })??;
    let window_ms = i64::try_from(broker.config.idempotency.window_ms).unwrap_or(i64::MAX);
    if let Some(stored) = stored
        && stored.created_at_ms.saturating_add(window_ms) >= now_ms()
    {
        {
            broker.metrics.idempotent_replays.inc();
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            return Ok(replay(status, stored.body, binary_answer));
        }
    }

    let reply = produce_body(&broker, &topic, &body, format, acks).await?;
    // Only outcomes that appended something are remembered; a refused request may be retried.
    if matches!(
        reply.status,
        StatusCode::OK | StatusCode::ACCEPTED | StatusCode::MULTI_STATUS
    ) {
        let meta = broker.meta.clone();
        let response = StoredResponse {
            status: reply.status.as_u16(),
            body: reply.json_body(),
            created_at_ms: now_ms(),
        };
        tokio::task::spawn_blocking(move || meta.put_idempotent_response(&scoped, &response))
            .await
            .map_err(|e| ApiError::Internal {
                detail: e.to_string(),
            })??;
    }
    Ok(reply.into_response(binary_answer))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be visible ASCII",
        )
    })?;
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// What per-record validation checks against.
struct Limits<'a> {
    topic: &'a str,
    partitions: u32,
    max_record_bytes: u64,
    now_ms: i64,
    offload_threshold: Option<usize>,
}

/// Parses a JSON body into per-record outcomes.
fn parse_json_records(
    body: &[u8],
    limits: &Limits<'_>,
) -> Result<Vec<Result<Prepared, ApiError>>, ApiError> {
    if !is_json_object(body) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the body must be a JSON object",
        ));
    }
    let envelope: Envelope<'_> = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    Ok(envelope
        .records
        .iter()
        .map(|raw| prepare(raw, limits))
        .collect())
}

/// Parses a binary body into per-record outcomes. A body that does not decode is refused as a
/// whole (`invalid_batch`): its framing is broken, so no record in it can be trusted.
fn parse_binary_records(
    body: &bytes::Bytes,
    limits: &Limits<'_>,
) -> Result<Vec<Result<Prepared, ApiError>>, ApiError> {
    let records = binary::decode_produce_request(body)
        .map_err(|e| ApiError::bad_request("invalid_batch", e.to_string()))?;
    Ok(records
        .into_iter()
        .map(|r| prepare_binary(r, limits))
        .collect())
}

async fn produce_body(
    broker: &Arc<Broker>,
    topic: &Arc<Topic>,
    body: &bytes::Bytes,
    format: BodyFormat,
    acks: Acks,
) -> Result<Reply, ApiError> {
    let config = topic.config();
    let limits = Limits {
        topic: &topic.name,
        partitions: topic.partition_count(),
        max_record_bytes: config.max_record_bytes,
        now_ms: now_ms(),
        offload_threshold: Some(broker.claims.threshold_bytes()),
    };
    let prepared = match format {
        BodyFormat::Json => parse_json_records(body, &limits)?,
        BodyFormat::Binary => parse_binary_records(body, &limits)?,
    };
    if prepared.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "`records` must hold at least one record",
        ));
    }

    let mut results: Vec<ProduceResult> = vec![ProduceResult::default(); prepared.len()];
    let mut sticky: Option<u32> = None;
    let mut failed = 0usize;
    // (request index, partition, record, offload?)
    let mut ready: Vec<(usize, u32, NewRecord, bool)> = Vec::with_capacity(prepared.len());
    for (index, outcome) in prepared.into_iter().enumerate() {
        match outcome {
            Ok(prepared) => {
                let partition = prepared.partition.unwrap_or_else(|| {
                    *sticky.get_or_insert_with(|| topic.next_sticky_partition())
                });
                results[index].partition = Some(partition);
                results[index].timestamp = Some(prepared.record.timestamp_ms);
                ready.push((index, partition, prepared.record, prepared.offload));
            }
            Err(e) => {
                failed += 1;
                results[index].error = Some(e.detail());
            }
        }
    }

    // Claim check: large values go to the blob store first, concurrently.
    if ready.iter().any(|r| r.3) {
        let uploads = ready
            .iter_mut()
            .filter(|r| r.3)
            .map(|(index, _, record, _)| {
                let value = record.value.clone();
                let is_json = record.value_is_json;
                let topic_name = topic.name.as_str();
                async move {
                    (
                        *index,
                        broker.claims.offload(topic_name, value, is_json).await,
                    )
                }
            });
        let pointers: HashMap<usize, Result<Bytes, ApiError>> = futures::future::join_all(uploads)
            .await
            .into_iter()
            .map(|(i, r)| (i, r.map_err(ApiError::from)))
            .collect();
        ready.retain_mut(|(index, _, record, offload)| {
            if !*offload {
                return true;
            }
            match &pointers[index] {
                Ok(pointer) => {
                    record.value = pointer.clone();
                    record.value_is_json = true;
                    record.headers.push(Header {
                        key: PAYLOAD_HEADER.to_owned(),
                        value: Bytes::from_static(PAYLOAD_HEADER_S3.as_bytes()),
                    });
                    true
                }
                Err(e) => {
                    failed += 1;
                    results[*index].error = Some(e.detail());
                    results[*index].partition = None;
                    results[*index].timestamp = None;
                    false
                }
            }
        });
    }

    // partition → (records, their indexes in the request)
    let mut batches: BTreeMap<u32, (Vec<NewRecord>, Vec<usize>)> = BTreeMap::new();
    for (index, partition, record, _) in ready {
        let entry = batches.entry(partition).or_default();
        entry.0.push(record);
        entry.1.push(index);
    }

    if batches.is_empty() {
        return Ok(Reply {
            status: StatusCode::BAD_REQUEST,
            results,
            all_refused: true,
        });
    }

    let record_count: usize = batches.values().map(|(r, _)| r.len()).sum();
    let byte_count: u64 = batches
        .values()
        .flat_map(|(r, _)| r.iter())
        .map(record_bytes)
        .sum();
    let labels = TopicLabels {
        topic: topic.name.clone(),
    };

    if acks == Acks::None {
        let broker = Arc::clone(broker);
        let topic = Arc::clone(topic);
        tokio::spawn(async move {
            for (partition, (records, _)) in batches {
                if let Some(p) = topic.partition(partition)
                    && let Err(e) = p.append(records, Durability::Buffered).await
                {
                    tracing::warn!(topic = %topic.name, partition, error = %e, "acks=none append failed");
                }
            }
            broker
                .metrics
                .records_produced
                .get_or_create(&labels)
                .inc_by(record_count as u64);
            broker
                .metrics
                .bytes_produced
                .get_or_create(&labels)
                .inc_by(byte_count);
        });
        return Ok(Reply {
            status: StatusCode::ACCEPTED,
            results,
            all_refused: false,
        });
    }

    let durability = if acks == Acks::All {
        Durability::Synced
    } else {
        Durability::Buffered
    };
    let started = Instant::now();
    let appends = batches.into_iter().map(|(partition, (records, indexes))| {
        let topic = Arc::clone(topic);
        async move {
            let outcome = match topic.partition(partition) {
                Some(p) => p.append(records, durability).await.map_err(ApiError::from),
                None => Err(ApiError::UnknownPartition {
                    topic: topic.name.clone(),
                    partition,
                }),
            };
            (outcome, indexes)
        }
    });
    let outcomes = futures::future::join_all(appends).await;
    broker
        .metrics
        .append_seconds
        .get_or_create(&AcksLabels { acks: acks.label() })
        .observe(started.elapsed().as_secs_f64());

    let mut first_error: Option<ApiError> = None;
    let mut appended = 0usize;
    for (outcome, indexes) in outcomes {
        match outcome {
            Ok(done) => {
                debug_assert_eq!(
                    done.last_offset + 1 - done.base_offset,
                    indexes.len() as u64
                );
                for (i, index) in indexes.into_iter().enumerate() {
                    results[index].offset = Some(done.base_offset + i as u64);
                }
                appended += 1;
            }
            Err(e) => {
                for index in indexes {
                    failed += 1;
                    results[index].error = Some(e.detail());
                    results[index].timestamp = None;
                }
                first_error.get_or_insert(e);
            }
        }
    }
    if appended == 0 {
        // Nothing landed: the storage error is the answer (e.g. 503 disk full).
        return Err(first_error.expect("no append succeeded, so one failed"));
    }
    let produced: u64 = results.iter().filter(|r| r.offset.is_some()).count() as u64;
    broker
        .metrics
        .records_produced
        .get_or_create(&labels)
        .inc_by(produced);
    broker
        .metrics
        .bytes_produced
        .get_or_create(&labels)
        .inc_by(byte_count);

    let status = if failed == 0 {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok(Reply {
        status,
        results,
        all_refused: false,
    })
}

/// Bytes a record occupies in the log, as counted against `max_record_bytes`.
fn record_bytes(r: &NewRecord) -> u64 {
    let headers: usize = r.headers.iter().map(|h| h.key.len() + h.value.len()).sum();
    (r.key.as_ref().map_or(0, |k| k.len()) + r.value.len() + headers) as u64
}

/// Validates one JSON record and turns it into what the log stores.
fn prepare(raw: &RawValue, limits: &Limits<'_>) -> Result<Prepared, ApiError> {
    if !is_json_object(raw.get().as_bytes()) {
        return Err(ApiError::bad_request(
            "invalid_record",
            "a record must be a JSON object",
        ));
    }
    let record: ProduceRecord = serde_json::from_str(raw.get())
        .map_err(|e| ApiError::bad_request("invalid_record", e.to_string()))?;

    let key: Option<Bytes> = match (record.key, record.key_b64) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "ambiguous_key",
                "give `key` or `key_b64`, not both",
            ));
        }
        (Some(serde_json::Value::String(s)), None) => Some(Bytes::from(s)),
        (Some(serde_json::Value::Null), None) => None,
        (Some(other), None) => Some(Bytes::from(other.to_string())),
        (None, Some(b64)) => {
            Some(Bytes::from(B64.decode(b64.as_bytes()).map_err(|e| {
                ApiError::bad_request("invalid_base64", format!("key_b64: {e}"))
            })?))
        }
        (None, None) => None,
    };

    let (value, value_is_json) =
        match (record.value, record.value_b64) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "ambiguous_value",
                    "give `value` or `value_b64`, not both",
                ));
            }
            (Some(json), None) => (
                Bytes::from(compact_json(json.get()).into_owned().into_bytes()),
                true,
            ),
            (None, Some(b64)) => (
                Bytes::from(B64.decode(b64.as_bytes()).map_err(|e| {
                    ApiError::bad_request("invalid_base64", format!("value_b64: {e}"))
                })?),
                false,
            ),
            (None, None) => {
                return Err(ApiError::bad_request(
                    "missing_value",
                    "a record needs `value` or `value_b64`",
                ));
            }
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

/// Validates one binary record. Keys and values share the request body's buffer (no copy);
/// a value flagged as JSON is checked and compacted as JSON `value`s are, because fetch answers
/// embed stored JSON values verbatim.
fn prepare_binary(
    record: binary::ProduceRecord,
    limits: &Limits<'_>,
) -> Result<Prepared, ApiError> {
    let value = if record.value_is_json {
        let text = std::str::from_utf8(&record.value)
            .map_err(|_| ApiError::bad_request("invalid_record", "a JSON value must be UTF-8"))?;
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
            ApiError::bad_request("invalid_record", format!("value is not valid JSON: {e}"))
        })?;
        match compact_json(text) {
            Cow::Borrowed(_) => record.value,
            Cow::Owned(compacted) => Bytes::from(compacted.into_bytes()),
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
}

/// The checks both request formats share: header names, timestamp, partition choice, size and
/// claim-check offload.
fn finish_record(
    mut record: NewRecord,
    partition: Option<u32>,
    timestamp_ms: Option<i64>,
    limits: &Limits<'_>,
) -> Result<Prepared, ApiError> {
    if record.headers.iter().any(|h| h.key.is_empty()) {
        return Err(ApiError::bad_request(
            "invalid_header",
            "header names must not be empty",
        ));
    }
    record.timestamp_ms = match timestamp_ms {
        None => limits.now_ms,
        Some(t) if (0..=MAX_TIMESTAMP_MS).contains(&t) => t,
        Some(t) => {
            return Err(ApiError::bad_request(
                "invalid_timestamp",
                format!("timestamp must be between 0 and {MAX_TIMESTAMP_MS} ms, got {t}"),
            ));
        }
    };

    let partition = match (partition, &record.key) {
        (Some(p), _) if p >= limits.partitions => {
            return Err(ApiError::UnknownPartition {
                topic: limits.topic.to_owned(),
                partition: p,
            });
        }
        (Some(p), _) => Some(p),
        (None, Some(k)) => Some(partition_for_key(k, limits.partitions)),
        (None, None) => None,
    };

    // A record that already is a pointer (offloaded by the client) is never offloaded again.
    let already_pointer = record.headers.iter().any(|h| h.key == PAYLOAD_HEADER);
    let offload = !already_pointer
        && limits
            .offload_threshold
            .is_some_and(|t| record.value.len() > t);
    let size = if offload {
        record_bytes(&record) - record.value.len() as u64 + POINTER_ALLOWANCE_BYTES
    } else {
        record_bytes(&record)
    };
    if size > limits.max_record_bytes {
        return Err(ApiError::RecordTooLarge {
            record_bytes: size,
            limit_bytes: limits.max_record_bytes,
        });
    }
    Ok(Prepared {
        partition,
        record,
        offload,
    })
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

        let code = |text: &str| prepare(&raw(text), &limits(4, 16, 0)).err().unwrap().code();
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
        let p = prepare_binary(json_value, &limits).unwrap();
        assert_eq!(p.partition, Some(16));
        assert_eq!(p.record.value.as_ref(), br#"{"a":1}"#);
        assert_eq!(p.record.timestamp_ms, 7);

        let code = |r: binary::ProduceRecord| prepare_binary(r, &limits).err().unwrap().code();
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
}
