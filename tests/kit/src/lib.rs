//! The Wharf test kit: what every crate's integration tests need to drive the real parts as
//! child processes. Used as a dev-dependency only.
//!
//! - [`broker`]: the real `wharf-broker` binary on a free port over a data directory
//!   ([`Broker`]): start, SIGKILL, restart on the same port, SIGTERM, its log and CPU time;
//!   over HTTPS when `WHARF_TEST_TLS_DIR` names a certificate.
//! - [`lambda`]: `cargo lambda watch` serving the workspace's functions ([`LambdaWatch`]), with
//!   the cargo-lambda installation the test scripts make.
//! - `client` (feature `client`): clients of that broker, and the set-up and read-back helpers
//!   the client, function and end-to-end tests share (topics, reads to the high watermark, a
//!   group's committed offsets, polling until a condition holds).
//! - [`process`]: the child-process plumbing both share (log capture, cargo's test environment
//!   scrubbed from child `cargo` calls, free ports, the workspace's paths).
//!
//! Data directories are [`tempfile`] directories; the crate is re-exported so tests need no
//! dependency of their own for it.

pub mod broker;
#[cfg(feature = "client")]
pub mod client;
pub mod lambda;
pub mod process;

pub use broker::{Broker, broker_binary};
pub use lambda::LambdaWatch;
pub use process::free_port;
pub use tempfile;

/// A fresh temporary directory whose name starts with `prefix`, removed on drop.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("{prefix}-"))
        .tempdir()
        .expect("create temp dir")
}
