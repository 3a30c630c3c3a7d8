//! What the bench sends: record values of an exact size (with a send stamp in end-to-end
//! mode), the cut of the records into batches, and the check of each produce answer.

use anyhow::{bail, ensure};
use bytes::Bytes;
use wharf_client::{ProduceAnswer, Record, ValueFormat};

use super::args::ValueKind;
use wharf_client::Acks;

/// Width of the send timestamp at the start of an end-to-end value.
pub(super) const STAMP_DIGITS: usize = 20;

/// The value of a record: `record_bytes` bytes, optionally starting with a send stamp.
pub(super) fn value_bytes(record_bytes: usize, kind: ValueKind, stamp_us: Option<u64>) -> Bytes {
    let quoted = kind == ValueKind::Json;
    let inner = record_bytes - if quoted { 2 } else { 0 };
    let mut v = Vec::with_capacity(record_bytes);
    if quoted {
        v.push(b'"');
    }
    let body_start = v.len();
    if let Some(us) = stamp_us {
        v.extend_from_slice(format!("{us:0STAMP_DIGITS$}").as_bytes());
    }
    let filled = v.len() - body_start;
    // Letters only: valid inside a JSON string without escaping.
    v.extend((filled..inner).map(|i| b'a' + (i % 26) as u8));
    if quoted {
        v.push(b'"');
    }
    debug_assert_eq!(v.len(), record_bytes);
    Bytes::from(v)
}

pub(super) fn make_record(value: Bytes, kind: ValueKind) -> Record {
    let mut r = Record::bytes(value);
    if kind == ValueKind::Json {
        r.value_format = ValueFormat::Json;
    }
    r
}

/// Reads the send stamp back from an end-to-end value.
pub(super) fn parse_stamp(value: &[u8]) -> Option<u64> {
    let digits = match value.first() {
        Some(b'"') => value.get(1..=STAMP_DIGITS)?,
        _ => value.get(..STAMP_DIGITS)?,
    };
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Number of records in batch `index` of `total` records cut into batches of `batch_size`.
pub(super) fn batch_len(index: u64, total: u64, batch_size: usize) -> usize {
    let start = index * batch_size as u64;
    usize::try_from((total - start).min(batch_size as u64)).unwrap_or(batch_size)
}

/// Checks that the broker stored every record of a produce answer.
pub(super) fn check_answer(answer: &ProduceAnswer, sent: usize, acks: Acks) -> anyhow::Result<()> {
    if acks == Acks::None {
        ensure!(
            answer.status == 202 || answer.status == 200,
            "produce answered {} with acks=none",
            answer.status
        );
        return Ok(());
    }
    ensure!(
        answer.results.len() == sent,
        "produce answered {} results for {sent} records",
        answer.results.len()
    );
    if let Some(err) = answer.results.iter().find_map(|r| r.error.as_ref()) {
        bail!(
            "the broker refused a record (status {}): {} ({})",
            answer.status,
            err.message,
            err.code
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_exactly_the_requested_size_and_carry_their_stamp() {
        for kind in [ValueKind::Bytes, ValueKind::Json] {
            for size in [22, 23, 100, 1000] {
                let v = value_bytes(size, kind, Some(1_234_567));
                assert_eq!(v.len(), size);
                assert_eq!(parse_stamp(&v), Some(1_234_567));
                let plain = value_bytes(size, kind, None);
                assert_eq!(plain.len(), size);
            }
        }
        let json = value_bytes(30, ValueKind::Json, Some(5));
        let parsed: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert!(parsed.is_string());
        assert_eq!(value_bytes(1, ValueKind::Bytes, None).len(), 1);
        assert_eq!(&value_bytes(2, ValueKind::Json, None)[..], b"\"\"");
    }

    #[test]
    fn batches_cover_every_record_once() {
        let total: u64 = 2_500;
        let batches = total.div_ceil(1000);
        let lens: Vec<usize> = (0..batches).map(|i| batch_len(i, total, 1000)).collect();
        assert_eq!(lens, vec![1000, 1000, 500]);
    }
}
