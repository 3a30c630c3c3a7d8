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
use super::extract::{
    BodyFormat, P, Q, is_json_object, read_body, request_format, wants_binary, wants_result_runs,
};
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

/// When a produce request is answered (`?acks=`): the wire contract's type.
pub use wharf_proto::Acks;

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

    fn into_response(self, answer: AnswerFormat) -> Response {
        if answer != AnswerFormat::Json && !self.all_refused {
            return respond(
                self.status,
                binary::CONTENT_TYPE,
                answer.encode(&self.results).into(),
                false,
            );
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

/// Replays a stored (JSON) answer, re-encoded as binary when the client asked for binary.
fn replay(status: StatusCode, body: String, answer: AnswerFormat) -> Response {
    if answer != AnswerFormat::Json
        && status.is_success()
        && let Ok(stored) = serde_json::from_str::<ProduceResponse>(&body)
    {
        return respond(
            status,
            binary::CONTENT_TYPE,
            answer.encode(&stored.results).into(),
            true,
        );
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
    let answer = AnswerFormat::of(&headers);
    let topic = broker.topic_for_produce(&topic_name).await?;
    let body = read_body(&headers, body, broker.config.max_request_bytes).await?;

    let Some(key) = idempotency_key else {
        return Ok(produce_body(&broker, &topic, &body, format, acks)
            .await?
            .into_response(answer));
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
            return Ok(replay(status, stored.body, answer));
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
    Ok(reply.into_response(answer))
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

/// Parses a JSON body into per-record outcomes, handed to `group` in request order.
fn parse_json_records(
    body: &[u8],
    limits: &Limits<'_>,
    group: &mut Grouping<'_>,
) -> Result<(), ApiError> {
    if !is_json_object(body) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the body must be a JSON object",
        ));
    }
    let envelope: Envelope<'_> = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    group.reserve(envelope.records.len());
    for raw in &envelope.records {
        group.add(prepare(raw, limits));
    }
    Ok(())
}

/// Parses a binary body into per-record outcomes, handed to `group` in request order. A body
/// that does not decode is refused as a whole (`invalid_batch`): its framing is broken, so no
/// record in it can be trusted.
fn parse_binary_records(
    body: &bytes::Bytes,
    limits: &Limits<'_>,
    group: &mut Grouping<'_>,
) -> Result<(), ApiError> {
    let invalid = |e: binary::DecodeError| ApiError::bad_request("invalid_batch", e.to_string());
    // Record by record: each goes from the body straight into its partition's batch. A decode
    // error part-way refuses the whole request; nothing has been appended yet.
    let records = binary::ProduceRequestDecoder::new(body).map_err(invalid)?;
    group.reserve(records.record_count());
    records
        .for_each(|record| group.add(prepare_binary(record, limits)))
        .map_err(invalid)
}

/// The records of one request bound for one partition, in request order.
#[derive(Debug)]
struct PartitionBatch {
    partition: u32,
    records: Vec<NewRecord>,
    /// `indexes[i]` is the position of `records[i]` in the request.
    indexes: Vec<usize>,
}

/// Sorts a request's records into per-partition batches as they are parsed, so each record moves
/// once, from the decoded request into the batch the log appends; a record's result slot is
/// filled in as it goes. Requests touch few partitions, so a scan that starts at the last hit
/// beats a map.
struct Grouping<'a> {
    /// Picks the partition of the request's keyless records (the topic's sticky partitioner).
    choose_sticky: &'a (dyn Fn() -> u32 + Sync),
    batches: Vec<PartitionBatch>,
    results: Vec<ProduceResult>,
    failed: usize,
    /// The request's keyless records all go to one partition, chosen at the first of them.
    sticky: Option<u32>,
    last_slot: usize,
    /// `(batch, position)` of records whose value goes to the blob store.
    offloads: Vec<(usize, usize)>,
    expected: usize,
}

impl<'a> Grouping<'a> {
    fn new(choose_sticky: &'a (dyn Fn() -> u32 + Sync)) -> Self {
        Self {
            choose_sticky,
            batches: Vec::new(),
            results: Vec::new(),
            failed: 0,
            sticky: None,
            last_slot: 0,
            offloads: Vec::new(),
            expected: 0,
        }
    }

    /// The request holds `records` records.
    fn reserve(&mut self, records: usize) {
        self.expected = records;
        self.results.reserve_exact(records);
    }

    fn add(&mut self, outcome: Result<Prepared, ApiError>) {
        let index = self.results.len();
        match outcome {
            Ok(prepared) => {
                let partition = prepared
                    .partition
                    .unwrap_or_else(|| *self.sticky.get_or_insert_with(self.choose_sticky));
                self.results.push(ProduceResult {
                    partition: Some(partition),
                    timestamp: Some(prepared.record.timestamp_ms),
                    ..ProduceResult::default()
                });
                let slot = self.slot(partition);
                let batch = &mut self.batches[slot];
                if prepared.offload {
                    self.offloads.push((slot, batch.records.len()));
                }
                batch.records.push(prepared.record);
                batch.indexes.push(index);
            }
            Err(e) => {
                self.failed += 1;
                self.results.push(ProduceResult {
                    error: Some(e.detail()),
                    ..ProduceResult::default()
                });
            }
        }
    }

    fn slot(&mut self, partition: u32) -> usize {
        if self
            .batches
            .get(self.last_slot)
            .is_some_and(|b| b.partition == partition)
        {
            return self.last_slot;
        }
        let slot = match self.batches.iter().position(|b| b.partition == partition) {
            Some(slot) => slot,
            None => {
                // The first partition usually gets the whole request; later ones grow as needed.
                let capacity = if self.batches.is_empty() {
                    self.expected
                } else {
                    0
                };
                self.batches.push(PartitionBatch {
                    partition,
                    records: Vec::with_capacity(capacity),
                    indexes: Vec::with_capacity(capacity),
                });
                self.batches.len() - 1
            }
        };
        self.last_slot = slot;
        slot
    }

    /// Refuses the record at `position` of batch `slot` with `error`; the caller removes it
    /// from the batch with [`Grouping::drop_refused`].
    fn refuse(&mut self, slot: usize, position: usize, error: &ApiError) {
        let index = self.batches[slot].indexes[position];
        self.failed += 1;
        self.results[index] = ProduceResult {
            error: Some(error.detail()),
            ..ProduceResult::default()
        };
    }

    /// Removes the records of `refused` (`(batch, position)` pairs) from their batches, and
    /// batches left empty.
    fn drop_refused(&mut self, refused: &[(usize, usize)]) {
        for (slot, batch) in self.batches.iter_mut().enumerate() {
            let mut keep = vec![true; batch.records.len()];
            let mut any = false;
            for &(s, position) in refused {
                if s == slot {
                    keep[position] = false;
                    any = true;
                }
            }
            if any {
                let mut k = keep.iter();
                batch
                    .records
                    .retain(|_| *k.next().expect("one flag per record"));
                let mut k = keep.iter();
                batch
                    .indexes
                    .retain(|_| *k.next().expect("one flag per index"));
            }
        }
        self.batches.retain(|b| !b.records.is_empty());
    }
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
    let choose_sticky = || topic.next_sticky_partition();
    let mut group = Grouping::new(&choose_sticky);
    match format {
        BodyFormat::Json => parse_json_records(body, &limits, &mut group)?,
        BodyFormat::Binary => parse_binary_records(body, &limits, &mut group)?,
    }
    if group.results.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "`records` must hold at least one record",
        ));
    }

    // Claim check: large values go to the blob store first, concurrently.
    if !group.offloads.is_empty() {
        let offloads = std::mem::take(&mut group.offloads);
        let uploads = offloads.iter().map(|&(slot, position)| {
            let record = &group.batches[slot].records[position];
            let value = record.value.clone();
            let is_json = record.value_is_json;
            let topic_name = topic.name.as_str();
            async move { broker.claims.offload(topic_name, value, is_json).await }
        });
        let pointers = futures::future::join_all(uploads).await;
        let mut refused = Vec::new();
        for (&(slot, position), pointer) in offloads.iter().zip(pointers) {
            match pointer {
                Ok(pointer) => {
                    let record = &mut group.batches[slot].records[position];
                    record.value = pointer;
                    record.value_is_json = true;
                    record.headers.push(Header {
                        key: PAYLOAD_HEADER.to_owned(),
                        value: Bytes::from_static(PAYLOAD_HEADER_S3.as_bytes()),
                    });
                }
                Err(e) => {
                    group.refuse(slot, position, &ApiError::from(e));
                    refused.push((slot, position));
                }
            }
        }
        group.drop_refused(&refused);
    }

    let Grouping {
        batches,
        mut results,
        mut failed,
        ..
    } = group;
    if batches.is_empty() {
        return Ok(Reply {
            status: StatusCode::BAD_REQUEST,
            results,
            all_refused: true,
        });
    }

    let record_count: usize = batches.iter().map(|b| b.records.len()).sum();
    let byte_count: u64 = batches
        .iter()
        .flat_map(|b| b.records.iter())
        .map(record_bytes)
        .sum();
    let labels = TopicLabels {
        topic: topic.name.clone(),
    };

    if acks == Acks::None {
        let broker = Arc::clone(broker);
        let topic = Arc::clone(topic);
        tokio::spawn(async move {
            for PartitionBatch {
                partition, records, ..
            } in batches
            {
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
    let appends = batches.into_iter().map(|batch| {
        let PartitionBatch {
            partition,
            records,
            indexes,
        } = batch;
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
        .get_or_create(&AcksLabels {
            acks: acks.as_str(),
        })
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
    r.payload_bytes() as u64
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

    fn prepared(partition: Option<u32>, value: &'static str, offload: bool) -> Prepared {
        Prepared {
            partition,
            record: NewRecord {
                timestamp_ms: 5,
                key: None,
                value: Bytes::from_static(value.as_bytes()),
                headers: Vec::new(),
                value_is_json: false,
            },
            offload,
        }
    }

    fn values(batch: &PartitionBatch) -> Vec<&[u8]> {
        batch.records.iter().map(|r| r.value.as_ref()).collect()
    }

    #[test]
    fn grouping_keeps_request_order_per_partition_and_picks_one_sticky_partition() {
        let picks = std::sync::atomic::AtomicU32::new(0);
        let choose = || 7 + picks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut group = Grouping::new(&choose);
        group.reserve(6);
        group.add(Ok(prepared(Some(2), "a", false)));
        group.add(Ok(prepared(None, "b", false)));
        group.add(Err(ApiError::bad_request("invalid_record", "no")));
        group.add(Ok(prepared(Some(2), "c", false)));
        group.add(Ok(prepared(None, "d", false)));
        group.add(Ok(prepared(Some(0), "e", false)));

        let parts: Vec<u32> = group.batches.iter().map(|b| b.partition).collect();
        assert_eq!(parts, [2, 7, 0], "batches in order of first appearance");
        assert_eq!(values(&group.batches[0]), [b"a", b"c"]);
        assert_eq!(group.batches[0].indexes, [0, 3]);
        assert_eq!(values(&group.batches[1]), [b"b", b"d"]);
        assert_eq!(group.batches[1].indexes, [1, 4]);
        assert_eq!(group.batches[2].indexes, [5]);
        assert_eq!(
            picks.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "keyless records share one sticky choice"
        );
        assert_eq!(group.failed, 1);
        assert_eq!(group.results.len(), 6);
        assert!(group.results[2].error.is_some());
        assert_eq!(group.results[4].partition, Some(7));
        assert_eq!(group.results[4].timestamp, Some(5));
    }

    #[test]
    fn refused_offloads_leave_their_batches_and_the_rest_keep_their_order() {
        let choose = || 0;
        let mut group = Grouping::new(&choose);
        group.reserve(5);
        group.add(Ok(prepared(Some(0), "a", false)));
        group.add(Ok(prepared(Some(0), "big1", true)));
        group.add(Ok(prepared(Some(1), "big2", true)));
        group.add(Ok(prepared(Some(0), "b", false)));
        group.add(Ok(prepared(Some(0), "big3", true)));
        assert_eq!(group.offloads, [(0, 1), (1, 0), (0, 3)]);

        let error = ApiError::bad_request("claim_check_failed", "store down");
        group.refuse(0, 1, &error);
        group.refuse(1, 0, &error);
        group.drop_refused(&[(0, 1), (1, 0)]);

        assert_eq!(
            group.batches.len(),
            1,
            "the emptied partition-1 batch is gone"
        );
        assert_eq!(values(&group.batches[0]), [&b"a"[..], b"b", b"big3"]);
        assert_eq!(group.batches[0].indexes, [0, 3, 4]);
        assert_eq!(group.failed, 2);
        for refused in [1, 2] {
            assert!(group.results[refused].error.is_some());
            assert_eq!(group.results[refused].partition, None);
        }
        assert!(group.results[4].error.is_none());
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
