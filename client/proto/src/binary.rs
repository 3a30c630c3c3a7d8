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

use bytes::Bytes;

use crate::api::{ErrorDetail, ProduceResult};

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

/// One record of a produce request (what [`crate::api::ProduceRecord`] carries, as bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceRecord {
    /// `None` is a null key.
    pub key: Option<Bytes>,
    pub value: Bytes,
    /// The value is JSON text (JSON's `value` rather than `value_b64`).
    pub value_is_json: bool,
    /// Header values are UTF-8 (the JSON API's headers are strings).
    pub headers: Vec<Header>,
    pub partition: Option<u32>,
    pub timestamp_ms: Option<i64>,
}

/// A produce record by reference, for encoders that do not want to build [`ProduceRecord`]s.
/// `headers` yields `(name, value)` pairs.
#[derive(Debug, Clone)]
pub struct ProduceRecordRef<'a, H> {
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
    pub value_is_json: bool,
    pub partition: Option<u32>,
    pub timestamp_ms: Option<i64>,
    pub headers: H,
}

/// One fetched record (what [`crate::api::FetchedRecord`] carries, as bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchedRecord {
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub value_is_json: bool,
    /// With `resolve=url`: a presigned GET URL for a claim-check pointer's object.
    pub value_url: Option<String>,
    pub headers: Vec<Header>,
}

/// A fetched record by reference (the broker writes its stored records without copying them).
#[derive(Debug, Clone)]
pub struct FetchedRecordRef<'a, H> {
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
    pub value_is_json: bool,
    pub value_url: Option<&'a str>,
    pub headers: H,
}

/// A fetch answer (what [`crate::api::FetchResponse`] carries).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchResponse {
    pub records: Vec<FetchedRecord>,
    /// The offset to fetch next.
    pub next_offset: u64,
    pub high_watermark: u64,
    pub log_start_offset: u64,
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

/// Starts a produce request of `count` records; follow with [`write_produce_record`] `count`
/// times.
pub fn write_produce_header(out: &mut Vec<u8>, count: usize) {
    put_preamble(out, Kind::ProduceRequest);
    put_varint(out, count as u64);
}

/// Appends one produce record.
pub fn write_produce_record<'a, H>(out: &mut Vec<u8>, r: ProduceRecordRef<'a, H>)
where
    H: ExactSizeIterator<Item = (&'a str, &'a [u8])>,
{
    let mut flags = 0;
    if r.value_is_json {
        flags |= PRODUCE_JSON;
    }
    if r.key.is_some() {
        flags |= PRODUCE_KEY;
    }
    if r.partition.is_some() {
        flags |= PRODUCE_PARTITION;
    }
    if r.timestamp_ms.is_some() {
        flags |= PRODUCE_TIMESTAMP;
    }
    out.push(flags);
    if let Some(p) = r.partition {
        put_varint(out, u64::from(p));
    }
    if let Some(ts) = r.timestamp_ms {
        put_varint(out, zigzag(ts));
    }
    if let Some(k) = r.key {
        put_bytes(out, k);
    }
    put_bytes(out, r.value);
    put_varint(out, r.headers.len() as u64);
    for (name, value) in r.headers {
        put_bytes(out, name.as_bytes());
        put_bytes(out, value);
    }
}

/// Encodes a whole produce request.
pub fn encode_produce_request(out: &mut Vec<u8>, records: &[ProduceRecord]) {
    write_produce_header(out, records.len());
    for r in records {
        write_produce_record(
            out,
            ProduceRecordRef {
                key: r.key.as_deref(),
                value: &r.value,
                value_is_json: r.value_is_json,
                partition: r.partition,
                timestamp_ms: r.timestamp_ms,
                headers: r.headers.iter().map(|h| (h.name.as_str(), &h.value[..])),
            },
        );
    }
}

/// Encodes a produce answer.
pub fn encode_produce_response(out: &mut Vec<u8>, results: &[ProduceResult]) {
    // flags + partition + offset + timestamp: 20 bytes at most for a result without error.
    out.reserve(4 + results.len() * 20);
    put_preamble(out, Kind::ProduceResponse);
    put_varint(out, results.len() as u64);
    for r in results {
        let flags = result_flags(r);
        out.push(flags);
        put_result_fields(out, r);
    }
}

