//! The whole HTTP path in one process: an in-process broker ([`wharf_broker::run`] on port 0,
//! its own tokio runtime) and a `wharf-client` [`Client`] producing 1,000-record batches of
//! 100-byte values (`acks=leader`) and fetching 1,000 records, in the binary and the JSON
//! encoding. Reports records/s per request type.
//!
//! `cargo bench -p wharf-broker --bench http_path -- --warm-up-time 1 --measurement-time 3`
//! (set `WHARF_BENCH_DIR` to put the data directory on a particular disk).

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wharf_broker::config::{BrokerConfig, FsyncPolicy};
use wharf_client::{Acks, Client, ClientConfig, Encoding, FetchOptions, Record};
use wharf_proto::api::CreateTopic;

const RECORDS: usize = 1_000;
const VALUE_BYTES: usize = 100;

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("WHARF_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(PathBuf::from(d)).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

/// A broker serving on its own runtime until the returned sender is dropped.
struct InProcess {
    url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn start_broker() -> InProcess {
    let dir = bench_dir();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = BrokerConfig {
        data_dir: dir.path().to_owned(),
        log_filter: "warn".to_owned(),
        fsync: FsyncPolicy::GroupCommit,
        ..BrokerConfig::default()
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = wharf_broker::run(listener, config, shutdown).await {
            eprintln!("broker stopped with an error: {e}");
        }
    });
    InProcess {
        url,
        _stop: stop,
        _runtime: runtime,
        _dir: dir,
    }
}

fn http_path(c: &mut Criterion) {
    let broker = start_broker();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = Client::new(ClientConfig::new(broker.url.clone())).unwrap();
    rt.block_on(async {
        for _ in 0..100 {
            if base.health().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        base.create_topic(&CreateTopic {
            name: "bench".into(),
            partitions: 1,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            max_record_bytes: None,
            schema_validation: None,
        })
        .await
        .unwrap();
    });
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| Record::bytes(vec![b'a' + (i % 26) as u8; VALUE_BYTES]))
        .collect();

    let mut g = c.benchmark_group("http_1000x100B");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for (name, encoding) in [("binary", Encoding::Binary), ("json", Encoding::Json)] {
        let client = base.clone().with_encoding(encoding);
        g.bench_function(format!("produce_leader/{name}"), |b| {
            // Encoding the request is part of the path a client pays for.
            b.iter(|| {
                rt.block_on(client.produce_records("bench", &records, Acks::Leader, None))
                    .unwrap()
            })
        });
        g.bench_function(format!("fetch/{name}"), |b| {
            let options = FetchOptions {
                max_records: Some(RECORDS),
                max_bytes: Some(RECORDS * (VALUE_BYTES * 2 + 256)),
                ..FetchOptions::at(0)
            };
            b.iter(|| {
                let batch = rt.block_on(client.fetch("bench", 0, options)).unwrap();
                assert_eq!(batch.records.len(), RECORDS);
                batch
            })
        });
    }
    g.finish();
}

criterion_group!(benches, http_path);
criterion_main!(benches);
