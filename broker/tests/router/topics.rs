//! `/v1/topics`: create, describe, list, patch, delete.

use axum::http::Method;
use serde_json::json;

use crate::harness::App;

#[tokio::test]
async fn a_created_topic_is_201_described_listed_and_409_topic_exists_the_second_time() {
    let app = App::start().await;
    let created = app.create_topic("orders", 3).await;
    assert_eq!(created["name"], "orders");
    assert_eq!(created["partitions"], 3);
    let described = app.get("/v1/topics/orders").await.ok(200);
    assert_eq!(described["partition_states"].as_array().unwrap().len(), 3);
    let listed = app.get("/v1/topics").await.ok(200);
    assert_eq!(listed["topics"][0]["name"], "orders");
    app.post("/v1/topics", &json!({"name": "orders", "partitions": 5}))
        .await
        .error(409, "topic_exists");
    assert_eq!(app.high_watermarks("orders").await.len(), 3);
}

#[tokio::test]
async fn invalid_names_and_settings_are_400_and_create_nothing() {
    let app = App::start().await;
    let long = "x".repeat(250);
    for name in [
        "",
        "a b",
        "a/b",
        ".",
        "..",
        "tópico",
        "semi;colon",
        long.as_str(),
    ] {
        app.post("/v1/topics", &json!({"name": name, "partitions": 1}))
            .await
            .error(400, "invalid_topic_name");
    }
    app.create_topic(&"y".repeat(249), 1).await;

    for (field, value) in [
        ("partitions", json!(0)),
        ("partitions", json!(1025)),
        ("retention_ms", json!(0)),
        ("retention_ms", json!(-2)),
        ("retention_bytes", json!(0)),
        ("segment_bytes", json!(10)),
        ("max_record_bytes", json!(0)),
        ("max_record_bytes", json!(2_000_000_000u64)),
    ] {
        let mut body = json!({"name": "t", "partitions": 1});
        body[field] = value.clone();
        let reply = app.post("/v1/topics", &body).await;
        reply.error(400, "invalid_topic_config");
        let message = reply.json()["error"]["message"].clone();
        assert!(
            message.as_str().unwrap().contains(field),
            "{field}={value}: {message}"
        );
    }
    for body in [
        json!({"name": "t", "partitions": -1}),
        json!({"name": "t", "partitions": 4294967296u64}),
        json!({"name": "t", "partitions": "one"}),
        json!({"name": "t", "partitions": 1, "replication_factor": 3}),
        json!({"name": "t"}),
        // serde would take a struct as an array of its fields; the API takes objects only.
        json!(["t", 1]),
    ] {
        app.post("/v1/topics", &body)
            .await
            .error(400, "invalid_json");
    }
    let listed = app.get("/v1/topics").await.ok(200);
    assert_eq!(listed["topics"].as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test]
async fn the_naming_convention_is_enforced_only_when_configured() {
    let app = App::with(|c| c.enforce_topic_naming = true).await;
    for name in ["orders", "order.created", "a..b", "a.b.c.d", "a.b.c.dlq.x"] {
        app.post("/v1/topics", &json!({"name": name, "partitions": 1}))
            .await
            .error(400, "invalid_topic_name");
    }
    app.create_topic("order.order-service.created", 1).await;
    app.create_topic("order.order-service.created.dlq", 1).await;
    // Off by default: the same plain name is fine.
    App::start().await.create_topic("orders", 1).await;
}

#[tokio::test]
async fn partitions_grow_by_patch_but_never_shrink() {
    let app = App::start().await;
    app.create_topic("t", 2).await;
    app.patch("/v1/topics/t", &json!({"partitions": 1}))
        .await
        .error(400, "partitions_cannot_shrink");
    let grown = app
        .patch(
            "/v1/topics/t",
            &json!({"partitions": 4, "retention_ms": -1}),
        )
        .await
        .ok(200);
    assert_eq!(grown["partitions"], 4);
    assert_eq!(grown["retention_ms"], -1);
    assert_eq!(app.high_watermarks("t").await.len(), 4);
    app.patch("/v1/topics/missing", &json!({"partitions": 4}))
        .await
        .error(404, "unknown_topic");
}

#[tokio::test]
async fn a_deleted_topic_is_204_then_404_and_can_be_recreated_empty() {
    let app = App::start().await;
    // The longest valid name too: deleting renames the directory first, and that name must
    // still fit in a file name.
    for name in ["t".to_owned(), "n".repeat(249)] {
        let path = format!("/v1/topics/{name}");
        app.create_topic(&name, 1).await;
        app.produce(&name, json!([{"value": 1}])).await.ok(200);
        let deleted = app.call(Method::DELETE, &path, &[], "").await;
        assert_eq!(deleted.status, 204, "{name}: {:?}", deleted.body);
        assert!(deleted.body.is_empty());
        app.get(&path).await.error(404, "unknown_topic");
        app.call(Method::DELETE, &path, &[], "")
            .await
            .error(404, "unknown_topic");
        app.create_topic(&name, 1).await;
        assert_eq!(app.high_watermarks(&name).await, vec![0]);
    }
}