fn result_flags(r: &ProduceResult) -> u8 {
    let mut flags = 0;
    if r.partition.is_some() {
        flags |= RESULT_PARTITION;
    }
    if r.offset.is_some() {
        flags |= RESULT_OFFSET;
    }
    if r.timestamp.is_some() {
        flags |= RESULT_TIMESTAMP;
    }
    if r.error.is_some() {
        flags |= RESULT_ERROR;
    }
    flags
}

/// Partition, offset, timestamp and error of `r`, each if present (after its flags).
fn put_result_fields(out: &mut Vec<u8>, r: &ProduceResult) {
    if let Some(p) = r.partition {
        put_varint(out, u64::from(p));
    }
    if let Some(o) = r.offset {
        put_varint(out, o);
    }
    if let Some(ts) = r.timestamp {
        put_varint(out, zigzag(ts));
    }
    if let Some(e) = &r.error {
        put_bytes(out, e.code.as_bytes());
        put_bytes(out, e.message.as_bytes());
        out.push(u8::from(e.retriable));
        let details = e
            .details
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default();
        put_bytes(out, details.as_bytes());
    }
}

/// Whether `next` continues the run that starts with `first` and has `len` results so far:
/// same flags, partition and timestamp, offsets one apart, and neither carries an error.
fn continues_run(first: &ProduceResult, len: u64, next: &ProduceResult) -> bool {
    first.error.is_none()
        && next.error.is_none()
        && first.partition == next.partition
        && first.timestamp == next.timestamp
        && match (first.offset, next.offset) {
            (None, None) => true,
            (Some(a), Some(b)) => a.checked_add(len) == Some(b),
            _ => false,
        }
}

/// Encodes a produce answer as runs ([`Kind::ProduceResultRuns`]).
pub fn encode_produce_result_runs(out: &mut Vec<u8>, results: &[ProduceResult]) {
    out.reserve(32);
    put_preamble(out, Kind::ProduceResultRuns);
    put_varint(out, results.len() as u64);
    let mut rest = results;
    while let Some(first) = rest.first() {
        let len = 1 + rest[1..]
            .iter()
            .zip(1u64..)
            .take_while(|&(next, i)| continues_run(first, i, next))
            .count();
        out.push(result_flags(first));
        put_varint(out, len as u64);
        put_result_fields(out, first);
        rest = &rest[len..];
    }
}

/// Starts a fetch answer of `count` records; follow with [`write_fetched_record`] `count` times.
pub fn write_fetch_header(
    out: &mut Vec<u8>,
    next_offset: u64,
    high_watermark: u64,
    log_start_offset: u64,
    count: usize,
) {
    put_preamble(out, Kind::FetchResponse);
    put_varint(out, next_offset);
    put_varint(out, high_watermark);
    put_varint(out, log_start_offset);
    put_varint(out, count as u64);
}

/// Appends one fetched record.
pub fn write_fetched_record<'a, H>(out: &mut Vec<u8>, r: FetchedRecordRef<'a, H>)
where
    H: ExactSizeIterator<Item = (&'a str, &'a [u8])>,
{
    let mut flags = 0;
    if r.value_is_json {
        flags |= FETCH_JSON;
    }
    if r.key.is_some() {
        flags |= FETCH_KEY;
    }
    if r.value_url.is_some() {
        flags |= FETCH_URL;
    }
    out.push(flags);
    put_varint(out, r.offset);
    put_varint(out, zigzag(r.timestamp_ms));
    if let Some(k) = r.key {
        put_bytes(out, k);
    }
    put_bytes(out, r.value);
    if let Some(url) = r.value_url {
        put_bytes(out, url.as_bytes());
    }
    put_varint(out, r.headers.len() as u64);
    for (name, value) in r.headers {
        put_bytes(out, name.as_bytes());
        put_bytes(out, value);
    }
}

/// Encodes a whole fetch answer.
pub fn encode_fetch_response(out: &mut Vec<u8>, answer: &FetchResponse) {
    write_fetch_header(
        out,
        answer.next_offset,
        answer.high_watermark,
        answer.log_start_offset,
        answer.records.len(),
    );
    for r in &answer.records {
        write_fetched_record(
            out,
            FetchedRecordRef {
                offset: r.offset,
                timestamp_ms: r.timestamp_ms,
                key: r.key.as_deref(),
                value: &r.value,
                value_is_json: r.value_is_json,
                value_url: r.value_url.as_deref(),
                headers: r.headers.iter().map(|h| (h.name.as_str(), &h.value[..])),
            },
        );
    }
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

/// Decodes a produce request. Keys, values and header values share `body`'s buffer.
pub fn decode_produce_request(body: &Bytes) -> Result<Vec<ProduceRecord>, DecodeError> {
    let ProduceRequestDecoder { mut r, count } = ProduceRequestDecoder::new(body)?;
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        records.push(r.produce_record()?);
    }
    r.finish()?;
    Ok(records)
}

