//! Unit tests of the coordinator against the real redb store.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use super::*;

/// Durable topic bindings, and what deleting a topic or a group forgets.
mod binding;
/// A store whose writes fail on demand: a failed write changes nothing.
mod store_faults;

const TOPIC: &str = "orders";
const LEASE_MS: u64 = 10_000;

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        Fixture { _dir: dir, path }
    }

    fn open(&self) -> Coordinator {
        self.open_with(GroupLimits::default())
    }

    fn open_with(&self, limits: GroupLimits) -> Coordinator {
        open_at(&self.path, limits)
    }
}

fn open_at(path: &Path, limits: GroupLimits) -> Coordinator {
    let store = RedbOffsetStore::create(path).unwrap();
    Coordinator::open(Box::new(store), limits).unwrap()
}

fn req(member: &str, lease_ms: u64) -> JoinRequest {
    JoinRequest {
        topic: TOPIC.into(),
        member_id: Some(member.into()),
        lease_ms,
        auto_offset_reset: OffsetReset::Earliest,
    }
}

fn owned(view: &MemberView) -> Vec<u32> {
    view.assignments.iter().map(|a| a.partition).collect()
}

fn epoch_of(view: &MemberView, partition: u32) -> u64 {
    view.assignments
        .iter()
        .find(|a| a.partition == partition)
        .map(|a| a.epoch)
        .unwrap()
}

fn commit_one(partition: u32, offset: u64, epoch: u64) -> Vec<CommitOffset> {
    vec![CommitOffset {
        topic: TOPIC.into(),
        partition,
        offset,
        epoch,
    }]
}

fn committed(c: &mut Coordinator, now: u64, group: &str) -> Vec<(u32, u64)> {
    c.describe(now, group)
        .unwrap()
        .committed
        .iter()
        .map(|o| (o.partition, o.offset))
        .collect()
}

/// The HTTP layer keeps the coordinator in a `Mutex` shared across tokio tasks.
const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<Coordinator>();
};

#[test]
fn one_member_owns_all_partitions() {
    let f = Fixture::new();
    let mut c = f.open();
    let view = c.join(0, "g", req("a", LEASE_MS), 4).unwrap();
    assert_eq!(owned(&view), vec![0, 1, 2, 3]);
    assert_eq!(view.lease_expires_at_ms, LEASE_MS);
    assert!(
        view.assignments
            .iter()
            .all(|a| a.position == Position::Reset(OffsetReset::Earliest) && a.epoch > 0)
    );
}

#[test]
fn second_member_gets_two_of_four_after_heartbeats_without_overlap() {
    let f = Fixture::new();
    let mut c = f.open();
    let a = c.join(0, "g", req("a", LEASE_MS), 4).unwrap();
    let b = c.join(10, "g", req("b", LEASE_MS), 4).unwrap();
    // Partitions move at the owner's heartbeat, not behind its back.
    assert!(owned(&b).is_empty());
    let a2 = c.heartbeat(20, "g", "a", 4).unwrap();
    assert_eq!(owned(&a2), vec![0, 1]);
    assert_eq!(
        epoch_of(&a2, 0),
        epoch_of(&a, 0),
        "kept partitions keep their epoch"
    );
    let b2 = c.heartbeat(30, "g", "b", 4).unwrap();
    assert_eq!(owned(&b2), vec![2, 3]);
    assert!(
        epoch_of(&b2, 2) > epoch_of(&a, 2),
        "a moved partition gets a new epoch"
    );
    let d = c.describe(40, "g").unwrap();
    let owners: Vec<_> = d.partitions.iter().map(|p| p.owner.as_deref()).collect();
    assert_eq!(owners, vec![Some("a"), Some("a"), Some("b"), Some("b")]);
}

