//! Configuration, requests, views and outcomes of the coordinator.

use serde::{Deserialize, Serialize};

/// Limits of the consumer-group coordinator (`[groups]` in the broker configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupLimits {
    /// Most groups the broker keeps (a group exists while it has a live member or a committed
    /// offset). A join or offset reset that would create one more is refused. Default 10 000.
    pub max_groups: usize,
    /// Most live members in one group; a join beyond it is refused. Default 256.
    pub max_members_per_group: usize,
    /// Shortest lease a member may ask for, in milliseconds. Default 1 000 (1 s).
    pub min_lease_ms: u64,
    /// Longest lease a member may ask for, in milliseconds. Default 900 000 (15 min, the longest a
    /// Lambda invocation can run).
    pub max_lease_ms: u64,
}

impl Default for GroupLimits {
    fn default() -> Self {
        GroupLimits {
            max_groups: 10_000,
            max_members_per_group: 256,
            min_lease_ms: 1_000,
            max_lease_ms: 900_000,
        }
    }
}

/// Where a member starts on a partition the group has no committed offset for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    /// The log start (oldest retained record).
    Earliest,
    /// The high watermark (only records produced from now on).
    Latest,
}

/// `POST /v1/groups/{group}/members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The topic the group consumes; must match the topic of the group's live members.
    pub topic: String,
    /// Re-join as this member (idempotent while it is live); generated when `None`.
    pub member_id: Option<String>,
    /// Lease length in milliseconds, within [`GroupLimits`].
    pub lease_ms: u64,
    pub auto_offset_reset: OffsetReset,
}

/// Where a member reads a partition from next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// This offset (the member's position, else the committed offset).
    Offset(u64),
    /// No committed offset and nothing read yet: the caller resolves the policy against the log
    /// (log start / high watermark) and reports the resolved offset back through `advance`.
    Reset(OffsetReset),
}

/// One partition owned by a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub partition: u32,
    /// Ownership epoch to send with commits of this partition.
    pub epoch: u64,
    pub committed_offset: Option<u64>,
    pub position: Position,
}

/// A live member and what it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub group: String,
    pub member_id: String,
    pub topic: String,
    pub lease_ms: u64,
    /// The lease lapses when the coordinator clock reaches this (same clock as `now_ms`).
    pub lease_expires_at_ms: u64,
    /// Sorted by partition.
    pub assignments: Vec<Assignment>,
}

/// What a poll should read: the member's partitions with epoch and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollPlan {
    pub topic: String,
    pub lease_expires_at_ms: u64,
    /// Sorted by partition.
    pub partitions: Vec<PollPosition>,
}

/// One partition of a [`PollPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPosition {
    pub partition: u32,
    pub epoch: u64,
    pub position: Position,
}

/// A position reported back after a poll read the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advance {
    pub partition: u32,
    /// The epoch the poll was planned with; the advance is dropped if ownership moved since.
    pub epoch: u64,
    /// The next offset to read (last returned offset + 1, or the resolved reset offset).
    pub next_offset: u64,
}

/// Outcome of [`Coordinator::advance`](super::Coordinator::advance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdvanceOutcome {
    pub applied: usize,
    /// Advances for partitions the member no longer owns at that epoch (or from a dead member).
    pub ignored: usize,
}

/// Outcome of [`Coordinator::leave`](super::Coordinator::leave).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveOutcome {
    /// Partitions the member owned; they went to the remaining live members at once.
    pub released: Vec<u32>,
}

/// One offset in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffset {
    pub topic: String,
    pub partition: u32,
    /// The next offset to consume (last processed offset + 1), as in Kafka.
    pub offset: u64,
    /// The epoch the member got with the partition.
    pub epoch: u64,
}

/// Outcome of an accepted commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    /// `(partition, offset)` as stored, sorted by partition.
    pub committed: Vec<(u32, u64)>,
    /// An accepted commit also renews the lease.
    pub lease_expires_at_ms: u64,
}

/// Outcome of [`Coordinator::reset_offsets`](super::Coordinator::reset_offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOutcome {
    /// `(partition, previous committed offset, new offset)`, sorted by partition.
    pub changes: Vec<(u32, Option<u64>, u64)>,
}

/// One member whose lease lapsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredMember {
    pub group: String,
    pub member_id: String,
    /// Partitions it owned; they went to the group's remaining live members.
    pub released: Vec<u32>,
}

/// Outcome of a lease sweep.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpireOutcome {
    pub expired: Vec<ExpiredMember>,
}

/// Outcome of [`Coordinator::delete_topic`](super::Coordinator::delete_topic).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteTopicOutcome {
    pub offsets_deleted: usize,
    /// Members that were consuming the topic; they were dropped (their commits are fenced).
    pub members_removed: usize,
}

/// Outcome of [`Coordinator::delete_group`](super::Coordinator::delete_group).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteGroupOutcome {
    pub offsets_deleted: usize,
}

/// What acting on a group requires: rights on the topic it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAccess {
    /// No such group: nothing to protect (a join or reset would create and bind it).
    Unknown,
    /// The group is bound to this topic.
    Bound(String),
    /// Offsets of these topics were stored before groups were bound: rights on all of them.
    Unbound(Vec<String>),
}

/// `GET /v1/groups` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub group: String,
    /// The topic the group is bound to.
    pub topic: Option<String>,
    pub live_members: usize,
    /// Topics with committed offsets, sorted.
    pub committed_topics: Vec<String>,
}

/// One partition of the group's current topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub partition: u32,
    pub owner: Option<String>,
    pub epoch: u64,
    pub committed_offset: Option<u64>,
    /// The owner's read position, if it has read (or resolved a reset) since it got the partition.
    pub position: Option<u64>,
}

/// A committed offset of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
}

/// `GET /v1/groups/{group}`: the caller adds high watermarks and lag from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group: String,
    pub topic: Option<String>,
    /// Live members sorted by id.
    pub members: Vec<MemberView>,
    /// Partitions of `topic` as last reported by the caller, sorted.
    pub partitions: Vec<PartitionView>,
    /// All committed offsets of the group, sorted by (topic, partition).
    pub committed: Vec<CommittedOffset>,
}
