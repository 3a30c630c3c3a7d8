//! `POST /v1/topics/{topic}/records` on the real binary: Kafka placement, sticky spreading,
//! value/key encodings, per-record results and errors, acks, idempotency, limits, encodings.
mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::bodies::records_body;
use common::{Api, Broker, assert_error, start_broker};
use serde_json::{Value, json};

/// Kafka's published murmur2 test vectors (`UtilsTest.testMurmur2`).
const MURMUR2_VECTORS: [(&str, i32); 6] = [
    ("21", -973_932_308),
    ("foobar", -790_332_482),
    ("a-little-bit-long-string", -985_981_536),
    ("a-little-bit-longer-string", -1_486_304_829),
    (
        "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
        -58_897_971,
    ),
    ("abc", 479_470_107),
];

fn kafka_partition(hash: i32, partitions: u32) -> u32 {
    (hash & 0x7fff_ffff) as u32 % partitions
}

fn started() -> (tempfile::TempDir, Broker, Api) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    (dir, broker, api)
}

#[test]
fn keyed_records_land_where_kafkas_murmur2_puts_them() {
    let (_dir, _broker, api) = started();
    assert_eq!(
        kafka_partition(-790_332_482, 50),
        16,
        "the issue's worked example"
    );
    for partitions in [7u32, 50, 97] {
        let topic = format!("keyed-{partitions}");
        api.create_topic(&topic, partitions);
        // The same bytes as text and as base64 must land on the same partition.
        let mut records = Vec::new();
        for (key, _) in MURMUR2_VECTORS {
            records.push(json!({"key": key, "value": key}));
            records.push(json!({"key_b64": B64.encode(key), "value": key}));
        }
        let (status, body) = api.produce(&topic, Value::Array(records));
        assert_eq!(status, 200, "{body}");
        for (i, (key, hash)) in MURMUR2_VECTORS.iter().enumerate() {
            let expected = kafka_partition(*hash, partitions);
            for r in [&body["results"][2 * i], &body["results"][2 * i + 1]] {
                assert_eq!(
                    r["partition"], expected,
                    "key {key} on {partitions}: {body}"
                );
            }
            let stored = api.fetch_all(&topic, expected);
            let here = stored.iter().filter(|r| r["key"] == *key).count();
            assert_eq!(here, 2, "key {key} must be stored on partition {expected}");
        }
    }
}

#[test]
fn keyless_records_stick_to_one_partition_per_request_and_move_on_each_request() {
    let (_dir, _broker, api) = started();
    api.create_topic("sticky", 4);
    let mut seen = Vec::new();
    for request in 0..8 {
        let records: Vec<Value> = (0..5).map(|i| json!({"value": [request, i]})).collect();
        let (status, body) = api.produce("sticky", Value::Array(records));
        assert_eq!(status, 200, "{body}");
        let results = body["results"].as_array().unwrap();
        let p = results[0]["partition"].as_u64().unwrap();
        assert!(
            results.iter().all(|r| r["partition"] == p),
            "one partition per request: {body}"
        );
        seen.push(p);
    }
    for pair in seen.windows(2) {
        assert_eq!(
            pair[1],
            (pair[0] + 1) % 4,
            "round-robin between requests: {seen:?}"
        );
    }
    // Every partition got exactly two requests' worth.
    assert!(api.bounds("sticky").iter().all(|&(_, hw)| hw == 10));

    // Keyed and explicit records keep their placement; the keyless ones still share one.
    let (status, body) = api.produce(
        "sticky",
        json!([{"value": 1}, {"key": "abc", "value": 2}, {"value": 3, "partition": 3}, {"value": 4}]),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"][0]["partition"],
        body["results"][3]["partition"]
    );
    assert_eq!(
        body["results"][1]["partition"],
        kafka_partition(479_470_107, 4)
    );
    assert_eq!(body["results"][2]["partition"], 3);
}

