//! Property test: many members join, heartbeat, poll, leave, lapse and commit (right and wrong
//! epochs, right and wrong owners) in random order on a simulated clock, with restarts of the
//! coordinator from its redb store. After every step the test checks, against its own model:
//! - no partition has two owners, and owner links agree with the members' assignments;
//! - the live members are exactly those whose lease (as the model computes it) has not lapsed;
//! - while any member is live, every partition of the topic has a live owner;
//! - epochs never go backwards and grow at every ownership change, also across restarts;
//! - a commit is accepted exactly when the committer is live, owns the partition and sends its
//!   current epoch, and committed offsets (in memory and after a restart) change only through
//!   accepted commits;
//! - positions follow the member's own advances, and a new owner starts from the committed offset;
//! - once every live member has heartbeated, partition counts differ by at most one.
//!
//! The store is the real redb store on redb's in-memory backend, shared by all cases (each case
//! uses a group of its own), and a restart opens a new coordinator on the same database:
//! creating a redb database costs ~130 ms in a debug build and each fsynced commit ~5 ms, which
//! would make this test take minutes. Durability of the file itself (reopen, SIGKILL) is proven
//! by the unit tests in `tests.rs`.
//!
//! `PROPTEST_CASES` overrides the default of 256 cases (about 3 s in a debug build).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use proptest::prelude::*;

use super::*;

const TOPIC: &str = "t";
const MEMBERS: usize = 6;

#[derive(Debug, Clone)]
enum EpochPick {
    /// The partition's current epoch (accepted if the committer owns it).
    Current,
    /// The epoch the committer saw last for this partition (stale after a move: a zombie).
    Remembered,
    Arbitrary(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Join {
        member: usize,
        lease_ms: u64,
    },
    Heartbeat {
        member: usize,
    },
    Poll {
        member: usize,
        read: u64,
    },
    Leave {
        member: usize,
    },
    Tick {
        ms: u64,
    },
    Commit {
        member: usize,
        partition: u32,
        offset: u64,
        epoch: EpochPick,
    },
    HeartbeatAllLive,
    AddPartitions {
        count: u32,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let epoch = prop_oneof![
        3 => Just(EpochPick::Current),
        3 => Just(EpochPick::Remembered),
        1 => any::<u64>().prop_map(EpochPick::Arbitrary),
    ];
    prop_oneof![
        3 => (0..MEMBERS, prop::sample::select(vec![1_000u64, 2_000, 5_000]))
            .prop_map(|(member, lease_ms)| Op::Join { member, lease_ms }),
        4 => (0..MEMBERS).prop_map(|member| Op::Heartbeat { member }),
        3 => (0..MEMBERS, 0..5u64).prop_map(|(member, read)| Op::Poll { member, read }),
        1 => (0..MEMBERS).prop_map(|member| Op::Leave { member }),
        3 => (0..3_000u64).prop_map(|ms| Op::Tick { ms }),
        6 => (0..MEMBERS, 0..10u32, 0..1_000u64, epoch).prop_map(
            |(member, partition, offset, epoch)| Op::Commit { member, partition, offset, epoch }
        ),
        1 => Just(Op::HeartbeatAllLive),
        1 => (1..3u32).prop_map(|count| Op::AddPartitions { count }),
        1 => Just(Op::Reopen),
    ]
}

fn member_id(member: usize) -> String {
    format!("m{member}")
}

/// One in-memory database for all cases (see the module doc).
fn shared_db() -> Arc<redb::Database> {
    static DB: OnceLock<Arc<redb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let db = redb::Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        Arc::new(db)
    })
    .clone()
}

