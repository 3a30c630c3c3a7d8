//! Consumer-group routes: extraction, authorisation against the group's bound topic, and
//! rendering; what the routes do is [`crate::service::groups`] and
//! [`crate::service::consume::poll`].

use std::io::Write;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wharf_proto::api::{
    AutoOffsetReset, CommitRequest, CommitResponse, ErrorBody,
    GroupDescription as ApiGroupDescription, GroupList, JoinGroup, MemberState, PollRequest,
    PollResponse, ResetOffsets, ResetTarget,
};

use super::error::ApiError;
use super::extract::{P, json_body, parse_json, read_body, require_json};
use super::fetch::write_record_items;
use crate::auth::Caller;
use crate::config::Action;
use crate::group::{
    CommitError, CommitOffset, DeleteGroupError, DescribeError, GroupAccess, JoinError,
    JoinRequest, MemberError, OffsetReset, ResetError, StoreError,
};
use crate::service::consume::{Budget, Polled, Resolve, poll as run_poll};
use crate::service::groups::{DEFAULT_LEASE_MS, GroupError, ResetTo};
use crate::service::topics::DeleteTopicError;
use crate::state::Broker;
use wharf_proto::ErrorCode;

const GROUP_BODY_LIMIT: u64 = 1024 * 1024;

impl From<JoinError> for ApiError {
    fn from(e: JoinError) -> Self {
        match e {
            JoinError::TopicMismatch(_) => ApiError::Conflict {
                code: ErrorCode::GroupTopicMismatch,
                message: e.to_string(),
            },
            JoinError::TooManyMembers { .. } | JoinError::TooManyGroups { .. } => {
                ApiError::LimitReached {
                    message: e.to_string(),
                }
            }
            JoinError::InvalidGroupName { .. }
            | JoinError::InvalidMemberId { .. }
            | JoinError::EmptyTopic
            | JoinError::LeaseOutOfRange { .. } => {
                ApiError::bad_request(ErrorCode::InvalidJoin, e.to_string())
            }
            JoinError::Store(s) => s.into(),
        }
    }
}

impl From<MemberError> for ApiError {
    fn from(e: MemberError) -> Self {
        match e {
            MemberError::UnknownGroup { .. } => ApiError::NotFound {
                code: ErrorCode::UnknownGroup,
                message: e.to_string(),
            },
            MemberError::UnknownMember { .. } => ApiError::NotFound {
                code: ErrorCode::UnknownMember,
                message: e.to_string(),
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal {
            detail: e.to_string(),
        }
    }
}

impl From<CommitError> for ApiError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Fenced { .. } => ApiError::Conflict {
                code: ErrorCode::Fenced,
                message: e.to_string(),
            },
            CommitError::DuplicatePartition { .. } | CommitError::NoOffsets => {
                ApiError::bad_request(ErrorCode::InvalidCommit, e.to_string())
            }
            CommitError::Store(s) => s.into(),
        }
    }
}

impl From<ResetError> for ApiError {
    fn from(e: ResetError) -> Self {
        match e {
            ResetError::MembersLive { .. } => ApiError::Conflict {
                code: ErrorCode::MembersLive,
                message: e.to_string(),
            },
            ResetError::TooManyGroups { .. } => ApiError::LimitReached {
                message: e.to_string(),
            },
            ResetError::TopicMismatch(_) => ApiError::Conflict {
                code: ErrorCode::GroupTopicMismatch,
                message: e.to_string(),
            },
            ResetError::InvalidGroupName { .. }
            | ResetError::EmptyTopic
            | ResetError::DuplicatePartition { .. }
            | ResetError::NoOffsets => {
                ApiError::bad_request(ErrorCode::InvalidReset, e.to_string())
            }
            ResetError::Store(s) => s.into(),
        }
    }
}