#[test]
fn json_and_base64_values_keys_headers_and_timestamps_round_trip_in_order() {
    let (_dir, _broker, api) = started();
    api.create_topic("shapes", 1);
    let raw_bytes = [0u8, 159, 146, 150, 255, 10];
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // A pretty-printed value is stored compactly (sent as raw text to keep the whitespace).
    let body = format!(
        r#"{{"records":[
            {{"key":"k-1","value":{{ "id" : 42, "tags": [ "a b", "c" ] }},"headers":{{"trace-id":"abc","empty":""}}}},
            {{"key_b64":"{}","value_b64":"{}","timestamp":1732240000000}},
            {{"key":42,"value":null}},
            {{"value":"just text"}},
            {{"value":[1,2.5,true,false,null]}},
            {{"value_b64":""}},
            {{"key":"ключ","value":{{"ü":"✓"}},"timestamp":0}}
        ]}}"#,
        B64.encode([0xffu8, 0x00]),
        B64.encode(raw_bytes)
    );
    let (status, resp) = api.post_raw(
        "/v1/topics/shapes/records",
        body.into_bytes(),
        &[("content-type", "application/json")],
    );
    assert_eq!(status, 200, "{resp}");
    let results = resp["results"].as_array().unwrap();
    assert_eq!(results.len(), 7);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["offset"], i, "results in request order: {resp}");
        assert_eq!(r["partition"], 0);
        assert!(r.get("error").is_none());
    }
    assert_eq!(results[1]["timestamp"], 1_732_240_000_000i64);
    assert_eq!(results[6]["timestamp"], 0);
    let assigned = results[0]["timestamp"].as_i64().unwrap();
    assert!(
        assigned >= before && assigned < before + 60_000,
        "broker clock: {assigned}"
    );

    let got = api.fetch_all("shapes", 0);
    assert_eq!(got.len(), 7);
    assert_eq!(got[0]["key"], "k-1");
    assert_eq!(got[0]["value"], json!({"id": 42, "tags": ["a b", "c"]}));
    assert_eq!(got[0]["headers"], json!({"trace-id": "abc", "empty": ""}));
    assert_eq!(got[0]["timestamp"], assigned);
    assert_eq!(got[1]["key_b64"], B64.encode([0xffu8, 0x00]));
    assert_eq!(got[1]["value_b64"], B64.encode(raw_bytes));
    assert_eq!(got[1]["timestamp"], 1_732_240_000_000i64);
    assert_eq!(got[1]["headers"], json!({}));
    assert_eq!(
        got[2]["key"], "42",
        "a non-string JSON key is its compact text"
    );
    assert!(got[2].get("value").is_some() && got[2]["value"].is_null());
    assert_eq!(got[3]["value"], "just text");
    assert_eq!(got[4]["value"], json!([1, 2.5, true, false, null]));
    assert_eq!(got[5]["value_b64"], "");
    assert_eq!(got[6]["key"], "ключ");
    assert_eq!(got[6]["value"], json!({"ü": "✓"}));

    // The compact bytes are what is stored: check the raw fetch text.
    let (status, _, bytes) = Api::send_raw(api.request(
        reqwest::Method::GET,
        "/v1/topics/shapes/partitions/0/records?offset=0&max_records=1",
    ));
    assert_eq!(status, 200);
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains(r#""value":{"id":42,"tags":["a b","c"]}"#),
        "{text}"
    );
}

