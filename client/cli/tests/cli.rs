//! The real `wharf` binary against the real broker.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wharf_client::wharf_proto::partitioner::partition_for_key;
use wharf_testkit::Broker;

fn wharf(broker: &Broker) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.env("WHARF_URL", &broker.url).env_remove("WHARF_TOKEN");
    cmd
}

fn run(broker: &Broker, args: &[&str]) -> Output {
    wharf(broker).args(args).output().expect("run wharf")
}

fn run_ok(broker: &Broker, args: &[&str]) -> String {
    let out = run(broker, args);
    assert!(
        out.status.success(),
        "wharf {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn produce(broker: &Broker, args: &[&str], stdin: &str) -> Output {
    let mut child = wharf(broker)
        .arg("produce")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wharf produce");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn topics_create_list_describe_and_delete() {
    let broker = Broker::start();
    let out = run_ok(
        &broker,
        &[
            "topics",
            "create",
            "orders",
            "--partitions",
            "3",
            "--retention-ms",
            "60000",
        ],
    );
    assert_eq!(out, "Created topic orders.\n");
    // --url takes precedence over the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .env("WHARF_URL", "http://127.0.0.1:9")
        .args([
            "--url",
            &broker.url,
            "topics",
            "create",
            "payments",
            "--partitions",
            "1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(run_ok(&broker, &["topics", "list"]), "orders\npayments\n");

    let described = run_ok(&broker, &["topics", "describe", "orders"]);
    let mut lines = described.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("Topic: orders\tPartitions: 3\tRetentionMs: 60000\t"),
        "{header}"
    );
    let partitions: Vec<&str> = lines.collect();
    assert_eq!(partitions.len(), 3, "{described}");
    assert!(
        partitions[2].contains("Partition: 2\tLogStartOffset: 0\tHighWatermark: 0"),
        "{described}"
    );

    let again = run(
        &broker,
        &["topics", "create", "orders", "--partitions", "3"],
    );
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("topic orders already exists"), "{stderr}");

    assert_eq!(
        run_ok(&broker, &["topics", "delete", "orders"]),
        "Deleted topic orders.\n"
    );
    assert_eq!(run_ok(&broker, &["topics", "list"]), "payments\n");
    let gone = run(&broker, &["topics", "describe", "orders"]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("unknown topic orders"));
}

#[test]
fn an_unreachable_broker_is_an_error_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args([
            "--url",
            "http://127.0.0.1:9",
            "--timeout-ms",
            "2000",
            "topics",
            "list",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wharf: error: list topics failed in transport"),
        "{stderr}"
    );
}

#[test]
fn produce_with_keys_and_consume_from_beginning_offset_and_partition() {
    let broker = Broker::start();
    run_ok(
        &broker,
        &["topics", "create", "events", "--partitions", "3"],
    );
    let input = "user-1:hello\nuser-2:{\"n\": 2}\nuser-3:42\nuser-1:again\n\nuser-4:[1, 2]\n";
    let out = produce(&broker, &["events", "--key-separator", ":"], input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Everything, with keys: plain lines come back as text, JSON lines as compact JSON.
    let all = run_ok(
        &broker,
        &["consume", "events", "--from-beginning", "--print-key"],
    );
    assert_eq!(
        sorted_lines(&all),
        vec![
            "user-1\tagain",
            "user-1\thello",
            "user-2\t{\"n\":2}",
            "user-3\t42",
            "user-4\t[1,2]"
        ]
    );
    // Keys land where Kafka's partitioner puts them; one key keeps its order.
    let with_offsets = run_ok(
        &broker,
        &[
            "consume",
            "events",
            "--from-beginning",
            "--print-offset",
            "--print-key",
        ],
    );
    for line in with_offsets.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let partition: u32 = fields[0]
            .strip_prefix("Partition:")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            partition,
            partition_for_key(fields[2].as_bytes(), 3),
            "{line}"
        );
    }
    let p1 = partition_for_key(b"user-1", 3);
    let user1: Vec<&str> = with_offsets
        .lines()
        .filter(|l| l.contains("\tuser-1\t"))
        .collect();
    assert!(
        user1[0].ends_with("hello") && user1[1].ends_with("again"),
        "{user1:?}"
    );

    // One partition from an offset.
    let from_one = run_ok(
        &broker,
        &[
            "consume",
            "events",
            "--partition",
            &p1.to_string(),
            "--offset",
            "1",
            "--print-offset",
        ],
    );
    let expected: Vec<String> = with_offsets
        .lines()
        .filter(|l| l.starts_with(&format!("Partition:{p1}\t")) && !l.contains("\tOffset:0\t"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            format!("{}\t{}\t{}", f[0], f[1], f[3])
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(from_one.lines().collect::<Vec<_>>(), expected);

    // --key for every record, --partition pins them.
    let out = produce(
        &broker,
        &["events", "--key", "fixed", "--partition", "2"],
        "a\nb\n",
    );
    assert!(out.status.success());
    let p2 = run_ok(
        &broker,
        &[
            "consume",
            "events",
            "--partition",
            "2",
            "--from-beginning",
            "--print-key",
        ],
    );
    assert!(p2.ends_with("fixed\ta\nfixed\tb\n"), "{p2}");

    // Without a start position, consume starts at the end and stops at once.
    assert_eq!(run_ok(&broker, &["consume", "events"]), "");
    // Errors carry the broker's message.
    let out = run(
        &broker,
        &[
            "consume",
            "events",
            "--partition",
            "0",
            "--offset",
            "999",
            "--follow",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("offset 999 is out of range"));
    let out = produce(
        &broker,
        &["events", "--key-separator", ":"],
        "no-separator-here\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
}

#[test]
fn consume_follow_prints_records_produced_after_it_started() {
    let broker = Broker::start();
    run_ok(&broker, &["topics", "create", "live", "--partitions", "2"]);
    let out = produce(&broker, &["live"], "before\n");
    assert!(out.status.success());

    let mut follower = wharf(&broker)
        .args([
            "consume",
            "live",
            "--from-beginning",
            "--follow",
            "--wait-ms",
            "1000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let expect = |seen: &mut Vec<String>, n: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!("follower printed only {seen:?}"),
            }
        }
    };
    expect(&mut seen, 1);
    assert_eq!(seen, vec!["before"]);

    let out = produce(&broker, &["live"], "after-1\n{\"after\": 2}\n");
    assert!(out.status.success());
    expect(&mut seen, 3);
    assert_eq!(
        sorted_lines(&seen.join("\n")),
        vec!["after-1", "before", "{\"after\":2}"]
    );
    assert!(
        follower.try_wait().unwrap().is_none(),
        "--follow keeps running"
    );
    follower.kill().unwrap();
    follower.wait().unwrap();
}