impl From<DeleteGroupError> for ApiError {
    fn from(e: DeleteGroupError) -> Self {
        match e {
            DeleteGroupError::UnknownGroup { .. } => ApiError::NotFound {
                code: ErrorCode::UnknownGroup,
                message: e.to_string(),
            },
            DeleteGroupError::MembersLive { .. } => ApiError::Conflict {
                code: ErrorCode::MembersLive,
                message: e.to_string(),
            },
            DeleteGroupError::Store(s) => s.into(),
        }
    }
}

impl From<DescribeError> for ApiError {
    fn from(e: DescribeError) -> Self {
        ApiError::NotFound {
            code: ErrorCode::UnknownGroup,
            message: e.to_string(),
        }
    }
}

impl From<DeleteTopicError> for ApiError {
    fn from(e: DeleteTopicError) -> Self {
        match e {
            DeleteTopicError::Topic(e) => e.into(),
            DeleteTopicError::Groups(e) => e.into(),
        }
    }
}

impl From<GroupError> for ApiError {
    fn from(e: GroupError) -> Self {
        match e {
            GroupError::Join(e) => e.into(),
            GroupError::Member(e) => e.into(),
            GroupError::Commit(e) => e.into(),
            GroupError::Reset(e) => e.into(),
            GroupError::Describe(e) => e.into(),
            GroupError::Delete(e) => e.into(),
            GroupError::Store(e) => e.into(),
            GroupError::UnknownTopic { topic } => ApiError::UnknownTopic { topic },
            GroupError::UnknownPartition { topic, partition } => {
                ApiError::UnknownPartition { topic, partition }
            }
            GroupError::InvalidReset { message } => {
                ApiError::bad_request(ErrorCode::InvalidReset, message)
            }
            GroupError::Storage(e) => e.into(),
            GroupError::Task { .. } => ApiError::Internal {
                detail: e.to_string(),
            },
        }
    }
}

