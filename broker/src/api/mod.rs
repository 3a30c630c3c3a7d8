//! The HTTP API v1: the only module that knows HTTP.
//!
//! - [`error`]: [`error::ApiError`], the single mapping from errors to statuses and JSON bodies.
//! - [`extract`]: body/query/path parsing that fails with JSON errors.
//! - [`auth`]: bearer tokens with per-topic-pattern rights.
//! - [`topics`], [`produce`], [`fetch`], [`groups`], [`ops`]: the routes, each over the
//!   [`service`](crate::service) layer.
//! - [`openapi`]: the OpenAPI document of these routes, as served at `/v1/openapi.json`.
//! - [`schemas`]: the schema registry's Confluent-compatible routes under `/schemas/`.
//! - [`serve`]: the router on a listener, with connection limits and graceful shutdown;
//!   [`conn`]: one connection below HTTP (timeouts, JSON bodies for hyper's own answers);
//!   [`tls`]: HTTPS on the listener (certificate loading, the bounded handshake).
//! - The web console ([`crate::console`]) is merged in at `/ui/`.
//!
//! Unknown routes, wrong methods and even panics answer with the same JSON error shape.

pub mod auth;
pub mod conn;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod groups;
pub mod openapi;
pub mod ops;
pub mod produce;
pub mod schemas;
pub mod serve;
pub mod tls;
pub mod topics;

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;

use crate::metrics::HttpLabels;
use crate::state::Broker;
use error::ApiError;

/// Builds the router over a broker.
pub fn router(broker: Arc<Broker>) -> Router {
    let body_budget = Arc::new(extract::BodyBudget::new(
        broker.config.http.max_inflight_body_bytes,
    ));
    let router = Router::new()
        .route(
            "/v1/topics",
            post(topics::create_topic).get(topics::list_topics),
        )
        .route(
            "/v1/topics/{topic}",
            get(topics::describe_topic)
                .patch(topics::patch_topic)
                .delete(topics::delete_topic),
        )
        .route("/v1/topics/{topic}/records", post(produce::produce))
        .route(
            "/v1/topics/{topic}/partitions/{partition}/records",
            get(fetch::fetch),
        )
        .route(
            "/v1/topics/{topic}/partitions/{partition}/offsets",
            get(fetch::offsets),
        )
        .route("/v1/groups", get(groups::list_groups))
        .route(
            "/v1/groups/{group}",
            get(groups::describe_group).delete(groups::delete_group),
        )
        .route("/v1/groups/{group}/members", post(groups::join))
        .route(
            "/v1/groups/{group}/members/{member}",
            axum::routing::delete(groups::leave),
        )
        .route(
            "/v1/groups/{group}/members/{member}/heartbeat",
            post(groups::heartbeat),
        )
        .route(
            "/v1/groups/{group}/members/{member}/poll",
            post(groups::poll),
        )
        .route(
            "/v1/groups/{group}/offsets",
            post(groups::commit).put(groups::reset_offsets),
        )
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/v1/openapi.json", get(ops::openapi))
        .merge(schemas::routes());
    // The web console is a cargo feature (default on) so a build without it shows what it costs.
    #[cfg(feature = "console")]
    let router = router.merge(crate::console::router(Arc::clone(&broker)));
    router
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&broker),
            count_requests,
        ))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(
            (Arc::clone(&broker), body_budget),
            extract::read_whole_body,
        ))
        .with_state(broker)
}

async fn count_requests(State(broker): State<Arc<Broker>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let response = next.run(req).await;
    broker
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::UnknownRoute {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "handler panicked".to_owned());
    ApiError::Internal { detail }.into_response()
}