struct Sim {
    db: Arc<redb::Database>,
    /// A group of this case only.
    group: String,
    coordinator: Option<Coordinator>,
    now_ms: u64,
    partitions: u32,
    /// The partition count last passed to an accepted join/heartbeat/poll (what the coordinator
    /// knows; the topic may have grown since).
    reported: u32,
    /// Model: lease expiry of each member the model believes joined (live while now < expiry).
    leases: BTreeMap<String, (u64, u64)>, // member → (lease_ms, expires_at_ms)
    /// Model: committed offsets, changed only by accepted commits.
    committed: BTreeMap<u32, u64>,
    /// Model: positions reported through advance, valid only for that (owner, epoch).
    positions: BTreeMap<u32, (String, u64, u64)>,
    /// The epoch each member last saw for each partition (what a zombie would send).
    remembered: BTreeMap<(String, u32), u64>,
    /// Last observed (owner, epoch) and the highest epoch ever observed per partition.
    observed: BTreeMap<u32, (Option<String>, u64)>,
    max_epoch: BTreeMap<u32, u64>,
    /// Model: a join was accepted, so the group is bound to the topic for good (restarts too).
    bound: bool,
}

impl Sim {
    fn new(partitions: u32) -> Self {
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let mut sim = Sim {
            db: shared_db(),
            group: format!("case-{}", CASE.fetch_add(1, Ordering::Relaxed)),
            coordinator: None,
            now_ms: 0,
            partitions,
            reported: 0,
            leases: BTreeMap::new(),
            committed: BTreeMap::new(),
            positions: BTreeMap::new(),
            remembered: BTreeMap::new(),
            observed: BTreeMap::new(),
            max_epoch: BTreeMap::new(),
            bound: false,
        };
        sim.reopen();
        sim
    }

    fn reopen(&mut self) {
        // Everything in memory goes; only what the store holds comes back.
        self.coordinator = None;
        let store = RedbOffsetStore::new(self.db.clone()).unwrap();
        self.coordinator =
            Some(Coordinator::open(Box::new(store), GroupLimits::default()).unwrap());
        // Lease state is lost with the process; offsets are not. Every partition is unowned now,
        // and its next owner must get an epoch above every epoch of the previous run.
        self.leases.clear();
        for (owner, _) in self.observed.values_mut() {
            *owner = None;
        }
    }

