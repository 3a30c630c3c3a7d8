//! The example consumer: an inventory service that consumes `order.order-service.created` and
//! keeps stock counts.
//!
//! An order is `{"order_id","sku","quantity"}`; each one takes `quantity` from the SKU's stock
//! (every SKU starts at `INVENTORY_INITIAL_STOCK`, default 1000). A record that is not such an
//! order (not JSON, no `sku`, quantity not a positive integer) is reported in
//! `batchItemFailures`: Wharf retries it and then dead-letters it.
//!
//! State is one JSON file, `<INVENTORY_STATE_DIR>/stock.json` (default
//! `/tmp/wharf-inventory`), written atomically after each batch. It also remembers which
//! `(partition, offset)`s were applied, so a redelivered record (after a crash between the
//! write and the commit) is not counted twice. A real deployment would keep this in a database;
//! `/tmp` lives only as long as the execution environment.
//!
//! `INVENTORY_DELAY_MS` (default 0) makes each batch take that long, to demonstrate deadlines.
//!
//! The same [`Inventory`] runs in-process (`wharf-inventory`, via [`crate::run`]) and as a plain
//! MSK-style function (`wharf-inventory-msk`, a target for target mode).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::handler::{BatchHandler, HandlerError};
use crate::kafka::{BatchResponse, ItemIdentifier, KafkaEvent, KafkaRecord, KafkaRecordExt};

/// Applied offsets remembered per partition.
const REMEMBERED_OFFSETS: usize = 100_000;

/// The stock file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stock {
    /// SKU → units in stock.
    pub stock: BTreeMap<String, i64>,
    /// `"<topic>-<partition>"` → offsets already applied.
    pub applied: BTreeMap<String, BTreeSet<u64>>,
    /// Orders applied in total.
    pub orders: u64,
}

#[derive(Debug, Deserialize)]
struct Order {
    sku: String,
    quantity: i64,
}

/// The inventory handler.
#[derive(Debug)]
pub struct Inventory {
    path: PathBuf,
    initial_stock: i64,
    delay: Duration,
    lock: Mutex<()>,
}

impl Inventory {
    /// Reads `INVENTORY_STATE_DIR`, `INVENTORY_INITIAL_STOCK`, `INVENTORY_DELAY_MS`.
    pub fn from_env() -> Result<Self, String> {
        let dir = std::env::var("INVENTORY_STATE_DIR")
            .unwrap_or_else(|_| "/tmp/wharf-inventory".to_owned());
        let parse = |name: &str, default: i64| -> Result<i64, String> {
            match std::env::var(name) {
                Ok(v) => v.parse().map_err(|e| format!("{name}={v:?}: {e}")),
                Err(_) => Ok(default),
            }
        };
        let initial = parse("INVENTORY_INITIAL_STOCK", 1000)?;
        let delay = parse("INVENTORY_DELAY_MS", 0)?;
        Self::new(
            Path::new(&dir),
            initial,
            Duration::from_millis(delay.max(0) as u64),
        )
    }

    /// An inventory keeping its file in `dir`.
    pub fn new(dir: &Path, initial_stock: i64, delay: Duration) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Self {
            path: dir.join("stock.json"),
            initial_stock,
            delay,
            lock: Mutex::new(()),
        })
    }

    /// The current state.
    pub fn load(&self) -> Result<Stock, String> {
        load(&self.path)
    }

    /// Applies a batch and saves; returns the records that are not valid orders.
    pub fn apply(&self, event: &KafkaEvent) -> Result<BatchResponse, String> {
        let _guard = self
            .lock
            .lock()
            .map_err(|_| "inventory lock poisoned".to_owned())?;
        let mut state = load(&self.path)?;
        let mut failures = Vec::new();
        for (tp, records) in &event.records {
            for r in records {
                let id = ItemIdentifier::from(r);
                let applied = state.applied.entry(tp.clone()).or_default();
                if applied.contains(&id.offset) {
                    continue; // redelivered after a crash: already counted
                }
                match parse_order(r) {
                    Ok(order) => {
                        *state.stock.entry(order.sku).or_insert(self.initial_stock) -=
                            order.quantity;
                        state.orders += 1;
                        applied.insert(id.offset);
                        while applied.len() > REMEMBERED_OFFSETS {
                            applied.pop_first();
                        }
                    }
                    Err(reason) => {
                        tracing::warn!(partition = r.partition, offset = r.offset, reason = %reason, "not an order");
                        failures.push(id);
                    }
                }
            }
        }
        save(&self.path, &state)?;
        Ok(BatchResponse::failed(failures))
    }
}

fn parse_order(r: &KafkaRecord) -> Result<Order, String> {
    let bytes = r
        .value_bytes()
        .map_err(|e| format!("value is not base64: {e}"))?;
    let order: Order = serde_json::from_slice(&bytes).map_err(|e| format!("not an order: {e}"))?;
    if order.quantity <= 0 || order.sku.is_empty() {
        return Err(format!(
            "invalid order: sku {:?}, quantity {}",
            order.sku, order.quantity
        ));
    }
    Ok(order)
}

fn load(path: &Path) -> Result<Stock, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is corrupt: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stock::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Write to a temporary file, fsync, rename: a crash leaves the old or the new state.
fn save(path: &Path, state: &Stock) -> Result<(), String> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
    let mut f =
        std::fs::File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

impl BatchHandler for Inventory {
    async fn handle(&self, event: &KafkaEvent) -> Result<BatchResponse, HandlerError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.apply(event)
            .map_err(|message| HandlerError::Failed { message })
    }
}
