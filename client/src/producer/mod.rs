//! The batching [`Producer`].
//!
//! - [`Producer::send`] runs the offload hook on large values, encodes the record, waits for
//!   room in the byte budget (`max_buffered_bytes`, the back-pressure) and hands the record to a
//!   background task. It returns a [`Delivery`], a future resolved when the record's batch is
//!   acknowledged.
//! - The background task groups records per `(topic, partition)` batch (keyed records by the
//!   partition Kafka's partitioner predicts from the topic's partition count; keyless records in
//!   one sticky batch per topic). A batch is sent when it reaches `batch_bytes` or
//!   `max_batch_records`, when it is `linger_ms` old, or on [`Producer::flush`].
//! - One request per batch, with a fresh UUID `Idempotency-Key` that every retry of that batch
//!   reuses: retries (transport errors, timeouts, 5xx, 429, `retriable: true`) with exponential
//!   backoff, at most `max_attempts` attempts within `delivery_timeout_ms`, so a retry after a
//!   lost response returns the broker's first answer instead of appending again.
//! - At most one request in flight per batch key, so records of one partition are appended in
//!   the order they were sent, even across retries (Kafka's `max.in.flight=1` guarantee).
//!
//! # Decisions
//! - Keyed records are sent **without** a `partition` field: the broker applies the same
//!   murmur2 partitioner with its current partition count, so a stale cached count can only
//!   make batching less tight, never put a key on the wrong partition. The count is fetched once
//!   per topic, refreshed after `metadata_max_age_ms`, and dropped at once when the broker puts a
//!   keyed record elsewhere than predicted or answers `unknown_partition`.
//! - Keyless records are also sent without a partition: the broker's sticky partitioner puts a
//!   whole request on one partition, which is the sticky behaviour Kafka's producer has.
//! - Memory: a record holds its permits (its encoded size) from `send` until its batch is
//!   answered; the command channel is bounded too. Nothing grows without bound.
//!
//! # Files
//! - this one: the settings, the errors, the [`Producer`] handle (`send`, `flush`, `close`) and
//!   the partition-count cache;
//! - `batch`: the background task that groups records into batches, seals them, keeps one
//!   request in flight per batch key and answers each record's [`Delivery`];
//! - `deliver`: one batch's request, retried under one idempotency key.

mod batch;
mod deliver;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use wharf_proto::ErrorCode;
use wharf_proto::api::ProduceRecord;
use wharf_proto::api::SchemaViolationDetails;
use wharf_proto::partitioner::partition_for_key;

use crate::client::{Acks, Client};
use crate::error::Error;
use crate::hooks::{HookError, OffloadHook};
use crate::record::Record;

/// Producer settings. Every field has a default ([`ProducerConfig::default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Send a batch once its records reach this many (encoded) bytes (Kafka's `batch.size`).
    /// Default 512 KiB. Keep it well below the broker's `max_request_bytes` (default 8 MiB).
    pub batch_bytes: usize,
    /// Send a batch once it holds this many records. Default 10 000.
    pub max_batch_records: usize,
    /// Send a batch at the latest this long after its first record (Kafka's `linger.ms`).
    /// Default 5.
    pub linger_ms: u64,
    /// Bytes of records accepted but not yet acknowledged; `send` waits while the budget is used
    /// up (Kafka's `buffer.memory`). Default 32 MiB.
    pub max_buffered_bytes: usize,
    /// Longest `send` waits for buffer space before failing with
    /// [`ProduceError::BufferFull`] (Kafka's `max.block.ms`). Default 60 000.
    pub max_block_ms: u64,
    /// Attempts per batch, the first included. Default 5.
    pub max_attempts: u32,
    /// First backoff between attempts; doubles up to `retry_backoff_max_ms`. Default 100.
    pub retry_backoff_ms: u64,
    /// Longest backoff between attempts. Default 2 000.
    pub retry_backoff_max_ms: u64,
    /// No new attempt starts once a batch is this old (Kafka's `delivery.timeout.ms`).
    /// Default 120 000.
    pub delivery_timeout_ms: u64,
    /// When the broker answers. Default [`Acks::All`].
    pub acks: Acks,
    /// Refresh a topic's cached partition count after this long. Default 60 000.
    pub metadata_max_age_ms: u64,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            batch_bytes: 512 * 1024,
            max_batch_records: 10_000,
            linger_ms: 5,
            max_buffered_bytes: 32 * 1024 * 1024,
            max_block_ms: 60_000,
            max_attempts: 5,
            retry_backoff_ms: 100,
            retry_backoff_max_ms: 2_000,
            delivery_timeout_ms: 120_000,
            acks: Acks::All,
            metadata_max_age_ms: 60_000,
        }
    }
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: u32,
    /// `None` with [`Acks::None`] (the broker answers before appending).
    pub offset: Option<u64>,
    pub timestamp_ms: Option<i64>,
}

