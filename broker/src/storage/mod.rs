//! The narrow storage seam between the server and a storage backend.
//!
//! The API layer never touches files: it sees partitions through [`PartitionStore`] (append, read,
//! offset lookups, retention) and creates/deletes them through [`StorageBackend`]. Today's only
//! backend is [`disk::DiskBackend`], one [`crate::log::Log`] per partition under
//! `<data_dir>/topics/<topic>/<partition>/`. A second backend (segments tiered to S3, or an
//! existing Kafka cluster) implements these two traits and nothing above them changes.
//!
//! Everything here is synchronous; [`crate::partition`] is the async facade that runs these calls
//! on tokio's blocking pool.

pub mod disk;

use std::fmt::Debug;
use std::sync::Arc;

pub use crate::log::{Bytes, Header, NewRecord, Record};

/// How durable an append must be before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// As durable as the backend's fsync policy makes it (`acks=all`).
    Synced,
    /// In the log (OS page cache), not necessarily on disk (`acks=leader` / `none`).
    Buffered,
}

/// Retention of one partition; `None` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub retention_ms: Option<u64>,
    pub retention_bytes: Option<u64>,
}

impl Retention {
    /// From the API's Kafka convention (-1 = unlimited).
    pub fn from_kafka(retention_ms: i64, retention_bytes: i64) -> Self {
        Self {
            retention_ms: u64::try_from(retention_ms).ok(),
            retention_bytes: u64::try_from(retention_bytes).ok(),
        }
    }
}

/// Settings a partition is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSettings {
    pub segment_bytes: u64,
    pub retention: Retention,
}

/// Where a batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: u64,
    pub last_offset: u64,
    pub bytes: u64,
}

/// Records read from a partition, with the partition's bounds at the time of the read.
#[derive(Debug, Clone)]
pub struct ReadBatch {
    pub records: Vec<Record>,
    pub next_offset: u64,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    pub bytes: u64,
}

/// A partition's bounds and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionOffsets {
    pub log_start_offset: u64,
    pub high_watermark: u64,
    pub size_bytes: u64,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Default)]
pub struct RetentionApplied {
    /// Offsets `[from, to)` that are gone, one range per deleted segment.
    pub deleted_ranges: Vec<(u64, u64)>,
    pub deleted_bytes: u64,
    pub log_start_offset: u64,
}

/// Why a storage call failed. `Corruption` is never folded into `Io`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error(
        "offset {requested} is out of range: log start {log_start}, high watermark {high_watermark}"
    )]
    OffsetOutOfRange {
        requested: u64,
        log_start: u64,
        high_watermark: u64,
    },
    #[error("batch of {batch_bytes} bytes is larger than the limit of {max_bytes} bytes")]
    BatchTooLarge { batch_bytes: u64, max_bytes: u64 },
    #[error("empty batch")]
    EmptyBatch,
    /// The disk (or the quota) is full (`ENOSPC`, `EDQUOT`). Nothing of the failed call was
    /// kept; the same call succeeds once space is freed.
    #[error("disk full: {detail}")]
    DiskFull { detail: String },
    /// The process or the system ran out of file descriptors (`EMFILE`, `ENFILE`). Nothing of
    /// the failed call was kept; the same call succeeds once descriptors are released.
    #[error("too many open files: {detail}")]
    TooManyOpenFiles { detail: String },
    #[error("storage corruption: {detail}")]
    Corruption { detail: String },
    #[error("storage i/o error: {detail}")]
    Io { detail: String },
    /// An earlier fsync failed, so the partition refuses appends until the broker restarts and
    /// recovers it: retrying against this broker cannot succeed.
    #[error("partition is read-only after a failed sync: {detail}")]
    Poisoned { detail: String },
    /// A record the storage cannot encode (the caller's validation let it through).
    #[error("record {index} cannot be stored: {detail}")]
    InvalidRecord { index: usize, detail: String },
    /// The partition's settings are refused by the storage.
    #[error("invalid partition settings: {detail}")]
    InvalidConfig { detail: String },
}

/// One partition's storage.
pub trait PartitionStore: Send + Sync + Debug {
    /// Appends one batch with consecutive offsets.
    fn append(
        &self,
        records: &[NewRecord],
        durability: Durability,
    ) -> Result<Appended, StorageError>;
    /// Whole records from `offset` within both budgets (at least one record if any exists).
    fn read(
        &self,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch, StorageError>;
    /// First offset with a timestamp at or after `timestamp_ms`.
    fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<u64>, StorageError>;
    /// Current bounds and size.
    fn offsets(&self) -> PartitionOffsets;
    /// Changes retention at runtime.
    fn set_retention(&self, retention: Retention);
    /// The log start offset retention would move to now, if it would delete anything.
    fn retention_target(&self, now_ms: i64) -> Option<u64>;
    /// Deletes whole segments below `offset`.
    fn delete_before(&self, offset: u64) -> Result<RetentionApplied, StorageError>;
    /// Makes every append so far durable.
    fn sync(&self) -> Result<(), StorageError>;
}

/// Creates, opens and deletes partitions.
pub trait StorageBackend: Send + Sync + Debug {
    /// Opens (creating if needed) one partition.
    fn open_partition(
        &self,
        topic: &str,
        partition: u32,
        settings: PartitionSettings,
    ) -> Result<Arc<dyn PartitionStore>, StorageError>;
    /// Removes every partition of a topic (the caller has dropped its handles).
    fn delete_topic(&self, topic: &str) -> Result<(), StorageError>;
    /// Topics that have data but that the caller does not know (left by an interrupted create
    /// or delete), so they can be cleaned up at start.
    fn stray_topics(&self, known: &[String]) -> Result<Vec<String>, StorageError>;
}
