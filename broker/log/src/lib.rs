//! The Wharf storage engine (`wharf-log`): one partition as a segmented, append-only log on local
//! disk. Synchronous and thread-safe; it depends on neither tokio nor HTTP (by construction: this
//! crate has no such dependency), so the broker reaches it through its async facade.
//!
//! One [`Log`] is one partition: a directory of segments. Appends go to the active (last)
//! segment; when it would grow past `segment_bytes` it is sealed and a new one starts.
//!
//! # Module map
//! - `lib.rs` (this file): [`Log`], its outcomes, appends, rolls and the group-commit wait.
//! - `open`: opening and crash recovery; `read`: reads and timestamp lookups; `retention`:
//!   which segments go, and deleting them.
//! - `config`: [`LogConfig`] and [`FsyncPolicy`].
//! - `record`: [`NewRecord`], [`Record`], [`Header`].
//! - `batch`: the on-disk batch format (encode, header parse, CRC32C, record decode).
//! - `index`: the sparse `.index` (offset → position) and `.timeindex` (timestamp → offset).
//! - `segment`: one segment's files, the batch cursor used by reads and recovery, and the
//!   open-time validation of sealed and active segments.
//! - `sync`: the group-commit coordinator.
//! - `fdcache`: [`FileCache`], the bounded LRU of file handles through which sealed segments'
//!   files are opened on demand (shared by every log of a process).
//! - `error`: one error enum per operation; `Corruption` is never folded into `Io`.
//!
//! # On-disk format
//! Files are named by the segment's base offset, zero-padded to 20 digits:
//! `00000000000000000000.log`, `.index`, `.timeindex`. A `.log` file is a sequence of batches,
//! one per append call (layout in `batch`): a 40-byte header (length, CRC32C over everything after
//! the CRC field, magic, base offset, record count, base and max timestamp) followed by compactly
//! encoded records (LEB128 varints, zigzag timestamp deltas, offsets implicit). A batch is written
//! with one positional write from one reusable buffer. Offsets are contiguous across segments:
//! a segment ends where the next one's base offset begins, so the log start offset is simply the
//! first segment's base offset and survives restarts without a checkpoint file.
//!
//! Indexes are sparse (one entry per `index_interval_bytes` of log, always one for the first
//! batch) and only ever speed things up: every read re-validates what it finds (CRC, offset
//! continuity), so an index that is sparser than it could be is harmless and a wrong one is
//! reported as corruption rather than followed blindly. The time index stores the running maximum
//! timestamp ("every record below this offset is at or before T"), which stays sorted even when
//! record timestamps are not; a lookup skips to the last entry below T and then scans batches,
//! skipping those whose max timestamp is below T, so the answer is exact.
//!
//! # Durability
//! [`FsyncPolicy`]: `Never` (page cache only), `Always` (each append fdatasyncs), `GroupCommit`
//! (see `sync`: one leader fdatasyncs while other appenders keep writing; an append returns once a
//! sync that started after its write has finished). A roll fdatasyncs the old segment and its
//! indexes before the new segment is used and fsyncs the directory; segment deletion fsyncs the
//! directory too. A failed fdatasync poisons the log (appends fail until reopened): after such a
//! failure the kernel may have dropped dirty pages, so pretending otherwise would lose
//! acknowledged data silently.
//!
//! Failures that leave nothing half-done are not poisoning: a failed batch write is truncated
//! away and its index entries forgotten; a roll does everything that can fail for want of space
//! or descriptors (seal entry, new files, opening the directory) before anything changes in
//! memory and removes the new files on failure. Both leave the log as it was and the next append
//! retries, so a full disk or a lack of descriptors heals when the resource returns.
//!
//! # File handles
//! The active segment keeps its `.log`, `.index` and `.timeindex` open (pinned). Sealed
//! segments keep none: reads open them through a [`FileCache`] (bounded LRU of `Arc<File>`,
//! shared between the logs of a process through [`Log::open_with_cache`]), so descriptors stay
//! bounded however many segments are retained. Retention and dropping a log forget their
//! handles. Opening a log validates each sealed segment with files it closes again.
//!
//! # Recovery rules (on open)
//! - Leftover `*.tmp` files (interrupted index rewrites) and index files without a `.log` are
//!   deleted.
//! - Sealed segments (all but the last): indexes are validated cheaply (whole entries, first entry
//!   `(0, 0)`, last offset entry points at a batch header with the right base offset inside the
//!   file, time index ends with the seal entry for the next segment's base offset). If that fails
//!   or a file is missing, the segment is scanned in full and its indexes rewritten atomically;
//!   a bad batch found by that scan is [`OpenError::Corruption`] naming the file and position.
//!   Sealed data is never truncated. Corruption inside a sealed segment whose index is fine is
//!   found by the CRC check of the read that touches it ([`ReadError::Corruption`]).
//! - The active segment is scanned in full (CRC, framing, offset continuity); the first bad or
//!   incomplete batch and everything after it is truncated, reported as
//!   [`OpenOutcome::truncated`] and in a `warn` log line. Its indexes are rebuilt from that scan
//!   and rewritten only if they differ (then listed in [`OpenOutcome::rebuilt_indexes`]). Always
//!   rebuilding the active index is the simplest sound rule: nothing about it needs to have been
//!   synced. The cost is reading the active segment once per open (at most `segment_bytes`); a
//!   recovery-point checkpoint could bound that later.
//!
//! # Retention
//! Only whole sealed segments are deleted, oldest first. Age: a segment expires when its newest
//! record timestamp (not the file mtime, which copying or restoring files would change) is older
//! than `now - retention_ms`. Size: the oldest sealed segments go while the total `.log` size
//! exceeds `retention_bytes`. Both policies delete a prefix; the longer prefix wins.

