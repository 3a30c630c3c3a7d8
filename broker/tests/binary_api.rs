//! The binary batch encoding on the real binary: binary produce read back as JSON, JSON produce
//! read back as binary, a damaged binary body refused whole, and `Accept` negotiation.
mod common;

use bytes::Bytes;
use common::{Api, Broker, assert_error, start_broker};
use serde_json::{Value, json};
use wharf_proto::binary::{self, CONTENT_TYPE, Header, ProduceRecord};

fn started(topic: &str, partitions: u32) -> (tempfile::TempDir, Broker, Api) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic(topic, partitions);
    (dir, broker, api)
}

fn sample_records() -> Vec<ProduceRecord> {
    vec![
        ProduceRecord {
            key: Some(Bytes::from_static(b"order-42")),
            value: Bytes::from_static(br#"{"id": 42, "sku": "A-1"}"#),
            value_is_json: true,
            headers: vec![Header {
                name: "trace-id".into(),
                value: Bytes::from_static(b"abc"),
            }],
            partition: Some(0),
            timestamp_ms: Some(1_732_240_000_000),
        },
        ProduceRecord {
            key: Some(Bytes::from_static(&[0x00, 0x01])),
            value: Bytes::from_static(b"hello"),
            partition: Some(0),
            ..ProduceRecord::default()
        },
        ProduceRecord {
            value: Bytes::from_static(&[0xff, 0xfe, 0x00]),
            partition: Some(0),
            ..ProduceRecord::default()
        },
    ]
}

fn binary_body(records: &[ProduceRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    binary::encode_produce_request(&mut out, records);
    out
}

fn produce_binary(
    api: &Api,
    topic: &str,
    body: Vec<u8>,
    accept: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut rb = api
        .request(
            reqwest::Method::POST,
            &format!("/v1/topics/{topic}/records"),
        )
        .header("content-type", CONTENT_TYPE)
        .body(body);
    if let Some(a) = accept {
        rb = rb.header("accept", a);
    }
    let (status, headers, body) = Api::send_raw(rb);
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, content_type, body)
}

fn fetch_binary(api: &Api, topic: &str, query: &str) -> (u16, String, Vec<u8>) {
    let rb = api
        .request(
            reqwest::Method::GET,
            &format!("/v1/topics/{topic}/partitions/0/records?{query}"),
        )
        .header("accept", CONTENT_TYPE);
    let (status, headers, body) = Api::send_raw(rb);
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, content_type, body)
}

#[test]
fn binary_produce_is_read_back_identically_as_json() {
    let (_dir, _broker, api) = started("bin-in", 1);
    let (status, content_type, body) =
        produce_binary(&api, "bin-in", binary_body(&sample_records()), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // No Accept: the answer is JSON.
    assert_eq!(content_type, "application/json");
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let offsets: Vec<u64> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 1, 2]);

    let records = api.fetch_all("bin-in", 0);
    assert_eq!(records.len(), 3);
    // The JSON value was compacted, as a JSON `value` would have been.
    assert_eq!(records[0]["value"], json!({"id": 42, "sku": "A-1"}));
    assert_eq!(records[0]["key"], "order-42");
    assert_eq!(records[0]["headers"]["trace-id"], "abc");
    assert_eq!(records[0]["timestamp"], 1_732_240_000_000u64);
    assert_eq!(records[1]["key_b64"], "AAE=");
    assert_eq!(records[1]["value_b64"], "aGVsbG8=");
    assert_eq!(records[2]["value_b64"], "//4A");
    assert!(records[2].get("key").is_none() && records[2].get("key_b64").is_none());
}

