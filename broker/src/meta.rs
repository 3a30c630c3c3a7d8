//! Broker metadata: topic definitions and idempotency records, in one embedded `redb` database
//! (`<data_dir>/meta.redb`).
//!
//! Why redb rather than the log itself: metadata is small, keyed and updated in place (a topic's
//! retention changes, idempotency records expire), which a B-tree with ACID transactions does well
//! and an append-only log would need compaction for. redb is pure Rust, crash-safe (copy-on-write
//! pages with checksummed commits) and each commit here uses `Durability::Immediate` (but one,
//! below, that a durable intent covers), so an acknowledged metadata change survives `kill -9`. The consumer-group offset store shares the
//! same database through [`MetaStore::database`].
//!
//! [`EmbeddedMeta`] is the service's [`MetaBackend`] over it: every call on the blocking pool
//! (redb fsyncs), idempotency keys held by in-process [`KeyLocks`].
//!
//! An idempotent request writes its [`ProduceIntent`] (which partitions it is about to append to,
//! from which offsets, and marks of the first and last record of each batch) before it appends,
//! and replaces it with its [`StoredProduce`] outcome after, in one transaction. A broker killed
//! between the append and the outcome thus leaves an intent, from which the retry finds what
//! landed instead of appending it twice. Because the intent is durable, the outcome that
//! replaces it need not be: an idempotent request costs one metadata fsync, as before intents.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use wharf_proto::api::ProduceResult;

use crate::service::backend::{BoxFuture, IdempotencyClaim, IdempotencyHold, MetaBackend};
use crate::service::produce::{ProduceStatus, results_of_legacy_body};

const TOPICS: TableDefinition<&str, &[u8]> = TableDefinition::new("topics");
const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");
/// Intents of idempotent requests that may have appended without storing their outcome.
const IDEMPOTENCY_INTENTS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("idempotency_intents");
/// Claim-check objects whose deletion failed, retried at the next retention pass.
const BLOB_DELETES: TableDefinition<&str, u64> = TableDefinition::new("blob_deletes");

/// A topic as persisted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredTopic {
    pub name: String,
    pub partitions: u32,
    /// -1 = forever.
    pub retention_ms: i64,
    /// -1 = unlimited.
    pub retention_bytes: i64,
    pub segment_bytes: u64,
    pub max_record_bytes: u64,
    pub created_at_ms: i64,
    /// Absent in topics stored before schemas existed: `none`.
    #[serde(default)]
    pub schema_validation: wharf_proto::api::SchemaValidation,
}

/// The outcome of the first produce request with an idempotency key, replayed to its retries
/// in whatever encoding each retry asks for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "StoredRecord")]
pub struct StoredProduce {
    pub status: ProduceStatus,
    pub results: Vec<ProduceResult>,
    pub created_at_ms: i64,
}

/// What an idempotent request is about to append, stored durably before it appends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProduceIntent {
    pub created_at_ms: i64,
    /// CRC32C of the request body: a retry must carry the same records.
    pub body_crc32c: u32,
    /// One result per record: refused records' errors, the partition and timestamp of the
    /// planned ones, and the offsets of batches an earlier attempt is known to have landed.
    pub results: Vec<ProduceResult>,
    /// The batches whose append may or may not have happened.
    pub batches: Vec<PlannedBatch>,
}

/// One partition's batch of an intent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlannedBatch {
    pub partition: u32,
    /// The partition's high watermark before the append: the batch cannot start below it.
    pub from_offset: u64,
    /// The request positions of the batch's records, in order.
    pub indexes: Vec<u32>,
    pub first: RecordMark,
    pub last: RecordMark,
}

/// What identifies a record in its partition: its broker-assigned timestamp and a CRC32C of its
/// key and value.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RecordMark {
    pub timestamp_ms: i64,
    pub crc32c: u32,
}

/// What the idempotency tables hold for one key.
#[derive(Debug, Default)]
pub struct IdempotencyState {
    pub outcome: Option<StoredProduce>,
    pub intent: Option<ProduceIntent>,
}

/// What the idempotency table may hold: today's typed outcome, or the rendered answer
/// (`status` and JSON `body`) that brokers before it stored.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredRecord {
    Outcome {
        status: ProduceStatus,
        results: Vec<ProduceResult>,
        created_at_ms: i64,
    },
    Rendered {
        status: u16,
        body: String,
        created_at_ms: i64,
    },
}