mod batch;
mod config;
mod error;
mod fdcache;
mod index;
mod open;
mod read;
mod record;
mod retention;
mod segment;
mod sync;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

pub use bytes::Bytes;
pub use config::{DEFAULT_RETENTION_MS, DEFAULT_SEGMENT_BYTES, FsyncPolicy, LogConfig};
pub use error::{AppendError, LookupError, OpenError, ReadError, RetentionError, SyncError};
pub use fdcache::{DEFAULT_OPEN_FILES, FileCache, is_disk_full, is_out_of_descriptors};
pub use record::{Header, NewRecord, Record};

use index::TimeEntry;
use segment::{BatchCursor, IndexPolicy, Segment};
use sync::SyncCoordinator;

/// Describes one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub base_offset: u64,
    /// Offset after the segment's last record (`== base_offset` when empty).
    pub next_offset: u64,
    /// Bytes of valid batches in the `.log` file.
    pub size_bytes: u64,
    /// Largest record timestamp in the segment; `None` when empty.
    pub max_timestamp_ms: Option<i64>,
    pub path: PathBuf,
    pub sealed: bool,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    pub base_offset: u64,
    pub last_offset: u64,
    /// Encoded size of the batch on disk.
    pub batch_bytes: u64,
    /// A new segment was started for this batch.
    pub rolled: bool,
    /// The batch was fdatasync'd before returning (`Always`, `GroupCommit`).
    pub synced: bool,
}

/// What a read returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    pub records: Vec<Record>,
    /// Offset to read next (one past the last returned record, or the requested offset).
    pub next_offset: u64,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    /// Sum of the encoded sizes of the returned records.
    pub bytes: u64,
}

/// A torn or corrupt tail cut off the active segment on open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    pub path: PathBuf,
    pub valid_bytes: u64,
    pub truncated_bytes: u64,
    pub reason: String,
}

/// What opening the log found and repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOutcome {
    pub segments: usize,
    pub log_start_offset: u64,
    pub high_watermark: u64,
    pub truncated: Option<Truncation>,
    pub rebuilt_indexes: Vec<PathBuf>,
}

/// Segments retention would delete now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPlan {
    pub new_log_start_offset: Option<u64>,
    pub segments: Vec<SegmentInfo>,
}

/// What retention deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub deleted: Vec<SegmentInfo>,
    pub log_start_offset: u64,
}

#[derive(Debug, Clone, Copy)]
struct Retention {
    retention_ms: Option<u64>,
    retention_bytes: Option<u64>,
}

