//! On-disk batch format: encoding, header parsing, CRC check and record decoding.
//!
//! ```text
//! offset size field
//!  0     4    batch_bytes      u32 LE, whole batch including this field
//!  4     4    crc32c           u32 LE, CRC32C (Castagnoli) of bytes [8, batch_bytes)
//!  8     1    magic            format version, currently 1
//!  9     1    attributes       reserved, 0
//! 10     2    reserved         0
//! 12     8    base_offset      u64 LE, offset of the first record
//! 20     4    record_count     u32 LE, >= 1; offsets are base_offset .. base_offset + count
//! 24     8    base_timestamp   i64 LE, timestamp of the first record (ms)
//! 32     8    max_timestamp    i64 LE, largest record timestamp in the batch (ms)
//! 40     ..   records
//! ```
//! Each record: `varint body_len` then the body: `u8 attributes` (bit 0: value is JSON, bit 1:
//! key present), `zigzag varint (timestamp - base_timestamp)`, [`varint key_len`, key],
//! `varint value_len`, value, `varint header_count`, then per header `varint key_len`, key
//! (UTF-8), `varint value_len`, value. Varints are LEB128. Offsets are implicit (base + index).

use bytes::Bytes;

use super::record::{Header, NewRecord, Record};

pub(crate) const HEADER_BYTES: usize = 40;
pub(crate) const MAGIC: u8 = 1;

const ATTR_JSON: u8 = 1;
const ATTR_HAS_KEY: u8 = 2;

/// The fixed part of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub batch_bytes: u32,
    pub crc: u32,
    pub base_offset: u64,
    pub record_count: u32,
    pub base_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
}

impl BatchHeader {
    /// Offset after the last record of the batch.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + u64::from(self.record_count)
    }

    /// Parses and sanity-checks the header; does not check the CRC.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, String> {
        if buf.len() < HEADER_BYTES {
            return Err(format!("short batch header ({} bytes)", buf.len()));
        }
        let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(buf[i..i + 8].try_into().expect("8 bytes"));
        let h = BatchHeader {
            batch_bytes: u32_at(0),
            crc: u32_at(4),
            base_offset: u64_at(12),
            record_count: u32_at(20),
            base_timestamp_ms: u64_at(24) as i64,
            max_timestamp_ms: u64_at(32) as i64,
        };
        if buf[8] != MAGIC {
            return Err(format!("unknown batch magic {}", buf[8]));
        }
        if (h.batch_bytes as usize) < HEADER_BYTES {
            return Err(format!("batch length {} below header size", h.batch_bytes));
        }
        if h.record_count == 0 {
            return Err("batch with zero records".to_owned());
        }
        Ok(h)
    }

    /// Checks the CRC of a complete batch (`batch.len() == batch_bytes`).
    pub fn crc_matches(&self, batch: &[u8]) -> bool {
        debug_assert_eq!(batch.len(), self.batch_bytes as usize);
        crc32c::crc32c(&batch[8..]) == self.crc
    }
}

/// Summary of a freshly encoded batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncodedBatch {
    pub batch_bytes: u64,
    pub record_count: u32,
    pub max_timestamp_ms: i64,
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn record_body_len(r: &NewRecord, base_ts: i64) -> usize {
    let mut n = 1 + varint_len(zigzag(r.timestamp_ms.wrapping_sub(base_ts)));
    if let Some(k) = &r.key {
        n += varint_len(k.len() as u64) + k.len();
    }
    n += varint_len(r.value.len() as u64) + r.value.len();
    n += varint_len(r.headers.len() as u64);
    for h in &r.headers {
        n += varint_len(h.key.len() as u64) + h.key.len();
        n += varint_len(h.value.len() as u64) + h.value.len();
    }
    n
}

