//! The broker's shared state: everything a request handler and the background tasks need
//! ([`Broker`]), opened from the data directory, plus the small helpers around it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::auth::Auth;
use crate::claim::{BrokerClaimCheck, ClaimError};
use crate::config::BrokerConfig;
use crate::group::{Coordinator, RedbOffsetStore};
use crate::log::SyncObserver;
use crate::meta::{MetaError, MetaStore};
use crate::metrics::Metrics;
use crate::storage::StorageError;
use crate::storage::disk::DiskBackend;
use crate::topic::{Topic, TopicError, TopicRules, Topics};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Why the broker could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data directory {path} is in use by another broker")]
    DataDirLocked { path: std::path::PathBuf },
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    GroupStore(#[from] crate::group::StoreError),
    #[error(transparent)]
    Groups(#[from] crate::group::OpenError),
    #[error(transparent)]
    Claim(#[from] ClaimError),
    #[error("http server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("startup task failed: {0}")]
    Startup(String),
}

/// Per-key async locks, so two requests with the same idempotency key never run at once.
#[derive(Debug, Default)]
pub struct KeyLocks {
    map: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds a [`KeyLocks`] key; forgets the key when no one else waits for it.
#[derive(Debug)]
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: String,
    mutex: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyLocks {
    pub async fn lock(&self, key: &str) -> KeyGuard<'_> {
        let mutex = {
            let mut map = self.map.lock().expect("key locks");
            Arc::clone(map.entry(key.to_owned()).or_default())
        };
        let guard = Arc::clone(&mutex).lock_owned().await;
        KeyGuard {
            locks: self,
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

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map.lock().expect("key locks");
        // Two references left (the map's and ours) means nobody else is waiting.
        if Arc::strong_count(&self.mutex) <= 2 {
            map.remove(&self.key);
        }
    }
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub topics: Topics,
    pub meta: MetaStore,
    pub metrics: Metrics,
    pub auth: Auth,
    pub key_locks: KeyLocks,
    /// The claim-check blob store.
    pub claims: BrokerClaimCheck,
    /// Consumer groups; calls are short and in memory except commits and resets (fsync).
    pub groups: std::sync::Mutex<Coordinator>,
    /// Turns true when shutdown starts: long polls end, readiness fails, produce answers 503.
    pub stopping: watch::Receiver<bool>,
    /// Held for the broker's lifetime: one broker per data directory.
    _lock: std::fs::File,
}

impl Broker {
    /// Opens the data directory (blocking).
    pub fn open(
        config: BrokerConfig,
        claims: BrokerClaimCheck,
        stopping: watch::Receiver<bool>,
    ) -> Result<Self, RunError> {
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| RunError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let lock_path = dir.join(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| RunError::DataDir {
                path: lock_path.clone(),
                source,
            })?;
        if lock.try_lock().is_err() {
            return Err(RunError::DataDirLocked { path: dir });
        }

        let meta = MetaStore::open(&dir)?;
        let metrics = Metrics::new();
        let fsync_seconds = metrics.fsync_seconds.clone();
        let observer = SyncObserver(Arc::new(move |d: Duration| {
            fsync_seconds.observe(d.as_secs_f64());
        }));
        let backend = Arc::new(
            DiskBackend::new(dir.join("topics"), config.fsync)?.with_sync_observer(observer),
        );
        let rules = TopicRules {
            defaults: config.topic_defaults.clone(),
            max_partitions: config.max_partitions_per_topic,
            enforce_naming: config.enforce_topic_naming,
        };
        let topics = Topics::open(meta.clone(), backend, rules)?;
        let offsets = RedbOffsetStore::new(meta.database())?;
        let groups = Coordinator::open(Box::new(offsets), config.groups.clone())?;
        let broker = Self {
            claims,
            groups: std::sync::Mutex::new(groups),
            auth: Auth::new(&config.auth),
            config,
            topics,
            meta,
            metrics,
            key_locks: KeyLocks::default(),
            stopping,
            _lock: lock,
        };
        broker.forget_groups_of_deleted_topics()?;
        Ok(broker)
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// The topic to produce to, created with the defaults if `auto_create_topics` is on.
    pub async fn topic_for_produce(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        let unknown = || TopicError::Unknown {
            name: name.to_owned(),
        };
        if let Some(topic) = self.topics.get(name) {
            return Ok(topic);
        }
        if !self.config.auto_create_topics {
            return Err(unknown());
        }
        let req = wharf_proto::api::CreateTopic {
            name: name.to_owned(),
            partitions: self.config.topic_defaults.partitions,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            max_record_bytes: None,
        };
        match self.topics.create(req, now_ms()).await {
            Ok(topic) => Ok(topic),
            // Another request created it first.
            Err(TopicError::Exists { .. }) => self.topics.get(name).ok_or_else(unknown),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn key_locks_serialize_one_key_and_forget_it_afterwards() {
        let locks = Arc::new(KeyLocks::default());
        let first = locks.lock("k").await;
        let l2 = Arc::clone(&locks);
        let waiter = tokio::spawn(async move {
            let _g = l2.lock("k").await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
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
