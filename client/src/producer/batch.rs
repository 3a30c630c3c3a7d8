//! The producer's background task: records are grouped per batch key, a batch is sealed by
//! size, record count, linger time or a flush, at most one request is in flight per key (so a
//! partition's records are appended in the order they were sent), and each record's
//! [`Delivery`](super::Delivery) is answered from its batch's result.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio::time::Instant;
use wharf_proto::ErrorCode;
use wharf_proto::api::ProduceResult;

use super::deliver::deliver;
use super::{BatchKey, Command, Pending, ProduceError, RecordMetadata, Shared};
use crate::client::ProduceAnswer;
use crate::error::Error;

#[derive(Debug)]
struct OpenBatch {
    records: Vec<Pending>,
    bytes: usize,
    deadline: Instant,
}

#[derive(Debug)]
struct SealedBatch {
    id: u64,
    key: BatchKey,
    records: Vec<Pending>,
}

/// What a finished request reports back to the loop.
struct Finished {
    id: u64,
    key: BatchKey,
    metas: Vec<PendingMeta>,
    outcome: Result<ProduceAnswer, (u32, Error)>,
}

/// The parts of a [`Pending`] that stay with the loop while its wire form is in flight.
#[derive(Debug)]
struct PendingMeta {
    predicted: Option<u32>,
    reply: oneshot::Sender<Result<RecordMetadata, ProduceError>>,
    _permit: OwnedSemaphorePermit,
}

pub(super) struct BatchLoop {
    shared: Arc<Shared>,
    open: HashMap<BatchKey, OpenBatch>,
    /// Sealed batches waiting for the one in flight with the same key.
    queued: HashMap<BatchKey, VecDeque<SealedBatch>>,
    busy: HashSet<BatchKey>,
    in_flight: FuturesUnordered<BoxFuture<'static, Finished>>,
    /// Ids of sealed batches not yet answered.
    unanswered: BTreeSet<u64>,
    next_id: u64,
    /// Flush callers waiting until every batch with an id below theirs is answered.
    flush_waiters: Vec<(u64, oneshot::Sender<()>)>,
    close_waiters: Vec<oneshot::Sender<()>>,
}

