//! The disk implementation of the service's partition traits: [`Partition`] is the async facade
//! over one partition's synchronous storage ([`PartitionLog`]), [`DiskLogs`] opens them
//! ([`LogBackend`]).
//!
//! Storage calls block (file I/O, fsync). Where they run depends on how long they can block:
//! - calls that may wait for the disk (fsync: `acks=all` appends, syncs, retention) go to tokio's
//!   blocking pool;
//! - calls that only touch the page cache and move at most [`INLINE_MAX_BYTES`] (buffered appends
//!   and reads of ordinary batches) run inline on the worker thread: a `memcpy`-sized call of tens
//!   of microseconds, cheaper than any hand-off. `block_in_place` hands the worker's core to
//!   another thread on every call, and those wake-ups were 16 % of the broker's profile;
//! - larger page-cache calls run in `block_in_place`, so one big batch cannot stall the other
//!   tasks of its worker (on a current-thread runtime, where that is not allowed, in the pool).
//!
//! The facade also owns the partition's high-watermark channel: every append publishes
//! the new high watermark, and long polls wait on it instead of re-reading in a loop.

use std::ops::Range;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::service::backend::{BoxFuture, LogBackend, PartitionLog};
use crate::storage::{
    Appended, Durability, NewRecord, PartitionOffsets, PartitionSettings, PartitionStore,
    ReadBatch, Retention, RetentionApplied, StorageBackend, StorageError,
};

/// One partition of a topic.
#[derive(Debug)]
pub struct Partition {
    pub id: u32,
    store: Arc<dyn PartitionStore>,
    high_watermark: watch::Sender<u64>,
    /// The topic-wide "something was appended" counter, for waits across partitions.
    topic_appends: watch::Sender<u64>,
}

/// Completes once `flag` is true (or its sender is gone). The borrowed value is dropped inside,
/// so callers' futures stay `Send`.
pub async fn until_true(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|v| *v).await.map(|_| ());
}

/// Runs a blocking storage call off the reactor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|join| {
        Err(StorageError::Io {
            detail: format!("storage task failed: {join}"),
        })
    })
}

/// Page-cache calls that move at most this many bytes run inline on the worker thread (see the
/// module doc). 1 MiB is the default fetch budget: copying it from the page cache takes about
/// 100 µs, the longest a task should hold its worker.
pub const INLINE_MAX_BYTES: usize = 1024 * 1024;

/// Runs a storage call that only touches the page cache and moves about `bytes` bytes on the
/// current worker thread (see the module doc).
async fn in_place<T: Send + 'static>(
    bytes: usize,
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if bytes <= INLINE_MAX_BYTES {
        f()
    } else if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(f)
    } else {
        blocking(f).await
    }
}

impl Partition {
    pub fn new(id: u32, store: Arc<dyn PartitionStore>, topic_appends: watch::Sender<u64>) -> Self {
        let (high_watermark, _) = watch::channel(store.offsets().high_watermark);
        Self {
            id,
            store,
            high_watermark,
            topic_appends,
        }
    }

    /// Appends one batch and publishes the new high watermark.
    async fn append_batch(
        &self,
        records: Vec<NewRecord>,
        durability: Durability,
    ) -> Result<Appended, StorageError> {
        let store = Arc::clone(&self.store);
        let appended = match durability {
            Durability::Synced => blocking(move || store.append(&records, durability)).await?,
            Durability::Buffered => {
                let bytes = records.iter().map(NewRecord::payload_bytes).sum();
                in_place(bytes, move || store.append(&records, durability)).await?
            }
        };
        let next = appended.last_offset + 1;
        // Concurrent appends may publish out of order; the watermark only moves forward.
        self.high_watermark.send_if_modified(|hw| {
            if next > *hw {
                *hw = next;
                true
            } else {
                false
            }
        });
        self.topic_appends.send_modify(|n| *n = n.wrapping_add(1));
        Ok(appended)
    }
}

impl PartitionLog for Partition {
    fn id(&self) -> u32 {
        self.id
    }

    fn append(
        &self,
        records: Vec<NewRecord>,
        durability: Durability,
    ) -> BoxFuture<'_, Result<Appended, StorageError>> {
        Box::pin(self.append_batch(records, durability))
    }

    fn read(
        &self,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> BoxFuture<'_, Result<ReadBatch, StorageError>> {
        let store = Arc::clone(&self.store);
        Box::pin(in_place(max_bytes, move || {
            store.read(offset, max_records, max_bytes)
        }))
    }

    fn wait_beyond<'a>(
        &'a self,
        offset: u64,
        deadline: Instant,
        cancel: &'a mut watch::Receiver<bool>,
    ) -> BoxFuture<'a, bool> {
        let mut rx = self.high_watermark.subscribe();
        Box::pin(async move {
            let beyond = async move { rx.wait_for(|hw| *hw > offset).await.is_ok() };
            tokio::select! {
                ready = beyond => ready,
                () = tokio::time::sleep_until(deadline) => false,
                () = until_true(cancel) => false,
            }
        })
    }

    fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> BoxFuture<'_, Result<Option<u64>, StorageError>> {
        let store = Arc::clone(&self.store);
        Box::pin(blocking(move || store.offset_for_timestamp(timestamp_ms)))
    }

    fn offsets(&self) -> PartitionOffsets {
        self.store.offsets()
    }

    fn set_retention(&self, retention: Retention) {
        self.store.set_retention(retention);
    }

    fn retention_target(&self, now_ms: i64) -> Option<u64> {
        self.store.retention_target(now_ms)
    }

    fn delete_before(&self, offset: u64) -> BoxFuture<'_, Result<RetentionApplied, StorageError>> {
        let store = Arc::clone(&self.store);
        Box::pin(blocking(move || store.delete_before(offset)))
    }

    fn sync(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        let store = Arc::clone(&self.store);
        Box::pin(blocking(move || store.sync()))
    }
}

/// The disk [`LogBackend`]: a synchronous [`StorageBackend`] (one `log::Log` per partition) whose
/// partitions are opened on the blocking pool and served through [`Partition`].
#[derive(Debug, Clone)]
pub struct DiskLogs {
    storage: Arc<dyn StorageBackend>,
}

impl DiskLogs {
    pub fn new(storage: Arc<dyn StorageBackend>) -> Self {
        Self { storage }
    }
}

impl LogBackend for DiskLogs {
    fn open_partitions<'a>(
        &'a self,
        topic: &'a str,
        ids: Range<u32>,
        settings: PartitionSettings,
        appends: watch::Sender<u64>,
    ) -> BoxFuture<'a, Result<Vec<Arc<dyn PartitionLog>>, StorageError>> {
        let storage = Arc::clone(&self.storage);
        let topic = topic.to_owned();
        Box::pin(blocking(move || {
            ids.map(|id| {
                let store = storage.open_partition(&topic, id, settings)?;
                Ok(Arc::new(Partition::new(id, store, appends.clone())) as Arc<dyn PartitionLog>)
            })
            .collect()
        }))
    }

    fn set_retention<'a>(
        &'a self,
        _topic: &'a str,
        _retention: Retention,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        // Kept per partition, in memory: `PartitionLog::set_retention`.
        Box::pin(std::future::ready(Ok(())))
    }

    fn delete_topic<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        let storage = Arc::clone(&self.storage);
        let topic = topic.to_owned();
        Box::pin(blocking(move || storage.delete_topic(&topic)))
    }

    fn stray_topics<'a>(
        &'a self,
        known: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, StorageError>> {
        let storage = Arc::clone(&self.storage);
        let known = known.to_vec();
        Box::pin(blocking(move || storage.stray_topics(&known)))
    }
}
