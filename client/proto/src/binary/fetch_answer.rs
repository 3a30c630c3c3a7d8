//! Kind 3, the fetch answer: [`FetchResponse`] and [`FetchedRecord`], writers and decoder.

use bytes::Bytes;

use super::{
    DecodeError, FETCH_JSON, FETCH_KEY, FETCH_URL, Header, Kind, MIN_FETCH_RECORD_BYTES, Reader,
    put_bytes, put_preamble, put_varint, unzigzag, zigzag,
};

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
