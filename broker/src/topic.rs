//! Topics: their definitions (persisted in [`crate::meta`]) and their partitions.
//!
//! Creation and deletion are ordered so a crash at any point leaves nothing half-made that the
//! next start cannot resolve: a topic's partitions are created before its metadata is committed,
//! and its metadata is removed before its files are. At start, partition data with no metadata
//! (an interrupted create or delete) is removed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::watch;
use wharf_proto::api::{CreateTopic, PartitionState, PatchTopic, TopicDescription};

use crate::config::{MIN_SEGMENT_BYTES, TopicDefaults};
use crate::meta::{MetaError, StoredTopic};
use crate::service::backend::{LogBackend, MetaBackend, PartitionLog};
use crate::storage::{PartitionSettings, Retention, StorageError};

/// Longest topic name (Kafka's limit).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Why a topic operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("invalid {field}: {message}")]
    InvalidConfig {
        field: &'static str,
        message: String,
    },
    #[error("topic {name} already exists")]
    Exists { name: String },
    #[error("unknown topic {name}")]
    Unknown { name: String },
    #[error("partitions can only grow: topic has {current}, asked for {requested}")]
    PartitionsCannotShrink { current: u32, requested: u32 },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// Rules for names and settings of new topics.
#[derive(Debug, Clone)]
pub struct TopicRules {
    pub defaults: TopicDefaults,
    pub max_partitions: u32,
    /// Require `<domain>.<service>.<event>`.
    pub enforce_naming: bool,
}

/// One topic.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    config: RwLock<StoredTopic>,
    partitions: RwLock<Vec<Arc<dyn PartitionLog>>>,
    /// Where the next keyless batch goes (Kafka's sticky partitioner, one batch per request).
    sticky: AtomicU32,
    appends: watch::Sender<u64>,
}

impl Topic {
    pub fn config(&self) -> StoredTopic {
        self.config.read().expect("topic config lock").clone()
    }

    pub fn partition_count(&self) -> u32 {
        self.partitions.read().expect("partitions lock").len() as u32
    }

    pub fn partition(&self, id: u32) -> Option<Arc<dyn PartitionLog>> {
        self.partitions
            .read()
            .expect("partitions lock")
            .get(id as usize)
            .cloned()
    }

    pub fn partitions(&self) -> Vec<Arc<dyn PartitionLog>> {
        self.partitions.read().expect("partitions lock").clone()
    }

    /// The partition for the next keyless batch: one partition per request, moving round-robin.
    pub fn next_sticky_partition(&self) -> u32 {
        let count = self.partition_count().max(1);
        self.sticky.fetch_add(1, Ordering::Relaxed) % count
    }

