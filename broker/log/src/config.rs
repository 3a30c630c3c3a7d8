//! Log configuration and the durability policy.

use serde::{Deserialize, Serialize};

/// Default segment size: 1 GiB, as Kafka's `segment.bytes`.
pub const DEFAULT_SEGMENT_BYTES: u64 = 1 << 30;
/// Default retention: 7 days, as Kafka's `retention.ms`.
pub const DEFAULT_RETENTION_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// Smallest accepted `segment_bytes` (one batch header plus a little).
pub const MIN_SEGMENT_BYTES: u64 = 64;
/// Largest accepted `segment_bytes`: index entries store file positions as u32.
pub const MAX_SEGMENT_BYTES: u64 = u32::MAX as u64;

/// When an append counts as done with respect to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// Leave flushing to the operating system: an append returns once its bytes are in the page
    /// cache. A power loss may lose recent appends; a process crash does not.
    Never,
    /// Every append calls fdatasync itself before returning.
    Always,
    /// Concurrent appends share one fdatasync: an append returns once a sync that started after
    /// its bytes were written has finished. Same guarantee as `Always`, far fewer syncs under load.
    #[default]
    GroupCommit,
}

/// Configuration of one partition log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A new segment is started when appending a batch would grow the active segment beyond this
    /// many bytes (a batch is never split). Default 1 GiB; between 64 bytes and u32::MAX. A batch
    /// larger than this is rejected.
    pub segment_bytes: u64,
    /// The sparse offset and time indexes get one entry per this many bytes of log (at batch
    /// boundaries). Smaller: faster seeks, bigger indexes. Default 4096.
    pub index_interval_bytes: u32,
    /// Sealed segments whose newest record timestamp is older than `now - retention_ms` are
    /// deleted by retention. Default 7 days; `None` keeps data regardless of age.
    pub retention_ms: Option<u64>,
    /// While the log is larger than this many bytes, retention deletes the oldest sealed segments.
    /// Default `None` (no size limit).
    pub retention_bytes: Option<u64>,
    /// Durability of [`super::Log::append`]. Default group commit.
    pub fsync: FsyncPolicy,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            index_interval_bytes: 4096,
            retention_ms: Some(DEFAULT_RETENTION_MS),
            retention_bytes: None,
            fsync: FsyncPolicy::GroupCommit,
        }
    }
}

impl LogConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return Err(format!(
                "segment_bytes must be between {MIN_SEGMENT_BYTES} and {MAX_SEGMENT_BYTES}, got {}",
                self.segment_bytes
            ));
        }
        if self.index_interval_bytes == 0 {
            return Err("index_interval_bytes must be at least 1".to_owned());
        }
        Ok(())
    }
}
