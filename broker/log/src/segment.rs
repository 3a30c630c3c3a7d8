//! One segment: its log file, its two indexes, the batch cursor used by reads and recovery, and
//! the open-time validation of sealed and active segments.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;

use super::batch::{BatchHeader, HEADER_BYTES};
use super::error::ScanError;
use super::fdcache::{FileCache, Handle};
use super::index::{self, Entry, IndexFile, OffsetEntry, TimeEntry};

/// `00000000000000000042` for base offset 42.
pub(crate) fn file_stem(base_offset: u64) -> String {
    format!("{base_offset:020}")
}

pub(crate) fn log_path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(format!("{}.log", file_stem(base_offset)))
}

pub(crate) fn index_path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(format!("{}.index", file_stem(base_offset)))
}

pub(crate) fn time_index_path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(format!("{}.timeindex", file_stem(base_offset)))
}

/// A segment shared between the writer, readers and retention. Sizes and offsets are published
/// with Release stores after the bytes are written, so a reader never sees a half-written batch.
/// The active segment's files are pinned open; a sealed segment's are opened through the
/// shared handle cache when a read needs them.
#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: u64,
    pub path: PathBuf,
    file: Handle,
    pub index: IndexFile<OffsetEntry>,
    pub time_index: IndexFile<TimeEntry>,
    size_bytes: AtomicU64,
    next_offset: AtomicU64,
    max_timestamp_ms: AtomicI64,
    sealed: AtomicBool,
}

impl Segment {
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes.load(Ordering::Acquire)
    }
    pub fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }
    pub fn max_timestamp_ms(&self) -> i64 {
        self.max_timestamp_ms.load(Ordering::Acquire)
    }
    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// Publishes an appended batch (writer only).
    pub fn publish(&self, size_bytes: u64, next_offset: u64, max_timestamp_ms: i64) {
        self.max_timestamp_ms
            .fetch_max(max_timestamp_ms, Ordering::AcqRel);
        self.next_offset.store(next_offset, Ordering::Release);
        self.size_bytes.store(size_bytes, Ordering::Release);
    }

    /// Marks the segment sealed and closes its pinned handles (after a successful roll; the
    /// indexes were sealed by the caller). Reads open its files through the cache from now on.
    pub fn mark_sealed(&self) {
        self.sealed.store(true, Ordering::Release);
        self.file.unpin();
    }

    /// The `.log` file: pinned for the active segment, from the cache for a sealed one.
    pub fn log_file(&self) -> io::Result<Arc<File>> {
        self.file.get()
    }

    /// The pinned `.log` handle of the active segment (`None` once sealed).
    pub fn pinned_log_file(&self) -> Option<Arc<File>> {
        self.file.pinned_file()
    }

    /// Drops every handle of the segment's files (they are being deleted).
    pub fn forget_files(&self) {
        self.file.forget();
        self.index.forget();
        self.time_index.forget();
    }

    /// Creates a new, empty active segment (the caller fsyncs the directory). On failure the
    /// files it created are removed again, so a failed roll leaves the directory as it was.
    pub fn create(dir: &Path, base_offset: u64, cache: &Arc<FileCache>) -> io::Result<Segment> {
        let result = Self::create_files(dir, base_offset, cache);
        if result.is_err() {
            for p in [
                log_path(dir, base_offset),
                index_path(dir, base_offset),
                time_index_path(dir, base_offset),
            ] {
                let _ = std::fs::remove_file(p);
            }
        }
        result
    }

    fn create_files(dir: &Path, base_offset: u64, cache: &Arc<FileCache>) -> io::Result<Segment> {
        let path = log_path(dir, base_offset);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(Segment {
            base_offset,
            index: IndexFile::create(&index_path(dir, base_offset), cache)?,
            time_index: IndexFile::create(&time_index_path(dir, base_offset), cache)?,
            file: Handle::pinned(&path, file, cache.clone()),
            path,
            size_bytes: AtomicU64::new(0),
            next_offset: AtomicU64::new(base_offset),
            max_timestamp_ms: AtomicI64::new(i64::MIN),
            sealed: AtomicBool::new(false),
        })
    }

    /// Relative offset for index entries; segments are bounded by u32 positions, and a batch has
    /// at least one 40-byte header, so offsets within a segment fit in u32.
    pub fn rel(&self, offset: u64) -> u32 {
        debug_assert!(offset >= self.base_offset);
        u32::try_from(offset - self.base_offset).unwrap_or(u32::MAX)
    }

    /// File position of a batch at or before `offset` (from the sparse index).
    pub fn seek_position(&self, offset: u64) -> Result<u64, ScanError> {
        let rel = self.rel(offset);
        let e = self
            .index
            .last_where(|e| e.rel_offset <= rel)
            .map_err(|source| ScanError::Io {
                path: self.index.path.clone(),
                source,
            })?;
        Ok(e.map_or(0, |e| u64::from(e.position)))
    }

    /// Offset from which a scan for timestamp `ts` must start: every record below it is older.
    pub fn time_seek_offset(&self, ts: i64) -> Result<u64, ScanError> {
        let e = self
            .time_index
            .last_where(|e| e.timestamp_ms < ts)
            .map_err(|source| ScanError::Io {
                path: self.time_index.path.clone(),
                source,
            })?;
        Ok(self.base_offset + e.map_or(0, |e| u64::from(e.rel_offset)))
    }
}

