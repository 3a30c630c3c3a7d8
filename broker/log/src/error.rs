//! Typed errors, one enum per operation. `Corruption` (the bytes on disk are not what we wrote) is
//! always a separate variant from `Io` (the operating system refused an operation).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

/// Why [`super::Log::open`] failed.
#[derive(Debug, Error)]
pub enum OpenError {
    /// The configuration cannot be used (e.g. `segment_bytes` out of range).
    #[error("invalid log config: {detail}")]
    InvalidConfig { detail: String },
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A sealed segment (or an index that had to be rebuilt from it) holds bytes that fail
    /// validation. Sealed data is never truncated silently.
    #[error("corruption in {} at byte {position}: {detail}", path.display())]
    Corruption {
        path: PathBuf,
        position: u64,
        detail: String,
    },
    /// The set of segment files does not form one contiguous log (e.g. a gap between segments).
    #[error("inconsistent log directory {}: {detail}", path.display())]
    Inconsistent { path: PathBuf, detail: String },
}

/// Why a sync (fdatasync) failed. After a failed sync the log refuses further writes
/// ([`SyncError::Poisoned`]): the kernel may have dropped the dirty pages, so nothing written
/// since the last good sync can be trusted to reach the disk.
#[derive(Debug, Error, Clone)]
pub enum SyncError {
    #[error("fdatasync failed on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: Arc<io::Error>,
    },
    #[error("log is read-only after an earlier write or sync failure: {detail}")]
    Poisoned { detail: String },
}

/// Why [`super::Log::append`] / [`super::Log::append_buffered`] / [`super::Log::roll`] failed.
#[derive(Debug, Error)]
pub enum AppendError {
    #[error("empty batch: an append needs at least one record")]
    EmptyBatch,
    /// The encoded batch is larger than `segment_bytes` (or than the u32 length field allows).
    #[error("batch of {batch_bytes} bytes exceeds the maximum of {max} bytes")]
    BatchTooLarge { batch_bytes: u64, max: u64 },
    /// A record field cannot be encoded (e.g. more than u32::MAX headers).
    #[error("invalid record at index {index}: {detail}")]
    InvalidRecord { index: usize, detail: String },
    /// Nothing of this batch is visible in the log (a partial write was rolled back).
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The batch was written (and is readable) but the sync the policy requires failed.
    #[error("batch written but not made durable: {0}")]
    Durability(#[from] SyncError),
    #[error("log is read-only after an earlier write or sync failure: {detail}")]
    Poisoned { detail: String },
}

/// Why [`super::Log::read`] failed.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error(
        "offset {requested} out of range: log start {log_start}, high watermark {high_watermark}"
    )]
    OffsetOutOfRange {
        requested: u64,
        log_start: u64,
        high_watermark: u64,
    },
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corruption in {} at byte {position}: {detail}", path.display())]
    Corruption {
        path: PathBuf,
        position: u64,
        detail: String,
    },
}

/// Why [`super::Log::offset_for_timestamp`] failed.
#[derive(Debug, Error)]
pub enum LookupError {
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corruption in {} at byte {position}: {detail}", path.display())]
    Corruption {
        path: PathBuf,
        position: u64,
        detail: String,
    },
}

/// Why retention could not delete segments.
#[derive(Debug, Error)]
pub enum RetentionError {
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Internal: failure while walking batches of a segment; converted into the caller's error type.
#[derive(Debug)]
pub(crate) enum ScanError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    Corruption {
        path: PathBuf,
        position: u64,
        detail: String,
    },
}

impl From<ScanError> for ReadError {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::Io { path, source } => ReadError::Io { path, source },
            ScanError::Corruption {
                path,
                position,
                detail,
            } => ReadError::Corruption {
                path,
                position,
                detail,
            },
        }
    }
}

impl From<ScanError> for LookupError {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::Io { path, source } => LookupError::Io { path, source },
            ScanError::Corruption {
                path,
                position,
                detail,
            } => LookupError::Corruption {
                path,
                position,
                detail,
            },
        }
    }
}

impl From<ScanError> for OpenError {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::Io { path, source } => OpenError::Io { path, source },
            ScanError::Corruption {
                path,
                position,
                detail,
            } => OpenError::Corruption {
                path,
                position,
                detail,
            },
        }
    }
}