/// Decodes a produce request one record at a time, for a caller that handles each record as it
/// comes instead of collecting them first.
#[derive(Debug)]
pub struct ProduceRequestDecoder<'a> {
    r: Reader<'a>,
    count: usize,
}

impl<'a> ProduceRequestDecoder<'a> {
    /// Reads the preamble and the record count.
    pub fn new(body: &'a Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader { buf: body, pos: 0 };
        r.preamble(Kind::ProduceRequest)?;
        let count = r.count("record", MIN_PRODUCE_RECORD_BYTES)?;
        Ok(Self { r, count })
    }

    /// The number of records the request says it holds.
    pub fn record_count(&self) -> usize {
        self.count
    }

    /// Hands every record to `each` in request order, then checks that the message ends there.
    /// On an error, the records handed over before it were well-formed; the caller should drop
    /// them, since the framing of the body is broken.
    pub fn for_each(mut self, mut each: impl FnMut(ProduceRecord)) -> Result<(), DecodeError> {
        for _ in 0..self.count {
            each(self.r.produce_record()?);
        }
        self.r.finish()
    }
}

impl Reader<'_> {
    /// One record of a produce request.
    fn produce_record(&mut self) -> Result<ProduceRecord, DecodeError> {
        let r = self;
        let flags = r.flags(PRODUCE_JSON | PRODUCE_KEY | PRODUCE_PARTITION | PRODUCE_TIMESTAMP)?;
        let partition = if flags & PRODUCE_PARTITION != 0 {
            Some(r.u32("a partition")?)
        } else {
            None
        };
        let timestamp_ms = if flags & PRODUCE_TIMESTAMP != 0 {
            Some(unzigzag(r.varint("a timestamp")?))
        } else {
            None
        };
        let key = if flags & PRODUCE_KEY != 0 {
            Some(r.bytes("a key")?)
        } else {
            None
        };
        let value = r.bytes("a value")?;
        let headers = r.headers(true)?;
        Ok(ProduceRecord {
            key,
            value,
            value_is_json: flags & PRODUCE_JSON != 0,
            headers,
            partition,
            timestamp_ms,
        })
    }
}

/// Decodes a produce answer (kind 2).
pub fn decode_produce_response(body: &Bytes) -> Result<Vec<ProduceResult>, DecodeError> {
    let mut r = Reader { buf: body, pos: 0 };
    r.preamble(Kind::ProduceResponse)?;
    let results = r.results()?;
    r.finish()?;
    Ok(results)
}

/// Decodes a produce answer of either kind: one result per record (kind 2) or runs (kind 4).
/// `max_results` is the number of records the request held: a run-length answer claiming more
/// is refused before anything is allocated for it.
pub fn decode_produce_answer(
    body: &Bytes,
    max_results: usize,
) -> Result<Vec<ProduceResult>, DecodeError> {
    let mut r = Reader { buf: body, pos: 0 };
    let results = match r.preamble_kind()? {
        k if k == Kind::ProduceResponse as u8 => r.results()?,
        k if k == Kind::ProduceResultRuns as u8 => r.result_runs(max_results)?,
        found => {
            return Err(DecodeError::WrongKind {
                expected: Kind::ProduceResultRuns as u8,
                found,
            });
        }
    };
    r.finish()?;
    Ok(results)
}

