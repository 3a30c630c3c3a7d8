//! A bounded, shared LRU cache of read-only file handles for sealed segments.
//!
//! Every sealed segment used to keep its `.log`, `.index` and `.timeindex` open, so descriptors
//! grew with retained data until the process hit `RLIMIT_NOFILE` and could neither append nor
//! start again. Sealed files are now opened on demand through one [`FileCache`] shared by every
//! log of the process (one `Arc<FileCache>`), which holds at most `capacity` handles and closes
//! the least recently used one to make room. Only the active segment keeps its own three files
//! open (it is written to on every append).
//!
//! Handles are `Arc<File>`: a reader keeps its handle for the duration of one read, so an
//! eviction never closes a file under a reader; the descriptor is released when the last user
//! drops it. The number of open descriptors is therefore `capacity` plus the reads in flight.
//!
//! When opening fails with `EMFILE` / `ENFILE` (the process or the system is out of
//! descriptors, e.g. because connections took them), the cache halves its limit, closes what it
//! holds beyond that and retries; the limit grows back by one per successful open without such a
//! failure, so the cache heals once descriptors return. Only when the cache is empty and the
//! open still fails does the caller get the error (which the broker answers as a retriable 503).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Default capacity of the cache a [`crate::Log`] opened without a shared one gets.
pub const DEFAULT_OPEN_FILES: usize = 128;

/// Whether an i/o error means the process or the system is out of file descriptors.
pub fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Whether an i/o error means the disk (or the quota) is full.
pub fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || e.kind() == io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// A bounded LRU cache of read-only file handles, keyed by path. `Send + Sync`.
#[derive(Debug)]
pub struct FileCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Path → (handle, tick of its last use).
    entries: HashMap<PathBuf, (Arc<File>, u64)>,
    /// Tick of last use → path; the first entry is the least recently used.
    by_use: BTreeMap<u64, PathBuf>,
    tick: u64,
    /// Current limit: `capacity`, or less after running out of descriptors.
    limit: usize,
    /// Times an open ran out of descriptors (for tests and diagnostics).
    exhausted: u64,
}

impl Inner {
    fn evict_to(&mut self, n: usize) {
        while self.entries.len() > n {
            let Some((_, path)) = self.by_use.pop_first() else {
                break;
            };
            self.entries.remove(&path);
        }
        debug_assert_eq!(self.entries.len(), self.by_use.len());
    }

    fn forget(&mut self, path: &Path) {
        if let Some((_, tick)) = self.entries.remove(path) {
            self.by_use.remove(&tick);
        }
    }
}

impl FileCache {
    /// A cache holding at most `capacity` handles (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        FileCache {
            capacity,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                by_use: BTreeMap::new(),
                tick: 0,
                limit: capacity,
                exhausted: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configured maximum number of cached handles.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Handles cached now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no handle is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many opens ran out of descriptors so far.
    pub fn exhausted_count(&self) -> u64 {
        self.lock().exhausted
    }

    /// The cached handle of `path`, opening it read-only on a miss (see the module doc for what
    /// happens when descriptors run out).
    pub fn get(&self, path: &Path) -> io::Result<Arc<File>> {
        self.get_with(path, |p| File::open(p))
    }

