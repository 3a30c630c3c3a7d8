//! Broker configuration: embedded defaults, an optional TOML file, `WHARF_*` environment
//! variables, then command-line flags, each overriding the one before.
//!
//! Every field of [`BrokerConfig`] is documented here; these docs are the reference the README
//! points users to. Unknown fields in the file are rejected so a typo never silently falls back
//! to a default.
//!
//! Environment variables are derived from the field paths rather than listed by hand, so every
//! setting has one: `topic_defaults.retention_ms` is `WHARF_TOPIC_DEFAULTS_RETENTION_MS`,
//! `claim_check.bucket` is `WHARF_CLAIM_CHECK_BUCKET`. String fields take the raw value; other
//! fields take a TOML value (`WHARF_AUTH_TOKENS='[{token="t", rights=[...]}]'`).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod http;
mod tls;

pub use crate::group::GroupLimits;
pub use crate::log::FsyncPolicy;
pub use crate::pg::config::{CoordinationBackend, CoordinationConfig, PostgresConfig};
pub use http::HttpLimits;
pub use tls::TlsConfig;

/// The whole broker configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Address the HTTP API listens on. Default `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory for topic logs, metadata (`meta.redb`) and the local blob store.
    /// Default `./data`.
    pub data_dir: PathBuf,
    /// Log output: `text` (default) or `json` (one object per line).
    pub log_format: LogFormat,
    /// `tracing` filter directive, e.g. `info` or `wharf_broker=debug`. `RUST_LOG` wins if set.
    pub log_filter: String,
    /// How long a graceful shutdown may take (finish requests, fsync, close) before the broker
    /// exits anyway. Default 10 000 ms.
    pub shutdown_timeout_ms: u64,
    /// Largest request body accepted, after decompression (gzip/zstd). Larger bodies are 413.
    /// Default 8 MiB.
    pub max_request_bytes: u64,
    /// Upper bound on `wait_ms` of long polls. Default 60 000 ms.
    pub max_wait_ms: u64,
    /// Create a topic (with `topic_defaults`) on first produce instead of answering 404.
    /// Default false.
    pub auto_create_topics: bool,
    /// Require topic names of the form `<domain>.<service>.<event>`
    /// (e.g. `order.order-service.created`). Default false.
    pub enforce_topic_naming: bool,
    /// Largest partition count a topic may have. Default 1024.
    pub max_partitions_per_topic: u32,
    /// How often retention runs over all partitions. Default 60 000 ms.
    pub retention_check_interval_ms: u64,
    /// When an append counts as durable: `group_commit` (default: concurrent appends share one
    /// fdatasync), `always` (each append fsyncs), `never` (left to the OS).
    pub fsync: FsyncPolicy,
    /// Most file handles of sealed segments kept open at once, shared by all partitions (an
    /// LRU cache; the rest are opened when read). Each partition's active segment keeps three
    /// more files open of its own. Default 512, which leaves half of a `ulimit -n 1024` to
    /// connections and the rest; at least 8. The broker also raises its soft `RLIMIT_NOFILE`
    /// to the hard limit at start.
    pub max_open_files: usize,
    /// Settings a new topic gets unless its create request says otherwise.
    pub topic_defaults: TopicDefaults,
    /// `Idempotency-Key` handling for produce requests.
    pub idempotency: IdempotencyConfig,
    /// Where payloads above the offload threshold go (claim check).
    pub claim_check: ClaimCheckConfig,
    /// Consumer-group limits.
    pub groups: GroupLimits,
    /// Bearer-token authorization. Off while no token is configured.
    pub auth: AuthConfig,
    /// What one client may hold of the listener: connections, time, header and body bytes.
    pub http: HttpLimits,
    /// HTTPS on the listener: `cert_path` and `key_path` (PEM), both or neither. Off (plain
    /// HTTP) by default.
    pub tls: TlsConfig,
    /// Where topic settings, idempotency outcomes and consumer groups are coordinated:
    /// `embedded` (default) or `postgres` (`coordination.postgres.url`). Partition data stays in
    /// `data_dir` either way.
    pub coordination: CoordinationConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            log_format: LogFormat::Text,
            log_filter: "info".to_owned(),
            shutdown_timeout_ms: 10_000,
            max_request_bytes: 8 * 1024 * 1024,
            max_wait_ms: 60_000,
            auto_create_topics: false,
            enforce_topic_naming: false,
            max_partitions_per_topic: 1024,
            retention_check_interval_ms: 60_000,
            fsync: FsyncPolicy::GroupCommit,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            topic_defaults: TopicDefaults::default(),
            idempotency: IdempotencyConfig::default(),
            claim_check: ClaimCheckConfig::default(),
            groups: GroupLimits::default(),
            auth: AuthConfig::default(),
            http: HttpLimits::default(),
            tls: TlsConfig::default(),
            coordination: CoordinationConfig::default(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Per-topic defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TopicDefaults {
    /// Partitions of an auto-created topic. Default 1.
    pub partitions: u32,
    /// Delete sealed segments older than this; -1 keeps them forever. Default 7 days, as Kafka.
    pub retention_ms: i64,
    /// Delete the oldest sealed segments while a partition is larger; -1 (default) = unlimited.
    pub retention_bytes: i64,
    /// Roll to a new segment file at this size. Default 1 GiB.
    pub segment_bytes: u64,
    /// Largest record the log stores (after claim-check offload). Default 1 MiB.
    pub max_record_bytes: u64,
}

impl Default for TopicDefaults {
    fn default() -> Self {
        Self {
            partitions: 1,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            segment_bytes: 1024 * 1024 * 1024,
            max_record_bytes: 1024 * 1024,
        }
    }
}

/// `Idempotency-Key` settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencyConfig {
    /// How long a key is remembered (the stored response replayed). Default 24 h.
    pub window_ms: u64,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            window_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// Which blob store holds offloaded payloads.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BlobStoreKind {
    /// A directory on the broker's disk (default: `<data_dir>/blobs`).
    Local,
    /// An S3 bucket (credentials and region from the standard AWS chain).
    S3,
}

