//! The tables, created at start (`CREATE TABLE IF NOT EXISTS`) under a transaction-level
//! advisory lock, so gateways starting together do not race on the catalog, and a schema
//! version row that a later version migrates from.
//!
//! Values the broker already serializes for redb (topics, outcomes, intents, group snapshots)
//! are stored as the same JSON text; the columns beside them are what queries select on.
//! Idempotency keys are `bytea`: they are `<topic>\0<key>`, and `text` cannot hold a NUL.

use deadpool_postgres::Pool;

use super::{PgError, boxed};

/// The schema this broker writes.
pub(super) const VERSION: i32 = 1;

/// Advisory lock (one-`bigint` key space) serializing migrations: "wharf" + 1.
const MIGRATION_LOCK: i64 = 0x7768_6172_6601;

const DDL: &str = "
CREATE TABLE IF NOT EXISTS wharf_schema (
    id integer PRIMARY KEY CHECK (id = 1),
    version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS wharf_topics (
    name text PRIMARY KEY,
    topic text NOT NULL
);
CREATE TABLE IF NOT EXISTS wharf_idempotency (
    key bytea PRIMARY KEY,
    created_at_ms bigint NOT NULL,
    outcome text NOT NULL
);
CREATE TABLE IF NOT EXISTS wharf_idempotency_intents (
    key bytea PRIMARY KEY,
    created_at_ms bigint NOT NULL,
    intent text NOT NULL
);
CREATE INDEX IF NOT EXISTS wharf_idempotency_created ON wharf_idempotency (created_at_ms);
CREATE INDEX IF NOT EXISTS wharf_idempotency_intents_created
    ON wharf_idempotency_intents (created_at_ms);
CREATE TABLE IF NOT EXISTS wharf_blob_deletes (
    key text PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS wharf_groups (
    name text PRIMARY KEY,
    -- false once the group is deleted: the row stays for its epoch counter.
    present boolean NOT NULL,
    snapshot text NOT NULL
);
";

fn query<E: std::error::Error + Send + Sync + 'static>(
    operation: &'static str,
) -> impl FnOnce(E) -> PgError {
    move |e| PgError::Query {
        operation,
        source: boxed(e),
    }
}

/// Creates the tables if needed and records the version; refuses a newer schema.
pub(super) async fn migrate(pool: &Pool) -> Result<(), PgError> {
    let mut conn = pool.get().await.map_err(query("connect"))?;
    let tx = conn.transaction().await.map_err(query("begin migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(query("lock migration"))?;
    tx.batch_execute(DDL)
        .await
        .map_err(query("create tables"))?;
    let found: Option<i32> = tx
        .query_opt("SELECT version FROM wharf_schema WHERE id = 1", &[])
        .await
        .map_err(query("read schema version"))?
        .map(|row| row.get(0));
    match found {
        Some(found) if found > VERSION => {
            return Err(PgError::SchemaTooNew {
                found,
                supported: VERSION,
            });
        }
        Some(_) => {}
        None => {
            tx.execute(
                "INSERT INTO wharf_schema (id, version) VALUES (1, $1)",
                &[&VERSION],
            )
            .await
            .map_err(query("write schema version"))?;
        }
    }
    tx.commit().await.map_err(query("commit migration"))?;
    Ok(())
}