#[test]
fn three_members_share_seven_partitions_three_two_two() {
    let f = Fixture::new();
    let mut c = f.open();
    for m in ["a", "b", "c"] {
        c.join(0, "g", req(m, LEASE_MS), 7).unwrap();
    }
    let mut counts: Vec<usize> = ["a", "b", "c"]
        .iter()
        .map(|m| owned(&c.heartbeat(1, "g", m, 7).unwrap()).len())
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![2, 2, 3]);
}

#[test]
fn lapsed_members_partitions_move_to_the_live_member() {
    let f = Fixture::new();
    let mut c = f.open();
    c.join(0, "g", req("a", 1_000), 4).unwrap();
    c.join(0, "g", req("b", LEASE_MS), 4).unwrap();
    let a = c.heartbeat(500, "g", "a", 4).unwrap();
    assert_eq!(owned(&a), vec![0, 1]);
    // a's lease runs to 1 500; it lapses at exactly that instant.
    let b = c.heartbeat(1_499, "g", "b", 4).unwrap();
    assert_eq!(owned(&b), vec![2, 3]);
    let b = c.heartbeat(1_500, "g", "b", 4).unwrap();
    assert_eq!(owned(&b), vec![0, 1, 2, 3]);
    assert!(epoch_of(&b, 0) > epoch_of(&a, 0));
    assert!(matches!(
        c.heartbeat(1_600, "g", "a", 4),
        Err(MemberError::UnknownMember { .. })
    ));
    // The explicit sweep reports the lapse for a group nobody touched.
    c.join(1_700, "h", req("x", 1_000), 1).unwrap();
    let out = c.expire(2_700);
    assert_eq!(out.expired.len(), 1);
    assert_eq!(
        (
            out.expired[0].group.as_str(),
            out.expired[0].released.clone()
        ),
        ("h", vec![0])
    );
}

#[test]
fn leave_releases_at_once() {
    let f = Fixture::new();
    let mut c = f.open();
    c.join(0, "g", req("a", LEASE_MS), 4).unwrap();
    c.join(0, "g", req("b", LEASE_MS), 4).unwrap();
    c.heartbeat(1, "g", "a", 4).unwrap();
    assert_eq!(c.leave(2, "g", "a").unwrap().released, vec![0, 1]);
    assert_eq!(
        owned(&c.heartbeat(3, "g", "b", 4).unwrap()),
        vec![0, 1, 2, 3]
    );
    assert!(matches!(
        c.leave(4, "g", "a"),
        Err(MemberError::UnknownMember { .. })
    ));
    c.leave(5, "g", "b").unwrap();
    // No member and no offsets, yet the group stays, bound to its topic.
    assert!(c.describe(6, "g").unwrap().members.is_empty());
    assert_eq!(c.access("g"), GroupAccess::Bound(TOPIC.into()));
}