/// Claim-check settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimCheckConfig {
    /// `local` (default) or `s3`.
    pub store: BlobStoreKind,
    /// Directory of the local store. Default `<data_dir>/blobs`.
    pub local_dir: Option<PathBuf>,
    /// S3 bucket (also the `bucket` named in pointers). Default `wharf-offload`.
    pub bucket: String,
    /// Object key prefix: keys are `<prefix>/<topic>/<yyyy>/<mm>/<dd>/<uuid>`. Default `wharf`.
    pub prefix: String,
    /// AWS region; the standard chain (`AWS_REGION`, profile) if absent.
    pub region: Option<String>,
    /// Custom S3 endpoint, e.g. `http://127.0.0.1:4566` for LocalStack.
    pub endpoint_url: Option<String>,
    /// Path-style bucket addressing (needed by LocalStack). Default false.
    pub force_path_style: bool,
    /// Values larger than this are offloaded by the broker. Default 256 KiB.
    pub threshold_bytes: u64,
    /// Lifetime of presigned URLs handed out with `resolve=url`. Default 15 minutes.
    pub presign_expiry_ms: u64,
}

impl Default for ClaimCheckConfig {
    fn default() -> Self {
        Self {
            store: BlobStoreKind::Local,
            local_dir: None,
            bucket: "wharf-offload".to_owned(),
            prefix: "wharf".to_owned(),
            region: None,
            endpoint_url: None,
            force_path_style: false,
            threshold_bytes: 256 * 1024,
            presign_expiry_ms: 15 * 60 * 1000,
        }
    }
}

/// Bearer-token authorization.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Accepted tokens and their rights. Empty (default) turns authorization off.
    pub tokens: Vec<TokenConfig>,
}

/// One accepted bearer token: either `token` or `token_sha256`, not both. `Debug` redacts both.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The secret sent as `Authorization: Bearer <token>` (at least 8 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The SHA-256 of the secret as 64 hex digits, instead of `token`, so the config file does
    /// not hold the secret (`printf %s "$TOKEN" | sha256sum`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sha256: Option<String>,
    /// A name for logs (never the token itself). Default `token-<n>`.
    #[serde(default)]
    pub name: Option<String>,
    /// What the token may do, by topic pattern.
    pub rights: Vec<RightConfig>,
}