#[derive(Debug)]
struct Writer {
    /// Reused for every batch so appends do not allocate in the steady state.
    buf: Vec<u8>,
    active: Arc<Segment>,
    bytes_since_index: u64,
    /// Set when a failed write or roll could not be rolled back cleanly.
    poisoned: Option<String>,
}

/// A partition log. `Send + Sync`; every method takes `&self` except [`Log::close`].
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    segment_bytes: u64,
    index_policy: IndexPolicy,
    fsync: FsyncPolicy,
    retention: RwLock<Retention>,
    /// Oldest first; the last one is the active segment. Never empty.
    segments: RwLock<Vec<Arc<Segment>>>,
    writer: Mutex<Writer>,
    high_watermark: AtomicU64,
    log_start_offset: AtomicU64,
    sync: SyncCoordinator,
    sync_failed: AtomicBool,
    retention_lock: Mutex<()>,
    /// Told how long each fdatasync of an append took (metrics).
    sync_observer: std::sync::OnceLock<SyncObserver>,
    /// Where sealed segments' files are opened (shared with the other logs of the process).
    cache: Arc<FileCache>,
}

/// Receives the duration of every fdatasync that makes appends durable (`Always` and group
/// commit), e.g. to feed a latency histogram.
#[derive(Clone)]
pub struct SyncObserver(pub Arc<dyn Fn(std::time::Duration) + Send + Sync>);

impl std::fmt::Debug for SyncObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncObserver")
    }
}

/// Size of the first positional read of a fetch: what `max_records` records of the segment's
/// average encoded size take (plus the sparse index's look-back), capped by `max_bytes`.
/// Sizing it from `max_bytes` alone read (and zeroed) up to 8 MiB per fetch to return, say,
/// 500 records of 100 bytes; a short guess costs one more read, never a wrong answer.
fn read_chunk_bytes(seg: &Segment, max_records: usize, max_bytes: u64) -> usize {
    const MIN_CHUNK_BYTES: u64 = 16 << 10;
    const MAX_CHUNK_BYTES: u64 = 8 << 20;
    let records = seg.next_offset().saturating_sub(seg.base_offset).max(1);
    let average = seg.size_bytes().div_ceil(records).max(1);
    let wanted =
        average.saturating_mul(max_records as u64).saturating_mul(9) / 8 + INDEX_LOOK_BACK_BYTES;
    wanted
        .min(max_bytes.saturating_add(INDEX_LOOK_BACK_BYTES))
        .clamp(MIN_CHUNK_BYTES, MAX_CHUNK_BYTES) as usize
}

/// Bytes a read may start before the wanted offset: the sparse index points at a batch at or
/// before it, one index interval back at most (the default interval).
const INDEX_LOOK_BACK_BYTES: u64 = 4096;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn info(s: &Segment) -> SegmentInfo {
    let next_offset = s.next_offset();
    SegmentInfo {
        base_offset: s.base_offset,
        next_offset,
        size_bytes: s.size_bytes(),
        max_timestamp_ms: (next_offset > s.base_offset).then(|| s.max_timestamp_ms()),
        path: s.path.clone(),
        sealed: s.is_sealed(),
    }
}

/// `(base_offset, extension)` of a segment file name, if it is one.
fn parse_name(name: &str) -> Option<(u64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, ext))
}

impl Log {
    /// The directory holding this log's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Registers the observer of fdatasync durations (the first registration wins).
    pub fn observe_syncs(&self, observer: SyncObserver) {
        let _ = self.sync_observer.set(observer);
    }

    /// fdatasync of a segment file, timed for the observer.
    fn timed_sync(&self, file: &File) -> io::Result<()> {
        let started = std::time::Instant::now();
        let result = file.sync_data();
        if let Some(observer) = self.sync_observer.get() {
            (observer.0)(started.elapsed());
        }
        result
    }

    /// The durability policy [`Log::append`] applies.
    pub fn fsync_policy(&self) -> FsyncPolicy {
        self.fsync
    }

