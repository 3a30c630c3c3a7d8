//! Operational routes and the JSON fallbacks for unknown routes and wrong methods.

use axum::http::Method;

use crate::harness::App;

#[tokio::test]
async fn unknown_routes_are_404_unknown_route_as_json() {
    let app = App::start().await;
    for path in [
        "/",
        "/v2/topics",
        "/v1/topic",
        "/v1/topics/a/b/c/d/e",
        "/healthz",
    ] {
        app.get(path).await.error(404, "unknown_route");
    }
}

#[tokio::test]
async fn wrong_methods_are_405_method_not_allowed_as_json_naming_the_path() {
    let app = App::start().await;
    for (method, path) in [
        (Method::PUT, "/v1/topics"),
        (Method::DELETE, "/v1/topics"),
        (Method::POST, "/v1/topics/t"),
        (Method::GET, "/v1/topics/t/records"),
        (Method::POST, "/v1/topics/t/partitions/0/records"),
        (Method::DELETE, "/v1/topics/t/partitions/0/offsets"),
        (Method::POST, "/health"),
        (Method::PATCH, "/metrics"),
        (Method::DELETE, "/v1/groups"),
    ] {
        let reply = app.call(method.clone(), path, &[], "").await;
        reply.error(405, "method_not_allowed");
        let message = reply.json()["error"]["message"].clone();
        assert!(
            message.as_str().unwrap().contains(path),
            "{method} {path}: {message}"
        );
    }
}

#[tokio::test]
async fn health_and_ready_answer_200_and_metrics_count_requests_by_route() {
    let app = App::start().await;
    assert_eq!(app.get("/health").await.status, 200);
    assert_eq!(app.get("/ready").await.status, 200);
    app.get("/v1/topics").await.ok(200);
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("wharf_http_requests")
            && l.contains("route=\"/v1/topics\"")
            && l.contains("status=\"200\"")),
        "{text}"
    );
}

#[tokio::test]
async fn the_openapi_document_is_served_as_json_with_every_route() {
    let app = App::start().await;
    let doc = app.get("/v1/openapi.json").await.ok(200);
    assert_eq!(doc["info"]["version"], "1");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v1/topics/{topic}/records"));
    assert!(paths.contains_key("/v1/groups/{group}/members/{member}/poll"));
}
