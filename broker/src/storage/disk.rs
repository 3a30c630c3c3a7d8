//! The disk backend: one [`Log`] per partition under `<root>/<topic>/<partition>/`.
//!
//! Every partition opens its sealed segments' files through one [`FileCache`] (at most
//! `max_open_files` handles), so open descriptors stay bounded however many segments are kept.
//! Running out of descriptors or disk space is reported as its own [`StorageError`] variant
//! (retriable), never flattened into `Io`.
//!
//! Deleting a topic first renames its directory to `.deleting-<topic>-<nanos>` (one atomic
//! rename, fsynced) and then removes it, so a crash mid-delete leaves a name that
//! [`StorageBackend::stray_topics`] reports and the next start finishes removing.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    Appended, Durability, NewRecord, PartitionOffsets, PartitionSettings, PartitionStore,
    ReadBatch, Retention, RetentionApplied, StorageBackend, StorageError,
};
use crate::log::{
    AppendError, FileCache, FsyncPolicy, Log, LogConfig, LookupError, OpenError, ReadError,
    RetentionError, SyncError, SyncObserver, is_disk_full, is_out_of_descriptors,
};

const DELETING_PREFIX: &str = ".deleting-";
/// How much of a deleted topic's name its doomed directory keeps (for an operator's eye).
const MAX_DOOMED_NAME_PART: usize = 200;

/// Partitions as segmented logs on local disk.
#[derive(Debug)]
pub struct DiskBackend {
    root: PathBuf,
    fsync: FsyncPolicy,
    sync_observer: Option<SyncObserver>,
    /// Shared by every partition's log.
    files: Arc<FileCache>,
}

/// The storage error of an i/o failure: exhausted space and descriptors get their own variants.
fn io_error(path: &Path, e: &io::Error) -> StorageError {
    let detail = format!("{}: {e}", path.display());
    if is_disk_full(e) {
        StorageError::DiskFull { detail }
    } else if is_out_of_descriptors(e) {
        StorageError::TooManyOpenFiles { detail }
    } else {
        StorageError::Io { detail }
    }
}

fn sync_dir(path: &Path) -> Result<(), StorageError> {
    std::fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(path, &e))
}

impl DiskBackend {
    /// A backend under `root` whose partitions keep at most `max_open_files` sealed-segment
    /// handles open between them.
    pub fn new(
        root: PathBuf,
        fsync: FsyncPolicy,
        max_open_files: usize,
    ) -> Result<Self, StorageError> {
        std::fs::create_dir_all(&root).map_err(|e| io_error(&root, &e))?;
        Ok(Self {
            root,
            fsync,
            sync_observer: None,
            files: Arc::new(FileCache::new(max_open_files)),
        })
    }

    /// The handle cache all partitions share.
    pub fn file_cache(&self) -> &Arc<FileCache> {
        &self.files
    }

    /// Every partition opened from now on reports its fdatasync durations to `observer`.
    pub fn with_sync_observer(mut self, observer: SyncObserver) -> Self {
        self.sync_observer = Some(observer);
        self
    }
}

impl StorageBackend for DiskBackend {
    fn open_partition(
        &self,
        topic: &str,
        partition: u32,
        settings: PartitionSettings,
    ) -> Result<Arc<dyn PartitionStore>, StorageError> {
        let dir = self.root.join(topic).join(partition.to_string());
        let config = LogConfig {
            segment_bytes: settings.segment_bytes,
            retention_ms: settings.retention.retention_ms,
            retention_bytes: settings.retention.retention_bytes,
            fsync: self.fsync,
            ..LogConfig::default()
        };
        let (log, outcome) =
            Log::open_with_cache(&dir, config, self.files.clone()).map_err(|e| match e {
                OpenError::Io { path, source } => io_error(&path, &source),
                OpenError::Corruption { .. } | OpenError::Inconsistent { .. } => {
                    StorageError::Corruption {
                        detail: e.to_string(),
                    }
                }
                OpenError::InvalidConfig { detail } => StorageError::InvalidConfig { detail },
            })?;
        if let Some(observer) = &self.sync_observer {
            log.observe_syncs(observer.clone());
        }
        if let Some(t) = &outcome.truncated {
            tracing::warn!(
                topic,
                partition,
                path = %t.path.display(),
                valid_bytes = t.valid_bytes,
                truncated_bytes = t.truncated_bytes,
                reason = %t.reason,
                "recovered partition by truncating its tail"
            );
        }
        Ok(Arc::new(DiskPartition { log }))
    }