    /// Appends one batch (consecutive offsets) and returns once it is as durable as the policy
    /// demands (`Never`: written; `Always`: fdatasync'd by this call; `GroupCommit`: a shared
    /// fdatasync covering it has finished).
    pub fn append(&self, records: &[NewRecord]) -> Result<AppendOutcome, AppendError> {
        let (mut out, seg, file) = self.write_batch(records)?;
        match self.fsync {
            FsyncPolicy::Never => {}
            FsyncPolicy::Always => {
                if let Err(source) = self.timed_sync(&file) {
                    let e = SyncError::Io {
                        path: seg.path.clone(),
                        source: Arc::new(source),
                    };
                    self.sync_failed.store(true, Ordering::Release);
                    self.sync.fail(e.clone());
                    return Err(e.into());
                }
                // Everything below this batch was written before it (writer lock order) to this
                // segment or to an older one that was synced when it was sealed.
                self.sync.advance(out.last_offset + 1);
                out.synced = true;
            }
            FsyncPolicy::GroupCommit => {
                self.wait_durable(out.last_offset + 1)?;
                out.synced = true;
            }
        }
        Ok(out)
    }

    /// Appends without waiting for any sync (the server's acks=leader): in the page cache only.
    pub fn append_buffered(&self, records: &[NewRecord]) -> Result<AppendOutcome, AppendError> {
        self.write_batch(records).map(|(out, _, _)| out)
    }

    /// Makes everything appended so far durable.
    pub fn sync(&self) -> Result<(), SyncError> {
        self.wait_durable(self.high_watermark())
    }

    fn wait_durable(&self, target: u64) -> Result<(), SyncError> {
        self.sync.wait_durable(target, || {
            // Watermark first, then the active segment: see the `sync` module doc.
            let covered = self.high_watermark.load(Ordering::Acquire);
            // Taken under the segments lock, where the last segment is the active one and has
            // its file pinned (a roll unpins the old one under the write lock), so a concurrent
            // roll cannot make this sync open a file through the cache.
            let (seg, file) = {
                let segs = self.segments.read().unwrap_or_else(|p| p.into_inner());
                let seg = segs
                    .last()
                    .cloned()
                    .expect("a log always has an active segment");
                let file = seg.pinned_log_file();
                (seg, file)
            };
            debug_assert!(file.is_some(), "the last segment's file is pinned");
            let file = match file {
                Some(f) => Ok(f),
                None => seg.log_file(),
            };
            file.and_then(|f| self.timed_sync(&f)).map_err(|source| {
                self.sync_failed.store(true, Ordering::Release);
                SyncError::Io {
                    path: seg.path.clone(),
                    source: Arc::new(source),
                }
            })?;
            Ok(covered)
        })
    }

    fn poisoned(&self, w: &Writer) -> Option<String> {
        if let Some(p) = &w.poisoned {
            return Some(p.clone());
        }
        if self.sync_failed.load(Ordering::Acquire) {
            return Some(self.sync.failure().map_or_else(
                || "an earlier fdatasync failed".to_owned(),
                |e| e.to_string(),
            ));
        }
        None
    }