/// Why a record was not produced.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProduceError {
    /// The broker refused this record (e.g. `record_too_large`, `unknown_partition`); other
    /// records of the batch may have succeeded.
    #[error("record refused with {code}: {message}")]
    Rejected {
        code: ErrorCode,
        message: String,
        retriable: bool,
        /// The broker's structured context (e.g. where a record failed its schema: read it
        /// typed with [`ProduceError::schema_violation`]).
        details: Option<serde_json::Value>,
    },
    /// The batch failed; `attempts` requests were made with the same idempotency key.
    #[error("batch to {topic} failed after {attempts} attempt(s): {source}")]
    BatchFailed {
        topic: String,
        attempts: u32,
        #[source]
        source: Arc<Error>,
    },
    /// Looking up the topic's partition count for a keyed record failed.
    #[error("cannot look up partitions of {topic}: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: Arc<Error>,
    },
    /// The record cannot be encoded (e.g. a JSON value that is not JSON).
    #[error("cannot encode the record: {source}")]
    Encode {
        #[source]
        source: Arc<Error>,
    },
    /// The record alone is larger than the whole buffer.
    #[error("record of {record_bytes} bytes is larger than max_buffered_bytes ({limit_bytes})")]
    RecordTooLarge {
        record_bytes: usize,
        limit_bytes: usize,
    },
    /// No buffer space freed up within `max_block_ms`.
    #[error("no buffer space within {waited_ms} ms (max_buffered_bytes is used up)")]
    BufferFull { waited_ms: u64 },
    /// The offload hook failed.
    #[error("offloading the value failed: {source}")]
    Offload {
        #[source]
        source: Arc<HookError>,
    },
    /// The producer was closed.
    #[error("the producer is closed")]
    Closed,
}

impl ProduceError {
    /// Where the record failed its topic's schema, when the broker refused it with
    /// `schema_violation`.
    pub fn schema_violation(&self) -> Option<SchemaViolationDetails> {
        match self {
            Self::Rejected { code, details, .. } => {
                SchemaViolationDetails::from_error(code, details.as_ref())
            }
            _ => None,
        }
    }
}

/// Counters of a producer's work since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerStats {
    /// Batches sent (each is one request, not counting retries).
    pub batches: u64,
    /// Produce requests made, retries included.
    pub requests: u64,
    /// Requests that were retries of an earlier attempt.
    pub retries: u64,
    /// Records the broker acknowledged.
    pub records_acked: u64,
    /// Records that failed (refused, or their batch failed).
    pub records_failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    records_acked: AtomicU64,
    records_failed: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct TopicMeta {
    partitions: u32,
    fetched_at: Instant,
}

#[derive(Debug)]
struct Shared {
    client: Client,
    config: ProducerConfig,
    counters: Counters,
    /// Topic → partition count, for predicting keyed records' partitions.
    metadata: Mutex<HashMap<String, TopicMeta>>,
}

impl Shared {
    fn invalidate(&self, topic: &str) {
        self.metadata.lock().expect("metadata lock").remove(topic);
    }
}

/// A batching, retrying producer. Cheap to clone; clones share the buffer and the background
/// task, which ends when the last clone is dropped or [`Producer::close`] is called (buffered
/// records are sent first either way).
#[derive(Debug, Clone)]
pub struct Producer {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
    buffer: Arc<Semaphore>,
    offload: Option<Arc<dyn OffloadHook>>,
}

/// Resolves when the record's batch is acknowledged (or failed).
#[derive(Debug)]
#[must_use = "a delivery tells whether the record was produced"]
pub struct Delivery {
    rx: oneshot::Receiver<Result<RecordMetadata, ProduceError>>,
}

impl Future for Delivery {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A dropped sender means the background task is gone: treat it as closed.
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ProduceError::Closed)))
    }
}

/// Batch key: topic and predicted partition (`None`: the topic's keyless sticky batch).
type BatchKey = (String, Option<u32>);

#[derive(Debug)]
struct Pending {
    wire: ProduceRecord,
    bytes: usize,
    /// Partition predicted for a keyed record without an explicit partition.
    predicted: Option<u32>,
    reply: oneshot::Sender<Result<RecordMetadata, ProduceError>>,
    /// Held until the batch is answered: this is what bounds buffered memory.
    permit: OwnedSemaphorePermit,
}

#[derive(Debug)]
enum Command {
    // Boxed: a pending record is large next to the other commands.
    Send {
        key: BatchKey,
        pending: Box<Pending>,
    },
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

impl Producer {
    /// Starts a producer (and its background task on the current tokio runtime).
    pub fn new(client: Client, config: ProducerConfig) -> Self {
        Self::with_offload(client, config, None)
    }

    /// Starts a producer whose large values go through `offload` before batching.
    pub fn with_offload(
        client: Client,
        config: ProducerConfig,
        offload: Option<Arc<dyn OffloadHook>>,
    ) -> Self {
        let buffer = Arc::new(Semaphore::new(
            config.max_buffered_bytes.min(Semaphore::MAX_PERMITS),
        ));
        let shared = Arc::new(Shared {
            client,
            config,
            counters: Counters::default(),
            metadata: Mutex::new(HashMap::new()),
        });
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(batch::BatchLoop::new(Arc::clone(&shared)).run(rx));
        Self {
            shared,
            tx,
            buffer,
            offload,
        }
    }