    /// [`FileCache::get`] with the open call supplied (tests inject `EMFILE` through it).
    pub(crate) fn get_with(
        &self,
        path: &Path,
        open: impl Fn(&Path) -> io::Result<File>,
    ) -> io::Result<Arc<File>> {
        let mut g = self.lock();
        g.tick += 1;
        let tick = g.tick;
        if let Some((file, used)) = g.entries.get_mut(path) {
            let file = file.clone();
            let old = std::mem::replace(used, tick);
            g.by_use.remove(&old);
            g.by_use.insert(tick, path.to_owned());
            return Ok(file);
        }
        // The open happens under the lock so two readers of one cold file open it once; a miss
        // costs one open(2), short next to the read that follows.
        let limit = g.limit;
        g.evict_to(limit.saturating_sub(1));
        let mut ran_out = false;
        let file = loop {
            match open(path) {
                Ok(f) => break Arc::new(f),
                Err(e) if is_out_of_descriptors(&e) => {
                    ran_out = true;
                    g.exhausted += 1;
                    if g.entries.is_empty() {
                        tracing::warn!(path = %path.display(), "out of file descriptors with an empty handle cache");
                        return Err(e);
                    }
                    let keep = g.entries.len() / 2;
                    g.limit = keep.max(1);
                    tracing::warn!(
                        path = %path.display(),
                        limit = g.limit,
                        "out of file descriptors: shrinking the segment handle cache"
                    );
                    g.evict_to(keep);
                }
                Err(e) => return Err(e),
            }
        };
        if !ran_out && g.limit < self.capacity {
            g.limit += 1;
        }
        let limit = g.limit;
        g.evict_to(limit.saturating_sub(1));
        g.entries.insert(path.to_owned(), (file.clone(), tick));
        g.by_use.insert(tick, path.to_owned());
        debug_assert!(g.entries.len() <= self.capacity);
        Ok(file)
    }

    /// Closes the older half of the cached handles so that the caller can open files of its
    /// own after running out of descriptors; returns whether anything was closed.
    pub fn release_some(&self) -> bool {
        let mut g = self.lock();
        if g.entries.is_empty() {
            return false;
        }
        g.exhausted += 1;
        let keep = g.entries.len() / 2;
        g.limit = keep.max(1);
        g.evict_to(keep);
        true
    }

    /// Runs `f` (which opens files), releasing cached handles and retrying while it runs out of
    /// descriptors and the cache still has handles to give back.
    pub(crate) fn retry_out_of_descriptors<T>(
        &self,
        mut f: impl FnMut() -> io::Result<T>,
    ) -> io::Result<T> {
        loop {
            match f() {
                Err(e) if is_out_of_descriptors(&e) && self.release_some() => {
                    tracing::warn!(error = %e, "out of file descriptors: released cached segment handles");
                }
                r => return r,
            }
        }
    }

    /// Drops the cached handle of `path` (its file is being deleted or replaced).
    pub fn forget(&self, path: &Path) {
        self.lock().forget(path);
    }

    /// Drops every cached handle of a file in `dir` (a log is closed or its directory removed).
    pub fn forget_dir(&self, dir: &Path) {
        let mut g = self.lock();
        let doomed: Vec<PathBuf> = g
            .entries
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect();
        for p in doomed {
            g.forget(&p);
        }
    }
}

/// The handle of one segment file: the active segment's files are pinned (opened once,
/// read-write, never evicted); a sealed segment's file is opened through the shared cache.
#[derive(Debug)]
pub(crate) struct Handle {
    path: PathBuf,
    pinned: RwLock<Option<Arc<File>>>,
    cache: Arc<FileCache>,
}

impl Handle {
    /// A handle that keeps `file` open until [`Handle::unpin`].
    pub fn pinned(path: &Path, file: File, cache: Arc<FileCache>) -> Self {
        Handle {
            path: path.to_owned(),
            pinned: RwLock::new(Some(Arc::new(file))),
            cache,
        }
    }

    /// A handle that opens `path` read-only through the cache when used.
    pub fn cached(path: &Path, cache: Arc<FileCache>) -> Self {
        Handle {
            path: path.to_owned(),
            pinned: RwLock::new(None),
            cache,
        }
    }

    /// The file, from the pin or the cache.
    pub fn get(&self) -> io::Result<Arc<File>> {
        if let Some(f) = &*self.pinned.read().unwrap_or_else(|p| p.into_inner()) {
            return Ok(f.clone());
        }
        self.cache.get(&self.path)
    }

