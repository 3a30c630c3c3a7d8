//! Consumer-group routes: leases, fair assignment and fenced commits, with the whole group state
//! in the broker so any stateless invocation can continue where another stopped.
//!
//! The coordinator ([`crate::group::Coordinator`]) is synchronous and clock-injected; this module
//! passes it the wall clock, resolves `earliest`/`latest` against the log, reads records, and
//! reports read positions back. Calls that write (commit, reset, topic deletion) run on the
//! blocking pool because the offset store fsyncs.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;
use wharf_proto::api::{
    AutoOffsetReset, CommitRequest, CommitResponse, ErrorBody, GroupAssignment,
    GroupDescription as ApiGroupDescription, GroupList, GroupMember, GroupPartition,
    GroupSummary as ApiGroupSummary, JoinGroup, MemberState, PollRequest, PollResponse,
    ResetOffsets, ResetTarget,
};

use crate::auth::Caller;
use super::error::ApiError;
use super::extract::{P, json_body, parse_json, read_body, require_json};
use super::fetch::{Budget, resolve_pointers, write_records_json};
use crate::config::Action;
use crate::group::{
    Advance, CommitError, CommitOffset, Coordinator, DeleteGroupError, DescribeError, GroupAccess,
    JoinError, JoinRequest, MemberError, MemberView, OffsetReset, Position, ResetError, StoreError,
};
use crate::metrics::GroupLabels;
use crate::state::{Broker, now_ms};
use crate::storage::StorageError;

/// Lease a join gets when it names none.
pub const DEFAULT_LEASE_MS: u64 = 30_000;
const GROUP_BODY_LIMIT: u64 = 1024 * 1024;

fn clock() -> u64 {
    u64::try_from(now_ms()).unwrap_or(0)
}

impl From<JoinError> for ApiError {
    fn from(e: JoinError) -> Self {
        match e {
            JoinError::TopicMismatch { .. } => ApiError::Conflict {
                code: "group_topic_mismatch",
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
                ApiError::bad_request("invalid_join", e.to_string())
            }
            JoinError::Store(s) => s.into(),
        }
    }
}

impl From<MemberError> for ApiError {
    fn from(e: MemberError) -> Self {
        match e {
            MemberError::UnknownGroup { .. } => ApiError::NotFound {
                code: "unknown_group",
                message: e.to_string(),
            },
            MemberError::UnknownMember { .. } => ApiError::NotFound {
                code: "unknown_member",
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
                code: "fenced",
                message: e.to_string(),
            },
            CommitError::DuplicatePartition { .. } | CommitError::NoOffsets => {
                ApiError::bad_request("invalid_commit", e.to_string())
            }
            CommitError::Store(s) => s.into(),
        }
    }
}

impl From<ResetError> for ApiError {
    fn from(e: ResetError) -> Self {
        match e {
            ResetError::MembersLive { .. } => ApiError::Conflict {
                code: "members_live",
                message: e.to_string(),
            },
            ResetError::TooManyGroups { .. } => ApiError::LimitReached {
                message: e.to_string(),
            },
            ResetError::TopicMismatch { .. } => ApiError::Conflict {
                code: "group_topic_mismatch",
                message: e.to_string(),
            },
            ResetError::InvalidGroupName { .. }
            | ResetError::EmptyTopic
            | ResetError::DuplicatePartition { .. }
            | ResetError::NoOffsets => ApiError::bad_request("invalid_reset", e.to_string()),
            ResetError::Store(s) => s.into(),
        }
    }
}

impl From<DeleteGroupError> for ApiError {
    fn from(e: DeleteGroupError) -> Self {
        match e {
            DeleteGroupError::UnknownGroup { .. } => ApiError::NotFound {
                code: "unknown_group",
                message: e.to_string(),
            },
            DeleteGroupError::MembersLive { .. } => ApiError::Conflict {
                code: "members_live",
                message: e.to_string(),
            },
            DeleteGroupError::Store(s) => s.into(),
        }
    }
}

impl From<DescribeError> for ApiError {
    fn from(e: DescribeError) -> Self {
        ApiError::NotFound {
            code: "unknown_group",
            message: e.to_string(),
        }
    }
}

