//! `GET .../records` and `GET .../offsets`: query validation, bounds, encodings.

use axum::http::Method;
use serde_json::json;
use wharf_proto::binary;

use crate::harness::App;

/// A topic `t` with two partitions and three records (timestamps 100, 200, 300) in partition 0.
async fn three_records() -> App {
    let app = App::start().await;
    app.create_topic("t", 2).await;
    app.produce(
        "t",
        json!([
            {"value": "a", "partition": 0, "timestamp": 100},
            {"value": "b", "partition": 0, "timestamp": 200},
            {"value": "c", "partition": 0, "timestamp": 300},
        ]),
    )
    .await
    .ok(200);
    app
}

#[tokio::test]
async fn fetch_pages_by_max_records_and_reports_next_offset_and_bounds() {
    let app = three_records().await;
    let page = app.fetch("t", 0, "offset=1&max_records=1").await.ok(200);
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    assert_eq!(page["records"][0]["offset"], 1);
    assert_eq!(page["records"][0]["value"], "b");
    assert_eq!(page["records"][0]["timestamp"], 200);
    assert_eq!(page["next_offset"], 2);
    assert_eq!(page["high_watermark"], 3);
    assert_eq!(page["log_start_offset"], 0);
}

#[tokio::test]
async fn fetch_at_the_high_watermark_is_an_empty_200() {
    let app = three_records().await;
    let page = app.fetch("t", 0, "offset=3").await.ok(200);
    assert_eq!(page["records"], json!([]));
    assert_eq!(page["next_offset"], 3);
}

#[tokio::test]
async fn fetch_past_the_high_watermark_is_416_with_both_bounds_in_details() {
    let app = App::start().await;
    app.create_topic("range", 2).await;
    app.produce(
        "range",
        json!([{"value": 1, "partition": 1}, {"value": 2, "partition": 1}]),
    )
    .await
    .ok(200);
    for (partition, offset, hw) in [(1, 3u64, 2u64), (1, u64::MAX, 2), (0, 1, 0)] {
        let details = app
            .fetch("range", partition, &format!("offset={offset}"))
            .await
            .error(416, "offset_out_of_range");
        assert_eq!(
            details,
            json!({"requested": offset, "log_start_offset": 0, "high_watermark": hw})
        );
    }
    // A long poll far beyond the end is refused at once, not parked.
    let started = std::time::Instant::now();
    app.fetch("range", 1, "offset=50&wait_ms=5000")
        .await
        .error(416, "offset_out_of_range");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

#[tokio::test]
async fn fetch_queries_out_of_range_or_unparsable_get_their_own_400_codes() {
    let app = App::start().await;
    app.create_topic("q", 1).await;
    for (query, code) in [
        ("", "invalid_query"),
        ("offset=-1", "invalid_query"),
        ("offset=abc", "invalid_query"),
        ("offset=18446744073709551616", "invalid_query"),
        ("offset=0&colour=red", "invalid_query"),
        ("offset=0&max_records=0", "invalid_max_records"),
        ("offset=0&max_records=100001", "invalid_max_records"),
        ("offset=0&max_bytes=0", "invalid_max_bytes"),
        ("offset=0&max_bytes=67108865", "invalid_max_bytes"),
        ("offset=0&wait_ms=60001", "invalid_wait_ms"),
        ("offset=0&wait_ms=-5", "invalid_query"),
        ("offset=0&min_bytes=0", "invalid_min_bytes"),
        ("offset=0&max_bytes=10&min_bytes=11", "invalid_min_bytes"),
        ("offset=0&resolve=inline", "invalid_resolve"),
    ] {
        app.fetch("q", 0, query).await.error(400, code);
    }
    app.fetch("q", 0, "offset=0&max_records=100000&wait_ms=0")
        .await
        .ok(200);
}

#[tokio::test]
async fn wait_ms_is_bounded_by_the_configured_max_wait_ms() {
    let app = App::with(|c| c.max_wait_ms = 1000).await;
    app.create_topic("q", 1).await;
    app.fetch("q", 0, "offset=0&wait_ms=1001")
        .await
        .error(400, "invalid_wait_ms");
}

#[tokio::test]
async fn unknown_topics_and_partitions_are_404_and_unparsable_partitions_400_invalid_path() {
    let app = three_records().await;
    app.fetch("t", 2, "offset=0")
        .await
        .error(404, "unknown_partition");
    app.fetch("nope", 0, "offset=0")
        .await
        .error(404, "unknown_topic");
    for partition in ["x", "-1", "4294967296"] {
        app.get(&format!(
            "/v1/topics/t/partitions/{partition}/records?offset=0"
        ))
        .await
        .error(400, "invalid_path");
    }
}

#[tokio::test]
async fn fetch_answers_in_binary_when_accept_names_the_batch_type() {
    let app = three_records().await;
    let reply = app
        .call(
            Method::GET,
            "/v1/topics/t/partitions/0/records?offset=0",
            &[("accept", binary::CONTENT_TYPE)],
            "",
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type(), binary::CONTENT_TYPE);
    let answer = binary::decode_fetch_response(&reply.body).unwrap();
    assert_eq!(answer.high_watermark, 3);
    assert_eq!(answer.next_offset, 3);
    let values: Vec<&[u8]> = answer.records.iter().map(|r| r.value.as_ref()).collect();
    assert_eq!(values, [b"\"a\"", b"\"b\"", b"\"c\""]);
    assert!(answer.records.iter().all(|r| r.value_is_json));
}

#[tokio::test]
async fn offsets_answer_earliest_latest_and_the_first_offset_at_a_timestamp() {
    let app = three_records().await;
    let at = |q: &'static str| {
        let app = &app;
        async move {
            app.get(&format!("/v1/topics/t/partitions/0/offsets?at={q}"))
                .await
                .ok(200)["offset"]
                .clone()
        }
    };
    assert_eq!(at("earliest").await, 0);
    assert_eq!(at("latest").await, 3);
    assert_eq!(at("150").await, 1);
    assert_eq!(at("200").await, 1);
    assert_eq!(at("301").await, serde_json::Value::Null);
}

#[tokio::test]
async fn offsets_with_a_bad_or_missing_at_are_400() {
    let app = three_records().await;
    for at in ["soon", "-5", "1.5"] {
        app.get(&format!("/v1/topics/t/partitions/0/offsets?at={at}"))
            .await
            .error(400, "invalid_at");
    }
    app.get("/v1/topics/t/partitions/0/offsets")
        .await
        .error(400, "invalid_query");
}
