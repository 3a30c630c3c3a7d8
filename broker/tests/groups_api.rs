//! Consumer groups on the real binary: leases, fair assignment, fencing, durability of
//! committed offsets, resets, and an at-least-once run with a consumer that dies mid-batch.
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Api, assert_error, start_broker};
use serde_json::{Value, json};

fn join(api: &Api, group: &str, topic: &str, lease_ms: u64) -> Value {
    let (status, body) = api.post(
        &format!("/v1/groups/{group}/members"),
        &json!({"topic": topic, "lease_ms": lease_ms}),
    );
    assert_eq!(status, 200, "{body}");
    body
}

fn heartbeat(api: &Api, group: &str, member: &str) -> Value {
    let (status, body) = api.post(
        &format!("/v1/groups/{group}/members/{member}/heartbeat"),
        &json!({}),
    );
    assert_eq!(status, 200, "{body}");
    body
}

fn partitions_of(member: &Value) -> BTreeSet<u64> {
    member["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["partition"].as_u64().unwrap())
        .collect()
}

fn epoch_of(member: &Value, partition: u64) -> u64 {
    member["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["partition"] == partition)
        .map(|a| a["epoch"].as_u64().unwrap())
        .unwrap()
}

fn commit(
    api: &Api,
    group: &str,
    member: &str,
    topic: &str,
    p: u64,
    offset: u64,
    epoch: u64,
) -> (u16, Value) {
    api.post(
        &format!("/v1/groups/{group}/offsets"),
        &json!({"member_id": member, "offsets": [{"topic": topic, "partition": p, "offset": offset, "epoch": epoch}]}),
    )
}

fn committed(api: &Api, group: &str) -> BTreeMap<u64, Option<u64>> {
    let (status, body) = api.get(&format!("/v1/groups/{group}"));
    assert_eq!(status, 200, "{body}");
    body["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["partition"].as_u64().unwrap(),
                p["committed_offset"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn partitions_are_shared_fairly_moved_on_lapse_and_stale_commits_are_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("events", 4);
    let (status, _) = api.produce(
        "events",
        json!([{"value": 1, "partition": 0}, {"value": 2, "partition": 0}]),
    );
    assert_eq!(status, 200);

    // One member owns every partition.
    let a = join(&api, "g", "events", 1_000);
    let a_id = a["member_id"].as_str().unwrap().to_owned();
    assert_eq!(partitions_of(&a), BTreeSet::from([0, 1, 2, 3]));
    let a_epoch_0 = epoch_of(&a, 0);

    // A second member joins with a long lease; after heartbeats they hold 2 and 2, no overlap.
    let b = join(&api, "g", "events", 60_000);
    let b_id = b["member_id"].as_str().unwrap().to_owned();
    assert!(
        partitions_of(&b).is_empty(),
        "no partition may have two owners at once"
    );
    let a = heartbeat(&api, "g", &a_id);
    let b = heartbeat(&api, "g", &b_id);
    let (pa, pb) = (partitions_of(&a), partitions_of(&b));
    assert_eq!((pa.len(), pb.len()), (2, 2), "a={pa:?} b={pb:?}");
    assert!(pa.is_disjoint(&pb));

    // The owner of partition 0 commits; a commit with an old epoch is fenced and changes nothing.
    let (owner, owner_view) = if pa.contains(&0) {
        (&a_id, &a)
    } else {
        (&b_id, &b)
    };
    let epoch = epoch_of(owner_view, 0);
    let (status, body) = commit(&api, "g", owner, "events", 0, 1, epoch);
    assert_eq!(status, 200, "{body}");
    if owner != &a_id || epoch != a_epoch_0 {
        let (status, body) = commit(&api, "g", &a_id, "events", 0, 2, a_epoch_0);
        assert_error(status, &body, 409, "fenced");
    }
    let non_owner = if owner == &a_id { &b_id } else { &a_id };
    let (status, body) = commit(&api, "g", non_owner, "events", 0, 2, epoch);
    assert_error(status, &body, 409, "fenced");
    assert_eq!(
        committed(&api, "g")[&0],
        Some(1),
        "fenced commits changed nothing"
    );

    // A's 1 s lease lapses: its partitions move to B at B's next heartbeat.
    std::thread::sleep(Duration::from_millis(1_500));
    let b = heartbeat(&api, "g", &b_id);
    assert_eq!(partitions_of(&b), BTreeSet::from([0, 1, 2, 3]));
    let (status, body) = commit(&api, "g", &a_id, "events", 0, 2, a_epoch_0);
    assert_error(status, &body, 409, "fenced");
    let (status, body) = api.post(
        &format!("/v1/groups/g/members/{a_id}/heartbeat"),
        &json!({}),
    );
    assert_error(status, &body, 404, "unknown_member");

    // Reset is refused while a member is live, allowed after it leaves.
    let (status, body) = api
        .request(reqwest::Method::PUT, "/v1/groups/g/offsets")
        .json(&json!({"topic": "events", "to": "latest"}))
        .send()
        .map(|r| (r.status().as_u16(), r.json::<Value>().unwrap()))
        .unwrap();
    assert_error(status, &body, 409, "members_live");
    let (status, _) = api.delete(&format!("/v1/groups/g/members/{b_id}"));
    assert_eq!(status, 204);
    let (status, body) = api
        .request(reqwest::Method::PUT, "/v1/groups/g/offsets")
        .json(&json!({"topic": "events", "to": {"offsets": [{"partition": 0, "offset": 2}]}}))
        .send()
        .map(|r| (r.status().as_u16(), r.json::<Value>().unwrap()))
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(committed(&api, "g")[&0], Some(2));
}

#[test]
fn committed_offsets_survive_sigkill_and_poll_resumes_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("orders", 1);
    let records: Vec<Value> = (0..10).map(|i| json!({"value": i})).collect();
    assert_eq!(api.produce("orders", Value::Array(records)).0, 200);

    let m = join(&api, "billing", "orders", 30_000);
    let id = m["member_id"].as_str().unwrap().to_owned();
    let (polled, got) = api.poll_offsets("billing", &id, &json!({"max_records": 4}));
    assert_eq!(got, vec![0, 1, 2, 3]);
    assert_eq!(polled["records"][0]["topic"], "orders");
    let epoch = polled["partitions"][0]["epoch"].as_u64().unwrap();
    let (status, body) = commit(&api, "billing", &id, "orders", 0, 4, epoch);
    assert_eq!(status, 200, "{body}");

    let metrics = reqwest::blocking::get(format!("{}/metrics", broker.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("wharf_group_lag{")
            && l.contains(r#"group="billing""#)
            && l.ends_with(" 6")),
        "lag 10 - 4 = 6 is exported: {metrics}"
    );
    let (_, described) = api.get("/v1/groups/billing");
    assert_eq!(described["partitions"][0]["lag"], 6, "{described}");

    broker.restart();
    let api = Api::new(&broker.url);
    assert_eq!(
        committed(&api, "billing")[&0],
        Some(4),
        "an acknowledged commit survives kill -9"
    );
    let m = join(&api, "billing", "orders", 30_000);
    let id = m["member_id"].as_str().unwrap().to_owned();
    let (_, polled) = api.post(
        &format!("/v1/groups/billing/members/{id}/poll"),
        &json!({"max_records": 100}),
    );
    let first = polled["records"][0]["offset"].as_u64().unwrap();
    assert_eq!(first, 4, "a new member resumes from the committed offset");
}

#[test]
fn poll_long_waits_across_partitions_and_wakes_on_append() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("ticks", 3);
    let m = join(&api, "watchers", "ticks", 30_000);
    let id = m["member_id"].as_str().unwrap().to_owned();
    let url = broker.url.clone();
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        Api::new(&url).produce("ticks", json!([{"value": "tick", "partition": 2}]))
    });
    let started = Instant::now();
    let (status, polled) = api.post(
        &format!("/v1/groups/watchers/members/{id}/poll"),
        &json!({"wait_ms": 20_000}),
    );
    assert_eq!(status, 200, "{polled}");
    assert_eq!(producer.join().unwrap().0, 200);
    assert_eq!(polled["records"][0]["partition"], 2);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the poll woke on the append, not at the end of its wait"
    );
}

