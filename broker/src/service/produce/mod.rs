//! Produce: per-record validation, partition choice, the claim check, idempotency keys and
//! `acks`, without HTTP.
//!
//! - [`record`]: validation of one record of either format ([`RecordError`] refuses it alone).
//! - `schema`: the check of each record against the topic's schemas, before the claim check.
//! - `grouping`: records sorted into one batch per partition as they are validated.
//! - `idempotent`: requests with an idempotency key: the first outcome is stored and replayed
//!   to retries, also when the broker died between the append and storing it.
//! - here: [`produce`], which plans a request (validation, partitions, claim check) and appends
//!   one batch per partition, reporting a [`ProduceOutcome`].

mod grouping;
mod idempotent;
pub mod record;
mod schema;

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use wharf_proto::api::{ProduceResponse, ProduceResult};
use wharf_proto::binary;

use crate::meta::MetaError;
use crate::metrics::{AcksLabels, TopicLabels};
use crate::schema::TopicCheck;
use crate::state::{Broker, now_ms};
use crate::storage::{Durability, StorageError};
use crate::topic::Topic;
use grouping::{Grouping, PartitionBatch, Resume};
use record::{Limits, RecordError, is_json_object, prepare, prepare_binary, record_bytes};

pub use record::compact_json;

/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

pub use wharf_proto::Acks;

/// How the records of a request are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordsFormat {
    /// `{"records":[...]}`.
    Json,
    /// The binary batch encoding of [`wharf_proto::binary`].
    Binary,
}

/// One produce request, as the transport received it.
#[derive(Debug)]
pub struct ProduceInput<'a> {
    pub body: &'a bytes::Bytes,
    pub format: RecordsFormat,
    pub acks: Acks,
    /// Retries with the same key (per topic) get the first outcome and append nothing.
    pub idempotency_key: Option<&'a str>,
}

/// How a produce request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProduceStatus {
    /// Every record was appended.
    Appended,
    /// Some records were appended, some refused (their results carry the error).
    Partial,
    /// `acks=none`: validated and handed to the log; no offsets.
    Accepted,
    /// Every record was refused; nothing was appended.
    Refused,
}

/// What a produce request did: one result per record, in request order.
#[derive(Debug)]
pub struct ProduceOutcome {
    pub status: ProduceStatus,
    pub results: Vec<ProduceResult>,
    /// The outcome of an earlier request with the same idempotency key, replayed.
    pub replayed: bool,
}

/// A produce request failed as a whole; nothing of it was appended.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("{message}")]
    InvalidJson { message: String },
    #[error("{0}")]
    InvalidBatch(#[from] binary::DecodeError),
    #[error("`records` must hold at least one record")]
    EmptyBatch,
    /// Every append failed (e.g. the disk is full).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The idempotency store failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// A retry of an interrupted request carried other records than the request under its key.
    #[error("the idempotency key was used for a request with other records")]
    IdempotencyKeyReused,
    #[error("produce task failed: {detail}")]
    Task { detail: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

/// Produces the records of `input` to `topic`.
pub async fn produce(
    broker: &Arc<Broker>,
    topic: &Arc<Topic>,
    input: ProduceInput<'_>,
) -> Result<ProduceOutcome, ProduceError> {
    match input.idempotency_key {
        None => produce_records(broker, topic, &input).await,
        Some(key) => {
            let scoped = format!("{}\u{0}{key}", topic.name);
            idempotent::produce(broker, topic, &input, &scoped).await
        }
    }
}

/// Parses a JSON body into per-record outcomes, handed to `group` in request order.
fn parse_json_records(
    body: &[u8],
    limits: &Limits<'_>,
    check: Option<&TopicCheck>,
    group: &mut Grouping<'_>,
) -> Result<(), ProduceError> {
    if !is_json_object(body) {
        return Err(ProduceError::InvalidJson {
            message: "the body must be a JSON object".into(),
        });
    }
    let envelope: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| ProduceError::InvalidJson {
            message: e.to_string(),
        })?;
    group.reserve(envelope.records.len());
    for raw in &envelope.records {
        group.add(schema::apply(check, prepare(raw, limits)));
    }
    Ok(())
}

/// Parses a binary body into per-record outcomes, handed to `group` in request order. A body
/// that does not decode is refused as a whole (`invalid_batch`): its framing is broken, so no
/// record in it can be trusted.
fn parse_binary_records(
    body: &bytes::Bytes,
    limits: &Limits<'_>,
    check: Option<&TopicCheck>,
    group: &mut Grouping<'_>,
) -> Result<(), ProduceError> {
    // Record by record: each goes from the body straight into its partition's batch. A decode
    // error part-way refuses the whole request; nothing has been appended yet.
    let records = binary::ProduceRequestDecoder::new(body)?;
    group.reserve(records.record_count());
    let fast = check.and_then(TopicCheck::fast_value);
    records.for_each(|record| {
        group.add(schema::apply(check, prepare_binary(record, limits, fast)));
    })?;
    Ok(())
}

/// Claim check: large values go to the blob store first, concurrently; a record whose upload
/// fails is refused alone.
async fn offload_values(broker: &Broker, topic: &Topic, group: &mut Grouping<'_>) {
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
                crate::claim::mark_pointer(&mut group.batches[slot].records[position], &pointer);
            }
            Err(e) => {
                group.refuse(slot, position, &RecordError::ClaimCheck(e));
                refused.push((slot, position));
            }
        }
    }
    group.drop_refused(&refused);
}