#[test]
fn acks_all_leader_and_none_answer_200_200_and_202() {
    let (_dir, _broker, api) = started();
    api.create_topic("acks", 1);
    let post = |query: &str, value: i32| {
        api.post(
            &format!("/v1/topics/acks/records{query}"),
            &json!({"records": [{"value": value}]}),
        )
    };
    let (status, body) = post("", 0);
    assert_eq!(status, 200, "default is acks=all: {body}");
    assert_eq!(body["results"][0]["offset"], 0);
    let (status, body) = post("?acks=all", 1);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["offset"], 1);
    let (status, body) = post("?acks=leader", 2);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["offset"], 2);
    let (status, body) = post("?acks=none", 3);
    assert_eq!(status, 202, "{body}");
    assert!(
        body["results"][0].get("offset").is_none(),
        "no offset before the append: {body}"
    );
    assert_eq!(body["results"][0]["partition"], 0);
    for (alias, value) in [("-1", 4), ("1", 5)] {
        let (status, body) = post(&format!("?acks={alias}"), value);
        assert_eq!(status, 200, "acks={alias}: {body}");
    }
    let (status, body) = post("?acks=0", 6);
    assert_eq!(status, 202, "{body}");
    for bad in ["?acks=most", "?acks=2", "?ack=all", "?acks="] {
        let (status, body) = post(bad, 99);
        assert_error(status, &body, 400, "invalid_query");
    }

    // The acks=none records arrive shortly after.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while api.bounds("acks")[0].1 < 7 {
        assert!(
            std::time::Instant::now() < deadline,
            "acks=none records never appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut values: Vec<i64> = api
        .fetch_all("acks", 0)
        .iter()
        .map(|r| r["value"].as_i64().unwrap())
        .collect();
    values.sort_unstable();
    assert_eq!(
        values,
        [0, 1, 2, 3, 4, 5, 6],
        "refused requests appended nothing"
    );
}

fn post_with_key(api: &Api, topic: &str, key: &str, body: &Value) -> (u16, String, Value) {
    let (status, headers, bytes) = Api::send_raw(
        api.request(
            reqwest::Method::POST,
            &format!("/v1/topics/{topic}/records"),
        )
        .header("Idempotency-Key", key)
        .json(body),
    );
    let replayed = headers
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, replayed, serde_json::from_slice(&bytes).unwrap())
}

#[test]
fn idempotency_key_replays_the_first_response_even_after_a_restart_and_appends_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("idem", 2);
    api.create_topic("other", 2);
    let batch =
        json!({"records": [{"value": "a", "partition": 0}, {"value": "b", "partition": 1}]});

    let (status, replayed, first) = post_with_key(&api, "idem", "req-1", &batch);
    assert_eq!(status, 200, "{first}");
    assert_eq!(replayed, "");
    let (status, replayed, again) = post_with_key(&api, "idem", "req-1", &batch);
    assert_eq!(status, 200);
    assert_eq!(replayed, "true");
    assert_eq!(again, first);
    assert_eq!(api.bounds("idem"), vec![(0, 1), (0, 1)]);

    // A different body under the same key still replays: the key names the request.
    let (_, replayed, other_body) = post_with_key(
        &api,
        "idem",
        "req-1",
        &json!({"records": [{"value": "zzz"}]}),
    );
    assert_eq!(replayed, "true");
    assert_eq!(other_body, first);

    // Keys are scoped per topic.
    let (status, replayed, _) = post_with_key(&api, "other", "req-1", &batch);
    assert_eq!((status, replayed.as_str()), (200, ""));

    // A refused request is not remembered: its retry with a good body appends.
    let (status, _, body) = post_with_key(
        &api,
        "idem",
        "req-2",
        &json!({"records": [{"value_b64": "?"}]}),
    );
    assert_error(status, &body, 400, "invalid_records");
    let (status, replayed, body) = post_with_key(&api, "idem", "req-2", &batch);
    assert_eq!((status, replayed.as_str()), (200, ""), "{body}");
    assert_eq!(body["results"][0]["offset"], 1);

    // acks=none responses (202) are remembered too.
    let (status, _, none_first) = Api::send_raw(
        api.request(reqwest::Method::POST, "/v1/topics/idem/records?acks=none")
            .header("Idempotency-Key", "req-3")
            .json(&batch),
    )
    .into_json();
    assert_eq!(status, 202);

    broker.restart();
    let api = Api::new(&broker.url);
    let before = api.bounds("idem");
    let (status, replayed, after_restart) = post_with_key(&api, "idem", "req-1", &batch);
    assert_eq!((status, replayed.as_str()), (200, "true"));
    assert_eq!(after_restart, first);
    let (status, replayed, none_again) = post_with_key(&api, "idem", "req-3", &batch);
    assert_eq!((status, replayed.as_str()), (202, "true"));
    assert_eq!(none_again, none_first);
    assert_eq!(api.bounds("idem"), before, "replays append nothing");

    for bad in [String::new(), "k".repeat(256)] {
        let (status, _, body) = post_with_key(&api, "idem", &bad, &batch);
        assert_error(status, &body, 400, "invalid_idempotency_key");
    }
    assert_eq!(api.bounds("idem"), before);
}

