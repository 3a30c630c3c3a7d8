//! In-memory state of one group and the fair-share assignment rules.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::types::{Assignment, MemberView, OffsetReset, PartitionView, Position};

/// Bits of an epoch that count ownership changes within one broker run; the bits above hold the
/// persisted generation of the run.
pub(super) const EPOCH_SEQ_BITS: u32 = 40;
/// Largest generation whose epochs still fit in a u64.
pub(super) const MAX_GENERATION: u64 = (1 << (64 - EPOCH_SEQ_BITS)) - 1;

/// Hands out epochs: `generation << 40 | n` with `n` counting up within this run. Generations are
/// persisted and bumped at every open, so epochs are monotonic per partition and never reused,
/// even across restarts, without a disk write per ownership change.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EpochClock {
    generation: u64,
    seq: u64,
}

impl EpochClock {
    pub(super) fn new(generation: u64) -> Self {
        debug_assert!(generation <= MAX_GENERATION);
        EpochClock { generation, seq: 0 }
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        // 2^40 ownership changes in one run: ~35 years at 1 000 changes per second.
        debug_assert!(self.seq < 1 << EPOCH_SEQ_BITS, "epoch sequence exhausted");
        (self.generation << EPOCH_SEQ_BITS) | self.seq
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Member {
    pub(super) lease_ms: u64,
    pub(super) lease_expires_at_ms: u64,
    pub(super) auto_offset_reset: OffsetReset,
    pub(super) owned: BTreeSet<u32>,
}

/// One partition of the group's current topic.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Slot {
    owner: Option<String>,
    /// Bumped at every ownership change (0: never owned in this run).
    epoch: u64,
    /// The owner's read position; reset to `None` whenever the owner changes, so a new owner
    /// starts from the committed offset.
    position: Option<u64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Group {
    /// The topic the group is bound to: set durably at its first join or offset reset and kept
    /// until the group (or the topic) is deleted. `None` only for a group loaded from offsets of
    /// several topics stored before groups were bound.
    pub(super) topic: Option<String>,
    /// Live members (lapsed ones are removed by `sweep` before anything reads this).
    pub(super) members: BTreeMap<String, Member>,
    slots: Vec<Slot>,
    /// `topic → partition → next offset to consume`; mirrors the store.
    pub(super) committed: BTreeMap<String, BTreeMap<u32, u64>>,
}

impl Group {
    /// A group is forgotten when nothing of it would survive a restart and nobody uses it.
    pub(super) fn is_empty(&self) -> bool {
        self.topic.is_none() && self.members.is_empty() && self.committed.is_empty()
    }

    /// Moves `partition` to `owner` (or releases it), bumping its epoch.
    fn set_owner(&mut self, partition: u32, owner: Option<&str>, epochs: &mut EpochClock) {
        let slot = &mut self.slots[partition as usize];
        if let Some(old) = slot.owner.take()
            && let Some(member) = self.members.get_mut(&old)
        {
            member.owned.remove(&partition);
        }
        if let Some(new) = owner
            && let Some(member) = self.members.get_mut(new)
        {
            member.owned.insert(partition);
            slot.owner = Some(new.to_owned());
        }
        slot.epoch = epochs.next();
        slot.position = None;
    }

    /// The member with the fewest partitions (ties: smallest id), optionally ignoring one.
    fn fewest(&self, excluding: Option<&str>) -> Option<(&str, usize)> {
        self.members
            .iter()
            .filter(|(id, _)| Some(id.as_str()) != excluding)
            .map(|(id, m)| (id.as_str(), m.owned.len()))
            .min_by_key(|&(_, count)| count)
    }

    /// Gives every unowned partition to the member with the fewest partitions.
    fn assign_unowned(&mut self, epochs: &mut EpochClock) {
        for partition in 0..self.slots.len() {
            if self.slots[partition].owner.is_none() {
                let Some((to, _)) = self.fewest(None) else {
                    return;
                };
                let to = to.to_owned();
                self.set_owner(partition as u32, Some(&to), epochs);
            }
        }
    }

    /// Called at `member`'s own heartbeat/poll: while it holds two or more partitions more than
    /// the least-loaded member, it gives its highest partition to that member. After every live
    /// member has done this once, counts differ by at most one.
    pub(super) fn shed_surplus(&mut self, member: &str, epochs: &mut EpochClock) {
        loop {
            let Some(count) = self.members.get(member).map(|m| m.owned.len()) else {
                return;
            };
            let Some((to, to_count)) = self.fewest(Some(member)) else {
                return;
            };
            if count < to_count + 2 {
                return;
            }
            let to = to.to_owned();
            let Some(&partition) = self.members[member].owned.last() else {
                return;
            };
            self.set_owner(partition, Some(&to), epochs);
        }
    }

    /// Adds a member holding nothing, then hands it the unowned partitions.
    pub(super) fn add_member(&mut self, id: String, member: Member, epochs: &mut EpochClock) {
        debug_assert!(member.owned.is_empty());
        self.members.insert(id, member);
        self.assign_unowned(epochs);
    }

    /// Removes members; their partitions go to the remaining members with the fewest.
    /// Returns what each removed member owned.
    pub(super) fn remove_members(
        &mut self,
        ids: &[String],
        epochs: &mut EpochClock,
    ) -> Vec<(String, Vec<u32>)> {
        let mut removed = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(member) = self.members.remove(id) else {
                continue;
            };
            let released: Vec<u32> = member.owned.into_iter().collect();
            for &partition in &released {
                self.set_owner(partition, None, epochs);
            }
            removed.push((id.clone(), released));
        }
        // Reassign once all are gone, so no partition lands on a member that leaves right after.
        self.assign_unowned(epochs);
        removed
    }

    /// Removes the members whose lease lapsed at `now_ms`.
    pub(super) fn sweep(
        &mut self,
        now_ms: u64,
        epochs: &mut EpochClock,
    ) -> Vec<(String, Vec<u32>)> {
        let lapsed: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.lease_expires_at_ms <= now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        if lapsed.is_empty() {
            return Vec::new();
        }
        self.remove_members(&lapsed, epochs)
    }

    /// Follows the topic's partition count as reported by the caller: new partitions are
    /// assigned at once; partitions beyond a smaller count (topic recreated) are released.
    pub(super) fn resize(&mut self, partitions: u32, epochs: &mut EpochClock) {
        let partitions = partitions as usize;
        while self.slots.len() > partitions {
            let last = self.slots.len() - 1;
            if self.slots[last].owner.is_some() {
                self.set_owner(last as u32, None, epochs);
            }
            self.slots.pop();
        }
        self.slots.resize_with(partitions, Slot::default);
        self.assign_unowned(epochs);
    }

    /// Switches the group to another topic; only when no member is live.
    /// Binds an unbound group to `topic` (the caller has stored the binding).
    pub(super) fn bind(&mut self, topic: &str) {
        debug_assert!(self.topic.is_none() && self.members.is_empty() && self.slots.is_empty());
        self.topic = Some(topic.to_owned());
    }

    /// Forgets the current topic (it was deleted) and every member consuming it.
    pub(super) fn drop_topic(&mut self) -> usize {
        let members = self.members.len();
        self.members.clear();
        self.slots.clear();
        self.topic = None;
        members
    }

    pub(super) fn committed_offset(&self, partition: u32) -> Option<u64> {
        let topic = self.topic.as_deref()?;
        self.committed.get(topic)?.get(&partition).copied()
    }

    /// `(owner, epoch)` of a partition of the current topic.
    pub(super) fn owner_of(&self, partition: u32) -> Option<(&str, u64)> {
        let slot = self.slots.get(partition as usize)?;
        Some((slot.owner.as_deref()?, slot.epoch))
    }

    /// Records a read position if `member` still owns `partition` at `epoch`.
    pub(super) fn advance(&mut self, member: &str, partition: u32, epoch: u64, next: u64) -> bool {
        match self.slots.get_mut(partition as usize) {
            Some(slot) if slot.owner.as_deref() == Some(member) && slot.epoch == epoch => {
                slot.position = Some(next);
                true
            }
            _ => false,
        }
    }

    pub(super) fn position(&self, partition: u32, reset: OffsetReset) -> Position {
        let slot_position = self.slots.get(partition as usize).and_then(|s| s.position);
        match slot_position.or_else(|| self.committed_offset(partition)) {
            Some(offset) => Position::Offset(offset),
            None => Position::Reset(reset),
        }
    }

    pub(super) fn assignments(&self, member: &str) -> Vec<Assignment> {
        let Some(m) = self.members.get(member) else {
            return Vec::new();
        };
        m.owned
            .iter()
            .map(|&partition| Assignment {
                partition,
                epoch: self.slots[partition as usize].epoch,
                committed_offset: self.committed_offset(partition),
                position: self.position(partition, m.auto_offset_reset),
            })
            .collect()
    }

    pub(super) fn member_view(&self, group: &str, member: &str) -> Option<MemberView> {
        let m = self.members.get(member)?;
        Some(MemberView {
            group: group.to_owned(),
            member_id: member.to_owned(),
            topic: self.topic.clone().unwrap_or_default(),
            lease_ms: m.lease_ms,
            lease_expires_at_ms: m.lease_expires_at_ms,
            assignments: self.assignments(member),
        })
    }

    pub(super) fn partition_views(&self) -> Vec<PartitionView> {
        self.slots
            .iter()
            .enumerate()
            .map(|(partition, slot)| PartitionView {
                partition: partition as u32,
                owner: slot.owner.clone(),
                epoch: slot.epoch,
                committed_offset: self.committed_offset(partition as u32),
                position: slot.position,
            })
            .collect()
    }

    /// Owner links agree both ways, and every partition has an owner while a member is live.
    pub(super) fn invariants_hold(&self) -> bool {
        let slots_agree = self
            .slots
            .iter()
            .enumerate()
            .all(|(p, slot)| match &slot.owner {
                Some(owner) => self
                    .members
                    .get(owner)
                    .is_some_and(|m| m.owned.contains(&(p as u32))),
                None => self.members.is_empty(),
            });
        let members_agree = self.members.iter().all(|(id, m)| {
            m.owned.iter().all(|&p| {
                self.slots
                    .get(p as usize)
                    .is_some_and(|s| s.owner.as_deref() == Some(id))
            })
        });
        slots_agree && members_agree
    }
}
