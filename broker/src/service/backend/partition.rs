//! Partition logs: [`PartitionLog`] for one partition, [`LogBackend`] for a topic's partitions.
//!
//! Designed for two implementations: the disk log ([`crate::partition::Partition`] over
//! [`crate::storage::disk::DiskBackend`], blocking calls kept off the reactor by the facade's
//! inline / blocking-pool policy) and a Kafka topic, where
//! - offsets, timestamps, keys and headers are Kafka's, and [`PartitionLog::offsets`] answers the
//!   bounds the client last learnt (every produce and fetch response carries the high watermark
//!   and log start offset; a background metadata refresh covers idle partitions);
//! - [`Durability::Synced`] is `acks=all`, [`Durability::Buffered`] is `acks=1` (the service
//!   layer does fire-and-forget for `acks=none` itself, by not awaiting the append);
//! - retention is the cluster's (`retention.ms` / `retention.bytes`, set through
//!   [`LogBackend::set_retention`]): [`PartitionLog::retention_target`] answers `None` so the
//!   broker's retention job never deletes anything itself;
//! - [`PartitionLog::wait_beyond`] is a fetch with `max_wait_ms` (or a watch fed by the
//!   gateway's own appends and fetches).

use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use super::BoxFuture;
use crate::storage::{
    Appended, Durability, NewRecord, PartitionOffsets, PartitionSettings, ReadBatch, Retention,
    RetentionApplied, StorageError,
};

/// One partition of a topic.
pub trait PartitionLog: Send + Sync + Debug {
    /// The partition's number within its topic.
    fn id(&self) -> u32;

    /// Appends one batch with consecutive offsets; durable as `durability` says when it resolves.
    fn append(
        &self,
        records: Vec<NewRecord>,
        durability: Durability,
    ) -> BoxFuture<'_, Result<Appended, StorageError>>;

    /// Whole records from `offset` within both budgets (at least one record if any exists);
    /// [`StorageError::OffsetOutOfRange`] outside `[log start, high watermark]`.
    fn read(
        &self,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> BoxFuture<'_, Result<ReadBatch, StorageError>>;

    /// Resolves once the high watermark passes `offset` (true), or at `deadline` or when `cancel`
    /// turns true (false).
    fn wait_beyond<'a>(
        &'a self,
        offset: u64,
        deadline: Instant,
        cancel: &'a mut watch::Receiver<bool>,
    ) -> BoxFuture<'a, bool>;

    /// First offset with a timestamp at or after `timestamp_ms` (`None`: none that late).
    fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> BoxFuture<'_, Result<Option<u64>, StorageError>>;

    /// The current bounds and size, from memory (a remote log answers the latest it has seen).
    fn offsets(&self) -> PartitionOffsets;

    /// The retention the broker applies to this partition from now on (a log whose retention is
    /// its cluster's ignores it: [`LogBackend::set_retention`] already told the cluster).
    fn set_retention(&self, retention: Retention);

    /// The log start offset the broker's retention job should move to now, if it should delete
    /// anything (`None` for a log whose cluster applies retention itself).
    fn retention_target(&self, now_ms: i64) -> Option<u64>;

    /// Deletes whole segments below `offset`.
    fn delete_before(&self, offset: u64) -> BoxFuture<'_, Result<RetentionApplied, StorageError>>;

    /// Makes every append so far durable.
    fn sync(&self) -> BoxFuture<'_, Result<(), StorageError>>;
}

/// Creates, opens and deletes the partitions of topics.
pub trait LogBackend: Send + Sync + Debug {
    /// Opens (creating where missing) partitions `ids` of `topic`. Every append to any of them
    /// bumps `appends`, the topic-wide counter cross-partition long polls wait on.
    fn open_partitions<'a>(
        &'a self,
        topic: &'a str,
        ids: Range<u32>,
        settings: PartitionSettings,
        appends: watch::Sender<u64>,
    ) -> BoxFuture<'a, Result<Vec<Arc<dyn PartitionLog>>, StorageError>>;

    /// Changes a topic's retention where the backend keeps it (a Kafka topic's `retention.ms` /
    /// `retention.bytes`); the disk log keeps it per partition ([`PartitionLog::set_retention`]).
    fn set_retention<'a>(
        &'a self,
        topic: &'a str,
        retention: Retention,
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Removes every partition of a topic (the caller has dropped its handles).
    fn delete_topic<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Topics that have data but that `known` does not list (left by an interrupted create or
    /// delete), so they can be cleaned up at start. A shared cluster, where other writers make
    /// topics, answers none.
    fn stray_topics<'a>(
        &'a self,
        known: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, StorageError>>;
}
