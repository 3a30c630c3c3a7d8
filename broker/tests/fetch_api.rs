//! Plain fetch and offset lookup on the real binary: paging, long polls that wake on data and
//! do not spin, 416 with both bounds, and query validation.
mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Api, Broker, assert_error, start_broker};
use serde_json::{Value, json};

fn started(topic: &str, partitions: u32) -> (tempfile::TempDir, Broker, Api) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic(topic, partitions);
    (dir, broker, api)
}

/// Starts a fetch on another thread; the receiver yields (status, body, elapsed).
fn fetch_in_background(url: &str, path: String) -> mpsc::Receiver<(u16, Value, Duration)> {
    let (tx, rx) = mpsc::channel();
    let api = Api::new(url);
    std::thread::spawn(move || {
        let started = Instant::now();
        let (status, body) = api.get(&path);
        let _ = tx.send((status, body, started.elapsed()));
    });
    rx
}

#[test]
fn fetch_pages_by_records_and_bytes_and_reports_the_bounds() {
    let (_dir, _broker, api) = started("page", 1);
    let records: Vec<Value> = (0..10).map(|i| json!({"value": format!("v{i}")})).collect();
    let (status, _) = api.produce("page", Value::Array(records));
    assert_eq!(status, 200);

    let (status, body) = api.fetch("page", 0, "offset=0&max_records=3");
    assert_eq!(status, 200, "{body}");
    let got: Vec<&Value> = body["records"].as_array().unwrap().iter().collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2]["offset"], 2);
    assert_eq!(got[2]["value"], "v2");
    assert_eq!(body["next_offset"], 3);
    assert_eq!(body["high_watermark"], 10);
    assert_eq!(body["log_start_offset"], 0);

    let (status, body) = api.fetch("page", 0, "offset=7&max_records=100");
    assert_eq!(status, 200);
    assert_eq!(body["records"].as_array().unwrap().len(), 3);
    assert_eq!(body["next_offset"], 10);

    // A byte budget smaller than one record still returns one record.
    let (status, body) = api.fetch("page", 0, "offset=4&max_bytes=1");
    assert_eq!(status, 200);
    assert_eq!(body["records"].as_array().unwrap().len(), 1);
    assert_eq!(body["records"][0]["offset"], 4);
    assert_eq!(body["next_offset"], 5);

    // At the high watermark: nothing yet, not an error.
    let (status, body) = api.fetch("page", 0, "offset=10");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["records"], json!([]));
    assert_eq!(body["next_offset"], 10);
}

#[test]
fn long_poll_returns_as_soon_as_data_arrives() {
    let (_dir, broker, api) = started("poll", 2);
    let rx = fetch_in_background(
        &broker.url,
        "/v1/topics/poll/partitions/1/records?offset=0&wait_ms=30000".to_owned(),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        rx.try_recv().is_err(),
        "the poll must wait while there is no data"
    );
    // Data on another partition does not wake it with nothing.
    api.produce("poll", json!([{"value": "elsewhere", "partition": 0}]));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        rx.try_recv().is_err(),
        "data on partition 0 is not for this poll"
    );

    let (status, _) = api.produce("poll", json!([{"value": "wake", "partition": 1}]));
    assert_eq!(status, 200);
    let (status, body, elapsed) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("poll answered");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["records"][0]["value"], "wake");
    assert_eq!(body["next_offset"], 1);
    // It answered because of the data, far from the 30 s wait.
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
}

#[test]
fn long_poll_waits_for_min_bytes_then_answers() {
    let (_dir, broker, api) = started("minb", 1);
    let rx = fetch_in_background(
        &broker.url,
        "/v1/topics/minb/partitions/0/records?offset=0&wait_ms=30000&min_bytes=2000".to_owned(),
    );
    std::thread::sleep(Duration::from_millis(200));
    api.produce("minb", json!([{"value": "tiny"}]));
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        rx.try_recv().is_err(),
        "a few bytes are less than min_bytes: keep waiting"
    );
    api.produce("minb", json!([{"value": "x".repeat(3000)}]));
    let (status, body, elapsed) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("poll answered");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["records"].as_array().unwrap().len(), 2);
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
}

#[test]
fn idle_long_polls_end_at_wait_ms_empty_and_do_not_spin() {
    let (_dir, broker, api) = started("idle", 1);
    let polls: Vec<_> = (0..4)
        .map(|_| {
            fetch_in_background(
                &broker.url,
                "/v1/topics/idle/partitions/0/records?offset=0&wait_ms=1500".to_owned(),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let cpu_before = broker.cpu_time();
    for rx in polls {
        let (status, body, elapsed) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["records"], json!([]));
        assert_eq!(body["next_offset"], 0);
        assert!(
            elapsed >= Duration::from_millis(1450),
            "ended early: {elapsed:?}"
        );
    }
    let cpu = broker.cpu_time() - cpu_before;
    // Four polls parked ~1.4 s: a busy loop would burn about that much CPU per poll.
    assert!(
        cpu < Duration::from_millis(400),
        "broker used {cpu:?} CPU while idle-polling"
    );
    drop(api);
}

#[test]
fn offsets_lookup_answers_earliest_latest_and_timestamps() {
    let (_dir, _broker, api) = started("times", 1);
    let (status, body) = api.get("/v1/topics/times/partitions/0/offsets?at=earliest");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"partition": 0, "offset": 0, "log_start_offset": 0, "high_watermark": 0})
    );
    api.produce(
        "times",
        json!([
            {"value": 0, "timestamp": 1000},
            {"value": 1, "timestamp": 2000},
            {"value": 2, "timestamp": 3000},
        ]),
    );
    for (at, expected) in [
        ("earliest", json!(0)),
        ("latest", json!(3)),
        ("0", json!(0)),
        ("1000", json!(0)),
        ("1500", json!(1)),
        ("2000", json!(1)),
        ("3000", json!(2)),
        ("3001", Value::Null),
        ("9223372036854775807", Value::Null),
    ] {
        let (status, body) = api.get(&format!("/v1/topics/times/partitions/0/offsets?at={at}"));
        assert_eq!(status, 200, "at={at}: {body}");
        assert_eq!(body["offset"], expected, "at={at}: {body}");
        assert_eq!(body["high_watermark"], 3);
    }
    for bad in [
        "at=-1",
        "at=yesterday",
        "at=1.5",
        "at=9223372036854775808",
        "at=",
    ] {
        let (status, body) = api.get(&format!("/v1/topics/times/partitions/0/offsets?{bad}"));
        assert_error(status, &body, 400, "invalid_at");
    }
    for bad in ["", "?when=latest", "?at=latest&extra=1"] {
        let (status, body) = api.get(&format!("/v1/topics/times/partitions/0/offsets{bad}"));
        assert_error(status, &body, 400, "invalid_query");
    }
    let (status, body) = api.get("/v1/topics/times/partitions/1/offsets?at=latest");
    assert_error(status, &body, 404, "unknown_partition");
    let (status, body) = api.get("/v1/topics/none/partitions/0/offsets?at=latest");
    assert_error(status, &body, 404, "unknown_topic");
}
