//! Consumer groups: join, poll, commit, fencing and the group's topic binding.

use serde_json::{Value, json};

use crate::harness::{App, values};

/// Topic `t` (one partition, records `a`, `b`, `c`) and a member of group `g` that owns it.
async fn joined() -> (App, Value) {
    let app = App::start().await;
    app.create_topic("t", 1).await;
    app.produce("t", json!([{"value": "a"}, {"value": "b"}, {"value": "c"}]))
        .await
        .ok(200);
    let member = app
        .post(
            "/v1/groups/g/members",
            &json!({"topic": "t", "member_id": "m1", "auto_offset_reset": "earliest"}),
        )
        .await
        .ok(200);
    (app, member)
}

fn commit_body(member: &str, offset: u64, epoch: &Value) -> Value {
    json!({"member_id": member,
           "offsets": [{"topic": "t", "partition": 0, "offset": offset, "epoch": epoch}]})
}

#[tokio::test]
async fn a_member_joins_polls_commits_and_the_group_shows_the_committed_offset() {
    let (app, member) = joined().await;
    assert_eq!(member["group"], "g");
    assert_eq!(member["member_id"], "m1");
    let assignment = &member["assignments"][0];
    assert_eq!(assignment["partition"], 0);
    assert_eq!(assignment["committed_offset"], Value::Null);

    let polled = app
        .post("/v1/groups/g/members/m1/poll", &json!({"max_records": 2}))
        .await
        .ok(200);
    assert_eq!(values(&polled), [json!("a"), json!("b")]);
    assert_eq!(polled["records"][0]["epoch"], assignment["epoch"]);

    let committed = app
        .post(
            "/v1/groups/g/offsets",
            &commit_body("m1", 2, &assignment["epoch"]),
        )
        .await
        .ok(200);
    assert_eq!(committed["committed"][0]["offset"], 2);
    let described = app.get("/v1/groups/g").await.ok(200);
    assert_eq!(described["topic"], "t");
    assert_eq!(described["partitions"][0]["committed_offset"], 2);
    assert_eq!(described["partitions"][0]["lag"], 1);
}

#[tokio::test]
async fn a_commit_with_an_old_epoch_or_from_a_non_owner_is_409_fenced_and_changes_nothing() {
    let (app, member) = joined().await;
    let epoch = member["assignments"][0]["epoch"].as_u64().unwrap();
    app.post(
        "/v1/groups/g/offsets",
        &commit_body("m1", 1, &json!(epoch + 1)),
    )
    .await
    .error(409, "fenced");
    app.post(
        "/v1/groups/g/members",
        &json!({"topic": "t", "member_id": "m2"}),
    )
    .await
    .ok(200);
    app.post("/v1/groups/g/offsets", &commit_body("m2", 1, &json!(epoch)))
        .await
        .error(409, "fenced");
    let described = app.get("/v1/groups/g").await.ok(200);
    assert_eq!(described["partitions"][0]["committed_offset"], Value::Null);
}

#[tokio::test]
async fn a_join_naming_another_topic_is_409_group_topic_mismatch() {
    let (app, _) = joined().await;
    app.create_topic("other", 1).await;
    app.post("/v1/groups/g/members", &json!({"topic": "other"}))
        .await
        .error(409, "group_topic_mismatch");
}

#[tokio::test]
async fn bad_joins_are_400_invalid_join_and_unknown_topics_404() {
    let app = App::start().await;
    app.create_topic("t", 1).await;
    for body in [
        json!({"topic": "t", "lease_ms": 1}),
        json!({"topic": "t", "lease_ms": 86_400_000}),
    ] {
        app.post("/v1/groups/g/members", &body)
            .await
            .error(400, "invalid_join");
    }
    app.post("/v1/groups/g/members", &json!({"topic": "missing"}))
        .await
        .error(404, "unknown_topic");
    app.post("/v1/groups/g/members", &json!({"lease_ms": 5000}))
        .await
        .error(400, "invalid_json");
}

#[tokio::test]
async fn polls_and_heartbeats_of_unknown_members_are_404() {
    let (app, _) = joined().await;
    app.post("/v1/groups/g/members/ghost/poll", &json!({}))
        .await
        .error(404, "unknown_member");
    app.post("/v1/groups/g/members/ghost/heartbeat", &json!({}))
        .await
        .error(404, "unknown_member");
    app.get("/v1/groups/nobody")
        .await
        .error(404, "unknown_group");
}

#[tokio::test]
async fn offsets_cannot_be_reset_nor_the_group_deleted_while_a_member_is_live() {
    let (app, _) = joined().await;
    app.call(
        axum::http::Method::PUT,
        "/v1/groups/g/offsets",
        &[("content-type", "application/json")],
        json!({"topic": "t", "to": "earliest"}).to_string(),
    )
    .await
    .error(409, "members_live");
    app.call(axum::http::Method::DELETE, "/v1/groups/g", &[], "")
        .await
        .error(409, "members_live");
    let left = app
        .call(
            axum::http::Method::DELETE,
            "/v1/groups/g/members/m1",
            &[],
            "",
        )
        .await;
    assert_eq!(left.status, 204);
    let deleted = app
        .call(axum::http::Method::DELETE, "/v1/groups/g", &[], "")
        .await;
    assert_eq!(deleted.status, 204);
}