#[test]
fn commits_from_the_old_owner_or_with_an_old_epoch_are_fenced_and_change_nothing() {
    let f = Fixture::new();
    let mut c = f.open();
    let a = c.join(0, "g", req("a", LEASE_MS), 4).unwrap();
    let old_epoch = epoch_of(&a, 3);
    c.commit(1, "g", "a", &commit_one(3, 10, old_epoch))
        .unwrap();
    c.join(2, "g", req("b", LEASE_MS), 4).unwrap();
    c.heartbeat(3, "g", "a", 4).unwrap(); // p2, p3 move to b
    let b = c.heartbeat(4, "g", "b", 4).unwrap();
    let new_epoch = epoch_of(&b, 3);

    // The old owner (a zombie still holding the old epoch) is fenced.
    let err = c
        .commit(5, "g", "a", &commit_one(3, 99, old_epoch))
        .unwrap_err();
    assert!(
        matches!(&err, CommitError::Fenced { partition: Some(3), reason: FenceReason::NotOwner { owner }, .. } if owner.as_deref() == Some("b")),
        "{err}"
    );
    // The new owner with the old epoch is fenced too.
    let err = c
        .commit(6, "g", "b", &commit_one(3, 5, old_epoch))
        .unwrap_err();
    assert!(matches!(
        err,
        CommitError::Fenced {
            reason: FenceReason::StaleEpoch { .. },
            ..
        }
    ));
    // All or nothing: a valid offset next to a fenced one is not stored either.
    let mixed = [
        CommitOffset {
            topic: TOPIC.into(),
            partition: 0,
            offset: 7,
            epoch: epoch_of(&a, 0),
        },
        commit_one(3, 1, old_epoch).remove(0),
    ];
    assert!(matches!(
        c.commit(7, "g", "a", &mixed),
        Err(CommitError::Fenced { .. })
    ));
    // Wrong topic and unknown member.
    let mut other_topic = commit_one(0, 1, epoch_of(&a, 0));
    other_topic[0].topic = "payments".into();
    assert!(matches!(
        c.commit(8, "g", "a", &other_topic),
        Err(CommitError::Fenced {
            reason: FenceReason::WrongTopic { .. },
            ..
        })
    ));
    assert!(matches!(
        c.commit(9, "g", "zombie", &commit_one(0, 1, epoch_of(&a, 0))),
        Err(CommitError::Fenced {
            partition: None,
            reason: FenceReason::UnknownMember,
            ..
        })
    ));
    assert_eq!(committed(&mut c, 10, "g"), vec![(3, 10)]);
    drop(c);
    let mut c = f.open();
    assert_eq!(
        committed(&mut c, 11, "g"),
        vec![(3, 10)],
        "the store agrees"
    );

    // The current owner at the current epoch is accepted, also backwards.
    let mut c2 = c;
    let b = c2.join(12, "g", req("b", LEASE_MS), 4).unwrap();
    let out = c2
        .commit(13, "g", "b", &commit_one(3, 4, epoch_of(&b, 3)))
        .unwrap();
    assert_eq!(out.committed, vec![(3, 4)]);
    assert_eq!(out.lease_expires_at_ms, 13 + LEASE_MS);
    assert!(new_epoch < epoch_of(&b, 3), "epochs grow across restarts");
}

#[test]
fn lapsed_member_cannot_commit() {
    let f = Fixture::new();
    let mut c = f.open();
    let a = c.join(0, "g", req("a", 1_000), 1).unwrap();
    let err = c
        .commit(1_000, "g", "a", &commit_one(0, 1, epoch_of(&a, 0)))
        .unwrap_err();
    assert!(matches!(
        err,
        CommitError::Fenced {
            reason: FenceReason::UnknownMember,
            ..
        }
    ));
    // The group outlives its last member: it stays bound to its topic.
    let d = c.describe(1_001, "g").unwrap();
    assert!(d.members.is_empty());
    assert_eq!(d.topic.as_deref(), Some(TOPIC));
}

#[test]
fn invalid_commits_are_refused() {
    let f = Fixture::new();
    let mut c = f.open();
    let a = c.join(0, "g", req("a", LEASE_MS), 2).unwrap();
    assert!(matches!(
        c.commit(1, "g", "a", &[]),
        Err(CommitError::NoOffsets)
    ));
    let mut twice = commit_one(0, 1, epoch_of(&a, 0));
    twice.extend(commit_one(0, 2, epoch_of(&a, 0)));
    assert!(matches!(
        c.commit(1, "g", "a", &twice),
        Err(CommitError::DuplicatePartition { partition: 0 })
    ));
}

