//! Plain reads without a group: `GET .../partitions/{p}/records` (with long poll) and
//! `GET .../partitions/{p}/offsets`, over [`crate::service::consume`]; and the record writers
//! the poll answer shares.
//!
//! A fetch answers in the binary batch encoding ([`wharf_proto::binary`]) when `Accept` names
//! `application/vnd.wharf.batch.v1`, in JSON otherwise. Both writers work straight from the
//! stored records (no per-record wire structs), so an answer costs one buffer.

use std::io::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use wharf_proto::api::{ErrorBody, FetchResponse, OffsetLookup};
use wharf_proto::binary;

use super::error::ApiError;
use super::extract::{P, Q, wants_binary};
use crate::config::Action;
use crate::service::consume::{self, Budget, Fetched, OffsetQuery, Resolve};
use crate::state::Broker;
use crate::storage::{ReadBatch, Record};

/// Query of a fetch.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FetchQuery {
    /// First offset to return.
    pub offset: u64,
    /// Most records to return (default 500, at most 100 000).
    pub max_records: Option<usize>,
    /// Most encoded bytes to return (default 1 MiB, at most 64 MiB); at least one record
    /// is returned if one exists, however large.
    pub max_bytes: Option<usize>,
    /// Long poll: wait up to this long for `min_bytes` to be available (default 0).
    pub wait_ms: Option<u64>,
    /// Answer as soon as this many bytes are available (default 1).
    pub min_bytes: Option<usize>,
    /// `url`: claim-check pointer records get a presigned GET URL in `value_url` (with the
    /// local-directory store, which cannot presign, the value itself instead).
    pub resolve: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/topics/{topic}/partitions/{partition}/records",
    params(("topic" = String, Path), ("partition" = u32, Path), FetchQuery),
    responses(
        (status = 200, description = "Records (binary with `Accept: application/vnd.wharf.batch.v1`)", body = FetchResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 416, description = "Offset below the log start or above the high watermark", body = ErrorBody),
    )
)]
pub async fn fetch(
    State(broker): State<Arc<Broker>>,
    P((topic, partition)): P<(String, u32)>,
    Q(query): Q<FetchQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    super::auth::authorize(&broker, &headers, Action::Consume, &topic)?;
    let budget = Budget::new(
        query.max_records,
        query.max_bytes,
        query.wait_ms,
        query.min_bytes,
        broker.config.max_wait_ms,
    )?;
    let resolve = Resolve::parse(query.resolve.as_deref())?;
    let Fetched {
        batch,
        value_urls: urls,
    } = consume::fetch(&broker, &topic, partition, query.offset, budget, resolve).await?;

    if wants_binary(&headers) {
        let out = write_records_binary(&batch, &urls);
        return Ok(([(header::CONTENT_TYPE, binary::CONTENT_TYPE)], out).into_response());
    }
    let mut out = Vec::with_capacity(batch.bytes as usize + 64 * batch.records.len() + 128);
    out.extend_from_slice(b"{\"records\":");
    write_records_json(&mut out, &batch.records, b"", &urls);
    write!(
        out,
        ",\"next_offset\":{},\"high_watermark\":{},\"log_start_offset\":{}}}",
        batch.next_offset, batch.high_watermark, batch.log_start_offset
    )
    .expect("writing to a Vec cannot fail");
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}

/// Encodes a read as a binary fetch answer, writing each stored record in place.
pub fn write_records_binary(batch: &ReadBatch, value_urls: &[Option<String>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(binary::estimated_len(
        batch.records.len(),
        batch.bytes as usize,
    ));
    binary::write_fetch_header(
        &mut out,
        batch.next_offset,
        batch.high_watermark,
        batch.log_start_offset,
        batch.records.len(),
    );
    for (i, r) in batch.records.iter().enumerate() {
        binary::write_fetched_record(
            &mut out,
            binary::FetchedRecordRef {
                offset: r.offset,
                timestamp_ms: r.timestamp_ms,
                key: r.key.as_deref(),
                value: &r.value,
                value_is_json: r.value_is_json,
                value_url: value_urls.get(i).and_then(|u| u.as_deref()),
                headers: r.headers.iter().map(|h| (h.key.as_str(), &h.value[..])),
            },
        );
    }
    out
}

/// Writes records as a JSON array, embedding JSON values as they are stored (they were
/// validated and compacted when produced) instead of parsing and re-serializing them.
/// `prefix` (`"field":value,` pairs) is written at the start of every record object.
pub fn write_records_json(
    out: &mut Vec<u8>,
    records: &[Record],
    prefix: &[u8],
    value_urls: &[Option<String>],
) {
    out.push(b'[');
    write_record_items(out, records, prefix, value_urls);
    out.push(b']');
}

/// The items of [`write_records_json`]'s array, comma-separated, without the brackets (a poll
/// answer writes the records of several partitions into one array).
pub fn write_record_items(
    out: &mut Vec<u8>,
    records: &[Record],
    prefix: &[u8],
    value_urls: &[Option<String>],
) {
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        out.extend_from_slice(prefix);
        write!(
            out,
            "\"offset\":{},\"timestamp\":{}",
            r.offset, r.timestamp_ms
        )
        .expect("writing to a Vec cannot fail");
        if let Some(key) = &r.key {
            match std::str::from_utf8(key) {
                Ok(text) if !text.chars().any(char::is_control) => {
                    out.extend_from_slice(b",\"key\":");
                    serde_json::to_writer(&mut *out, text).expect("string serializes");
                }
                _ => {
                    out.extend_from_slice(b",\"key_b64\":\"");
                    push_base64(out, key);
                    out.push(b'"');
                }
            }
        }
        match (r.value_is_json, std::str::from_utf8(&r.value)) {
            (true, Ok(text)) if !text.is_empty() => {
                out.extend_from_slice(b",\"value\":");
                out.extend_from_slice(text.as_bytes());
            }
            _ => {
                out.extend_from_slice(b",\"value_b64\":\"");
                push_base64(out, &r.value);
                out.push(b'"');
            }
        }
        if let Some(Some(url)) = value_urls.get(i) {
            out.extend_from_slice(b",\"value_url\":");
            serde_json::to_writer(&mut *out, url).expect("string serializes");
        }
        out.extend_from_slice(b",\"headers\":{");
        for (j, h) in r.headers.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, &h.key).expect("string serializes");
            out.push(b':');
            serde_json::to_writer(&mut *out, &String::from_utf8_lossy(&h.value))
                .expect("string serializes");
        }
        out.extend_from_slice(b"}}");
    }
}

