//! The compact binary batch encoding of produce and fetch bodies:
//! content type [`CONTENT_TYPE`] (`application/vnd.wharf.batch.v1`).
//!
//! It carries exactly what the JSON bodies of [`crate::api`] carry, without base64 or JSON
//! escaping: a 100-byte value costs 100 bytes plus a few bytes of framing instead of ~140 bytes of
//! base64 inside a JSON object, and neither side parses text.
//!
//! # Layout
//! Every message starts with three bytes: magic `0x57` (`W`), version `1`, and a kind byte
//! ([`Kind`]). Integers are unsigned LEB128 varints (at most 10 bytes, no bits beyond 64);
//! timestamps are zigzag-encoded first (so `-1` is one byte). `bytes` is a varint length followed by
//! that many bytes; `string` is `bytes` holding UTF-8.
//!
//! ```text
//! produce request (kind 1):  count, then per record:
//!   flags u8        0x01 value is JSON, 0x02 key present, 0x04 partition present,
//!                   0x08 timestamp present (other bits must be 0)
//!   partition       varint (≤ u32::MAX)           if 0x04
//!   timestamp_ms    zigzag varint                  if 0x08
//!   key             bytes                          if 0x02 (absent = null key)
//!   value           bytes
//!   header count    varint, then per header: name string, value string
//!
//! produce response (kind 2): count, then per result (request order):
//!   flags u8        0x01 partition, 0x02 offset, 0x04 timestamp, 0x08 error
//!   partition varint, offset varint, timestamp zigzag varint   (each if flagged)
//!   error: code string, message string, retriable u8 (0|1),
//!          details string (JSON text; empty = none)            if 0x08
//!
//! produce response in runs (kind 4; only to a request whose Accept says `results=runs`):
//!   count, then runs (request order) until their lengths add up to count:
//!   flags u8        as kind 2
//!   length          varint ≥ 1: this many consecutive results
//!   partition varint, first offset varint, timestamp zigzag varint, error   as kind 2
//!   The results of a run share flags, partition, timestamp and error; their offsets are
//!   first, first + 1, …  A batch that lands in one partition with the broker's timestamp is
//!   one run, whatever its size.
//!
//! fetch response (kind 3): next_offset varint, high_watermark varint,
//!                          log_start_offset varint, count, then per record:
//!   flags u8        0x01 value is JSON, 0x02 key present, 0x04 value_url present
//!   offset          varint
//!   timestamp_ms    zigzag varint
//!   key             bytes                          if 0x02
//!   value           bytes
//!   value_url       string                         if 0x04
//!   header count    varint, then per header: name string, value bytes
//! ```
//!
//! The message must end exactly after its last record: trailing bytes are an error.
//!
//! # Decoding rules
//! Decoding never panics and never trusts a length: every length and count is checked against
//! the bytes that remain before anything is allocated, so a 10-byte body cannot make the decoder
//! reserve gigabytes. Any violation is a [`DecodeError`] naming the byte position.
//! Produce header values must be UTF-8 (JSON headers are strings); fetched header values are
//! returned as stored (bytes), as a reader may not want them re-validated.
//!
//! # Files
//! - `mod.rs` (here): constants, [`Kind`], flag bits, [`DecodeError`], [`Header`], varint /
//!   zigzag / bytes writers, the bounds-checked reader every decoder uses, and `Accept` /
//!   `Content-Type` matching ([`names_binary`], [`accepts_result_runs`]).
//! - `produce_request.rs`: kind 1, [`ProduceRecord`], its writers, [`decode_produce_request`]
//!   and the streaming [`ProduceRequestDecoder`].
//! - `produce_answer.rs`: kinds 2 and 4, [`encode_produce_response`],
//!   [`encode_produce_result_runs`], [`decode_produce_response`], [`decode_produce_answer`].
//! - `fetch_answer.rs`: kind 3, [`FetchedRecord`], [`FetchResponse`], their writers and
//!   [`decode_fetch_response`].
//! - `tests.rs`: property tests (round trips, truncations, byte flips) and layout checks.

use bytes::Bytes;

mod fetch_answer;
mod produce_answer;
mod produce_request;
#[cfg(test)]
mod tests;