impl Reader<'_> {
    /// Kind 2's results.
    fn results(&mut self) -> Result<Vec<ProduceResult>, DecodeError> {
        let n = self.count("result", MIN_RESULT_BYTES)?;
        let mut results = Vec::with_capacity(n);
        for _ in 0..n {
            let flags = self.result_flags()?;
            results.push(self.result_fields(flags)?);
        }
        Ok(results)
    }

    /// Kind 4's runs, expanded to one result per record.
    fn result_runs(&mut self, max_results: usize) -> Result<Vec<ProduceResult>, DecodeError> {
        let at = self.pos;
        let n = self.varint("the result count")?;
        if n > max_results as u64 {
            return Err(DecodeError::OutOfRange {
                at,
                what: "the result count (more than the request's records)",
                value: n,
            });
        }
        let n = n as usize;
        let mut results = Vec::with_capacity(n);
        while results.len() < n {
            let flags = self.result_flags()?;
            let at = self.pos;
            let len = self.varint("a run length")?;
            if len == 0 || len > (n - results.len()) as u64 {
                return Err(DecodeError::OutOfRange {
                    at,
                    what: "a run length",
                    value: len,
                });
            }
            let at = self.pos;
            let first = self.result_fields(flags)?;
            if let Some(o) = first.offset
                && o.checked_add(len - 1).is_none()
            {
                return Err(DecodeError::OutOfRange {
                    at,
                    what: "a run's first offset",
                    value: o,
                });
            }
            let start = results.len();
            results.push(first);
            for i in 1..len {
                let mut next = results[start].clone();
                next.offset = next.offset.map(|o| o + i);
                results.push(next);
            }
        }
        Ok(results)
    }

    fn result_flags(&mut self) -> Result<u8, DecodeError> {
        self.flags(RESULT_PARTITION | RESULT_OFFSET | RESULT_TIMESTAMP | RESULT_ERROR)
    }

    /// The fields after a result's flags (both kinds).
    fn result_fields(&mut self, flags: u8) -> Result<ProduceResult, DecodeError> {
        let r = self;
        let mut result = ProduceResult::default();
        if flags & RESULT_PARTITION != 0 {
            result.partition = Some(r.u32("a partition")?);
        }
        if flags & RESULT_OFFSET != 0 {
            result.offset = Some(r.varint("an offset")?);
        }
        if flags & RESULT_TIMESTAMP != 0 {
            result.timestamp = Some(unzigzag(r.varint("a timestamp")?));
        }
        if flags & RESULT_ERROR != 0 {
            let code = r.string("an error code")?;
            let message = r.string("an error message")?;
            let at = r.pos;
            let retriable = match r.u8("the retriable flag")? {
                0 => false,
                1 => true,
                other => {
                    return Err(DecodeError::OutOfRange {
                        at,
                        what: "the retriable flag",
                        value: u64::from(other),
                    });
                }
            };
            let at = r.pos;
            let details = r.string("error details")?;
            let details = if details.is_empty() {
                None
            } else {
                Some(
                    serde_json::from_str(&details).map_err(|_| DecodeError::OutOfRange {
                        at,
                        what: "error details (not JSON)",
                        value: details.len() as u64,
                    })?,
                )
            };
            result.error = Some(ErrorDetail {
                code,
                message,
                retriable,
                details,
            });
        }
        Ok(result)
    }
}

