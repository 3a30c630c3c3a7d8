//! Idempotency keys that survive a crash between the append and the stored outcome.
//!
//! A request with a key claims it ([`MetaBackend::claim_idempotency`]); a stored outcome inside
//! the window is replayed. Otherwise the request is planned (validated, partitioned, offloaded),
//! its [`ProduceIntent`] is made durable, the batches are appended, and the outcome replaces the
//! intent. A retry that finds an intent instead of an outcome (the broker died in between) looks
//! for each planned batch in its partition, from the high watermark the intent recorded, by the
//! marks of its first and last record: batches found keep their offsets, batches not found are
//! appended again from the retry's (identical) body, to the partitions the intent planned. A
//! batch is one CRC-checked write in the log, so it is found whole or not at all.
//!
//! [`MetaBackend::claim_idempotency`]: crate::service::backend::MetaBackend::claim_idempotency

use std::sync::Arc;

use wharf_proto::api::ProduceResult;

use super::grouping::{PartitionBatch, Resume};
use super::{Acks, ProduceError, ProduceInput, ProduceOutcome, ProduceStatus, append, plan};
use crate::meta::{PlannedBatch, ProduceIntent, RecordMark, StoredProduce};
use crate::service::backend::IdempotencyHold;
use crate::state::{Broker, now_ms};
use crate::storage::{NewRecord, Record};
use crate::topic::Topic;

/// How many records after an intent's recorded offset a retry searches for its batch (other
/// producers may have appended in between).
const MAX_SCAN_RECORDS: u64 = 1_000_000;
const SCAN_CHUNK_RECORDS: usize = 2_000;
const SCAN_CHUNK_BYTES: usize = 4 << 20;

/// Produces `input` under idempotency key `key` (already scoped to the topic).
pub(super) async fn produce(
    broker: &Arc<Broker>,
    topic: &Arc<Topic>,
    input: &ProduceInput<'_>,
    key: &str,
) -> Result<ProduceOutcome, ProduceError> {
    // One request per key at a time: a retry racing its original waits, then replays it.
    let claim = broker.meta.claim_idempotency(key).await?;
    let window_ms = i64::try_from(broker.config.idempotency.window_ms).unwrap_or(i64::MAX);
    let live = |created_at_ms: i64| created_at_ms.saturating_add(window_ms) >= now_ms();
    if let Some(stored) = claim.stored
        && live(stored.created_at_ms)
    {
        broker.metrics.idempotent_replays.inc();
        return Ok(ProduceOutcome {
            status: stored.status,
            results: stored.results,
            replayed: true,
        });
    }
    let body_crc32c = crc32c::crc32c(input.body);

    // An earlier attempt stopped between its append and its outcome: find what it appended.
    let mut resume = None;
    if let Some(intent) = claim.intent.filter(|i| live(i.created_at_ms)) {
        if intent.body_crc32c != body_crc32c {
            return Err(ProduceError::IdempotencyKeyReused);
        }
        let (found, complete) = recover(topic, &intent).await?;
        if complete {
            tracing::info!(topic = %topic.name, "idempotent request recovered after restart");
            broker.metrics.idempotent_replays.inc();
            let outcome = ProduceOutcome {
                status: status_of(&found.results),
                results: found.results,
                replayed: true,
            };
            remember(broker, claim.hold, key, &outcome, intent.created_at_ms).await?;
            return Ok(outcome);
        }
        resume = Some(found);
    }

    // Records an earlier attempt landed come back with their results; the rest are planned.
    let planned = plan(broker, topic, input, resume.as_ref()).await?;
    if planned.batches.is_empty() {
        let outcome = ProduceOutcome {
            status: status_of(&planned.results),
            results: planned.results,
            replayed: false,
        };
        remember(broker, claim.hold, key, &outcome, now_ms()).await?;
        return Ok(outcome);
    }

    // `acks=none` hands the records over without offsets: there is nothing to recover.
    if input.acks != Acks::None {
        let intent = ProduceIntent {
            created_at_ms: now_ms(),
            body_crc32c,
            results: planned.results.clone(),
            batches: planned
                .batches
                .iter()
                .map(|b| planned_batch(topic, b))
                .collect(),
        };
        broker.meta.record_intent(&claim.hold, key, &intent).await?;
    }

    let outcome = append(broker, topic, input.acks, planned).await?;
    remember(broker, claim.hold, key, &outcome, now_ms()).await?;
    Ok(outcome)
}

/// Stores `outcome` for `key` and releases the key. Refused requests are not remembered
/// (nothing was appended, so they may be retried); dropping the hold releases the key.
async fn remember(
    broker: &Broker,
    hold: IdempotencyHold,
    key: &str,
    outcome: &ProduceOutcome,
    created_at_ms: i64,
) -> Result<(), ProduceError> {
    if outcome.status == ProduceStatus::Refused {
        return Ok(());
    }
    let stored = StoredProduce {
        status: outcome.status,
        results: outcome.results.clone(),
        created_at_ms,
    };
    broker.meta.complete_idempotency(hold, key, stored).await?;
    Ok(())
}

