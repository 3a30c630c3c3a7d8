//! The console's message browser and search on a long on-disk log, through the service layer
//! (`service::browse`) the console pages call, without HTTP: a real broker over a temporary data
//! directory, seeded through the produce service's binary batch path (small records: a 12-byte
//! key, a ~40-byte JSON value, one header, increasing timestamps).
//!
//! - `page_100/*`: one page of 100 records merged from all partitions, from the latest N, from
//!   an offset in the middle of the log and from a time in the middle.
//! - `search/records_budget_1m`: a search for text no record holds, budget 1 M records: it scans
//!   exactly 1 M records and stops at the budget (checked before timing).
//! - `search/time_budget_100ms`: the same search with a 100 ms time budget over the whole log:
//!   how far past its budget a search runs (it checks the clock between 1,000-record reads).
//!
//! `cargo bench -p wharf-broker --bench console_browse -- --warm-up-time 1 --measurement-time 5`
//! (`WHARF_BENCH_BROWSE_RECORDS` sets the log's length, 10 M by default; `WHARF_BENCH_DIR` where
//! it is written.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::sync::watch;
use wharf_broker::claim::BrokerClaimCheck;
use wharf_broker::config::BrokerConfig;
use wharf_broker::service::browse::{self, ScanBudget, SearchIn, Start};
use wharf_broker::service::produce::{Acks, ProduceInput, ProduceStatus, RecordsFormat, produce};
use wharf_broker::state::Broker;
use wharf_proto::api::CreateTopic;
use wharf_proto::binary::{Header, ProduceRecord, encode_produce_request};

const TOPIC: &str = "bench.browse.records";
const PARTITIONS: u32 = 4;
/// Records per produce request while seeding.
const BATCH: usize = 10_000;
/// Timestamps start here (2026-12-01) and advance 1 ms per record.
const BASE_TS_MS: i64 = 1_796_083_200_000;

struct Seeded {
    broker: Arc<Broker>,
    records: u64,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

fn records_wanted() -> u64 {
    std::env::var("WHARF_BENCH_BROWSE_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

/// A broker with one topic of `records` records spread round-robin over its partitions.
async fn seed(records: u64) -> Seeded {
    let dir = match std::env::var_os("WHARF_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let config = BrokerConfig {
        data_dir: dir.path().to_owned(),
        log_filter: "warn".to_owned(),
        ..BrokerConfig::default()
    };
    let claims = BrokerClaimCheck::from_config(&config).await.unwrap();
    let (stop, stopping) = watch::channel(false);
    let broker = Arc::new(Broker::open(config, claims, stopping).await.unwrap());
    let topic = broker
        .topics
        .create(
            CreateTopic {
                retention_ms: Some(-1),
                ..CreateTopic::new(TOPIC.to_owned(), PARTITIONS)
            },
            BASE_TS_MS,
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut body = Vec::new();
    let mut next = 0u64;
    while next < records {
        let n = BATCH.min(usize::try_from(records - next).unwrap());
        let batch: Vec<ProduceRecord> = (next..next + n as u64)
            .map(|i| ProduceRecord {
                key: Some(format!("order-{i:06}").into_bytes().into()),
                value: format!(r#"{{"id":{i},"sku":"A-{}","qty":{}}}"#, i % 97, i % 7 + 1)
                    .into_bytes()
                    .into(),
                value_is_json: true,
                headers: vec![Header {
                    name: "trace-id".to_owned(),
                    value: format!("t-{i}").into_bytes().into(),
                }],
                partition: Some(u32::try_from(i % u64::from(PARTITIONS)).unwrap()),
                timestamp_ms: Some(BASE_TS_MS + i64::try_from(i).unwrap()),
            })
            .collect();
        body.clear();
        encode_produce_request(&mut body, &batch);
        let bytes = bytes::Bytes::copy_from_slice(&body);
        let outcome = produce(
            &broker,
            &topic,
            ProduceInput {
                body: &bytes,
                format: RecordsFormat::Binary,
                acks: Acks::Leader,
                idempotency_key: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(outcome.status, ProduceStatus::Appended);
        next += n as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "seeded {records} records in {secs:.1} s ({:.0} records/s)",
        records as f64 / secs
    );
    Seeded {
        broker,
        records,
        _stop: stop,
        _dir: dir,
    }
}

const NOWHERE: &str = "text-no-record-holds";
const EVERYWHERE: SearchIn = SearchIn {
    key: true,
    headers: true,
    value: true,
};

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let seeded = rt.block_on(seed(records_wanted()));
    let broker = &seeded.broker;
    let per_partition = seeded.records / u64::from(PARTITIONS);

    let mut group = c.benchmark_group("page_100");
    for (name, start) in [
        ("latest", Start::Latest(100)),
        ("offset_middle", Start::Offset(per_partition / 2)),
        (
            "time_middle",
            Start::Timestamp(BASE_TS_MS + i64::try_from(seeded.records / 2).unwrap()),
        ),
    ] {
        let page = rt.block_on(async {
            let cursor = browse::start_cursor(broker, TOPIC, None, start)
                .await
                .unwrap();
            browse::page(broker, TOPIC, None, &cursor, 100)
                .await
                .unwrap()
        });
        assert_eq!(page.records.len(), 100, "{name}");
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let cursor = browse::start_cursor(broker, TOPIC, None, start)
                        .await
                        .unwrap();
                    browse::page(broker, TOPIC, None, &cursor, 100)
                        .await
                        .unwrap()
                })
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("search");
    group.sample_size(10);
    let records_budget = ScanBudget {
        max_records: 1_000_000.min(seeded.records),
        max_time: Duration::from_secs(600),
        max_matches: 100,
    };
    let time_budget = ScanBudget {
        max_records: u64::MAX,
        max_time: Duration::from_millis(100),
        max_matches: 100,
    };
    let search = |budget: ScanBudget| async move {
        let cursor = browse::start_cursor(broker, TOPIC, None, Start::Earliest)
            .await
            .unwrap();
        browse::search(broker, TOPIC, None, &cursor, NOWHERE, EVERYWHERE, budget)
            .await
            .unwrap()
    };
    let first = rt.block_on(search(records_budget));
    assert_eq!(first.scanned, records_budget.max_records);
    assert!(first.matches.is_empty());
    assert_eq!(
        first.stopped_at_budget,
        records_budget.max_records < seeded.records
    );
    eprintln!(
        "search, 1 M records budget: scanned {} records in {} ms",
        first.scanned,
        first.elapsed.as_millis()
    );
    group.bench_function("records_budget_1m", |b| {
        b.iter(|| rt.block_on(search(records_budget)));
    });
    let timed = rt.block_on(search(time_budget));
    assert!(timed.stopped_at_budget || timed.scanned == seeded.records);
    eprintln!(
        "search, 100 ms budget: scanned {} records in {} ms",
        timed.scanned,
        timed.elapsed.as_millis()
    );
    group.bench_function("time_budget_100ms", |b| {
        b.iter(|| rt.block_on(search(time_budget)));
    });
    group.finish();
}

criterion_group!(browse_benches, benches);
criterion_main!(browse_benches);
