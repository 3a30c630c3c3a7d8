//! One group's whole state as a value, for a shared store that keeps each group in a row of its
//! own (`crate::pg`): load the row under a lock, run the same [`Coordinator`] logic on that one
//! group, write the row back, commit.
//!
//! The snapshot holds everything the in-process coordinator keeps in memory for the group
//! (members, leases, owners, epochs, read positions, committed offsets, binding), plus the
//! group's own epoch clock and the latest time it has seen. Epochs count per group here, not per
//! broker run: the counter is written back with every transition, so it never repeats and never
//! runs backwards for a partition, and it survives the group's deletion (the row stays, holding
//! the counter), so a member of a deleted group can never hold an epoch a new owner gets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::coordinator::Coordinator;
use super::state::{EpochClock, Group};
use super::store::{OffsetStore, StoreError, StoredBinding, StoredOffset};
use super::types::{GroupAccess, GroupLimits, GroupSummary};

/// Generation of every per-group epoch clock: epochs are `1 << 40 | n`, like a first broker run.
const SNAPSHOT_GENERATION: u64 = 1;

/// One group's state, its epoch counter and its clock.
#[derive(Debug, Serialize, Deserialize)]
pub struct GroupSnapshot {
    /// `None`: no such group (never created, or deleted; the counters stay).
    group: Option<Group>,
    epochs: EpochClock,
    clock_ms: u64,
}

impl Default for GroupSnapshot {
    fn default() -> Self {
        Self {
            group: None,
            epochs: EpochClock::new(SNAPSHOT_GENERATION),
            clock_ms: 0,
        }
    }
}

impl GroupSnapshot {
    /// Whether the group exists (it counts against `max_groups`).
    pub fn exists(&self) -> bool {
        self.group.is_some()
    }

    /// The topic the group is bound to.
    pub fn topic(&self) -> Option<&str> {
        self.group.as_ref()?.topic.as_deref()
    }

    /// Every topic the group is bound to or has committed offsets on.
    pub fn topics(&self) -> Vec<String> {
        let Some(g) = &self.group else {
            return Vec::new();
        };
        let mut topics: Vec<String> = g.committed.keys().cloned().collect();
        topics.extend(g.topic.clone());
        topics.sort();
        topics.dedup();
        topics
    }

    /// What acting on the group requires (as [`Coordinator::access`]).
    pub fn access(&self) -> GroupAccess {
        match &self.group {
            None => GroupAccess::Unknown,
            Some(g) => match &g.topic {
                Some(topic) => GroupAccess::Bound(topic.clone()),
                None => GroupAccess::Unbound(g.committed.keys().cloned().collect()),
            },
        }
    }

    /// The group's `GET /v1/groups` entry at `now_ms`, counting only members whose lease has not
    /// lapsed (the snapshot is read, not swept: sweeping is a transition).
    pub fn summary(&self, name: &str, now_ms: u64) -> Option<GroupSummary> {
        let g = self.group.as_ref()?;
        let now = now_ms.max(self.clock_ms);
        Some(GroupSummary {
            group: name.to_owned(),
            topic: g.topic.clone(),
            live_members: g
                .members
                .values()
                .filter(|m| m.lease_expires_at_ms > now)
                .count(),
            committed_topics: g.committed.keys().cloned().collect(),
        })
    }
}

impl Coordinator {
    /// A coordinator of one group only, over its snapshot. Its offset store records nothing:
    /// the caller persists the whole snapshot ([`Coordinator::into_snapshot`]) in the same
    /// transaction as the lock it loaded it under, or discards it on an error. `max_groups` is
    /// the caller's to check (this coordinator sees one group).
    pub fn for_one_group(limits: GroupLimits, name: &str, snapshot: GroupSnapshot) -> Self {
        let offsets: BTreeMap<String, usize> = snapshot
            .group
            .as_ref()
            .map(|g| {
                g.committed
                    .iter()
                    .map(|(topic, parts)| (topic.clone(), parts.len()))
                    .collect()
            })
            .unwrap_or_default();
        let mut groups = BTreeMap::new();
        if let Some(g) = snapshot.group {
            groups.insert(name.to_owned(), g);
        }
        Coordinator {
            store: Box::new(SnapshotStore { offsets }),
            limits,
            groups,
            epochs: snapshot.epochs,
            clock_ms: snapshot.clock_ms,
        }
    }

    /// The one group's state after the transition, with its epoch counter and clock.
    pub fn into_snapshot(mut self, name: &str) -> GroupSnapshot {
        debug_assert!(
            self.groups.len() <= 1,
            "a snapshot coordinator holds one group"
        );
        GroupSnapshot {
            group: self.groups.remove(name),
            epochs: self.epochs,
            clock_ms: self.clock_ms,
        }
    }
}

/// The offset store of a one-group coordinator: writes succeed and are persisted by the caller
/// as part of the snapshot; deletions answer how many offsets the snapshot held.
#[derive(Debug)]
struct SnapshotStore {
    /// Committed offsets per topic when the snapshot was loaded.
    offsets: BTreeMap<String, usize>,
}

impl OffsetStore for SnapshotStore {
    fn load(&self) -> Result<Vec<StoredOffset>, StoreError> {
        Ok(Vec::new())
    }

    fn load_bindings(&self) -> Result<Vec<StoredBinding>, StoreError> {
        Ok(Vec::new())
    }

    fn bind(&mut self, _group: &str, _topic: &str) -> Result<(), StoreError> {
        Ok(())
    }

    fn store(
        &mut self,
        _group: &str,
        _topic: &str,
        _offsets: &[(u32, u64)],
    ) -> Result<(), StoreError> {
        Ok(())
    }

    fn delete_topic(&mut self, topic: &str) -> Result<usize, StoreError> {
        Ok(self.offsets.remove(topic).unwrap_or(0))
    }

    fn delete_group(&mut self, _group: &str) -> Result<usize, StoreError> {
        Ok(std::mem::take(&mut self.offsets).into_values().sum())
    }

    fn next_generation(&mut self) -> Result<u64, StoreError> {
        Ok(SNAPSHOT_GENERATION)
    }
}
