//! The PostgreSQL backends against a real server (`WHARF_TEST_POSTGRES_URL`, from
//! `infra/local/postgres.sh up`), each test in a database of its own: the conformance suites,
//! and two "gateways" (two backend instances with pools of their own) over one database.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::NoTls;
use wharf_proto::api::ProduceResult;

use super::PgCoordination;
use crate::group::{CommitError, CommitOffset, GroupLimits, JoinRequest, OffsetReset};
use crate::meta::StoredProduce;
use crate::service::backend::conformance::{group_backend, meta_backend};
use crate::service::backend::{GroupBackend, Leadership, MetaBackend};
use crate::service::groups::GroupError;
use crate::service::produce::ProduceStatus;

/// A new, empty database on the test server.
async fn fresh_database() -> tokio_postgres::Config {
    let url = std::env::var("WHARF_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "WHARF_TEST_POSTGRES_URL is not set: the PostgreSQL backend's tests need a real \
             server; start one with `eval \"$(bash infra/local/postgres.sh up)\"`"
        )
    });
    let admin: tokio_postgres::Config = url.parse().expect("WHARF_TEST_POSTGRES_URL parses");
    let (client, connection) = admin
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach WHARF_TEST_POSTGRES_URL={url}: {e}"));
    tokio::spawn(connection);
    let name = format!("wharf_test_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let mut config = admin;
    config.dbname(&name);
    config
}

/// An admin session on the test database, for what a test does behind the backends' backs.
async fn admin(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config.connect(NoTls).await.expect("admin connection");
    tokio::spawn(connection);
    client
}

fn limits() -> GroupLimits {
    GroupLimits {
        min_lease_ms: 1,
        ..GroupLimits::default()
    }
}

/// One gateway's backends over the database.
async fn gateway(config: &tokio_postgres::Config) -> PgCoordination {
    PgCoordination::open_with(config.clone(), 8, limits())
        .await
        .expect("open postgres coordination")
}

/// Opens a gateway from inside a synchronous `open` closure of the conformance suites.
fn gateway_blocking(config: &tokio_postgres::Config) -> PgCoordination {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(gateway(config)))
}