/// What went wrong while walking batches.
#[derive(Debug)]
pub(crate) enum Fault {
    Io(io::Error),
    /// Bytes at `position` are not a valid batch.
    Invalid {
        position: u64,
        detail: String,
    },
}

impl Fault {
    pub fn into_scan_error(self, path: &Path) -> ScanError {
        match self {
            Fault::Io(source) => ScanError::Io {
                path: path.to_owned(),
                source,
            },
            Fault::Invalid { position, detail } => ScanError::Corruption {
                path: path.to_owned(),
                position,
                detail,
            },
        }
    }
}

/// Walks the batches of a file between `pos` and `end` with positional reads into chunks
/// (several batches per read). Chunks are fresh `Bytes`, so decoded records can share them.
#[derive(Debug)]
pub(crate) struct BatchCursor<'a> {
    file: &'a File,
    pub pos: u64,
    end: u64,
    chunk: Bytes,
    chunk_start: u64,
    chunk_hint: usize,
}

impl<'a> BatchCursor<'a> {
    pub fn new(file: &'a File, pos: u64, end: u64, chunk_hint: usize) -> Self {
        BatchCursor {
            file,
            pos,
            end,
            chunk: Bytes::new(),
            chunk_start: pos,
            chunk_hint: chunk_hint.max(HEADER_BYTES),
        }
    }

    /// Makes `[pos, pos + need)` available in the chunk.
    fn fill(&mut self, need: usize) -> Result<(), Fault> {
        let have_from = self.pos.wrapping_sub(self.chunk_start);
        if self.pos >= self.chunk_start && have_from + need as u64 <= self.chunk.len() as u64 {
            return Ok(());
        }
        let len = (self.end - self.pos).min(need.max(self.chunk_hint) as u64) as usize;
        debug_assert!(len >= need);
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, self.pos)
            .map_err(Fault::Io)?;
        self.chunk = Bytes::from(buf);
        self.chunk_start = self.pos;
        Ok(())
    }

    fn slice(&self, len: usize) -> Bytes {
        let from = (self.pos - self.chunk_start) as usize;
        self.chunk.slice(from..from + len)
    }

    /// The header of the batch at the cursor, or `None` at the end. Checks that the whole batch
    /// lies before `end` (a batch running past it is a torn write).
    pub fn header(&mut self) -> Result<Option<BatchHeader>, Fault> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let position = self.pos;
        if self.end - self.pos < HEADER_BYTES as u64 {
            return Err(Fault::Invalid {
                position,
                detail: format!(
                    "{} trailing bytes, short of a batch header",
                    self.end - self.pos
                ),
            });
        }
        self.fill(HEADER_BYTES)?;
        let h = BatchHeader::parse(&self.slice(HEADER_BYTES))
            .map_err(|detail| Fault::Invalid { position, detail })?;
        if self.pos + u64::from(h.batch_bytes) > self.end {
            return Err(Fault::Invalid {
                position,
                detail: format!(
                    "batch of {} bytes runs past the end of the segment ({} bytes left)",
                    h.batch_bytes,
                    self.end - self.pos
                ),
            });
        }
        Ok(Some(h))
    }

    /// The whole batch whose header was just returned, CRC-checked; advances past it.
    pub fn batch(&mut self, h: &BatchHeader) -> Result<Bytes, Fault> {
        let len = h.batch_bytes as usize;
        self.fill(len)?;
        let b = self.slice(len);
        if !h.crc_matches(&b) {
            return Err(Fault::Invalid {
                position: self.pos,
                detail: format!("crc mismatch in batch at base offset {}", h.base_offset),
            });
        }
        self.pos += len as u64;
        Ok(b)
    }

    /// Skips the batch whose header was just returned (no CRC check: nothing of it is used).
    pub fn skip(&mut self, h: &BatchHeader) {
        self.pos += u64::from(h.batch_bytes);
    }
}

