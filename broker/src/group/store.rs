//! Durable storage of committed offsets (and of the epoch generation) in redb.
//!
//! Three tables in the broker's shared metadata database:
//! - `group_offsets`: `(group, topic, partition) → next offset to consume`;
//! - `group_topics`: `group → topic`, the topic a group is bound to from its first join or offset
//!   reset until it is deleted (by an admin, or with its topic). Authorisation of every group route
//!   is checked against this binding, so it must survive restarts like the offsets do;
//! - `group_meta`: `"epoch_generation" → u64`, bumped once per [`Coordinator`] open so that a
//!   restarted broker never hands out an epoch a zombie from the previous run could still hold.
//!
//! Every write uses [`Durability::Immediate`]: `store` returns only after redb has fsynced the
//! commit, so an acknowledged offset commit survives a SIGKILL or a power cut.
//!
//! [`Coordinator`]: super::Coordinator

use std::{fmt, path::Path, sync::Arc};

use redb::{Database, Durability, ReadableTable, TableDefinition};

const OFFSETS: TableDefinition<(&str, &str, u32), u64> = TableDefinition::new("group_offsets");
const META: TableDefinition<&str, u64> = TableDefinition::new("group_meta");
const TOPICS: TableDefinition<&str, &str> = TableDefinition::new("group_topics");
const GENERATION_KEY: &str = "epoch_generation";

/// One committed offset as persisted: the next offset the group will consume.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredOffset {
    pub group: String,
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
}

/// A group's durable topic binding as persisted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredBinding {
    pub group: String,
    pub topic: String,
}

/// The offset store failed; the operation that asked for it changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("offset store {operation} failed: {source}")]
    Backend {
        operation: &'static str,
        /// Boxed: redb's error is large and this travels in every `Result` of the coordinator.
        #[source]
        source: Box<redb::Error>,
    },
    /// A remote group store (PostgreSQL, `crate::pg`) failed or could not be reached.
    #[error("group store {operation} failed: {source}")]
    Remote {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Maps any redb error of `operation` into a [`StoreError`].
fn backend<E: Into<redb::Error>>(operation: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        source: Box::new(e.into()),
    }
}

/// Where the coordinator keeps what must survive a restart. Every mutation is atomic and durable
/// when it returns `Ok`.
pub trait OffsetStore: Send + fmt::Debug {
    /// All committed offsets of all groups.
    fn load(&self) -> Result<Vec<StoredOffset>, StoreError>;
    /// All groups' topic bindings.
    fn load_bindings(&self) -> Result<Vec<StoredBinding>, StoreError>;
    /// Binds `group` to `topic` (replacing nothing: the caller binds only unbound groups).
    fn bind(&mut self, group: &str, topic: &str) -> Result<(), StoreError>;
    /// Atomically stores `offsets` (`(partition, offset)`) of `group` on `topic`, and binds the
    /// group to `topic` if it is not bound yet.
    fn store(&mut self, group: &str, topic: &str, offsets: &[(u32, u64)])
    -> Result<(), StoreError>;
    /// Forgets every group's offsets on `topic` and the bindings of the groups bound to it;
    /// returns how many offsets were removed.
    fn delete_topic(&mut self, topic: &str) -> Result<usize, StoreError>;
    /// Forgets every offset of `group` and its binding; returns how many offsets were removed.
    fn delete_group(&mut self, group: &str) -> Result<usize, StoreError>;
    /// Increments and returns the persisted epoch generation (the first call returns 1).
    fn next_generation(&mut self) -> Result<u64, StoreError>;
}

/// [`OffsetStore`] on the broker's shared redb metadata database.
pub struct RedbOffsetStore {
    db: Arc<Database>,
}

impl fmt::Debug for RedbOffsetStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbOffsetStore").finish_non_exhaustive()
    }
}

impl RedbOffsetStore {
    /// Uses the tables `group_offsets`, `group_topics` and `group_meta` of `db`, creating them if
    /// needed.
    pub fn new(db: Arc<Database>) -> Result<Self, StoreError> {
        let store = RedbOffsetStore { db };
        store.write("create tables", |_| Ok(()))?;
        Ok(store)
    }

    /// Opens (or creates) a database file of its own at `path`: for tests and tools.
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(backend("open database"))?;
        Self::new(Arc::new(db))
    }

    /// Runs `f` in one write transaction and commits it with an fsync before returning.
    fn write<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut Tables<'_>) -> Result<T, redb::StorageError>,
    ) -> Result<T, StoreError> {
        let mut txn = self.db.begin_write().map_err(backend(operation))?;
        txn.set_durability(Durability::Immediate);
        let value = {
            let mut tables = Tables {
                offsets: txn.open_table(OFFSETS).map_err(backend(operation))?,
                topics: txn.open_table(TOPICS).map_err(backend(operation))?,
                meta: txn.open_table(META).map_err(backend(operation))?,
            };
            f(&mut tables).map_err(backend(operation))?
        };
        // Dropping an uncommitted transaction aborts it: an error above leaves nothing behind.
        txn.commit().map_err(backend(operation))?;
        Ok(value)
    }
}

