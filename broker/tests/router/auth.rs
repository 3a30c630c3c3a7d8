//! Bearer tokens: 401 without a known token, 403 without the right, listings filtered.

use axum::http::Method;
use serde_json::{Value, json};
use wharf_broker::config::Action;

use crate::harness::{App, token};

const ADMIN: &str = "admin-token-0001";
const PRODUCER: &str = "orders-producer-1";
const READER: &str = "orders-reader-001";

/// An admin token on everything, a producer and a reader of `orders.*`.
async fn tenants() -> App {
    App::with_tokens(vec![
        token(
            ADMIN,
            &[("*", &[Action::Admin, Action::Produce, Action::Consume])],
        ),
        token(PRODUCER, &[("orders.*", &[Action::Produce])]),
        token(READER, &[("orders.*", &[Action::Consume])]),
    ])
    .await
}

async fn create_as_admin(app: &App, name: &str) {
    let body = json!({"name": name, "partitions": 1});
    app.call_as(Some(ADMIN), Method::POST, "/v1/topics", Some(&body))
        .await
        .ok(201);
}

/// Names of the topics `token` sees in `GET /v1/topics`.
async fn listed_topics(app: &App, token: &str) -> Vec<String> {
    let listed = app
        .call_as(Some(token), Method::GET, "/v1/topics", None)
        .await
        .ok(200);
    listed["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_topic_route_is_401_without_a_known_bearer_token() {
    let app = tenants().await;
    let create = json!({"name": "orders.created", "partitions": 1});
    let records = json!({"records": [{"value": 1}]});
    let grow = json!({"partitions": 2});
    let calls: [(Method, &str, Option<&Value>); 8] = [
        (Method::POST, "/v1/topics", Some(&create)),
        (Method::GET, "/v1/topics", None),
        (Method::GET, "/v1/topics/orders.created", None),
        (Method::PATCH, "/v1/topics/orders.created", Some(&grow)),
        (Method::DELETE, "/v1/topics/orders.created", None),
        (
            Method::POST,
            "/v1/topics/orders.created/records",
            Some(&records),
        ),
        (
            Method::GET,
            "/v1/topics/orders.created/partitions/0/records?offset=0",
            None,
        ),
        (
            Method::GET,
            "/v1/topics/orders.created/partitions/0/offsets?at=latest",
            None,
        ),
    ];
    for token in [None, Some("not-a-known-token")] {
        for (method, path, body) in &calls {
            app.call_as(token, method.clone(), path, *body)
                .await
                .error(401, "unauthorized");
        }
    }
    app.call(
        Method::GET,
        "/v1/topics",
        &[("authorization", "Basic YWRtaW4tdG9rZW4tMDAwMTo=")],
        "",
    )
    .await
    .error(401, "unauthorized");
}

#[tokio::test]
async fn rights_are_checked_per_action_and_topic_pattern_403_forbidden_otherwise() {
    let app = tenants().await;
    let as_ = |token: &'static str, method: Method, path: &'static str, body: Option<Value>| {
        let app = &app;
        async move { app.call_as(Some(token), method, path, body.as_ref()).await }
    };
    let records = |v: &str| Some(json!({"records": [{"value": v}]}));

    // Admin actions need the admin right.
    let create = json!({"name": "orders.created", "partitions": 1});
    as_(PRODUCER, Method::POST, "/v1/topics", Some(create))
        .await
        .error(403, "forbidden");
    create_as_admin(&app, "orders.created").await;
    create_as_admin(&app, "payments.settled").await;
    let grow = Some(json!({"partitions": 2}));
    as_(
        PRODUCER,
        Method::PATCH,
        "/v1/topics/orders.created",
        grow.clone(),
    )
    .await
    .error(403, "forbidden");
    as_(READER, Method::DELETE, "/v1/topics/orders.created", None)
        .await
        .error(403, "forbidden");

    // Produce and consume rights, by topic pattern.
    let path = "/v1/topics/orders.created/records";
    as_(PRODUCER, Method::POST, path, records("o1"))
        .await
        .ok(200);
    as_(READER, Method::POST, path, records("o2"))
        .await
        .error(403, "forbidden");
    let payments = "/v1/topics/payments.settled/records";
    as_(PRODUCER, Method::POST, payments, records("p1"))
        .await
        .error(403, "forbidden");
    let fetch = "/v1/topics/orders.created/partitions/0/records?offset=0";
    as_(PRODUCER, Method::GET, fetch, None)
        .await
        .error(403, "forbidden");
    let fetched = as_(READER, Method::GET, fetch, None).await.ok(200);
    assert_eq!(fetched["records"][0]["value"], "o1");
    let latest = "/v1/topics/orders.created/partitions/0/offsets?at=latest";
    assert_eq!(
        as_(READER, Method::GET, latest, None).await.ok(200)["offset"],
        1
    );
    let other = "/v1/topics/payments.settled/partitions/0/records?offset=0";
    as_(READER, Method::GET, other, None)
        .await
        .error(403, "forbidden");
    as_(READER, Method::GET, "/v1/topics/payments.settled", None)
        .await
        .error(403, "forbidden");

    // Listings show only what a token may touch.
    assert_eq!(listed_topics(&app, READER).await, ["orders.created"]);
    assert_eq!(
        listed_topics(&app, ADMIN).await,
        ["orders.created", "payments.settled"]
    );
    as_(ADMIN, Method::PATCH, "/v1/topics/orders.created", grow)
        .await
        .ok(200);
    let deleted = as_(ADMIN, Method::DELETE, "/v1/topics/payments.settled", None).await;
    assert_eq!(deleted.status, 204);
}

#[tokio::test]
async fn group_listings_show_only_groups_on_topics_the_token_may_consume() {
    let app = tenants().await;
    for (group, topic) in [
        ("g-orders", "orders.created"),
        ("g-payments", "payments.settled"),
    ] {
        create_as_admin(&app, topic).await;
        let join = json!({"topic": topic});
        app.call_as(
            Some(ADMIN),
            Method::POST,
            &format!("/v1/groups/{group}/members"),
            Some(&join),
        )
        .await
        .ok(200);
    }
    let listed = app
        .call_as(Some(READER), Method::GET, "/v1/groups", None)
        .await
        .ok(200);
    let groups: Vec<&str> = listed["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["g-orders"]);
    app.call_as(Some(READER), Method::GET, "/v1/groups/g-payments", None)
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

const OTHER: &str = "other-tenant-0001";

/// One route of the matrix: method, path, body, and the right it needs on `orders.created`.
struct Route {
    method: Method,
    path: String,
    body: Option<Value>,
    needs: Action,
}

/// The state every refused call must leave as it was, read with the admin token.
async fn orders_state(app: &App) -> Value {
    let topic = app
        .call_as(Some(ADMIN), Method::GET, "/v1/topics/orders.created", None)
        .await
        .ok(200);
    let group = app
        .call_as(Some(ADMIN), Method::GET, "/v1/groups/g-orders", None)
        .await
        .ok(200);
    let topics = listed_topics(app, ADMIN).await;
    json!({"topic": topic, "group": group, "topics": topics})
}

#[tokio::test]
async fn every_route_refuses_missing_wrong_unentitled_and_foreign_tokens_and_changes_nothing() {
    let app = App::with_tokens(vec![
        token(
            ADMIN,
            &[("*", &[Action::Admin, Action::Produce, Action::Consume])],
        ),
        token(PRODUCER, &[("orders.*", &[Action::Produce])]),
        token(READER, &[("orders.*", &[Action::Consume])]),
        token(
            OTHER,
            &[(
                "other.*",
                &[Action::Admin, Action::Produce, Action::Consume],
            )],
        ),
    ])
    .await;
    create_as_admin(&app, "orders.created").await;
    create_as_admin(&app, "other.events").await;
    let records = json!({"records": [{"value": "o1"}]});
    app.call_as(
        Some(ADMIN),
        Method::POST,
        "/v1/topics/orders.created/records",
        Some(&records),
    )
    .await
    .ok(200);
    let joined = app
        .call_as(
            Some(ADMIN),
            Method::POST,
            "/v1/groups/g-orders/members",
            Some(&json!({"topic": "orders.created", "lease_ms": 60_000})),
        )
        .await
        .ok(200);
    let member = joined["member_id"].as_str().unwrap().to_owned();
    let epoch = joined["assignments"][0]["epoch"].clone();
    let commit = json!({"member_id": member, "offsets": [{"topic": "orders.created", "partition": 0, "offset": 1, "epoch": epoch}]});
    app.call_as(
        Some(ADMIN),
        Method::POST,
        "/v1/groups/g-orders/offsets",
        Some(&commit),
    )
    .await
    .ok(200);
    let before = orders_state(&app).await;

    let route = |method: Method, path: &str, body: Option<Value>, needs: Action| Route {
        method,
        path: path.to_owned(),
        body,
        needs,
    };
    let m = &member;
    let routes = [
        route(
            Method::POST,
            "/v1/topics",
            Some(json!({"name": "orders.new", "partitions": 1})),
            Action::Admin,
        ),
        route(
            Method::PATCH,
            "/v1/topics/orders.created",
            Some(json!({"partitions": 2})),
            Action::Admin,
        ),
        route(
            Method::DELETE,
            "/v1/topics/orders.created",
            None,
            Action::Admin,
        ),
        route(
            Method::POST,
            "/v1/topics/orders.created/records",
            Some(json!({"records": [{"value": "x"}]})),
            Action::Produce,
        ),
        route(
            Method::GET,
            "/v1/topics/orders.created/partitions/0/records?offset=0",
            None,
            Action::Consume,
        ),
        route(
            Method::GET,
            "/v1/topics/orders.created/partitions/0/offsets?at=latest",
            None,
            Action::Consume,
        ),
        route(Method::GET, "/v1/groups/g-orders", None, Action::Consume),
        route(Method::DELETE, "/v1/groups/g-orders", None, Action::Admin),
        route(
            Method::POST,
            "/v1/groups/g-orders/members",
            Some(json!({"topic": "orders.created"})),
            Action::Consume,
        ),
        // A join naming a topic the token may use does not get it into another's group.
        route(
            Method::POST,
            "/v1/groups/g-orders/members",
            Some(json!({"topic": "other.events"})),
            Action::Consume,
        ),
        route(
            Method::POST,
            &format!("/v1/groups/g-orders/members/{m}/heartbeat"),
            Some(json!({})),
            Action::Consume,
        ),
        route(
            Method::POST,
            &format!("/v1/groups/g-orders/members/{m}/poll"),
            Some(json!({"max_records": 10})),
            Action::Consume,
        ),
        route(
            Method::DELETE,
            &format!("/v1/groups/g-orders/members/{m}"),
            None,
            Action::Consume,
        ),
        route(
            Method::POST,
            "/v1/groups/g-orders/offsets",
            Some(
                json!({"member_id": m, "offsets": [{"topic": "orders.created", "partition": 0, "offset": 0, "epoch": epoch}]}),
            ),
            Action::Consume,
        ),
        route(
            Method::PUT,
            "/v1/groups/g-orders/offsets",
            Some(json!({"topic": "orders.created", "to": "earliest"})),
            Action::Admin,
        ),
    ];
    for r in &routes {
        let what = format!("{} {}", r.method, r.path);
        for bad in [None, Some("not-a-known-token")] {
            let reply = app
                .call_as(bad, r.method.clone(), &r.path, r.body.as_ref())
                .await;
            assert_eq!(reply.status, 401, "{what} with {bad:?}: {:?}", reply.body);
            reply.error(401, "unauthorized");
        }
        // Tokens on these topics without the right the route needs, and one for other topics.
        let unentitled: &[&str] = match r.needs {
            Action::Admin => &[PRODUCER, READER],
            Action::Produce => &[READER],
            Action::Consume => &[PRODUCER],
        };
        for token in unentitled.iter().chain([&OTHER]) {
            let reply = app
                .call_as(Some(token), r.method.clone(), &r.path, r.body.as_ref())
                .await;
            assert_eq!(reply.status, 403, "{what} as {token}: {:?}", reply.body);
            reply.error(403, "forbidden");
        }
    }
    assert_eq!(
        orders_state(&app).await,
        before,
        "a refused call changed state"
    );

    // Listings never name what the token may not see.
    assert_eq!(listed_topics(&app, OTHER).await, ["other.events"]);
    let groups = app
        .call_as(Some(OTHER), Method::GET, "/v1/groups", None)
        .await
        .ok(200);
    assert_eq!(groups["groups"], json!([]), "{groups}");
    app.call_as(Some(OTHER), Method::GET, "/v1/topics/orders.created", None)
        .await
        .error(403, "forbidden");
}
