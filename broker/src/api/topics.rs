//! Topic administration: create, list, describe, patch, delete.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use wharf_proto::api::{CreateTopic, ErrorBody, PatchTopic, TopicDescription, TopicList};

use super::error::ApiError;
use super::extract::{P, json_body};
use crate::config::Action;
use crate::state::{Broker, now_ms};

/// Admin bodies are small; a tighter limit than produce keeps junk out early.
const ADMIN_BODY_LIMIT: u64 = 64 * 1024;

#[utoipa::path(
    post,
    path = "/v1/topics",
    request_body = CreateTopic,
    responses(
        (status = 201, body = TopicDescription),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The topic exists", body = ErrorBody),
    )
)]
pub async fn create_topic(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<TopicDescription>), ApiError> {
    let req: CreateTopic = json_body(&headers, body, ADMIN_BODY_LIMIT).await?;
    super::auth::authorize(&broker, &headers, Action::Admin, &req.name)?;
    let topic = broker.topics.create(req, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(topic.describe(true))))
}

#[utoipa::path(
    get,
    path = "/v1/topics",
    responses((status = 200, body = TopicList), (status = 401, body = ErrorBody))
)]
pub async fn list_topics(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
) -> Result<Json<TopicList>, ApiError> {
    let caller = super::auth::authenticate(&broker, &headers)?;
    let topics = broker
        .topics
        .list()
        .into_iter()
        .filter(|t| caller.sees(&t.name))
        .map(|t| t.describe(false))
        .collect();
    Ok(Json(TopicList { topics }))
}

#[utoipa::path(
    get,
    path = "/v1/topics/{topic}",
    params(("topic" = String, Path)),
    responses((status = 200, body = TopicDescription), (status = 404, body = ErrorBody))
)]
pub async fn describe_topic(
    State(broker): State<Arc<Broker>>,
    P(name): P<String>,
    headers: HeaderMap,
) -> Result<Json<TopicDescription>, ApiError> {
    let caller = super::auth::authenticate(&broker, &headers)?;
    if !caller.sees(&name) {
        caller.require(Action::Consume, &name)?;
    }
    let topic = broker
        .topics
        .get(&name)
        .ok_or(ApiError::UnknownTopic { topic: name })?;
    Ok(Json(topic.describe(true)))
}

#[utoipa::path(
    patch,
    path = "/v1/topics/{topic}",
    params(("topic" = String, Path)),
    request_body = PatchTopic,
    responses((status = 200, body = TopicDescription), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn patch_topic(
    State(broker): State<Arc<Broker>>,
    P(name): P<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<TopicDescription>, ApiError> {
    super::auth::authorize(&broker, &headers, Action::Admin, &name)?;
    let patch: PatchTopic = json_body(&headers, body, ADMIN_BODY_LIMIT).await?;
    let topic = broker.topics.patch(&name, patch).await?;
    Ok(Json(topic.describe(true)))
}

#[utoipa::path(
    delete,
    path = "/v1/topics/{topic}",
    params(("topic" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody))
)]
pub async fn delete_topic(
    State(broker): State<Arc<Broker>>,
    P(name): P<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    super::auth::authorize(&broker, &headers, Action::Admin, &name)?;
    broker.delete_topic(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
