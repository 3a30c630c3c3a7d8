//! Bearer tokens: 401 without a known token, 403 without the right, listings filtered.

use axum::http::Method;
use serde_json::json;
use wharf_broker::config::Action;

use crate::harness::{App, token};

const ADMIN: &str = "admin-secret";
const ORDERS: &str = "orders-secret";

/// An admin token on everything; a token that may produce and consume `orders.*` only.
async fn tenants() -> App {
    let app = App::with_tokens(vec![
        token(
            ADMIN,
            &[("*", &[Action::Admin, Action::Produce, Action::Consume])],
        ),
        token(ORDERS, &[("orders.*", &[Action::Produce, Action::Consume])]),
    ])
    .await;
    for name in ["orders.created", "payments.settled"] {
        app.call(
            Method::POST,
            "/v1/topics",
            &[("authorization", &format!("Bearer {ADMIN}"))],
            json!({"name": name, "partitions": 1}).to_string(),
        )
        .await
        .ok(201);
    }
    app
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

#[tokio::test]
async fn missing_wrong_or_non_bearer_credentials_are_401_unauthorized() {
    let app = tenants().await;
    let path = "/v1/topics/orders.created/records";
    let body = json!({"records": [{"value": 1}]}).to_string();
    let wrong = bearer("not-a-token");
    let basic = format!("Basic {ORDERS}");
    for headers in [
        vec![],
        vec![("authorization", wrong.as_str())],
        vec![("authorization", basic.as_str())],
    ] {
        app.call(Method::POST, path, &headers, body.clone())
            .await
            .error(401, "unauthorized");
    }
    app.get("/v1/topics").await.error(401, "unauthorized");
}

#[tokio::test]
async fn a_token_without_the_right_is_403_forbidden_and_with_it_succeeds() {
    let app = tenants().await;
    let orders = bearer(ORDERS);
    let auth = [("authorization", orders.as_str())];
    let body = json!({"records": [{"value": 1}]}).to_string();
    app.call(
        Method::POST,
        "/v1/topics/orders.created/records",
        &auth,
        body.clone(),
    )
    .await
    .ok(200);
    app.call(
        Method::POST,
        "/v1/topics/payments.settled/records",
        &auth,
        body,
    )
    .await
    .error(403, "forbidden");
    app.call(
        Method::GET,
        "/v1/topics/payments.settled/partitions/0/records?offset=0",
        &auth,
        "",
    )
    .await
    .error(403, "forbidden");
    // Creating topics needs `admin`, even inside the token's own pattern.
    app.call(
        Method::POST,
        "/v1/topics",
        &auth,
        json!({"name": "orders.other", "partitions": 1}).to_string(),
    )
    .await
    .error(403, "forbidden");
    app.call(Method::DELETE, "/v1/topics/orders.created", &auth, "")
        .await
        .error(403, "forbidden");
}

#[tokio::test]
async fn topic_listings_show_only_topics_the_token_has_a_right_on() {
    let app = tenants().await;
    let names = |token: &'static str| {
        let app = &app;
        async move {
            let header = bearer(token);
            let listed = app
                .call(Method::GET, "/v1/topics", &[("authorization", &header)], "")
                .await
                .ok(200);
            listed["topics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names(ORDERS).await, ["orders.created"]);
    let mut all = names(ADMIN).await;
    all.sort();
    assert_eq!(all, ["orders.created", "payments.settled"]);
}

#[tokio::test]
async fn group_listings_show_only_groups_on_topics_the_token_may_consume() {
    let app = tenants().await;
    let admin = bearer(ADMIN);
    for (group, topic) in [
        ("g-orders", "orders.created"),
        ("g-payments", "payments.settled"),
    ] {
        app.call(
            Method::POST,
            &format!("/v1/groups/{group}/members"),
            &[("authorization", &admin)],
            json!({"topic": topic}).to_string(),
        )
        .await
        .ok(200);
    }
    let orders = bearer(ORDERS);
    let listed = app
        .call(Method::GET, "/v1/groups", &[("authorization", &orders)], "")
        .await
        .ok(200);
    let groups: Vec<&str> = listed["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["g-orders"]);
    app.call(
        Method::GET,
        "/v1/groups/g-payments",
        &[("authorization", &orders)],
        "",
    )
    .await
    .error(403, "forbidden");
}

#[tokio::test]
async fn operational_routes_stay_open_while_auth_is_on() {
    let app = tenants().await;
    for path in ["/health", "/ready", "/metrics", "/v1/openapi.json"] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
}
