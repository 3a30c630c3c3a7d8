//! Harness for the end-to-end suite (`tests/tests/`), and the recorder function it uses.
//!
//! The recorder ([`Recorder`], binary `wharf-e2e-recorder`) is a Wharf consumer function with an
//! in-process handler that appends one JSON line ([`Seen`]) per record it was handed to
//! `RECORDER_FILE`: topic, partition, offset, key, value (when short UTF-8), size, SHA-256,
//! the record's timestamp and when it was seen. The tests read that file to check counts,
//! per-key order, payload digests and end-to-end latency.
//!
//! - `RECORDER_FILE` (required): the file to append to.
//! - `RECORDER_DELAY_MS` (default 0): each batch takes this long first (to crash mid-batch).
//! - `RECORDER_POISON`: a record whose value contains this text is reported in
//!   `batchItemFailures` (retried, then dead-lettered by the consumer engine), never recorded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wharf_consumer::{
    BatchHandler, BatchResponse, HandlerError, ItemIdentifier, KafkaEvent, KafkaEventExt,
    KafkaRecordExt,
};

/// Values up to this size (and valid UTF-8) are copied into [`Seen::value`].
pub const INLINE_VALUE_BYTES: usize = 4096;

/// One record as the recorder saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    /// The key as UTF-8 (lossy), if any.
    pub key: Option<String>,
    /// The value as text when it is short UTF-8.
    pub value: Option<String>,
    /// Value size in bytes (after claim-check resolution).
    pub len: usize,
    /// Hex SHA-256 of the value.
    pub sha256: String,
    /// The record's timestamp (ms since the epoch).
    pub timestamp: i64,
    /// When the handler was called with it (ms since the epoch).
    pub seen_ms: u64,
}

/// The recorder handler.
#[derive(Debug)]
pub struct Recorder {
    file: PathBuf,
    delay: Duration,
    poison: Option<String>,
    lock: Mutex<()>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Recorder {
    /// Reads `RECORDER_FILE`, `RECORDER_DELAY_MS`, `RECORDER_POISON`.
    pub fn from_env() -> Result<Self, String> {
        let file = std::env::var("RECORDER_FILE").map_err(|_| "RECORDER_FILE is not set")?;
        let delay = match std::env::var("RECORDER_DELAY_MS") {
            Ok(v) => v
                .parse()
                .map_err(|e| format!("RECORDER_DELAY_MS={v:?}: {e}"))?,
            Err(_) => 0,
        };
        Ok(Self {
            file: PathBuf::from(file),
            delay: Duration::from_millis(delay),
            poison: std::env::var("RECORDER_POISON")
                .ok()
                .filter(|p| !p.is_empty()),
            lock: Mutex::new(()),
        })
    }

    fn record(&self, event: &KafkaEvent) -> Result<BatchResponse, String> {
        let seen_ms = now_ms();
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for r in event.iter() {
            let id = ItemIdentifier::from(r);
            let value = r
                .value_bytes()
                .map_err(|e| format!("value is not base64: {e}"))?;
            if let Some(poison) = &self.poison
                && contains(&value, poison.as_bytes())
            {
                failures.push(id);
                continue;
            }
            let key = match r.key_bytes() {
                Some(k) => Some(
                    String::from_utf8_lossy(&k.map_err(|e| format!("key is not base64: {e}"))?)
                        .into_owned(),
                ),
                None => None,
            };
            let inline = (value.len() <= INLINE_VALUE_BYTES)
                .then(|| String::from_utf8(value.clone()).ok())
                .flatten();
            let seen = Seen {
                topic: r.topic.clone().unwrap_or_default(),
                partition: id.partition,
                offset: id.offset,
                key,
                value: inline,
                len: value.len(),
                sha256: hex::encode(Sha256::digest(&value)),
                timestamp: r.timestamp.timestamp_millis(),
                seen_ms,
            };
            serde_json::to_writer(&mut out, &seen).map_err(|e| e.to_string())?;
            out.push(b'\n');
        }
        let _guard = self.lock.lock().map_err(|_| "recorder lock poisoned")?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .map_err(|e| format!("cannot open {}: {e}", self.file.display()))?;
        f.write_all(&out)
            .map_err(|e| format!("cannot append to {}: {e}", self.file.display()))?;
        Ok(BatchResponse::failed(failures))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

impl BatchHandler for Recorder {
    async fn handle(&self, event: &KafkaEvent) -> Result<BatchResponse, HandlerError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.record(event)
            .map_err(|message| HandlerError::Failed { message })
    }
}

/// Every line of a recorder file (none if it does not exist yet). A torn last line (the
/// function was killed while appending) is ignored.
pub fn read_seen(path: &Path) -> Vec<Seen> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}
