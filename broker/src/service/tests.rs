//! The service layer driven without HTTP: a real broker over a temporary data directory (disk
//! log, redb metadata, local blob directory), called as a Rust API.

use std::sync::Arc;

use tokio::sync::watch;
use wharf_proto::api::CreateTopic;

use super::consume::{self, Budget, ConsumeError, OffsetQuery, Resolve};
use super::groups::GroupError;
use super::produce::{Acks, ProduceError, ProduceInput, ProduceStatus, RecordsFormat, produce};
use crate::claim::BrokerClaimCheck;
use crate::config::BrokerConfig;
use crate::group::{CommitError, CommitOffset, JoinRequest, OffsetReset};
use crate::state::{Broker, now_ms};
use crate::storage::StorageError;

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    _stop: watch::Sender<bool>,
    pub(super) broker: Arc<Broker>,
}

pub(super) async fn broker() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig {
        data_dir: dir.path().to_path_buf(),
        ..BrokerConfig::default()
    };
    let claims = BrokerClaimCheck::from_config(&config).await.unwrap();
    let (stop, stopping) = watch::channel(false);
    let broker = Arc::new(Broker::open(config, claims, stopping).await.unwrap());
    let create = CreateTopic {
        name: "orders".into(),
        partitions: 2,
        retention_ms: None,
        retention_bytes: None,
        segment_bytes: None,
        max_record_bytes: Some(1024),
        schema_validation: None,
    };
    broker.topics.create(create, now_ms()).await.unwrap();
    Fixture {
        _dir: dir,
        _stop: stop,
        broker,
    }
}

pub(super) async fn produce_json(
    broker: &Arc<Broker>,
    body: &str,
    key: Option<&str>,
) -> Result<super::produce::ProduceOutcome, ProduceError> {
    let topic = broker.topics.get("orders").unwrap();
    let body = bytes::Bytes::from(body.to_owned());
    let input = ProduceInput {
        body: &body,
        format: RecordsFormat::Json,
        acks: Acks::All,
        idempotency_key: key,
    };
    produce(broker, &topic, input).await
}