async fn produce_records(
    broker: &Arc<Broker>,
    topic: &Arc<Topic>,
    input: &ProduceInput<'_>,
) -> Result<ProduceOutcome, ProduceError> {
    let planned = plan(broker, topic, input, None).await?;
    if planned.batches.is_empty() {
        return Ok(ProduceOutcome {
            status: ProduceStatus::Refused,
            results: planned.results,
            replayed: false,
        });
    }
    append(broker, topic, input.acks, planned).await
}

/// A request validated, partitioned and through the claim check, ready to append.
struct Planned {
    batches: Vec<PartitionBatch>,
    /// One per record, in request order; offsets are filled in by [`append`].
    results: Vec<ProduceResult>,
    failed: usize,
}

/// Validates the records of `input`, sorts them into per-partition batches and offloads large
/// values. With `resume`, records an earlier attempt landed are skipped and the others go to the
/// partitions that attempt chose.
async fn plan(
    broker: &Arc<Broker>,
    topic: &Arc<Topic>,
    input: &ProduceInput<'_>,
    resume: Option<&Resume>,
) -> Result<Planned, ProduceError> {
    let config = topic.config();
    let limits = Limits {
        topic: &topic.name,
        partitions: topic.partition_count(),
        max_record_bytes: config.max_record_bytes,
        now_ms: now_ms(),
        offload_threshold: Some(broker.claims.threshold_bytes()),
    };
    // One view of the topic's subjects for the whole request: a registration meanwhile
    // applies to the next request.
    let check = broker
        .schemas
        .check_for(&topic.name, config.schema_validation);
    let choose_sticky = || topic.next_sticky_partition();
    let mut group = Grouping::new(&choose_sticky, resume);
    match input.format {
        RecordsFormat::Json => {
            parse_json_records(input.body, &limits, check.as_ref(), &mut group)?;
        }
        RecordsFormat::Binary => {
            parse_binary_records(input.body, &limits, check.as_ref(), &mut group)?;
        }
    }
    if group.results.is_empty() {
        return Err(ProduceError::EmptyBatch);
    }
    if !group.offloads.is_empty() {
        offload_values(broker, topic, &mut group).await;
    }
    let Grouping {
        batches,
        results,
        failed,
        ..
    } = group;
    Ok(Planned {
        batches,
        results,
        failed,
    })
}

/// Appends the planned batches (at least one) as `acks` asks.
async fn append(
    broker: &Arc<Broker>,
    topic: &Arc<Topic>,
    acks: Acks,
    planned: Planned,
) -> Result<ProduceOutcome, ProduceError> {
    let Planned {
        batches,
        mut results,
        mut failed,
    } = planned;
    debug_assert!(
        !batches.is_empty(),
        "append is called with something to append"
    );
    let outcome = |status, results| ProduceOutcome {
        status,
        results,
        replayed: false,
    };

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
            count_produced(&broker, &labels, record_count as u64, byte_count);
        });
        return Ok(outcome(ProduceStatus::Accepted, results));
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
            // Every partition of a batch exists: the records were validated against the
            // topic's partition count, which only grows.
            let outcome = match topic.partition(partition) {
                Some(p) => p.append(records, durability).await,
                None => Err(StorageError::Io {
                    detail: format!("partition {partition} of {} is gone", topic.name),
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

    let mut first_error: Option<StorageError> = None;
    let mut appended = 0usize;
    let mut produced = 0u64;
    for (outcome, indexes) in outcomes {
        match outcome {
            Ok(done) => {
                debug_assert_eq!(
                    done.last_offset + 1 - done.base_offset,
                    indexes.len() as u64
                );
                produced += indexes.len() as u64;
                for (i, index) in indexes.into_iter().enumerate() {
                    results[index].offset = Some(done.base_offset + i as u64);
                }
                appended += 1;
            }
            Err(e) => {
                let detail = RecordError::Storage(e.clone()).detail();
                for index in indexes {
                    failed += 1;
                    results[index].error = Some(detail.clone());
                    results[index].timestamp = None;
                }
                first_error.get_or_insert(e);
            }
        }
    }
    if appended == 0 {
        // Nothing landed: the storage error is the answer (e.g. disk full).
        return Err(first_error
            .expect("no append succeeded, so one failed")
            .into());
    }
    count_produced(broker, &labels, produced, byte_count);
    let status = if failed == 0 {
        ProduceStatus::Appended
    } else {
        ProduceStatus::Partial
    };
    Ok(outcome(status, results))
}

fn count_produced(broker: &Broker, labels: &TopicLabels, records: u64, bytes: u64) {
    let m = &broker.metrics;
    m.records_produced.get_or_create(labels).inc_by(records);
    m.bytes_produced.get_or_create(labels).inc_by(bytes);
}

/// The results of an outcome stored by an older broker, which kept the rendered JSON answer.
pub(crate) fn results_of_legacy_body(body: &str) -> Option<Vec<ProduceResult>> {
    serde_json::from_str::<ProduceResponse>(body)
        .ok()
        .map(|r| r.results)
}