/// Decodes a fetch answer. Keys, values and header values share `body`'s buffer.
pub fn decode_fetch_response(body: &Bytes) -> Result<FetchResponse, DecodeError> {
    let mut r = Reader { buf: body, pos: 0 };
    r.preamble(Kind::FetchResponse)?;
    let next_offset = r.varint("next_offset")?;
    let high_watermark = r.varint("high_watermark")?;
    let log_start_offset = r.varint("log_start_offset")?;
    let n = r.count("record", MIN_FETCH_RECORD_BYTES)?;
    let mut records = Vec::with_capacity(n);
    for _ in 0..n {
        let flags = r.flags(FETCH_JSON | FETCH_KEY | FETCH_URL)?;
        let offset = r.varint("an offset")?;
        let timestamp_ms = unzigzag(r.varint("a timestamp")?);
        let key = if flags & FETCH_KEY != 0 {
            Some(r.bytes("a key")?)
        } else {
            None
        };
        let value = r.bytes("a value")?;
        let value_url = if flags & FETCH_URL != 0 {
            Some(r.string("a value url")?)
        } else {
            None
        };
        let headers = r.headers(false)?;
        records.push(FetchedRecord {
            offset,
            timestamp_ms,
            key,
            value,
            value_is_json: flags & FETCH_JSON != 0,
            value_url,
            headers,
        });
    }
    r.finish()?;
    Ok(FetchResponse {
        records,
        next_offset,
        high_watermark,
        log_start_offset,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> impl Strategy<Value = Header> {
        ("[a-z-]{1,8}", "\\PC{0,8}").prop_map(|(name, value)| Header {
            name,
            value: Bytes::from(value.into_bytes()),
        })
    }

    fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
    }

    fn produce_record() -> impl Strategy<Value = ProduceRecord> {
        (
            proptest::option::of(bytes(16)),
            bytes(64),
            any::<bool>(),
            proptest::collection::vec(header(), 0..3),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<i64>()),
        )
            .prop_map(
                |(key, value, value_is_json, headers, partition, timestamp_ms)| ProduceRecord {
                    key,
                    value,
                    value_is_json,
                    headers,
                    partition,
                    timestamp_ms,
                },
            )
    }

    fn fetched_record() -> impl Strategy<Value = FetchedRecord> {
        (
            any::<u64>(),
            any::<i64>(),
            proptest::option::of(bytes(16)),
            bytes(64),
            any::<bool>(),
            proptest::option::of("[a-z:/.]{0,20}"),
            proptest::collection::vec(header(), 0..3),
        )
            .prop_map(
                |(offset, timestamp_ms, key, value, value_is_json, value_url, headers)| {
                    FetchedRecord {
                        offset,
                        timestamp_ms,
                        key,
                        value,
                        value_is_json,
                        value_url,
                        headers,
                    }
                },
            )
    }

    fn produce_result() -> impl Strategy<Value = ProduceResult> {
        (
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(("[a-z_]{1,12}", "\\PC{0,20}", any::<bool>(), any::<bool>())),
        )
            .prop_map(|(partition, offset, timestamp, error)| ProduceResult {
                partition,
                offset,
                timestamp,
                error: error.map(|(code, message, retriable, with_details)| ErrorDetail {
                    code,
                    message,
                    retriable,
                    details: with_details.then(|| serde_json::json!({"limit_bytes": 5})),
                }),
            })
    }

    /// Answers as a broker gives them: stretches of consecutive offsets in one partition with
    /// one timestamp, between arbitrary results (errors among them).
    fn produce_answer() -> impl Strategy<Value = Vec<ProduceResult>> {
        proptest::collection::vec((produce_result(), 1..6u64, any::<bool>()), 0..6).prop_map(
            |stretches| {
                let mut results = Vec::new();
                for (r, len, stretch) in stretches {
                    if stretch && r.error.is_none() {
                        for i in 0..len {
                            let mut next = r.clone();
                            next.offset = r.offset.map(|o| o.wrapping_add(i));
                            results.push(next);
                        }
                    } else {
                        results.push(r);
                    }
                }
                results
            },
        )
    }

    fn fetch_response() -> impl Strategy<Value = FetchResponse> {
        (
            proptest::collection::vec(fetched_record(), 0..8),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(records, next_offset, high_watermark, log_start_offset)| {
                FetchResponse {
                    records,
                    next_offset,
                    high_watermark,
                    log_start_offset,
                }
            })
    }

    /// Every strict prefix fails, and no single-byte change panics.
    fn check_damage<T: std::fmt::Debug>(
        encoded: &[u8],
        decode: impl Fn(&Bytes) -> Result<T, DecodeError>,
        flip_at: usize,
        flip_with: u8,
    ) -> Result<(), TestCaseError> {
        for cut in 0..encoded.len() {
            let prefix = Bytes::copy_from_slice(&encoded[..cut]);
            prop_assert!(decode(&prefix).is_err(), "a prefix of {cut} bytes decoded");
        }
        let mut longer = encoded.to_vec();
        longer.push(0);
        prop_assert_eq!(
            decode(&Bytes::from(longer)).err(),
            Some(DecodeError::TrailingBytes { count: 1 })
        );
        if !encoded.is_empty() {
            let mut damaged = encoded.to_vec();
            let i = flip_at % damaged.len();
            damaged[i] ^= flip_with.max(1);
            // Either outcome is fine; panicking is not.
            let _ = decode(&Bytes::from(damaged));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn produce_requests_round_trip(records in proptest::collection::vec(produce_record(), 0..8)) {
            let mut out = Vec::new();
            encode_produce_request(&mut out, &records);
            prop_assert_eq!(decode_produce_request(&Bytes::from(out)).unwrap(), records);
        }

        #[test]
        fn produce_responses_round_trip(results in proptest::collection::vec(produce_result(), 0..8)) {
            let mut out = Vec::new();
            encode_produce_response(&mut out, &results);
            prop_assert_eq!(decode_produce_response(&Bytes::from(out)).unwrap(), results);
        }

        #[test]
        fn produce_answers_in_runs_round_trip(results in produce_answer()) {
            let mut out = Vec::new();
            encode_produce_result_runs(&mut out, &results);
            let body = Bytes::from(out);
            prop_assert_eq!(&decode_produce_answer(&body, results.len()).unwrap(), &results);
            // The other kind decodes through the same entry point.
            let mut out = Vec::new();
            encode_produce_response(&mut out, &results);
            prop_assert_eq!(decode_produce_answer(&Bytes::from(out), results.len()).unwrap(), results);
        }

        #[test]
        fn damaged_produce_answers_in_runs_are_errors(
            results in produce_answer(),
            flip_at in any::<usize>(),
            flip_with in any::<u8>(),
        ) {
            let mut out = Vec::new();
            encode_produce_result_runs(&mut out, &results);
            let n = results.len();
            check_damage(&out, |b| decode_produce_answer(b, n), flip_at, flip_with)?;
        }

        #[test]
        fn fetch_responses_round_trip(answer in fetch_response()) {
            let mut out = Vec::new();
            encode_fetch_response(&mut out, &answer);
            prop_assert_eq!(decode_fetch_response(&Bytes::from(out)).unwrap(), answer);
        }

        #[test]
        fn damaged_produce_requests_are_errors(
            records in proptest::collection::vec(produce_record(), 1..4),
            flip_at in any::<usize>(),
            flip_with in any::<u8>(),
        ) {
            let mut out = Vec::new();
            encode_produce_request(&mut out, &records);
            check_damage(&out, decode_produce_request, flip_at, flip_with)?;
        }

        #[test]
        fn damaged_produce_responses_are_errors(
            results in proptest::collection::vec(produce_result(), 1..4),
            flip_at in any::<usize>(),
            flip_with in any::<u8>(),
        ) {
            let mut out = Vec::new();
            encode_produce_response(&mut out, &results);
            check_damage(&out, decode_produce_response, flip_at, flip_with)?;
        }

        #[test]
        fn damaged_fetch_responses_are_errors(
            answer in fetch_response(),
            flip_at in any::<usize>(),
            flip_with in any::<u8>(),
        ) {
            let mut out = Vec::new();
            encode_fetch_response(&mut out, &answer);
            check_damage(&out, decode_fetch_response, flip_at, flip_with)?;
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let body = Bytes::from(body);
            let _ = decode_produce_request(&body);
            let _ = decode_produce_response(&body);
            let _ = decode_produce_answer(&body, 1000);
            let _ = decode_fetch_response(&body);
        }

        #[test]
        fn varints_round_trip(v in any::<u64>(), t in any::<i64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            put_varint(&mut out, zigzag(t));
            let buf = Bytes::from(out);
            let mut r = Reader { buf: &buf, pos: 0 };
            prop_assert_eq!(r.varint("v").unwrap(), v);
            prop_assert_eq!(unzigzag(r.varint("t").unwrap()), t);
        }
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        let mut out = vec![MAGIC, VERSION, Kind::ProduceRequest as u8];
        put_varint(&mut out, u64::MAX);
        let err = decode_produce_request(&Bytes::from(out)).unwrap_err();
        assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err}");
    }

    #[test]
    fn overlong_varints_and_unknown_flags_are_errors() {
        let mut out = vec![MAGIC, VERSION, Kind::ProduceRequest as u8];
        out.extend_from_slice(&[0xff; 10]);
        out.push(0);
        assert!(matches!(
            decode_produce_request(&Bytes::from(out)),
            Err(DecodeError::VarintOverflow { at: 3 })
        ));
        let out = vec![MAGIC, VERSION, Kind::ProduceRequest as u8, 1, 0x80, 0, 0];
        assert!(matches!(
            decode_produce_request(&Bytes::from(out)),
            Err(DecodeError::UnknownFlags { at: 4, .. })
        ));
    }

    #[test]
    fn wrong_magic_version_and_kind_are_named() {
        let d = |b: &[u8]| decode_produce_request(&Bytes::copy_from_slice(b)).unwrap_err();
        assert_eq!(
            d(b"{\"records\":[]}"),
            DecodeError::BadMagic { found: b'{' }
        );
        assert_eq!(
            d(&[MAGIC, 2, 1, 0]),
            DecodeError::UnsupportedVersion { found: 2 }
        );
        assert_eq!(
            d(&[MAGIC, VERSION, 3, 0]),
            DecodeError::WrongKind {
                expected: 1,
                found: 3
            }
        );
    }

    #[test]
    fn produce_header_values_must_be_utf8() {
        let records = vec![ProduceRecord {
            value: Bytes::from_static(b"v"),
            headers: vec![Header {
                name: "h".into(),
                value: Bytes::from_static(&[0xff]),
            }],
            ..ProduceRecord::default()
        }];
        let mut out = Vec::new();
        encode_produce_request(&mut out, &records);
        assert!(matches!(
            decode_produce_request(&Bytes::from(out)),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
    }

    #[test]
    fn the_documented_layout_is_what_is_written() {
        let records = vec![ProduceRecord {
            key: Some(Bytes::from_static(b"k")),
            value: Bytes::from_static(b"{}"),
            value_is_json: true,
            headers: vec![Header {
                name: "h".into(),
                value: Bytes::from_static(b"v"),
            }],
            partition: Some(2),
            timestamp_ms: Some(-1),
        }];
        let mut out = Vec::new();
        encode_produce_request(&mut out, &records);
        assert_eq!(
            out,
            [
                0x57, 1, 1,    // magic, version, kind
                1,    // one record
                0x0f, // json | key | partition | timestamp
                2,    // partition
                1,    // zigzag(-1)
                1, b'k', 2, b'{', b'}', 1, 1, b'h', 1, b'v',
            ]
        );
    }

    #[test]
    fn a_batch_in_one_partition_is_one_run_and_counts_are_bounded_by_the_request() {
        let results: Vec<ProduceResult> = (0..1000)
            .map(|i| ProduceResult {
                partition: Some(3),
                offset: Some(1_000_000 + i),
                timestamp: Some(1_790_000_000_000),
                error: None,
            })
            .collect();
        let mut out = Vec::new();
        encode_produce_result_runs(&mut out, &results);
        // preamble 3, count 2, flags 1, length 2, partition 1, offset 3, timestamp 6
        assert_eq!(out.len(), 18, "{out:?}");
        let body = Bytes::from(out);
        assert_eq!(decode_produce_answer(&body, 1000).unwrap(), results);
        assert!(matches!(
            decode_produce_answer(&body, 999),
            Err(DecodeError::OutOfRange { at: 3, .. })
        ));
        // A run may not claim more results than the answer's count.
        let out = vec![MAGIC, VERSION, 4, 2, 0, 3];
        assert!(matches!(
            decode_produce_answer(&Bytes::from(out), 10),
            Err(DecodeError::OutOfRange {
                what: "a run length",
                ..
            })
        ));
        // Neither answer kind is a fetch answer, and kind 4 is not kind 2.
        assert_eq!(
            decode_produce_answer(&Bytes::from_static(&[MAGIC, VERSION, 3, 0]), 10),
            Err(DecodeError::WrongKind {
                expected: 4,
                found: 3
            })
        );
        let mut out = Vec::new();
        encode_produce_result_runs(&mut out, &results[..1]);
        assert!(matches!(
            decode_produce_response(&Bytes::from(out)),
            Err(DecodeError::WrongKind {
                expected: 2,
                found: 4
            })
        ));
    }

    #[test]
    fn runs_are_asked_for_with_a_parameter_of_the_binary_type() {
        assert!(accepts_result_runs(ACCEPT_RESULT_RUNS));
        assert!(accepts_result_runs(
            "application/json;q=0.1, Application/Vnd.Wharf.Batch.V1;Results=\"runs\""
        ));
        assert!(!accepts_result_runs(CONTENT_TYPE));
        assert!(!accepts_result_runs(
            "application/vnd.wharf.batch.v1;results=runs;q=0, application/vnd.wharf.batch.v1"
        ));
        assert!(!accepts_result_runs("application/json; results=runs"));
        assert!(names_binary(ACCEPT_RESULT_RUNS));
    }

    #[test]
    fn accept_headers_are_matched_with_parameters_and_lists() {
        assert!(names_binary(CONTENT_TYPE));
        assert!(names_binary(
            "Application/Vnd.Wharf.Batch.V1; charset=binary"
        ));
        assert!(names_binary(
            "application/json;q=0.5, application/vnd.wharf.batch.v1"
        ));
        assert!(!names_binary("application/vnd.wharf.batch.v1;q=0"));
        assert!(!names_binary("application/json"));
        assert!(!names_binary("*/*"));
    }
}
