//! Hostile input at every route: malformed and oversized bodies, bad base64, huge headers,
//! unknown fields, negative and enormous numbers, broken encodings, bad paths and methods.
//!
//! Every input is invalid by construction, so the broker must refuse each with a 4xx JSON error
//! (routes that take no input may answer 200), must stay up, and must leave the log exactly as
//! it was. A seeded generator (`FUZZ_SEED`, `FUZZ_CASES` to explore more) plus a fixed list of
//! nasty cases.
mod common;

use std::collections::BTreeMap;
use std::io::Write;

use common::{Api, error_code, start_broker};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const TOPIC: &str = "fz";
const PARTITIONS: u32 = 3;
const MAX_REQUEST_BYTES: usize = 256 * 1024;
const MAX_RECORD_BYTES: usize = 1024;

/// What a case must get back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A 4xx JSON error.
    Refused,
    /// Anything below 500; a 4xx must be a JSON error. For routes without input.
    NotBroken,
}

#[derive(Debug, Clone)]
struct Case {
    what: String,
    method: reqwest::Method,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    expect: Expect,
}

impl Case {
    fn new(what: impl Into<String>, method: reqwest::Method, path: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
            expect: Expect::Refused,
        }
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn expect(mut self, expect: Expect) -> Self {
        self.expect = expect;
        self
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn random_text(rng: &mut StdRng, len: std::ops::Range<usize>, alphabet: &[u8]) -> String {
    let len = rng.random_range(len);
    (0..len)
        .map(|_| *pick(rng, alphabet) as char)
        .collect::<String>()
}

/// A number that is negative or too big for the field it goes into.
fn bad_number(rng: &mut StdRng) -> String {
    match rng.random_range(0..6) {
        0 => format!("-{}", rng.random_range(1..u64::MAX)),
        1 => "99999999999999999999999999999999".to_owned(),
        2 => format!("{}", u64::MAX as u128 + 1),
        3 => "1e400".to_owned(),
        4 => format!("{}.5", rng.random_range(0..10)),
        _ => format!("-{}e30", rng.random_range(1..9)),
    }
}

/// Text that is not valid standard padded base64.
fn bad_base64(rng: &mut StdRng) -> String {
    match rng.random_range(0..5) {
        0 => random_text(rng, 1..20, b"!@#$%^&*()<>?~ "),
        1 => "QUJD=".to_owned(),
        2 => "QQ".to_owned(),
        3 => "QUJDRA==QUJD".to_owned(),
        _ => format!("{}\\n", "QUJD".repeat(rng.random_range(1..4))),
    }
}

/// One produce record that must be refused, as JSON text.
fn bad_record(rng: &mut StdRng) -> String {
    let unknown = random_text(rng, 1..12, b"abcdefghijklmnopqrstuvwxyz_");
    match rng.random_range(0..20) {
        0 => format!(r#"{{"value_b64":"{}"}}"#, bad_base64(rng)),
        1 => format!(r#"{{"key_b64":"{}","value":1}}"#, bad_base64(rng)),
        2 => format!(r#"{{"value":1,"{unknown}x":true}}"#),
        3 => format!(r#"{{"value":1,"partition":{}}}"#, bad_number(rng)),
        4 => format!(
            r#"{{"value":1,"partition":{}}}"#,
            rng.random_range(PARTITIONS..=u32::MAX)
        ),
        5 => format!(r#"{{"value":1,"timestamp":{}}}"#, bad_number(rng)),
        6 => format!(
            r#"{{"value":1,"timestamp":{}}}"#,
            rng.random_range(253_402_300_800_000..i64::MAX)
        ),
        7 => r#"{"value":1,"value_b64":"AA=="}"#.to_owned(),
        8 => r#"{"key":"only a key"}"#.to_owned(),
        9 => r#"{"key":"k","key_b64":"aw==","value":1}"#.to_owned(),
        10 => r#"{"value":1,"headers":{"":"x"}}"#.to_owned(),
        11 => format!(r#"{{"value":1,"headers":{{"h":{}}}}}"#, bad_number(rng)),
        12 => r#"{"value":1,"headers":["h","v"]}"#.to_owned(),
        13 => format!(
            r#"{{"value":"{}"}}"#,
            "x".repeat(rng.random_range(MAX_RECORD_BYTES..4 * MAX_RECORD_BYTES))
        ),
        14 => r#"{"value":1,"partition":"0"}"#.to_owned(),
        15 => pick(rng, &["42", "null", "[]", "\"record\"", "true"]).to_string(),
        16 => r#"{"value_b64":12}"#.to_owned(),
        17 => r#"{"value":1,"timestamp":"now"}"#.to_owned(),
        18 => format!(
            r#"{{"value":{{"a":1}},"key":[1,2],"partition":-{}}}"#,
            rng.random_range(1..9)
        ),
        _ => format!(r#"{{"value":1e999,"{unknown}":null}}"#),
    }
}

fn valid_records_body() -> Vec<u8> {
    br#"{"records":[{"value":{"ok":true}},{"key":"k","value_b64":"AQID"}]}"#.to_vec()
}

fn produce_path() -> String {
    format!("/v1/topics/{TOPIC}/records")
}

fn produce_case(rng: &mut StdRng, i: usize) -> Case {
    let post = |what: &str| {
        Case::new(
            format!("produce {i}: {what}"),
            reqwest::Method::POST,
            produce_path(),
        )
    };
    match rng.random_range(0..16) {
        0..=4 => {
            let n = rng.random_range(1..6);
            let records: Vec<String> = (0..n).map(|_| bad_record(rng)).collect();
            let body = format!(r#"{{"records":[{}]}}"#, records.join(","));
            post(&format!("bad records {body:.200}")).body(body)
        }
        5 => {
            let valid = valid_records_body();
            let cut = rng.random_range(0..valid.len());
            post("truncated json").body(valid[..cut].to_vec())
        }
        6 => {
            let len = rng.random_range(0..300);
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            post("random bytes").body(bytes)
        }
        7 => post("wrong envelope").body(
            pick(
                rng,
                &[
                    r#"{"records":[]}"#,
                    r#"{"records":{}}"#,
                    r#"{"records":"x"}"#,
                    r#"{"records":null}"#,
                    r#"{}"#,
                    r#"{"record":[{"value":1}]}"#,
                    r#"{"records":[{"value":1}],"acks":"all"}"#,
                    r#"[{"value":1}]"#,
                    r#"{"records":[{"value":1}]} trailing"#,
                ],
            )
            .as_bytes()
            .to_vec(),
        ),
        8 => {
            let mut body = br#"{"records":[{"value":""#.to_vec();
            body.resize(MAX_REQUEST_BYTES + rng.random_range(1..4096), b'a');
            body.extend_from_slice(br#""}]}"#);
            post("over the body limit").body(body)
        }
        9 => {
            let token = random_text(rng, 1..10, b"abcdefxyz-");
            post(&format!("content-encoding {token}"))
                .body(valid_records_body())
                .header("content-encoding", token.as_bytes())
        }
        10 => {
            let enc = *pick(rng, &["gzip", "zstd", "x-gzip"]);
            let mut junk = valid_records_body();
            if rng.random_bool(0.5) {
                // A real frame, then cut short.
                let packed = if enc == "zstd" {
                    zstd::encode_all(&junk[..], 3).unwrap()
                } else {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    e.write_all(&junk).unwrap();
                    e.finish().unwrap()
                };
                junk = packed[..packed.len() / 2].to_vec();
            }
            post(&format!("broken {enc}"))
                .body(junk)
                .header("content-encoding", enc)
        }
        11 => {
            let key: Vec<u8> = match rng.random_range(0..3) {
                0 => Vec::new(),
                1 => vec![b'k'; rng.random_range(256..8192)],
                _ => vec![b'k', 0xff, 0xfe, b'z'],
            };
            post("bad idempotency key")
                .body(valid_records_body())
                .header("idempotency-key", key)
        }
        12 => {
            let acks = pick(rng, &["most", "2", "-2", "", "ALL!", "all&acks=none"]).to_string();
            let mut c = post(&format!("acks={acks}")).body(valid_records_body());
            c.path = format!("{}?acks={acks}", produce_path());
            c
        }
        13 => post("content-type").body(valid_records_body()).header(
            "content-type",
            pick(
                rng,
                &[
                    "application/xml",
                    "image/png",
                    "multipart/form-data; boundary=x",
                    "application/octet-stream",
                ],
            )
            .as_bytes(),
        ),
        14 => {
            let topic = pick(rng, &["fz2", "%FF%FE", "a%20b", "..", "%2E%2E", "fz%00"]).to_string();
            let mut c = post(&format!("topic {topic}")).body(valid_records_body());
            c.path = format!("/v1/topics/{topic}/records");
            c
        }
        _ => {
            let mut body = br#"{"records":[{"value":""#.to_vec();
            body.extend_from_slice(&[0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80]);
            body.extend_from_slice(br#""}]}"#);
            post("invalid utf-8 in a string").body(body)
        }
    }
}

/// A fetch query with at least one invalid part.
fn fetch_case(rng: &mut StdRng, i: usize, hw: &[u64]) -> Case {
    let partition = rng.random_range(0..PARTITIONS);
    let hw = hw[partition as usize];
    let mut params: Vec<String> = Vec::new();
    let invalid: Vec<String> = vec![
        format!("offset={}", rng.random_range(hw + 1..=u64::MAX)),
        format!("offset=-{}", rng.random_range(1..1000)),
        format!("offset={}", bad_number(rng)),
        "offset=".to_owned(),
        "offset=abc".to_owned(),
        format!(
            "max_records={}",
            pick(
                rng,
                &["0", "100001", "-1", "1e3", "99999999999999999999999"]
            )
        ),
        format!("max_bytes={}", pick(rng, &["0", "67108865", "-5", "x"])),
        format!(
            "wait_ms={}",
            pick(rng, &["60001", "-1", "18446744073709551616", "soon"])
        ),
        format!("min_bytes={}", pick(rng, &["0", "-1", "67108865", "1.5"])),
        format!("{}=1", random_text(rng, 1..10, b"abcxyz_")),
        "offset=0&offset=1".to_owned(),
    ];
    let bad = pick(rng, &invalid).clone();
    if !bad.starts_with("offset") {
        params.push(format!("offset={}", rng.random_range(0..=hw)));
    }
    params.push(bad.clone());
    let mut path = format!(
        "/v1/topics/{TOPIC}/partitions/{partition}/records?{}",
        params.join("&")
    );
    if rng.random_range(0..6) == 0 {
        let p = pick(rng, &["3", "4294967295", "4294967296", "-1", "x", "%FF"]);
        path = format!("/v1/topics/{TOPIC}/partitions/{p}/records?offset=0");
    }
    Case::new(format!("fetch {i}: {path}"), reqwest::Method::GET, path)
}

fn offsets_case(rng: &mut StdRng, i: usize) -> Case {
    let at = pick(
        rng,
        &[
            "",
            "-1",
            "-9223372036854775808",
            "9223372036854775808",
            "1.5",
            "first",
            "LATEST",
            "earliest&x=1",
            "latest&at=earliest",
        ],
    )
    .to_string();
    let mut path = format!(
        "/v1/topics/{TOPIC}/partitions/{}/offsets?at={at}",
        rng.random_range(0..PARTITIONS)
    );
    if rng.random_range(0..4) == 0 {
        path = format!(
            "/v1/topics/{TOPIC}/partitions/{}/offsets?at=latest",
            pick(rng, &["3", "-1", "99999999999", "%FF"])
        );
    }
    Case::new(format!("offsets {i}: {path}"), reqwest::Method::GET, path)
}

fn create_case(rng: &mut StdRng, i: usize) -> Case {
    let body = match rng.random_range(0..10) {
        0 => format!(
            r#"{{"name":"{}","partitions":1}}"#,
            pick(rng, &["", "a b", "..", "ä", "x/y", "fz\u{0}"])
        ),
        1 => format!(
            r#"{{"name":"{}","partitions":1}}"#,
            "n".repeat(rng.random_range(250..2000))
        ),
        2 => format!(
            r#"{{"name":"new","partitions":{}}}"#,
            pick(
                rng,
                &["0", "-1", "1025", "4294967296", "1.5", "\"3\"", "null"]
            )
        ),
        3 => format!(
            r#"{{"name":"new","partitions":1,"retention_ms":{}}}"#,
            pick(
                rng,
                &[
                    "0",
                    "-2",
                    "-9223372036854775808",
                    "9223372036854775808",
                    "\"1d\""
                ]
            )
        ),
        4 => format!(
            r#"{{"name":"new","partitions":1,"segment_bytes":{}}}"#,
            pick(rng, &["0", "1023", "4294967296", "-1"])
        ),
        5 => format!(
            r#"{{"name":"new","partitions":1,"max_record_bytes":{}}}"#,
            pick(rng, &["0", "-1", "2000000000000"])
        ),
        6 => format!(
            r#"{{"name":"new","partitions":1,"{}":1}}"#,
            random_text(rng, 8..9, b"abcdefgh")
        ),
        7 => format!(r#"{{"name":"{TOPIC}","partitions":1}}"#),
        8 => r#"{"partitions":1}"#.to_owned(),
        _ => {
            let len = rng.random_range(0..100);
            String::from_utf8_lossy(&(0..len).map(|_| rng.random::<u8>()).collect::<Vec<_>>())
                .into_owned()
        }
    };
    Case::new(
        format!("create {i}: {body:.120}"),
        reqwest::Method::POST,
        "/v1/topics",
    )
    .body(body)
}

fn patch_case(rng: &mut StdRng, i: usize) -> Case {
    let body = match rng.random_range(0..7) {
        0 => format!(
            r#"{{"partitions":{}}}"#,
            pick(rng, &["0", "1", "2", "1025", "-3", "4294967296"])
        ),
        1 => format!(
            r#"{{"retention_ms":{}}}"#,
            pick(rng, &["0", "-2", "1.5", "\"forever\""])
        ),
        2 => format!(
            r#"{{"retention_bytes":{}}}"#,
            pick(rng, &["0", "-7", "9223372036854775808"])
        ),
        3 => format!(
            r#"{{"segment_bytes":{}}}"#,
            rng.random_range(1024..1_000_000)
        ),
        4 => format!(
            r#"{{"partitions":{PARTITIONS},"{}":1}}"#,
            random_text(rng, 6..7, b"xyz")
        ),
        5 => r#"{"partitions":5,"retention_ms":0}"#.to_owned(),
        _ => pick(rng, &["", "[]", "null", "{", "{\"partitions\":}"]).to_string(),
    };
    let mut path = format!("/v1/topics/{TOPIC}");
    if rng.random_range(0..5) == 0 {
        path = format!("/v1/topics/{}", pick(rng, &["nope", "%FF", "a%20b"]));
    }
    Case::new(format!("patch {i}: {body}"), reqwest::Method::PATCH, path).body(body)
}

fn other_case(rng: &mut StdRng, i: usize) -> Case {
    match rng.random_range(0..6) {
        0 => {
            let name = format!("zz-{}", random_text(rng, 1..300, b"abc.-_%20"));
            Case::new(
                format!("delete {i}"),
                reqwest::Method::DELETE,
                format!("/v1/topics/{name}"),
            )
        }
        1 => {
            let segs = rng.random_range(1..6);
            let path: String = (0..segs)
                .map(|_| format!("/{}", random_text(rng, 1..12, b"abc%20FF.~")))
                .collect();
            Case::new(
                format!("unknown route {i}"),
                reqwest::Method::GET,
                format!("/v9{path}"),
            )
        }
        2 => {
            let (route, allowed): (String, &[&str]) = pick(
                rng,
                &[
                    ("/v1/topics".to_owned(), &["GET", "POST"][..]),
                    (
                        format!("/v1/topics/{TOPIC}"),
                        &["GET", "PATCH", "DELETE"][..],
                    ),
                    (format!("/v1/topics/{TOPIC}/records"), &["POST"][..]),
                    (
                        format!("/v1/topics/{TOPIC}/partitions/0/records?offset=0"),
                        &["GET"][..],
                    ),
                    (
                        format!("/v1/topics/{TOPIC}/partitions/0/offsets?at=latest"),
                        &["GET"][..],
                    ),
                    ("/health".to_owned(), &["GET"][..]),
                    ("/metrics".to_owned(), &["GET"][..]),
                ],
            )
            .clone();
            let methods: Vec<&str> = [
                "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "FROB",
            ]
            .into_iter()
            .filter(|m| !allowed.contains(m))
            .collect();
            let method = *pick(rng, &methods);
            Case::new(
                format!("{method} {route}"),
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                route,
            )
            .body(valid_records_body())
        }
        _ => {
            // Routes that take no input: garbage must not break them.
            let path = pick(
                rng,
                &[
                    "/health",
                    "/ready",
                    "/metrics",
                    "/v1/openapi.json",
                    "/v1/topics",
                    "/v1/topics/fz",
                ],
            )
            .to_string();
            let len = rng.random_range(0..200);
            Case::new(
                format!("GET {path} with junk"),
                reqwest::Method::GET,
                format!("{path}?{}", random_text(rng, 10..11, b"a=&%FF")),
            )
            .body((0..len).map(|_| rng.random::<u8>()).collect::<Vec<u8>>())
            .expect(Expect::NotBroken)
        }
    }
}

/// Adds a huge header, many headers, or junk in a known header now and then.
fn maybe_huge_headers(rng: &mut StdRng, mut case: Case) -> Case {
    match rng.random_range(0..8) {
        0 => {
            let len = rng.random_range(1024..48 * 1024);
            case.header(
                "x-fuzz-big",
                random_text(
                    rng,
                    len..len + 1,
                    b"abcdefghijklmnopqrstuvwxyz0123456789 -_",
                ),
            )
        }
        1 => {
            for n in 0..rng.random_range(10..60) {
                case = case.header(&format!("x-fuzz-{n}"), vec![b'v'; rng.random_range(1..200)]);
            }
            case
        }
        2 => case.header(
            "authorization",
            format!("Bearer {}", "t".repeat(rng.random_range(1..20_000))),
        ),
        3 => case.header("x-fuzz-bytes", vec![0x80, 0xff, b'a', 0xfe]),
        _ => case,
    }
}

/// Cases everyone should try once.
fn fixed_cases() -> Vec<Case> {
    let post = |what: &str| Case::new(what, reqwest::Method::POST, produce_path());
    let mut deep = br#"{"records":[{"value":"#.to_vec();
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    deep.extend(std::iter::repeat_n(b']', 100_000));
    deep.extend_from_slice(b"}]}");
    let mut deep_envelope = b"{\"records\":".to_vec();
    deep_envelope.extend(std::iter::repeat_n(b'[', 50_000));
    let mut deep_create = b"{\"name\":".to_vec();
    deep_create.extend(std::iter::repeat_n(b'{', 30_000));
    let many_records = format!(
        r#"{{"records":[{}]}}"#,
        vec![r#"{"value_b64":"*"}"#; 10_000].join(",")
    );
    let gzip_bomb = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(br#"{"records":[{"value":""#).unwrap();
        e.write_all(&vec![b'a'; 8 * 1024 * 1024]).unwrap();
        e.write_all(br#""}]}"#).unwrap();
        e.finish().unwrap()
    };
    vec![
        post("empty body"),
        post("just null").body("null"),
        post("BOM then json").body(b"\xef\xbb\xbf{\"records\":[{\"value_b64\":\"!\"}]}".to_vec()),
        post("deeply nested value").body(deep),
        post("deeply nested envelope").body(deep_envelope),
        post("ten thousand bad records").body(many_records),
        post("8 MiB gzip bomb")
            .body(gzip_bomb)
            .header("content-encoding", "gzip"),
        post("stacked encodings")
            .body(valid_records_body())
            .header("content-encoding", "gzip, gzip"),
        post("nul bytes").body(b"\0\0\0\0".to_vec()),
        post("duplicate fields").body(r#"{"records":[{"value":1,"value":2}]}"#),
        post("duplicate envelope")
            .body(r#"{"records":[{"value_b64":"!"}],"records":[{"value":1}]}"#),
        post("lone surrogate").body(r#"{"records":[{"value":1,"headers":{"h":"\ud800"}}],"x":1}"#),
        post("u64 max partition").body(format!(
            r#"{{"records":[{{"value":1,"partition":{}}}]}}"#,
            u64::MAX
        )),
        post("i64 min timestamp").body(format!(
            r#"{{"records":[{{"value":1,"timestamp":{}}}]}}"#,
            i64::MIN
        )),
        post("idempotency key of blanks")
            .body(valid_records_body())
            .header("idempotency-key", "   "),
        Case::new("create deeply nested", reqwest::Method::POST, "/v1/topics").body(deep_create),
        Case::new("create huge body", reqwest::Method::POST, "/v1/topics").body(format!(
            r#"{{"name":"{}","partitions":1}}"#,
            "n".repeat(100_000)
        )),
        Case::new(
            "fetch u64 max",
            reqwest::Method::GET,
            format!(
                "/v1/topics/{TOPIC}/partitions/0/records?offset={}&wait_ms=60000",
                u64::MAX
            ),
        ),
        Case::new(
            "fetch huge topic name",
            reqwest::Method::GET,
            format!(
                "/v1/topics/{}/partitions/0/records?offset=0",
                "t".repeat(20_000)
            ),
        ),
        Case::new(
            "path traversal",
            reqwest::Method::GET,
            "/v1/topics/..%2F..%2Fetc/partitions/0/records?offset=0",
        ),
        Case::new(
            "delete path traversal",
            reqwest::Method::DELETE,
            "/v1/topics/..%2F",
        ),
        Case::new(
            "delete dot dot",
            reqwest::Method::DELETE,
            "/v1/topics/%2E%2E",
        ),
    ]
}

/// Sends a case and checks the answer; returns the status.
fn run_case(api: &Api, case: &Case) -> u16 {
    if std::env::var_os("FUZZ_VERBOSE").is_some() {
        eprintln!(
            "case {} {} {:.100} ({} body bytes)",
            case.what,
            case.method,
            case.path,
            case.body.len()
        );
    }
    let mut rb = api
        .request(case.method.clone(), &case.path)
        .body(case.body.clone());
    for (name, value) in &case.headers {
        rb = rb.header(
            name.as_str(),
            reqwest::header::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let response = rb
        .send()
        .unwrap_or_else(|e| panic!("{}: no answer: {e:?}", case.what));
    let status = response.status().as_u16();
    let bytes = response.bytes().unwrap_or_default();
    assert!(
        status < 500,
        "{}: {status} {}",
        case.what,
        String::from_utf8_lossy(&bytes)
    );
    if status >= 400 {
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{}: {status} with a non-JSON body {:?}",
                case.what,
                String::from_utf8_lossy(&bytes)
            )
        });
        error_code(status, &body);
    }
    if case.expect == Expect::Refused {
        assert!(
            (400..500).contains(&status),
            "{}: expected a 4xx, got {status} {}",
            case.what,
            String::from_utf8_lossy(&bytes)
        );
    }
    status
}

#[test]
fn hostile_inputs_on_every_route_get_4xx_json_and_leave_the_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let limit = MAX_REQUEST_BYTES.to_string();
    let mut broker = start_broker(dir.path(), &[("WHARF_MAX_REQUEST_BYTES", &limit)]);
    let api = Api::new(&broker.url);
    api.create_topic_with(&json!({
        "name": TOPIC, "partitions": PARTITIONS, "max_record_bytes": MAX_RECORD_BYTES,
    }));
    for p in 0..PARTITIONS {
        let (status, _) = api.produce(
            TOPIC,
            json!([{"value": p, "partition": p}, {"value_b64": "AQID", "partition": p}]),
        );
        assert_eq!(status, 200);
    }
    let bounds_before = api.bounds(TOPIC);
    let mut config_before = api.describe(TOPIC);
    config_before
        .as_object_mut()
        .unwrap()
        .remove("partition_states");
    let hw: Vec<u64> = bounds_before.iter().map(|b| b.1).collect();

    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00C0_FFEE);
    let cases: usize = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for case in fixed_cases() {
        *statuses.entry(run_case(&api, &case)).or_default() += 1;
    }
    for i in 0..cases {
        let case = match rng.random_range(0..10) {
            0..=3 => produce_case(&mut rng, i),
            4 => fetch_case(&mut rng, i, &hw),
            5 => offsets_case(&mut rng, i),
            6 => create_case(&mut rng, i),
            7 => patch_case(&mut rng, i),
            _ => other_case(&mut rng, i),
        };
        let case = maybe_huge_headers(&mut rng, case);
        *statuses.entry(run_case(&api, &case)).or_default() += 1;
    }
    eprintln!("seed {seed:#x}: statuses {statuses:?}");

    assert!(broker.is_running(), "broker died; log:\n{}", broker.log());
    let (status, body) = api.get("/health");
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    assert_eq!(api.bounds(TOPIC), bounds_before, "the log changed");
    let mut config_after = api.describe(TOPIC);
    config_after
        .as_object_mut()
        .unwrap()
        .remove("partition_states");
    assert_eq!(config_after, config_before, "the topic's settings changed");
    let (_, list) = api.get("/v1/topics");
    assert_eq!(
        list["topics"].as_array().unwrap().len(),
        1,
        "a topic was created: {list}"
    );
    // And the records themselves are the ones written before.
    for p in 0..PARTITIONS {
        let values: Vec<Value> = api
            .fetch_all(TOPIC, p)
            .iter()
            .map(|r| {
                r.get("value")
                    .cloned()
                    .unwrap_or_else(|| r["value_b64"].clone())
            })
            .collect();
        assert_eq!(values, [json!(p), json!("AQID")]);
    }
}
