//! Reads: whole batches from an offset within record and byte budgets, and the offset of a
//! timestamp through the time index.

use super::*;
use crate::error::ScanError;

impl Log {
    /// The start position a read of `seg` finds through its index (`seek`) and the segment's
    /// log file, both opened through the handle cache for a sealed segment. `Ok(None)` when
    /// retention deleted the segment after the caller listed the segments (its files are gone;
    /// an open handle used to keep them readable, a cache miss now finds nothing).
    fn open_for_read(
        &self,
        seg: &Segment,
        seek: impl FnOnce(&Segment) -> Result<u64, ScanError>,
    ) -> Result<Option<(u64, Arc<File>)>, ScanError> {
        let opened = seek(seg).and_then(|start| {
            seg.log_file()
                .map(|f| (start, f))
                .map_err(|source| ScanError::Io {
                    path: seg.path.clone(),
                    source,
                })
        });
        match opened {
            Ok(v) => Ok(Some(v)),
            Err(ScanError::Io { source, .. })
                if source.kind() == io::ErrorKind::NotFound
                    && seg.next_offset() <= self.log_start_offset() =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
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
            let Some((start, file)) = self.open_for_read(seg, |s| s.seek_position(next))? else {
                return Err(oor(self.log_start_offset()));
            };
            let hint = read_chunk_bytes(seg, max_records, max_bytes);
            let mut cur = BatchCursor::new(&file, start, end, hint);
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
            let mut from = seg.base_offset;
            let found = self.open_for_read(seg, |s| {
                from = s.time_seek_offset(timestamp_ms)?;
                s.seek_position(from)
            })?;
            // Deleted by retention since the lookup listed the segments: the answer lies later.
            let Some((start, file)) = found else { continue };
            let mut cur = BatchCursor::new(&file, start, seg.size_bytes(), 256 << 10);
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
}
