//! One invocation of the consumer: join, poll until the deadline minus the safety margin,
//! resolve claim checks, hand batches to the handler, retry, dead-letter, commit, leave.
//!
//! # Decisions
//! - **Failures are per record.** A record named in `batchItemFailures` is retried alone (with
//!   the other failures of its batch); the records the handler accepted are not sent again. After
//!   `WHARF_MAX_RETRIES` retries (backoff `WHARF_RETRY_BACKOFF_MS`, doubling, capped at 5 s) it is
//!   written to `<topic>.dlq` and the partition moves past it.
//! - **Commit what was handled, nothing more.** Per partition the commit is the end of the
//!   contiguous run of records that were handled or dead-lettered. When time runs out while a
//!   record still waits for a retry, the invocation stops there: that record and everything after
//!   it in its partition stay uncommitted, and leaving the group makes the next invocation start
//!   from the commit.
//! - **Dead-letter records are the originals** (a claim-check pointer stays a pointer) with
//!   headers `wharf-dlq-error`, `wharf-dlq-attempts`, `wharf-dlq-source-topic`,
//!   `wharf-dlq-source-partition`, `wharf-dlq-source-offset`, `wharf-dlq-group`. Each is produced
//!   with the idempotency key `dlq:<group>:<topic>:<partition>:<offset>`, so an invocation that
//!   dies between the dead-letter write and the commit does not write it twice.
//! - **A claim check that cannot be resolved** is a failure of that record (retried, then
//!   dead-lettered with the reason), never a silent skip.
//! - **An unreachable handler** ([`HandlerError::Unavailable`]) blames no record: the invocation
//!   commits what was handled before and returns an error.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;
use wharf_client::wharf_proto::api::{AutoOffsetReset, CreateTopic, OffsetCommit};
use wharf_client::{
    Client, CommitMode, ConsumeError, Consumer, ConsumerConfig, ConsumerRecord, ErrorCode,
    Heartbeat, Record,
};
use wharf_functions_shared::{
    ClaimCheck, ConfigError, Env, broker_config_from_env, derived_key, resolve_record,
};

use crate::config::ConsumerSettings;
use crate::handler::{BatchHandler, HandlerError};
use crate::kafka::{ItemIdentifier, event_from_records};

/// Why an invocation failed (after committing what it could and leaving the group).
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot build the broker client")]
    Client(#[from] wharf_client::Error),
    #[error(transparent)]
    ClaimCheckStore(#[from] wharf_functions_shared::ClaimCheckError),
    #[error("consumer group call failed")]
    Group(#[from] ConsumeError),
    #[error("cannot create the dead-letter topic {topic}")]
    DlqTopic {
        topic: String,
        #[source]
        source: wharf_client::Error,
    },
    #[error("writing {topic}/{partition}@{offset} to the dead-letter topic failed")]
    DeadLetter {
        topic: String,
        partition: u32,
        offset: u64,
        #[source]
        source: wharf_client::Error,
    },
    #[error("the handler is unavailable ({summary_records} records handled before): {message}")]
    HandlerUnavailable {
        message: String,
        summary_records: u64,
    },
}

impl From<ConsumerError> for lambda_runtime::Diagnostic {
    fn from(e: ConsumerError) -> Self {
        let mut message = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        lambda_runtime::Diagnostic {
            error_type: "WharfConsumerError".to_owned(),
            error_message: message,
        }
    }
}

/// Why the poll loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The deadline minus the safety margin was reached.
    Deadline,
    /// No record arrived for `WHARF_IDLE_EXIT_MS`.
    Idle,
    /// Time ran out while failed records waited for a retry; they stay uncommitted.
    RetriesPending,
}

/// What one invocation did; the function's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// The group member id this invocation used (released at the end).
    pub member_id: String,
    /// Records handled and committed (dead-lettered ones included).
    pub records: u64,
    /// Records that failed at least once.
    pub failures: u64,
    /// Records written to `<topic>.dlq`.
    pub dead_lettered: u64,
    /// Handler calls after the first one of a batch.
    pub retries: u64,
    /// Batches polled.
    pub batches: u64,
    /// Offsets committed: next offset per partition.
    pub committed: BTreeMap<u32, u64>,
    /// The group's lag on the topic after the commit (sum over partitions).
    pub lag: u64,
    /// Why polling stopped.
    pub stopped: Option<StopReason>,
}

