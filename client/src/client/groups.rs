//! Consumer-group routes of [`Client`]: membership (join, heartbeat, leave), polls, commits,
//! descriptions and offset resets under `/v1/groups`.

use std::time::Duration;

use reqwest::Method;
use wharf_proto::api::{
    CommitRequest, CommitResponse, GroupDescription, GroupList, JoinGroup, MemberState,
    PollRequest, PollResponse, ResetOffsets,
};

use super::{Client, group_path, member_path};
use crate::error::Error;

impl Client {
    /// `POST /v1/groups/{group}/members`: join (or re-join as `member_id`).
    pub async fn join_group(&self, group: &str, request: &JoinGroup) -> Result<MemberState, Error> {
        let path = format!("{}/members", group_path(group)?);
        self.call_json(&format!("join group {group}"), Method::POST, &path, request)
            .await
    }

    /// `POST /v1/groups/{group}/members/{member}/heartbeat`: renews the lease.
    pub async fn heartbeat(&self, group: &str, member: &str) -> Result<MemberState, Error> {
        let path = format!("{}/heartbeat", member_path(group, member)?);
        self.call(
            &format!("heartbeat {group}/{member}"),
            self.request(Method::POST, &path),
            self.request_timeout,
        )
        .await
    }

    /// `POST /v1/groups/{group}/members/{member}/poll`. The timeout is the request timeout plus
    /// the wait.
    pub async fn poll(
        &self,
        group: &str,
        member: &str,
        request: &PollRequest,
    ) -> Result<PollResponse, Error> {
        let path = format!("{}/poll", member_path(group, member)?);
        let timeout = self.request_timeout + Duration::from_millis(request.wait_ms.unwrap_or(0));
        let rb = self.request(Method::POST, &path).json(request);
        self.call(&format!("poll {group}/{member}"), rb, timeout)
            .await
    }

    /// `POST /v1/groups/{group}/offsets`: commit (all or nothing; 409 `fenced`).
    pub async fn commit(
        &self,
        group: &str,
        request: &CommitRequest,
    ) -> Result<CommitResponse, Error> {
        let path = format!("{}/offsets", group_path(group)?);
        let op = format!("commit offsets of {group}");
        self.call_json(&op, Method::POST, &path, request).await
    }

    /// `DELETE /v1/groups/{group}/members/{member}`: releases the member's partitions at once.
    pub async fn leave_group(&self, group: &str, member: &str) -> Result<(), Error> {
        let op = format!("leave {group}/{member}");
        self.call_empty(&op, Method::DELETE, &member_path(group, member)?)
            .await
    }

    /// `GET /v1/groups`.
    pub async fn list_groups(&self) -> Result<GroupList, Error> {
        self.get("list groups", "/v1/groups").await
    }

    /// `GET /v1/groups/{group}`: members, owners, committed offsets and lag.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription, Error> {
        self.get(&format!("describe group {group}"), &group_path(group)?)
            .await
    }

    /// `PUT /v1/groups/{group}/offsets`: resets committed offsets while no member is live.
    /// Answers the group's description after the reset.
    pub async fn reset_offsets(
        &self,
        group: &str,
        request: &ResetOffsets,
    ) -> Result<GroupDescription, Error> {
        let path = format!("{}/offsets", group_path(group)?);
        let op = format!("reset offsets of {group}");
        self.call_json(&op, Method::PUT, &path, request).await
    }
}
