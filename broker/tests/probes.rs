//! The hostile-client probe suite, on the real binary over loopback, with short timeouts so it
//! stays bounded: slowloris, idle and over-the-cap connections, stalled bodies with and without a
//! token, header floods, a body that never ends, deep and unreadable JSON. Each probe checks that
//! stalled connections close within the configured timeouts, that every bad request gets its 4xx
//! or 503 with a JSON error body, that a normal request meanwhile answers within a second, and
//! that the broker's RSS stays within [`RSS_BOUND_BYTES`] of its idle RSS.
//!
//! The slowloris probe holds the issue's 1,500 slowloris and 5,000 idle connections when
//! `ulimit -n` has room (about 7,000), and the long-poll probe 3,000 polls; with a lower limit
//! both scale down to fit it (client and broker each hold one end of every connection).
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Api, Broker, start_broker};
use serde_json::{Value, json};

const TOKEN: &str = "probe-token-0001";
const TOKENS: &str = r#"[{token = "probe-token-0001", rights = [{topics = "*", actions = ["admin", "produce", "consume"]}]}]"#;
const HEADER_READ_TIMEOUT_MS: u64 = 1_000;
const IDLE_TIMEOUT_MS: u64 = 4_000;
const BODY_READ_TIMEOUT_MS: u64 = 1_500;
/// What a stalled connection may outlive its timeout by: the watchdog looks every quarter
/// timeout, plus scheduling on a loaded CI machine.
const SLACK: Duration = Duration::from_millis(1_500);
const MAX_INFLIGHT_BODY_BYTES: u64 = 32 * 1024 * 1024;
/// How far above its idle RSS the broker may grow during any probe.
const RSS_BOUND_BYTES: u64 = 64 * 1024 * 1024;
/// How much RSS each waiting long poll may add.
const LONG_POLL_RSS_BYTES_EACH: u64 = 32 * 1024;

/// Slowloris and idle connections to hold: the issue's 1,500 and 5,000 where this process's
/// descriptor limit has room for them (the broker, its child, inherits the same limit), else
/// the same proportion of what it has room for. `WHARF_PROBE_CONNECTIONS` sets both.
fn connection_counts() -> (usize, usize) {
    if let Some(n) = std::env::var("WHARF_PROBE_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return (n, n);
    }
    let (slow, idle) = (1_500, 5_000);
    let room = open_files_limit().saturating_sub(300);
    if slow + idle <= room {
        (slow, idle)
    } else {
        (room * slow / (slow + idle), room * idle / (slow + idle))
    }
}