#[test]
fn offsets_survive_reopen_and_epochs_are_never_reused() {
    let f = Fixture::new();
    let mut c = f.open();
    let a = c.join(0, "g", req("a", LEASE_MS), 2).unwrap();
    let mut offsets = commit_one(0, 42, epoch_of(&a, 0));
    offsets.extend(commit_one(1, 7, epoch_of(&a, 1)));
    c.commit(1, "g", "a", &offsets).unwrap();
    let max_epoch_before = a.assignments.iter().map(|a| a.epoch).max().unwrap();
    drop(c);

    let mut c = f.open();
    // Lease state is gone after a restart; offsets are not.
    let d = c.describe(0, "g").unwrap();
    assert!(d.members.is_empty());
    assert_eq!(committed(&mut c, 0, "g"), vec![(0, 42), (1, 7)]);
    assert!(matches!(
        c.heartbeat(0, "g", "a", 2),
        Err(MemberError::UnknownMember { .. })
    ));
    // The same member id re-joins with the same clock values and still gets fresh epochs.
    let a = c.join(0, "g", req("a", LEASE_MS), 2).unwrap();
    assert!(a.assignments.iter().all(|x| x.epoch > max_epoch_before));
    assert_eq!(a.assignments[0].position, Position::Offset(42));
    assert_eq!(a.assignments[1].committed_offset, Some(7));
    // A zombie of the previous run holding an old epoch is fenced.
    assert!(matches!(
        c.commit(1, "g", "a", &commit_one(0, 1, max_epoch_before)),
        Err(CommitError::Fenced { .. })
    ));
}