/// Result of scanning a segment from the start: where valid data ends and the indexes that
/// describe it.
#[derive(Debug)]
pub(crate) struct Scan {
    pub valid_bytes: u64,
    pub next_offset: u64,
    pub max_timestamp_ms: i64,
    pub index: Vec<OffsetEntry>,
    pub time_index: Vec<TimeEntry>,
    /// Bytes appended since the last index entry (the writer continues counting from here).
    pub bytes_since_index: u64,
    /// First invalid position and why, if the scan stopped before the end of the file.
    pub fault: Option<(u64, String)>,
}

/// Incremental index builder shared by the writer and recovery, so that a rebuilt index is
/// byte-identical to one built while appending.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexPolicy {
    pub interval_bytes: u64,
}

impl IndexPolicy {
    /// Entries to add before a batch at `position` with relative offset `rel`, given the bytes
    /// since the last entry and the running max timestamp of the segment so far.
    pub fn entries_for(
        &self,
        position: u64,
        rel: u32,
        bytes_since_index: u64,
        running_max_ts: i64,
    ) -> Option<(OffsetEntry, TimeEntry)> {
        if position == 0 || bytes_since_index >= self.interval_bytes {
            Some((
                OffsetEntry {
                    rel_offset: rel,
                    position: position as u32,
                },
                TimeEntry {
                    timestamp_ms: running_max_ts,
                    rel_offset: rel,
                },
            ))
        } else {
            None
        }
    }
}

