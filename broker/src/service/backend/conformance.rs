//! One test suite per backend trait, run against every implementation: what the service layer
//! relies on from a backend, stated once. The embedded implementations run it below; a new
//! backend (a Kafka log, a PostgreSQL store) adds one `#[tokio::test]` per suite that builds
//! its own and calls the same function.
//!
//! Each suite takes an `open` function that opens the backend over the same durable state every
//! time it is called (the caller drops the previous instance first), so durability is part of
//! the contract: what a call said was durable is there after a reopen.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;
use wharf_proto::api::ProduceResult;

use super::{GroupBackend, LogBackend, MetaBackend};
use crate::group::{CommitOffset, GroupAccess, JoinRequest, OffsetReset};
use crate::meta::{PlannedBatch, ProduceIntent, RecordMark, StoredProduce, StoredTopic};
use crate::service::groups::GroupError;
use crate::service::produce::ProduceStatus;
use crate::storage::{Durability, NewRecord, PartitionSettings, Retention, StorageError};

fn topic(name: &str, partitions: u32) -> StoredTopic {
    StoredTopic {
        name: name.into(),
        partitions,
        retention_ms: -1,
        retention_bytes: -1,
        segment_bytes: 1 << 20,
        max_record_bytes: 1 << 20,
        created_at_ms: 1,
        schema_validation: Default::default(),
    }
}

fn outcome(created_at_ms: i64) -> StoredProduce {
    StoredProduce {
        status: ProduceStatus::Appended,
        results: vec![ProduceResult {
            partition: Some(0),
            offset: Some(7),
            timestamp: Some(created_at_ms),
            ..ProduceResult::default()
        }],
        created_at_ms,
    }
}

fn intent(created_at_ms: i64) -> ProduceIntent {
    let mark = RecordMark {
        timestamp_ms: created_at_ms,
        crc32c: 42,
    };
    ProduceIntent {
        created_at_ms,
        body_crc32c: 9,
        results: vec![ProduceResult::default()],
        batches: vec![PlannedBatch {
            partition: 0,
            from_offset: 3,
            indexes: vec![0],
            first: mark,
            last: mark,
        }],
    }
}

