//! The PostgreSQL coordination backend (`coordination.backend = "postgres"`): the service-owned
//! traits of [`crate::service::backend`] over tables in one database that every gateway shares.
//! Partition data stays on the local disk ([`crate::partition::DiskLogs`]) in this step.
//!
//! - [`config`]: `[coordination]` and `[coordination.postgres]`.
//! - `schema`: the tables, created and migrated at start under a lock (a schema version row).
//! - [`PgMeta`] (`meta`): topic settings, idempotency claims, intents and outcomes, the
//!   claim-check deletion queue.
//! - [`PgGroups`] (`groups`): consumer groups, one row per group, every transition one
//!   transaction.
//! - [`PgLeadership`] (`leader`): which gateway runs the background jobs.
//! - `tests`: the backend conformance suites and cross-gateway tests against a real server
//!   (`WHARF_TEST_POSTGRES_URL`, from `infra/local/postgres.sh up`).
//!
//! # Client and pool
//! `tokio-postgres` is the tokio-native client (pure Rust, no libpq; it adds ~20 small crates
//! and a few seconds to a cold build). `deadpool-postgres` pools its connections: a few hundred
//! lines, no background threads, and it hands out a connection as an owned object that can be
//! kept across calls, which an idempotency claim needs (the key's lock lives on the session
//! that took it) and which can be detached from the pool so that closing it releases the lock.
//! A pool of our own would repeat exactly that.
//!
//! # Decisions
//! - **Idempotency claims are session advisory locks** (`pg_advisory_lock(class, crc32c(key))`)
//!   taken on a pooled connection that the claim keeps until the request completes: waiting
//!   retries on any gateway block in the database until it is released. Completing writes the
//!   outcome and drops the intent in one transaction, then unlocks and returns the connection.
//!   A hold dropped without completing (or a claim cancelled while it waits) closes its
//!   connection instead of returning it, and the server releases the lock with the session, so
//!   a lock can never stay behind on a pooled connection. Two keys with the same hash only wait
//!   for each other. A gateway that dies releases its keys with its sessions.
//! - **A group transition** is `SELECT … FOR UPDATE` on the group's row, the same synchronous
//!   [`crate::group::Coordinator`] logic run on that one group ([`crate::group::GroupSnapshot`]),
//!   the row written back, commit: two gateways can never both grant a partition or both accept
//!   a commit for one epoch, because the second waits for the first's row and sees its result.
//!   Epochs count per group in the row, so they never repeat, even after the group is deleted
//!   (the row stays with its counter).
//! - **Leases are compared against the database clock** (`clock_timestamp()` read under the
//!   row lock), never a gateway's: gateways whose clocks disagree still agree on when a lease
//!   lapses. The group's row also keeps the latest time it saw, so the clock never runs back.
//! - **`max_groups`** is checked by counting rows before a transition creates a group; two
//!   gateways creating groups at the same instant can each exceed it by one.
//! - **Leadership** is a session-level `pg_try_advisory_lock` on one dedicated connection
//!   (outside the pool); a lost connection is lost leadership.

pub mod config;
mod groups;
mod leader;
mod meta;
mod schema;
#[cfg(test)]
mod tests;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

pub use groups::PgGroups;
pub use leader::PgLeadership;
pub use meta::PgMeta;

use crate::group::GroupLimits;
use config::PostgresConfig;

/// Why the PostgreSQL backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("invalid coordination.postgres.url: {source}")]
    InvalidUrl {
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("cannot build the postgres connection pool: {detail}")]
    Pool { detail: String },
    #[error("postgres {operation} failed: {source}")]
    Query {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("postgres schema version {found} is newer than this broker's {supported}")]
    SchemaTooNew { found: i32, supported: i32 },
}

/// The three coordination backends over one database.
#[derive(Debug)]
pub struct PgCoordination {
    pub meta: PgMeta,
    pub groups: PgGroups,
    pub leader: PgLeadership,
}

impl PgCoordination {
    /// Connects, creates or migrates the schema, and builds the backends.
    pub async fn open(config: &PostgresConfig, limits: GroupLimits) -> Result<Self, PgError> {
        let pg = connection_config(config)?;
        Self::open_with(pg, config.max_connections, limits).await
    }

    /// As [`PgCoordination::open`], from a parsed connection configuration (tests point it at
    /// a database of their own).
    pub async fn open_with(
        pg: tokio_postgres::Config,
        max_connections: usize,
        limits: GroupLimits,
    ) -> Result<Self, PgError> {
        let pool = pool(pg.clone(), max_connections)?;
        schema::migrate(&pool).await?;
        tracing::info!(max_connections, "postgres coordination opened");
        Ok(Self {
            meta: PgMeta::new(pool.clone()),
            groups: PgGroups::new(pool, limits),
            leader: PgLeadership::new(pg),
        })
    }
}

/// Parses the connection string and applies the timeout.
pub fn connection_config(config: &PostgresConfig) -> Result<tokio_postgres::Config, PgError> {
    let mut pg: tokio_postgres::Config = config
        .url
        .parse()
        .map_err(|source| PgError::InvalidUrl { source })?;
    pg.connect_timeout(Duration::from_millis(config.connect_timeout_ms));
    pg.application_name("wharf-broker");
    Ok(pg)
}

fn pool(pg: tokio_postgres::Config, max_connections: usize) -> Result<Pool, PgError> {
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            // A connection that broke is found by the query that uses it; checking each one
            // before use would cost a round trip per call.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_connections)
        .build()
        .map_err(|e| PgError::Pool {
            detail: e.to_string(),
        })
}

/// Boxes any client or pool error for the backends' error variants.
fn boxed(
    e: impl std::error::Error + Send + Sync + 'static,
) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(e)
}
