//! SIGKILL while several producers write with `acks=all`: every acknowledged record must be at
//! its offset with its payload after the restart, and no offset may ever hold two different
//! records (which is what reusing the offset of a lost acknowledged record would look like).
//!
//! Five rounds in the test suite; `infra/bench/crash.sh` runs the same test for 100 rounds
//! (`WHARF_CRASH_ROUNDS`) and prints its figures.
mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Api, start_broker};
use rand::Rng;
use serde_json::{Value, json};

/// Kill-and-restart rounds: `WHARF_CRASH_ROUNDS`, else five.
fn rounds() -> usize {
    std::env::var("WHARF_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}
const PRODUCERS: usize = 4;
const PARTITIONS: u32 = 3;
const TOPIC: &str = "crash";

/// (partition, offset, payload) of one acknowledged record.
type Ack = (u32, u64, String);

/// Posts batches with `acks=all` until the broker stops answering; returns what was acked.
fn produce_until_killed(
    url: String,
    round: usize,
    producer: usize,
    acked_count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Vec<Ack> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut acks = Vec::new();
    let mut rng = rand::rng();
    for batch in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let size = rng.random_range(1..=6);
        let records: Vec<Value> = (0..size)
            .map(|i| {
                let payload = format!("r{round}-p{producer}-b{batch}-{i}");
                // Explicit, keyed and keyless placement all go through the same append path.
                match i % 3 {
                    0 => json!({"value": payload, "partition": (producer + batch) as u32 % PARTITIONS}),
                    1 => json!({"key": payload.clone(), "value": payload}),
                    _ => json!({"value": payload}),
                }
            })
            .collect();
        let sent: Vec<String> = records
            .iter()
            .map(|r| r["value"].as_str().unwrap().to_owned())
            .collect();
        let response = http
            .post(format!("{url}/v1/topics/{TOPIC}/records?acks=all"))
            .json(&json!({ "records": records }))
            .send();
        // A refused connection or a cut-off reply: the broker is gone; nothing here was acked.
        let Ok(response) = response else { break };
        if response.status().as_u16() != 200 {
            break;
        }
        let Ok(body) = response.json::<Value>() else {
            break;
        };
        let results = body["results"].as_array().expect("results");
        assert_eq!(results.len(), sent.len());
        for (result, payload) in results.iter().zip(sent) {
            acks.push((
                result["partition"].as_u64().unwrap() as u32,
                result["offset"].as_u64().unwrap(),
                payload,
            ));
        }
        acked_count.fetch_add(results.len(), Ordering::Relaxed);
    }
    acks
}

#[test]
fn every_record_acked_with_acks_all_survives_sigkill_in_every_round() {
    let rounds = rounds();
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start_broker(dir.path(), &[]);
    Api::new(&broker.url).create_topic(TOPIC, PARTITIONS);
    let mut rng = rand::rng();
    // Every acknowledged record of every round, by (partition, offset).
    let mut acked: HashMap<(u32, u64), String> = HashMap::new();
    let started = Instant::now();
    // Per round: from the restart after the kill to the broker answering (recovery included).
    let mut restart_ms = Vec::with_capacity(rounds);

    for round in 0..rounds {
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (url, count, stop) =
                    (broker.url.clone(), Arc::clone(&count), Arc::clone(&stop));
                std::thread::spawn(move || produce_until_killed(url, round, p, count, stop))
            })
            .collect();
        // Let some acks happen, then kill at a random moment while requests are in flight.
        let warmup = Instant::now() + Duration::from_secs(10);
        while count.load(Ordering::Relaxed) < 20 && Instant::now() < warmup {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
        broker.kill();
        stop.store(true, Ordering::Relaxed);
        let mut round_acks = Vec::new();
        for p in producers {
            round_acks.extend(p.join().expect("producer thread"));
        }
        assert!(
            round_acks.len() >= 20,
            "round {round}: only {} acks before the kill",
            round_acks.len()
        );
        for (partition, offset, payload) in round_acks {
            if let Some(earlier) = acked.insert((partition, offset), payload.clone()) {
                panic!(
                    "round {round}: offset {offset} of partition {partition} was acked for \
                     {earlier:?} and again for {payload:?}"
                );
            }
        }

        let restarting = Instant::now();
        broker.restart();
        restart_ms.push(restarting.elapsed().as_secs_f64() * 1e3);
        let api = Api::new(&broker.url);
        let mut seen_payloads = HashSet::new();
        for partition in 0..PARTITIONS {
            let log: HashMap<u64, String> = api
                .fetch_all(TOPIC, partition)
                .into_iter()
                .map(|r| {
                    let payload = r["value"].as_str().unwrap().to_owned();
                    assert!(
                        seen_payloads.insert(payload.clone()),
                        "{payload} is stored twice"
                    );
                    (r["offset"].as_u64().unwrap(), payload)
                })
                .collect();
            for ((p, offset), payload) in &acked {
                if *p == partition {
                    assert_eq!(
                        log.get(offset),
                        Some(payload),
                        "round {round}: acked record lost or changed at partition {p} offset {offset}"
                    );
                }
            }
        }
    }
    assert!(acked.len() >= rounds * 20);
    restart_ms.sort_by(f64::total_cmp);
    let median = restart_ms[restart_ms.len() / 2];
    let max = restart_ms[restart_ms.len() - 1];
    // One line for infra/bench/crash.sh to quote; nothing acknowledged was lost if we got here.
    eprintln!(
        "crash figures: rounds={rounds} acked_records={} lost=0 \
         restart_ms_median={median:.0} restart_ms_max={max:.0} total_s={:.0}",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
}