    /// Encodes and writes one batch under the writer lock; publishes it to readers. Returns the
    /// segment written to and its pinned file (for the sync the policy asks for).
    fn write_batch(
        &self,
        records: &[NewRecord],
    ) -> Result<(AppendOutcome, Arc<Segment>, Arc<File>), AppendError> {
        if records.is_empty() {
            return Err(AppendError::EmptyBatch);
        }
        let mut w = lock(&self.writer);
        if let Some(detail) = self.poisoned(&w) {
            return Err(AppendError::Poisoned { detail });
        }
        if records.len() > u32::MAX as usize {
            return Err(AppendError::InvalidRecord {
                index: u32::MAX as usize,
                detail: "more than u32::MAX records in one batch".to_owned(),
            });
        }
        let base_offset = w.active.next_offset();
        let mut buf = std::mem::take(&mut w.buf);
        let enc = batch::encode(&mut buf, base_offset, records);
        w.buf = buf;
        let max = self.segment_bytes.min(u64::from(u32::MAX));
        if enc.batch_bytes > max {
            return Err(AppendError::BatchTooLarge {
                batch_bytes: enc.batch_bytes,
                max,
            });
        }
        let mut rolled = false;
        let size = w.active.size_bytes();
        if size > 0 && size + enc.batch_bytes > self.segment_bytes {
            self.roll_locked(&mut w)?;
            rolled = true;
        }
        let seg = w.active.clone();
        let pos = seg.size_bytes();
        debug_assert!(pos + enc.batch_bytes <= self.segment_bytes);
        debug_assert_eq!(seg.next_offset(), base_offset);
        debug_assert!(!seg.is_sealed());
        let io_err = |p: &Path| {
            let p = p.to_owned();
            move |source| AppendError::Io { path: p, source }
        };
        // Pinned: the active segment's file is never evicted, so this does not open anything.
        let file = seg.log_file().map_err(io_err(&seg.path))?;
        // Undone if anything below fails, so a failed append leaves the indexes and the
        // writer's counters exactly as they were (the next append retries from the same state).
        let undo = (
            seg.index.active_len(),
            seg.time_index.active_len(),
            w.bytes_since_index,
        );
        let rollback_indexes = |w: &mut Writer| {
            seg.index.rollback_to(undo.0);
            seg.time_index.rollback_to(undo.1);
            w.bytes_since_index = undo.2;
        };
        if let Some((oe, te)) = self.index_policy.entries_for(
            pos,
            seg.rel(base_offset),
            w.bytes_since_index,
            seg.max_timestamp_ms(),
        ) {
            // Entries first: they point at `pos`, where this batch will be, so they never
            // dangle once the write succeeds (and are rolled back when it does not).
            let written = seg
                .index
                .append(oe)
                .map_err(io_err(&seg.index.path))
                .and_then(|()| {
                    seg.time_index
                        .append(te)
                        .map_err(io_err(&seg.time_index.path))
                });
            if let Err(e) = written {
                rollback_indexes(&mut w);
                return Err(e);
            }
            w.bytes_since_index = 0;
        }
        if let Err(source) = file.write_all_at(&w.buf, pos) {
            rollback_indexes(&mut w);
            // Undo a partial write so the next batch lands on a clean boundary.
            if let Err(e) = file.set_len(pos) {
                w.poisoned = Some(format!(
                    "could not roll back a failed write on {}: {e}",
                    seg.path.display()
                ));
            }
            return Err(AppendError::Io {
                path: seg.path.clone(),
                source,
            });
        }
        let next_offset = base_offset + u64::from(enc.record_count);
        w.bytes_since_index += enc.batch_bytes;
        // Segment first, then the watermark: a reader that sees the watermark sees the bytes.
        seg.publish(pos + enc.batch_bytes, next_offset, enc.max_timestamp_ms);
        self.high_watermark.store(next_offset, Ordering::Release);
        drop(w);
        Ok((
            AppendOutcome {
                base_offset,
                last_offset: next_offset - 1,
                batch_bytes: enc.batch_bytes,
                rolled,
                synced: false,
            },
            seg,
            file,
        ))
    }

    /// Seals the active segment and starts a new one if the active one holds any data. Returns
    /// whether it rolled. (Appends roll on their own; this is for operators and tests.)
    pub fn roll(&self) -> Result<bool, AppendError> {
        let mut w = lock(&self.writer);
        if let Some(detail) = self.poisoned(&w) {
            return Err(AppendError::Poisoned { detail });
        }
        if w.active.size_bytes() == 0 {
            return Ok(false);
        }
        self.roll_locked(&mut w)?;
        Ok(true)
    }

