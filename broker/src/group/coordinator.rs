//! The coordinator of all groups: leases, fair assignment, fenced commits, offset resets.

use std::collections::{BTreeMap, BTreeSet};

use super::error::{
    BoundElsewhere, CommitError, DeleteGroupError, DescribeError, FenceReason, JoinError,
    MemberError, OpenError, ResetError,
};
use super::state::{EpochClock, Group, MAX_GENERATION, Member};
use super::store::{OffsetStore, StoreError};
use super::types::{
    Advance, AdvanceOutcome, CommitOffset, CommitOutcome, CommittedOffset, DeleteGroupOutcome,
    DeleteTopicOutcome, ExpireOutcome, ExpiredMember, GroupAccess, GroupDescription, GroupLimits,
    GroupSummary, JoinRequest, LeaveOutcome, MemberView, PollPlan, PollPosition, ResetOutcome,
};

/// Shorter than a topic name's 249 so that a generated member id, `<group>-<16 hex>`, stays a
/// valid member id.
const MAX_GROUP_NAME_CHARS: usize = 200;
const MAX_MEMBER_ID_CHARS: usize = 255;

/// Topic name rules: `[A-Za-z0-9._-]`, and not `.` or `..`, which a path would resolve.
fn valid_name(name: &str, max_chars: usize) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= max_chars
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// All consumer groups of the broker. Synchronous and clock-injected: every call takes `now_ms`
/// (the caller's clock; a value smaller than one seen before is treated as the latest seen, so
/// leases never run backwards) and first sweeps the lapsed leases of the group it touches.
#[derive(Debug)]
pub struct Coordinator {
    pub(super) store: Box<dyn OffsetStore>,
    pub(super) limits: GroupLimits,
    pub(super) groups: BTreeMap<String, Group>,
    pub(super) epochs: EpochClock,
    pub(super) clock_ms: u64,
}

impl Coordinator {
    /// Loads the committed offsets and starts a new epoch generation (one fsynced write).
    pub fn open(mut store: Box<dyn OffsetStore>, limits: GroupLimits) -> Result<Self, OpenError> {
        let invalid = |reason| Err(OpenError::InvalidLimits { reason });
        if limits.max_groups == 0 {
            return invalid("max_groups must be at least 1");
        }
        if limits.max_members_per_group == 0 {
            return invalid("max_members_per_group must be at least 1");
        }
        if limits.min_lease_ms == 0 {
            return invalid("min_lease_ms must be at least 1");
        }
        if limits.min_lease_ms > limits.max_lease_ms {
            return invalid("min_lease_ms must not exceed max_lease_ms");
        }
        let stored = store.load()?;
        let bindings = store.load_bindings()?;
        let generation = store.next_generation()?;
        if generation > MAX_GENERATION {
            return Err(OpenError::EpochsExhausted {
                generation,
                max_generation: MAX_GENERATION,
            });
        }
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        let offsets = stored.len();
        for offset in stored {
            groups
                .entry(offset.group)
                .or_default()
                .committed
                .entry(offset.topic)
                .or_default()
                .insert(offset.partition, offset.offset);
        }
        for binding in bindings {
            groups.entry(binding.group).or_default().topic = Some(binding.topic);
        }
        // Offsets stored before groups were bound (older data directories): a group that
        // committed on one topic only is bound to it now; one with offsets on several topics
        // stays unbound, and the API then demands rights on every one of them.
        for (name, g) in &mut groups {
            if g.topic.is_none() && g.committed.len() == 1 {
                let topic = g.committed.keys().next().expect("one topic").clone();
                store.bind(name, &topic)?;
                g.topic = Some(topic);
            }
        }
        tracing::info!(
            groups = groups.len(),
            offsets,
            generation,
            "group coordinator opened"
        );
        Ok(Coordinator {
            store,
            limits,
            groups,
            epochs: EpochClock::new(generation),
            clock_ms: 0,
        })
    }

    pub fn limits(&self) -> &GroupLimits {
        &self.limits
    }

    /// The topic the group is bound to, so the caller can look up its partition count before a
    /// heartbeat or poll.
    pub fn topic_of(&self, group: &str) -> Option<&str> {
        self.groups.get(group)?.topic.as_deref()
    }