fn budget() -> Budget {
    Budget::new(Some(100), None, None, None, 1_000).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn produce_appends_valid_records_and_refuses_bad_ones_alone() {
    let f = broker().await;
    let out = produce_json(
        &f.broker,
        r#"{"records":[{"value":1,"partition":1},{"key":"a"},{"value":{"b": 2},"partition":1}]}"#,
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.status, ProduceStatus::Partial);
    assert_eq!(out.results[0].offset, Some(0));
    assert_eq!(out.results[1].error.as_ref().unwrap().code, "missing_value");
    assert_eq!(out.results[2].offset, Some(1));

    let all_bad = produce_json(&f.broker, r#"{"records":[{"key":"a"}]}"#, None)
        .await
        .unwrap();
    assert_eq!(all_bad.status, ProduceStatus::Refused);
    assert!(matches!(
        produce_json(&f.broker, r#"{"records":[]}"#, None).await,
        Err(ProduceError::EmptyBatch)
    ));
    assert!(matches!(
        produce_json(&f.broker, "[1]", None).await,
        Err(ProduceError::InvalidJson { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_replays_the_first_outcome_and_appends_once() {
    let f = broker().await;
    let body = r#"{"records":[{"value":1,"partition":0}]}"#;
    let first = produce_json(&f.broker, body, Some("k1")).await.unwrap();
    let again = produce_json(&f.broker, body, Some("k1")).await.unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(first.results, again.results);
    let bounds = f
        .broker
        .topics
        .get("orders")
        .unwrap()
        .partition(0)
        .unwrap()
        .offsets();
    assert_eq!(bounds.high_watermark, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_reads_from_an_offset_and_refuses_one_past_the_end() {
    let f = broker().await;
    produce_json(
        &f.broker,
        r#"{"records":[{"value":"a","partition":0},{"value":"b","partition":0}]}"#,
        None,
    )
    .await
    .unwrap();
    let got = consume::fetch(&f.broker, "orders", 0, 1, budget(), Resolve::Pointers)
        .await
        .unwrap();
    assert_eq!(got.batch.records.len(), 1);
    assert_eq!(got.batch.records[0].value.as_ref(), br#""b""#);
    assert_eq!(got.batch.next_offset, 2);
    assert!(matches!(
        consume::fetch(&f.broker, "orders", 0, 3, budget(), Resolve::Pointers).await,
        Err(ConsumeError::Storage(StorageError::OffsetOutOfRange {
            requested: 3,
            ..
        }))
    ));
    assert!(matches!(
        consume::fetch(&f.broker, "orders", 2, 0, budget(), Resolve::Pointers).await,
        Err(ConsumeError::UnknownPartition { partition: 2, .. })
    ));
    let (latest, _) = consume::offset_at(&f.broker, "orders", 0, OffsetQuery::Latest)
        .await
        .unwrap();
    assert_eq!(latest, Some(2));
    assert!(OffsetQuery::parse("-1").is_err());
    assert!(Budget::new(None, Some(consume::MAX_FETCH_BYTES + 1), None, None, 1000).is_err());
    assert!(Budget::new(None, None, Some(1001), None, 1000).is_err());
    assert!(Budget::new(None, Some(10), None, Some(11), 1000).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_polls_its_partitions_commits_and_a_zombie_is_fenced() {
    let f = broker().await;
    produce_json(
        &f.broker,
        r#"{"records":[{"value":1,"partition":0},{"value":2,"partition":1},{"value":3,"partition":1}]}"#,
        None,
    )
    .await
    .unwrap();
    let join = |member: &str| JoinRequest {
        topic: "orders".into(),
        member_id: Some(member.into()),
        lease_ms: 30_000,
        auto_offset_reset: OffsetReset::Earliest,
    };
    let a = f.broker.join_group("g", join("a")).await.unwrap();
    assert_eq!(a.assignments.len(), 2);
    let polled = consume::poll(&f.broker, "g", "a", budget(), Resolve::Pointers)
        .await
        .unwrap();
    let read: usize = polled.partitions.iter().map(|p| p.records.len()).sum();
    assert_eq!(read, 3);
    let p1 = polled.partitions.iter().find(|p| p.partition == 1).unwrap();
    assert_eq!(p1.position, 2);
    let commit = |epoch| {
        vec![CommitOffset {
            topic: "orders".into(),
            partition: 1,
            offset: 2,
            epoch,
        }]
    };
    f.broker
        .commit_offsets("g", "a", commit(p1.epoch))
        .await
        .unwrap();
    let described = f.broker.describe_group("g").await.unwrap();
    let lag: Vec<(Option<u64>, u64)> = described
        .partitions
        .iter()
        .map(|p| (p.committed_offset, p.lag))
        .collect();
    assert_eq!(lag, [(None, 1), (Some(2), 0)]);

    // Once `a` leaves, its epochs are stale: a late commit from it changes nothing.
    f.broker.leave_group("g", "a").await.unwrap();
    f.broker.join_group("g", join("b")).await.unwrap();
    assert!(matches!(
        f.broker.commit_offsets("g", "a", commit(p1.epoch)).await,
        Err(GroupError::Commit(CommitError::Fenced { .. }))
    ));
    let polled = consume::poll(&f.broker, "g", "b", budget(), Resolve::Pointers)
        .await
        .unwrap();
    let p1 = polled.partitions.iter().find(|p| p.partition == 1).unwrap();
    assert!(
        p1.records.is_empty(),
        "b resumes after the committed offset"
    );
    assert!(matches!(
        consume::poll(&f.broker, "g", "nobody", budget(), Resolve::Pointers).await,
        Err(ConsumeError::Member(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_of_a_topic_deleted_before_a_crash_are_forgotten_at_the_next_start() {
    let Fixture {
        _dir: dir,
        _stop: stop,
        broker,
    } = broker().await;
    let join = JoinRequest {
        topic: "orders".into(),
        member_id: Some("a".into()),
        lease_ms: 30_000,
        auto_offset_reset: OffsetReset::Earliest,
    };
    broker.join_group("g", join).await.unwrap();
    // The first step of a delete only, as if the broker died before the second.
    broker.topics.delete("orders").await.unwrap();
    assert!(broker.describe_group("g").await.is_ok());
    let config = broker.config.clone();
    drop(broker);

    let claims = BrokerClaimCheck::from_config(&config).await.unwrap();
    let reopened = Broker::open(config, claims, stop.subscribe())
        .await
        .unwrap();
    assert!(matches!(
        reopened.describe_group("g").await,
        Err(GroupError::Describe(_))
    ));
    drop(dir);
}