    /// Seals the active segment (seal entry, fdatasync of log and indexes), creates the next one
    /// and fsyncs the directory.
    ///
    /// Everything that can fail for want of space or descriptors (writing the seal entry,
    /// creating the new files, opening the directory) happens before anything changes in
    /// memory, and a failure there removes the new files again: the log stays as it was, not
    /// poisoned, and the next append retries the roll. A failed fsync poisons the log: after it
    /// the kernel may have dropped dirty pages of the old segment.
    fn roll_locked(&self, w: &mut Writer) -> Result<(), AppendError> {
        enum Failure {
            /// Nothing changed; the roll can be retried.
            RolledBack(PathBuf, io::Error),
            /// A sync failed: the log must not take more appends.
            Fatal(PathBuf, io::Error),
        }
        use Failure::{Fatal, RolledBack};
        let old = w.active.clone();
        let next = old.next_offset();
        let seal_entry = TimeEntry {
            timestamp_ms: old.max_timestamp_ms(),
            rel_offset: old.rel(next),
        };
        let result = (|| -> Result<Segment, Failure> {
            old.time_index
                .prepare_seal(Some(seal_entry))
                .map_err(|e| RolledBack(old.time_index.path.clone(), e))?;
            old.index
                .prepare_seal(None)
                .map_err(|e| RolledBack(old.index.path.clone(), e))?;
            let new = self
                .cache
                .retry_out_of_descriptors(|| Segment::create(&self.dir, next, &self.cache))
                .map_err(|e| RolledBack(self.dir.clone(), e))?;
            let undo = |failure: Failure| {
                new.forget_files();
                for p in [&new.path, &new.index.path, &new.time_index.path] {
                    let _ = fs::remove_file(p);
                }
                failure
            };
            let dir = self
                .cache
                .retry_out_of_descriptors(|| File::open(&self.dir))
                .map_err(|e| undo(RolledBack(self.dir.clone(), e)))?;
            let old_file = old
                .log_file()
                .map_err(|e| undo(RolledBack(old.path.clone(), e)))?;
            old_file
                .sync_data()
                .map_err(|e| undo(Fatal(old.path.clone(), e)))?;
            old.time_index
                .sync()
                .map_err(|e| undo(Fatal(old.time_index.path.clone(), e)))?;
            old.index
                .sync()
                .map_err(|e| undo(Fatal(old.index.path.clone(), e)))?;
            dir.sync_all()
                .map_err(|e| undo(Fatal(self.dir.clone(), e)))?;
            Ok(new)
        })();
        match result {
            Ok(new) => {
                let new = Arc::new(new);
                // Sealed flag and the new segment change together, so retention (which deletes
                // sealed segments under the same lock) can never see the last segment sealed,
                // and the last segment in the list always has its file pinned.
                let mut segs = self.segments.write().unwrap_or_else(|p| p.into_inner());
                old.time_index.commit_seal(Some(seal_entry));
                old.index.commit_seal(None);
                old.mark_sealed();
                segs.push(new.clone());
                drop(segs);
                w.active = new;
                w.bytes_since_index = 0;
                self.sync.advance(next);
                tracing::debug!(path = %old.path.display(), next_offset = next, "rolled segment");
                Ok(())
            }
            Err(RolledBack(path, source)) => {
                tracing::warn!(
                    path = %path.display(),
                    error = %source,
                    "segment roll failed and was rolled back"
                );
                Err(AppendError::Io { path, source })
            }
            Err(Fatal(path, source)) => {
                w.poisoned = Some(format!(
                    "segment roll failed on {}: {source}",
                    path.display()
                ));
                Err(AppendError::Io { path, source })
            }
        }
    }

    pub fn log_start_offset(&self) -> u64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// The next offset to be assigned.
    pub fn high_watermark(&self) -> u64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Offsets below this are known to be on disk (fdatasync'd).
    pub fn durable_offset(&self) -> u64 {
        self.sync.durable_offset()
    }

    /// Total size of the `.log` files (what `retention_bytes` limits).
    pub fn size_bytes(&self) -> u64 {
        self.segments
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|s| s.size_bytes())
            .sum()
    }

    /// All segments, oldest first; the last one is active.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.segments
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|s| info(s))
            .collect()
    }

    /// Makes everything durable and closes the files.
    pub fn close(self) -> Result<(), SyncError> {
        self.sync()?;
        let active = lock(&self.writer).active.clone();
        for (path, r) in [
            (&active.index.path, active.index.sync()),
            (&active.time_index.path, active.time_index.sync()),
        ] {
            r.map_err(|source| SyncError::Io {
                path: path.clone(),
                source: Arc::new(source),
            })?;
        }
        Ok(())
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // The cache outlives the log; its handles on this log's files must not (they would keep
        // deleted files' space and descriptors, and a reopened log must see its files afresh).
        self.cache.forget_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests;