pub use fetch_answer::{
    FetchResponse, FetchedRecord, FetchedRecordRef, decode_fetch_response, encode_fetch_response,
    write_fetch_header, write_fetched_record,
};
pub use produce_answer::{
    decode_produce_answer, decode_produce_response, encode_produce_response,
    encode_produce_result_runs,
};
pub use produce_request::{
    ProduceRecord, ProduceRecordRef, ProduceRequestDecoder, decode_produce_request,
    encode_produce_request, write_produce_header, write_produce_record,
};

/// The media type of binary batch bodies (request `Content-Type`, answer `Accept`).
pub const CONTENT_TYPE: &str = "application/vnd.wharf.batch.v1";
/// First byte of every message.
pub const MAGIC: u8 = 0x57;
/// Second byte of every message.
pub const VERSION: u8 = 1;
/// The `Accept` value of a produce request that takes its answer in runs ([`Kind::ProduceResultRuns`])
/// as well as one result per record.
pub const ACCEPT_RESULT_RUNS: &str = "application/vnd.wharf.batch.v1; results=runs";

/// Third byte of every message: what the message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    ProduceRequest = 1,
    ProduceResponse = 2,
    FetchResponse = 3,
    ProduceResultRuns = 4,
}

const PRODUCE_JSON: u8 = 0x01;
const PRODUCE_KEY: u8 = 0x02;
const PRODUCE_PARTITION: u8 = 0x04;
const PRODUCE_TIMESTAMP: u8 = 0x08;

const RESULT_PARTITION: u8 = 0x01;
const RESULT_OFFSET: u8 = 0x02;
const RESULT_TIMESTAMP: u8 = 0x04;
const RESULT_ERROR: u8 = 0x08;

const FETCH_JSON: u8 = 0x01;
const FETCH_KEY: u8 = 0x02;
const FETCH_URL: u8 = 0x04;

/// Smallest encoding of one produce record / fetched record / produce result, used to refuse
/// counts that the remaining bytes cannot hold before allocating for them.
const MIN_PRODUCE_RECORD_BYTES: usize = 3;
const MIN_FETCH_RECORD_BYTES: usize = 5;
const MIN_RESULT_BYTES: usize = 1;
const MIN_HEADER_BYTES: usize = 2;

/// Why a binary body could not be decoded. `at` is the byte position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the body ends at byte {at} in the middle of {what}")]
    Truncated { at: usize, what: &'static str },
    #[error("bad magic byte {found:#04x}, expected {MAGIC:#04x}")]
    BadMagic { found: u8 },
    #[error("unsupported version {found}, this side speaks version {VERSION}")]
    UnsupportedVersion { found: u8 },
    #[error("message kind {found} where kind {expected} was expected")]
    WrongKind { expected: u8, found: u8 },
    #[error("varint at byte {at} is longer than 64 bits")]
    VarintOverflow { at: usize },
    #[error("unknown flag bits {flags:#04x} at byte {at}")]
    UnknownFlags { at: usize, flags: u8 },
    #[error("{what} at byte {at} is out of range: {value}")]
    OutOfRange {
        at: usize,
        what: &'static str,
        value: u64,
    },
    #[error("{what} count {count} at byte {at} cannot fit in the {remaining} bytes left")]
    CountTooLarge {
        at: usize,
        what: &'static str,
        count: u64,
        remaining: usize,
    },
    #[error("{what} at byte {at} is not valid UTF-8")]
    InvalidUtf8 { at: usize, what: &'static str },
    #[error("{count} trailing bytes after the last record")]
    TrailingBytes { count: usize },
}

/// One header: a UTF-8 name and a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Bytes,
}

// ---------------------------------------------------------------------------------------------
// Encoding