impl TryFrom<StoredRecord> for StoredProduce {
    type Error = String;

    fn try_from(record: StoredRecord) -> Result<Self, String> {
        match record {
            StoredRecord::Outcome {
                status,
                results,
                created_at_ms,
            } => Ok(Self {
                status,
                results,
                created_at_ms,
            }),
            StoredRecord::Rendered {
                status,
                body,
                created_at_ms,
            } => {
                let status = match status {
                    200 => ProduceStatus::Appended,
                    202 => ProduceStatus::Accepted,
                    207 => ProduceStatus::Partial,
                    other => return Err(format!("stored status {other} is not a produce outcome")),
                };
                let results = results_of_legacy_body(&body)
                    .ok_or_else(|| "stored body is not a produce answer".to_owned())?;
                Ok(Self {
                    status,
                    results,
                    created_at_ms,
                })
            }
        }
    }
}

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata store {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    #[error("metadata record {key} in {path} is unreadable: {detail}")]
    Corruption {
        path: PathBuf,
        key: String,
        detail: String,
    },
    /// A remote metadata store (PostgreSQL, `crate::pg`) failed or could not be reached.
    #[error("metadata store {operation} failed: {source}")]
    Remote {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The task running a blocking metadata call failed (it panicked or the runtime is stopping).
    #[error("metadata task failed: {detail}")]
    Task { detail: String },
}

/// The metadata database.
#[derive(Debug, Clone)]
pub struct MetaStore {
    db: Arc<Database>,
    path: PathBuf,
}

impl MetaStore {
    /// Opens (or creates) `<data_dir>/meta.redb` and its tables.
    pub fn open(data_dir: &Path) -> Result<Self, MetaError> {
        let path = data_dir.join("meta.redb");
        let store_err = |source: redb::Error| MetaError::Store {
            path: path.clone(),
            source: Box::new(source),
        };
        let db = Database::create(&path).map_err(|e| store_err(e.into()))?;
        let txn = db.begin_write().map_err(|e| store_err(e.into()))?;
        txn.open_table(TOPICS).map_err(|e| store_err(e.into()))?;
        txn.open_table(IDEMPOTENCY)
            .map_err(|e| store_err(e.into()))?;
        txn.open_table(IDEMPOTENCY_INTENTS)
            .map_err(|e| store_err(e.into()))?;
        txn.open_table(BLOB_DELETES)
            .map_err(|e| store_err(e.into()))?;
        txn.commit().map_err(|e| store_err(e.into()))?;
        Ok(Self {
            db: Arc::new(db),
            path,
        })
    }

    /// The shared database, for other stores (consumer-group offsets) to keep their own tables.
    pub fn database(&self) -> Arc<Database> {
        Arc::clone(&self.db)
    }

    fn err(&self, source: impl Into<redb::Error>) -> MetaError {
        MetaError::Store {
            path: self.path.clone(),
            source: Box::new(source.into()),
        }
    }

    fn corrupt(&self, key: &str, detail: impl ToString) -> MetaError {
        MetaError::Corruption {
            path: self.path.clone(),
            key: key.to_owned(),
            detail: detail.to_string(),
        }
    }

    /// All persisted topics.
    pub fn topics(&self) -> Result<Vec<StoredTopic>, MetaError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(TOPICS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in table.iter().map_err(|e| self.err(e))? {
            let (key, value) = item.map_err(|e| self.err(e))?;
            let topic: StoredTopic =
                serde_json::from_slice(value.value()).map_err(|e| self.corrupt(key.value(), e))?;
            out.push(topic);
        }
        Ok(out)
    }

    /// Inserts or replaces a topic (durable when this returns).
    pub fn put_topic(&self, topic: &StoredTopic) -> Result<(), MetaError> {
        let bytes = serde_json::to_vec(topic).expect("a topic serializes");
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut table = txn.open_table(TOPICS).map_err(|e| self.err(e))?;
            table
                .insert(topic.name.as_str(), bytes.as_slice())
                .map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// Removes a topic; returns whether it existed.
    pub fn delete_topic(&self, name: &str) -> Result<bool, MetaError> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        let existed = {
            let mut table = txn.open_table(TOPICS).map_err(|e| self.err(e))?;
            table.remove(name).map_err(|e| self.err(e))?.is_some()
        };
        txn.commit().map_err(|e| self.err(e))?;
        Ok(existed)
    }

    /// The stored outcome for an idempotency key, if any.
    pub fn idempotent_outcome(&self, key: &str) -> Result<Option<StoredProduce>, MetaError> {
        Ok(self.idempotency_state(key)?.outcome)
    }

    /// The outcome and the pending intent stored for an idempotency key, read together.
    pub fn idempotency_state(&self, key: &str) -> Result<IdempotencyState, MetaError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let outcomes = txn.open_table(IDEMPOTENCY).map_err(|e| self.err(e))?;
        let intents = txn
            .open_table(IDEMPOTENCY_INTENTS)
            .map_err(|e| self.err(e))?;
        let outcome = self.decode(key, outcomes.get(key).map_err(|e| self.err(e))?)?;
        let intent = self.decode(key, intents.get(key).map_err(|e| self.err(e))?)?;
        Ok(IdempotencyState { outcome, intent })
    }

    /// The JSON value stored under `key`, if any.
    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        value: Option<redb::AccessGuard<'_, &[u8]>>,
    ) -> Result<Option<T>, MetaError> {
        value
            .map(|v| serde_json::from_slice(v.value()).map_err(|e| self.corrupt(key, e)))
            .transpose()
    }

    /// Records what an idempotent request is about to append (durable when this returns).
    pub fn put_idempotency_intent(
        &self,
        key: &str,
        intent: &ProduceIntent,
    ) -> Result<(), MetaError> {
        let bytes = serde_json::to_vec(intent).expect("an intent serializes");
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut table = txn
                .open_table(IDEMPOTENCY_INTENTS)
                .map_err(|e| self.err(e))?;
            table
                .insert(key, bytes.as_slice())
                .map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// Remembers the outcome of an idempotent request and forgets its intent, in one
    /// transaction. Without an intent the commit is durable when this returns. With one, it is
    /// not synced (it becomes durable with the next synced commit): a crash that loses it
    /// brings back the durable intent, from which the retry recovers the same outcome, so the
    /// request pays one fsync for idempotency, not two.
    pub fn put_idempotent_outcome(
        &self,
        key: &str,
        outcome: &StoredProduce,
    ) -> Result<(), MetaError> {
        let bytes = serde_json::to_vec(outcome).expect("an outcome serializes");
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        let had_intent = {
            let mut table = txn.open_table(IDEMPOTENCY).map_err(|e| self.err(e))?;
            table
                .insert(key, bytes.as_slice())
                .map_err(|e| self.err(e))?;
            let mut intents = txn
                .open_table(IDEMPOTENCY_INTENTS)
                .map_err(|e| self.err(e))?;
            intents.remove(key).map_err(|e| self.err(e))?.is_some()
        };
        if had_intent {
            txn.set_durability(Durability::None);
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// Queues object keys whose deletion must be retried.
    pub fn queue_blob_deletes(&self, keys: &[String]) -> Result<(), MetaError> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut table = txn.open_table(BLOB_DELETES).map_err(|e| self.err(e))?;
            for key in keys {
                table.insert(key.as_str(), 1u64).map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// Object keys waiting for a retried deletion.
    pub fn queued_blob_deletes(&self) -> Result<Vec<String>, MetaError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(BLOB_DELETES).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in table.iter().map_err(|e| self.err(e))? {
            let (key, _) = item.map_err(|e| self.err(e))?;
            out.push(key.value().to_owned());
        }
        Ok(out)
    }

    /// Removes a key from the deletion queue.
    pub fn dequeue_blob_delete(&self, key: &str) -> Result<(), MetaError> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut table = txn.open_table(BLOB_DELETES).map_err(|e| self.err(e))?;
            table.remove(key).map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// Forgets idempotency records (and intents) created before `cutoff_ms`; returns how many
    /// outcomes went.
    pub fn expire_idempotency(&self, cutoff_ms: i64) -> Result<usize, MetaError> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        let removed = {
            let mut table = txn.open_table(IDEMPOTENCY).map_err(|e| self.err(e))?;
            let before = table.len().map_err(|e| self.err(e))?;
            table
                .retain(|_, value| {
                    serde_json::from_slice::<StoredProduce>(value)
                        .map(|r| r.created_at_ms >= cutoff_ms)
                        // An unreadable record cannot be replayed: let it go.
                        .unwrap_or(false)
                })
                .map_err(|e| self.err(e))?;
            let after = table.len().map_err(|e| self.err(e))?;
            let mut intents = txn
                .open_table(IDEMPOTENCY_INTENTS)
                .map_err(|e| self.err(e))?;
            intents
                .retain(|_, value| {
                    serde_json::from_slice::<ProduceIntent>(value)
                        .map(|r| r.created_at_ms >= cutoff_ms)
                        .unwrap_or(false)
                })
                .map_err(|e| self.err(e))?;
            (before - after) as usize
        };
        txn.commit().map_err(|e| self.err(e))?;
        Ok(removed)
    }
}

/// Per-key async locks, so two requests with the same idempotency key never run at once.
#[derive(Debug, Default, Clone)]
pub struct KeyLocks {
    map: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// Holds a [`KeyLocks`] key; forgets the key when no one else waits for it.
#[derive(Debug)]
pub struct KeyGuard {
    locks: KeyLocks,
    key: String,
    mutex: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyLocks {
    pub async fn lock(&self, key: &str) -> KeyGuard {
        let mutex = {
            let mut map = self.map.lock().expect("key locks");
            Arc::clone(map.entry(key.to_owned()).or_default())
        };
        let guard = Arc::clone(&mutex).lock_owned().await;
        KeyGuard {
            locks: self.clone(),
            key: key.to_owned(),
            mutex,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().expect("key locks").len()
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map.lock().expect("key locks");
        // Two references left (the map's and ours) means nobody else is waiting.
        if Arc::strong_count(&self.mutex) <= 2 {
            map.remove(&self.key);
        }
    }
}

/// The embedded [`MetaBackend`]: the redb [`MetaStore`] and in-process key locks (one broker is
/// the only writer of its data directory, so a process-wide lock is a global one).
#[derive(Debug, Clone)]
pub struct EmbeddedMeta {
    store: MetaStore,
    locks: KeyLocks,
}

impl EmbeddedMeta {
    pub fn new(store: MetaStore) -> Self {
        Self {
            store,
            locks: KeyLocks::default(),
        }
    }

    /// Runs a blocking redb call on the blocking pool (commits fsync).
    fn blocking<'a, T: Send + 'static>(
        &self,
        f: impl FnOnce(&MetaStore) -> Result<T, MetaError> + Send + 'static,
    ) -> BoxFuture<'a, Result<T, MetaError>> {
        let store = self.store.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&store))
                .await
                .unwrap_or_else(|e| {
                    Err(MetaError::Task {
                        detail: e.to_string(),
                    })
                })
        })
    }
}

