//! Property tests and layout checks of the binary encoding, over every message kind.

use super::*;
use crate::api::{ErrorDetail, ProduceResult};
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
            |(offset, timestamp_ms, key, value, value_is_json, value_url, headers)| FetchedRecord {
                offset,
                timestamp_ms,
                key,
                value,
                value_is_json,
                value_url,
                headers,
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
        .prop_map(
            |(records, next_offset, high_watermark, log_start_offset)| FetchResponse {
                records,
                next_offset,
                high_watermark,
                log_start_offset,
            },
        )
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