fn member_state(view: MemberView) -> MemberState {
    MemberState {
        group: view.group,
        member_id: view.member_id,
        topic: view.topic,
        lease_expires_at: view.lease_expires_at_ms,
        assignments: view
            .assignments
            .into_iter()
            .map(|a| GroupAssignment {
                partition: a.partition,
                epoch: a.epoch,
                committed_offset: a.committed_offset,
                position: match a.position {
                    Position::Offset(o) => Some(o),
                    Position::Reset(_) => None,
                },
            })
            .collect(),
    }
}

impl Broker {
    fn groups(&self) -> std::sync::MutexGuard<'_, Coordinator> {
        self.groups.lock().expect("group coordinator lock")
    }

    /// Partition count of the topic a group is bound to (0 if the topic is gone).
    fn group_partitions(&self, group: &str) -> u32 {
        let topic = self.groups().topic_of(group).map(str::to_owned);
        topic
            .as_deref()
            .and_then(|t| self.topics.get(t))
            .map_or(0, |t| t.partition_count())
    }

    /// Runs a coordinator call that writes to the offset store on the blocking pool.
    async fn groups_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Coordinator) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let broker = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&mut broker.groups()))
            .await
            .map_err(|e| ApiError::Internal {
                detail: format!("group task failed: {e}"),
            })
    }

    /// Forgets the offsets and members of a deleted topic.
    pub async fn forget_topic_in_groups(self: &Arc<Self>, topic: &str) -> Result<(), ApiError> {
        let topic = topic.to_owned();
        self.groups_blocking(move |g| g.delete_topic(&topic))
            .await??;
        Ok(())
    }

    /// Sweeps lapsed leases.
    pub fn expire_leases(&self) {
        let outcome = self.groups().expire(clock());
        for m in outcome.expired {
            tracing::info!(group = %m.group, member = %m.member_id, released = ?m.released, "member lease lapsed");
        }
    }

    /// Refreshes the per-partition lag gauges of every group (called at scrape time).
    pub fn refresh_group_metrics(&self) {
        self.metrics.group_lag.clear();
        let now = clock();
        let mut coordinator = self.groups();
        for summary in coordinator.list_groups(now) {
            let Ok(description) = coordinator.describe(now, &summary.group) else {
                continue;
            };
            for c in &description.committed {
                if let Some(p) = self
                    .topics
                    .get(&c.topic)
                    .and_then(|t| t.partition(c.partition))
                {
                    let lag = p.offsets().high_watermark.saturating_sub(c.offset);
                    self.metrics
                        .group_lag
                        .get_or_create(&GroupLabels {
                            group: summary.group.clone(),
                            topic: c.topic.clone(),
                            partition: c.partition,
                        })
                        .set(i64::try_from(lag).unwrap_or(i64::MAX));
                }
            }
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
    let caller = authorize_group(&broker, &headers, &group, Action::Consume)?;
    caller.require(Action::Consume, &req.topic)?;
    let topic = broker
        .topics
        .get(&req.topic)
        .ok_or_else(|| ApiError::UnknownTopic {
            topic: req.topic.clone(),
        })?;
    let request = JoinRequest {
        topic: req.topic,
        member_id: req.member_id,
        lease_ms: req.lease_ms.unwrap_or(DEFAULT_LEASE_MS),
        auto_offset_reset: match req.auto_offset_reset.unwrap_or_default() {
            AutoOffsetReset::Earliest => OffsetReset::Earliest,
            AutoOffsetReset::Latest => OffsetReset::Latest,
        },
    };
    let partitions = topic.partition_count();
    let group_name = group.clone();
    // On the blocking pool: the first join of a group stores its binding (an fsync).
    let view = broker
        .groups_blocking(move |g| g.join(clock(), &group_name, request, partitions))
        .await??;
    tracing::debug!(group = %group, member = %view.member_id, partitions = view.assignments.len(), "member joined");
    Ok(Json(member_state(view)))
}

/// Authenticates the caller and checks `action` on the topic `group` is bound to (every topic of
/// an unbound group from older data). An unknown group needs only a valid token: a join or reset
/// then binds it to a topic the caller must have rights on.
fn authorize_group(
    broker: &Broker,
    headers: &HeaderMap,
    group: &str,
    action: Action,
) -> Result<Caller, ApiError> {
    let caller = super::auth::authenticate(broker, headers)?;
    let access = broker.groups().access(group);
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
fn authorize_existing(
    broker: &Broker,
    headers: &HeaderMap,
    group: &str,
    action: Action,
) -> Result<Caller, ApiError> {
    let caller = authorize_group(broker, headers, group, action)?;
    if broker.groups().access(group) == GroupAccess::Unknown {
        return Err(MemberError::UnknownGroup {
            group: group.to_owned(),
        }
        .into());
    }
    Ok(caller)
}

/// Authorizes a call on behalf of a member (consume on the group's topic); returns the topic's
/// partition count.
fn authorize_member(broker: &Broker, headers: &HeaderMap, group: &str) -> Result<u32, ApiError> {
    authorize_existing(broker, headers, group, Action::Consume)?;
    Ok(broker.group_partitions(group))
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
    let partitions = authorize_member(&broker, &headers, &group)?;
    let view = broker
        .groups()
        .heartbeat(clock(), &group, &member, partitions)?;
    Ok(Json(member_state(view)))
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
    authorize_member(&broker, &headers, &group)?;
    broker.groups().leave(clock(), &group, &member)?;
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
    let partitions = authorize_member(&broker, &headers, &group)?;
    let req: PollRequest = optional_json(&headers, body).await?;
    let budget = Budget::new(
        req.max_records,
        req.max_bytes,
        req.wait_ms,
        None,
        broker.config.max_wait_ms,
    )?;
    let plan = broker
        .groups()
        .poll_positions(clock(), &group, &member, partitions)?;
    let topic = broker
        .topics
        .get(&plan.topic)
        .ok_or_else(|| ApiError::UnknownTopic {
            topic: plan.topic.clone(),
        })?;

    // Resolve each partition's start: committed/position, else the reset policy; an offset that
    // retention removed (or that is beyond the end) is clamped into the log, as Kafka's
    // auto.offset.reset would.
    let mut cursors: Vec<Cursor> = Vec::with_capacity(plan.partitions.len());
    for pos in &plan.partitions {
        let Some(p) = topic.partition(pos.partition) else {
            continue;
        };
        let bounds = p.offsets();
        let start = match pos.position {
            Position::Offset(o) => o.clamp(bounds.log_start_offset, bounds.high_watermark),
            Position::Reset(OffsetReset::Earliest) => bounds.log_start_offset,
            Position::Reset(OffsetReset::Latest) => bounds.high_watermark,
        };
        cursors.push(Cursor {
            partition: pos.partition,
            epoch: pos.epoch,
            next: start,
            high_watermark: bounds.high_watermark,
            log_start_offset: bounds.log_start_offset,
            records: Vec::new(),
        });
    }

    let deadline = Instant::now() + budget.wait;
    let mut appends = topic.subscribe_appends();
    let mut stopping = broker.stopping.clone();
    // Rotate the starting partition so a busy partition cannot starve the others.
    let rotate = (clock() as usize) % cursors.len().max(1);
    loop {
        appends.borrow_and_update();
        let (mut records_left, mut bytes_left) = (budget.max_records, budget.max_bytes);
        let count = cursors.len();
        for i in 0..count {
            if records_left == 0 || bytes_left == 0 {
                break;
            }
            let c = &mut cursors[(i + rotate) % count];
            let Some(p) = topic.partition(c.partition) else {
                continue;
            };
            let batch = match p.read(c.next, records_left, bytes_left).await {
                Ok(b) => b,
                Err(StorageError::OffsetOutOfRange {
                    log_start,
                    high_watermark,
                    ..
                }) => {
                    c.next = c.next.clamp(log_start, high_watermark);
                    p.read(c.next, records_left, bytes_left).await?
                }
                Err(e) => return Err(e.into()),
            };
            records_left -= batch.records.len().min(records_left);
            bytes_left = bytes_left.saturating_sub(batch.bytes as usize);
            c.next = batch.next_offset;
            c.high_watermark = batch.high_watermark;
            c.log_start_offset = batch.log_start_offset;
            c.records.extend(batch.records);
        }
        let got = cursors.iter().any(|c| !c.records.is_empty());
        if got || Instant::now() >= deadline || broker.is_stopping() {
            break;
        }
        if cursors.is_empty() {
            // Nothing assigned (more members than partitions): wait out the poll rather than
            // answer at once, so an idle member does not spin; it gets partitions at a later
            // heartbeat or poll.
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {},
                () = crate::partition::until_true(&mut stopping) => {},
            }
            break;
        }
        // Sleep until any partition of the topic is appended to, the wait ends, or shutdown.
        let woke = tokio::select! {
            changed = appends.changed() => changed.is_ok(),
            () = tokio::time::sleep_until(deadline) => false,
            () = crate::partition::until_true(&mut stopping) => false,
        };
        if !woke {
            // One last read happens on the next turn only if time remains; otherwise stop.
            if Instant::now() >= deadline {
                break;
            }
        }
    }

    let advances: Vec<Advance> = cursors
        .iter()
        .map(|c| Advance {
            partition: c.partition,
            epoch: c.epoch,
            next_offset: c.next,
        })
        .collect();
    let lease_expires_at = {
        let mut coordinator = broker.groups();
        coordinator.advance(clock(), &group, &member, &advances);
        plan.lease_expires_at_ms
    };

    let mut urls: Vec<Vec<Option<String>>> = Vec::with_capacity(cursors.len());
    for c in &mut cursors {
        urls.push(resolve_pointers(&broker, &mut c.records, req.resolve.as_deref()).await?);
    }
    let total: usize = cursors.iter().map(|c| c.records.len()).sum();
    let mut out = Vec::with_capacity(256 + total * 128);
    out.extend_from_slice(b"{\"member_id\":");
    serde_json::to_writer(&mut out, &member).expect("string serializes");
    out.extend_from_slice(b",\"topic\":");
    serde_json::to_writer(&mut out, &plan.topic).expect("string serializes");
    write!(
        out,
        ",\"lease_expires_at\":{lease_expires_at},\"records\":["
    )
    .expect("vec write");
    let mut first = true;
    for (c, urls) in cursors.iter().zip(&urls) {
        if c.records.is_empty() {
            continue;
        }
        let mut prefix = Vec::new();
        prefix.extend_from_slice(b"\"topic\":");
        serde_json::to_writer(&mut prefix, &plan.topic).expect("string serializes");
        write!(
            prefix,
            ",\"partition\":{},\"epoch\":{},",
            c.partition, c.epoch
        )
        .expect("vec write");
        let mut part = Vec::new();
        write_records_json(&mut part, &c.records, &prefix, urls);
        // Splice the partition's array items into the combined array.
        let inner = &part[1..part.len() - 1];
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(inner);
        first = false;
    }
    out.extend_from_slice(b"],\"partitions\":[");
    for (i, c) in cursors.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write!(
            out,
            "{{\"partition\":{},\"epoch\":{},\"position\":{},\"high_watermark\":{},\"log_start_offset\":{}}}",
            c.partition, c.epoch, c.next, c.high_watermark, c.log_start_offset
        )
        .expect("vec write");
    }
    out.extend_from_slice(b"]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}

/// One partition being read by a poll.
struct Cursor {
    partition: u32,
    epoch: u64,
    next: u64,
    high_watermark: u64,
    log_start_offset: u64,
    records: Vec<crate::storage::Record>,
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
    let caller = authorize_group(&broker, &headers, &group, Action::Consume)?;
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
    let member = req.member_id.clone();
    let group_name = group.clone();
    let outcome = broker
        .groups_blocking(move |g| g.commit(clock(), &group_name, &member, &offsets))
        .await??;
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
    let caller = authorize_group(&broker, &headers, &group, Action::Admin)?;
    caller.require(Action::Admin, &req.topic)?;
    let topic = broker
        .topics
        .get(&req.topic)
        .ok_or_else(|| ApiError::UnknownTopic {
            topic: req.topic.clone(),
        })?;
    let mut offsets: Vec<(u32, u64)> = Vec::new();
    match req.to {
        ResetTarget::Earliest | ResetTarget::Latest | ResetTarget::Timestamp(_) => {
            for p in topic.partitions() {
                let bounds = p.offsets();
                let offset = match &req.to {
                    ResetTarget::Earliest => bounds.log_start_offset,
                    ResetTarget::Latest => bounds.high_watermark,
                    ResetTarget::Timestamp(ts) => {
                        if *ts < 0 {
                            return Err(ApiError::bad_request(
                                "invalid_reset",
                                "timestamps are not negative",
                            ));
                        }
                        p.offset_for_timestamp(*ts)
                            .await?
                            .unwrap_or(bounds.high_watermark)
                    }
                    ResetTarget::Offsets(_) => unreachable!("matched above"),
                };
                offsets.push((p.id, offset));
            }
        }
        ResetTarget::Offsets(list) => {
            for po in list {
                let p =
                    topic
                        .partition(po.partition)
                        .ok_or_else(|| ApiError::UnknownPartition {
                            topic: topic.name.clone(),
                            partition: po.partition,
                        })?;
                let hw = p.offsets().high_watermark;
                if po.offset > hw {
                    return Err(ApiError::bad_request(
                        "invalid_reset",
                        format!(
                            "offset {} is beyond the high watermark {hw} of partition {}",
                            po.offset, po.partition
                        ),
                    ));
                }
                offsets.push((po.partition, po.offset));
            }
        }
    }
    let group_name = group.clone();
    let topic_name = topic.name.clone();
    broker
        .groups_blocking(move |g| g.reset_offsets(clock(), &group_name, &topic_name, &offsets))
        .await??;
    describe_inner(&broker, &group).map(Json)
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
        .groups()
        .list_groups(clock())
        .into_iter()
        .filter(|g| match &g.topic {
            Some(topic) => caller.may(Action::Consume, topic),
            None => g
                .committed_topics
                .iter()
                .all(|t| caller.may(Action::Consume, t)),
        })
        .map(|g| ApiGroupSummary {
            group: g.group,
            topic: g.topic,
            members: g.live_members,
        })
        .collect();
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
    authorize_existing(&broker, &headers, &group, Action::Consume)?;
    describe_inner(&broker, &group).map(Json)
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
    authorize_existing(&broker, &headers, &group, Action::Admin)?;
    let group_name = group.clone();
    let outcome = broker
        .groups_blocking(move |g| g.delete_group(clock(), &group_name))
        .await??;
    tracing::info!(group = %group, offsets_deleted = outcome.offsets_deleted, "group deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn describe_inner(broker: &Broker, group: &str) -> Result<ApiGroupDescription, ApiError> {
    let d = broker.groups().describe(clock(), group)?;
    let owners: HashMap<u32, (Option<String>, u64)> = d
        .partitions
        .iter()
        .map(|p| (p.partition, (p.owner.clone(), p.epoch)))
        .collect();
    let mut partitions = Vec::new();
    // Every partition of the current topic, plus committed offsets of other topics.
    if let Some(topic_name) = &d.topic
        && let Some(topic) = broker.topics.get(topic_name)
    {
        for p in topic.partitions() {
            let bounds = p.offsets();
            let committed = d
                .committed
                .iter()
                .find(|c| &c.topic == topic_name && c.partition == p.id)
                .map(|c| c.offset);
            let (owner, epoch) = owners.get(&p.id).cloned().unwrap_or((None, 0));
            partitions.push(GroupPartition {
                topic: topic_name.clone(),
                partition: p.id,
                owner,
                epoch: (epoch > 0).then_some(epoch),
                committed_offset: committed,
                high_watermark: bounds.high_watermark,
                lag: bounds
                    .high_watermark
                    .saturating_sub(committed.unwrap_or(bounds.log_start_offset)),
            });
        }
    }
    for c in &d.committed {
        if Some(&c.topic) == d.topic.as_ref() {
            continue;
        }
        let hw = broker
            .topics
            .get(&c.topic)
            .and_then(|t| t.partition(c.partition))
            .map_or(0, |p| p.offsets().high_watermark);
        partitions.push(GroupPartition {
            topic: c.topic.clone(),
            partition: c.partition,
            owner: None,
            epoch: None,
            committed_offset: Some(c.offset),
            high_watermark: hw,
            lag: hw.saturating_sub(c.offset),
        });
    }
    Ok(ApiGroupDescription {
        group: d.group,
        topic: d.topic,
        members: d
            .members
            .into_iter()
            .map(|m| GroupMember {
                partitions: m.assignments.iter().map(|a| a.partition).collect(),
                member_id: m.member_id,
                lease_expires_at: m.lease_expires_at_ms,
            })
            .collect(),
        partitions,
    })
}