fn start(dir: &std::path::Path, max_connections: usize) -> Broker {
    let env = [
        ("WHARF_AUTH_TOKENS", TOKENS.to_owned()),
        (
            "WHARF_HTTP_HEADER_READ_TIMEOUT_MS",
            HEADER_READ_TIMEOUT_MS.to_string(),
        ),
        ("WHARF_HTTP_IDLE_TIMEOUT_MS", IDLE_TIMEOUT_MS.to_string()),
        (
            "WHARF_HTTP_BODY_READ_TIMEOUT_MS",
            BODY_READ_TIMEOUT_MS.to_string(),
        ),
        ("WHARF_HTTP_MAX_CONNECTIONS", max_connections.to_string()),
        ("WHARF_HTTP_MAX_HEADER_BYTES", (128 * 1024).to_string()),
        (
            "WHARF_HTTP_MAX_INFLIGHT_BODY_BYTES",
            MAX_INFLIGHT_BODY_BYTES.to_string(),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let broker = start_broker(dir, &env);
    let api = Api::with_token(&broker.url, TOKEN);
    let (status, body) = api.post("/v1/topics", &json!({"name": "probe", "partitions": 1}));
    assert_eq!(status, 201, "{body}");
    broker
}

/// The broker's resident set, from `/proc/<pid>/status`.
fn rss_bytes(broker: &Broker) -> u64 {
    let pid = broker.pid().expect("broker running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kb * 1024
}

fn assert_rss_within_bound(broker: &Broker, idle: u64, during: &str) {
    let now = rss_bytes(broker);
    assert!(
        now <= idle + RSS_BOUND_BYTES,
        "RSS {now} bytes during {during}, idle {idle}: more than {RSS_BOUND_BYTES} above"
    );
}

/// A normal request answers, and within a second, whatever else is going on.
fn assert_normal_request_succeeds(broker: &Broker) {
    let api = Api::with_token(&broker.url, TOKEN);
    let started = Instant::now();
    let (status, body) = api.post(
        "/v1/topics/probe/records",
        &json!({"records": [{"value": 1}]}),
    );
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(
        took < Duration::from_secs(1),
        "a normal produce took {took:?}"
    );
}

fn connect(broker: &Broker) -> TcpStream {
    let tcp = TcpStream::connect(broker.addr()).expect("connect");
    tcp.set_nodelay(true).unwrap();
    tcp
}

/// Reads one whole answer (the broker closes after each of these) and returns its status and
/// JSON body.
fn read_answer(tcp: &mut TcpStream, within: Duration) -> (u16, Value) {
    tcp.set_read_timeout(Some(within)).unwrap();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match tcp.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            // A reset after the answer arrived still leaves the answer read.
            Err(e) if !bytes.is_empty() && e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("no answer within {within:?}: {e}; got {bytes:?}"),
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    (status, body)
}

fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    assert!(answer.1["error"]["message"].is_string(), "{}", answer.1);
}

/// Whether the broker closed `tcp` (EOF or reset), without waiting.
fn is_closed(tcp: &mut TcpStream) -> bool {
    tcp.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let closed = match tcp.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    tcp.set_nonblocking(false).unwrap();
    closed
}

/// Waits until every connection is closed, trickling a byte into each open one every 250 ms
/// when `trickle` (so a slowloris keeps "sending"); returns when the last one closed.
fn wait_all_closed(conns: &mut [TcpStream], trickle: bool, deadline: Duration) -> Duration {
    let started = Instant::now();
    let mut open: Vec<usize> = (0..conns.len()).collect();
    while !open.is_empty() {
        assert!(
            started.elapsed() < deadline,
            "{} of {} connections still open after {deadline:?}",
            open.len(),
            conns.len()
        );
        open.retain(|&i| {
            let tcp = &mut conns[i];
            if trickle && tcp.write_all(b"a").is_err() {
                return false;
            }
            !is_closed(tcp)
        });
        std::thread::sleep(Duration::from_millis(250));
    }
    started.elapsed()
}

#[test]
fn slowloris_and_idle_connections_are_closed_within_their_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let (n_slow, n_idle) = connection_counts();
    assert!(n_slow >= 100, "ulimit -n too low for the slowloris probe");
    eprintln!("holding {n_slow} slowloris and {n_idle} idle connections");
    let broker = start(dir.path(), n_slow + n_idle + 64);
    let idle_rss = rss_bytes(&broker);

    let opening = Instant::now();
    let mut slow: Vec<TcpStream> = (0..n_slow)
        .map(|_| {
            let mut tcp = connect(&broker);
            tcp.write_all(b"POST /v1/topics/probe/records HTTP/1.1\r\nhost: x\r\nx-slow: ")
                .unwrap();
            tcp
        })
        .collect();
    let idle_opened = Instant::now();
    let mut idle: Vec<TcpStream> = (0..n_idle).map(|_| connect(&broker)).collect();
    // Keep-alive connections that served a request, then went quiet.
    let mut kept: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut tcp = connect(&broker);
            tcp.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 512];
            let n = tcp.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            tcp
        })
        .collect();
    assert_normal_request_succeeds(&broker);
    assert_rss_within_bound(&broker, idle_rss, "slowloris and idle connections");

    // The last slowloris opened is still served, unless opening took the whole timeout.
    if opening.elapsed() < Duration::from_millis(HEADER_READ_TIMEOUT_MS / 2) {
        assert!(!is_closed(slow.last_mut().unwrap()), "closed too early");
    }
    let header_deadline = opening.elapsed() + Duration::from_millis(HEADER_READ_TIMEOUT_MS) + SLACK;
    wait_all_closed(&mut slow, true, header_deadline);
    assert_normal_request_succeeds(&broker);
    // Idle ones outlive the header timeout but not the idle one.
    if idle_opened.elapsed() < Duration::from_millis(IDLE_TIMEOUT_MS - 1_000) {
        assert!(
            idle.iter_mut().all(|tcp| !is_closed(tcp)),
            "closed too early"
        );
    }
    let idle_deadline = Duration::from_millis(IDLE_TIMEOUT_MS) + SLACK;
    wait_all_closed(&mut idle, false, idle_deadline);
    wait_all_closed(&mut kept, false, idle_deadline);
    assert_normal_request_succeeds(&broker);
}

