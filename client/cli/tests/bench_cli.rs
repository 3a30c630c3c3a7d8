//! `wharf bench` (the real binary) against the real broker: the JSON result accounts for every
//! record the broker stored, the percentiles are ordered, the chart is a PNG. Speed is never
//! asserted.

use std::path::Path;
use std::process::Command;

use wharf_testkit::Broker;
use wharf_testkit::client::client_for;

fn bench(broker: &Broker, args: &[&str]) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("result.json");
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .env("WHARF_URL", &broker.url)
        .env_remove("WHARF_TOKEN")
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&json_path)
        .output()
        .expect("run wharf bench");
    assert!(
        out.status.success(),
        "wharf bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    (String::from_utf8(out.stdout).unwrap(), json)
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn assert_percentiles_ordered(phase: &serde_json::Value) {
    let l = &phase["latency"];
    let seq = [
        u(&l["min_us"]),
        u(&l["p50_us"]),
        u(&l["p90_us"]),
        u(&l["p99_us"]),
        u(&l["p99_9_us"]),
        u(&l["max_us"]),
    ];
    assert!(seq[0] >= 1, "latencies are at least 1 µs: {l}");
    assert!(seq.windows(2).all(|w| w[0] <= w[1]), "unordered: {l}");
}

async fn high_watermarks(broker: &Broker, topic: &str) -> Vec<u64> {
    client_for(&broker.url)
        .describe_topic(topic)
        .await
        .expect("describe the kept bench topic")
        .partition_states
        .iter()
        .map(|p| p.high_watermark)
        .collect()
}

fn is_png(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes.len() > 1000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_run_accounts_for_every_record_the_broker_stored() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart.png");
    let (table, json) = bench(
        &broker,
        &[
            "--records",
            "20000",
            "--topic",
            "bench-test",
            "--keep",
            "--acks",
            "leader",
            "--producers",
            "2",
            "--consumers",
            "3",
            "--chart",
            chart.to_str().unwrap(),
        ],
    );

    // The broker holds exactly what the bench says it produced, spread over all 4 partitions.
    let hw = high_watermarks(&broker, "bench-test").await;
    assert_eq!(hw.len(), 4);
    assert_eq!(hw.iter().sum::<u64>(), 20_000);
    assert!(
        hw.iter().all(|&h| h > 0),
        "sticky batches reach every partition: {hw:?}"
    );

    let phases = json["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2);
    let (produce, consume) = (&phases[0], &phases[1]);
    assert_eq!(produce["phase"], "produce");
    assert_eq!(consume["phase"], "consume");
    for phase in phases {
        assert_eq!(u(&phase["records"]), 20_000);
        assert_eq!(u(&phase["payload_bytes"]), 20_000 * 100);
        assert!(phase["records_per_s"].as_f64().unwrap() > 0.0);
        assert_percentiles_ordered(phase);
    }
    // One produce request per batch of 1000; one latency sample per request.
    assert_eq!(u(&produce["requests"]), 20);
    assert_eq!(u(&produce["latency"]["count"]), 20);
    assert!(u(&consume["requests"]) >= 20);
    assert_eq!(json["config"]["acks"], "leader");
    assert!(is_png(&chart), "chart is a PNG");
    assert!(
        table.contains("produce") && table.contains("p99.9"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_run_reads_back_every_stamped_record_and_deletes_its_topic() {
    let broker = Broker::start();
    let (_, json) = bench(
        &broker,
        &[
            "--mode",
            "end-to-end",
            "--records",
            "5000",
            "--batch-size",
            "250",
            "--values",
            "json",
            "--topic",
            "bench-e2e",
            "--acks",
            "all",
        ],
    );
    let phase = &json["phases"][0];
    assert_eq!(phase["phase"], "end-to-end");
    assert_eq!(u(&phase["records"]), 5000);
    // End-to-end latency is per record.
    assert_eq!(u(&phase["latency"]["count"]), 5000);
    assert_percentiles_ordered(phase);
    // Without --keep the bench removes its topic.
    let topics = client_for(&broker.url).list_topics().await.unwrap();
    assert!(topics.topics.iter().all(|t| t.name != "bench-e2e"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_mode_sends_one_record_per_request() {
    let broker = Broker::start();
    let (_, json) = bench(
        &broker,
        &[
            "--single",
            "--records",
            "300",
            "--acks",
            "all",
            "--topic",
            "bench-single",
            "--keep",
        ],
    );
    let phase = &json["phases"][0];
    assert_eq!(json["phases"].as_array().unwrap().len(), 1);
    assert_eq!(u(&phase["requests"]), 300);
    assert_eq!(u(&phase["latency"]["count"]), 300);
    assert_percentiles_ordered(phase);
    assert_eq!(
        high_watermarks(&broker, "bench-single")
            .await
            .iter()
            .sum::<u64>(),
        300
    );
}

#[test]
fn bad_options_fail_before_creating_a_topic() {
    let broker = Broker::start();
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .env("WHARF_URL", &broker.url)
        .args([
            "bench",
            "--mode",
            "end-to-end",
            "--record-bytes",
            "8",
            "--topic",
            "bench-bad",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--record-bytes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let topics = rt.block_on(client_for(&broker.url).list_topics()).unwrap();
    assert!(topics.topics.is_empty());
}
