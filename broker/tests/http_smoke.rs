//! The basic produce → fetch path on the real binary.
mod common;

use common::{Api, assert_error, start_broker};
use serde_json::json;

#[test]
fn produced_records_come_back_from_fetch_with_kafka_placement() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("orders", 50);

    let (status, body) = api.produce(
        "orders",
        json!([
            {"key": "foobar", "value": {"id": 42, "sku": "A-1"}, "headers": {"trace-id": "abc"}},
            {"key_b64": "AAE=", "value_b64": "aGVsbG8=", "partition": 2, "timestamp": 1732240000000i64},
        ]),
    );
    assert_eq!(status, 200, "{body}");
    // Kafka's DefaultPartitioner puts "foobar" on partition 16 of 50.
    assert_eq!(body["results"][0]["partition"], 16);
    assert_eq!(body["results"][0]["offset"], 0);
    assert_eq!(body["results"][1]["partition"], 2);
    assert_eq!(body["results"][1]["timestamp"], 1732240000000i64);

    let records = api.fetch_all("orders", 16);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["key"], "foobar");
    assert_eq!(records[0]["value"], json!({"id": 42, "sku": "A-1"}));
    assert_eq!(records[0]["headers"]["trace-id"], "abc");
    let records = api.fetch_all("orders", 2);
    assert_eq!(records[0]["key_b64"], "AAE=");
    assert_eq!(records[0]["value_b64"], "aGVsbG8=");

    // acks=all (the default) waited for fdatasyncs, and each one was timed.
    let metrics = reqwest::blocking::get(format!("{}/metrics", broker.url))
        .unwrap()
        .text()
        .unwrap();
    let syncs: f64 = metrics
        .lines()
        .find(|l| l.starts_with("wharf_fsync_seconds_count"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(syncs >= 1.0, "no fdatasync was observed: {metrics}");

    let (status, body) = api.fetch("orders", 2, "offset=5");
    assert_error(status, &body, 416, "offset_out_of_range");
    assert_eq!(body["error"]["details"]["high_watermark"], 1);
    assert_eq!(body["error"]["details"]["log_start_offset"], 0);
}

#[test]
fn the_api_speaks_h2c_with_prior_knowledge() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let h2 = reqwest::blocking::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let created = h2
        .post(format!("{}/v1/topics", broker.url))
        .json(&json!({"name": "h2", "partitions": 1}))
        .send()
        .unwrap();
    assert_eq!(created.version(), reqwest::Version::HTTP_2);
    assert_eq!(created.status().as_u16(), 201);
    let produced = h2
        .post(format!("{}/v1/topics/h2/records", broker.url))
        .json(&json!({"records": [{"value": "over h2"}]}))
        .send()
        .unwrap();
    assert_eq!(produced.version(), reqwest::Version::HTTP_2);
    assert_eq!(produced.status().as_u16(), 200);
    let api = Api::new(&broker.url);
    assert_eq!(api.fetch_all("h2", 0)[0]["value"], "over h2");
}