/// Topics, idempotency claims, intents and outcomes, the blob-deletion queue.
pub(crate) async fn meta_backend(open: impl Fn() -> Arc<dyn MetaBackend>) {
    let meta = open();
    // Topics: put replaces, delete answers whether it existed.
    meta.put_topic(&topic("a.b.c", 2)).await.unwrap();
    meta.put_topic(&topic("a.b.d", 1)).await.unwrap();
    meta.put_topic(&topic("a.b.c", 4)).await.unwrap();
    assert!(meta.delete_topic("a.b.d").await.unwrap());
    assert!(!meta.delete_topic("a.b.d").await.unwrap());

    // A claim holds the key: a second claim waits until the first completes, then sees its
    // outcome.
    let first = meta.claim_idempotency("t\0k").await.unwrap();
    assert!(first.stored.is_none() && first.intent.is_none());
    meta.record_intent(&first.hold, "t\0k", &intent(100))
        .await
        .unwrap();
    let waiter = {
        let meta = Arc::clone(&meta);
        tokio::spawn(async move { meta.claim_idempotency("t\0k").await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiter.is_finished(), "a held key makes other claims wait");
    meta.complete_idempotency(first.hold, "t\0k", outcome(100))
        .await
        .unwrap();
    let second = waiter.await.unwrap();
    assert_eq!(second.stored, Some(outcome(100)));
    assert!(second.intent.is_none(), "completing forgets the intent");
    drop(second);

    // An intent without an outcome (the holder died) is what the next claim finds.
    let dying = meta.claim_idempotency("t\0crash").await.unwrap();
    meta.record_intent(&dying.hold, "t\0crash", &intent(200))
        .await
        .unwrap();
    drop(dying);

    meta.queue_blob_deletes(&["x".into(), "y".into()])
        .await
        .unwrap();
    meta.dequeue_blob_delete("x").await.unwrap();

    // Everything above was durable.
    drop(meta);
    let meta = open();
    let topics = meta.topics().await.unwrap();
    assert_eq!(topics, vec![topic("a.b.c", 4)]);
    let crashed = meta.claim_idempotency("t\0crash").await.unwrap();
    assert_eq!(crashed.intent, Some(intent(200)));
    assert!(crashed.stored.is_none());
    drop(crashed);
    assert_eq!(
        meta.claim_idempotency("t\0k").await.unwrap().stored,
        Some(outcome(100))
    );
    assert_eq!(meta.queued_blob_deletes().await.unwrap(), ["y"]);

    // Expiry forgets outcomes and intents created before the cutoff, and only those.
    assert_eq!(meta.expire_idempotency(150).await.unwrap(), 1);
    assert!(
        meta.claim_idempotency("t\0k")
            .await
            .unwrap()
            .stored
            .is_none()
    );
    assert!(
        meta.claim_idempotency("t\0crash")
            .await
            .unwrap()
            .intent
            .is_some()
    );
    meta.expire_idempotency(250).await.unwrap();
    assert!(
        meta.claim_idempotency("t\0crash")
            .await
            .unwrap()
            .intent
            .is_none()
    );
}

fn record(value: &str) -> NewRecord {
    NewRecord {
        timestamp_ms: 1_000,
        key: Some(Bytes::from_static(b"k")),
        value: Bytes::from(value.to_owned()),
        headers: Vec::new(),
        value_is_json: false,
    }
}

fn settings() -> PartitionSettings {
    PartitionSettings {
        segment_bytes: 1 << 20,
        retention: Retention {
            retention_ms: None,
            retention_bytes: None,
        },
    }
}

/// Partitions: contiguous offsets per partition, reads within bounds, long-poll wake-ups, the
/// topic-wide append counter, durability across reopen, deletion and stray data.
pub(crate) async fn log_backend(open: impl Fn() -> Arc<dyn LogBackend>) {
    let logs = open();
    let (appends, mut appended) = watch::channel(0u64);
    let parts = logs
        .open_partitions("a.b.c", 0..2, settings(), appends)
        .await
        .unwrap();
    assert_eq!(parts.iter().map(|p| p.id()).collect::<Vec<_>>(), [0, 1]);

    let first = parts[0]
        .append(vec![record("v0"), record("v1")], Durability::Synced)
        .await
        .unwrap();
    assert_eq!((first.base_offset, first.last_offset), (0, 1));
    let second = parts[0]
        .append(vec![record("v2")], Durability::Buffered)
        .await
        .unwrap();
    assert_eq!(second.base_offset, 2);
    assert!(
        appended.has_changed().unwrap(),
        "appends bump the topic counter"
    );
    appended.mark_unchanged();
    assert_eq!(parts[0].offsets().high_watermark, 3);
    assert_eq!(parts[1].offsets().high_watermark, 0);

    let read = parts[0].read(1, 10, 1 << 20).await.unwrap();
    let values: Vec<_> = read.records.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values, [Bytes::from("v1"), Bytes::from("v2")]);
    assert_eq!(read.records[0].offset, 1);
    assert_eq!(read.next_offset, 3);
    match parts[0].read(4, 10, 1 << 20).await {
        Err(StorageError::OffsetOutOfRange { .. }) => {}
        other => panic!("a read past the high watermark is out of range: {other:?}"),
    }

    // A long poll past the end wakes when a record lands, and times out when none does.
    let (_cancel_tx, mut cancel) = watch::channel(false);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
    assert!(!parts[1].wait_beyond(0, deadline, &mut cancel).await);
    let waiting = {
        let p = Arc::clone(&parts[1]);
        tokio::spawn(async move {
            let (_tx, mut cancel) = watch::channel(false);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let started = Instant::now();
            (p.wait_beyond(0, deadline, &mut cancel).await, started)
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    parts[1]
        .append(vec![record("w")], Durability::Synced)
        .await
        .unwrap();
    let (woke, started) = waiting.await.unwrap();
    assert!(woke && started.elapsed() < Duration::from_secs(10));

    // Durable appends survive a reopen.
    drop(parts);
    drop(logs);
    let logs = open();
    let (appends, _) = watch::channel(0u64);
    let parts = logs
        .open_partitions("a.b.c", 0..2, settings(), appends)
        .await
        .unwrap();
    assert_eq!(parts[0].offsets().high_watermark, 3);
    assert_eq!(parts[1].offsets().high_watermark, 1);
    assert_eq!(
        logs.stray_topics(&["a.b.c".into()]).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(logs.stray_topics(&[]).await.unwrap(), ["a.b.c"]);

    drop(parts);
    logs.delete_topic("a.b.c").await.unwrap();
    assert!(logs.stray_topics(&[]).await.unwrap().is_empty());
}

fn join(topic: &str) -> JoinRequest {
    JoinRequest {
        topic: topic.into(),
        member_id: None,
        lease_ms: 10_000,
        auto_offset_reset: OffsetReset::Earliest,
    }
}

/// Groups: a join binds the group to its topic for good, assignments cover the partitions
/// once, commits are fenced by epoch, resets wait for no live member, and bindings and offsets
/// are durable.
pub(crate) async fn group_backend(open: impl Fn() -> Arc<dyn GroupBackend>) {
    let groups = open();
    assert_eq!(groups.access("g").await.unwrap(), GroupAccess::Unknown);
    let a = groups.join("g", join("a.b.c"), 4).await.unwrap();
    let b = groups.join("g", join("a.b.c"), 4).await.unwrap();
    // Rebalancing is cooperative: `a` gives partitions up on its heartbeat, `b` takes them on
    // its own.
    let a = groups.heartbeat("g", &a.member_id, 4).await.unwrap();
    let b = groups.heartbeat("g", &b.member_id, 4).await.unwrap();
    let mut owned: Vec<u32> = a
        .assignments
        .iter()
        .chain(&b.assignments)
        .map(|x| x.partition)
        .collect();
    owned.sort_unstable();
    assert_eq!(owned, [0, 1, 2, 3], "every partition has exactly one owner");

    // Another topic cannot take the name, and does not disturb the members.
    match groups.join("g", join("x.y.z"), 1).await {
        Err(GroupError::Join(_)) => {}
        other => panic!("a join naming another topic is refused: {other:?}"),
    }
    assert_eq!(
        groups.topic_of("g").await.unwrap().as_deref(),
        Some("a.b.c")
    );
    assert!(groups.heartbeat("g", &a.member_id, 4).await.is_ok());

    // Commits: the owner at its epoch is accepted; a stale epoch is fenced.
    let mine = &a.assignments[0];
    let commit = |epoch| {
        vec![CommitOffset {
            topic: "a.b.c".into(),
            partition: mine.partition,
            offset: 5,
            epoch,
        }]
    };
    let done = groups
        .commit("g", &a.member_id, &commit(mine.epoch))
        .await
        .unwrap();
    assert_eq!(done.committed, [(mine.partition, 5)]);
    match groups
        .commit("g", &a.member_id, &commit(mine.epoch + 100))
        .await
    {
        Err(GroupError::Commit(_)) => {}
        other => panic!("a commit at a wrong epoch is fenced: {other:?}"),
    }

    // Resets wait until no member is live.
    match groups.reset_offsets("g", "a.b.c", &[(0, 0)]).await {
        Err(GroupError::Reset(_)) => {}
        other => panic!("a reset while members live is refused: {other:?}"),
    }
    groups.leave("g", &a.member_id).await.unwrap();
    groups.leave("g", &b.member_id).await.unwrap();
    let reset = groups
        .reset_offsets("g", "a.b.c", &[(mine.partition, 2)])
        .await
        .unwrap();
    assert_eq!(reset.changes, [(mine.partition, Some(5), 2)]);

    // A reset creates and binds a group too.
    groups.reset_offsets("r", "q.r.s", &[(0, 1)]).await.unwrap();

    // Bindings and offsets are durable; the group lists under its topic.
    drop(groups);
    let groups = open();
    assert_eq!(
        groups.access("g").await.unwrap(),
        GroupAccess::Bound("a.b.c".into())
    );
    assert_eq!(
        groups.access("r").await.unwrap(),
        GroupAccess::Bound("q.r.s".into())
    );
    let described = groups.describe("g").await.unwrap();
    assert!(described.members.is_empty());
    assert!(
        described
            .committed
            .iter()
            .any(|c| c.partition == mine.partition && c.offset == 2)
    );
    let mut topics = groups.topics().await.unwrap();
    topics.sort();
    assert_eq!(topics, ["a.b.c", "q.r.s"]);
    match groups.join("g", join("x.y.z"), 1).await {
        Err(GroupError::Join(_)) => {}
        other => panic!("the binding survives a reopen: {other:?}"),
    }

    // Deleting frees the name.
    groups.delete_group("g").await.unwrap();
    assert_eq!(groups.access("g").await.unwrap(), GroupAccess::Unknown);
    assert!(groups.join("g", join("x.y.z"), 1).await.is_ok());
    groups.delete_topic("q.r.s").await.unwrap();
    assert_eq!(groups.topics().await.unwrap(), ["x.y.z"]);
}

/// The embedded backends run every suite.
mod embedded {
    use std::path::Path;

    use super::*;
    use crate::group::{Coordinator, EmbeddedGroups, GroupLimits, RedbOffsetStore};
    use crate::log::FsyncPolicy;
    use crate::meta::{EmbeddedMeta, MetaStore};
    use crate::partition::DiskLogs;
    use crate::storage::disk::DiskBackend;

    fn meta(dir: &Path) -> Arc<dyn MetaBackend> {
        Arc::new(EmbeddedMeta::new(MetaStore::open(dir).unwrap()))
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn embedded_meta_meets_the_meta_backend_contract() {
        let dir = tempfile::tempdir().unwrap();
        meta_backend(|| meta(dir.path())).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn disk_logs_meet_the_log_backend_contract() {
        let dir = tempfile::tempdir().unwrap();
        log_backend(|| {
            let disk =
                DiskBackend::new(dir.path().join("topics"), FsyncPolicy::Always, 64).unwrap();
            Arc::new(DiskLogs::new(Arc::new(disk)))
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn embedded_groups_meet_the_group_backend_contract() {
        let dir = tempfile::tempdir().unwrap();
        group_backend(|| {
            let store = MetaStore::open(dir.path()).unwrap();
            let offsets = RedbOffsetStore::new(store.database()).unwrap();
            let coordinator = Coordinator::open(Box::new(offsets), GroupLimits::default()).unwrap();
            Arc::new(EmbeddedGroups::new(
                coordinator,
                crate::service::groups::clock,
            ))
        })
        .await;
    }
}
