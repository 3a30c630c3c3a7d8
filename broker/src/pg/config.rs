//! `[coordination]`: which store coordinates the broker (topic settings, idempotency outcomes,
//! consumer groups, background-job leadership), and how to reach PostgreSQL when it is that.

use serde::{Deserialize, Serialize};

/// Where the broker keeps the small, strongly consistent state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CoordinationConfig {
    /// `embedded` (default: redb in the data directory and the in-process group coordinator;
    /// one broker) or `postgres` (tables in the PostgreSQL database at `postgres.url`, shared by
    /// every gateway pointed at it).
    pub backend: CoordinationBackend,
    /// The PostgreSQL store, used when `backend = "postgres"`.
    pub postgres: PostgresConfig,
}

/// The coordination store.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum CoordinationBackend {
    /// redb and the in-process coordinator.
    #[default]
    Embedded,
    /// PostgreSQL (`crate::pg`).
    Postgres,
}

/// How to reach PostgreSQL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Connection string, as a URL (`postgresql://user:password@host:5432/db`) or libpq
    /// `key=value` pairs. Required when `backend = "postgres"`. Plain TCP only for now (no TLS).
    pub url: String,
    /// Most pooled connections of this broker. A request waiting for an idempotency key another
    /// request holds keeps one busy while it waits. Background-job leadership uses one more
    /// connection of its own. Default 16.
    pub max_connections: usize,
    /// How long opening one connection may take before the operation fails. Default 5 000 ms.
    pub connect_timeout_ms: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 16,
            connect_timeout_ms: 5_000,
        }
    }
}