#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    // One-byte varints (lengths of small values, partitions, flags-sized counts) are the common
    // case; longer ones (offsets, timestamps) are assembled on the stack and appended once
    // instead of one checked push per byte.
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    let mut bytes = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        bytes[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    bytes[n] = v as u8;
    out.extend_from_slice(&bytes[..=n]);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_preamble(out: &mut Vec<u8>, kind: Kind) {
    out.extend_from_slice(&[MAGIC, VERSION, kind as u8]);
}

/// Bytes of the framing around `payload_bytes` of keys, values and headers for `records`
/// records: a good `Vec::with_capacity` for encoders.
pub fn estimated_len(records: usize, payload_bytes: usize) -> usize {
    16 + records * 24 + payload_bytes
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A cursor over a message; every read is bounds-checked.
#[derive(Debug)]
struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DecodeError::Truncated { at: self.pos, what })?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        // Fast path: most varints are one byte.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8(what)?;
            // The tenth byte may only hold the 64th bit.
            if i == 9 && b > 1 {
                return Err(DecodeError::VarintOverflow { at: start });
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::VarintOverflow { at: start })
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let at = self.pos;
        let v = self.varint(what)?;
        u32::try_from(v).map_err(|_| DecodeError::OutOfRange { at, what, value: v })
    }

    fn flags(&mut self, known: u8) -> Result<u8, DecodeError> {
        let at = self.pos;
        let flags = self.u8("record flags")?;
        if flags & !known != 0 {
            return Err(DecodeError::UnknownFlags { at, flags });
        }
        Ok(flags)
    }

    /// A count of items that need at least `min_bytes` each.
    fn count(&mut self, what: &'static str, min_bytes: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let count = self.varint(what)?;
        let remaining = self.remaining();
        if count > (remaining / min_bytes) as u64 {
            return Err(DecodeError::CountTooLarge {
                at,
                what,
                count,
                remaining,
            });
        }
        Ok(count as usize)
    }

    /// A length-prefixed byte string, sharing the message's buffer.
    fn bytes(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let at = self.pos;
        let len = self.varint(what)?;
        if len > self.remaining() as u64 {
            return Err(DecodeError::Truncated { at, what });
        }
        let len = len as usize;
        let b = self.buf.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(b)
    }

    fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let at = self.pos;
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::InvalidUtf8 { at, what })
    }

    fn utf8_bytes(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let at = self.pos;
        let b = self.bytes(what)?;
        std::str::from_utf8(&b).map_err(|_| DecodeError::InvalidUtf8 { at, what })?;
        Ok(b)
    }

    fn preamble(&mut self, expected: Kind) -> Result<(), DecodeError> {
        let found = self.preamble_kind()?;
        if found != expected as u8 {
            return Err(DecodeError::WrongKind {
                expected: expected as u8,
                found,
            });
        }
        Ok(())
    }

    /// Magic and version, then the kind byte as found.
    fn preamble_kind(&mut self) -> Result<u8, DecodeError> {
        let magic = self.u8("the magic byte")?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic { found: magic });
        }
        let version = self.u8("the version byte")?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion { found: version });
        }
        self.u8("the kind byte")
    }

    fn headers(&mut self, utf8_values: bool) -> Result<Vec<Header>, DecodeError> {
        // Most records carry no headers: one zero byte.
        if self.buf.get(self.pos) == Some(&0) {
            self.pos += 1;
            return Ok(Vec::new());
        }
        let n = self.count("header", MIN_HEADER_BYTES)?;
        let mut headers = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.string("a header name")?;
            let value = if utf8_values {
                self.utf8_bytes("a header value")?
            } else {
                self.bytes("a header value")?
            };
            headers.push(Header { name, value });
        }
        Ok(headers)
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}

/// Whether a `Content-Type` / `Accept` header value names [`CONTENT_TYPE`] (parameters and
/// case ignored; in `Accept`, any listed type with a non-zero `q`).
pub fn names_binary(header_value: &str) -> bool {
    header_value.split(',').any(|item| {
        let mut parts = item.split(';');
        let mime = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        mime.eq_ignore_ascii_case(CONTENT_TYPE) && !refused
    })
}

/// Whether an `Accept` header value admits produce answers in runs: a [`CONTENT_TYPE`] item
/// with the parameter `results=runs` (what [`ACCEPT_RESULT_RUNS`] says).
pub fn accepts_result_runs(header_value: &str) -> bool {
    // Item by item, so `q=0` on the item that asks for runs refuses runs.
    header_value.split(',').any(|item| {
        names_binary(item)
            && item.split(';').skip(1).any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("results")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("runs")
                })
            })
    })
}
