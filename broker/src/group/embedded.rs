//! The embedded [`GroupBackend`]: the one [`Coordinator`] of this broker behind a mutex, given
//! the clock at every call. Calls are short and in memory, except those that write to the offset
//! store (a group's first join stores its binding; commits, resets and deletions), which fsync
//! and so run on the blocking pool.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    Advance, AdvanceOutcome, CommitOffset, CommitOutcome, Coordinator, DeleteGroupOutcome,
    DeleteTopicOutcome, ExpireOutcome, GroupAccess, GroupDescription, GroupSummary, JoinRequest,
    LeaveOutcome, MemberView, PollPlan, ResetOutcome,
};
use crate::service::backend::{BoxFuture, GroupBackend};
use crate::service::groups::GroupError;

/// A clock in ms since the Unix epoch.
pub type Clock = fn() -> u64;

/// The in-process coordinator as a [`GroupBackend`].
#[derive(Debug, Clone)]
pub struct EmbeddedGroups {
    coordinator: Arc<Mutex<Coordinator>>,
    clock: Clock,
}

impl EmbeddedGroups {
    pub fn new(coordinator: Coordinator, clock: Clock) -> Self {
        Self {
            coordinator: Arc::new(Mutex::new(coordinator)),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Coordinator> {
        self.coordinator.lock().expect("group coordinator lock")
    }

    /// Runs a call that is short and in memory under the lock, at once.
    fn now<'a, T: Send + 'a>(
        &self,
        f: impl FnOnce(&mut Coordinator, u64) -> Result<T, GroupError>,
    ) -> BoxFuture<'a, Result<T, GroupError>> {
        let result = f(&mut self.lock(), (self.clock)());
        Box::pin(std::future::ready(result))
    }

    /// Runs a call that writes to the offset store (an fsync) on the blocking pool.
    fn blocking<'a, T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Coordinator, u64) -> Result<T, GroupError> + Send + 'static,
    ) -> BoxFuture<'a, Result<T, GroupError>> {
        let this = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&mut this.lock(), (this.clock)()))
                .await
                .unwrap_or_else(|e| {
                    Err(GroupError::Task {
                        detail: e.to_string(),
                    })
                })
        })
    }
}

impl GroupBackend for EmbeddedGroups {
    fn join<'a>(
        &'a self,
        group: &'a str,
        request: JoinRequest,
        partitions: u32,
    ) -> BoxFuture<'a, Result<MemberView, GroupError>> {
        let group = group.to_owned();
        self.blocking(move |c, now| Ok(c.join(now, &group, request, partitions)?))
    }

    fn heartbeat<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        partitions: u32,
    ) -> BoxFuture<'a, Result<MemberView, GroupError>> {
        self.now(|c, now| Ok(c.heartbeat(now, group, member, partitions)?))
    }

    fn poll_positions<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        partitions: u32,
    ) -> BoxFuture<'a, Result<PollPlan, GroupError>> {
        self.now(|c, now| Ok(c.poll_positions(now, group, member, partitions)?))
    }

    fn advance<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        advances: &'a [Advance],
    ) -> BoxFuture<'a, Result<AdvanceOutcome, GroupError>> {
        self.now(|c, now| Ok(c.advance(now, group, member, advances)))
    }

    fn leave<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
    ) -> BoxFuture<'a, Result<LeaveOutcome, GroupError>> {
        self.now(|c, now| Ok(c.leave(now, group, member)?))
    }

    fn commit<'a>(
        &'a self,
        group: &'a str,
        member: &'a str,
        offsets: &'a [CommitOffset],
    ) -> BoxFuture<'a, Result<CommitOutcome, GroupError>> {
        let (group, member, offsets) = (group.to_owned(), member.to_owned(), offsets.to_vec());
        self.blocking(move |c, now| Ok(c.commit(now, &group, &member, &offsets)?))
    }

    fn reset_offsets<'a>(
        &'a self,
        group: &'a str,
        topic: &'a str,
        offsets: &'a [(u32, u64)],
    ) -> BoxFuture<'a, Result<ResetOutcome, GroupError>> {
        let (group, topic, offsets) = (group.to_owned(), topic.to_owned(), offsets.to_vec());
        self.blocking(move |c, now| Ok(c.reset_offsets(now, &group, &topic, &offsets)?))
    }

    fn list_groups(&self) -> BoxFuture<'_, Result<Vec<GroupSummary>, GroupError>> {
        self.now(|c, now| Ok(c.list_groups(now)))
    }

    fn describe<'a>(
        &'a self,
        group: &'a str,
    ) -> BoxFuture<'a, Result<GroupDescription, GroupError>> {
        self.now(|c, now| Ok(c.describe(now, group)?))
    }

    fn expire(&self) -> BoxFuture<'_, Result<ExpireOutcome, GroupError>> {
        self.now(|c, now| Ok(c.expire(now)))
    }

    fn delete_group<'a>(
        &'a self,
        group: &'a str,
    ) -> BoxFuture<'a, Result<DeleteGroupOutcome, GroupError>> {
        let group = group.to_owned();
        self.blocking(move |c, now| Ok(c.delete_group(now, &group)?))
    }

    fn delete_topic<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<DeleteTopicOutcome, GroupError>> {
        let topic = topic.to_owned();
        self.blocking(move |c, _| Ok(c.delete_topic(&topic)?))
    }

    fn access<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<GroupAccess, GroupError>> {
        self.now(|c, _| Ok(c.access(group)))
    }

    fn topic_of<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<Option<String>, GroupError>> {
        self.now(|c, _| Ok(c.topic_of(group).map(str::to_owned)))
    }

    fn topics(&self) -> BoxFuture<'_, Result<Vec<String>, GroupError>> {
        self.now(|c, _| Ok(c.topics()))
    }
}
