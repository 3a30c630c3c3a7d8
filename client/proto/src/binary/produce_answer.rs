//! Kinds 2 and 4, the produce answer: one result per record, or runs of consecutive results.

use bytes::Bytes;

use super::{
    DecodeError, Kind, MIN_RESULT_BYTES, RESULT_ERROR, RESULT_OFFSET, RESULT_PARTITION,
    RESULT_TIMESTAMP, Reader, put_bytes, put_preamble, put_varint, unzigzag, zigzag,
};
use crate::api::{ErrorDetail, ProduceResult};

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