#[test]
fn json_produce_is_read_back_identically_as_binary() {
    let (_dir, _broker, api) = started("json-in", 1);
    let (status, body) = api.produce(
        "json-in",
        json!([
            {"key": "k1", "value": {"a": [1, 2]}, "headers": {"h": "v"}, "timestamp": 5},
            {"key_b64": "/w==", "value_b64": "AAEC"},
        ]),
    );
    assert_eq!(status, 200, "{body}");

    let (status, content_type, body) = fetch_binary(&api, "json-in", "offset=0");
    assert_eq!(status, 200);
    assert_eq!(content_type, CONTENT_TYPE);
    let answer = binary::decode_fetch_response(&Bytes::from(body)).unwrap();
    assert_eq!(
        (
            answer.next_offset,
            answer.high_watermark,
            answer.log_start_offset
        ),
        (2, 2, 0)
    );
    let r = &answer.records[0];
    assert_eq!((r.offset, r.timestamp_ms), (0, 5));
    assert_eq!(r.key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(r.value.as_ref(), br#"{"a":[1,2]}"#);
    assert!(r.value_is_json);
    assert_eq!(r.headers[0].name, "h");
    assert_eq!(r.headers[0].value.as_ref(), b"v");
    let r = &answer.records[1];
    assert_eq!(r.offset, 1);
    assert_eq!(r.key.as_deref(), Some(&[0xffu8][..]));
    assert_eq!(r.value.as_ref(), &[0u8, 1, 2]);
    assert!(!r.value_is_json);

    // Paging and the bounds work the same way in binary.
    let (_, _, body) = fetch_binary(&api, "json-in", "offset=1&max_records=1");
    let answer = binary::decode_fetch_response(&Bytes::from(body)).unwrap();
    assert_eq!(answer.records.len(), 1);
    assert_eq!(answer.next_offset, 2);
}

#[test]
fn accept_chooses_the_answer_encoding() {
    let (_dir, _broker, api) = started("accept", 1);
    // Binary in, binary out.
    let (status, content_type, body) = produce_binary(
        &api,
        "accept",
        binary_body(&sample_records()),
        Some("application/json;q=0.5, application/vnd.wharf.batch.v1"),
    );
    assert_eq!(status, 200);
    assert_eq!(content_type, CONTENT_TYPE);
    let results = binary::decode_produce_response(&Bytes::from(body)).unwrap();
    assert_eq!(
        results.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [Some(0), Some(1), Some(2)]
    );
    assert!(
        results
            .iter()
            .all(|r| r.partition == Some(0) && r.error.is_none())
    );

    // JSON in, binary out.
    let rb = api
        .request(reqwest::Method::POST, "/v1/topics/accept/records")
        .header("accept", CONTENT_TYPE)
        .json(&json!({"records": [{"value": "x"}]}));
    let (status, headers, body) = Api::send_raw(rb);
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], CONTENT_TYPE);
    let results = binary::decode_produce_response(&Bytes::from(body)).unwrap();
    assert_eq!(results[0].offset, Some(3));

    // Some records refused: 207, per-record errors in binary too.
    let mut mixed = sample_records();
    mixed[1].partition = Some(9);
    let (status, content_type, body) =
        produce_binary(&api, "accept", binary_body(&mixed), Some(CONTENT_TYPE));
    assert_eq!(status, 207);
    assert_eq!(content_type, CONTENT_TYPE);
    let results = binary::decode_produce_response(&Bytes::from(body)).unwrap();
    assert_eq!(results[1].error.as_ref().unwrap().code, "unknown_partition");
    assert!(results[0].offset.is_some() && results[2].offset.is_some());

    // A refused type in Accept, or another type, keeps JSON.
    for accept in [
        "application/vnd.wharf.batch.v1;q=0",
        "application/json",
        "*/*",
    ] {
        let rb = api
            .request(
                reqwest::Method::GET,
                "/v1/topics/accept/partitions/0/records?offset=0",
            )
            .header("accept", accept);
        let (status, headers, body) = Api::send_raw(rb);
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/json", "{accept}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["high_watermark"], 6);
    }

    // Fetch errors stay JSON under a binary Accept.
    let (status, content_type, body) = fetch_binary(&api, "accept", "offset=99");
    assert_eq!(content_type, "application/json");
    assert_error(
        status,
        &serde_json::from_slice(&body).unwrap(),
        416,
        "offset_out_of_range",
    );
}