/// 4 consumers share 100 000 records; one dies mid-batch without committing. Every record is
/// processed at least once, and the batches whose commit was accepted cover every offset.
#[test]
fn at_least_once_with_a_consumer_killed_mid_batch() {
    const RECORDS: u64 = 100_000;
    const PARTITIONS: u64 = 4;
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[("WHARF_FSYNC", "never")]);
    let api = Api::new(&broker.url);
    api.create_topic("load", PARTITIONS as u32);
    for chunk in 0..(RECORDS / 5_000) {
        let batch: Vec<Value> = (0..5_000)
            .map(|i| {
                let n = chunk * 5_000 + i;
                json!({"value": n, "partition": n % PARTITIONS})
            })
            .collect();
        let (status, body) = api.post(
            "/v1/topics/load/records?acks=leader",
            &json!({"records": batch}),
        );
        assert_eq!(status, 200, "{body}");
    }

    // (partition, offset) of every record handed to a handler, and of committed batches.
    let processed: Arc<Mutex<HashMap<(u64, u64), u32>>> = Arc::default();
    let committed_batches: Arc<Mutex<BTreeSet<(u64, u64)>>> = Arc::default();
    let url = broker.url.clone();
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let url = url.clone();
            let processed = Arc::clone(&processed);
            let committed_batches = Arc::clone(&committed_batches);
            std::thread::spawn(move || {
                let api = Api::new(&url);
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut member = join(&api, "workers", "load", 1_000)["member_id"].as_str().unwrap().to_owned();
                let mut polls = 0;
                let mut idle = 0;
                while Instant::now() < deadline {
                    let (status, polled) = api.post(
                        &format!("/v1/groups/workers/members/{member}/poll"),
                        &json!({"max_records": 1000, "wait_ms": 100}),
                    );
                    if status == 404 {
                        member = join(&api, "workers", "load", 1_000)["member_id"].as_str().unwrap().to_owned();
                        continue;
                    }
                    assert_eq!(status, 200, "{polled}");
                    polls += 1;
                    let records = polled["records"].as_array().unwrap();
                    let batch: Vec<(u64, u64)> = records
                        .iter()
                        .map(|r| (r["partition"].as_u64().unwrap(), r["offset"].as_u64().unwrap()))
                        .collect();
                    {
                        let mut seen = processed.lock().unwrap();
                        for key in &batch {
                            *seen.entry(*key).or_default() += 1;
                        }
                    }
                    if worker == 0 && polls == 3 {
                        // Killed mid-batch: handled records, never committed, never left.
                        return;
                    }
                    if batch.is_empty() {
                        idle += 1;
                        if idle > 20 {
                            return;
                        }
                        continue;
                    }
                    idle = 0;
                    let offsets: Vec<Value> = polled["partitions"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| json!({"topic": "load", "partition": p["partition"], "offset": p["position"], "epoch": p["epoch"]}))
                        .collect();
                    let (status, body) = api.post(
                        "/v1/groups/workers/offsets",
                        &json!({"member_id": member, "offsets": offsets}),
                    );
                    match status {
                        200 => committed_batches.lock().unwrap().extend(batch),
                        409 => {} // fenced: another member owns it now and will redo it
                        _ => panic!("commit failed: {status} {body}"),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }

    let seen = processed.lock().unwrap();
    let committed_batches = committed_batches.lock().unwrap();
    let mut redelivered = 0;
    for n in 0..RECORDS {
        let key = (n % PARTITIONS, n / PARTITIONS);
        let times = seen.get(&key).copied().unwrap_or(0);
        assert!(times >= 1, "record {key:?} was never processed");
        assert!(
            committed_batches.contains(&key),
            "record {key:?} is in no committed batch"
        );
        if times > 1 {
            redelivered += 1;
        }
    }
    assert!(
        redelivered > 0,
        "the killed consumer's uncommitted batch is processed again"
    );
    let final_offsets = committed(&api, "workers");
    for p in 0..PARTITIONS {
        assert_eq!(final_offsets[&p], Some(RECORDS / PARTITIONS));
    }
}

#[test]
fn a_member_without_partitions_waits_out_its_poll_instead_of_spinning() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("single", 1);
    let first = join(&api, "pair", "single", 30_000);
    assert_eq!(partitions_of(&first).len(), 1);
    let second = join(&api, "pair", "single", 30_000);
    assert!(partitions_of(&second).is_empty());
    let id = second["member_id"].as_str().unwrap();
    let started = Instant::now();
    let (status, polled) = api.post(
        &format!("/v1/groups/pair/members/{id}/poll"),
        &json!({"wait_ms": 400}),
    );
    assert_eq!(status, 200, "{polled}");
    assert!(polled["records"].as_array().unwrap().is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "an idle member's poll returned after {:?} instead of waiting",
        started.elapsed()
    );
}
