//! Sparse offset and time indexes of one segment.
//!
//! `<base>.index`: 8-byte entries `(u32 relative offset, u32 file position)`, both strictly
//! increasing; the first entry is always `(0, 0)`. Entry positions are batch starts.
//! `<base>.timeindex`: 12-byte entries `(i64 timestamp_ms, u32 relative offset)` meaning "every
//! record of this segment below this offset has a timestamp <= timestamp_ms" (a running maximum,
//! so non-monotonic record timestamps still give a monotonic, binary-searchable index). A sealed
//! segment's time index ends with a seal entry `(max timestamp of the segment, next offset)`.
//!
//! The active segment keeps its entries in memory (and appends them to the file as it goes,
//! through a pinned handle); sealed segments are searched with positional reads on the file,
//! opened through the shared handle cache (`fdcache`), so neither memory nor open descriptors
//! grow with retained data.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::fdcache::{FileCache, Handle};

/// One fixed-size index entry.
pub(crate) trait Entry: Copy + std::fmt::Debug + PartialEq {
    const SIZE: usize;
    fn write(&self, out: &mut Vec<u8>);
    fn read(b: &[u8]) -> Self;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub rel_offset: u32,
    pub position: u32,
}

impl Entry for OffsetEntry {
    const SIZE: usize = 8;
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.rel_offset.to_le_bytes());
        out.extend_from_slice(&self.position.to_le_bytes());
    }
    fn read(b: &[u8]) -> Self {
        OffsetEntry {
            rel_offset: u32::from_le_bytes(b[0..4].try_into().expect("4 bytes")),
            position: u32::from_le_bytes(b[4..8].try_into().expect("4 bytes")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp_ms: i64,
    pub rel_offset: u32,
}

impl Entry for TimeEntry {
    const SIZE: usize = 12;
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        out.extend_from_slice(&self.rel_offset.to_le_bytes());
    }
    fn read(b: &[u8]) -> Self {
        TimeEntry {
            timestamp_ms: i64::from_le_bytes(b[0..8].try_into().expect("8 bytes")),
            rel_offset: u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")),
        }
    }
}

#[derive(Debug)]
enum State<E> {
    /// Active segment: entries in memory, mirrored to the file.
    Active(Vec<E>),
    /// Sealed segment: `count` entries in the file, read on demand.
    Sealed { count: u64 },
}

/// An index file plus its lookup state.
#[derive(Debug)]
pub(crate) struct IndexFile<E> {
    pub path: PathBuf,
    file: Handle,
    state: RwLock<State<E>>,
}

fn encode_all<E: Entry>(entries: &[E]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * E::SIZE);
    for e in entries {
        e.write(&mut out);
    }
    out
}

