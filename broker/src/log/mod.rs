//! Partition log storage engine: synchronous, thread-safe, no HTTP or tokio types.
//!
//! One [`Log`] is one partition: a directory of segments. Appends go to the active (last)
//! segment; when it would grow past `segment_bytes` it is sealed and a new one starts.
//!
//! # Module map
//! - `mod.rs` (this file): [`Log`], its outcomes and the open / append / read / retention logic.
//! - `config`: [`LogConfig`] and [`FsyncPolicy`].
//! - `record`: [`NewRecord`], [`Record`], [`Header`].
//! - `batch`: the on-disk batch format (encode, header parse, CRC32C, record decode).
//! - `index`: the sparse `.index` (offset → position) and `.timeindex` (timestamp → offset).
//! - `segment`: one segment's files, the batch cursor used by reads and recovery, and the
//!   open-time validation of sealed and active segments.
//! - `sync`: the group-commit coordinator.
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
mod index;
mod record;
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
    /// Opens (creating if missing) the log in `dir`, recovering as described in the module doc.
    pub fn open(dir: &Path, config: LogConfig) -> Result<(Log, OpenOutcome), OpenError> {
        config
            .validate()
            .map_err(|detail| OpenError::InvalidConfig { detail })?;
        let io_err = |p: &Path| {
            let p = p.to_owned();
            move |source| OpenError::Io { path: p, source }
        };
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let policy = IndexPolicy {
            interval_bytes: u64::from(config.index_interval_bytes),
        };

        let mut bases = BTreeSet::new();
        let mut index_files = Vec::new();
        let mut dir_dirty = false;
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((base, ext)) = parse_name(name) else {
                continue;
            };
            match ext {
                "log" => {
                    bases.insert(base);
                }
                "index" | "timeindex" => index_files.push((base, entry.path())),
                _ if ext.ends_with(".tmp") => {
                    fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
                    dir_dirty = true;
                }
                _ => {}
            }
        }
        for (base, path) in index_files {
            if !bases.contains(&base) {
                // Left behind by a deletion interrupted between the .log and its indexes.
                tracing::info!(path = %path.display(), "deleting orphan index file");
                fs::remove_file(&path).map_err(io_err(&path))?;
                dir_dirty = true;
            }
        }
        if bases.is_empty() {
            Segment::create(dir, 0).map_err(io_err(dir))?;
            bases.insert(0);
            dir_dirty = true;
        }

        let bases: Vec<u64> = bases.into_iter().collect();
        let mut segments = Vec::with_capacity(bases.len());
        let mut rebuilt_indexes = Vec::new();
        for w in bases.windows(2) {
            let s = segment::open_sealed(dir, w[0], w[1], policy)?;
            rebuilt_indexes.extend(s.rebuilt);
            segments.push(Arc::new(s.segment));
        }
        let last = *bases.last().expect("at least one segment");
        let active = segment::open_active(dir, last, policy)?;
        rebuilt_indexes.extend(active.rebuilt);
        let truncated = active
            .truncated
            .map(|(valid_bytes, truncated_bytes, reason)| Truncation {
                path: active.segment.path.clone(),
                valid_bytes,
                truncated_bytes,
                reason,
            });
        if truncated.is_some() || !rebuilt_indexes.is_empty() {
            dir_dirty = true;
        }
        // Whatever survived a process crash is in the page cache; make it durable now so that
        // the durable offset can start at the high watermark.
        active
            .segment
            .file
            .sync_data()
            .map_err(io_err(&active.segment.path))?;
        if dir_dirty {
            fsync_dir(dir).map_err(io_err(dir))?;
        }
        let active_seg = Arc::new(active.segment);
        let high_watermark = active_seg.next_offset();
        segments.push(active_seg.clone());
        let log_start_offset = segments[0].base_offset;
        let outcome = OpenOutcome {
            segments: segments.len(),
            log_start_offset,
            high_watermark,
            truncated,
            rebuilt_indexes,
        };
        tracing::info!(
            dir = %dir.display(),
            segments = outcome.segments,
            log_start_offset,
            high_watermark,
            rebuilt_indexes = outcome.rebuilt_indexes.len(),
            "opened log"
        );
        let log = Log {
            dir: dir.to_owned(),
            segment_bytes: config.segment_bytes,
            index_policy: policy,
            fsync: config.fsync,
            retention: RwLock::new(Retention {
                retention_ms: config.retention_ms,
                retention_bytes: config.retention_bytes,
            }),
            segments: RwLock::new(segments),
            writer: Mutex::new(Writer {
                buf: Vec::new(),
                active: active_seg,
                bytes_since_index: active.bytes_since_index,
                poisoned: None,
            }),
            high_watermark: AtomicU64::new(high_watermark),
            log_start_offset: AtomicU64::new(log_start_offset),
            sync: SyncCoordinator::new(high_watermark),
            sync_failed: AtomicBool::new(false),
            retention_lock: Mutex::new(()),
            sync_observer: std::sync::OnceLock::new(),
        };
        Ok((log, outcome))
    }

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
        let (mut out, seg) = self.write_batch(records)?;
        match self.fsync {
            FsyncPolicy::Never => {}
            FsyncPolicy::Always => {
                if let Err(source) = self.timed_sync(&seg.file) {
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
        self.write_batch(records).map(|(out, _)| out)
    }

    /// Makes everything appended so far durable.
    pub fn sync(&self) -> Result<(), SyncError> {
        self.wait_durable(self.high_watermark())
    }

    fn wait_durable(&self, target: u64) -> Result<(), SyncError> {
        self.sync.wait_durable(target, || {
            // Watermark first, then the active segment: see the `sync` module doc.
            let covered = self.high_watermark.load(Ordering::Acquire);
            let seg = self
                .segments
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .last()
                .cloned()
                .expect("a log always has an active segment");
            self.timed_sync(&seg.file).map_err(|source| {
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

    /// Encodes and writes one batch under the writer lock; publishes it to readers.
    fn write_batch(
        &self,
        records: &[NewRecord],
    ) -> Result<(AppendOutcome, Arc<Segment>), AppendError> {
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
        let io_err = |p: &Path| {
            let p = p.to_owned();
            move |source| AppendError::Io { path: p, source }
        };
        if let Some((oe, te)) = self.index_policy.entries_for(
            pos,
            seg.rel(base_offset),
            w.bytes_since_index,
            seg.max_timestamp_ms(),
        ) {
            // Entries first: they point at `pos`, where this batch (or, if its write fails, the
            // next one with the same base offset) will be, so they never dangle.
            seg.index.append(oe).map_err(io_err(&seg.index.path))?;
            seg.time_index
                .append(te)
                .map_err(io_err(&seg.time_index.path))?;
            w.bytes_since_index = 0;
        }
        if let Err(source) = seg.file.write_all_at(&w.buf, pos) {
            // Undo a partial write so the next batch lands on a clean boundary.
            if let Err(e) = seg.file.set_len(pos) {
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
    /// and fsyncs the directory. Any failure poisons the log: a half-sealed segment must not
    /// receive more appends.
    fn roll_locked(&self, w: &mut Writer) -> Result<(), AppendError> {
        let old = w.active.clone();
        let next = old.next_offset();
        let result = (|| -> Result<Segment, (PathBuf, io::Error)> {
            old.file.sync_data().map_err(|e| (old.path.clone(), e))?;
            old.time_index
                .seal(Some(TimeEntry {
                    timestamp_ms: old.max_timestamp_ms(),
                    rel_offset: old.rel(next),
                }))
                .map_err(|e| (old.time_index.path.clone(), e))?;
            old.index
                .seal(None)
                .map_err(|e| (old.index.path.clone(), e))?;
            let new = Segment::create(&self.dir, next).map_err(|e| (self.dir.clone(), e))?;
            fsync_dir(&self.dir).map_err(|e| (self.dir.clone(), e))?;
            Ok(new)
        })();
        match result {
            Ok(new) => {
                let new = Arc::new(new);
                // Sealed flag and the new segment change together, so retention (which deletes
                // sealed segments under the same lock) can never see the last segment sealed.
                let mut segs = self.segments.write().unwrap_or_else(|p| p.into_inner());
                old.mark_sealed();
                segs.push(new.clone());
                drop(segs);
                w.active = new;
                w.bytes_since_index = 0;
                self.sync.advance(next);
                tracing::debug!(path = %old.path.display(), next_offset = next, "rolled segment");
                Ok(())
            }
            Err((path, source)) => {
                w.poisoned = Some(format!(
                    "segment roll failed on {}: {source}",
                    path.display()
                ));
                Err(AppendError::Io { path, source })
            }
        }
    }

    /// Whole records from `offset`: at most `max_records`, and at most `max_bytes` of encoded
    /// size except that the first record is always returned (so one big record is never stuck).
    /// `offset == high_watermark` gives an empty outcome; outside `[log_start, high_watermark]`
    /// is [`ReadError::OffsetOutOfRange`].
    pub fn read(
        &self,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadOutcome, ReadError> {
        // Watermark first: the segment sizes read afterwards cover everything below it.
        let high_watermark = self.high_watermark();
        let log_start = self.log_start_offset();
        let oor = |log_start| ReadError::OffsetOutOfRange {
            requested: offset,
            log_start,
            high_watermark,
        };
        if offset < log_start || offset > high_watermark {
            return Err(oor(log_start));
        }
        let mut out = ReadOutcome {
            records: Vec::new(),
            next_offset: offset,
            high_watermark,
            log_start_offset: log_start,
            bytes: 0,
        };
        if offset == high_watermark || max_records == 0 {
            return Ok(out);
        }
        let segs: Vec<Arc<Segment>> = {
            let g = self.segments.read().unwrap_or_else(|p| p.into_inner());
            let i = g.partition_point(|s| s.base_offset <= offset);
            if i == 0 {
                // Retention moved the start between our two loads.
                drop(g);
                return Err(oor(self.log_start_offset()));
            }
            g[i - 1..].to_vec()
        };
        let max_bytes = max_bytes as u64;
        let mut next = offset;
        'segments: for seg in &segs {
            if next >= high_watermark {
                break;
            }
            let end = seg.size_bytes();
            if next >= seg.next_offset() {
                continue;
            }
            let start = seg.seek_position(next)?;
            let hint = read_chunk_bytes(seg, max_records, max_bytes);
            let mut cur = BatchCursor::new(&seg.file, start, end, hint);
            let mut expected: Option<u64> = None;
            let corrupt = |position, detail: String| ReadError::Corruption {
                path: seg.path.clone(),
                position,
                detail,
            };
            loop {
                let position = cur.pos;
                let h = match cur.header() {
                    Ok(Some(h)) => h,
                    Ok(None) => break,
                    Err(f) => return Err(f.into_scan_error(&seg.path).into()),
                };
                match expected {
                    None if h.base_offset > next => {
                        return Err(corrupt(
                            position,
                            format!(
                                "index entry leads to base offset {} past offset {next}",
                                h.base_offset
                            ),
                        ));
                    }
                    Some(e) if h.base_offset != e => {
                        return Err(corrupt(
                            position,
                            format!("batch base offset {} where {e} was expected", h.base_offset),
                        ));
                    }
                    _ => {}
                }
                expected = Some(h.next_offset());
                if h.next_offset() <= next {
                    cur.skip(&h);
                    continue;
                }
                let batch = cur
                    .batch(&h)
                    .map_err(|f| ReadError::from(f.into_scan_error(&seg.path)))?;
                let mut full = false;
                batch::decode_records(&batch, &h, |r, size| {
                    if r.offset < next {
                        return true;
                    }
                    if r.offset >= high_watermark
                        || out.records.len() >= max_records
                        || (!out.records.is_empty() && out.bytes + size > max_bytes)
                    {
                        full = true;
                        return false;
                    }
                    out.bytes += size;
                    next = r.offset + 1;
                    out.records.push(r);
                    true
                })
                .map_err(|detail| corrupt(position, detail))?;
                if full || out.records.len() >= max_records || next >= high_watermark {
                    break 'segments;
                }
            }
        }
        out.next_offset = next;
        Ok(out)
    }

    /// First offset whose timestamp is at or after `timestamp_ms`, `None` if there is none.
    /// Exact even when timestamps are not monotonic (see the module doc).
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<u64>, LookupError> {
        let high_watermark = self.high_watermark();
        let segs = self
            .segments
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for seg in &segs {
            if seg.next_offset() == seg.base_offset || seg.max_timestamp_ms() < timestamp_ms {
                continue;
            }
            let from = seg.time_seek_offset(timestamp_ms)?;
            let start = seg.seek_position(from)?;
            let mut cur = BatchCursor::new(&seg.file, start, seg.size_bytes(), 256 << 10);
            loop {
                let position = cur.pos;
                let h = match cur.header() {
                    Ok(Some(h)) => h,
                    Ok(None) => break,
                    Err(f) => return Err(f.into_scan_error(&seg.path).into()),
                };
                if h.base_offset >= high_watermark {
                    return Ok(None);
                }
                if h.next_offset() <= from || h.max_timestamp_ms < timestamp_ms {
                    cur.skip(&h);
                    continue;
                }
                let batch = cur
                    .batch(&h)
                    .map_err(|f| LookupError::from(f.into_scan_error(&seg.path)))?;
                let mut found = None;
                batch::decode_records(&batch, &h, |r, _| {
                    if r.offset >= from && r.timestamp_ms >= timestamp_ms {
                        found = Some(r.offset);
                        return false;
                    }
                    true
                })
                .map_err(|detail| LookupError::Corruption {
                    path: seg.path.clone(),
                    position,
                    detail,
                })?;
                if let Some(o) = found {
                    return Ok((o < high_watermark).then_some(o));
                }
            }
        }
        Ok(None)
    }

    /// Sealed segments retention would delete at `now_ms` (see the module doc for the rules).
    /// Never the active segment.
    pub fn retention_plan(&self, now_ms: i64) -> RetentionPlan {
        let r = *self.retention.read().unwrap_or_else(|p| p.into_inner());
        let segs = self
            .segments
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let sealed: Vec<&Arc<Segment>> = segs.iter().take_while(|s| s.is_sealed()).collect();
        let by_age = r.retention_ms.map_or(0, |ms| {
            let cutoff = now_ms.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX));
            sealed
                .iter()
                .take_while(|s| s.max_timestamp_ms() < cutoff)
                .count()
        });
        let by_size = r.retention_bytes.map_or(0, |limit| {
            let mut total: u64 = segs.iter().map(|s| s.size_bytes()).sum();
            let mut n = 0;
            for s in &sealed {
                if total <= limit {
                    break;
                }
                total -= s.size_bytes();
                n += 1;
            }
            n
        });
        let n = by_age.max(by_size);
        RetentionPlan {
            new_log_start_offset: n.checked_sub(1).map(|i| sealed[i].next_offset()),
            segments: sealed[..n].iter().map(|s| info(s)).collect(),
        }
    }

    /// Deletes the sealed segments that lie entirely below `offset`, oldest first, then fsyncs
    /// the directory. The log start moves to the first remaining segment.
    pub fn delete_segments_before(&self, offset: u64) -> Result<RetentionOutcome, RetentionError> {
        let _serial = lock(&self.retention_lock);
        let removed: Vec<Arc<Segment>> = {
            let mut segs = self.segments.write().unwrap_or_else(|p| p.into_inner());
            let n = segs
                .iter()
                .take(segs.len() - 1) // never the active segment
                .take_while(|s| s.is_sealed() && s.next_offset() <= offset)
                .count();
            debug_assert!(n < segs.len());
            let removed = segs.drain(..n).collect();
            self.log_start_offset
                .store(segs[0].base_offset, Ordering::Release);
            removed
        };
        let log_start_offset = self.log_start_offset();
        if removed.is_empty() {
            return Ok(RetentionOutcome {
                deleted: Vec::new(),
                log_start_offset,
            });
        }
        let mut deleted = Vec::with_capacity(removed.len());
        for seg in &removed {
            // The .log goes first: a crash after it leaves only orphan indexes, which open
            // deletes, never a log without the segment before it.
            for p in [&seg.path, &seg.index.path, &seg.time_index.path] {
                match fs::remove_file(p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(RetentionError::Io {
                            path: p.clone(),
                            source,
                        });
                    }
                }
            }
            deleted.push(info(seg));
        }
        fsync_dir(&self.dir).map_err(|source| RetentionError::Io {
            path: self.dir.clone(),
            source,
        })?;
        tracing::info!(
            dir = %self.dir.display(),
            deleted_segments = deleted.len(),
            log_start_offset,
            "deleted segments"
        );
        Ok(RetentionOutcome {
            deleted,
            log_start_offset,
        })
    }

    /// [`Log::retention_plan`] followed by [`Log::delete_segments_before`].
    pub fn apply_retention(&self, now_ms: i64) -> Result<RetentionOutcome, RetentionError> {
        match self.retention_plan(now_ms).new_log_start_offset {
            Some(o) => self.delete_segments_before(o),
            None => Ok(RetentionOutcome {
                deleted: Vec::new(),
                log_start_offset: self.log_start_offset(),
            }),
        }
    }

    /// Changes the retention limits used by later plans.
    pub fn set_retention(&self, retention_ms: Option<u64>, retention_bytes: Option<u64>) {
        *self.retention.write().unwrap_or_else(|p| p.into_inner()) = Retention {
            retention_ms,
            retention_bytes,
        };
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

#[cfg(test)]
mod tests;