    fn delete_topic(&self, topic: &str) -> Result<(), StorageError> {
        let dir = self.root.join(topic);
        let doomed = if topic.starts_with(DELETING_PREFIX) {
            dir
        } else {
            if !dir.exists() {
                return Ok(());
            }
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            // The topic's name goes last and cut short: a 249-character name with the prefix
            // and the time would pass the 255-byte limit of a file name.
            let shown = &topic[..topic.len().min(MAX_DOOMED_NAME_PART)];
            let doomed = self.root.join(format!("{DELETING_PREFIX}{nanos}-{shown}"));
            std::fs::rename(&dir, &doomed).map_err(|e| io_error(&dir, &e))?;
            sync_dir(&self.root)?;
            doomed
        };
        std::fs::remove_dir_all(&doomed).map_err(|e| io_error(&doomed, &e))?;
        sync_dir(&self.root)
    }

    fn stray_topics(&self, known: &[String]) -> Result<Vec<String>, StorageError> {
        let mut stray = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(|e| io_error(&self.root, &e))? {
            let entry = entry.map_err(|e| io_error(&self.root, &e))?;
            if !entry
                .file_type()
                .map_err(|e| io_error(&entry.path(), &e))?
                .is_dir()
            {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) {
                stray.push(name);
            }
        }
        Ok(stray)
    }
}

/// One partition's log.
#[derive(Debug)]
struct DiskPartition {
    log: Log,
}

fn append_error(e: AppendError) -> StorageError {
    match e {
        AppendError::EmptyBatch => StorageError::EmptyBatch,
        AppendError::BatchTooLarge { batch_bytes, max } => StorageError::BatchTooLarge {
            batch_bytes,
            max_bytes: max,
        },
        AppendError::Io { path, source } => io_error(&path, &source),
        AppendError::Durability(s) => sync_error(s),
        AppendError::InvalidRecord { index, detail } => {
            StorageError::InvalidRecord { index, detail }
        }
        AppendError::Poisoned { detail } => StorageError::Poisoned { detail },
    }
}

fn sync_error(e: SyncError) -> StorageError {
    match &e {
        SyncError::Io { source, .. } if is_disk_full(source) => StorageError::DiskFull {
            detail: e.to_string(),
        },
        SyncError::Poisoned { detail } => StorageError::Poisoned {
            detail: detail.clone(),
        },
        SyncError::Io { .. } => StorageError::Io {
            detail: e.to_string(),
        },
    }
}

impl PartitionStore for DiskPartition {
    fn append(
        &self,
        records: &[NewRecord],
        durability: Durability,
    ) -> Result<Appended, StorageError> {
        let outcome = match durability {
            Durability::Synced => self.log.append(records),
            Durability::Buffered => self.log.append_buffered(records),
        }
        .map_err(append_error)?;
        Ok(Appended {
            base_offset: outcome.base_offset,
            last_offset: outcome.last_offset,
            bytes: outcome.batch_bytes,
        })
    }

    fn read(
        &self,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch, StorageError> {
        let out = self
            .log
            .read(offset, max_records, max_bytes)
            .map_err(|e| match e {
                ReadError::OffsetOutOfRange {
                    requested,
                    log_start,
                    high_watermark,
                } => StorageError::OffsetOutOfRange {
                    requested,
                    log_start,
                    high_watermark,
                },
                ReadError::Io { path, source } => io_error(&path, &source),
                ReadError::Corruption { .. } => StorageError::Corruption {
                    detail: e.to_string(),
                },
            })?;
        Ok(ReadBatch {
            records: out.records,
            next_offset: out.next_offset,
            high_watermark: out.high_watermark,
            log_start_offset: out.log_start_offset,
            bytes: out.bytes,
        })
    }

    fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<u64>, StorageError> {
        self.log
            .offset_for_timestamp(timestamp_ms)
            .map_err(|e| match e {
                LookupError::Io { path, source } => io_error(&path, &source),
                LookupError::Corruption { .. } => StorageError::Corruption {
                    detail: e.to_string(),
                },
            })
    }

    fn offsets(&self) -> PartitionOffsets {
        PartitionOffsets {
            log_start_offset: self.log.log_start_offset(),
            high_watermark: self.log.high_watermark(),
            size_bytes: self.log.size_bytes(),
        }
    }

    fn set_retention(&self, retention: Retention) {
        self.log
            .set_retention(retention.retention_ms, retention.retention_bytes);
    }

    fn retention_target(&self, now_ms: i64) -> Option<u64> {
        self.log.retention_plan(now_ms).new_log_start_offset
    }

    fn delete_before(&self, offset: u64) -> Result<RetentionApplied, StorageError> {
        let out = self
            .log
            .delete_segments_before(offset)
            .map_err(|e| match e {
                RetentionError::Io { path, source } => io_error(&path, &source),
            })?;
        Ok(RetentionApplied {
            deleted_ranges: out
                .deleted
                .iter()
                .map(|s| (s.base_offset, s.next_offset))
                .collect(),
            deleted_bytes: out.deleted.iter().map(|s| s.size_bytes).sum(),
            log_start_offset: out.log_start_offset,
        })
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.log.sync().map_err(sync_error)
    }
}