impl TokenConfig {
    /// The digest the broker compares presented tokens with; `None` if neither field is usable.
    pub fn digest(&self) -> Option<crate::auth::TokenDigest> {
        match (&self.token, &self.token_sha256) {
            (Some(token), None) => Some(crate::auth::TokenDigest::of(token)),
            (None, Some(hex)) => crate::auth::TokenDigest::from_hex(hex),
            _ => None,
        }
    }
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |set: bool| if set { "<redacted>" } else { "<none>" };
        f.debug_struct("TokenConfig")
            .field("token", &redacted(self.token.is_some()))
            .field("token_sha256", &redacted(self.token_sha256.is_some()))
            .field("name", &self.name)
            .field("rights", &self.rights)
            .finish()
    }
}

/// Actions allowed on the topics matching a pattern.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RightConfig {
    /// Topic pattern: `*` matches any run of characters (`orders.*`, `*`).
    pub topics: String,
    /// Any of `produce`, `consume`, `admin`.
    pub actions: Vec<Action>,
}

/// An authorizable action.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Append records.
    Produce,
    /// Fetch records, join groups, commit offsets.
    Consume,
    /// Create, change and delete topics; reset group offsets.
    Admin,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("invalid environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("invalid setting {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// Overrides given on the command line (they win over file and environment).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
}

/// `WHARF_*` variables that belong to other tools (the CLI, the functions) and are ignored.
const FOREIGN_ENV: &[&str] = &["WHARF_URL", "WHARF_TOKEN", "WHARF_CONFIG", "WHARF_TOPIC"];

impl BrokerConfig {
    /// Loads defaults ← file ← `env` ← overrides, and validates the result.
    pub fn load(
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::try_from(BrokerConfig::default())
            .expect("the default config serializes to a TOML table");

        if let Some(path) = &overrides.config_file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let file: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
            // Deserialize the file on its own first: its errors then name the file's own lines.
            BrokerConfig::deserialize(toml::Value::Table(file.clone())).map_err(|e| {
                ConfigError::File {
                    path: path.clone(),
                    message: e.to_string(),
                }
            })?;
            merge(&mut merged, file);
        }

        let leaves = leaf_paths();
        for (name, raw) in env {
            let Some(suffix) = name.strip_prefix("WHARF_") else {
                continue;
            };
            if FOREIGN_ENV.contains(&name.as_str()) {
                continue;
            }
            let Some((path, is_string)) =
                leaves.iter().find(|(path, _)| env_suffix(path) == suffix)
            else {
                tracing::warn!(name = %name, "ignoring unknown wharf environment variable");
                continue;
            };
            let value = if *is_string {
                toml::Value::String(raw)
            } else {
                parse_toml_value(&raw).map_err(|message| ConfigError::Env {
                    name: name.clone(),
                    message,
                })?
            };
            set_path(&mut merged, path, value);
        }

        let mut config = BrokerConfig::deserialize(toml::Value::Table(merged)).map_err(|e| {
            ConfigError::Env {
                name: "WHARF_*".to_owned(),
                message: e.to_string(),
            }
        })?;
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(format) = overrides.log_format {
            config.log_format = format;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, message: &str| {
            Err(ConfigError::Invalid {
                field,
                message: message.to_owned(),
            })
        };
        if self.max_request_bytes < 1024 {
            return invalid("max_request_bytes", "must be at least 1024");
        }
        if self.max_partitions_per_topic == 0 {
            return invalid("max_partitions_per_topic", "must be at least 1");
        }
        if self.coordination.backend == CoordinationBackend::Postgres {
            if self.coordination.postgres.url.is_empty() {
                return invalid(
                    "coordination.postgres.url",
                    "must be set when coordination.backend is postgres",
                );
            }
            if self.coordination.postgres.max_connections < 2 {
                return invalid(
                    "coordination.postgres.max_connections",
                    "must be at least 2",
                );
            }
        }
        if self.retention_check_interval_ms == 0 {
            return invalid("retention_check_interval_ms", "must be positive");
        }
        if self.max_open_files < MIN_MAX_OPEN_FILES {
            return invalid("max_open_files", "must be at least 8");
        }
        let d = &self.topic_defaults;
        if d.partitions == 0 || d.partitions > self.max_partitions_per_topic {
            return invalid(
                "topic_defaults.partitions",
                "must be between 1 and max_partitions_per_topic",
            );
        }
        if d.retention_ms < -1 || d.retention_ms == 0 {
            return invalid("topic_defaults.retention_ms", "must be positive or -1");
        }
        if d.retention_bytes < -1 || d.retention_bytes == 0 {
            return invalid("topic_defaults.retention_bytes", "must be positive or -1");
        }
        if d.segment_bytes < MIN_SEGMENT_BYTES {
            return invalid("topic_defaults.segment_bytes", "must be at least 1024");
        }
        if d.max_record_bytes == 0 || d.max_record_bytes > d.segment_bytes {
            return invalid(
                "topic_defaults.max_record_bytes",
                "must be positive and at most segment_bytes",
            );
        }
        let g = &self.groups;
        if g.min_lease_ms == 0 || g.min_lease_ms > g.max_lease_ms {
            return invalid(
                "groups.min_lease_ms",
                "must be positive and <= max_lease_ms",
            );
        }
        self.http.validate(self.max_request_bytes)?;
        self.tls.validate()?;
        for (i, token) in self.auth.tokens.iter().enumerate() {
            let message = match (&token.token, &token.token_sha256) {
                (Some(t), None) if t.len() < 8 => "is shorter than 8 characters",
                (Some(_), Some(_)) => "sets both token and token_sha256",
                (None, None) => "sets neither token nor token_sha256",
                (None, Some(_)) if token.digest().is_none() => {
                    "has a token_sha256 that is not 64 hex digits"
                }
                _ => continue,
            };
            return Err(ConfigError::Invalid {
                field: "auth.tokens",
                message: format!("token #{i} {message}"),
            });
        }
        Ok(())
    }

    /// Directory of the local blob store.
    pub fn blob_dir(&self) -> PathBuf {
        self.claim_check
            .local_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    /// A configuration with every optional field set: the source of the environment variable
    /// names (an unset `Option` would not show up as a path).
    fn with_every_field() -> Self {
        let mut c = BrokerConfig::default();
        c.claim_check.local_dir = Some(PathBuf::from("blobs"));
        c.claim_check.region = Some("us-east-1".to_owned());
        c.claim_check.endpoint_url = Some("http://127.0.0.1:4566".to_owned());
        c.tls.cert_path = Some(PathBuf::from("cert.pem"));
        c.tls.key_path = Some(PathBuf::from("key.pem"));
        c.auth.tokens = vec![TokenConfig {
            token: Some("example-token".to_owned()),
            token_sha256: None,
            name: None,
            rights: vec![],
        }];
        c
    }
}

/// Default `max_open_files`: half of the common `ulimit -n 1024`.
pub const DEFAULT_MAX_OPEN_FILES: usize = 512;
/// Smallest `max_open_files` accepted (a read needs two handles, retention and reads overlap).
pub const MIN_MAX_OPEN_FILES: usize = 8;

/// Smallest `segment_bytes` accepted (tests use small segments so they really roll).
pub const MIN_SEGMENT_BYTES: u64 = 1024;

/// Every leaf setting as (path, takes-a-raw-string). Arrays are leaves.
fn leaf_paths() -> Vec<(Vec<String>, bool)> {
    fn walk(table: &toml::Table, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
        for (key, value) in table {
            prefix.push(key.clone());
            match value {
                toml::Value::Table(inner) => walk(inner, prefix, out),
                other => out.push((prefix.clone(), other.is_str())),
            }
            prefix.pop();
        }
    }
    let table = toml::Table::try_from(BrokerConfig::with_every_field())
        .expect("the config serializes to a TOML table");
    let mut out = Vec::new();
    walk(&table, &mut Vec::new(), &mut out);
    out
}

fn env_suffix(path: &[String]) -> String {
    path.join("_").to_ascii_uppercase()
}

/// The environment variable of every setting, for documentation and tests.
pub fn env_var_names() -> Vec<String> {
    let mut names: Vec<String> = leaf_paths()
        .iter()
        .map(|(path, _)| format!("WHARF_{}", env_suffix(path)))
        .collect();
    names.sort();
    names
}

fn parse_toml_value(raw: &str) -> Result<toml::Value, String> {
    let doc: toml::Table = toml::from_str(&format!("v = {raw}")).map_err(|e| e.to_string())?;
    doc.get("v").cloned().ok_or_else(|| "no value".to_owned())
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    debug_assert!(!path.is_empty());
    let (last, parents) = path.split_last().expect("a leaf path is never empty");
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        current = entry.as_table_mut().expect("just made a table");
    }
    current.insert(last.clone(), value);
}

#[cfg(test)]
mod tests;
