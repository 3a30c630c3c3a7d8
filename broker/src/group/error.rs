//! Errors of the coordinator, one enum per operation family. Every error leaves the coordinator
//! and the store unchanged.

use super::store::StoreError;

/// Opening the coordinator failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid group limits: {reason}")]
    InvalidLimits { reason: &'static str },
    #[error("epoch generation {generation} is beyond the supported {max_generation}")]
    EpochsExhausted {
        generation: u64,
        max_generation: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A join or reset named another topic than the one the group is bound to.
#[derive(Debug, thiserror::Error)]
#[error(
    "group {group:?} is bound to topic {group_topic:?}, not {requested:?} (an admin may delete the group)"
)]
pub struct BoundElsewhere {
    pub group: String,
    pub group_topic: String,
    pub requested: String,
}

/// A join was refused.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("invalid group name {group:?}: 1 to 200 characters of [A-Za-z0-9._-], not . or ..")]
    InvalidGroupName { group: String },
    #[error("invalid member id {member_id:?}: 1 to 255 characters of [A-Za-z0-9._-], not . or ..")]
    InvalidMemberId { member_id: String },
    #[error("topic name must not be empty")]
    EmptyTopic,
    #[error("lease_ms {lease_ms} is outside {min_lease_ms}..={max_lease_ms}")]
    LeaseOutOfRange {
        lease_ms: u64,
        min_lease_ms: u64,
        max_lease_ms: u64,
    },
    #[error(transparent)]
    TopicMismatch(#[from] BoundElsewhere),
    #[error("group {group:?} already has {max_members_per_group} live members")]
    TooManyMembers {
        group: String,
        max_members_per_group: usize,
    },
    #[error("the broker already has {max_groups} groups")]
    TooManyGroups { max_groups: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An operation on a member (heartbeat, poll, leave) found no such live member.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("unknown group {group:?}")]
    UnknownGroup { group: String },
    #[error("unknown member {member_id:?} in group {group:?} (lease lapsed or never joined)")]
    UnknownMember { group: String, member_id: String },
}

/// Why a commit was fenced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FenceReason {
    #[error("the member is not live in the group")]
    UnknownMember,
    #[error("the group consumes topic {group_topic:?}, not {topic:?}")]
    WrongTopic {
        group_topic: Option<String>,
        topic: String,
    },
    #[error("the partition is owned by {owner:?}")]
    NotOwner { owner: Option<String> },
    #[error("epoch {epoch} is not the current epoch {current_epoch}")]
    StaleEpoch { epoch: u64, current_epoch: u64 },
}

/// A commit was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The committer is not the current owner at the current epoch (a zombie or a lapsed lease).
    #[error(
        "fenced: commit of member {member_id:?} in group {group:?} (partition {partition:?}): {reason}"
    )]
    Fenced {
        group: String,
        member_id: String,
        /// `None` when the member itself is unknown.
        partition: Option<u32>,
        reason: FenceReason,
    },
    #[error("partition {partition} appears twice in one commit")]
    DuplicatePartition { partition: u32 },
    #[error("a commit needs at least one offset")]
    NoOffsets,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An offset reset was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error(
        "group {group:?} has {live_members} live members; offsets can be reset only when none is live"
    )]
    MembersLive { group: String, live_members: usize },
    #[error("invalid group name {group:?}: 1 to 200 characters of [A-Za-z0-9._-], not . or ..")]
    InvalidGroupName { group: String },
    #[error("topic name must not be empty")]
    EmptyTopic,
    #[error("partition {partition} appears twice in one reset")]
    DuplicatePartition { partition: u32 },
    #[error("a reset needs at least one offset")]
    NoOffsets,
    #[error("the broker already has {max_groups} groups")]
    TooManyGroups { max_groups: usize },
    #[error(transparent)]
    TopicMismatch(#[from] BoundElsewhere),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `GET /v1/groups/{group}` of a group the broker does not know.
#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    #[error("unknown group {group:?}")]
    UnknownGroup { group: String },
}

/// Deleting a group was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum DeleteGroupError {
    #[error("unknown group {group:?}")]
    UnknownGroup { group: String },
    #[error("group {group:?} has {live_members} live members")]
    MembersLive { group: String, live_members: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}