    fn model_live(&self) -> BTreeSet<String> {
        self.leases
            .iter()
            .filter(|(_, (_, expires))| self.now_ms < *expires)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn renew(&mut self, id: &str) {
        let now = self.now_ms;
        if let Some((lease_ms, expires)) = self.leases.get_mut(id) {
            *expires = now + *lease_ms;
        }
    }

    fn remember(&mut self, view: &MemberView) {
        for a in &view.assignments {
            self.remembered
                .insert((view.member_id.clone(), a.partition), a.epoch);
        }
    }

    fn expected_position(&self, id: &str, partition: u32, epoch: u64) -> Position {
        match self.positions.get(&partition) {
            Some((owner, e, pos)) if owner == id && *e == epoch => Position::Offset(*pos),
            _ => match self.committed.get(&partition) {
                Some(&offset) => Position::Offset(offset),
                None => Position::Reset(OffsetReset::Earliest),
            },
        }
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now_ms;
        let partitions = self.partitions;
        match op {
            Op::Join { member, lease_ms } => {
                let id = member_id(*member);
                let req = JoinRequest {
                    topic: TOPIC.into(),
                    member_id: Some(id.clone()),
                    lease_ms: *lease_ms,
                    auto_offset_reset: OffsetReset::Earliest,
                };
                let view = self
                    .coordinator
                    .as_mut()
                    .unwrap()
                    .join(now, &self.group, req, partitions)
                    .unwrap();
                assert_eq!(view.lease_expires_at_ms, now + lease_ms);
                self.leases.insert(id, (*lease_ms, now + lease_ms));
                self.bound = true;
                self.reported = partitions;
                self.check_positions(&view);
                self.remember(&view);
            }
            Op::Heartbeat { member } => {
                let id = member_id(*member);
                let live = self.model_live().contains(&id);
                match self.coordinator.as_mut().unwrap().heartbeat(
                    now,
                    &self.group,
                    &id,
                    partitions,
                ) {
                    Ok(view) => {
                        assert!(live, "heartbeat of {id} accepted but its lease lapsed");
                        self.reported = partitions;
                        self.renew(&id);
                        self.check_positions(&view);
                        self.remember(&view);
                    }
                    Err(e) => assert!(!live, "heartbeat of live {id} refused: {e}"),
                }
            }
            Op::Poll { member, read } => {
                let id = member_id(*member);
                let live = self.model_live().contains(&id);
                let plan = match self.coordinator.as_mut().unwrap().poll_positions(
                    now,
                    &self.group,
                    &id,
                    partitions,
                ) {
                    Ok(plan) => plan,
                    Err(e) => {
                        assert!(!live, "poll of live {id} refused: {e}");
                        return;
                    }
                };
                assert!(live, "poll of {id} accepted but its lease lapsed");
                self.reported = partitions;
                self.renew(&id);
                let mut advances = Vec::new();
                for p in &plan.partitions {
                    assert_eq!(
                        p.position,
                        self.expected_position(&id, p.partition, p.epoch),
                        "position of partition {}",
                        p.partition
                    );
                    self.remembered.insert((id.clone(), p.partition), p.epoch);
                    let start = match p.position {
                        Position::Offset(o) => o,
                        Position::Reset(_) => 0,
                    };
                    advances.push(Advance {
                        partition: p.partition,
                        epoch: p.epoch,
                        next_offset: start + read,
                    });
                }
                let out =
                    self.coordinator
                        .as_mut()
                        .unwrap()
                        .advance(now, &self.group, &id, &advances);
                assert_eq!(out.applied, advances.len(), "same instant, nothing moved");
                for a in advances {
                    self.positions
                        .insert(a.partition, (id.clone(), a.epoch, a.next_offset));
                }
            }
            Op::Leave { member } => {
                let id = member_id(*member);
                let live = self.model_live().contains(&id);
                let result = self
                    .coordinator
                    .as_mut()
                    .unwrap()
                    .leave(now, &self.group, &id);
                assert_eq!(result.is_ok(), live, "leave of {id}: {result:?}");
                self.leases.remove(&id);
            }
            Op::Tick { ms } => self.now_ms += ms,
            Op::Commit {
                member,
                partition,
                offset,
                epoch,
            } => self.commit(&member_id(*member), *partition, *offset, epoch),
            Op::HeartbeatAllLive => {
                for id in self.model_live() {
                    let view = self
                        .coordinator
                        .as_mut()
                        .unwrap()
                        .heartbeat(now, &self.group, &id, partitions)
                        .unwrap();
                    self.remember(&view);
                    self.renew(&id);
                    self.reported = partitions;
                }
                let d = self
                    .coordinator
                    .as_mut()
                    .unwrap()
                    .describe(now, &self.group);
                if let Ok(d) = d {
                    let counts: Vec<usize> =
                        d.members.iter().map(|m| m.assignments.len()).collect();
                    if let (Some(min), Some(max)) = (counts.iter().min(), counts.iter().max()) {
                        assert!(max - min <= 1, "unfair after heartbeats: {counts:?}");
                    }
                }
            }
            Op::AddPartitions { count } => self.partitions += count,
            Op::Reopen => self.reopen(),
        }
    }

    fn check_positions(&self, view: &MemberView) {
        for a in &view.assignments {
            assert_eq!(
                a.position,
                self.expected_position(&view.member_id, a.partition, a.epoch)
            );
            assert_eq!(
                a.committed_offset,
                self.committed.get(&a.partition).copied()
            );
        }
    }

    fn commit(&mut self, id: &str, partition: u32, offset: u64, pick: &EpochPick) {
        let now = self.now_ms;
        let live = self.model_live().contains(id);
        // The coordinator's view of the partition at this instant (describe sweeps like commit).
        let current = self
            .coordinator
            .as_mut()
            .unwrap()
            .describe(now, &self.group)
            .ok()
            .and_then(|d| {
                d.partitions
                    .iter()
                    .find(|p| p.partition == partition)
                    .map(|p| (p.owner.clone(), p.epoch))
            });
        let epoch = match pick {
            EpochPick::Current => current.as_ref().map_or(0, |(_, e)| *e),
            EpochPick::Remembered => self
                .remembered
                .get(&(id.to_owned(), partition))
                .copied()
                .unwrap_or(0),
            EpochPick::Arbitrary(e) => *e,
        };
        let should_accept = live
            && current
                .as_ref()
                .is_some_and(|(owner, e)| owner.as_deref() == Some(id) && *e == epoch);
        let offsets = [CommitOffset {
            topic: TOPIC.into(),
            partition,
            offset,
            epoch,
        }];
        let result = self
            .coordinator
            .as_mut()
            .unwrap()
            .commit(now, &self.group, id, &offsets);
        match result {
            Ok(out) => {
                assert!(should_accept, "commit accepted: {id} p{partition} e{epoch}");
                assert_eq!(out.committed, vec![(partition, offset)]);
                self.committed.insert(partition, offset);
                self.renew(id);
            }
            Err(CommitError::Fenced { .. }) => {
                assert!(!should_accept, "commit fenced: {id} p{partition} e{epoch}");
            }
            Err(e) => panic!("unexpected commit error: {e}"),
        }
    }

    /// The invariants, observed through `describe` at the current instant.
    fn check(&mut self) {
        let now = self.now_ms;
        let live = self.model_live();
        let committed = self.committed.clone();
        let d = match self
            .coordinator
            .as_mut()
            .unwrap()
            .describe(now, &self.group)
        {
            Ok(d) => d,
            Err(DescribeError::UnknownGroup { .. }) => {
                assert!(!self.bound, "a bound group was forgotten");
                assert!(live.is_empty() && committed.is_empty(), "group forgotten");
                return;
            }
        };
        assert_eq!(d.topic.as_deref(), Some(TOPIC), "the group's binding");
        let members: BTreeSet<String> = d.members.iter().map(|m| m.member_id.clone()).collect();
        assert_eq!(members, live, "live members");

        // No partition has two owners; member views agree with the partition table.
        let mut owner_of: BTreeMap<u32, (String, u64)> = BTreeMap::new();
        for m in &d.members {
            for a in &m.assignments {
                let previous = owner_of.insert(a.partition, (m.member_id.clone(), a.epoch));
                assert!(
                    previous.is_none(),
                    "partition {} has two owners",
                    a.partition
                );
            }
        }
        for p in &d.partitions {
            let from_members = owner_of.get(&p.partition);
            assert_eq!(p.owner.as_ref(), from_members.map(|(o, _)| o));
            if let Some((_, e)) = from_members {
                assert_eq!(*e, p.epoch);
            }
        }
        if !live.is_empty() {
            assert_eq!(d.partitions.len() as u32, self.reported);
            assert!(
                d.partitions.iter().all(|p| p.owner.is_some()),
                "unowned partition while members are live: {:?}",
                d.partitions
            );
        }

        // Epochs never go backwards and grow at every change of owner.
        for p in &d.partitions {
            let max = self.max_epoch.entry(p.partition).or_default();
            assert!(p.epoch >= *max, "epoch of {} went backwards", p.partition);
            *max = p.epoch;
            if let Some((owner, epoch)) = self.observed.get(&p.partition)
                && p.owner.is_some()
                && *owner != p.owner
            {
                assert!(
                    p.epoch > *epoch,
                    "owner of {} changed without a new epoch",
                    p.partition
                );
            }
            self.observed
                .insert(p.partition, (p.owner.clone(), p.epoch));
        }

        let actual: BTreeMap<u32, u64> = d
            .committed
            .iter()
            .map(|o| {
                assert_eq!(o.topic, TOPIC);
                (o.partition, o.offset)
            })
            .collect();
        assert_eq!(actual, committed, "committed offsets");
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_members_never_share_a_partition_and_only_accepted_commits_move_offsets(
        partitions in 1..8u32,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let mut sim = Sim::new(partitions);
        for op in &ops {
            sim.apply(op);
            sim.check();
        }
        // Durability: a restart keeps exactly the accepted commits.
        sim.reopen();
        sim.check();
        // Keep the shared database small for the next cases.
        let c = sim.coordinator.as_mut().unwrap();
        match c.delete_group(sim.now_ms, &sim.group) {
            Ok(_) | Err(DeleteGroupError::UnknownGroup { .. }) => {}
            Err(e) => panic!("delete_group: {e}"),
        }
    }
}