/// (status, headers, body) → (status, headers, JSON).
trait IntoJson {
    fn into_json(self) -> (u16, reqwest::header::HeaderMap, Value);
}

impl IntoJson for (u16, reqwest::header::HeaderMap, Vec<u8>) {
    fn into_json(self) -> (u16, reqwest::header::HeaderMap, Value) {
        (self.0, self.1, serde_json::from_slice(&self.2).unwrap())
    }
}

#[test]
fn idempotency_keys_expire_after_the_configured_window() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[("WHARF_IDEMPOTENCY_WINDOW_MS", "1000")]);
    let api = Api::new(&broker.url);
    api.create_topic("window", 1);
    let batch = json!({"records": [{"value": 1}]});
    let (status, _, _) = post_with_key(&api, "window", "k", &batch);
    assert_eq!(status, 200);
    let (_, replayed, _) = post_with_key(&api, "window", "k", &batch);
    assert_eq!(replayed, "true");
    std::thread::sleep(Duration::from_millis(1300));
    let (status, replayed, body) = post_with_key(&api, "window", "k", &batch);
    assert_eq!((status, replayed.as_str()), (200, ""), "{body}");
    assert_eq!(body["results"][0]["offset"], 1);
}

#[test]
fn request_bodies_over_the_default_8_mib_limit_are_413() {
    let (_dir, _broker, api) = started();
    api.create_topic_with(
        &json!({"name": "big", "partitions": 1, "max_record_bytes": 9_000_000u64}),
    );
    let limit = 8 * 1024 * 1024;
    let (status, body) = api.post_raw("/v1/topics/big/records", records_body(limit + 1), &[]);
    assert_error(status, &body, 413, "payload_too_large");
    assert_eq!(body["error"]["details"]["limit_bytes"], limit);
    let (status, body) = api.post_raw("/v1/topics/big/records", records_body(limit), &[]);
    assert_eq!(status, 200, "exactly the limit is fine: {body}");
    assert_eq!(api.bounds("big"), vec![(0, 1)]);
}

#[test]
fn refusing_a_large_body_early_does_not_break_the_next_request_on_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[("WHARF_MAX_REQUEST_BYTES", "65536")]);
    let api = Api::new(&broker.url);
    api.create_topic("conn", 1);
    // One client, so requests share a kept-alive connection.
    for round in 0..5 {
        let (status, body) = api.post_raw("/v1/topics/conn/records", records_body(2_000_000), &[]);
        assert_error(status, &body, 413, "payload_too_large");
        let (status, body) = api.post_raw("/v1/topics/nope/records", records_body(2_000_000), &[]);
        assert_error(status, &body, 404, "unknown_topic");
        let (status, body) = api.post_raw(
            "/v1/topics/conn/records?acks=maybe",
            records_body(60_000),
            &[],
        );
        assert_error(status, &body, 400, "invalid_query");
        let (status, body) = api.produce("conn", json!([{"value": round}]));
        assert_eq!(status, 200, "round {round}: {body}");
    }
    assert_eq!(api.bounds("conn"), vec![(0, 5)]);
}

#[test]
fn a_chunked_body_over_the_limit_is_413_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[("WHARF_MAX_REQUEST_BYTES", "65536")]);
    let api = Api::new(&broker.url);
    api.create_topic("chunked", 1);
    // A reader body has no declared length, so it goes out chunked and the broker only learns
    // its size by reading it.
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(records_body(200_000)));
    let rb = api
        .request(reqwest::Method::POST, "/v1/topics/chunked/records")
        .header("content-type", "application/json")
        .body(body);
    let (status, body) = Api::send(rb);
    assert_error(status, &body, 413, "payload_too_large");
    let (status, body) = api.produce("chunked", json!([{"value": 1}]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.bounds("chunked"), vec![(0, 1)]);
}
