//! Retention: which whole segments time and size limits let go, and deleting them.

use super::*;

impl Log {
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
            // Close the cached handles first, or the space of deleted files stays in use.
            seg.forget_files();
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
            // Again: a read that raced with this deletion may have cached a handle meanwhile.
            seg.forget_files();
            deleted.push(info(seg));
        }
        self.cache
            .retry_out_of_descriptors(|| fsync_dir(&self.dir))
            .map_err(|source| RetentionError::Io {
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
}