async fn optional_json<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    require_json(headers)?;
    let bytes = read_body(headers, body, GROUP_BODY_LIMIT).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(&bytes)
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/members",
    params(("group" = String, Path)),
    request_body = JoinGroup,
    responses(
        (status = 200, body = MemberState),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The group consumes another topic", body = ErrorBody),
        (status = 429, description = "Group or member limit reached", body = ErrorBody),
    )
)]
pub async fn join(
    State(broker): State<Arc<Broker>>,
    P(group): P<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<MemberState>, ApiError> {
    let req: JoinGroup = json_body(&headers, body, GROUP_BODY_LIMIT).await?;
    // The group's own topic first: a token without rights on it learns nothing (403, not the
    // 409 that names the topic) and cannot squat the group by naming a topic of its own.
    let caller = authorize_group(&broker, &headers, &group, Action::Consume).await?;
    caller.require(Action::Consume, &req.topic)?;
    let request = JoinRequest {
        topic: req.topic,
        member_id: req.member_id,
        lease_ms: req.lease_ms.unwrap_or(DEFAULT_LEASE_MS),
        auto_offset_reset: match req.auto_offset_reset.unwrap_or_default() {
            AutoOffsetReset::Earliest => OffsetReset::Earliest,
            AutoOffsetReset::Latest => OffsetReset::Latest,
        },
    };
    Ok(Json(broker.join_group(&group, request).await?))
}

/// Authenticates the caller and checks `action` on the topic `group` is bound to (every topic of
/// an unbound group from older data). An unknown group needs only a valid token: a join or reset
/// then binds it to a topic the caller must have rights on.
async fn authorize_group(
    broker: &Broker,
    headers: &HeaderMap,
    group: &str,
    action: Action,
) -> Result<Caller, ApiError> {
    let caller = super::auth::authenticate(broker, headers)?;
    let access = broker.group_access(group).await?;
    match access {
        GroupAccess::Unknown => {}
        GroupAccess::Bound(topic) => caller.require(action, &topic)?,
        GroupAccess::Unbound(topics) => {
            for topic in &topics {
                caller.require(action, topic)?;
            }
        }
    }
    Ok(caller)
}

/// [`authorize_group`] for calls on an existing group: an unknown one is 404 at once, so a
/// group bound between the check and the call is never served on an unchecked token.
async fn authorize_existing(
    broker: &Broker,
    headers: &HeaderMap,
    group: &str,
    action: Action,
) -> Result<Caller, ApiError> {
    let caller = authorize_group(broker, headers, group, action).await?;
    if broker.group_access(group).await? == GroupAccess::Unknown {
        return Err(MemberError::UnknownGroup {
            group: group.to_owned(),
        }
        .into());
    }
    Ok(caller)
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/members/{member}/heartbeat",
    params(("group" = String, Path), ("member" = String, Path)),
    responses((status = 200, body = MemberState), (status = 404, description = "Unknown group or member (lease lapsed: join again)", body = ErrorBody))
)]
pub async fn heartbeat(
    State(broker): State<Arc<Broker>>,
    P((group, member)): P<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<MemberState>, ApiError> {
    authorize_existing(&broker, &headers, &group, Action::Consume).await?;
    Ok(Json(broker.heartbeat(&group, &member).await?))
}

#[utoipa::path(
    delete,
    path = "/v1/groups/{group}/members/{member}",
    params(("group" = String, Path), ("member" = String, Path)),
    responses((status = 204, description = "Left; partitions released at once"), (status = 404, body = ErrorBody))
)]
pub async fn leave(
    State(broker): State<Arc<Broker>>,
    P((group, member)): P<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    authorize_existing(&broker, &headers, &group, Action::Consume).await?;
    broker.leave_group(&group, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/members/{member}/poll",
    params(("group" = String, Path), ("member" = String, Path)),
    request_body = PollRequest,
    responses((status = 200, body = PollResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn poll(
    State(broker): State<Arc<Broker>>,
    P((group, member)): P<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize_existing(&broker, &headers, &group, Action::Consume).await?;
    let req: PollRequest = optional_json(&headers, body).await?;
    let budget = Budget::new(
        req.max_records,
        req.max_bytes,
        req.wait_ms,
        None,
        broker.config.max_wait_ms,
    )?;
    let resolve = Resolve::parse(req.resolve.as_deref())?;
    let polled = run_poll(&broker, &group, &member, budget, resolve).await?;
    let out = write_poll_json(&member, &polled);
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}

/// Writes a poll answer ([`PollResponse`]'s JSON) straight from the stored records: every
/// record object carries its topic, partition and epoch, written once per partition as the
/// records' common prefix.
fn write_poll_json(member: &str, polled: &Polled) -> Vec<u8> {
    let total: usize = polled.partitions.iter().map(|c| c.records.len()).sum();
    let mut out = Vec::with_capacity(256 + total * 128);
    out.extend_from_slice(b"{\"member_id\":");
    serde_json::to_writer(&mut out, member).expect("string serializes");
    out.extend_from_slice(b",\"topic\":");
    serde_json::to_writer(&mut out, &polled.topic).expect("string serializes");
    write!(
        out,
        ",\"lease_expires_at\":{},\"records\":[",
        polled.lease_expires_at_ms
    )
    .expect("vec write");
    let mut first = true;
    for c in polled.partitions.iter().filter(|c| !c.records.is_empty()) {
        let mut prefix = Vec::new();
        prefix.extend_from_slice(b"\"topic\":");
        serde_json::to_writer(&mut prefix, &polled.topic).expect("string serializes");
        write!(
            prefix,
            ",\"partition\":{},\"epoch\":{},",
            c.partition, c.epoch
        )
        .expect("vec write");
        if !first {
            out.push(b',');
        }
        write_record_items(&mut out, &c.records, &prefix, &c.value_urls);
        first = false;
    }
    out.extend_from_slice(b"],\"partitions\":[");
    for (i, c) in polled.partitions.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write!(
            out,
            "{{\"partition\":{},\"epoch\":{},\"position\":{},\"high_watermark\":{},\"log_start_offset\":{}}}",
            c.partition, c.epoch, c.position, c.high_watermark, c.log_start_offset
        )
        .expect("vec write");
    }
    out.extend_from_slice(b"]}");
    out
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group}/offsets",
    params(("group" = String, Path)),
    request_body = CommitRequest,
    responses(
        (status = 200, body = CommitResponse),
        (status = 400, body = ErrorBody),
        (status = 409, description = "fenced: not the owner, or an old epoch; nothing changed", body = ErrorBody),
    )
)]
pub async fn commit(
    State(broker): State<Arc<Broker>>,
    P(group): P<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CommitResponse>, ApiError> {
    let req: CommitRequest = json_body(&headers, body, GROUP_BODY_LIMIT).await?;
    let caller = authorize_group(&broker, &headers, &group, Action::Consume).await?;
    for o in &req.offsets {
        caller.require(Action::Consume, &o.topic)?;
    }
    let offsets: Vec<CommitOffset> = req
        .offsets
        .iter()
        .map(|o| CommitOffset {
            topic: o.topic.clone(),
            partition: o.partition,
            offset: o.offset,
            epoch: o.epoch,
        })
        .collect();
    let outcome = broker
        .commit_offsets(&group, &req.member_id, offsets)
        .await?;
    Ok(Json(CommitResponse {
        committed: req.offsets,
        lease_expires_at: outcome.lease_expires_at_ms,
    }))
}

#[utoipa::path(
    put,
    path = "/v1/groups/{group}/offsets",
    params(("group" = String, Path)),
    request_body = ResetOffsets,
    responses(
        (status = 200, body = ApiGroupDescription),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "A member is live", body = ErrorBody),
    )
)]
pub async fn reset_offsets(
    State(broker): State<Arc<Broker>>,
    P(group): P<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ApiGroupDescription>, ApiError> {
    let req: ResetOffsets = json_body(&headers, body, GROUP_BODY_LIMIT).await?;
    let caller = authorize_group(&broker, &headers, &group, Action::Admin).await?;
    caller.require(Action::Admin, &req.topic)?;
    let to = match req.to {
        ResetTarget::Earliest => ResetTo::Earliest,
        ResetTarget::Latest => ResetTo::Latest,
        ResetTarget::Timestamp(ts) => ResetTo::Timestamp(ts),
        ResetTarget::Offsets(list) => {
            ResetTo::Offsets(list.iter().map(|po| (po.partition, po.offset)).collect())
        }
    };
    Ok(Json(broker.reset_offsets(&group, &req.topic, to).await?))
}

#[utoipa::path(
    get,
    path = "/v1/groups",
    responses((status = 200, body = GroupList), (status = 401, body = ErrorBody))
)]
pub async fn list_groups(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
) -> Result<Json<GroupList>, ApiError> {
    let caller = super::auth::authenticate(&broker, &headers)?;
    let groups = broker
        .list_groups(|topic| caller.may(Action::Consume, topic))
        .await?;
    Ok(Json(GroupList { groups }))
}

#[utoipa::path(
    get,
    path = "/v1/groups/{group}",
    params(("group" = String, Path)),
    responses((status = 200, body = ApiGroupDescription), (status = 404, body = ErrorBody))
)]
pub async fn describe_group(
    State(broker): State<Arc<Broker>>,
    P(group): P<String>,
    headers: HeaderMap,
) -> Result<Json<ApiGroupDescription>, ApiError> {
    authorize_existing(&broker, &headers, &group, Action::Consume).await?;
    Ok(Json(broker.describe_group(&group).await?))
}

#[utoipa::path(
    delete,
    path = "/v1/groups/{group}",
    params(("group" = String, Path)),
    responses(
        (status = 204, description = "The group, its topic binding and its committed offsets are gone; the name is free"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "A member is live", body = ErrorBody),
    )
)]
pub async fn delete_group(
    State(broker): State<Arc<Broker>>,
    P(group): P<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    authorize_existing(&broker, &headers, &group, Action::Admin).await?;
    broker.delete_group(&group).await?;
    Ok(StatusCode::NO_CONTENT)
}