/// Reads an index file completely; `None` if it does not exist.
pub(crate) fn read_entries<E: Entry>(path: &Path) -> io::Result<Option<(Vec<E>, u64)>> {
    match fs::read(path) {
        Ok(bytes) => {
            let entries = bytes.chunks_exact(E::SIZE).map(E::read).collect();
            Ok(Some((entries, bytes.len() as u64)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `entries` to `path` atomically (temp file, fsync, rename). The caller fsyncs the
/// directory.
fn write_atomically<E: Entry>(path: &Path, entries: &[E]) -> io::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    f.write_all_at(&encode_all(entries), 0)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)
}

fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

impl<E: Entry> IndexFile<E> {
    /// Opens the index of the active segment with the entries rebuilt from the log. The file is
    /// rewritten only if its content differs; returns whether it was.
    pub fn open_active(
        path: &Path,
        entries: Vec<E>,
        cache: &Arc<FileCache>,
    ) -> io::Result<(Self, bool)> {
        let wanted = encode_all(&entries);
        let current = match fs::read(path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let rewritten = current.as_deref() != Some(&wanted[..]);
        if rewritten {
            write_atomically(path, &entries)?;
        }
        let file = open_rw(path)?;
        Ok((
            IndexFile {
                path: path.to_owned(),
                file: Handle::pinned(path, file, cache.clone()),
                state: RwLock::new(State::Active(entries)),
            },
            rewritten,
        ))
    }

    /// A new, empty index for a new active segment.
    pub fn create(path: &Path, cache: &Arc<FileCache>) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(IndexFile {
            path: path.to_owned(),
            file: Handle::pinned(path, file, cache.clone()),
            state: RwLock::new(State::Active(Vec::new())),
        })
    }

    /// A validated sealed index of `count` entries; its file is opened on demand.
    pub fn open_sealed(path: &Path, count: u64, cache: &Arc<FileCache>) -> Self {
        IndexFile {
            path: path.to_owned(),
            file: Handle::cached(path, cache.clone()),
            state: RwLock::new(State::Sealed { count }),
        }
    }

    /// Rewrites a sealed segment's index from rebuilt entries.
    pub fn rewrite_sealed(path: &Path, entries: &[E], cache: &Arc<FileCache>) -> io::Result<Self> {
        write_atomically(path, entries)?;
        Ok(Self::open_sealed(path, entries.len() as u64, cache))
    }

    /// Entries of an active index (0 for a sealed one).
    pub fn active_len(&self) -> usize {
        match &*self.state.read().unwrap_or_else(|p| p.into_inner()) {
            State::Active(v) => v.len(),
            State::Sealed { .. } => 0,
        }
    }

    /// Forgets the entries of an active index beyond the first `len` (undoing the entries of a
    /// batch whose write failed). Their bytes stay in the file until overwritten or trimmed by
    /// the seal; nothing reads an active index from its file except recovery, which rebuilds it.
    pub fn rollback_to(&self, len: usize) {
        if let State::Active(v) = &mut *self.state.write().unwrap_or_else(|p| p.into_inner()) {
            v.truncate(len);
        }
    }

    /// Appends an entry (active segments only).
    pub fn append(&self, e: E) -> io::Result<()> {
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        let State::Active(v) = &mut *st else {
            return Err(io::Error::other("append to a sealed index"));
        };
        let mut buf = Vec::with_capacity(E::SIZE);
        e.write(&mut buf);
        self.file
            .get()?
            .write_all_at(&buf, (v.len() * E::SIZE) as u64)?;
        v.push(e);
        Ok(())
    }

    /// First step of sealing: writes the optional last entry after the others and trims any
    /// junk a failed write left. The in-memory state does not change, so a failure (or a roll
    /// that fails later) leaves an active index that the next roll seals again from scratch.
    pub fn prepare_seal(&self, last: Option<E>) -> io::Result<()> {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        let State::Active(v) = &*st else {
            return Err(io::Error::other("seal of a sealed index"));
        };
        let file = self.file.get()?;
        let mut count = v.len() as u64;
        if let Some(e) = last {
            let mut buf = Vec::with_capacity(E::SIZE);
            e.write(&mut buf);
            file.write_all_at(&buf, count * E::SIZE as u64)?;
            count += 1;
        }
        file.set_len(count * E::SIZE as u64)
    }

    /// Last step of sealing, after [`IndexFile::prepare_seal`] and a successful
    /// [`IndexFile::sync`]: takes the last entry into the count, switches to file-backed lookups
    /// and closes the pinned handle (the file is opened through the cache from now on).
    pub fn commit_seal(&self, last: Option<E>) {
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        if let State::Active(v) = &*st {
            let count = v.len() as u64 + u64::from(last.is_some());
            *st = State::Sealed { count };
        }
        drop(st);
        self.file.unpin();
    }

    /// Forgets the cached handle (the file is being deleted).
    pub fn forget(&self) {
        self.file.forget();
    }

    fn get_sealed(file: &File, i: u64) -> io::Result<E> {
        let mut buf = [0u8; 16];
        let b = &mut buf[..E::SIZE];
        file.read_exact_at(b, i * E::SIZE as u64)?;
        Ok(E::read(b))
    }

    /// The last entry for which `before(entry)` holds, given that `before` is true for a prefix
    /// of the entries (binary search). `None` if it holds for none.
    pub fn last_where(&self, before: impl Fn(&E) -> bool) -> io::Result<Option<E>> {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        match &*st {
            State::Active(v) => {
                let n = v.partition_point(|e| before(e));
                Ok(n.checked_sub(1).map(|i| v[i]))
            }
            State::Sealed { count } => {
                let file = self.file.get()?;
                let (mut lo, mut hi) = (0u64, *count);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if before(&Self::get_sealed(&file, mid)?) {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                match lo.checked_sub(1) {
                    Some(i) => Self::get_sealed(&file, i).map(Some),
                    None => Ok(None),
                }
            }
        }
    }

    /// Syncs the file (used when a segment is sealed or the log closes).
    pub fn sync(&self) -> io::Result<()> {
        self.file.get()?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_and_sealed_lookups_agree() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let cache = Arc::new(FileCache::new(2));
        let idx = IndexFile::<OffsetEntry>::create(&p, &cache).unwrap();
        for i in 0..100u32 {
            idx.append(OffsetEntry {
                rel_offset: i * 10,
                position: i * 1000,
            })
            .unwrap();
        }
        let q =
            |idx: &IndexFile<OffsetEntry>, r: u32| idx.last_where(|e| e.rel_offset <= r).unwrap();
        assert_eq!(q(&idx, 55).unwrap().rel_offset, 50);
        idx.prepare_seal(None).unwrap();
        idx.sync().unwrap();
        idx.commit_seal(None);
        assert_eq!(
            cache.len(),
            0,
            "nothing is cached before the first sealed lookup"
        );
        assert_eq!(q(&idx, 55).unwrap().rel_offset, 50);
        assert_eq!(cache.len(), 1, "the sealed index is read through the cache");
        assert_eq!(q(&idx, 0).unwrap().rel_offset, 0);
        assert_eq!(q(&idx, 10_000).unwrap().rel_offset, 990);
        let (entries, len) = read_entries::<OffsetEntry>(&p).unwrap().unwrap();
        assert_eq!(entries.len(), 100);
        assert_eq!(len, 800);
    }
}
