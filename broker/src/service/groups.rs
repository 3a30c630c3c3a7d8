//! Consumer groups, without HTTP: the broker's
//! [`GroupBackend`](crate::service::backend::GroupBackend), given the topics' partition counts,
//! with `earliest` / `latest` / timestamps resolved against the log and high watermarks and lag
//! added to its views.

use std::collections::HashMap;
use std::sync::Arc;

use wharf_proto::api::{
    GroupAssignment, GroupDescription, GroupMember, GroupPartition, GroupSummary, MemberState,
};

use crate::group::{
    CommitError, CommitOffset, CommitOutcome, DeleteGroupError, DeleteGroupOutcome, DescribeError,
    GroupAccess, JoinError, JoinRequest, MemberError, MemberView, Position, ResetError, StoreError,
};
use crate::metrics::GroupLabels;
use crate::state::{Broker, now_ms};
use crate::storage::StorageError;

/// Lease a join gets when it names none.
pub const DEFAULT_LEASE_MS: u64 = 30_000;

/// The coordinator's clock: the wall clock in ms.
pub fn clock() -> u64 {
    u64::try_from(now_ms()).unwrap_or(0)
}

/// A group operation was refused or failed; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error(transparent)]
    Join(#[from] JoinError),
    #[error(transparent)]
    Member(#[from] MemberError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(transparent)]
    Reset(#[from] ResetError),
    #[error(transparent)]
    Describe(#[from] DescribeError),
    #[error(transparent)]
    Delete(#[from] DeleteGroupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown topic {topic}")]
    UnknownTopic { topic: String },
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition { topic: String, partition: u32 },
    #[error("{message}")]
    InvalidReset { message: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("group task failed: {detail}")]
    Task { detail: String },
}

/// Where an offset reset moves a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    Latest,
    /// The first offset at or after this time, per partition (the high watermark where none).
    Timestamp(i64),
    /// These `(partition, offset)`s.
    Offsets(Vec<(u32, u64)>),
}

impl Broker {
    /// Partition count of the topic a group is bound to (0 if the topic is gone).
    pub(crate) async fn group_partitions(&self, group: &str) -> Result<u32, GroupError> {
        let topic = self.groups.topic_of(group).await?;
        Ok(topic
            .as_deref()
            .and_then(|t| self.topics.get(t))
            .map_or(0, |t| t.partition_count()))
    }

    /// The topics whose rights a caller needs to act on `group` (what every group route is
    /// authorised against).
    pub async fn group_access(&self, group: &str) -> Result<GroupAccess, GroupError> {
        self.groups.access(group).await
    }

    /// Joins `group` (binding it to the request's topic if it is new).
    pub async fn join_group(
        self: &Arc<Self>,
        group: &str,
        request: JoinRequest,
    ) -> Result<MemberState, GroupError> {
        let topic = self
            .topics
            .get(&request.topic)
            .ok_or_else(|| GroupError::UnknownTopic {
                topic: request.topic.clone(),
            })?;
        let partitions = topic.partition_count();
        let view = self.groups.join(group, request, partitions).await?;
        tracing::debug!(group, member = %view.member_id, partitions = view.assignments.len(), "member joined");
        Ok(member_state(view))
    }

    /// Renews a member's lease; answers its current assignments.
    pub async fn heartbeat(&self, group: &str, member: &str) -> Result<MemberState, GroupError> {
        let partitions = self.group_partitions(group).await?;
        let view = self.groups.heartbeat(group, member, partitions).await?;
        Ok(member_state(view))
    }

    /// The member leaves; its partitions are released at once.
    pub async fn leave_group(&self, group: &str, member: &str) -> Result<(), GroupError> {
        self.groups.leave(group, member).await?;
        Ok(())
    }

    /// Commits offsets for `member`, all or nothing (fsynced before this returns).
    pub async fn commit_offsets(
        self: &Arc<Self>,
        group: &str,
        member: &str,
        offsets: Vec<CommitOffset>,
    ) -> Result<CommitOutcome, GroupError> {
        self.groups.commit(group, member, &offsets).await
    }

    /// Sets the committed offsets of `topic` in `group` (refused while a member is live) and
    /// describes the group afterwards.
    pub async fn reset_offsets(
        self: &Arc<Self>,
        group: &str,
        topic_name: &str,
        to: ResetTo,
    ) -> Result<GroupDescription, GroupError> {
        let topic = self
            .topics
            .get(topic_name)
            .ok_or_else(|| GroupError::UnknownTopic {
                topic: topic_name.to_owned(),
            })?;
        let mut offsets: Vec<(u32, u64)> = Vec::new();
        if let ResetTo::Offsets(list) = &to {
            for &(partition, offset) in list {
                let p = topic
                    .partition(partition)
                    .ok_or_else(|| GroupError::UnknownPartition {
                        topic: topic.name.clone(),
                        partition,
                    })?;
                let hw = p.offsets().high_watermark;
                if offset > hw {
                    return Err(GroupError::InvalidReset {
                        message: format!(
                            "offset {offset} is beyond the high watermark {hw} of partition {partition}"
                        ),
                    });
                }
                offsets.push((partition, offset));
            }
        } else {
            for p in topic.partitions() {
                let bounds = p.offsets();
                let offset = match &to {
                    ResetTo::Earliest => bounds.log_start_offset,
                    ResetTo::Latest => bounds.high_watermark,
                    ResetTo::Timestamp(ts) if *ts < 0 => {
                        return Err(GroupError::InvalidReset {
                            message: "timestamps are not negative".into(),
                        });
                    }
                    ResetTo::Timestamp(ts) => p
                        .offset_for_timestamp(*ts)
                        .await?
                        .unwrap_or(bounds.high_watermark),
                    ResetTo::Offsets(_) => unreachable!("handled above"),
                };
                offsets.push((p.id(), offset));
            }
        }
        self.groups
            .reset_offsets(group, &topic.name, &offsets)
            .await?;
        self.describe_group(group).await
    }

    /// Forgets a group, its binding and its offsets (refused while a member is live).
    pub async fn delete_group(
        self: &Arc<Self>,
        group: &str,
    ) -> Result<DeleteGroupOutcome, GroupError> {
        let outcome = self.groups.delete_group(group).await?;
        tracing::info!(
            group,
            offsets_deleted = outcome.offsets_deleted,
            "group deleted"
        );
        Ok(outcome)
    }

    /// Every group whose topic `visible` accepts (for an unbound group from older data: all of
    /// the topics it has offsets on).
    pub async fn list_groups(
        &self,
        visible: impl Fn(&str) -> bool,
    ) -> Result<Vec<GroupSummary>, GroupError> {
        Ok(self
            .groups
            .list_groups()
            .await?
            .into_iter()
            .filter(|g| match &g.topic {
                Some(topic) => visible(topic),
                None => g.committed_topics.iter().all(|t| visible(t)),
            })
            .map(|g| GroupSummary {
                group: g.group,
                topic: g.topic,
                members: g.live_members,
            })
            .collect())
    }

    /// A group's members and, per partition, owner, epoch, committed offset, high watermark and
    /// lag (plus committed offsets of other topics from older data).
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription, GroupError> {
        let d = self.groups.describe(group).await?;
        let owners: HashMap<u32, (Option<String>, u64)> = d
            .partitions
            .iter()
            .map(|p| (p.partition, (p.owner.clone(), p.epoch)))
            .collect();
        let mut partitions = Vec::new();
        if let Some(topic_name) = &d.topic
            && let Some(topic) = self.topics.get(topic_name)
        {
            for p in topic.partitions() {
                let bounds = p.offsets();
                let committed = d
                    .committed
                    .iter()
                    .find(|c| &c.topic == topic_name && c.partition == p.id())
                    .map(|c| c.offset);
                let (owner, epoch) = owners.get(&p.id()).cloned().unwrap_or((None, 0));
                partitions.push(GroupPartition {
                    topic: topic_name.clone(),
                    partition: p.id(),
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
            let hw = self
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
        Ok(GroupDescription {
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

    /// Forgets the offsets, members and bindings of a deleted topic.
    pub async fn forget_topic_in_groups(self: &Arc<Self>, topic: &str) -> Result<(), GroupError> {
        self.groups.delete_topic(topic).await?;
        Ok(())
    }

    /// Sweeps lapsed leases.
    pub async fn expire_leases(&self) {
        let outcome = match self.groups.expire().await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(error = %e, "lease expiry failed");
                return;
            }
        };
        for m in outcome.expired {
            tracing::info!(group = %m.group, member = %m.member_id, released = ?m.released, "member lease lapsed");
        }
    }

    /// Refreshes the per-partition lag gauges of every group (called at scrape time).
    pub async fn refresh_group_metrics(&self) {
        self.metrics.group_lag.clear();
        let Ok(summaries) = self.groups.list_groups().await else {
            return;
        };
        for summary in summaries {
            let Ok(description) = self.groups.describe(&summary.group).await else {
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
