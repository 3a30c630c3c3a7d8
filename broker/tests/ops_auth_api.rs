//! Operations routes, the JSON 404/405 fallbacks, the OpenAPI document, bearer-token auth and
//! graceful shutdown, on the real binary.
mod common;

use std::time::{Duration, Instant};

use common::{Api, start_broker};
use serde_json::{Value, json};

#[test]
fn health_ready_and_metrics_answer_and_metrics_carry_the_families() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    let (status, body) = api.get("/health");
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = api.get("/ready");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");

    api.create_topic("m", 2);
    let (status, _) = api.produce(
        "m",
        json!([{"value": 1, "partition": 1}, {"value": 2, "partition": 1}]),
    );
    assert_eq!(status, 200);
    let (status, _) = api.fetch("m", 1, "offset=0");
    assert_eq!(status, 200);
    let (status, _) = api.fetch("m", 1, "offset=9");
    assert_eq!(status, 416);

    let (status, headers, bytes) = Api::send_raw(api.request(reqwest::Method::GET, "/metrics"));
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().contains("text"));
    let text = String::from_utf8(bytes).unwrap();
    for needle in [
        "# TYPE wharf_http_requests counter",
        r#"wharf_http_requests_total{route="/v1/topics/{topic}/records",method="POST",status="200"} 1"#,
        r#"wharf_http_requests_total{route="/v1/topics/{topic}/partitions/{partition}/records",method="GET",status="416"} 1"#,
        r#"wharf_records_produced_total{topic="m"} 2"#,
        r#"wharf_records_fetched_total{topic="m"} 2"#,
        "# TYPE wharf_append_seconds histogram",
        r#"wharf_append_seconds_count{acks="all"} 1"#,
        r#"wharf_partition_high_watermark{topic="m",partition="1"} 2"#,
        r#"wharf_partition_high_watermark{topic="m",partition="0"} 0"#,
        r#"wharf_partition_log_start_offset{topic="m",partition="1"} 0"#,
        "wharf_partition_size_bytes{",
        "wharf_idempotent_replays_total",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// A concrete path for an OpenAPI template.
fn fill(template: &str) -> String {
    template
        .replace("{topic}", "docs")
        .replace("{partition}", "0")
        .replace("{group}", "g")
        .replace("{member}", "m")
}

#[test]
fn openapi_lists_every_route_and_every_listed_route_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("docs", 1);
    let (status, doc) = api.get("/v1/openapi.json");
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    // The full route list is checked on the document itself (api::openapi's unit tests); this
    // proves the binary serves it.
    for (path, method) in [
        ("/v1/topics/{topic}/records", "post"),
        ("/v1/groups/{group}/members/{member}/poll", "post"),
        ("/schemas/subjects/{subject}/versions", "post"),
        ("/v1/topics/{topic}", "delete"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the served OpenAPI document"
        );
    }
    // The other direction: nothing in the document is a route the server does not have.
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let Ok(m) = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                continue;
            };
            if m == reqwest::Method::DELETE {
                continue; // would delete the fixture; DELETE routes are exercised by their own tests.
            }
            let (status, body) = Api::send(api.request(m, &fill(path)).json(&json!({})));
            assert!(
                !(status == 404 && body["error"]["code"] == "unknown_route") && status != 405,
                "{method} {path} is documented but not served: {status} {body}"
            );
        }
    }
}

#[test]
fn sigterm_ends_long_polls_exits_0_within_the_timeout_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start_broker(dir.path(), &[("WHARF_SHUTDOWN_TIMEOUT_MS", "5000")]);
    let api = Api::new(&broker.url);
    api.create_topic("keep", 2);
    for acks in ["all", "leader"] {
        let (status, body) = api.post(
            &format!("/v1/topics/keep/records?acks={acks}"),
            &json!({"records": [{"value": acks, "partition": 0}, {"value": acks, "partition": 1}]}),
        );
        assert_eq!(status, 200, "{body}");
    }
    let url = broker.url.clone();
    let poll = std::thread::spawn(move || {
        let started = Instant::now();
        let result = Api::new(&url).fetch("keep", 0, "offset=2&wait_ms=60000");
        (result, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    let status = broker
        .terminate(Duration::from_secs(8))
        .expect("broker exits after SIGTERM");
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        broker.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
    let ((poll_status, poll_body), waited) = poll.join().unwrap();
    assert_eq!(
        poll_status, 200,
        "an in-flight long poll ends cleanly: {poll_body}"
    );
    assert_eq!(poll_body["records"], json!([]));
    assert!(
        waited < Duration::from_secs(10),
        "long poll held the shutdown: {waited:?}"
    );
    assert!(broker.log().contains("stopped"), "{}", broker.log());

    broker.restart();
    let api = Api::new(&broker.url);
    assert_eq!(api.bounds("keep"), vec![(0, 2), (0, 2)]);
    let values: Vec<Value> = api
        .fetch_all("keep", 1)
        .iter()
        .map(|r| r["value"].clone())
        .collect();
    assert_eq!(values, [json!("all"), json!("leader")]);
}
