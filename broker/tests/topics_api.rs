//! Topic administration on the real binary: create, list, describe, patch (partitions and
//! retention at runtime), delete, and every error these routes answer.
mod common;

use std::time::{Duration, Instant};

use common::{Api, assert_error, start_broker};
use serde_json::{Value, json};

#[test]
fn created_topic_is_described_listed_and_refused_a_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);

    let created = api.create_topic_with(&json!({
        "name": "orders.v1", "partitions": 3, "retention_ms": 60000,
        "retention_bytes": 1048576, "segment_bytes": 65536, "max_record_bytes": 4096,
    }));
    assert_eq!(created["name"], "orders.v1");
    assert_eq!(created["partitions"], 3);
    assert_eq!(created["retention_ms"], 60000);
    assert_eq!(created["retention_bytes"], 1048576);
    assert_eq!(created["segment_bytes"], 65536);
    assert_eq!(created["max_record_bytes"], 4096);
    assert!(created["created_at_ms"].as_i64().unwrap() > 1_600_000_000_000);
    let states = created["partition_states"].as_array().unwrap();
    assert_eq!(states.len(), 3);
    for (i, s) in states.iter().enumerate() {
        assert_eq!(s["partition"], i);
        assert_eq!(s["log_start_offset"], 0);
        assert_eq!(s["high_watermark"], 0);
        assert!(s["size_bytes"].is_u64());
    }

    // Defaults fill what the request leaves out.
    let plain = api.create_topic("audit", 1);
    assert_eq!(plain["retention_ms"], 7 * 24 * 3600 * 1000i64);
    assert_eq!(plain["retention_bytes"], -1);

    let (status, body) = api.post("/v1/topics", &json!({"name": "orders.v1", "partitions": 1}));
    assert_error(status, &body, 409, "topic_exists");

    let (status, list) = api.get("/v1/topics");
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["audit", "orders.v1"], "sorted by name");

    api.produce(
        "orders.v1",
        json!([{"value": 1, "partition": 1}, {"value": 2, "partition": 1}]),
    );
    let described = api.describe("orders.v1");
    assert_eq!(described["partition_states"][1]["high_watermark"], 2);
    assert!(
        described["partition_states"][1]["size_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(described["partition_states"][0]["high_watermark"], 0);

    let (status, body) = api.get("/v1/topics/nope");
    assert_error(status, &body, 404, "unknown_topic");
}

#[test]
fn partitions_grow_at_runtime_never_shrink_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("grow", 2);

    let (status, body) = api.patch("/v1/topics/grow", &json!({"partitions": 5}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partitions"], 5);
    assert_eq!(body["partition_states"].as_array().unwrap().len(), 5);

    // The new partitions take records, and keyed placement uses the new count:
    // Kafka's murmur2("foobar") = -790332482, positive part % 5 = 1.
    let (status, body) = api.produce(
        "grow",
        json!([{"value": "x", "partition": 4}, {"key": "foobar", "value": "y"}]),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["partition"], 4);
    assert_eq!(
        body["results"][1]["partition"],
        (-790332482i32 & 0x7fff_ffff) % 5
    );

    let (status, body) = api.patch("/v1/topics/grow", &json!({"partitions": 3}));
    assert_error(status, &body, 400, "partitions_cannot_shrink");
    let (status, body) = api.patch("/v1/topics/grow", &json!({"partitions": 5000}));
    assert_error(status, &body, 400, "invalid_topic_config");
    let (status, body) = api.patch("/v1/topics/grow", &json!({"retention_ms": 0}));
    assert_error(status, &body, 400, "invalid_topic_config");
    let (status, body) = api.patch("/v1/topics/grow", &json!({"segment_bytes": 2048}));
    assert_error(status, &body, 400, "invalid_json");
    for positional in [json!([9]), json!([])] {
        let (status, body) = api.patch("/v1/topics/grow", &positional);
        assert_error(status, &body, 400, "invalid_json");
    }
    let (status, body) = api.patch("/v1/topics/missing", &json!({"partitions": 9}));
    assert_error(status, &body, 404, "unknown_topic");
    assert_eq!(
        api.describe("grow")["partitions"],
        5,
        "refused patches change nothing"
    );

    broker.restart();
    let api = Api::new(&broker.url);
    let described = api.describe("grow");
    assert_eq!(described["partitions"], 5);
    assert_eq!(described["partition_states"][4]["high_watermark"], 1);
}

#[test]
fn retention_changed_at_runtime_moves_the_log_start_and_fetch_below_it_is_416() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[("WHARF_RETENTION_CHECK_INTERVAL_MS", "200")]);
    let api = Api::new(&broker.url);
    api.create_topic_with(&json!({
        "name": "short", "partitions": 1, "segment_bytes": 1024, "max_record_bytes": 512,
    }));
    // ~40 records of ~150 bytes: many 1 KiB segments.
    for batch in 0..8 {
        let records: Vec<Value> = (0..5)
            .map(|i| json!({"value": format!("{batch}-{i}-{}", "p".repeat(120))}))
            .collect();
        let (status, body) = api.produce("short", Value::Array(records));
        assert_eq!(status, 200, "{body}");
    }
    // Unlimited retention: nothing goes away, however long we wait for a pass.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(api.bounds("short"), vec![(0, 40)]);

    let (status, body) = api.patch("/v1/topics/short", &json!({"retention_bytes": 2048}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["retention_bytes"], 2048);

    let deadline = Instant::now() + Duration::from_secs(10);
    let log_start = loop {
        let (start, hw) = api.bounds("short")[0];
        assert_eq!(hw, 40);
        if start > 0 {
            break start;
        }
        assert!(Instant::now() < deadline, "retention never ran");
        std::thread::sleep(Duration::from_millis(50));
    };
    let size = api.describe("short")["partition_states"][0]["size_bytes"]
        .as_u64()
        .unwrap();
    // Whole sealed segments go; what stays is within the limit plus the active segment.
    assert!(size <= 2048 + 1024, "size {size} after retention");

    let (status, body) = api.fetch("short", 0, "offset=0");
    assert_error(status, &body, 416, "offset_out_of_range");
    assert_eq!(body["error"]["details"]["log_start_offset"], log_start);
    assert_eq!(body["error"]["details"]["high_watermark"], 40);
    assert_eq!(body["error"]["details"]["requested"], 0);
    let (status, body) = api.fetch("short", 0, &format!("offset={log_start}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["records"][0]["offset"], log_start);
    assert_eq!(body["log_start_offset"], log_start);

    // Age retention changed at runtime too: 1 ms leaves only the active segment.
    let (status, body) = api.patch(
        "/v1/topics/short",
        &json!({"retention_ms": 1, "retention_bytes": -1}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["retention_ms"], 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.bounds("short")[0].0 <= log_start {
        assert!(Instant::now() < deadline, "age retention never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn deleted_topic_is_gone_with_its_data_and_can_be_recreated_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("gone", 2);
    let (status, _) = api.produce("gone", json!([{"value": 1, "partition": 0}]));
    assert_eq!(status, 200);

    let (status, body) = api.delete("/v1/topics/gone");
    assert_eq!(status, 204, "{body}");
    assert_eq!(body, Value::Null, "204 has no body");
    let (status, body) = api.get("/v1/topics/gone");
    assert_error(status, &body, 404, "unknown_topic");
    let (status, body) = api.produce("gone", json!([{"value": 1}]));
    assert_error(status, &body, 404, "unknown_topic");
    let (status, body) = api.fetch("gone", 0, "offset=0");
    assert_error(status, &body, 404, "unknown_topic");
    let (status, body) = api.delete("/v1/topics/gone");
    assert_error(status, &body, 404, "unknown_topic");

    api.create_topic("gone", 1);
    assert_eq!(api.bounds("gone"), vec![(0, 0)], "no old data comes back");
    broker.restart();
    let api = Api::new(&broker.url);
    assert_eq!(api.bounds("gone"), vec![(0, 0)]);
}
