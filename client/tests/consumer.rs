//! The group consumer against the real broker: join/poll/commit, heartbeats while working,
//! leaving on drop, re-joining after a fenced commit, commit-after-poll, the resolve seam.
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use wharf_client::{
    Client, CommitMode, Consumer, ConsumerConfig, ConsumerRecord, Heartbeat, HookError, Producer,
    ProducerConfig, Record, ResolveHook,
};
use wharf_testkit::Broker;
use wharf_testkit::client::{client_for, create_topic, eventually};

const WAIT: Duration = Duration::from_secs(30);

async fn produce_numbers(client: &Client, topic: &str, n: usize) {
    let producer = Producer::new(client.clone(), ProducerConfig::default());
    let records = (0..n).map(|i| {
        Record::json(&serde_json::json!({"n": i}))
            .unwrap()
            .with_key(format!("key-{i}"))
            .with_header("seq", i.to_string())
    });
    for r in producer.send_all(topic, records).await {
        r.unwrap();
    }
    producer.close().await.unwrap();
}

/// Polls until `n` records arrived in total.
async fn poll_n(consumer: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, async {
        while out.len() < n {
            out.extend(consumer.poll().await.unwrap());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("polled only {} of {n} records", out.len()));
    out
}

fn config(group: &str, topic: &str) -> ConsumerConfig {
    ConsumerConfig {
        poll_wait_ms: 200,
        ..ConsumerConfig::new(group, topic)
    }
}

/// Marks every record it sees, standing in for the claim-check resolver.
#[derive(Debug)]
struct Marker;

impl ResolveHook for Marker {
    fn resolve(
        &self,
        mut record: ConsumerRecord,
    ) -> BoxFuture<'_, Result<ConsumerRecord, HookError>> {
        Box::pin(async move {
            record.headers.insert("resolved".into(), "yes".into());
            Ok(record)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_poll_and_commit_deliver_every_record_and_record_the_offsets() {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    create_topic(&client, "orders", 2).await;
    produce_numbers(&client, "orders", 10).await;

    let mut consumer = Consumer::join_with(
        client.clone(),
        config("billing", "orders"),
        Some(Arc::new(Marker)),
    )
    .await
    .unwrap();
    assert_eq!(
        consumer.assignments().len(),
        2,
        "the first member owns every partition"
    );
    let records = poll_n(&mut consumer, 10).await;
    let mut numbers: Vec<i64> = records
        .iter()
        .map(|r| {
            r.json::<serde_json::Value>().unwrap()["n"]
                .as_i64()
                .unwrap()
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..10).collect::<Vec<i64>>());
    for r in &records {
        assert_eq!(r.topic, "orders");
        let n = r.json::<serde_json::Value>().unwrap()["n"]
            .as_u64()
            .unwrap();
        assert_eq!(r.key_text(), Some(format!("key-{n}").as_str()));
        assert_eq!(r.headers["seq"], n.to_string());
        assert_eq!(
            r.headers["resolved"], "yes",
            "records pass the resolve hook"
        );
        assert!(r.timestamp_ms > 0);
        assert!(r.epoch.is_some());
    }

    let outcome = consumer.commit().await.unwrap();
    assert!(outcome.revoked.is_empty());
    assert_eq!(outcome.committed.len(), 2);
    let group = client.describe_group("billing").await.unwrap();
    for p in &group.partitions {
        assert_eq!(p.committed_offset, Some(p.high_watermark), "{group:?}");
        assert_eq!(p.lag, 0);
    }
    let listed = client.list_groups().await.unwrap();
    assert!(listed.groups.iter().any(|g| g.group == "billing"));
    consumer.shutdown().await.unwrap();

    // A later member of the group continues after the committed offsets.
    let mut next = Consumer::join(client.clone(), config("billing", "orders"))
        .await
        .unwrap();
    assert!(next.poll().await.unwrap().is_empty());
    produce_numbers(&client, "orders", 1).await;
    let more = poll_n(&mut next, 1).await;
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].json::<serde_json::Value>().unwrap()["n"], 0);
    next.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_working_longer_than_its_lease_keeps_its_partitions_by_heartbeating() {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    create_topic(&client, "slow", 2).await;
    produce_numbers(&client, "slow", 4).await;
    let mut consumer = Consumer::join(
        client.clone(),
        ConsumerConfig {
            lease_ms: 2_000,
            heartbeat: Heartbeat::EveryMs(300),
            ..config("workers", "slow")
        },
    )
    .await
    .unwrap();
    let before: Vec<u64> = consumer.assignments().iter().map(|a| a.epoch).collect();
    poll_n(&mut consumer, 4).await;
    // "Work" for more than two leases without calling the broker.
    tokio::time::sleep(Duration::from_millis(5_000)).await;
    let outcome = consumer.commit().await.unwrap();
    assert!(outcome.revoked.is_empty(), "{outcome:?}");
    assert_eq!(outcome.committed.len(), 2);
    let after: Vec<u64> = consumer.assignments().iter().map(|a| a.epoch).collect();
    assert_eq!(before, after, "ownership never changed");
    consumer.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_consumer_leaves_the_group_at_once() {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    create_topic(&client, "t", 1).await;
    let consumer = Consumer::join(
        client.clone(),
        ConsumerConfig {
            lease_ms: 120_000,
            ..config("droppers", "t")
        },
    )
    .await
    .unwrap();
    assert_eq!(
        client
            .describe_group("droppers")
            .await
            .unwrap()
            .members
            .len(),
        1
    );
    drop(consumer);
    // Far sooner than the two-minute lease could lapse.
    eventually(Duration::from_secs(20), "the member to leave", || async {
        client
            .describe_group("droppers")
            .await
            .map(|g| g.members.is_empty())
            .unwrap_or(true)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_commit_rejoins_and_the_records_go_to_the_new_owner_again() {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    create_topic(&client, "fenced", 2).await;
    produce_numbers(&client, "fenced", 8).await;

    let mut a = Consumer::join(
        client.clone(),
        ConsumerConfig {
            lease_ms: 1_000,
            heartbeat: Heartbeat::Off,
            ..config("g", "fenced")
        },
    )
    .await
    .unwrap();
    poll_n(&mut a, 8).await;
    // A stalls past its lease without heartbeats; B joins and takes every partition.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let mut b = Consumer::join(client.clone(), config("g", "fenced"))
        .await
        .unwrap();
    assert_eq!(b.assignments().len(), 2);

    let outcome = a.commit().await.unwrap();
    assert!(outcome.committed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.revoked, vec![0, 1]);
    assert!(a.uncommitted().is_empty());
    let group = client.describe_group("g").await.unwrap();
    assert_eq!(group.members.len(), 2, "A re-joined: {group:?}");
    assert!(
        group
            .partitions
            .iter()
            .all(|p| p.committed_offset.is_none())
    );

    // B's next poll hands one partition to A, which reads it again from the start.
    b.poll().await.unwrap();
    let mut a_records = Vec::new();
    tokio::time::timeout(WAIT, async {
        while a_records.is_empty() {
            a_records = a.poll().await.unwrap();
        }
    })
    .await
    .expect("A gets a partition back");
    let p = a_records[0].partition;
    assert_eq!(
        a_records[0].offset, 0,
        "uncommitted records are delivered again"
    );
    assert!(
        b.assignments().iter().all(|x| x.partition != p),
        "one owner per partition"
    );
    let outcome = a.commit().await.unwrap();
    assert!(outcome.revoked.is_empty(), "{outcome:?}");
    assert_eq!(outcome.committed[0].partition, p);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_poll_mode_commits_each_batch_when_the_next_is_asked_for() {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    create_topic(&client, "auto", 1).await;
    produce_numbers(&client, "auto", 6).await;
    let committed = |client: Client| async move {
        client.describe_group("auto-g").await.unwrap().partitions[0].committed_offset
    };
    let mut consumer = Consumer::join(
        client.clone(),
        ConsumerConfig {
            max_records: 3,
            commit_mode: CommitMode::AfterPoll,
            ..config("auto-g", "auto")
        },
    )
    .await
    .unwrap();
    assert_eq!(consumer.poll().await.unwrap().len(), 3);
    assert_eq!(committed(client.clone()).await, None);
    assert_eq!(consumer.poll().await.unwrap().len(), 3);
    assert_eq!(committed(client.clone()).await, Some(3));
    consumer.shutdown().await.unwrap();
    assert_eq!(committed(client.clone()).await, Some(6));
}