/// Appends the base64 of `bytes` to `out` in place (a `String` per record was the largest
/// allocation count of a JSON fetch).
fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + bytes.len().div_ceil(3) * 4, 0);
    let written = B64
        .encode_slice(bytes, &mut out[start..])
        .expect("the buffer was sized for padded base64");
    out.truncate(start + written);
}

/// Query of an offset lookup.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OffsetsQuery {
    /// `earliest`, `latest`, or a timestamp in ms (first offset at or after it).
    pub at: String,
}

#[utoipa::path(
    get,
    path = "/v1/topics/{topic}/partitions/{partition}/offsets",
    params(("topic" = String, Path), ("partition" = u32, Path), OffsetsQuery),
    responses((status = 200, body = OffsetLookup), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn offsets(
    State(broker): State<Arc<Broker>>,
    P((topic, partition)): P<(String, u32)>,
    Q(query): Q<OffsetsQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<OffsetLookup>, ApiError> {
    super::auth::authorize(&broker, &headers, Action::Consume, &topic)?;
    let at = OffsetQuery::parse(&query.at)?;
    let (offset, bounds) = consume::offset_at(&broker, &topic, partition, at).await?;
    Ok(axum::Json(OffsetLookup {
        partition,
        offset,
        log_start_offset: bounds.log_start_offset,
        high_watermark: bounds.high_watermark,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Bytes, Header};

    #[test]
    fn records_json_round_trips_through_the_wire_types() {
        let records = vec![
            Record {
                offset: 3,
                timestamp_ms: 9,
                key: Some(Bytes::from_static(b"k\"1")),
                value: Bytes::from_static(br#"{"a":[1,2]}"#),
                headers: vec![Header {
                    key: "trace".into(),
                    value: Bytes::from_static(b"x"),
                }],
                value_is_json: true,
            },
            Record {
                offset: 4,
                timestamp_ms: 10,
                key: Some(Bytes::from_static(&[0xff, 0x00])),
                value: Bytes::from_static(&[1, 2, 3]),
                headers: vec![],
                value_is_json: false,
            },
        ];
        let mut out = Vec::new();
        write_records_json(&mut out, &records, b"", &[]);
        let parsed: Vec<wharf_proto::api::FetchedRecord> = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed[0].key.as_deref(), Some("k\"1"));
        assert_eq!(parsed[0].value.as_ref().unwrap().get(), r#"{"a":[1,2]}"#);
        assert_eq!(parsed[0].headers["trace"], "x");
        assert_eq!(parsed[1].key_b64.as_deref(), Some("/wA="));
        assert_eq!(parsed[1].value_b64.as_deref(), Some("AQID"));
    }

    #[test]
    fn binary_answers_carry_what_json_answers_carry() {
        let batch = ReadBatch {
            records: vec![Record {
                offset: 3,
                timestamp_ms: 9,
                key: Some(Bytes::from_static(&[0xff])),
                value: Bytes::from_static(br#"{"a":1}"#),
                headers: vec![Header {
                    key: "trace".into(),
                    value: Bytes::from_static(b"x"),
                }],
                value_is_json: true,
            }],
            next_offset: 4,
            high_watermark: 7,
            log_start_offset: 1,
            bytes: 20,
        };
        let out = write_records_binary(&batch, &[Some("http://u".into())]);
        let answer = binary::decode_fetch_response(&bytes::Bytes::from(out)).unwrap();
        assert_eq!(
            (
                answer.next_offset,
                answer.high_watermark,
                answer.log_start_offset
            ),
            (4, 7, 1)
        );
        let r = &answer.records[0];
        assert_eq!((r.offset, r.timestamp_ms, r.value_is_json), (3, 9, true));
        assert_eq!(r.key.as_deref(), Some(&[0xffu8][..]));
        assert_eq!(r.value_url.as_deref(), Some("http://u"));
        assert_eq!(r.headers[0].name, "trace");
    }
}
