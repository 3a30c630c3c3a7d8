//! Consumer-group coordination, at the level of group operations.
//!
//! Every method is one transition of one group (or a read), so a shared store can make each a
//! single conditional update in one transaction: a join grants only partitions no live member
//! owns, a commit is accepted only while `(member, partition, epoch)` is still the owner's, and
//! two gateways can never both grant a partition or both accept a commit for one epoch. The
//! implementation keeps its own clock (leases are compared against it): the embedded
//! [`crate::group::EmbeddedGroups`] passes the wall clock to the [`crate::group::Coordinator`],
//! whose clock stays an input so its tests can simulate time.
//!
//! The service layer tells the backend the partition count of the group's topic (it owns the
//! topics); the binding of a group to its topic is the backend's ([`GroupBackend::topic_of`]).

use std::fmt::Debug;

use super::BoxFuture;
use crate::group::{
    Advance, AdvanceOutcome, CommitOffset, CommitOutcome, DeleteGroupOutcome, DeleteTopicOutcome,
    ExpireOutcome, GroupAccess, GroupDescription, GroupSummary, JoinRequest, LeaveOutcome,
    MemberView, PollPlan, ResetOutcome,
};
use crate::service::groups::GroupError;

/// Consumer groups: leases, assignment, fenced epochs, committed offsets, topic bindings.
pub trait GroupBackend: Send + Sync + Debug {
    /// Joins (or re-joins a live member of) `group`, binding a new group to the request's topic,
    /// which has `partitions` partitions.
    fn join<'a>(
        &'a self,
        group: &'a str,
        request: JoinRequest,
        partitions: u32,
    ) -> BoxFuture<'a, Result<MemberView, GroupError>>;

    /// Renews a member's lease (rebalancing if it holds too many) and answers its assignments.
    fn heartbeat<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        partitions: u32,
    ) -> BoxFuture<'a, Result<MemberView, GroupError>>;

    /// A heartbeat that also answers where the member reads each of its partitions from.
    fn poll_positions<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        partitions: u32,
    ) -> BoxFuture<'a, Result<PollPlan, GroupError>>;

    /// Records where a poll got to (ignored for partitions the member no longer owns at that
    /// epoch).
    fn advance<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        advances: &'a [Advance],
    ) -> BoxFuture<'a, Result<AdvanceOutcome, GroupError>>;

    /// The member leaves; its partitions go to the others at once.
    fn leave<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
    ) -> BoxFuture<'a, Result<LeaveOutcome, GroupError>>;

    /// Commits offsets, all or nothing, fenced by the epochs given (durable when it resolves).
    fn commit<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        offsets: &'a [CommitOffset],
    ) -> BoxFuture<'a, Result<CommitOutcome, GroupError>>;

    /// Sets `topic`'s committed offsets (refused while a member is live; may create the group).
    fn reset_offsets<'a>(
        &'a self,
        group: &'a str,
        topic: &'a str,
        offsets: &'a [(u32, u64)],
    ) -> BoxFuture<'a, Result<ResetOutcome, GroupError>>;

    /// Every group.
    fn list_groups(&self) -> BoxFuture<'_, Result<Vec<GroupSummary>, GroupError>>;

    /// One group's members, owners, epochs and committed offsets.
    fn describe<'a>(
        &'a self,
        group: &'a str,
    ) -> BoxFuture<'a, Result<GroupDescription, GroupError>>;

    /// Sweeps lapsed leases in every group.
    fn expire(&self) -> BoxFuture<'_, Result<ExpireOutcome, GroupError>>;

    /// Forgets a group, its binding and its offsets (refused while a member is live).
    fn delete_group<'a>(
        &'a self,
        group: &'a str,
    ) -> BoxFuture<'a, Result<DeleteGroupOutcome, GroupError>>;

    /// The topic was deleted: forgets its offsets, members and bindings in every group.
    fn delete_topic<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<DeleteTopicOutcome, GroupError>>;

    /// The topics whose rights a caller needs to act on `group`.
    fn access<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<GroupAccess, GroupError>>;

    /// The topic `group` is bound to, if any.
    fn topic_of<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<Option<String>, GroupError>>;

    /// Every topic a group is bound to or has offsets on.
    fn topics(&self) -> BoxFuture<'_, Result<Vec<String>, GroupError>>;
}
