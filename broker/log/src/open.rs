//! Opening a log: scanning the segments, recovering the tail after a crash (truncating a torn
//! or corrupt last batch) and rebuilding what the indexes miss.

use super::*;

impl Log {
    /// Opens (creating if missing) the log in `dir`, recovering as described in the module doc,
    /// with a handle cache of its own ([`DEFAULT_OPEN_FILES`] handles).
    pub fn open(dir: &Path, config: LogConfig) -> Result<(Log, OpenOutcome), OpenError> {
        Self::open_with_cache(dir, config, Arc::new(FileCache::default()))
    }

    /// [`Log::open`] with sealed segments' files opened through `cache`, which a process shares
    /// between all its logs to bound its open descriptors.
    pub fn open_with_cache(
        dir: &Path,
        config: LogConfig,
        cache: Arc<FileCache>,
    ) -> Result<(Log, OpenOutcome), OpenError> {
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
            Segment::create(dir, 0, &cache).map_err(io_err(dir))?;
            bases.insert(0);
            dir_dirty = true;
        }

        let bases: Vec<u64> = bases.into_iter().collect();
        let mut segments = Vec::with_capacity(bases.len());
        let mut rebuilt_indexes = Vec::new();
        for w in bases.windows(2) {
            let s = segment::open_sealed(dir, w[0], w[1], policy, &cache)?;
            rebuilt_indexes.extend(s.rebuilt);
            segments.push(Arc::new(s.segment));
        }
        let last = *bases.last().expect("at least one segment");
        let active = segment::open_active(dir, last, policy, &cache)?;
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
            .log_file()
            .and_then(|f| f.sync_data())
            .map_err(io_err(&active.segment.path))?;
        if dir_dirty {
            cache
                .retry_out_of_descriptors(|| fsync_dir(dir))
                .map_err(io_err(dir))?;
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
            cache,
        };
        Ok((log, outcome))
    }
}