impl MetaBackend for EmbeddedMeta {
    fn topics(&self) -> BoxFuture<'_, Result<Vec<StoredTopic>, MetaError>> {
        self.blocking(MetaStore::topics)
    }

    fn put_topic<'a>(&'a self, topic: &'a StoredTopic) -> BoxFuture<'a, Result<(), MetaError>> {
        let topic = topic.clone();
        self.blocking(move |s| s.put_topic(&topic))
    }

    fn delete_topic<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, MetaError>> {
        let name = name.to_owned();
        self.blocking(move |s| s.delete_topic(&name))
    }

    fn claim_idempotency<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<IdempotencyClaim, MetaError>> {
        Box::pin(async move {
            let guard = self.locks.lock(key).await;
            let owned = key.to_owned();
            let state = self.blocking(move |s| s.idempotency_state(&owned)).await?;
            Ok(IdempotencyClaim {
                stored: state.outcome,
                intent: state.intent,
                hold: IdempotencyHold::new(guard),
            })
        })
    }

    fn record_intent<'a>(
        &'a self,
        _hold: &'a IdempotencyHold,
        key: &'a str,
        intent: &'a ProduceIntent,
    ) -> BoxFuture<'a, Result<(), MetaError>> {
        // The in-process key lock behind `_hold` already excludes every other writer of `key`.
        let key = key.to_owned();
        let intent = intent.clone();
        self.blocking(move |s| s.put_idempotency_intent(&key, &intent))
    }

    fn complete_idempotency<'a>(
        &'a self,
        hold: IdempotencyHold,
        key: &'a str,
        outcome: StoredProduce,
    ) -> BoxFuture<'a, Result<(), MetaError>> {
        let key = key.to_owned();
        Box::pin(async move {
            self.blocking(move |s| s.put_idempotent_outcome(&key, &outcome))
                .await?;
            // Released only once the outcome is durable, so a waiting retry replays it.
            drop(hold);
            Ok(())
        })
    }

    fn expire_idempotency(&self, cutoff_ms: i64) -> BoxFuture<'_, Result<usize, MetaError>> {
        self.blocking(move |s| s.expire_idempotency(cutoff_ms))
    }

    fn queue_blob_deletes<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<(), MetaError>> {
        let keys = keys.to_vec();
        self.blocking(move |s| s.queue_blob_deletes(&keys))
    }

    fn queued_blob_deletes(&self) -> BoxFuture<'_, Result<Vec<String>, MetaError>> {
        self.blocking(MetaStore::queued_blob_deletes)
    }

    fn dequeue_blob_delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), MetaError>> {
        let key = key.to_owned();
        self.blocking(move |s| s.dequeue_blob_delete(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> StoredTopic {
        StoredTopic {
            name: name.to_owned(),
            partitions: 3,
            retention_ms: -1,
            retention_bytes: 1 << 20,
            segment_bytes: 4096,
            max_record_bytes: 1024,
            created_at_ms: 1,
            schema_validation: wharf_proto::api::SchemaValidation::None,
        }
    }

    #[test]
    fn topics_stored_before_schema_validation_load_without_it() {
        let old = r#"{"name":"t","partitions":1,"retention_ms":-1,"retention_bytes":-1,
            "segment_bytes":4096,"max_record_bytes":1024,"created_at_ms":1}"#;
        let topic: StoredTopic = serde_json::from_str(old).unwrap();
        assert_eq!(
            topic.schema_validation,
            wharf_proto::api::SchemaValidation::None
        );
    }

    #[test]
    fn topics_and_idempotency_records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = MetaStore::open(dir.path()).unwrap();
            store.put_topic(&topic("a")).unwrap();
            store.put_topic(&topic("b")).unwrap();
            assert!(store.delete_topic("a").unwrap());
            assert!(!store.delete_topic("a").unwrap());
            store.put_idempotent_outcome("b\0k1", &outcome(10)).unwrap();
        }
        let store = MetaStore::open(dir.path()).unwrap();
        assert_eq!(store.topics().unwrap(), vec![topic("b")]);
        assert_eq!(
            store.idempotent_outcome("b\0k1").unwrap().unwrap(),
            outcome(10)
        );
        assert!(store.idempotent_outcome("b\0k2").unwrap().is_none());
    }

    fn outcome(created_at_ms: i64) -> StoredProduce {
        StoredProduce {
            status: ProduceStatus::Partial,
            results: vec![
                ProduceResult {
                    partition: Some(1),
                    offset: Some(7),
                    timestamp: Some(5),
                    ..ProduceResult::default()
                },
                ProduceResult {
                    error: Some(wharf_proto::api::ErrorDetail {
                        code: "missing_value".into(),
                        message: "no".into(),
                        retriable: false,
                        details: None,
                    }),
                    ..ProduceResult::default()
                },
            ],
            created_at_ms,
        }
    }

    #[test]
    fn answers_stored_rendered_by_older_brokers_still_replay() {
        let legacy = serde_json::json!({
            "status": 207,
            "body": serde_json::json!({"results": outcome(3).results}).to_string(),
            "created_at_ms": 3,
        });
        let stored: StoredProduce = serde_json::from_value(legacy).unwrap();
        assert_eq!(stored, outcome(3));
        let refused = serde_json::json!({"status": 400, "body": "{}", "created_at_ms": 3});
        assert!(serde_json::from_value::<StoredProduce>(refused).is_err());
    }

    #[test]
    fn expiry_removes_only_old_idempotency_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetaStore::open(dir.path()).unwrap();
        for (key, at) in [("old", 5), ("new", 50)] {
            store.put_idempotent_outcome(key, &outcome(at)).unwrap();
        }
        assert_eq!(store.expire_idempotency(10).unwrap(), 1);
        assert!(store.idempotent_outcome("old").unwrap().is_none());
        assert!(store.idempotent_outcome("new").unwrap().is_some());
    }

    #[tokio::test]
    async fn key_locks_serialize_one_key_and_forget_it_afterwards() {
        let locks = KeyLocks::default();
        let first = locks.lock("k").await;
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move {
            let _g = l2.lock("k").await;
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "second holder must wait for the first"
        );
        let other = locks.lock("other").await;
        drop(first);
        waiter.await.unwrap();
        drop(other);
        assert_eq!(locks.len(), 0);
    }
}