/// What a retry finds of an earlier attempt's batches: the intent's results with the offsets of
/// every batch found, and whether every planned batch was found.
async fn recover(topic: &Topic, intent: &ProduceIntent) -> Result<(Resume, bool), ProduceError> {
    let mut results = intent.results.clone();
    let mut landed: Vec<bool> = results.iter().map(|r| r.offset.is_some()).collect();
    let mut complete = true;
    for batch in &intent.batches {
        match find_batch(topic, batch).await? {
            Some(base) => {
                for (k, &index) in batch.indexes.iter().enumerate() {
                    let index = index as usize;
                    results[index].offset = Some(base + k as u64);
                    landed[index] = true;
                }
            }
            None => complete = false,
        }
    }
    Ok((Resume { results, landed }, complete))
}

/// The base offset of `batch` if it is in its partition.
async fn find_batch(topic: &Topic, batch: &PlannedBatch) -> Result<Option<u64>, ProduceError> {
    let Some(partition) = topic.partition(batch.partition) else {
        return Ok(None);
    };
    let count = batch.indexes.len() as u64;
    debug_assert!(count > 0, "a planned batch holds records");
    let offsets = partition.offsets();
    let mut at = batch.from_offset.max(offsets.log_start_offset);
    let end = offsets
        .high_watermark
        .min(at.saturating_add(MAX_SCAN_RECORDS));
    while at < end {
        let read = partition
            .read(at, SCAN_CHUNK_RECORDS, SCAN_CHUNK_BYTES)
            .await?;
        let Some(last) = read.records.last() else {
            break;
        };
        let next = last.offset + 1;
        for record in &read.records {
            if mark_of_record(record) != batch.first {
                continue;
            }
            let base = record.offset;
            if count == 1 {
                return Ok(Some(base));
            }
            let tail = partition
                .read(base + count - 1, 1, SCAN_CHUNK_BYTES)
                .await?;
            if tail
                .records
                .first()
                .is_some_and(|r| r.offset == base + count - 1 && mark_of_record(r) == batch.last)
            {
                return Ok(Some(base));
            }
        }
        at = next;
    }
    Ok(None)
}

fn planned_batch(topic: &Topic, batch: &PartitionBatch) -> PlannedBatch {
    let from_offset = topic
        .partition(batch.partition)
        .map_or(0, |p| p.offsets().high_watermark);
    let first = batch.records.first().expect("a batch holds records");
    let last = batch.records.last().expect("a batch holds records");
    PlannedBatch {
        partition: batch.partition,
        from_offset,
        indexes: batch
            .indexes
            .iter()
            .map(|&i| u32::try_from(i).expect("a request holds fewer than 2^32 records"))
            .collect(),
        first: mark_of_new(first),
        last: mark_of_new(last),
    }
}

fn mark(timestamp_ms: i64, key: Option<&[u8]>, value: &[u8]) -> RecordMark {
    // Length-prefixed so that moving bytes between key and value changes the mark.
    let key = key.unwrap_or_default();
    let mut crc = crc32c::crc32c(&(key.len() as u64).to_le_bytes());
    crc = crc32c::crc32c_append(crc, key);
    crc = crc32c::crc32c_append(crc, value);
    RecordMark {
        timestamp_ms,
        crc32c: crc,
    }
}

fn mark_of_new(record: &NewRecord) -> RecordMark {
    mark(record.timestamp_ms, record.key.as_deref(), &record.value)
}

fn mark_of_record(record: &Record) -> RecordMark {
    mark(record.timestamp_ms, record.key.as_deref(), &record.value)
}