#[test]
fn idempotent_replays_answer_in_the_encoding_asked_for() {
    let (_dir, _broker, api) = started("replay", 1);
    let send = |accept: Option<&str>| {
        let mut rb = api
            .request(reqwest::Method::POST, "/v1/topics/replay/records")
            .header("content-type", CONTENT_TYPE)
            .header("idempotency-key", "k-1")
            .body(binary_body(&sample_records()));
        if let Some(a) = accept {
            rb = rb.header("accept", a);
        }
        Api::send_raw(rb)
    };
    let (status, headers, first) = send(Some(CONTENT_TYPE));
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], CONTENT_TYPE);
    let (status, headers, again) = send(Some(CONTENT_TYPE));
    assert_eq!(status, 200);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(first, again);
    let (_, headers, as_json) = send(None);
    assert_eq!(headers["content-type"], "application/json");
    let as_json: Value = serde_json::from_slice(&as_json).unwrap();
    assert_eq!(as_json["results"][2]["offset"], 2);
    // A replay asked for in runs is the same results, in runs.
    let (_, headers, in_runs) = send(Some(binary::ACCEPT_RESULT_RUNS));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(in_runs[2], binary::Kind::ProduceResultRuns as u8);
    assert_eq!(
        binary::decode_produce_answer(&Bytes::from(in_runs), 3).unwrap(),
        binary::decode_produce_response(&Bytes::from(first)).unwrap()
    );
    assert_eq!(api.bounds("replay"), [(0, 3)]);
}

#[test]
fn answers_in_runs_only_when_asked_and_carry_every_result() {
    let (_dir, _broker, api) = started("runs", 2);
    // 500 keyless records without timestamps: one partition, one broker timestamp, one run.
    let records: Vec<ProduceRecord> = (0..500)
        .map(|i| ProduceRecord {
            value: Bytes::from(format!("value-{i}")),
            ..ProduceRecord::default()
        })
        .collect();
    let (status, content_type, body) = produce_binary(
        &api,
        "runs",
        binary_body(&records),
        Some(binary::ACCEPT_RESULT_RUNS),
    );
    assert_eq!(status, 200);
    assert_eq!(content_type, CONTENT_TYPE);
    assert_eq!(body[2], binary::Kind::ProduceResultRuns as u8);
    assert!(body.len() < 32, "{} bytes for one run", body.len());
    let results = binary::decode_produce_answer(&Bytes::from(body), 500).unwrap();
    let partition = results[0].partition.unwrap();
    assert!(
        results
            .iter()
            .zip(0..)
            .all(|(r, i)| r.partition == Some(partition)
                && r.offset == Some(i)
                && r.timestamp == results[0].timestamp
                && r.error.is_none())
    );

    // Refused records break the runs and keep their errors, in request order.
    api.create_topic("runs-mixed", 1);
    let mut mixed = sample_records();
    mixed[1].partition = Some(9);
    let (status, _, body) = produce_binary(
        &api,
        "runs-mixed",
        binary_body(&mixed),
        Some(binary::ACCEPT_RESULT_RUNS),
    );
    assert_eq!(status, 207);
    let results = binary::decode_produce_answer(&Bytes::from(body), 3).unwrap();
    assert_eq!(results[1].error.as_ref().unwrap().code, "unknown_partition");
    assert_eq!(
        results.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [Some(0), None, Some(1)]
    );

    // The plain binary type still gets one result per record.
    let (_, _, body) = produce_binary(&api, "runs", binary_body(&records[..2]), Some(CONTENT_TYPE));
    assert_eq!(body[2], binary::Kind::ProduceResponse as u8);
    assert_eq!(
        binary::decode_produce_response(&Bytes::from(body))
            .unwrap()
            .len(),
        2
    );
}