/// The consumer's state across invocations of one execution environment.
#[derive(Debug)]
pub struct Engine<H> {
    client: Client,
    settings: ConsumerSettings,
    claim: Option<ClaimCheck>,
    handler: H,
    dlq_ready: tokio::sync::OnceCell<()>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl<H: BatchHandler> Engine<H> {
    /// Builds the engine from the environment.
    pub async fn from_env(env: &Env, handler: H) -> Result<Self, ConsumerError> {
        let client = Client::new(broker_config_from_env(env).await?)?;
        let settings = ConsumerSettings::from_env(env)?;
        let claim = settings.claim_check.open().await?;
        Ok(Self::new(client, settings, claim, handler))
    }

    /// An engine over explicit parts (tests, embedding).
    pub fn new(
        client: Client,
        settings: ConsumerSettings,
        claim: Option<ClaimCheck>,
        handler: H,
    ) -> Self {
        Self {
            client,
            settings,
            claim,
            handler,
            dlq_ready: tokio::sync::OnceCell::new(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ConsumerSettings {
        &self.settings
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Creates `<topic>.dlq` (1 partition) unless it exists; once per execution environment.
    async fn ensure_dlq(&self) -> Result<(), ConsumerError> {
        self.dlq_ready
            .get_or_try_init(|| async {
                let topic = self.settings.dlq_topic();
                let request = CreateTopic {
                    name: topic.clone(),
                    partitions: 1,
                    retention_ms: None,
                    retention_bytes: None,
                    segment_bytes: None,
                    max_record_bytes: None,
                    schema_validation: None,
                };
                match self.client.create_topic(&request).await {
                    Ok(_) => {
                        tracing::info!(topic = %topic, "created the dead-letter topic");
                        Ok(())
                    }
                    Err(e) if e.code() == Some(&ErrorCode::TopicExists) => Ok(()),
                    Err(source) => Err(ConsumerError::DlqTopic { topic, source }),
                }
            })
            .await
            .map(|_| ())
    }

    /// One invocation. `deadline_ms` is the Lambda context's deadline (ms since the epoch);
    /// `payload` may carry `{"max_duration_ms": N}` to stop earlier (direct invocations); any
    /// other payload (a scheduled event) is ignored.
    pub async fn invoke(
        &self,
        deadline_ms: u64,
        payload: &Value,
    ) -> Result<Summary, ConsumerError> {
        let started = Instant::now();
        let remaining = Duration::from_millis(remaining_ms(deadline_ms, now_ms()));
        let mut stop_at = started
            + remaining.saturating_sub(Duration::from_millis(self.settings.safety_margin_ms));
        if let Some(max) = payload.get("max_duration_ms").and_then(Value::as_u64) {
            stop_at = stop_at.min(started + Duration::from_millis(max));
        }
        tracing::info!(
            deadline_ms,
            remaining_ms = remaining.as_millis() as u64,
            budget_ms = stop_at.saturating_duration_since(started).as_millis() as u64,
            "invocation started"
        );
        self.ensure_dlq().await?;

        let s = &self.settings;
        let mut config = ConsumerConfig::new(s.group.clone(), s.topic.clone());
        // The lease outlives the invocation a little, so a crash frees the partitions soon.
        config.lease_ms = (remaining.as_millis() as u64 + 5_000).clamp(5_000, 900_000);
        config.heartbeat = Heartbeat::Auto;
        config.auto_offset_reset = AutoOffsetReset::Earliest;
        config.max_records = s.max_records;
        config.max_bytes = s.max_bytes;
        config.poll_wait_ms = s.poll_wait_ms;
        config.commit_mode = CommitMode::Manual;
        let mut consumer = Consumer::join(self.client.clone(), config).await?;
        let mut summary = Summary {
            member_id: consumer.member_id(),
            ..Summary::default()
        };
        let outcome = self.poll_loop(&mut consumer, stop_at, &mut summary).await;
        // Leave even after an error: the partitions move on at once, and the next member starts
        // from the committed offsets.
        let left = consumer.shutdown().await;
        summary.stopped = match outcome {
            Ok(reason) => Some(reason),
            Err(e) => {
                tracing::error!(error = %e, records = summary.records, "invocation failed after committing what it handled");
                return Err(e);
            }
        };
        left?;
        summary.lag = match self.client.describe_group(&s.group).await {
            Ok(d) => d
                .partitions
                .iter()
                .filter(|p| p.topic == s.topic)
                .map(|p| p.lag)
                .sum(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the group's lag");
                0
            }
        };
        tracing::info!(records = summary.records, failures = summary.failures, dead_lettered = summary.dead_lettered, lag = summary.lag, stopped = ?summary.stopped, "invocation done");
        Ok(summary)
    }

    async fn poll_loop(
        &self,
        consumer: &mut Consumer,
        stop_at: Instant,
        summary: &mut Summary,
    ) -> Result<StopReason, ConsumerError> {
        let mut last_record = Instant::now();
        loop {
            if Instant::now() >= stop_at {
                return Ok(StopReason::Deadline);
            }
            if let Some(idle) = self.settings.idle_exit_ms
                && last_record.elapsed() >= Duration::from_millis(idle)
            {
                return Ok(StopReason::Idle);
            }
            let records = consumer.poll().await?;
            if records.is_empty() {
                continue;
            }
            last_record = Instant::now();
            summary.batches += 1;
            let batch = self.handle_batch(records, stop_at, summary).await;
            if !batch.commits.is_empty() {
                let outcome = consumer.commit_offsets(batch.commits.clone()).await?;
                for c in &outcome.committed {
                    summary.committed.insert(c.partition, c.offset);
                }
                if !outcome.revoked.is_empty() {
                    tracing::warn!(partitions = ?outcome.revoked, "partitions moved to another member before the commit; their records will be delivered again");
                }
                summary.records += batch.done;
            }
            if let Some(e) = batch.error {
                return Err(e);
            }
            if batch.incomplete {
                return Ok(StopReason::RetriesPending);
            }
        }
    }

    /// Delivers one polled batch until every record is handled or dead-lettered, or time runs
    /// out; returns the offsets to commit.
    async fn handle_batch(
        &self,
        originals: Vec<ConsumerRecord>,
        stop_at: Instant,
        summary: &mut Summary,
    ) -> BatchResult {
        let n = originals.len();
        let index: BTreeMap<ItemIdentifier, usize> = originals
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    ItemIdentifier {
                        partition: r.partition,
                        offset: r.offset,
                    },
                    i,
                )
            })
            .collect();
        let mut resolved: Vec<Option<ConsumerRecord>> = vec![None; n];
        let mut done = vec![false; n];
        let mut attempts = vec![0u32; n];
        let mut last_error: Vec<String> = vec![String::new(); n];
        let mut ever_failed = BTreeSet::new();
        let mut pending: Vec<usize> = (0..n).collect();
        let mut result = BatchResult::default();
        let mut round = 0u32;

        loop {
            round += 1;
            // Resolve claim checks of records not resolved yet (a failure is that record's failure).
            let mut deliver = Vec::new();
            let mut failed_now = BTreeSet::new();
            for &i in &pending {
                if resolved[i].is_none() {
                    match resolve_record(self.claim.as_ref(), originals[i].clone()).await {
                        Ok(r) => resolved[i] = Some(r),
                        Err(e) => {
                            last_error[i] = format!("claim check: {}", error_chain(&e));
                            failed_now.insert(i);
                            continue;
                        }
                    }
                }
                deliver.push(i);
            }
            if !deliver.is_empty() {
                let event = event_from_records(
                    self.client.url(),
                    deliver.iter().filter_map(|&i| resolved[i].as_ref()),
                );
                if round > 1 {
                    summary.retries += 1;
                }
                match self.handler.handle(&event).await {
                    Ok(answer) => {
                        for id in answer.failures {
                            match index.get(&id) {
                                Some(&i) if deliver.contains(&i) => {
                                    last_error[i] = "reported in batchItemFailures".to_owned();
                                    failed_now.insert(i);
                                }
                                _ => tracing::warn!(
                                    partition = id.partition,
                                    offset = id.offset,
                                    "handler reported a record that is not in its batch; ignored"
                                ),
                            }
                        }
                    }
                    Err(HandlerError::Failed { message }) => {
                        for &i in &deliver {
                            last_error[i] = message.clone();
                            failed_now.insert(i);
                        }
                    }
                    Err(HandlerError::Unavailable { message }) => {
                        result.error = Some(ConsumerError::HandlerUnavailable {
                            message,
                            summary_records: summary.records,
                        });
                        result.finish(&originals, &done);
                        return result;
                    }
                }
            }
            for &i in &pending {
                attempts[i] += 1;
                if failed_now.contains(&i) {
                    ever_failed.insert(i);
                } else {
                    done[i] = true;
                }
            }
            pending.retain(|i| failed_now.contains(i));
            if pending.is_empty() {
                break;
            }
            if round > self.settings.max_retries {
                for &i in &pending {
                    match self
                        .dead_letter(&originals[i], attempts[i], &last_error[i])
                        .await
                    {
                        Ok(()) => {
                            done[i] = true;
                            summary.dead_lettered += 1;
                        }
                        Err(e) => {
                            result.error = Some(e);
                            break;
                        }
                    }
                }
                break;
            }
            let backoff = Duration::from_millis(
                self.settings
                    .retry_backoff_ms
                    .saturating_mul(1 << (round - 1).min(16))
                    .min(5_000),
            );
            if Instant::now() + backoff >= stop_at {
                tracing::warn!(
                    pending = pending.len(),
                    "time is up before the next retry; leaving the failed records uncommitted"
                );
                result.incomplete = true;
                break;
            }
            tokio::time::sleep(backoff).await;
        }
        summary.failures += ever_failed.len() as u64;
        result.finish(&originals, &done);
        result
    }

    /// Writes the original record to `<topic>.dlq` with headers naming the failure.
    async fn dead_letter(
        &self,
        r: &ConsumerRecord,
        attempts: u32,
        error: &str,
    ) -> Result<(), ConsumerError> {
        let mut record = Record {
            key: r.key.clone(),
            value: r.value.clone(),
            value_format: r.value_format,
            headers: r.headers.clone(),
            partition: None,
            timestamp_ms: Some(r.timestamp_ms),
        };
        let mut error = error.to_owned();
        if error.len() > 1024 {
            let mut cut = 1024;
            while !error.is_char_boundary(cut) {
                cut -= 1;
            }
            error.truncate(cut);
        }
        for (k, v) in [
            ("wharf-dlq-error", error),
            ("wharf-dlq-attempts", attempts.to_string()),
            ("wharf-dlq-source-topic", r.topic.clone()),
            ("wharf-dlq-source-partition", r.partition.to_string()),
            ("wharf-dlq-source-offset", r.offset.to_string()),
            ("wharf-dlq-group", self.settings.group.clone()),
        ] {
            record.headers.insert(k.to_owned(), v);
        }
        let key = derived_key(
            "dlq",
            &[
                &self.settings.group,
                &r.topic,
                &r.partition.to_string(),
                &r.offset.to_string(),
            ],
        );
        let dlq = self.settings.dlq_topic();
        let answer = self
            .client
            .produce_records(&dlq, &[record], wharf_client::Acks::All, Some(&key))
            .await
            .map_err(|source| ConsumerError::DeadLetter {
                topic: r.topic.clone(),
                partition: r.partition,
                offset: r.offset,
                source,
            })?;
        if let Some(err) = answer.results.first().and_then(|x| x.error.as_ref()) {
            return Err(ConsumerError::DeadLetter {
                topic: r.topic.clone(),
                partition: r.partition,
                offset: r.offset,
                source: wharf_client::Error::Api {
                    operation: format!("produce {dlq}"),
                    status: answer.status,
                    code: err.error_code(),
                    message: err.message.clone(),
                    retriable: err.retriable,
                    details: None,
                },
            });
        }
        tracing::warn!(topic = %r.topic, partition = r.partition, offset = r.offset, attempts, dlq = %dlq, "record dead-lettered");
        Ok(())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// What a batch left to commit.
#[derive(Debug, Default)]
struct BatchResult {
    /// Next offset per partition through the contiguous handled run.
    commits: Vec<OffsetCommit>,
    /// Records covered by `commits`.
    done: u64,
    /// Some records are neither handled nor dead-lettered.
    incomplete: bool,
    error: Option<ConsumerError>,
}

impl BatchResult {
    fn finish(&mut self, originals: &[ConsumerRecord], done: &[bool]) {
        let mut per_partition: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, r) in originals.iter().enumerate() {
            per_partition.entry(r.partition).or_default().push(i);
        }
        for (partition, mut idx) in per_partition {
            idx.sort_by_key(|&i| originals[i].offset);
            let mut through = None;
            for &i in &idx {
                if !done[i] {
                    self.incomplete = true;
                    break;
                }
                through = Some(i);
                self.done += 1;
            }
            if let Some(i) = through {
                let r = &originals[i];
                debug_assert!(r.epoch.is_some(), "group polls carry the epoch");
                self.commits.push(OffsetCommit {
                    topic: r.topic.clone(),
                    partition,
                    offset: r.offset + 1,
                    epoch: r.epoch.unwrap_or_default(),
                });
            }
        }
    }
}

/// Milliseconds left before `deadline_ms`. Lambda sends the deadline as milliseconds since the
/// epoch; some local emulators (cargo-lambda's `watch` among them) send the function timeout
/// instead (e.g. `600000`). A value that cannot be an epoch time (before 2001) is read as the
/// time remaining, so the consumer neither stops at once nor runs unbounded.
fn remaining_ms(deadline_ms: u64, now_ms: u64) -> u64 {
    const EPOCH_MS_2001: u64 = 978_307_200_000;
    if deadline_ms < EPOCH_MS_2001 {
        deadline_ms
    } else {
        deadline_ms.saturating_sub(now_ms)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_deadline_in_epoch_ms_leaves_the_difference_and_a_bare_timeout_is_the_time_left() {
        let now = 1_790_000_000_000;
        assert_eq!(super::remaining_ms(now + 3_000, now), 3_000);
        assert_eq!(super::remaining_ms(now - 5, now), 0);
        assert_eq!(super::remaining_ms(600_000, now), 600_000);
    }
}