/// The open tables of one write transaction.
struct Tables<'txn> {
    offsets: redb::Table<'txn, (&'static str, &'static str, u32), u64>,
    topics: redb::Table<'txn, &'static str, &'static str>,
    meta: redb::Table<'txn, &'static str, u64>,
}

impl OffsetStore for RedbOffsetStore {
    fn load(&self) -> Result<Vec<StoredOffset>, StoreError> {
        let txn = self.db.begin_read().map_err(backend("load"))?;
        let table = txn.open_table(OFFSETS).map_err(backend("load"))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(backend("load"))? {
            let (key, value) = entry.map_err(backend("load"))?;
            let (group, topic, partition) = key.value();
            out.push(StoredOffset {
                group: group.to_owned(),
                topic: topic.to_owned(),
                partition,
                offset: value.value(),
            });
        }
        Ok(out)
    }

    fn load_bindings(&self) -> Result<Vec<StoredBinding>, StoreError> {
        let txn = self.db.begin_read().map_err(backend("load bindings"))?;
        let table = txn.open_table(TOPICS).map_err(backend("load bindings"))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(backend("load bindings"))? {
            let (group, topic) = entry.map_err(backend("load bindings"))?;
            out.push(StoredBinding {
                group: group.value().to_owned(),
                topic: topic.value().to_owned(),
            });
        }
        Ok(out)
    }

    fn bind(&mut self, group: &str, topic: &str) -> Result<(), StoreError> {
        self.write("bind group", |t| {
            t.topics.insert(group, topic)?;
            Ok(())
        })
    }

    fn store(
        &mut self,
        group: &str,
        topic: &str,
        offsets: &[(u32, u64)],
    ) -> Result<(), StoreError> {
        self.write("store offsets", |t| {
            if t.topics.get(group)?.is_none() {
                t.topics.insert(group, topic)?;
            }
            for &(partition, offset) in offsets {
                t.offsets.insert((group, topic, partition), offset)?;
            }
            Ok(())
        })
    }

    fn delete_topic(&mut self, topic: &str) -> Result<usize, StoreError> {
        self.write("delete topic offsets", |t| {
            let mut removed = 0;
            t.offsets.retain(|(_, offset_topic, _), _| {
                let keep = offset_topic != topic;
                removed += usize::from(!keep);
                keep
            })?;
            t.topics.retain(|_, bound| bound != topic)?;
            Ok(removed)
        })
    }

    fn delete_group(&mut self, group: &str) -> Result<usize, StoreError> {
        self.write("delete group", |t| {
            let mut removed = 0;
            t.offsets.retain(|(g, _, _), _| {
                let keep = g != group;
                removed += usize::from(!keep);
                keep
            })?;
            t.topics.remove(group)?;
            Ok(removed)
        })
    }

    fn next_generation(&mut self) -> Result<u64, StoreError> {
        self.write("bump epoch generation", |t| {
            let current = t.meta.get(GENERATION_KEY)?.map_or(0, |v| v.value());
            let next = current + 1;
            t.meta.insert(GENERATION_KEY, next)?;
            Ok(next)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_bindings_and_generation_survive_reopening_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        {
            let mut store = RedbOffsetStore::create(&path).unwrap();
            assert_eq!(store.next_generation().unwrap(), 1);
            store.store("g", "t", &[(0, 10), (1, 20)]).unwrap();
            store.store("g", "t", &[(1, 21)]).unwrap();
            store.store("h", "u", &[(0, 5)]).unwrap();
        }
        let mut store = RedbOffsetStore::create(&path).unwrap();
        assert_eq!(store.next_generation().unwrap(), 2);
        let mut loaded = store.load().unwrap();
        loaded.sort();
        let expect = |g: &str, t: &str, partition, offset| StoredOffset {
            group: g.into(),
            topic: t.into(),
            partition,
            offset,
        };
        assert_eq!(
            loaded,
            vec![
                expect("g", "t", 0, 10),
                expect("g", "t", 1, 21),
                expect("h", "u", 0, 5)
            ]
        );
        let binding = |g: &str, t: &str| StoredBinding {
            group: g.into(),
            topic: t.into(),
        };
        // Storing offsets bound the groups to their first topic, for good.
        store.store("h", "other", &[(0, 1)]).unwrap();
        store.bind("idle", "v").unwrap();
        let mut bindings = store.load_bindings().unwrap();
        bindings.sort();
        assert_eq!(
            bindings,
            vec![binding("g", "t"), binding("h", "u"), binding("idle", "v")]
        );
        assert_eq!(store.delete_topic("t").unwrap(), 2);
        assert_eq!(store.delete_topic("other").unwrap(), 1);
        assert_eq!(store.load().unwrap(), vec![expect("h", "u", 0, 5)]);
        assert_eq!(
            store.load_bindings().unwrap(),
            vec![binding("h", "u"), binding("idle", "v")]
        );
        assert_eq!(store.delete_group("h").unwrap(), 1);
        assert!(store.load().unwrap().is_empty());
        assert_eq!(store.load_bindings().unwrap(), vec![binding("idle", "v")]);
    }
}