    /// A receiver that changes whenever any partition of this topic is appended to.
    pub fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appends.subscribe()
    }

    /// The API description, with partition states if asked.
    pub fn describe(&self, with_partitions: bool) -> TopicDescription {
        let c = self.config();
        let partition_states = if with_partitions {
            self.partitions()
                .iter()
                .map(|p| {
                    let o = p.offsets();
                    PartitionState {
                        partition: p.id(),
                        log_start_offset: o.log_start_offset,
                        high_watermark: o.high_watermark,
                        size_bytes: o.size_bytes,
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        TopicDescription {
            name: c.name,
            partitions: c.partitions,
            retention_ms: c.retention_ms,
            retention_bytes: c.retention_bytes,
            segment_bytes: c.segment_bytes,
            max_record_bytes: c.max_record_bytes,
            created_at_ms: c.created_at_ms,
            schema_validation: c.schema_validation,
            partition_states,
        }
    }
}

fn settings_of(t: &StoredTopic) -> PartitionSettings {
    PartitionSettings {
        segment_bytes: t.segment_bytes,
        retention: Retention::from_kafka(t.retention_ms, t.retention_bytes),
    }
}

/// All topics of the broker.
#[derive(Debug)]
pub struct Topics {
    meta: Arc<dyn MetaBackend>,
    backend: Arc<dyn LogBackend>,
    rules: TopicRules,
    map: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serializes create / patch / delete so two admins cannot interleave them.
    admin: tokio::sync::Mutex<()>,
}

impl Topics {
    /// Loads every topic and opens its partitions (call at start).
    pub async fn open(
        meta: Arc<dyn MetaBackend>,
        backend: Arc<dyn LogBackend>,
        rules: TopicRules,
    ) -> Result<Self, TopicError> {
        let stored = meta.topics().await?;
        let known: Vec<String> = stored.iter().map(|t| t.name.clone()).collect();
        for stray in backend.stray_topics(&known).await? {
            tracing::warn!(topic = %stray, "removing partition data without topic metadata");
            backend.delete_topic(&stray).await?;
        }
        let mut map = HashMap::new();
        for t in stored {
            let topic = Self::open_topic(backend.as_ref(), t).await?;
            map.insert(topic.name.clone(), Arc::new(topic));
        }
        Ok(Self {
            meta,
            backend,
            rules,
            map: RwLock::new(map),
            admin: tokio::sync::Mutex::new(()),
        })
    }

    async fn open_topic(backend: &dyn LogBackend, t: StoredTopic) -> Result<Topic, TopicError> {
        let (appends, _) = watch::channel(0);
        let partitions = backend
            .open_partitions(&t.name, 0..t.partitions, settings_of(&t), appends.clone())
            .await?;
        debug_assert_eq!(partitions.len(), t.partitions as usize);
        Ok(Topic {
            name: t.name.clone(),
            config: RwLock::new(t),
            partitions: RwLock::new(partitions),
            sticky: AtomicU32::new(0),
            appends,
        })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.map.read().expect("topics lock").get(name).cloned()
    }

    /// Every topic, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self
            .map
            .read()
            .expect("topics lock")
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn rules(&self) -> &TopicRules {
        &self.rules
    }

    /// Checks a topic name against Kafka's rules and, if configured, the naming convention.
    pub fn validate_name(&self, name: &str) -> Result<(), TopicError> {
        let invalid = |reason: &str| {
            Err(TopicError::InvalidName {
                name: name.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if name.is_empty() || name.len() > MAX_TOPIC_NAME_LEN {
            return invalid("must be 1 to 249 characters");
        }
        if name == "." || name == ".." {
            return invalid("must not be '.' or '..'");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return invalid("may contain only ASCII letters, digits, '.', '_' and '-'");
        }
        if self.rules.enforce_naming {
            let parts: Vec<&str> = name.split('.').collect();
            // `<domain>.<service>.<event>`; a dead-letter topic adds `.dlq`.
            let base = match parts.as_slice() {
                [d, s, e, "dlq"] => [*d, *s, *e],
                [d, s, e] => [*d, *s, *e],
                _ => return invalid("must follow <domain>.<service>.<event>"),
            };
            if base.iter().any(|p| p.is_empty()) {
                return invalid("must follow <domain>.<service>.<event>");
            }
        }
        Ok(())
    }

    fn validate_retention(field: &'static str, value: i64) -> Result<(), TopicError> {
        if value == -1 || value > 0 {
            Ok(())
        } else {
            Err(TopicError::InvalidConfig {
                field,
                message: format!("must be positive or -1 (unlimited), got {value}"),
            })
        }
    }

    /// Creates a topic.
    pub async fn create(&self, req: CreateTopic, now_ms: i64) -> Result<Arc<Topic>, TopicError> {
        self.validate_name(&req.name)?;
        let d = &self.rules.defaults;
        if req.partitions == 0 || req.partitions > self.rules.max_partitions {
            return Err(TopicError::InvalidConfig {
                field: "partitions",
                message: format!(
                    "must be between 1 and {}, got {}",
                    self.rules.max_partitions, req.partitions
                ),
            });
        }
        let stored = StoredTopic {
            name: req.name.clone(),
            partitions: req.partitions,
            retention_ms: req.retention_ms.unwrap_or(d.retention_ms),
            retention_bytes: req.retention_bytes.unwrap_or(d.retention_bytes),
            segment_bytes: req.segment_bytes.unwrap_or(d.segment_bytes),
            max_record_bytes: req.max_record_bytes.unwrap_or(d.max_record_bytes),
            created_at_ms: now_ms,
            schema_validation: req.schema_validation.unwrap_or_default(),
        };
        Self::validate_retention("retention_ms", stored.retention_ms)?;
        Self::validate_retention("retention_bytes", stored.retention_bytes)?;
        if stored.segment_bytes < MIN_SEGMENT_BYTES || stored.segment_bytes > u64::from(u32::MAX) {
            return Err(TopicError::InvalidConfig {
                field: "segment_bytes",
                message: format!(
                    "must be between {MIN_SEGMENT_BYTES} and {}, got {}",
                    u32::MAX,
                    stored.segment_bytes
                ),
            });
        }
        if stored.max_record_bytes == 0 || stored.max_record_bytes > stored.segment_bytes {
            return Err(TopicError::InvalidConfig {
                field: "max_record_bytes",
                message: format!(
                    "must be positive and at most segment_bytes ({}), got {}",
                    stored.segment_bytes, stored.max_record_bytes
                ),
            });
        }

        let _admin = self.admin.lock().await;
        if self.get(&req.name).is_some() {
            return Err(TopicError::Exists { name: req.name });
        }
        let topic = Self::open_topic(self.backend.as_ref(), stored.clone()).await?;
        self.meta.put_topic(&stored).await?;
        let topic = Arc::new(topic);
        self.map
            .write()
            .expect("topics lock")
            .insert(topic.name.clone(), Arc::clone(&topic));
        tracing::info!(topic = %topic.name, partitions = topic.partition_count(), "created topic");
        Ok(topic)
    }

    /// Raises partitions and/or changes retention.
    pub async fn patch(&self, name: &str, patch: PatchTopic) -> Result<Arc<Topic>, TopicError> {
        let _admin = self.admin.lock().await;
        let topic = self.get(name).ok_or_else(|| TopicError::Unknown {
            name: name.to_owned(),
        })?;
        let mut updated = topic.config();
        if let Some(ms) = patch.retention_ms {
            Self::validate_retention("retention_ms", ms)?;
            updated.retention_ms = ms;
        }
        if let Some(bytes) = patch.retention_bytes {
            Self::validate_retention("retention_bytes", bytes)?;
            updated.retention_bytes = bytes;
        }
        if let Some(mode) = patch.schema_validation {
            updated.schema_validation = mode;
        }
        if let Some(requested) = patch.partitions {
            if requested < updated.partitions {
                return Err(TopicError::PartitionsCannotShrink {
                    current: updated.partitions,
                    requested,
                });
            }
            if requested > self.rules.max_partitions {
                return Err(TopicError::InvalidConfig {
                    field: "partitions",
                    message: format!("must be at most {}", self.rules.max_partitions),
                });
            }
            updated.partitions = requested;
        }

        let current = topic.partition_count();
        let settings = settings_of(&updated);
        let new_partitions = self
            .backend
            .open_partitions(
                name,
                current..updated.partitions,
                settings,
                topic.appends.clone(),
            )
            .await?;
        self.backend.set_retention(name, settings.retention).await?;
        self.meta.put_topic(&updated).await?;

        for p in topic.partitions() {
            p.set_retention(settings.retention);
        }
        {
            let mut partitions = topic.partitions.write().expect("partitions lock");
            for p in new_partitions {
                debug_assert_eq!(p.id() as usize, partitions.len());
                partitions.push(p);
            }
        }
        *topic.config.write().expect("topic config lock") = updated;
        tracing::info!(topic = %name, partitions = topic.partition_count(), "updated topic");
        Ok(topic)
    }

    /// Deletes a topic and its data.
    pub async fn delete(&self, name: &str) -> Result<(), TopicError> {
        let _admin = self.admin.lock().await;
        let topic = self
            .map
            .write()
            .expect("topics lock")
            .remove(name)
            .ok_or_else(|| TopicError::Unknown {
                name: name.to_owned(),
            })?;
        drop(topic);
        self.meta.delete_topic(name).await?;
        self.backend.delete_topic(name).await?;
        tracing::info!(topic = %name, "deleted topic");
        Ok(())
    }

    /// Makes every partition durable (shutdown).
    pub async fn sync_all(&self) -> Result<(), StorageError> {
        for topic in self.list() {
            for p in topic.partitions() {
                p.sync().await?;
            }
        }
        Ok(())
    }
}
