//! `POST /v1/topics/{topic}/records`: per-record validation, limits, encodings, idempotency.

use std::io::Write;

use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use wharf_proto::binary;

use crate::bodies::records_body;
use crate::harness::{App, values};

const RECORDS: &str = "/v1/topics/t/records";

async fn one_topic(partitions: u32) -> App {
    let app = App::start().await;
    app.create_topic("t", partitions).await;
    app
}

/// The per-record error codes of a produce answer, in request order (`None` for appended ones).
fn record_codes(body: &Value) -> Vec<Option<String>> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["error"]["code"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_invalid_json() {
    let app = one_topic(1).await;
    let reply = app
        .call(Method::POST, RECORDS, &[], "{\"records\": [")
        .await;
    reply.error(400, "invalid_json");
    assert_eq!(app.high_watermarks("t").await, vec![0]);
}

#[tokio::test]
async fn a_body_that_is_a_json_array_is_400_invalid_json() {
    let app = one_topic(1).await;
    app.call(Method::POST, RECORDS, &[], "[[{\"value\":1}]]")
        .await
        .error(400, "invalid_json");
}

#[tokio::test]
async fn no_records_is_400_empty_batch() {
    let app = one_topic(1).await;
    app.produce("t", json!([])).await.error(400, "empty_batch");
}

#[tokio::test]
async fn every_record_refused_is_400_invalid_records_with_each_reason_and_nothing_appended() {
    let app = one_topic(2).await;
    let reply = app
        .produce(
            "t",
            json!([
                {"key": "k"},
                {"value": 1, "value_b64": "AA=="},
                {"key": "a", "key_b64": "AA==", "value": 1},
                {"value_b64": "!!not base64"},
                {"key_b64": "%%", "value": 1},
                {"value": 1, "partition": 2},
                {"value": 1, "timestamp": -5},
                {"value": 1, "timestamp": 253_402_300_800_000_i64},
                {"value": 1, "headers": {"": "x"}},
                {"value": 1, "extra": true},
                ["not", "an", "object"],
            ]),
        )
        .await;
    reply.error(400, "invalid_records");
    assert_eq!(
        record_codes(&reply.json()),
        [
            "missing_value",
            "ambiguous_value",
            "ambiguous_key",
            "invalid_base64",
            "invalid_base64",
            "unknown_partition",
            "invalid_timestamp",
            "invalid_timestamp",
            "invalid_header",
            "invalid_record",
            "invalid_record",
        ]
        .map(|c| Some(c.to_owned()))
    );
    assert_eq!(app.high_watermarks("t").await, vec![0, 0]);
}

#[tokio::test]
async fn some_refused_records_give_207_with_errors_in_place_and_all_refused_give_400() {
    let app = App::start().await;
    app.post(
        "/v1/topics",
        &json!({"name": "mixed", "partitions": 2, "max_record_bytes": 1024}),
    )
    .await
    .ok(201);
    let body = app
        .produce(
            "mixed",
            json!([
                {"value": "ok-0", "partition": 0},
                {"value_b64": "not base64!"},
                {"value": "ok-2", "partition": 0},
                {"value": "x", "partition": 2},
                {"value": "x".repeat(2000)},
                {"key": "a", "key_b64": "YQ==", "value": 1},
                {"value": 1, "value_b64": "AA=="},
                {"key": "no value"},
                {"value": 1, "timestamp": -1},
                {"value": 1, "timestamp": 253_402_300_800_000i64},
                {"value": 1, "headers": {"": "x"}},
                {"value": 1, "colour": "red"},
                {"value": "ok-12", "partition": 0},
            ]),
        )
        .await
        .ok(207);
    let codes = record_codes(&body);
    assert_eq!(
        codes,
        [
            None,
            Some("invalid_base64"),
            None,
            Some("unknown_partition"),
            Some("record_too_large"),
            Some("ambiguous_key"),
            Some("ambiguous_value"),
            Some("missing_value"),
            Some("invalid_timestamp"),
            Some("invalid_timestamp"),
            Some("invalid_header"),
            Some("invalid_record"),
            None,
        ]
        .map(|c| c.map(str::to_owned))
    );
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[4]["error"]["details"]["limit_bytes"], 1024);
    assert_eq!(results[4]["error"]["details"]["record_bytes"], 2002);
    for (r, code) in results.iter().zip(&codes) {
        if code.is_some() {
            assert!(
                r.get("offset").is_none(),
                "refused record has an offset: {r}"
            );
            assert!(r["error"]["message"].is_string(), "{r}");
            assert_eq!(r["error"]["retriable"], false, "{r}");
        }
    }
    assert_eq!(results[0]["offset"], 0);
    assert_eq!(results[2]["offset"], 1);
    assert_eq!(results[12]["offset"], 2);
    let fetched = app.fetch("mixed", 0, "offset=0").await.ok(200);
    let stored = values(&fetched);
    assert_eq!(stored, [json!("ok-0"), json!("ok-2"), json!("ok-12")]);
    assert_eq!(app.high_watermarks("mixed").await, vec![3, 0]);

    let reply = app
        .produce(
            "mixed",
            json!([{"value_b64": "%%%"}, {"value": "y".repeat(1025)}]),
        )
        .await;
    reply.error(400, "invalid_records");
    assert_eq!(
        record_codes(&reply.json()),
        [Some("invalid_base64"), Some("record_too_large")].map(|c| c.map(str::to_owned))
    );
    app.produce("mixed", json!([]))
        .await
        .error(400, "empty_batch");
    for body in [
        json!({"records": [], "extra": 1}),
        json!([{"value": 1}]),
        // Positional forms (serde's array form of a struct) are refused, not read by order.
        json!([[{"value": 1}]]),
    ] {
        app.post("/v1/topics/mixed/records", &body)
            .await
            .error(400, "invalid_json");
    }
    let reply = app
        .produce("mixed", json!([["k", null, 1, null, null, 0]]))
        .await;
    reply.error(400, "invalid_records");
    assert_eq!(
        record_codes(&reply.json()),
        [Some("invalid_record".to_owned())]
    );
    assert_eq!(
        app.high_watermarks("mixed").await,
        vec![3, 0],
        "refused requests append nothing"
    );
    app.produce("nope", json!([{"value": 1}]))
        .await
        .error(404, "unknown_topic");
}