#[tokio::test(flavor = "multi_thread")]
async fn pg_meta_meets_the_meta_backend_contract() {
    let config = fresh_database().await;
    meta_backend(|| Arc::new(gateway_blocking(&config).meta) as Arc<dyn MetaBackend>).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pg_groups_meet_the_group_backend_contract() {
    let config = fresh_database().await;
    group_backend(|| Arc::new(gateway_blocking(&config).groups) as Arc<dyn GroupBackend>).await;
}

fn outcome(offset: u64) -> StoredProduce {
    StoredProduce {
        status: ProduceStatus::Appended,
        results: vec![ProduceResult {
            partition: Some(0),
            offset: Some(offset),
            ..ProduceResult::default()
        }],
        created_at_ms: 1,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_claim_on_one_gateway_blocks_the_other_until_completed() {
    let config = fresh_database().await;
    let a: Arc<dyn MetaBackend> = Arc::new(gateway(&config).await.meta);
    let b: Arc<dyn MetaBackend> = Arc::new(gateway(&config).await.meta);

    let first = a.claim_idempotency("t\0key").await.unwrap();
    assert!(first.stored.is_none());
    let retry = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { b.claim_idempotency("t\0key").await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!retry.is_finished(), "the retry on B waits for A's claim");
    a.complete_idempotency(first.hold, "t\0key", outcome(7))
        .await
        .unwrap();
    let replay = tokio::time::timeout(Duration::from_secs(10), retry)
        .await
        .expect("the retry runs once A completed")
        .unwrap();
    assert_eq!(replay.stored, Some(outcome(7)), "B replays A's answer");
    drop(replay);

    // A claim whose holder goes away without an outcome (its request failed, its gateway
    // died) lets the next claim run, on the other gateway, with the intent it left.
    let dying = a.claim_idempotency("t\0other").await.unwrap();
    let waiter = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { b.claim_idempotency("t\0other").await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished());
    drop(dying);
    let next = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("a dropped hold releases the key")
        .unwrap();
    assert!(next.stored.is_none());
}

fn join(member: &str, lease_ms: u64) -> JoinRequest {
    JoinRequest {
        topic: "a.b.c".into(),
        member_id: Some(member.into()),
        lease_ms,
        auto_offset_reset: OffsetReset::Earliest,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_joined_on_one_gateway_commits_through_another() {
    let config = fresh_database().await;
    let a = gateway(&config).await.groups;
    let b = gateway(&config).await.groups;
    let member = a.join("g", join("m", 30_000), 2).await.unwrap();
    assert_eq!(member.assignments.len(), 2);
    let offsets: Vec<CommitOffset> = member
        .assignments
        .iter()
        .map(|x| CommitOffset {
            topic: "a.b.c".into(),
            partition: x.partition,
            offset: 10 + u64::from(x.partition),
            epoch: x.epoch,
        })
        .collect();
    let done = b.commit("g", "m", &offsets).await.unwrap();
    assert_eq!(done.committed, [(0, 10), (1, 11)]);
    let seen = a.heartbeat("g", "m", 2).await.unwrap();
    let committed: Vec<_> = seen
        .assignments
        .iter()
        .map(|x| x.committed_offset)
        .collect();
    assert_eq!(committed, [Some(10), Some(11)], "A sees what B committed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zombie_commit_is_fenced_after_another_gateway_took_over() {
    let config = fresh_database().await;
    let a = gateway(&config).await.groups;
    let b = gateway(&config).await.groups;
    let zombie = a.join("g", join("old", 200), 1).await.unwrap();
    let stale = zombie.assignments[0].epoch;
    // The old member's lease lapses (database clock); a new member joins through B.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fresh = b.join("g", join("new", 30_000), 1).await.unwrap();
    assert_eq!(
        fresh.assignments.len(),
        1,
        "the lapsed member's partition moved"
    );
    assert_ne!(fresh.assignments[0].epoch, stale);
    let commit = |epoch| {
        vec![CommitOffset {
            topic: "a.b.c".into(),
            partition: 0,
            offset: 5,
            epoch,
        }]
    };
    match a.commit("g", "old", &commit(stale)).await {
        Err(GroupError::Commit(CommitError::Fenced { .. })) => {}
        other => panic!("the zombie's commit is fenced: {other:?}"),
    }
    // Not even under the new owner's name with the old epoch.
    match a.commit("g", "new", &commit(stale)).await {
        Err(GroupError::Commit(CommitError::Fenced { .. })) => {}
        other => panic!("a stale epoch is fenced for the new owner too: {other:?}"),
    }
    b.commit("g", "new", &commit(fresh.assignments[0].epoch))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_joins_through_two_gateways_never_grant_a_partition_twice() {
    let config = fresh_database().await;
    let gateways: Vec<Arc<dyn GroupBackend>> = vec![
        Arc::new(gateway(&config).await.groups),
        Arc::new(gateway(&config).await.groups),
    ];
    let joins: Vec<_> = (0..8)
        .map(|i| {
            let g = Arc::clone(&gateways[i % 2]);
            tokio::spawn(async move { g.join("g", join(&format!("m{i}"), 30_000), 16).await })
        })
        .collect();
    for j in joins {
        j.await.unwrap().unwrap();
    }
    // Two rounds of heartbeats through alternating gateways settle the cooperative rebalance.
    let mut owned = Vec::new();
    for round in 0..2 {
        owned.clear();
        for i in 0..8 {
            let view = gateways[(i + round) % 2]
                .heartbeat("g", &format!("m{i}"), 16)
                .await
                .unwrap();
            owned.extend(view.assignments.iter().map(|x| (x.partition, x.epoch)));
        }
    }
    let mut partitions: Vec<u32> = owned.iter().map(|&(p, _)| p).collect();
    partitions.sort_unstable();
    assert_eq!(partitions, (0..16).collect::<Vec<_>>(), "one owner each");
    let mut epochs: Vec<u64> = owned.iter().map(|&(_, e)| e).collect();
    epochs.sort_unstable();
    epochs.dedup();
    assert_eq!(epochs.len(), 16, "epochs count per group and never repeat");
}

/// The backend pid holding the leadership lock of the test database, if any.
async fn leader_pid(admin: &tokio_postgres::Client) -> Option<i32> {
    admin
        .query_opt(
            "SELECT pid FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND objsubid = 1
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}

/// Asks until `leadership` leads (the server notices a closed session asynchronously).
async fn becomes_leader(leadership: &dyn Leadership) -> bool {
    for _ in 0..100 {
        if leadership.is_leader().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn one_gateway_leads_at_a_time_and_leadership_moves_when_its_session_drops() {
    let config = fresh_database().await;
    let admin = admin(&config).await;
    let a = gateway(&config).await.leader;
    let b = gateway(&config).await.leader;
    let c = gateway(&config).await.leader;
    assert!(a.is_leader().await);
    assert!(!b.is_leader().await, "only one holder");
    assert!(a.is_leader().await, "the holder keeps leading");
    assert!(!b.is_leader().await);

    // A's connection is cut (as when its gateway's network or process dies): B takes over,
    // and A, reconnected, no longer leads.
    let pid = leader_pid(&admin).await.expect("someone holds the lock");
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    assert!(becomes_leader(&b).await, "leadership moves to B");
    assert!(!a.is_leader().await, "A lost leadership with its session");

    // Dropping the leader ends its session too.
    drop(b);
    assert!(becomes_leader(&c).await, "leadership moves to C");
    assert!(!a.is_leader().await);
}