    /// Every topic a group is bound to or has committed offsets on, sorted.
    pub fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self
            .groups
            .values()
            .flat_map(|g| g.topic.iter().chain(g.committed.keys()))
            .cloned()
            .collect();
        topics.sort_unstable();
        topics.dedup();
        topics
    }

    /// The topics whose rights a caller needs to act on `group`: what the authorisation of every
    /// group route is checked against.
    pub fn access(&self, group: &str) -> GroupAccess {
        match self.groups.get(group) {
            None => GroupAccess::Unknown,
            Some(g) => match &g.topic {
                Some(topic) => GroupAccess::Bound(topic.clone()),
                None => GroupAccess::Unbound(g.committed.keys().cloned().collect()),
            },
        }
    }

    fn tick(&mut self, now_ms: u64) -> u64 {
        self.clock_ms = self.clock_ms.max(now_ms);
        self.clock_ms
    }

    /// Removes the lapsed members of one group (their partitions move to the live ones) and
    /// forgets the group if nothing is left of it.
    fn sweep_group(&mut self, now_ms: u64, name: &str) -> Vec<ExpiredMember> {
        let Some(group) = self.groups.get_mut(name) else {
            return Vec::new();
        };
        let expired = group.sweep(now_ms, &mut self.epochs);
        debug_assert!(group.invariants_hold());
        if group.is_empty() {
            self.groups.remove(name);
        }
        expired
            .into_iter()
            .map(|(member_id, released)| {
                tracing::info!(group = name, member_id, ?released, "member lease lapsed");
                ExpiredMember {
                    group: name.to_owned(),
                    member_id,
                    released,
                }
            })
            .collect()
    }

    fn sweep_all(&mut self, now_ms: u64) -> Vec<ExpiredMember> {
        let names: Vec<String> = self.groups.keys().cloned().collect();
        names
            .iter()
            .flat_map(|name| self.sweep_group(now_ms, name))
            .collect()
    }

    /// `POST /v1/groups/{group}/members`. A join naming a live member re-joins it (renews the lease,
    /// keeps its partitions and epochs). `partitions` is the topic's partition count.
    pub fn join(
        &mut self,
        now_ms: u64,
        group: &str,
        req: JoinRequest,
        partitions: u32,
    ) -> Result<MemberView, JoinError> {
        let now = self.tick(now_ms);
        if !valid_name(group, MAX_GROUP_NAME_CHARS) {
            return Err(JoinError::InvalidGroupName {
                group: group.to_owned(),
            });
        }
        if let Some(id) = &req.member_id
            && !valid_name(id, MAX_MEMBER_ID_CHARS)
        {
            return Err(JoinError::InvalidMemberId {
                member_id: id.clone(),
            });
        }
        if req.topic.is_empty() {
            return Err(JoinError::EmptyTopic);
        }
        let (min_lease_ms, max_lease_ms) = (self.limits.min_lease_ms, self.limits.max_lease_ms);
        if !(min_lease_ms..=max_lease_ms).contains(&req.lease_ms) {
            return Err(JoinError::LeaseOutOfRange {
                lease_ms: req.lease_ms,
                min_lease_ms,
                max_lease_ms,
            });
        }
        self.sweep_group(now, group);

        // Validate everything before changing anything.
        let rejoin = req.member_id.as_ref().is_some_and(|id| {
            self.groups
                .get(group)
                .is_some_and(|g| g.members.contains_key(id))
        });
        if let Some(g) = self.groups.get(group) {
            if let Some(bound) = &g.topic
                && *bound != req.topic
            {
                return Err(JoinError::TopicMismatch(BoundElsewhere {
                    group: group.to_owned(),
                    group_topic: bound.clone(),
                    requested: req.topic,
                }));
            }
            if !rejoin && g.members.len() >= self.limits.max_members_per_group {
                return Err(JoinError::TooManyMembers {
                    group: group.to_owned(),
                    max_members_per_group: self.limits.max_members_per_group,
                });
            }
        } else if self.groups.len() >= self.limits.max_groups {
            return Err(JoinError::TooManyGroups {
                max_groups: self.limits.max_groups,
            });
        }

        let unbound = self.groups.get(group).is_none_or(|g| g.topic.is_none());
        if unbound {
            // Durable first: the binding is what every later call is authorised against.
            self.store.bind(group, &req.topic)?;
        }
        let g = self.groups.entry(group.to_owned()).or_default();
        if unbound {
            g.bind(&req.topic);
        }
        debug_assert_eq!(g.topic.as_deref(), Some(req.topic.as_str()));
        let lease_expires_at_ms = now.saturating_add(req.lease_ms);
        let member_id = match req.member_id {
            Some(id) if rejoin => {
                // Idempotent re-join: same member, same partitions, same epochs.
                if let Some(m) = g.members.get_mut(&id) {
                    m.lease_ms = req.lease_ms;
                    m.lease_expires_at_ms = lease_expires_at_ms;
                    m.auto_offset_reset = req.auto_offset_reset;
                }
                g.resize(partitions, &mut self.epochs);
                g.shed_surplus(&id, &mut self.epochs);
                id
            }
            requested => {
                let id = requested.unwrap_or_else(|| {
                    loop {
                        let hex = uuid::Uuid::new_v4().simple().to_string();
                        let id = format!("{group}-{}", &hex[..16]);
                        if !g.members.contains_key(&id) {
                            break id;
                        }
                    }
                });
                g.resize(partitions, &mut self.epochs);
                let member = Member {
                    lease_ms: req.lease_ms,
                    lease_expires_at_ms,
                    auto_offset_reset: req.auto_offset_reset,
                    owned: BTreeSet::new(),
                };
                g.add_member(id.clone(), member, &mut self.epochs);
                tracing::info!(group, member_id = id, topic = req.topic, "member joined");
                id
            }
        };
        debug_assert!(g.invariants_hold());
        Ok(g.member_view(group, &member_id)
            .expect("the member was inserted above"))
    }

    /// Sweeps, finds the live member, renews its lease, follows the partition count and lets the
    /// member give up its surplus partitions.
    fn touch(
        &mut self,
        now_ms: u64,
        group: &str,
        member: &str,
        partitions: u32,
    ) -> Result<&mut Group, MemberError> {
        let now = self.tick(now_ms);
        self.sweep_group(now, group);
        let g = self
            .groups
            .get_mut(group)
            .ok_or_else(|| MemberError::UnknownGroup {
                group: group.to_owned(),
            })?;
        let m = g
            .members
            .get_mut(member)
            .ok_or_else(|| MemberError::UnknownMember {
                group: group.to_owned(),
                member_id: member.to_owned(),
            })?;
        m.lease_expires_at_ms = now.saturating_add(m.lease_ms);
        g.resize(partitions, &mut self.epochs);
        g.shed_surplus(member, &mut self.epochs);
        debug_assert!(g.invariants_hold());
        Ok(g)
    }

    /// `POST .../members/{member}/heartbeat`: renews the lease and returns the current assignments
    /// (this is where surplus partitions move away and new partitions of the topic appear).
    pub fn heartbeat(
        &mut self,
        now_ms: u64,
        group: &str,
        member: &str,
        partitions: u32,
    ) -> Result<MemberView, MemberError> {
        let g = self.touch(now_ms, group, member, partitions)?;
        Ok(g.member_view(group, member)
            .expect("touch found the member"))
    }

    /// First half of `POST .../members/{member}/poll`: renews the lease like a heartbeat and says
    /// where to read each owned partition from. The caller reads the log (waiting up to `wait_ms`
    /// without holding the coordinator), then reports through [`Coordinator::advance`].
    pub fn poll_positions(
        &mut self,
        now_ms: u64,
        group: &str,
        member: &str,
        partitions: u32,
    ) -> Result<PollPlan, MemberError> {
        let g = self.touch(now_ms, group, member, partitions)?;
        let view = g
            .member_view(group, member)
            .expect("touch found the member");
        Ok(PollPlan {
            topic: view.topic,
            lease_expires_at_ms: view.lease_expires_at_ms,
            partitions: view
                .assignments
                .into_iter()
                .map(|a| PollPosition {
                    partition: a.partition,
                    epoch: a.epoch,
                    position: a.position,
                })
                .collect(),
        })
    }

    /// Second half of a poll: records where the member got to. Advances for partitions it no
    /// longer owns at that epoch are ignored; a live member's lease is renewed.
    pub fn advance(
        &mut self,
        now_ms: u64,
        group: &str,
        member: &str,
        advances: &[Advance],
    ) -> AdvanceOutcome {
        let now = self.tick(now_ms);
        self.sweep_group(now, group);
        let mut outcome = AdvanceOutcome::default();
        let Some(g) = self.groups.get_mut(group) else {
            outcome.ignored = advances.len();
            return outcome;
        };
        let Some(m) = g.members.get_mut(member) else {
            outcome.ignored = advances.len();
            return outcome;
        };
        m.lease_expires_at_ms = now.saturating_add(m.lease_ms);
        for a in advances {
            if g.advance(member, a.partition, a.epoch, a.next_offset) {
                outcome.applied += 1;
            } else {
                outcome.ignored += 1;
            }
        }
        outcome
    }

    /// `DELETE /v1/groups/{group}/members/{member}`: releases the member's partitions at once.
    pub fn leave(
        &mut self,
        now_ms: u64,
        group: &str,
        member: &str,
    ) -> Result<LeaveOutcome, MemberError> {
        let now = self.tick(now_ms);
        self.sweep_group(now, group);
        let g = self
            .groups
            .get_mut(group)
            .ok_or_else(|| MemberError::UnknownGroup {
                group: group.to_owned(),
            })?;
        if !g.members.contains_key(member) {
            return Err(MemberError::UnknownMember {
                group: group.to_owned(),
                member_id: member.to_owned(),
            });
        }
        let released = g
            .remove_members(&[member.to_owned()], &mut self.epochs)
            .pop()
            .map(|(_, released)| released)
            .unwrap_or_default();
        debug_assert!(g.invariants_hold());
        if g.is_empty() {
            self.groups.remove(group);
        }
        tracing::info!(group, member_id = member, ?released, "member left");
        Ok(LeaveOutcome { released })
    }

    /// `POST /v1/groups/{group}/offsets`: all offsets are accepted (and fsynced) or none. Only the
    /// live owner of every partition, at its current epoch, may commit; anything else is
    /// [`CommitError::Fenced`]. An accepted commit renews the lease.
    pub fn commit(
        &mut self,
        now_ms: u64,
        group: &str,
        member: &str,
        offsets: &[CommitOffset],
    ) -> Result<CommitOutcome, CommitError> {
        let now = self.tick(now_ms);
        if offsets.is_empty() {
            return Err(CommitError::NoOffsets);
        }
        let mut seen = BTreeSet::new();
        for o in offsets {
            if !seen.insert(o.partition) {
                return Err(CommitError::DuplicatePartition {
                    partition: o.partition,
                });
            }
        }
        self.sweep_group(now, group);
        let fenced = |partition, reason| CommitError::Fenced {
            group: group.to_owned(),
            member_id: member.to_owned(),
            partition,
            reason,
        };
        let Some(g) = self.groups.get_mut(group) else {
            return Err(fenced(None, FenceReason::UnknownMember));
        };
        if !g.members.contains_key(member) {
            return Err(fenced(None, FenceReason::UnknownMember));
        }
        for o in offsets {
            if g.topic.as_deref() != Some(o.topic.as_str()) {
                return Err(fenced(
                    Some(o.partition),
                    FenceReason::WrongTopic {
                        group_topic: g.topic.clone(),
                        topic: o.topic.clone(),
                    },
                ));
            }
            match g.owner_of(o.partition) {
                Some((owner, epoch)) if owner == member => {
                    if epoch != o.epoch {
                        return Err(fenced(
                            Some(o.partition),
                            FenceReason::StaleEpoch {
                                epoch: o.epoch,
                                current_epoch: epoch,
                            },
                        ));
                    }
                }
                other => {
                    return Err(fenced(
                        Some(o.partition),
                        FenceReason::NotOwner {
                            owner: other.map(|(owner, _)| owner.to_owned()),
                        },
                    ));
                }
            }
        }
        let topic = g.topic.clone().unwrap_or_default();
        let mut committed: Vec<(u32, u64)> =
            offsets.iter().map(|o| (o.partition, o.offset)).collect();
        committed.sort_unstable();
        // Durable first: memory changes only once the store has fsynced.
        self.store.store(group, &topic, &committed)?;
        g.committed
            .entry(topic)
            .or_default()
            .extend(committed.iter().copied());
        let m = g
            .members
            .get_mut(member)
            .expect("the member was checked above");
        m.lease_expires_at_ms = now.saturating_add(m.lease_ms);
        Ok(CommitOutcome {
            committed,
            lease_expires_at_ms: m.lease_expires_at_ms,
        })
    }

    /// `PUT /v1/groups/{group}/offsets`: sets committed offsets of `topic` (the caller resolves
    /// earliest / latest / timestamp into explicit offsets). Refused while any member is live.
    /// Creates the group if it does not exist (to prepare a group before its first consumer).
    pub fn reset_offsets(
        &mut self,
        now_ms: u64,
        group: &str,
        topic: &str,
        offsets: &[(u32, u64)],
    ) -> Result<ResetOutcome, ResetError> {
        let now = self.tick(now_ms);
        if !valid_name(group, MAX_GROUP_NAME_CHARS) {
            return Err(ResetError::InvalidGroupName {
                group: group.to_owned(),
            });
        }
        if topic.is_empty() {
            return Err(ResetError::EmptyTopic);
        }
        if offsets.is_empty() {
            return Err(ResetError::NoOffsets);
        }
        let mut sorted = offsets.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ResetError::DuplicatePartition { partition: w[0].0 });
        }
        self.sweep_group(now, group);
        if let Some(bound) = self.groups.get(group).and_then(|g| g.topic.as_deref())
            && bound != topic
        {
            return Err(ResetError::TopicMismatch(BoundElsewhere {
                group: group.to_owned(),
                group_topic: bound.to_owned(),
                requested: topic.to_owned(),
            }));
        }
        match self.groups.get(group) {
            Some(g) if !g.members.is_empty() => {
                return Err(ResetError::MembersLive {
                    group: group.to_owned(),
                    live_members: g.members.len(),
                });
            }
            Some(_) => {}
            None if self.groups.len() >= self.limits.max_groups => {
                return Err(ResetError::TooManyGroups {
                    max_groups: self.limits.max_groups,
                });
            }
            None => {}
        }
        self.store.store(group, topic, &sorted)?;
        let g = self.groups.entry(group.to_owned()).or_default();
        if g.topic.is_none() {
            g.bind(topic);
        }
        let committed = g.committed.entry(topic.to_owned()).or_default();
        let changes = sorted
            .iter()
            .map(|&(partition, offset)| (partition, committed.insert(partition, offset), offset))
            .collect();
        tracing::info!(group, topic, ?changes, "offsets reset");
        Ok(ResetOutcome { changes })
    }

    /// `GET /v1/groups`, sorted by group name.
    pub fn list_groups(&mut self, now_ms: u64) -> Vec<GroupSummary> {
        let now = self.tick(now_ms);
        self.sweep_all(now);
        self.groups
            .iter()
            .map(|(name, g)| GroupSummary {
                group: name.clone(),
                topic: g.topic.clone(),
                live_members: g.members.len(),
                committed_topics: g.committed.keys().cloned().collect(),
            })
            .collect()
    }

    /// `GET /v1/groups/{group}`; the caller adds high watermarks and lag per partition.
    pub fn describe(
        &mut self,
        now_ms: u64,
        group: &str,
    ) -> Result<GroupDescription, DescribeError> {
        let now = self.tick(now_ms);
        self.sweep_group(now, group);
        let g = self
            .groups
            .get(group)
            .ok_or_else(|| DescribeError::UnknownGroup {
                group: group.to_owned(),
            })?;
        Ok(GroupDescription {
            group: group.to_owned(),
            topic: g.topic.clone(),
            members: g
                .members
                .keys()
                .filter_map(|id| g.member_view(group, id))
                .collect(),
            partitions: g.partition_views(),
            committed: g
                .committed
                .iter()
                .flat_map(|(topic, offsets)| {
                    offsets.iter().map(|(&partition, &offset)| CommittedOffset {
                        topic: topic.clone(),
                        partition,
                        offset,
                    })
                })
                .collect(),
        })
    }

    /// Sweeps lapsed leases of all groups (every call also sweeps the group it touches, so this
    /// only makes `GET` views and metrics prompt; run it every second or so).
    pub fn expire(&mut self, now_ms: u64) -> ExpireOutcome {
        let now = self.tick(now_ms);
        ExpireOutcome {
            expired: self.sweep_all(now),
        }
    }

    /// The topic was deleted: forgets every group's offsets on it, drops the members consuming it
    /// (their next heartbeat is a 404 and their commits are fenced) and unbinds the groups bound
    /// to it, which are then forgotten.
    pub fn delete_topic(&mut self, topic: &str) -> Result<DeleteTopicOutcome, StoreError> {
        let offsets_deleted = self.store.delete_topic(topic)?;
        let mut members_removed = 0;
        self.groups.retain(|_, g| {
            g.committed.remove(topic);
            if g.topic.as_deref() == Some(topic) {
                members_removed += g.drop_topic();
            }
            !g.is_empty()
        });
        tracing::info!(
            topic,
            offsets_deleted,
            members_removed,
            "topic forgotten by groups"
        );
        Ok(DeleteTopicOutcome {
            offsets_deleted,
            members_removed,
        })
    }

    /// `DELETE /v1/groups/{group}`: forgets a group, its binding and its committed offsets, so the
    /// name is free for any topic again; refused while a member is live.
    pub fn delete_group(
        &mut self,
        now_ms: u64,
        group: &str,
    ) -> Result<DeleteGroupOutcome, DeleteGroupError> {
        let now = self.tick(now_ms);
        self.sweep_group(now, group);
        let g = self
            .groups
            .get(group)
            .ok_or_else(|| DeleteGroupError::UnknownGroup {
                group: group.to_owned(),
            })?;
        if !g.members.is_empty() {
            return Err(DeleteGroupError::MembersLive {
                group: group.to_owned(),
                live_members: g.members.len(),
            });
        }
        let offsets_deleted = self.store.delete_group(group)?;
        self.groups.remove(group);
        Ok(DeleteGroupOutcome { offsets_deleted })
    }
}