#[test]
fn connections_beyond_the_cap_get_a_503_overloaded_and_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let cap = 50;
    let broker = start(dir.path(), cap);
    // Each is served once, so the broker surely accepted it, and then held (keep-alive).
    let held: Vec<TcpStream> = (0..cap)
        .map(|_| {
            let mut tcp = connect(&broker);
            tcp.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 512];
            let n = tcp.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            tcp
        })
        .collect();
    let mut extra = connect(&broker);
    extra
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let answer = read_answer(&mut extra, Duration::from_secs(3));
    assert_error(&answer, 503, "overloaded");
    assert_eq!(answer.1["error"]["retriable"], true);
    drop(held);
    // Freed slots serve again (closed connections are noticed at once).
    std::thread::sleep(Duration::from_millis(300));
    assert_normal_request_succeeds(&broker);
}

#[test]
fn header_floods_long_request_lines_and_garbage_get_json_4xx_answers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 256);
    let idle_rss = rss_bytes(&broker);
    let send = |request: Vec<u8>| {
        let mut tcp = connect(&broker);
        let mut writer = tcp.try_clone().unwrap();
        // Written from another thread: the broker answers before all of it is read.
        let writing = std::thread::spawn(move || {
            let _ = writer.write_all(&request);
        });
        let answer = read_answer(&mut tcp, Duration::from_secs(5));
        let _ = writing.join();
        answer
    };

    let mut big_header = b"GET /v1/topics HTTP/1.1\r\nhost: x\r\nx-big: ".to_vec();
    big_header.resize(big_header.len() + 1024 * 1024, b'a');
    big_header.extend_from_slice(b"\r\n\r\n");
    assert_error(&send(big_header), 431, "headers_too_large");

    let mut many = b"GET /v1/topics HTTP/1.1\r\nhost: x\r\n".to_vec();
    for i in 0..10_000 {
        many.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_error(&send(many), 431, "headers_too_large");

    let long_path = format!(
        "GET /v1/topics/{} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    assert_error(&send(long_path.into_bytes()), 414, "uri_too_long");

    assert_error(
        &send(b"NOT A REQUEST\r\n\r\n".to_vec()),
        400,
        "malformed_request",
    );
    assert_rss_within_bound(&broker, idle_rss, "header floods");
    assert_normal_request_succeeds(&broker);
}

/// Headers of a produce request declaring `len` body bytes.
fn produce_head(token: Option<&str>, len: usize) -> Vec<u8> {
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    format!(
        "POST /v1/topics/probe/records HTTP/1.1\r\nhost: x\r\n{auth}content-type: application/json\r\ncontent-length: {len}\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn stalled_bodies_are_refused_before_buffering_without_a_token_and_bounded_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 256);
    let idle_rss = rss_bytes(&broker);
    const DECLARED: usize = 7_500_000;
    const SENT: usize = 2 * 1024 * 1024;

    // Without a token: 401 at once, before a byte of the body is sent.
    for token in [None, Some("wrong-token-0001")] {
        let mut conns: Vec<TcpStream> = (0..40)
            .map(|_| {
                let mut tcp = connect(&broker);
                tcp.write_all(&produce_head(token, DECLARED)).unwrap();
                tcp
            })
            .collect();
        for tcp in &mut conns {
            assert_error(
                &read_answer(tcp, Duration::from_secs(2)),
                401,
                "unauthorized",
            );
        }
    }

    // With a token: 40 bodies of 7.5 MB that stall after 2 MiB. What fits in the budget of
    // body bytes in flight waits for the body read timeout (408); the rest is 503 overloaded.
    let started = Instant::now();
    let clients: Vec<_> = (0..40)
        .map(|_| {
            let mut tcp = connect(&broker);
            std::thread::spawn(move || {
                tcp.write_all(&produce_head(Some(TOKEN), DECLARED)).unwrap();
                let mut writer = tcp.try_clone().unwrap();
                writer
                    .set_write_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let writing = std::thread::spawn(move || {
                    let chunk = vec![b' '; 64 * 1024];
                    for _ in 0..SENT / chunk.len() {
                        if writer.write_all(&chunk).is_err() {
                            break;
                        }
                    }
                    writer
                });
                let answer = read_answer(&mut tcp, Duration::from_secs(8));
                drop(writing.join());
                answer
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_rss_within_bound(&broker, idle_rss, "stalled bodies");
    assert_normal_request_succeeds(&broker);
    let answers: Vec<(u16, Value)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let took = started.elapsed();
    let timed_out = answers.iter().filter(|a| a.0 == 408).count();
    let overloaded = answers.iter().filter(|a| a.0 == 503).count();
    for answer in &answers {
        match answer.0 {
            408 => assert_error(answer, 408, "request_timeout"),
            _ => assert_error(answer, 503, "overloaded"),
        }
    }
    assert!(
        timed_out > 0 && overloaded > 0,
        "{timed_out} 408, {overloaded} 503"
    );
    assert!(
        timed_out as u64 * SENT as u64 <= MAX_INFLIGHT_BODY_BYTES + SENT as u64,
        "{timed_out} bodies of {SENT} bytes held at once"
    );
    assert!(
        took < Duration::from_millis(BODY_READ_TIMEOUT_MS) + Duration::from_secs(5),
        "{took:?}"
    );
    assert_rss_within_bound(&broker, idle_rss, "stalled bodies");
    assert_normal_request_succeeds(&broker);
}

#[test]
fn a_body_that_never_ends_is_answered_within_the_body_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 256);
    let mut tcp = connect(&broker);
    tcp.write_all(
        format!(
            "POST /v1/topics/probe/records HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut writer = tcp.try_clone().unwrap();
    let started = Instant::now();
    // One small chunk every 100 ms, for ever (until the broker hangs up).
    let trickle = std::thread::spawn(move || {
        while writer.write_all(b"1\r\n \r\n").is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let answer = read_answer(&mut tcp, Duration::from_secs(10));
    assert_error(&answer, 408, "request_timeout");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(BODY_READ_TIMEOUT_MS) + SLACK,
        "{took:?}"
    );
    drop(tcp);
    trickle.join().unwrap();
    assert_normal_request_succeeds(&broker);
}

#[test]
fn deep_json_and_unreadable_numbers_are_refused_per_record_and_the_rest_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 256);
    let api = Api::with_token(&broker.url, TOKEN);
    let deep = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let body = format!(
        r#"{{"records":[{{"value":{}}},{{"value":1e400}},{{"value":18446744073709551616}},{{"value":{}}},{{"value":{{"n":-9223372036854775808,"f":1.5e300}}}}]}}"#,
        deep(100_000),
        deep(120),
    );
    let (status, answer) = Api::send(
        api.request(reqwest::Method::POST, "/v1/topics/probe/records")
            .header("content-type", "application/json")
            .body(body),
    );
    assert_eq!(status, 207, "{answer}");
    let results = answer["results"].as_array().unwrap();
    for refused in &results[..3] {
        assert_eq!(refused["error"]["code"], "unreadable_value", "{refused}");
    }
    for stored in &results[3..] {
        assert!(stored["offset"].is_u64(), "{stored}");
    }
    // What was stored, serde_json (depth 128) reads back from the fetch answer.
    let (status, headers, bytes) = Api::send_raw(api.request(
        reqwest::Method::GET,
        "/v1/topics/probe/partitions/0/records?offset=0",
    ));
    assert_eq!(status, 200, "{headers:?}");
    let fetched: Value = serde_json::from_slice(&bytes).expect("the fetch answer parses");
    assert_eq!(fetched["records"].as_array().unwrap().len(), 2);
    assert_eq!(
        fetched["records"][1]["value"],
        json!({"n": -9223372036854775808i64, "f": 1.5e300})
    );
    // Group names follow the topic name rules, encoded or not (sent raw: an HTTP client
    // library would resolve the dot segments before sending).
    for group in ["..", "%2e%2e", "%2E.", "a%2Fb"] {
        let body = r#"{"topic":"probe"}"#;
        let mut tcp = connect(&broker);
        write!(
            tcp,
            "POST /v1/groups/{group}/members HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let answer = read_answer(&mut tcp, Duration::from_secs(5));
        assert_eq!(answer.0, 400, "{group}: {}", answer.1);
    }
}

/// Open files this process may hold (the soft `RLIMIT_NOFILE`, from `/proc/self/limits`).
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .expect("Max open files in /proc/self/limits")
}

/// A body that inflates to `inflated` bytes: a produce envelope around one long string value.
fn bomb(inflated: usize, encoding: &str) -> Vec<u8> {
    const CHUNK: usize = 1 << 20;
    let head = br#"{"records":[{"value":""#;
    let tail = br#""}]}"#;
    let filler = vec![b'a'; CHUNK];
    let chunks = (inflated - head.len() - tail.len()) / CHUNK;
    match encoding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(head).unwrap();
            for _ in 0..chunks {
                e.write_all(&filler).unwrap();
            }
            e.write_all(tail).unwrap();
            e.finish().unwrap()
        }
        "zstd" => {
            let mut e = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
            e.write_all(head).unwrap();
            for _ in 0..chunks {
                e.write_all(&filler).unwrap();
            }
            e.write_all(tail).unwrap();
            e.finish().unwrap()
        }
        other => panic!("no {other} bomb"),
    }
}

#[test]
fn gibibyte_gzip_and_zstd_bombs_stop_at_max_request_bytes_with_a_json_413() {
    const INFLATED: usize = 1 << 30;
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 256);
    let idle_rss = rss_bytes(&broker);
    let api = Api::with_token(&broker.url, TOKEN);
    for encoding in ["gzip", "zstd"] {
        let body = bomb(INFLATED, encoding);
        assert!(
            body.len() < 8 * 1024 * 1024,
            "{encoding} bomb is {} bytes on the wire",
            body.len()
        );
        let (status, answer) = Api::send(
            api.request(reqwest::Method::POST, "/v1/topics/probe/records")
                .header("content-type", "application/json")
                .header("content-encoding", encoding)
                .body(body),
        );
        assert_eq!(status, 413, "{encoding}: {answer}");
        assert_eq!(answer["error"]["code"], "payload_too_large", "{answer}");
        assert_rss_within_bound(&broker, idle_rss, &format!("a 1 GiB {encoding} bomb"));
        assert_normal_request_succeeds(&broker);
    }
    // Nothing of either bomb was appended: only the two normal records are in the log.
    let (status, fetched) = api.get("/v1/topics/probe/partitions/0/records?offset=0");
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched["records"].as_array().unwrap().len(), 2, "{fetched}");
}

#[test]
fn thousands_of_waiting_long_polls_stay_bounded_and_all_wake_when_a_record_lands() {
    // The issue's 3,000, or what this process's descriptor limit leaves room for.
    let polls = 3_000.min(open_files_limit().saturating_sub(200));
    assert!(polls >= 500, "ulimit -n too low for the long-poll probe");
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), polls + 64);
    let idle_rss = rss_bytes(&broker);
    let request = format!(
        "GET /v1/topics/probe/partitions/0/records?offset=0&wait_ms=60000 HTTP/1.1\r\nhost: x\r\n\
         authorization: Bearer {TOKEN}\r\nconnection: close\r\n\r\n"
    );
    let mut waiting: Vec<TcpStream> = (0..polls)
        .map(|_| {
            let mut tcp = connect(&broker);
            tcp.write_all(request.as_bytes()).unwrap();
            tcp
        })
        .collect();
    // Past the header timeout: waiting polls are requests in flight, not idle connections.
    std::thread::sleep(Duration::from_millis(HEADER_READ_TIMEOUT_MS) + SLACK);
    assert!(
        waiting.iter_mut().all(|tcp| !is_closed(tcp)),
        "a waiting long poll was closed"
    );
    // A waiting poll holds a connection, its request and a wake-up registration: measured about
    // 24 KiB each in a debug build, bounded here at 32 KiB each rather than by the flat bound.
    let rss = rss_bytes(&broker);
    let bound = idle_rss + polls as u64 * LONG_POLL_RSS_BYTES_EACH;
    assert!(
        rss <= bound,
        "RSS {rss} bytes with {polls} waiting long polls, idle {idle_rss}: above {bound}"
    );
    // The normal produce is also the record every poll waits for.
    assert_normal_request_succeeds(&broker);
    for tcp in &mut waiting {
        let (status, answer) = read_answer(tcp, Duration::from_secs(10));
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["records"][0]["value"], 1, "{answer}");
    }
}
