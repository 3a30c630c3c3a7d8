//! The broker's shared state: everything a request handler and the background tasks need
//! ([`Broker`]), opened from the data directory, plus the small helpers around it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::auth::Auth;
use crate::claim::{BrokerClaimCheck, ClaimError};
use crate::config::{BrokerConfig, CoordinationBackend};
use crate::group::{Coordinator, EmbeddedGroups, RedbOffsetStore};
use crate::log::SyncObserver;
use crate::meta::{EmbeddedMeta, MetaError, MetaStore};
use crate::metrics::Metrics;
use crate::partition::DiskLogs;
use crate::pg::PgCoordination;
use crate::service::backend::{AlwaysLeader, GroupBackend, Leadership, LogBackend, MetaBackend};
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
    GroupBackend(#[from] crate::service::groups::GroupError),
    #[error(transparent)]
    Claim(#[from] ClaimError),
    #[error(transparent)]
    Postgres(#[from] crate::pg::PgError),
    #[error(transparent)]
    Schema(#[from] crate::schema::SchemaError),
    #[error(transparent)]
    Tls(#[from] crate::api::tls::TlsError),
    #[error("http server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("startup task failed: {0}")]
    Startup(String),
}

/// Everything a request handler needs. The service layer reaches storage and coordination only
/// through the backend traits held here (`crate::service::backend`).
#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub topics: Topics,
    /// Topic settings, idempotency outcomes, queued blob deletions.
    pub meta: Arc<dyn MetaBackend>,
    pub metrics: Metrics,
    pub auth: Auth,
    /// The claim-check blob store.
    pub claims: BrokerClaimCheck,
    /// Consumer groups.
    pub groups: Arc<dyn GroupBackend>,
    /// The schema registry (in the metadata database).
    pub schemas: Arc<crate::schema::Registry>,
    /// Whether this broker runs the background jobs.
    pub leader: Arc<dyn Leadership>,
    /// Turns true when shutdown starts: long polls end, readiness fails, produce answers 503.
    pub stopping: watch::Receiver<bool>,
    /// Held for the broker's lifetime: one broker per data directory.
    _lock: std::fs::File,
}

/// The embedded backends, opened from the data directory.
struct Embedded {
    lock: std::fs::File,
    meta: Arc<dyn MetaBackend>,
    logs: Arc<dyn LogBackend>,
    groups: Arc<dyn GroupBackend>,
    schemas: Arc<crate::schema::Registry>,
    metrics: Metrics,
}

impl Embedded {
    /// Locks the data directory and opens redb, the disk logs and the coordinator (blocking).
    fn open(config: &BrokerConfig) -> Result<Self, RunError> {
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

        match crate::reserve::keep_reserve(&dir) {
            Ok(crate::reserve::ReserveOutcome::Released { free_bytes }) => tracing::warn!(
                free_bytes,
                "disk nearly full: released the disk reserve so that the broker can start"
            ),
            Ok(crate::reserve::ReserveOutcome::Skipped { free_bytes }) => {
                tracing::warn!(free_bytes, "too little free disk to keep a disk reserve")
            }
            Ok(_) => {}
            // The reserve is a safety margin; a broker that cannot make one still starts.
            Err(e) => tracing::warn!(error = %e, "could not keep the disk reserve"),
        }
        let store = MetaStore::open(&dir)?;
        let metrics = Metrics::new();
        let fsync_seconds = metrics.fsync_seconds.clone();
        let observer = SyncObserver(Arc::new(move |d: Duration| {
            fsync_seconds.observe(d.as_secs_f64());
        }));
        let disk = Arc::new(
            DiskBackend::new(dir.join("topics"), config.fsync, config.max_open_files)?
                .with_sync_observer(observer),
        );
        let offsets = RedbOffsetStore::new(store.database())?;
        let schemas = Arc::new(crate::schema::Registry::open(store.database())?);
        let coordinator = Coordinator::open(Box::new(offsets), config.groups.clone())?;
        Ok(Self {
            lock,
            meta: Arc::new(EmbeddedMeta::new(store)),
            logs: Arc::new(DiskLogs::new(disk)),
            groups: Arc::new(EmbeddedGroups::new(
                coordinator,
                crate::service::groups::clock,
            )),
            schemas,
            metrics,
        })
    }
}

impl Broker {
    /// Opens the backends the configuration names and loads the topics.
    pub async fn open(
        config: BrokerConfig,
        claims: BrokerClaimCheck,
        stopping: watch::Receiver<bool>,
    ) -> Result<Self, RunError> {
        let for_open = config.clone();
        let mut embedded = tokio::task::spawn_blocking(move || Embedded::open(&for_open))
            .await
            .map_err(|e| RunError::Startup(e.to_string()))??;
        let mut leader: Arc<dyn Leadership> = Arc::new(AlwaysLeader);
        if config.coordination.backend == CoordinationBackend::Postgres {
            // Partition data stays in the data directory (still locked by `Embedded`); topic
            // settings, idempotency, groups and leadership move to the shared database.
            let pg =
                PgCoordination::open(&config.coordination.postgres, config.groups.clone()).await?;
            embedded.meta = Arc::new(pg.meta);
            embedded.groups = Arc::new(pg.groups);
            leader = Arc::new(pg.leader);
        }
        let rules = TopicRules {
            defaults: config.topic_defaults.clone(),
            max_partitions: config.max_partitions_per_topic,
            enforce_naming: config.enforce_topic_naming,
        };
        let topics = Topics::open(Arc::clone(&embedded.meta), embedded.logs, rules).await?;
        let broker = Self {
            claims,
            groups: embedded.groups,
            schemas: embedded.schemas,
            leader,
            auth: Auth::new(&config.auth),
            config,
            topics,
            meta: embedded.meta,
            metrics: embedded.metrics,
            stopping,
            _lock: embedded.lock,
        };
        broker.forget_groups_of_deleted_topics().await?;
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
            schema_validation: None,
        };
        match self.topics.create(req, now_ms()).await {
            Ok(topic) => Ok(topic),
            // Another request created it first.
            Err(TopicError::Exists { .. }) => self.topics.get(name).ok_or_else(unknown),
            Err(e) => Err(e),
        }
    }
}
