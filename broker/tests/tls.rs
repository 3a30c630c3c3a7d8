//! HTTPS on the real binary: a private CA and a server certificate for 127.0.0.1 made with
//! rcgen, the broker started with `WHARF_TLS_CERT_PATH` / `WHARF_TLS_KEY_PATH`. A client that
//! trusts the CA is answered over h2 and HTTP/1.1; plain HTTP to the TLS port gets a 400 saying
//! to use https; a stalled handshake is closed within the header read timeout and its slot
//! freed; unusable certificate files stop the broker with the path named.
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Broker, start_broker};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

const HEADER_READ_TIMEOUT_MS: u64 = 1_000;
/// What a stalled connection may outlive its timeout by (watchdog period, a loaded machine).
const SLACK: Duration = Duration::from_millis(1_500);

/// `ca.pem`, `cert.pem` (for 127.0.0.1 and localhost, signed by the CA) and `key.pem` in `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "wharf test ca");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&pki.ca, ca_cert.pem()).unwrap();
    std::fs::write(&pki.cert, leaf.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

fn start_tls(dir: &Path, pki: &Pki, extra: &[(&str, &str)]) -> Broker {
    let cert = pki.cert.display().to_string();
    let key = pki.key.display().to_string();
    let mut env = vec![
        ("WHARF_TLS_CERT_PATH", cert.as_str()),
        ("WHARF_TLS_KEY_PATH", key.as_str()),
    ];
    env.extend_from_slice(extra);
    let broker = start_broker(&dir.join("data"), &env);
    assert!(broker.url.starts_with("https://"), "{}", broker.url);
    broker
}

/// A client trusting only the test CA (not the system's roots, nor `SSL_CERT_FILE`).
fn client_trusting(ca: &Path) -> reqwest::blocking::ClientBuilder {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(30))
}

#[test]
fn health_answers_over_https_with_h2_and_http1_to_a_client_trusting_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let broker = start_tls(dir.path(), &pki, &[]);
    let health = format!("{}/health", broker.url);

    let h2 = client_trusting(&pki.ca).build().unwrap();
    let answer = h2.get(&health).send().expect("https request");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.version(),
        reqwest::Version::HTTP_2,
        "h2 chosen by ALPN"
    );

    let http1 = client_trusting(&pki.ca).http1_only().build().unwrap();
    let answer = http1.get(&health).send().expect("https request");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.version(), reqwest::Version::HTTP_11);

    let elsewhere = tempfile::tempdir().unwrap();
    let other_ca = make_pki(elsewhere.path()).ca;
    let untrusting = client_trusting(&other_ca).build().unwrap();
    assert!(
        untrusting.get(&health).send().is_err(),
        "a client trusting another CA does not accept the certificate"
    );
}

#[test]
fn plain_http_to_the_tls_port_gets_a_400_saying_to_use_https() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let broker = start_tls(dir.path(), &pki, &[]);
    let mut tcp = TcpStream::connect(broker.addr()).unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    match tcp.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if !answer.is_empty() && e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("no answer: {e}"),
    }
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(body["error"]["code"], "malformed_request", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("https"),
        "{body}"
    );
}

/// Waits until the broker closes `tcp` (EOF or reset); how long that took.
fn time_until_closed(tcp: &mut TcpStream, within: Duration) -> Duration {
    let started = Instant::now();
    tcp.set_read_timeout(Some(within)).unwrap();
    let mut sink = [0u8; 1024];
    loop {
        match tcp.read(&mut sink) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return started.elapsed(),
            Err(e) => panic!("not closed within {within:?}: {e}"),
        }
    }
}

#[test]
fn a_stalled_handshake_is_closed_within_the_header_timeout_and_frees_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let timeout = HEADER_READ_TIMEOUT_MS.to_string();
    let broker = start_tls(
        dir.path(),
        &pki,
        &[
            ("WHARF_HTTP_HEADER_READ_TIMEOUT_MS", &timeout),
            ("WHARF_HTTP_MAX_CONNECTIONS", "2"),
        ],
    );
    let client = client_trusting(&pki.ca).build().unwrap();
    let health = format!("{}/health", broker.url);

    // Both slots: one client says nothing, the other stops inside its ClientHello.
    let mut silent = TcpStream::connect(broker.addr()).unwrap();
    let mut half_hello = TcpStream::connect(broker.addr()).unwrap();
    half_hello
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    // Beyond the cap, an https client is told so over TLS.
    let refused = client.get(&health).send().expect("an answer over TLS");
    assert_eq!(refused.status(), 503);
    let body: serde_json::Value = refused.json().unwrap();
    assert_eq!(body["error"]["code"], "overloaded", "{body}");

    let bound = Duration::from_millis(HEADER_READ_TIMEOUT_MS) + SLACK;
    for stalled in [&mut silent, &mut half_hello] {
        let took = time_until_closed(stalled, bound * 2);
        assert!(took <= bound, "stalled handshake held for {took:?}");
    }
    let answer = client.get(&health).send().expect("https request");
    assert_eq!(answer.status(), 200, "the slots are free again");
}

/// Runs the binary with `env` until it exits; its status and stderr.
fn run_broker(dir: &Path, env: &[(&str, &Path)]) -> (std::process::ExitStatus, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf-broker"));
    cmd.args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .env("NO_COLOR", "1");
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("WHARF_")) {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the broker started with unusable tls files");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

#[test]
fn unusable_certificate_files_stop_the_broker_with_the_path_named() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let other = tempfile::tempdir().unwrap();
    let other_pki = make_pki(other.path());
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not-pem.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();

    for (cert, key, expected) in [
        (&missing, &pki.key, &missing),
        (&pki.cert, &missing, &missing),
        (&not_pem, &pki.key, &not_pem),
        (&pki.cert, &not_pem, &not_pem),
        // A key that is not the certificate's.
        (&pki.cert, &other_pki.key, &other_pki.key),
    ] {
        let (status, stderr) = run_broker(
            dir.path(),
            &[("WHARF_TLS_CERT_PATH", cert), ("WHARF_TLS_KEY_PATH", key)],
        );
        assert!(!status.success(), "started with {cert:?} {key:?}");
        assert!(
            stderr.contains(&expected.display().to_string()),
            "{expected:?} not named: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