    /// The pinned file, if any (the writer's handle on the active segment).
    pub fn pinned_file(&self) -> Option<Arc<File>> {
        self.pinned
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops keeping the file open: from now on it is opened through the cache (a sealed
    /// segment). Readers holding the old handle keep it until they drop it.
    pub fn unpin(&self) {
        *self.pinned.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Forgets the file's cached handle (it is being deleted).
    pub fn forget(&self) {
        self.unpin();
        self.cache.forget(&self.path);
    }
}

impl Default for FileCache {
    fn default() -> Self {
        FileCache::new(DEFAULT_OPEN_FILES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn files(dir: &Path, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let p = dir.join(format!("{i}.log"));
                std::fs::write(&p, [i as u8]).unwrap();
                p
            })
            .collect()
    }

    #[test]
    fn holds_at_most_capacity_handles_and_evicts_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let p = files(dir.path(), 4);
        let cache = FileCache::new(3);
        let opens = Cell::new(0);
        let open = |path: &Path| {
            opens.set(opens.get() + 1);
            File::open(path)
        };
        for path in &p[..3] {
            cache.get_with(path, open).unwrap();
        }
        // Touch 0 so that 1 is the least recently used, then bring in 3.
        cache.get_with(&p[0], open).unwrap();
        assert_eq!(opens.get(), 3);
        cache.get_with(&p[3], open).unwrap();
        assert_eq!(cache.len(), 3);
        assert_eq!(opens.get(), 4);
        cache.get_with(&p[0], open).unwrap();
        cache.get_with(&p[2], open).unwrap();
        assert_eq!(opens.get(), 4, "0 and 2 are still cached");
        cache.get_with(&p[1], open).unwrap();
        assert_eq!(opens.get(), 5, "1 was evicted and had to be reopened");
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn a_handle_in_use_survives_its_eviction() {
        let dir = tempfile::tempdir().unwrap();
        let p = files(dir.path(), 2);
        let cache = FileCache::new(1);
        let held = cache.get(&p[0]).unwrap();
        cache.get(&p[1]).unwrap();
        assert_eq!(cache.len(), 1);
        let mut b = [0u8; 1];
        std::os::unix::fs::FileExt::read_exact_at(&*held, &mut b, 0).unwrap();
        assert_eq!(b, [0]);
    }

    #[test]
    fn running_out_of_descriptors_shrinks_the_cache_retries_and_grows_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = files(dir.path(), 12);
        let cache = FileCache::new(8);
        for path in &p[..8] {
            cache.get(path).unwrap();
        }
        assert_eq!(cache.len(), 8);
        // The first attempt fails as if the process had no descriptor left.
        let failures = Cell::new(1);
        let flaky = |path: &Path| {
            if failures.get() > 0 {
                failures.set(failures.get() - 1);
                return Err(io::Error::from_raw_os_error(libc::EMFILE));
            }
            File::open(path)
        };
        cache.get_with(&p[8], flaky).unwrap();
        assert!(cache.len() <= 4, "shrunk to half: {}", cache.len());
        assert_eq!(cache.exhausted_count(), 1);
        for path in &p[9..12] {
            cache.get(path).unwrap();
        }
        for path in &p[..8] {
            cache.get(path).unwrap();
        }
        assert_eq!(cache.len(), 8, "the limit grows back once opens succeed");
    }

    #[test]
    fn out_of_descriptors_with_an_empty_cache_is_returned_to_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let p = files(dir.path(), 1);
        let cache = FileCache::new(4);
        let e = cache
            .get_with(&p[0], |_| Err(io::Error::from_raw_os_error(libc::ENFILE)))
            .unwrap_err();
        assert!(is_out_of_descriptors(&e));
        assert!(cache.is_empty());
        // Once descriptors return, the same path opens.
        cache.get(&p[0]).unwrap();
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn forget_and_forget_dir_drop_cached_handles() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let p = files(dir.path(), 3);
        let q = files(other.path(), 1);
        let cache = FileCache::new(8);
        for path in p.iter().chain(&q) {
            cache.get(path).unwrap();
        }
        cache.forget(&p[0]);
        assert_eq!(cache.len(), 3);
        cache.forget_dir(dir.path());
        assert_eq!(cache.len(), 1, "only the other directory's handle is left");
    }

    #[test]
    fn classifies_descriptor_and_space_exhaustion() {
        assert!(is_out_of_descriptors(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(is_out_of_descriptors(&io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!is_out_of_descriptors(&io::Error::from_raw_os_error(
            libc::ENOSPC
        )));
        assert!(is_disk_full(&io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(!is_disk_full(&io::Error::from_raw_os_error(libc::EIO)));
    }
}