#[tokio::test]
async fn the_per_record_limit_counts_key_value_and_headers_and_refuses_only_the_large_record() {
    let app = App::start().await;
    app.post(
        "/v1/topics",
        &json!({"name": "rec", "partitions": 1, "max_record_bytes": 1024}),
    )
    .await
    .ok(201);
    let body = app
        .produce(
            "rec",
            json!([
                {"value_b64": B64.encode([7u8; 1024])},
                {"value_b64": B64.encode([7u8; 1020]), "key": "12345"},
                {"value_b64": B64.encode([7u8; 1000]), "headers": {"h": "x".repeat(30)}},
                {"value": "small"},
            ]),
        )
        .await
        .ok(207);
    assert!(
        body["results"][0].get("error").is_none(),
        "exactly the limit fits: {body}"
    );
    for i in [1, 2] {
        let error = &body["results"][i]["error"];
        assert_eq!(error["code"], "record_too_large", "{body}");
        assert_eq!(error["details"]["limit_bytes"], 1024);
    }
    assert_eq!(body["results"][1]["error"]["details"]["record_bytes"], 1025);
    assert_eq!(body["results"][3]["offset"], 1);
}

#[tokio::test]
async fn the_configured_body_limit_applies_to_plain_and_decompressed_bodies() {
    let app = App::with(|c| c.max_request_bytes = 65536).await;
    app.create_topic("t", 1).await;
    let details = app
        .call(Method::POST, RECORDS, &[], records_body(65537))
        .await
        .error(413, "payload_too_large");
    assert_eq!(details["limit_bytes"], 65536);
    // Small on the wire, too big once inflated: still 413, and nothing is written.
    let inflated = records_body(1_000_000);
    for (encoding, packed) in [
        ("gzip", gzip(&inflated)),
        ("zstd", zstd::encode_all(&inflated[..], 3).unwrap()),
    ] {
        assert!(packed.len() < 65536);
        app.call(
            Method::POST,
            RECORDS,
            &[("content-encoding", encoding)],
            packed,
        )
        .await
        .error(413, "payload_too_large");
    }
    app.call(Method::POST, RECORDS, &[], records_body(60_000))
        .await
        .ok(200);
    assert_eq!(app.high_watermarks("t").await, vec![1]);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn gzip_and_zstd_bodies_are_read_and_unknown_or_corrupt_encodings_refused() {
    let app = one_topic(1).await;
    let plain = json!({"records": [{"value": {"enc": true}}]}).to_string();
    let gzip_headers = [
        ("content-encoding", "gzip"),
        ("content-type", "application/json"),
    ];
    let reply = app
        .call(Method::POST, RECORDS, &gzip_headers, gzip(plain.as_bytes()))
        .await;
    assert_eq!(reply.ok(200)["results"][0]["offset"], 0);
    let zstd_body = zstd::encode_all(plain.as_bytes(), 3).unwrap();
    let reply = app
        .call(
            Method::POST,
            RECORDS,
            &[("content-encoding", "zstd")],
            zstd_body,
        )
        .await;
    assert_eq!(reply.ok(200)["results"][0]["offset"], 1);
    // Topic administration takes compressed bodies too.
    app.call(
        Method::POST,
        "/v1/topics",
        &[("content-encoding", "gzip")],
        gzip(br#"{"name":"enc2","partitions":1}"#),
    )
    .await
    .ok(201);

    for encoding in ["br", "deflate", "compress", "gzip, zstd"] {
        app.call(
            Method::POST,
            RECORDS,
            &[("content-encoding", encoding)],
            plain.clone(),
        )
        .await
        .error(415, "unsupported_media_type");
    }
    for encoding in ["gzip", "zstd"] {
        app.call(
            Method::POST,
            RECORDS,
            &[("content-encoding", encoding)],
            "definitely not compressed",
        )
        .await
        .error(400, "invalid_encoding");
    }
    let fetched = app.fetch("t", 0, "offset=0").await.ok(200);
    let stored = values(&fetched);
    assert_eq!(stored, [json!({"enc": true}), json!({"enc": true})]);
}

#[tokio::test]
async fn json_ish_content_types_are_read_as_json_and_others_are_415() {
    let app = one_topic(1).await;
    let body = json!({"records": [{"value": 1}]}).to_string();
    for content_type in [
        "application/json; charset=utf-8",
        "application/vnd.example+json",
        "text/plain",
        "application/x-www-form-urlencoded",
    ] {
        let reply = app
            .call(
                Method::POST,
                RECORDS,
                &[("content-type", content_type)],
                body.clone(),
            )
            .await;
        reply.ok(200);
    }
    app.call(
        Method::POST,
        RECORDS,
        &[("content-type", "application/xml")],
        body,
    )
    .await
    .error(415, "unsupported_media_type");
    assert_eq!(app.high_watermarks("t").await, vec![4]);
}

#[tokio::test]
async fn an_unknown_topic_is_404_unless_auto_creation_is_on() {
    let app = App::start().await;
    app.produce("missing", json!([{"value": 1}]))
        .await
        .error(404, "unknown_topic");
    let auto = App::with(|c| {
        c.auto_create_topics = true;
        c.topic_defaults.partitions = 3;
    })
    .await;
    let body = auto
        .produce("fresh", json!([{"key": "foobar", "value": 1}]))
        .await
        .ok(200);
    // Kafka's murmur2 of "foobar" is -790332482; toPositive(hash) % 3.
    let kafka_partition = (-790_332_482_i32 & 0x7fff_ffff) as u32 % 3;
    assert_eq!(body["results"][0]["partition"], kafka_partition);
    assert_eq!(auto.get("/v1/topics/fresh").await.ok(200)["partitions"], 3);
    auto.produce("bad%20name", json!([{"value": 1}]))
        .await
        .error(400, "invalid_topic_name");
}

#[tokio::test]
async fn acks_none_is_202_without_offsets_and_an_unknown_acks_is_invalid_query() {
    let app = one_topic(1).await;
    let reply = app
        .post(
            "/v1/topics/t/records?acks=none",
            &json!({"records": [{"value": 1}]}),
        )
        .await;
    let body = reply.ok(202);
    assert!(body["results"][0].get("offset").is_none(), "{body}");
    for query in ["acks=2", "acks=all&flush=yes"] {
        app.post(
            &format!("/v1/topics/t/records?{query}"),
            &json!({"records": [{"value": 1}]}),
        )
        .await
        .error(400, "invalid_query");
    }
}

async fn post_with_key(
    app: &App,
    topic: &str,
    key: &str,
    records: &Value,
) -> crate::harness::Reply {
    app.call(
        Method::POST,
        &format!("/v1/topics/{topic}/records"),
        &[("idempotency-key", key)],
        json!({ "records": records }).to_string(),
    )
    .await
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_with_the_replay_header_and_appends_once() {
    let app = one_topic(1).await;
    let records = json!([{"value": 1}, {"value": 2}]);
    let first = post_with_key(&app, "t", "order-1", &records).await;
    assert_eq!(first.status, 200);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = post_with_key(&app, "t", "order-1", &records).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), first.json());
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(app.high_watermarks("t").await, vec![2]);
    // Keys are per topic and per key: another key appends again.
    post_with_key(&app, "t", "order-2", &records).await.ok(200);
    assert_eq!(app.high_watermarks("t").await, vec![4]);
}

#[tokio::test]
async fn a_refused_request_is_not_remembered_under_its_idempotency_key() {
    let app = one_topic(1).await;
    post_with_key(&app, "t", "k", &json!([{"value_b64": "?"}]))
        .await
        .error(400, "invalid_records");
    let retry = post_with_key(&app, "t", "k", &json!([{"value": 1}])).await;
    assert_eq!(retry.status, 200);
    assert!(retry.headers.get("idempotent-replayed").is_none());
    assert_eq!(app.high_watermarks("t").await, vec![1]);
}

#[tokio::test]
async fn empty_and_overlong_idempotency_keys_are_400_invalid_idempotency_key() {
    let app = one_topic(1).await;
    let records = json!([{"value": 1}]);
    for key in [String::new(), "k".repeat(256)] {
        post_with_key(&app, "t", &key, &records)
            .await
            .error(400, "invalid_idempotency_key");
    }
    post_with_key(&app, "t", &"k".repeat(255), &records)
        .await
        .ok(200);
    assert_eq!(app.high_watermarks("t").await, vec![1]);
}

fn binary_request(records: &[binary::ProduceRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    binary::encode_produce_request(&mut out, records);
    out
}

fn two_binary_records() -> Vec<binary::ProduceRecord> {
    vec![
        binary::ProduceRecord {
            key: Some("k".into()),
            value: "{ \"a\": 1 }".into(),
            value_is_json: true,
            partition: Some(0),
            ..binary::ProduceRecord::default()
        },
        binary::ProduceRecord {
            value: vec![0u8, 1, 2].into(),
            partition: Some(0),
            ..binary::ProduceRecord::default()
        },
    ]
}

async fn produce_binary(app: &App, accept: Option<&str>) -> crate::harness::Reply {
    let mut headers = vec![("content-type", binary::CONTENT_TYPE)];
    if let Some(accept) = accept {
        headers.push(("accept", accept));
    }
    app.call(
        Method::POST,
        RECORDS,
        &headers,
        binary_request(&two_binary_records()),
    )
    .await
}

#[tokio::test]
async fn a_binary_body_is_answered_in_json_unless_accept_asks_for_binary() {
    let app = one_topic(1).await;
    let json_answer = produce_binary(&app, None).await.ok(200);
    assert_eq!(json_answer["results"][1]["offset"], 1);

    let reply = produce_binary(&app, Some(binary::CONTENT_TYPE)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type(), binary::CONTENT_TYPE);
    assert_eq!(reply.body[2], 2, "kind 2: one result per record");
    let results = binary::decode_produce_response(&reply.body).unwrap();
    assert_eq!(
        results.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [Some(2), Some(3)]
    );
    // Binary JSON values are stored compacted, as JSON `value`s are.
    let fetched = app.fetch("t", 0, "offset=0&max_records=1").await.ok(200);
    assert_eq!(fetched["records"][0]["value"], json!({"a": 1}));
    assert_eq!(fetched["records"][0]["key"], "k");
}

#[tokio::test]
async fn results_runs_in_accept_gets_kind_4_and_q_0_refuses_binary() {
    let app = one_topic(1).await;
    let reply = produce_binary(&app, Some(binary::ACCEPT_RESULT_RUNS)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body[2], 4, "kind 4: results in runs");
    let results = binary::decode_produce_answer(&reply.body, 2).unwrap();
    assert_eq!(
        results.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [Some(0), Some(1)]
    );
    let refused = format!("{}; q=0, application/json", binary::CONTENT_TYPE);
    let reply = produce_binary(&app, Some(&refused)).await;
    assert_eq!(reply.content_type(), "application/json");
    assert_eq!(reply.ok(200)["results"][0]["offset"], 2);
}

#[tokio::test]
async fn a_damaged_binary_body_is_refused_whole_and_appends_nothing() {
    let app = one_topic(1).await;
    app.produce("t", json!([{"value": 1}])).await.ok(200);
    let send = |body: Vec<u8>, accept: &'static str| {
        let app = &app;
        async move {
            let headers = [("content-type", binary::CONTENT_TYPE), ("accept", accept)];
            app.call(Method::POST, RECORDS, &headers, body).await
        }
    };
    let full = binary_request(&two_binary_records());
    for cut in [1, 3, 4, full.len() / 2, full.len() - 1] {
        // Errors are JSON whatever the Accept header says (`error` checks the Content-Type).
        send(full[..cut].to_vec(), binary::CONTENT_TYPE)
            .await
            .error(400, "invalid_batch");
    }
    let mut trailing = full.clone();
    trailing.push(0);
    let mut bad_magic = full.clone();
    bad_magic[0] = b'X';
    // A JSON body sent as binary is not silently read as JSON.
    let json_as_binary = br#"{"records":[]}"#.to_vec();
    for body in [trailing, bad_magic, json_as_binary] {
        send(body, "*/*").await.error(400, "invalid_batch");
    }
    assert_eq!(
        app.high_watermarks("t").await,
        vec![1],
        "the high watermark moved"
    );
    // An empty binary batch is the same error as an empty JSON one.
    send(binary_request(&[]), "*/*")
        .await
        .error(400, "empty_batch");
}

#[tokio::test]
async fn errors_and_all_refused_answers_stay_json_when_binary_is_accepted() {
    let app = one_topic(1).await;
    let accept = [("accept", binary::CONTENT_TYPE)];
    app.call(
        Method::POST,
        "/v1/topics/missing/records",
        &accept,
        json!({"records": [{"value": 1}]}).to_string(),
    )
    .await
    .error(404, "unknown_topic");
    let reply = app
        .call(
            Method::POST,
            RECORDS,
            &accept,
            json!({"records": [{"value_b64": "?"}]}).to_string(),
        )
        .await;
    reply.error(400, "invalid_records");
    assert_eq!(
        record_codes(&reply.json()),
        [Some("invalid_base64".to_owned())]
    );
}