#[test]
fn acknowledged_commits_survive_sigkill() {
    // The child (the test below, run in a separate process) commits in a loop and prints every
    // acknowledged offset; we SIGKILL it mid-stream and check none of them was lost.
    let f = Fixture::new();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "group::tests::sigkill_child_commits_until_killed",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WHARF_GROUP_SIGKILL_DB", &f.path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut last_acked = 0;
    for line in stdout.lines() {
        if let Some(offset) = line.unwrap().strip_prefix("acked ") {
            last_acked = offset.parse().unwrap();
            if last_acked >= 30 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();
    assert!(last_acked >= 30, "the child stopped early");
    let mut c = f.open();
    let offset = committed(&mut c, 0, "g")[0].1;
    assert!(offset >= last_acked, "{offset} < acknowledged {last_acked}");
}

#[test]
#[ignore = "child process of acknowledged_commits_survive_sigkill"]
fn sigkill_child_commits_until_killed() {
    let path = PathBuf::from(std::env::var_os("WHARF_GROUP_SIGKILL_DB").unwrap());
    let mut c = open_at(&path, GroupLimits::default());
    let a = c.join(0, "g", req("a", 900_000), 1).unwrap();
    for offset in 1.. {
        c.commit(0, "g", "a", &commit_one(0, offset, epoch_of(&a, 0)))
            .unwrap();
        println!("acked {offset}");
    }
}

#[test]
fn reset_is_refused_while_members_are_live_and_applies_once_they_are_gone() {
    let f = Fixture::new();
    let mut c = f.open();
    let a = c.join(0, "g", req("a", LEASE_MS), 2).unwrap();
    c.commit(1, "g", "a", &commit_one(0, 5, epoch_of(&a, 0)))
        .unwrap();
    assert!(matches!(
        c.reset_offsets(2, "g", TOPIC, &[(0, 0)]),
        Err(ResetError::MembersLive {
            live_members: 1,
            ..
        })
    ));
    assert_eq!(committed(&mut c, 3, "g"), vec![(0, 5)]);
    // Once the lease has lapsed the reset goes through.
    let out = c
        .reset_offsets(LEASE_MS + 1, "g", TOPIC, &[(1, 9), (0, 2)])
        .unwrap();
    assert_eq!(out.changes, vec![(0, Some(5), 2), (1, None, 9)]);
    drop(c);
    let mut c = f.open();
    assert_eq!(committed(&mut c, 0, "g"), vec![(0, 2), (1, 9)]);
    assert!(matches!(
        c.reset_offsets(0, "g", TOPIC, &[(0, 1), (0, 2)]),
        Err(ResetError::DuplicatePartition { partition: 0 })
    ));
    assert!(matches!(
        c.reset_offsets(0, "g", TOPIC, &[]),
        Err(ResetError::NoOffsets)
    ));
    // A reset may prepare a group before its first consumer joins.
    c.reset_offsets(0, "fresh", TOPIC, &[(0, 100)]).unwrap();
    let m = c.join(0, "fresh", req("m", LEASE_MS), 1).unwrap();
    assert_eq!(m.assignments[0].position, Position::Offset(100));
}

#[test]
fn every_limit_has_its_own_error() {
    let f = Fixture::new();
    let limits = GroupLimits {
        max_groups: 2,
        max_members_per_group: 2,
        min_lease_ms: 1_000,
        max_lease_ms: 900_000,
    };
    let mut c = f.open_with(limits);
    assert!(matches!(
        c.join(0, "g", req("a", 999), 1),
        Err(JoinError::LeaseOutOfRange {
            lease_ms: 999,
            min_lease_ms: 1_000,
            max_lease_ms: 900_000
        })
    ));
    assert!(matches!(
        c.join(0, "g", req("a", 900_001), 1),
        Err(JoinError::LeaseOutOfRange { .. })
    ));
    c.join(0, "g", req("a", 1_000), 1).unwrap();
    c.join(0, "g", req("b", 900_000), 1).unwrap();
    assert!(matches!(
        c.join(0, "g", req("c", LEASE_MS), 1),
        Err(JoinError::TooManyMembers {
            max_members_per_group: 2,
            ..
        })
    ));
    // Re-joining an existing member is not a new member.
    c.join(0, "g", req("b", LEASE_MS), 1).unwrap();
    c.join(0, "h", req("a", LEASE_MS), 1).unwrap();
    assert!(matches!(
        c.join(0, "i", req("a", LEASE_MS), 1),
        Err(JoinError::TooManyGroups { max_groups: 2 })
    ));
    assert!(matches!(
        c.reset_offsets(0, "i", TOPIC, &[(0, 1)]),
        Err(ResetError::TooManyGroups { max_groups: 2 })
    ));
    for bad in ["bad/name", ".", "..", ""] {
        assert!(matches!(
            c.join(0, bad, req("a", LEASE_MS), 1),
            Err(JoinError::InvalidGroupName { .. })
        ));
        assert!(matches!(
            c.reset_offsets(0, bad, TOPIC, &[(0, 1)]),
            Err(ResetError::InvalidGroupName { .. })
        ));
    }
    assert!(matches!(
        c.join(0, "g", req("..", LEASE_MS), 1),
        Err(JoinError::InvalidMemberId { .. })
    ));
    assert!(matches!(
        c.join(0, "g", req("", LEASE_MS), 1),
        Err(JoinError::InvalidMemberId { .. })
    ));
    let mut no_topic = req("a", LEASE_MS);
    no_topic.topic.clear();
    assert!(matches!(
        c.join(0, "g", no_topic, 1),
        Err(JoinError::EmptyTopic)
    ));
    let mut other = req("c", LEASE_MS);
    other.topic = "payments".into();
    assert!(matches!(
        c.join(0, "h", other, 1),
        Err(JoinError::TopicMismatch(_))
    ));
    // None of the refusals changed anything.
    let groups = c.list_groups(0);
    assert_eq!(groups.len(), 2);
    assert_eq!(
        groups.iter().map(|g| g.live_members).collect::<Vec<_>>(),
        vec![2, 1]
    );

    let bad = |limits| {
        Coordinator::open(Box::new(RedbOffsetStore::create(&f.path).unwrap()), limits).err()
    };
    drop(c);
    for limits in [
        GroupLimits {
            max_groups: 0,
            ..GroupLimits::default()
        },
        GroupLimits {
            max_members_per_group: 0,
            ..GroupLimits::default()
        },
        GroupLimits {
            min_lease_ms: 0,
            ..GroupLimits::default()
        },
        GroupLimits {
            min_lease_ms: 2,
            max_lease_ms: 1,
            ..GroupLimits::default()
        },
    ] {
        assert!(matches!(bad(limits), Some(OpenError::InvalidLimits { .. })));
    }
}

#[test]
fn rejoin_of_a_live_member_is_idempotent() {
    let f = Fixture::new();
    let mut c = f.open();
    let first = c.join(0, "g", req("a", LEASE_MS), 3).unwrap();
    let again = c.join(5, "g", req("a", 2 * LEASE_MS), 3).unwrap();
    assert_eq!(first.assignments, again.assignments);
    assert_eq!(again.lease_expires_at_ms, 5 + 2 * LEASE_MS);
    assert_eq!(c.describe(6, "g").unwrap().members.len(), 1);
    // Generated ids are unique and prefixed by the group.
    let mut anon = req("x", LEASE_MS);
    anon.member_id = None;
    let m1 = c.join(7, "g", anon.clone(), 3).unwrap();
    let m2 = c.join(7, "g", anon, 3).unwrap();
    assert!(m1.member_id.starts_with("g-") && m1.member_id != m2.member_id);
}

#[test]
fn poll_positions_follow_advances_of_the_current_owner_only() {
    let f = Fixture::new();
    let mut c = f.open();
    let mut latest = req("a", LEASE_MS);
    latest.auto_offset_reset = OffsetReset::Latest;
    c.join(0, "g", latest, 2).unwrap();
    let plan = c.poll_positions(1, "g", "a", 2).unwrap();
    assert_eq!(plan.topic, TOPIC);
    assert_eq!(plan.lease_expires_at_ms, 1 + LEASE_MS);
    assert_eq!(
        plan.partitions[0].position,
        Position::Reset(OffsetReset::Latest)
    );
    let e0 = plan.partitions[0].epoch;
    let e1 = plan.partitions[1].epoch;
    let out = c.advance(
        2,
        "g",
        "a",
        &[
            Advance {
                partition: 0,
                epoch: e0,
                next_offset: 17,
            },
            Advance {
                partition: 1,
                epoch: e1 - 1,
                next_offset: 3,
            },
        ],
    );
    assert_eq!(
        out,
        AdvanceOutcome {
            applied: 1,
            ignored: 1
        }
    );
    let plan = c.poll_positions(3, "g", "a", 2).unwrap();
    assert_eq!(plan.partitions[0].position, Position::Offset(17));
    assert_eq!(
        plan.partitions[1].position,
        Position::Reset(OffsetReset::Latest)
    );
    // A new owner starts from the committed offset, not from the old owner's position.
    c.commit(4, "g", "a", &commit_one(0, 10, e0)).unwrap();
    c.leave(5, "g", "a").unwrap();
    let b = c.join(6, "g", req("b", LEASE_MS), 2).unwrap();
    assert_eq!(b.assignments[0].position, Position::Offset(10));
    assert_eq!(
        c.advance(
            7,
            "g",
            "a",
            &[Advance {
                partition: 0,
                epoch: e0,
                next_offset: 99
            }]
        ),
        AdvanceOutcome {
            applied: 0,
            ignored: 1
        }
    );
}

#[test]
fn partitions_added_to_the_topic_are_assigned_at_the_next_heartbeat() {
    let f = Fixture::new();
    let mut c = f.open();
    c.join(0, "g", req("a", LEASE_MS), 2).unwrap();
    c.join(0, "g", req("b", LEASE_MS), 2).unwrap();
    c.heartbeat(1, "g", "a", 2).unwrap();
    let b = c.heartbeat(2, "g", "b", 6).unwrap();
    // New partitions go round-robin to the least loaded (ties: smallest id).
    assert_eq!(owned(&b), vec![1, 3, 5]);
    let a = c.heartbeat(3, "g", "a", 6).unwrap();
    assert_eq!(owned(&a), vec![0, 2, 4]);
}