impl BatchLoop {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            open: HashMap::new(),
            queued: HashMap::new(),
            busy: HashSet::new(),
            in_flight: FuturesUnordered::new(),
            unanswered: BTreeSet::new(),
            next_id: 0,
            flush_waiters: Vec::new(),
            close_waiters: Vec::new(),
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut receiving = true;
        loop {
            if !receiving && self.open.is_empty() && self.in_flight.is_empty() {
                debug_assert!(self.queued.values().all(VecDeque::is_empty));
                break;
            }
            let next_deadline = self.open.values().map(|b| b.deadline).min();
            tokio::select! {
                command = rx.recv(), if receiving => match command {
                    Some(Command::Send { key, pending }) => self.add(key, *pending),
                    Some(Command::Flush(done)) => {
                        self.seal_all();
                        self.flush_waiters.push((self.next_id, done));
                        self.answer_flushes();
                    }
                    Some(Command::Close(done)) => {
                        self.close_waiters.push(done);
                        // Commands already queued are still drained; new sends fail.
                        rx.close();
                    }
                    None => {
                        receiving = false;
                        self.seal_all();
                    }
                },
                Some(finished) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.finish(finished);
                }
                () = tokio::time::sleep_until(next_deadline.unwrap_or_else(Instant::now)), if next_deadline.is_some() => {
                    let now = Instant::now();
                    let expired: Vec<BatchKey> = self
                        .open
                        .iter()
                        .filter(|(_, b)| b.deadline <= now)
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in expired {
                        self.seal(&key);
                    }
                }
            }
        }
        for waiter in self.flush_waiters.drain(..) {
            let _ = waiter.1.send(());
        }
        for waiter in self.close_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }

    fn add(&mut self, key: BatchKey, pending: Pending) {
        let config = Arc::clone(&self.shared);
        let config = &config.config;
        // A record that would push a non-empty batch over the size goes into the next batch.
        if let Some(batch) = self.open.get(&key)
            && !batch.records.is_empty()
            && batch.bytes + pending.bytes > config.batch_bytes
        {
            self.seal(&key);
        }
        let linger = Duration::from_millis(config.linger_ms);
        let batch = self.open.entry(key.clone()).or_insert_with(|| OpenBatch {
            records: Vec::new(),
            bytes: 0,
            deadline: Instant::now() + linger,
        });
        batch.bytes += pending.bytes;
        batch.records.push(pending);
        if batch.bytes >= config.batch_bytes || batch.records.len() >= config.max_batch_records {
            self.seal(&key);
        }
    }

    fn seal_all(&mut self) {
        let keys: Vec<BatchKey> = self.open.keys().cloned().collect();
        for key in keys {
            self.seal(&key);
        }
    }

    fn seal(&mut self, key: &BatchKey) {
        let Some(batch) = self.open.remove(key) else {
            return;
        };
        debug_assert!(!batch.records.is_empty(), "open batches hold a record");
        let id = self.next_id;
        self.next_id += 1;
        self.unanswered.insert(id);
        let sealed = SealedBatch {
            id,
            key: key.clone(),
            records: batch.records,
        };
        if self.busy.contains(key) {
            self.queued
                .entry(key.clone())
                .or_default()
                .push_back(sealed);
        } else {
            self.launch(sealed);
        }
    }

    fn launch(&mut self, batch: SealedBatch) {
        self.busy.insert(batch.key.clone());
        let mut wire = Vec::with_capacity(batch.records.len());
        let mut metas = Vec::with_capacity(batch.records.len());
        for p in batch.records {
            wire.push(p.wire);
            metas.push(PendingMeta {
                predicted: p.predicted,
                reply: p.reply,
                _permit: p.permit,
            });
        }
        let shared = Arc::clone(&self.shared);
        let (id, key) = (batch.id, batch.key);
        self.in_flight.push(Box::pin(async move {
            let outcome = deliver(&shared, &key.0, &wire).await;
            Finished {
                id,
                key,
                metas,
                outcome,
            }
        }));
    }

    fn finish(&mut self, finished: Finished) {
        let Finished {
            id,
            key,
            metas,
            outcome,
        } = finished;
        let topic = &key.0;
        let counters = &self.shared.counters;
        match outcome {
            Ok(answer) if answer.results.len() == metas.len() => {
                let mut stale_metadata = false;
                for (meta, result) in metas.into_iter().zip(answer.results) {
                    let outcome = record_outcome(topic, result);
                    match &outcome {
                        Ok(done) => {
                            counters.records_acked.fetch_add(1, Ordering::Relaxed);
                            stale_metadata |= meta.predicted.is_some_and(|p| p != done.partition);
                        }
                        Err(e) => {
                            counters.records_failed.fetch_add(1, Ordering::Relaxed);
                            stale_metadata |= matches!(e, ProduceError::Rejected { code, .. } if *code == ErrorCode::UnknownPartition);
                        }
                    }
                    let _ = meta.reply.send(outcome);
                }
                if stale_metadata {
                    tracing::debug!(topic = %topic, "partition count changed; refreshing metadata");
                    self.shared.invalidate(topic);
                }
            }
            Ok(answer) => {
                let error = Arc::new(Error::Decode {
                    operation: format!("produce {topic}"),
                    status: answer.status,
                    message: format!(
                        "{} results for {} records",
                        answer.results.len(),
                        metas.len()
                    ),
                });
                self.fail_all(topic, metas, 1, &error);
            }
            Err((attempts, error)) => {
                if error.code() == Some(&ErrorCode::UnknownPartition) {
                    self.shared.invalidate(topic);
                }
                self.fail_all(topic, metas, attempts, &Arc::new(error));
            }
        }
        self.unanswered.remove(&id);
        self.busy.remove(&key);
        if let Some(next) = self.queued.get_mut(&key).and_then(VecDeque::pop_front) {
            self.launch(next);
        }
        if self.queued.get(&key).is_some_and(VecDeque::is_empty) {
            self.queued.remove(&key);
        }
        self.answer_flushes();
    }

    fn fail_all(&self, topic: &str, metas: Vec<PendingMeta>, attempts: u32, error: &Arc<Error>) {
        self.shared
            .counters
            .records_failed
            .fetch_add(metas.len() as u64, Ordering::Relaxed);
        for meta in metas {
            let _ = meta.reply.send(Err(ProduceError::BatchFailed {
                topic: topic.to_owned(),
                attempts,
                source: Arc::clone(error),
            }));
        }
    }

    /// Answers the flushes whose batches (ids below their mark) are all answered.
    fn answer_flushes(&mut self) {
        let oldest = self.unanswered.first().copied().unwrap_or(u64::MAX);
        let (done, waiting): (Vec<_>, Vec<_>) = self
            .flush_waiters
            .drain(..)
            .partition(|(mark, _)| oldest >= *mark);
        self.flush_waiters = waiting;
        for (_, waiter) in done {
            let _ = waiter.send(());
        }
    }
}

fn record_outcome(topic: &str, result: ProduceResult) -> Result<RecordMetadata, ProduceError> {
    if let Some(e) = result.error {
        return Err(ProduceError::Rejected {
            code: e.error_code(),
            message: e.message,
            retriable: e.retriable,
            details: e.details,
        });
    }
    match result.partition {
        Some(partition) => Ok(RecordMetadata {
            topic: topic.to_owned(),
            partition,
            offset: result.offset,
            timestamp_ms: result.timestamp,
        }),
        None => Err(ProduceError::Rejected {
            // Not a broker code: the client's own finding about the answer.
            code: ErrorCode::Other("missing_partition".to_owned()),
            message: "the broker's result names no partition".to_owned(),
            retriable: false,
            details: None,
        }),
    }
}
