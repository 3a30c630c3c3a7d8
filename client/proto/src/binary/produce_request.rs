//! Kind 1, the produce request: [`ProduceRecord`], its writers, and its decoders.

use bytes::Bytes;

use super::{
    DecodeError, Header, Kind, MIN_PRODUCE_RECORD_BYTES, PRODUCE_JSON, PRODUCE_KEY,
    PRODUCE_PARTITION, PRODUCE_TIMESTAMP, Reader, put_bytes, put_preamble, put_varint, unzigzag,
    zigzag,
};

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