/// Encodes `records` as one batch into `buf` (cleared first). The caller checks the size limit.
pub(crate) fn encode(buf: &mut Vec<u8>, base_offset: u64, records: &[NewRecord]) -> EncodedBatch {
    debug_assert!(!records.is_empty());
    buf.clear();
    let base_ts = records[0].timestamp_ms;
    let max_ts = records
        .iter()
        .map(|r| r.timestamp_ms)
        .max()
        .unwrap_or(base_ts);
    // Size first so the buffer grows at most once per append.
    let body: usize = records
        .iter()
        .map(|r| {
            let b = record_body_len(r, base_ts);
            varint_len(b as u64) + b
        })
        .sum();
    buf.reserve(HEADER_BYTES + body);
    buf.extend_from_slice(&[0u8; 8]); // length + crc, filled below
    buf.push(MAGIC);
    buf.push(0);
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&base_offset.to_le_bytes());
    buf.extend_from_slice(&(records.len() as u32).to_le_bytes());
    buf.extend_from_slice(&base_ts.to_le_bytes());
    buf.extend_from_slice(&max_ts.to_le_bytes());
    for r in records {
        put_varint(buf, record_body_len(r, base_ts) as u64);
        let mut attrs = 0;
        if r.value_is_json {
            attrs |= ATTR_JSON;
        }
        if r.key.is_some() {
            attrs |= ATTR_HAS_KEY;
        }
        buf.push(attrs);
        put_varint(buf, zigzag(r.timestamp_ms.wrapping_sub(base_ts)));
        if let Some(k) = &r.key {
            put_varint(buf, k.len() as u64);
            buf.extend_from_slice(k);
        }
        put_varint(buf, r.value.len() as u64);
        buf.extend_from_slice(&r.value);
        put_varint(buf, r.headers.len() as u64);
        for h in &r.headers {
            put_varint(buf, h.key.len() as u64);
            buf.extend_from_slice(h.key.as_bytes());
            put_varint(buf, h.value.len() as u64);
            buf.extend_from_slice(&h.value);
        }
    }
    debug_assert_eq!(buf.len(), HEADER_BYTES + body);
    // Lengths above u32::MAX are rejected by the caller before anything is written; store a
    // truncated value here rather than panic.
    let len = buf.len() as u32;
    buf[0..4].copy_from_slice(&len.to_le_bytes());
    let crc = crc32c::crc32c(&buf[8..]);
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    EncodedBatch {
        batch_bytes: buf.len() as u64,
        record_count: records.len() as u32,
        max_timestamp_ms: max_ts,
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        let mut shift = 0;
        loop {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err("varint overflow".to_owned());
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err("varint overflow".to_owned());
            }
        }
    }

    fn u8(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("truncated record")?;
        self.pos += 1;
        Ok(b)
    }

    /// Returns the range of the next `len`-prefixed field.
    fn field(&mut self) -> Result<std::ops::Range<usize>, String> {
        let len = self.varint()?;
        let start = self.pos;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= self.buf.len())
            .ok_or("field length beyond record")?;
        self.pos = end;
        Ok(start..end)
    }
}

/// Decodes the records of a complete, CRC-checked batch. `batch` is the whole batch; `f` gets
/// each record and its encoded size and returns `false` to stop early.
pub(crate) fn decode_records(
    batch: &Bytes,
    header: &BatchHeader,
    mut f: impl FnMut(Record, u64) -> bool,
) -> Result<(), String> {
    let mut cur = Cursor {
        buf: &batch[..],
        pos: HEADER_BYTES,
    };
    for i in 0..header.record_count {
        let rec_start = cur.pos;
        let body = cur.field()?;
        let end = body.end;
        let mut rc = Cursor {
            buf: &batch[..end],
            pos: body.start,
        };
        let attrs = rc.u8()?;
        let ts = header
            .base_timestamp_ms
            .wrapping_add(unzigzag(rc.varint()?));
        let key = if attrs & ATTR_HAS_KEY != 0 {
            Some(batch.slice(rc.field()?))
        } else {
            None
        };
        let value = batch.slice(rc.field()?);
        let n_headers = rc.varint()?;
        let mut headers = Vec::with_capacity(n_headers.min(64) as usize);
        for _ in 0..n_headers {
            let k = rc.field()?;
            let key = std::str::from_utf8(&batch[k])
                .map_err(|_| "header key is not utf-8".to_owned())?
                .to_owned();
            let value = batch.slice(rc.field()?);
            headers.push(Header { key, value });
        }
        if rc.pos != end {
            return Err(format!("record {i} has {} trailing bytes", end - rc.pos));
        }
        let rec = Record {
            offset: header.base_offset + u64::from(i),
            timestamp_ms: ts,
            key,
            value,
            headers,
            value_is_json: attrs & ATTR_JSON != 0,
        };
        if !f(rec, (end - rec_start) as u64) {
            return Ok(());
        }
    }
    if cur.pos != batch.len() {
        return Err(format!(
            "batch has {} bytes after its last record",
            batch.len() - cur.pos
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts: i64, key: Option<&str>, value: &str, json: bool) -> NewRecord {
        NewRecord {
            timestamp_ms: ts,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Bytes::copy_from_slice(value.as_bytes()),
            headers: vec![Header {
                key: "h".into(),
                value: Bytes::from_static(b"hv"),
            }],
            value_is_json: json,
        }
    }

    #[test]
    fn encoded_batch_round_trips_with_crc() {
        let recs = vec![
            rec(100, Some("k"), "{\"a\":1}", true),
            rec(50, None, "v", false),
            rec(i64::MAX, Some(""), "", false),
        ];
        let mut buf = Vec::new();
        let e = encode(&mut buf, 7, &recs);
        assert_eq!(e.batch_bytes as usize, buf.len());
        assert_eq!(e.max_timestamp_ms, i64::MAX);
        let h = BatchHeader::parse(&buf).unwrap();
        assert!(h.crc_matches(&buf));
        assert_eq!(h.base_offset, 7);
        assert_eq!(h.next_offset(), 10);
        let bytes = Bytes::from(buf.clone());
        let mut out = Vec::new();
        decode_records(&bytes, &h, |r, _| {
            out.push(r);
            true
        })
        .unwrap();
        assert_eq!(out.len(), 3);
        for (i, (o, n)) in out.iter().zip(&recs).enumerate() {
            assert_eq!(o.offset, 7 + i as u64);
            assert_eq!(o.timestamp_ms, n.timestamp_ms);
            assert_eq!(o.key, n.key);
            assert_eq!(o.value, n.value);
            assert_eq!(o.headers, n.headers);
            assert_eq!(o.value_is_json, n.value_is_json);
        }
        buf[45] ^= 1;
        assert!(!h.crc_matches(&buf));
    }
}