/// Scans every batch of a segment file (CRC, framing, offset continuity), rebuilding its indexes.
/// Stops at the first invalid batch and reports it in `fault`; only I/O errors are errors.
pub(crate) fn scan(
    file: &File,
    path: &Path,
    base_offset: u64,
    file_len: u64,
    policy: IndexPolicy,
) -> Result<Scan, ScanError> {
    let mut cur = BatchCursor::new(file, 0, file_len, 1 << 20);
    let mut s = Scan {
        valid_bytes: 0,
        next_offset: base_offset,
        max_timestamp_ms: i64::MIN,
        index: Vec::new(),
        time_index: Vec::new(),
        bytes_since_index: 0,
        fault: None,
    };
    loop {
        let position = cur.pos;
        let h = match cur.header() {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(Fault::Io(source)) => {
                return Err(ScanError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
            Err(Fault::Invalid { position, detail }) => {
                s.fault = Some((position, detail));
                break;
            }
        };
        if h.base_offset != s.next_offset {
            s.fault = Some((
                position,
                format!(
                    "batch base offset {} where {} was expected",
                    h.base_offset, s.next_offset
                ),
            ));
            break;
        }
        let batch = match cur.batch(&h) {
            Ok(b) => b,
            Err(Fault::Io(source)) => {
                return Err(ScanError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
            Err(Fault::Invalid { position, detail }) => {
                s.fault = Some((position, detail));
                break;
            }
        };
        // The CRC matched; still check the record framing so a writer bug cannot hide.
        if let Err(detail) = super::batch::decode_records(&batch, &h, |_, _| true) {
            s.fault = Some((position, detail));
            break;
        }
        let rel = u32::try_from(h.base_offset - base_offset).unwrap_or(u32::MAX);
        if let Some((oe, te)) =
            policy.entries_for(position, rel, s.bytes_since_index, s.max_timestamp_ms)
        {
            s.index.push(oe);
            s.time_index.push(te);
            s.bytes_since_index = 0;
        }
        s.bytes_since_index += u64::from(h.batch_bytes);
        s.max_timestamp_ms = s.max_timestamp_ms.max(h.max_timestamp_ms);
        s.next_offset = h.next_offset();
        s.valid_bytes = cur.pos;
    }
    Ok(s)
}

/// Opens an existing segment file.
pub(crate) fn open_file(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    Ok((file, len))
}

/// Outcome of opening a sealed segment.
#[derive(Debug)]
pub(crate) struct SealedOpen {
    pub segment: Segment,
    /// Index paths rewritten because they were missing or failed validation.
    pub rebuilt: Vec<PathBuf>,
}

/// Cheap validation of a sealed segment's indexes: shapes, first entry `(0, 0)`, last offset
/// entry pointing at a batch header with the right base offset, and a time index ending with the
/// seal entry for `next_offset`. Returns the segment's max timestamp.
fn validate_sealed_indexes(
    file: &File,
    file_len: u64,
    base_offset: u64,
    next_offset: u64,
    (idx, idx_len): (&[OffsetEntry], u64),
    (tidx, tidx_len): (&[TimeEntry], u64),
) -> Result<i64, String> {
    if !idx_len.is_multiple_of(OffsetEntry::SIZE as u64)
        || !tidx_len.is_multiple_of(TimeEntry::SIZE as u64)
    {
        return Err("index size is not a whole number of entries".to_owned());
    }
    let first = idx.first().ok_or("offset index is empty")?;
    if first.rel_offset != 0 || first.position != 0 {
        return Err("offset index does not start at (0, 0)".to_owned());
    }
    let last = idx.last().ok_or("offset index is empty")?;
    let pos = u64::from(last.position);
    if pos + HEADER_BYTES as u64 > file_len {
        return Err(format!("last index entry points past the log ({pos})"));
    }
    let mut hb = [0u8; HEADER_BYTES];
    file.read_exact_at(&mut hb, pos)
        .map_err(|e| e.to_string())?;
    let h = BatchHeader::parse(&hb)?;
    if h.base_offset != base_offset + u64::from(last.rel_offset)
        || pos + u64::from(h.batch_bytes) > file_len
        || h.next_offset() > next_offset
    {
        return Err("last index entry does not point at a matching batch".to_owned());
    }
    let seal = tidx.last().ok_or("time index is empty")?;
    if base_offset + u64::from(seal.rel_offset) != next_offset {
        return Err("time index has no seal entry for the segment's end".to_owned());
    }
    Ok(seal.timestamp_ms)
}

/// Opens a sealed segment whose successor starts at `next_offset`. Validates its indexes cheaply
/// and rebuilds them with a full scan when missing or invalid; a full scan that finds a bad batch
/// is corruption (sealed data is never truncated).
pub(crate) fn open_sealed(
    dir: &Path,
    base_offset: u64,
    next_offset: u64,
    policy: IndexPolicy,
    cache: &Arc<FileCache>,
) -> Result<SealedOpen, ScanError> {
    let path = log_path(dir, base_offset);
    let io_err = |p: &Path| {
        let p = p.to_owned();
        move |source| ScanError::Io { path: p, source }
    };
    // Opened for validation only and closed at the end: sealed files are opened on demand.
    let (file, file_len) = cache
        .retry_out_of_descriptors(|| open_file(&path))
        .map_err(io_err(&path))?;
    let ipath = index_path(dir, base_offset);
    let tpath = time_index_path(dir, base_offset);
    let idx = index::read_entries::<OffsetEntry>(&ipath).map_err(io_err(&ipath))?;
    let tidx = index::read_entries::<TimeEntry>(&tpath).map_err(io_err(&tpath))?;
    let verdict = match (&idx, &tidx) {
        (Some((i, il)), Some((t, tl))) => validate_sealed_indexes(
            &file,
            file_len,
            base_offset,
            next_offset,
            (i, *il),
            (t, *tl),
        ),
        _ => Err("index file missing".to_owned()),
    };
    let mut rebuilt = Vec::new();
    let (index, time_index, max_ts) = match verdict {
        Ok(max_ts) => (
            IndexFile::open_sealed(&ipath, idx.map_or(0, |(v, _)| v.len() as u64), cache),
            IndexFile::open_sealed(&tpath, tidx.map_or(0, |(v, _)| v.len() as u64), cache),
            max_ts,
        ),
        Err(reason) => {
            tracing::warn!(path = %path.display(), reason, "rebuilding sealed segment indexes");
            let s = scan(&file, &path, base_offset, file_len, policy)?;
            if let Some((position, detail)) = s.fault {
                return Err(ScanError::Corruption {
                    path,
                    position,
                    detail,
                });
            }
            if s.next_offset != next_offset || s.valid_bytes == 0 {
                return Err(ScanError::Corruption {
                    path,
                    position: s.valid_bytes,
                    detail: format!(
                        "sealed segment ends at offset {} but the next segment starts at {}",
                        s.next_offset, next_offset
                    ),
                });
            }
            let mut tentries = s.time_index;
            tentries.push(TimeEntry {
                timestamp_ms: s.max_timestamp_ms,
                rel_offset: u32::try_from(next_offset - base_offset).unwrap_or(u32::MAX),
            });
            let index =
                IndexFile::rewrite_sealed(&ipath, &s.index, cache).map_err(io_err(&ipath))?;
            let time_index =
                IndexFile::rewrite_sealed(&tpath, &tentries, cache).map_err(io_err(&tpath))?;
            rebuilt.push(ipath.clone());
            rebuilt.push(tpath.clone());
            (index, time_index, s.max_timestamp_ms)
        }
    };
    drop(file);
    Ok(SealedOpen {
        segment: Segment {
            base_offset,
            file: Handle::cached(&path, cache.clone()),
            path,
            index,
            time_index,
            size_bytes: AtomicU64::new(file_len),
            next_offset: AtomicU64::new(next_offset),
            max_timestamp_ms: AtomicI64::new(max_ts),
            sealed: AtomicBool::new(true),
        },
        rebuilt,
    })
}

/// Outcome of opening the active (last) segment.
#[derive(Debug)]
pub(crate) struct ActiveOpen {
    pub segment: Segment,
    pub bytes_since_index: u64,
    /// `(valid_bytes, truncated_bytes, reason)` if a torn or corrupt tail was cut off.
    pub truncated: Option<(u64, u64, String)>,
    pub rebuilt: Vec<PathBuf>,
}

/// Opens the active segment: scans all of it, truncates a torn or corrupt tail, and rebuilds its
/// indexes from the scan (rewriting the files only if they differ).
pub(crate) fn open_active(
    dir: &Path,
    base_offset: u64,
    policy: IndexPolicy,
    cache: &Arc<FileCache>,
) -> Result<ActiveOpen, ScanError> {
    let path = log_path(dir, base_offset);
    let io_err = |p: &Path| {
        let p = p.to_owned();
        move |source| ScanError::Io { path: p, source }
    };
    let (file, file_len) = cache
        .retry_out_of_descriptors(|| open_file(&path))
        .map_err(io_err(&path))?;
    let s = scan(&file, &path, base_offset, file_len, policy)?;
    let mut truncated = None;
    if let Some((position, reason)) = s.fault {
        debug_assert_eq!(position, s.valid_bytes);
        let truncated_bytes = file_len - s.valid_bytes;
        file.set_len(s.valid_bytes).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        tracing::warn!(
            path = %path.display(),
            valid_bytes = s.valid_bytes,
            truncated_bytes,
            reason,
            "truncated torn or corrupt tail of the active segment"
        );
        truncated = Some((s.valid_bytes, truncated_bytes, reason));
    }
    let ipath = index_path(dir, base_offset);
    let tpath = time_index_path(dir, base_offset);
    let (index, ri) = cache
        .retry_out_of_descriptors(|| IndexFile::open_active(&ipath, s.index.clone(), cache))
        .map_err(io_err(&ipath))?;
    let (time_index, rt) = cache
        .retry_out_of_descriptors(|| IndexFile::open_active(&tpath, s.time_index.clone(), cache))
        .map_err(io_err(&tpath))?;
    let mut rebuilt = Vec::new();
    if ri {
        rebuilt.push(ipath);
    }
    if rt {
        rebuilt.push(tpath);
    }
    Ok(ActiveOpen {
        segment: Segment {
            base_offset,
            file: Handle::pinned(&path, file, cache.clone()),
            path,
            index,
            time_index,
            size_bytes: AtomicU64::new(s.valid_bytes),
            next_offset: AtomicU64::new(s.next_offset),
            max_timestamp_ms: AtomicI64::new(s.max_timestamp_ms),
            sealed: AtomicBool::new(false),
        },
        bytes_since_index: s.bytes_since_index,
        truncated,
        rebuilt,
    })
}