    /// The producer's settings.
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.config
    }

    /// Counters since the start.
    pub fn stats(&self) -> ProducerStats {
        let c = &self.shared.counters;
        ProducerStats {
            batches: c.batches.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            records_acked: c.records_acked.load(Ordering::Relaxed),
            records_failed: c.records_failed.load(Ordering::Relaxed),
        }
    }

    /// Queues `record` for `topic`. Waits while the buffer is full (at most `max_block_ms`);
    /// the returned [`Delivery`] resolves when the record's batch is acknowledged.
    pub async fn send(&self, topic: &str, record: Record) -> Result<Delivery, ProduceError> {
        let record = match &self.offload {
            Some(hook) if record.value.len() > hook.threshold_bytes() => hook
                .offload(topic, record)
                .await
                .map_err(|e| ProduceError::Offload {
                    source: Arc::new(e),
                })?,
            _ => record,
        };
        let predicted = match (&record.key, record.partition) {
            (Some(key), None) => Some(partition_for_key(key, self.partitions(topic).await?)),
            _ => None,
        };
        let batch_partition = record.partition.or(predicted);
        let bytes = record.encoded_bytes();
        let wire = record.to_wire().map_err(|e| ProduceError::Encode {
            source: Arc::new(e),
        })?;

        let limit_bytes = self.shared.config.max_buffered_bytes;
        if bytes > limit_bytes || bytes > Semaphore::MAX_PERMITS {
            return Err(ProduceError::RecordTooLarge {
                record_bytes: bytes,
                limit_bytes,
            });
        }
        let wanted = u32::try_from(bytes).map_err(|_| ProduceError::RecordTooLarge {
            record_bytes: bytes,
            limit_bytes,
        })?;
        let max_block = Duration::from_millis(self.shared.config.max_block_ms);
        let permit = match tokio::time::timeout(
            max_block,
            Arc::clone(&self.buffer).acquire_many_owned(wanted),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(ProduceError::Closed),
            Err(_elapsed) => {
                return Err(ProduceError::BufferFull {
                    waited_ms: self.shared.config.max_block_ms,
                });
            }
        };

        let (reply, rx) = oneshot::channel();
        let pending = Pending {
            wire,
            bytes,
            predicted,
            reply,
            permit,
        };
        self.tx
            .send(Command::Send {
                key: (topic.to_owned(), batch_partition),
                pending: Box::new(pending),
            })
            .await
            .map_err(|_| ProduceError::Closed)?;
        Ok(Delivery { rx })
    }

    /// Sends every record and waits for all of them; one result per record, in order.
    pub async fn send_all(
        &self,
        topic: &str,
        records: impl IntoIterator<Item = Record>,
    ) -> Vec<Result<RecordMetadata, ProduceError>> {
        let mut deliveries = Vec::new();
        for record in records {
            deliveries.push(self.send(topic, record).await);
        }
        let mut out = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            out.push(match d {
                Ok(delivery) => delivery.await,
                Err(e) => Err(e),
            });
        }
        out
    }

    /// Sends every buffered batch now and waits until all records sent before this call are
    /// answered.
    pub async fn flush(&self) -> Result<(), ProduceError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Flush(tx))
            .await
            .map_err(|_| ProduceError::Closed)?;
        rx.await.map_err(|_| ProduceError::Closed)
    }

    /// Sends everything buffered, waits for the answers, and stops the background task. Later
    /// sends (from any clone) fail with [`ProduceError::Closed`].
    pub async fn close(&self) -> Result<(), ProduceError> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Close(tx)).await.is_err() {
            return Ok(()); // already closed
        }
        self.buffer.close();
        rx.await.map_err(|_| ProduceError::Closed)
    }

    /// The topic's partition count, from the cache or the broker.
    async fn partitions(&self, topic: &str) -> Result<u32, ProduceError> {
        let max_age = Duration::from_millis(self.shared.config.metadata_max_age_ms);
        if let Some(meta) = self
            .shared
            .metadata
            .lock()
            .expect("metadata lock")
            .get(topic)
            && meta.fetched_at.elapsed() < max_age
        {
            return Ok(meta.partitions);
        }
        // A lookup is idempotent: retry it like a batch.
        let config = &self.shared.config;
        let mut backoff = Duration::from_millis(config.retry_backoff_ms);
        let mut attempt = 1;
        let description = loop {
            match self.shared.client.describe_topic(topic).await {
                Ok(d) => break d,
                Err(e) if e.is_retriable() && attempt < config.max_attempts => {
                    tracing::warn!(topic, attempt, error = %e, "partition lookup failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(config.retry_backoff_max_ms));
                    attempt += 1;
                }
                Err(e) => {
                    return Err(ProduceError::Metadata {
                        topic: topic.to_owned(),
                        source: Arc::new(e),
                    });
                }
            }
        };
        self.shared.metadata.lock().expect("metadata lock").insert(
            topic.to_owned(),
            TopicMeta {
                partitions: description.partitions,
                fetched_at: Instant::now(),
            },
        );
        Ok(description.partitions)
    }
}
