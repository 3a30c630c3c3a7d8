//! Operations routes: liveness, readiness, metrics, and the OpenAPI document.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::state::Broker;

#[utoipa::path(get, path = "/health", responses((status = 200, description = "The process is alive")))]
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(
    get,
    path = "/ready",
    responses((status = 200, description = "Serving"), (status = 503, description = "Shutting down", body = wharf_proto::api::ErrorBody))
)]
pub async fn ready(State(broker): State<Arc<Broker>>) -> Result<Json<Value>, ApiError> {
    if broker.is_stopping() {
        return Err(ApiError::ShuttingDown);
    }
    Ok(Json(
        json!({ "status": "ready", "topics": broker.topics.list().len() }),
    ))
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus metrics in the OpenMetrics text format", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(broker): State<Arc<Broker>>) -> impl IntoResponse {
    broker.refresh_group_metrics().await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        broker.metrics.render(&broker.topics),
    )
}

#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "This document")))]
pub async fn openapi(State(broker): State<Arc<Broker>>) -> Json<serde_json::Value> {
    Json(super::openapi::document(&broker.config))
}