/// The status of a request from its results.
fn status_of(results: &[ProduceResult]) -> ProduceStatus {
    let appended = results.iter().filter(|r| r.offset.is_some()).count();
    let refused = results.iter().filter(|r| r.error.is_some()).count();
    match (appended, refused) {
        (0, _) => ProduceStatus::Refused,
        (_, 0) => ProduceStatus::Appended,
        _ => ProduceStatus::Partial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::produce::RecordsFormat;
    use crate::service::tests::{broker, produce_json};
    use crate::storage::Durability;

    const BODY: &str = r#"{"records":[{"value":1,"partition":0},{"value":2,"partition":1},{"value":3,"partition":0},{"value":4,"partition":1}]}"#;

    /// Plays a request that dies after appending the batches of `landed_partitions`, before its
    /// outcome is stored: the intent is durable, the key is released.
    async fn interrupted(broker: &Arc<Broker>, key: &str, landed_partitions: &[u32]) {
        let topic = broker.topics.get("orders").unwrap();
        let scoped = format!("orders\u{0}{key}");
        let body = bytes::Bytes::from_static(BODY.as_bytes());
        let input = ProduceInput {
            body: &body,
            format: RecordsFormat::Json,
            acks: Acks::All,
            idempotency_key: Some(key),
        };
        let claim = broker.meta.claim_idempotency(&scoped).await.unwrap();
        let planned = plan(broker, &topic, &input, None).await.unwrap();
        let intent = ProduceIntent {
            created_at_ms: now_ms(),
            body_crc32c: crc32c::crc32c(input.body),
            results: planned.results.clone(),
            batches: planned
                .batches
                .iter()
                .map(|b| planned_batch(&topic, b))
                .collect(),
        };
        broker
            .meta
            .record_intent(&claim.hold, &scoped, &intent)
            .await
            .unwrap();
        for batch in planned.batches {
            if landed_partitions.contains(&batch.partition) {
                let p = topic.partition(batch.partition).unwrap();
                p.append(batch.records, Durability::Synced).await.unwrap();
            }
        }
        drop(claim.hold);
    }

    fn high_watermarks(broker: &Broker) -> Vec<u64> {
        let topic = broker.topics.get("orders").unwrap();
        (0..2)
            .map(|p| topic.partition(p).unwrap().offsets().high_watermark)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn retry_after_a_crash_past_every_append_appends_nothing_and_answers_the_offsets() {
        let f = broker().await;
        interrupted(&f.broker, "k", &[0, 1]).await;
        // Another producer's record lands behind the interrupted batch.
        produce_json(
            &f.broker,
            r#"{"records":[{"value":9,"partition":0}]}"#,
            None,
        )
        .await
        .unwrap();
        let out = produce_json(&f.broker, BODY, Some("k")).await.unwrap();
        assert!(out.replayed);
        assert_eq!(out.status, ProduceStatus::Appended);
        let offsets: Vec<_> = out.results.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [Some(0), Some(0), Some(1), Some(1)]);
        assert_eq!(high_watermarks(&f.broker), [3, 2]);
        // The recovered outcome is now stored and replayed as is.
        let again = produce_json(&f.broker, BODY, Some("k")).await.unwrap();
        assert_eq!(again.results, out.results);
        assert_eq!(high_watermarks(&f.broker), [3, 2]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn retry_after_a_crash_between_partitions_appends_only_the_missing_batch() {
        let f = broker().await;
        interrupted(&f.broker, "k", &[1]).await;
        let out = produce_json(&f.broker, BODY, Some("k")).await.unwrap();
        assert_eq!(out.status, ProduceStatus::Appended);
        let placed: Vec<_> = out
            .results
            .iter()
            .map(|r| (r.partition, r.offset))
            .collect();
        assert_eq!(
            placed,
            [
                (Some(0), Some(0)),
                (Some(1), Some(0)),
                (Some(0), Some(1)),
                (Some(1), Some(1))
            ]
        );
        assert_eq!(high_watermarks(&f.broker), [2, 2]);
        let again = produce_json(&f.broker, BODY, Some("k")).await.unwrap();
        assert!(again.replayed);
        assert_eq!(high_watermarks(&f.broker), [2, 2]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn retry_after_a_crash_before_any_append_appends_once() {
        let f = broker().await;
        interrupted(&f.broker, "k", &[]).await;
        let out = produce_json(&f.broker, BODY, Some("k")).await.unwrap();
        assert_eq!(out.status, ProduceStatus::Appended);
        assert_eq!(high_watermarks(&f.broker), [2, 2]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn retry_of_an_interrupted_request_with_other_records_is_refused_and_appends_nothing() {
        let f = broker().await;
        interrupted(&f.broker, "k", &[0]).await;
        let other = r#"{"records":[{"value":5,"partition":1}]}"#;
        let err = produce_json(&f.broker, other, Some("k")).await.unwrap_err();
        assert!(matches!(err, ProduceError::IdempotencyKeyReused), "{err:?}");
        assert_eq!(high_watermarks(&f.broker), [2, 0]);
    }

    #[test]
    fn marks_differ_when_bytes_move_between_key_and_value() {
        assert_ne!(mark(1, Some(b"ab"), b"c"), mark(1, Some(b"a"), b"bc"));
        assert_ne!(mark(1, None, b"x"), mark(2, None, b"x"));
        assert_eq!(mark(1, Some(b"k"), b"v"), mark(1, Some(b"k"), b"v"));
    }

    #[test]
    fn status_follows_the_results() {
        let ok = ProduceResult {
            offset: Some(1),
            ..ProduceResult::default()
        };
        let bad = ProduceResult {
            error: Some(wharf_proto::api::ErrorDetail {
                code: "invalid_record".into(),
                message: "refused".into(),
                retriable: false,
                details: None,
            }),
            ..ProduceResult::default()
        };
        assert_eq!(
            status_of(std::slice::from_ref(&ok)),
            ProduceStatus::Appended
        );
        assert_eq!(status_of(&[ok, bad.clone()]), ProduceStatus::Partial);
        assert_eq!(status_of(&[bad]), ProduceStatus::Refused);
    }
}
