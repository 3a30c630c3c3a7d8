//! [`PgMeta`]: topic settings, idempotency claims/intents/outcomes and the blob-deletion queue in
//! PostgreSQL. A claim is a session advisory lock held on a connection the claim keeps (module
//! doc of [`crate::pg`]).

use deadpool_postgres::{Object, Pool};

use super::boxed;
use crate::meta::{MetaError, ProduceIntent, StoredProduce, StoredTopic};
use crate::service::backend::{BoxFuture, IdempotencyClaim, IdempotencyHold, MetaBackend};

/// First key of the two-`integer` advisory lock space used for idempotency keys ("WI"), apart
/// from the one-`bigint` space of migrations and leadership.
const IDEMPOTENCY_LOCK_CLASS: i32 = 0x5749;

fn remote(operation: &'static str) -> impl FnOnce(tokio_postgres::Error) -> MetaError {
    move |e| MetaError::Remote {
        operation,
        source: boxed(e),
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> MetaError {
    MetaError::Remote {
        operation: "connect",
        source: boxed(e),
    }
}

fn corrupt(key: &[u8], e: serde_json::Error) -> MetaError {
    MetaError::Remote {
        operation: "decode stored record",
        source: format!("record {}: {e}", String::from_utf8_lossy(key)).into(),
    }
}

/// The advisory lock of an idempotency key.
fn lock_id(key: &str) -> i32 {
    i32::from_ne_bytes(crc32c::crc32c(key.as_bytes()).to_ne_bytes())
}

/// The metadata store in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgMeta {
    pool: Pool,
}

/// The connection holding an idempotency key's lock. Dropped without [`PgHold::release`], it
/// closes the connection (the server then releases the lock) rather than return a locked
/// session to the pool.
struct PgHold {
    conn: Option<Object>,
}

impl PgHold {
    /// Unlocks and gives the connection back to the pool.
    async fn release(mut self, lock: i32) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        match conn
            .execute(
                "SELECT pg_advisory_unlock($1, $2)",
                &[&IDEMPOTENCY_LOCK_CLASS, &lock],
            )
            .await
        {
            Ok(_) => drop(conn),
            Err(error) => {
                tracing::warn!(%error, "idempotency unlock failed; closing the connection");
                drop(Object::take(conn));
            }
        }
    }
}

impl Drop for PgHold {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }
}

impl PgMeta {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn conn(&self) -> Result<Object, MetaError> {
        self.pool.get().await.map_err(pool_error)
    }
}

impl MetaBackend for PgMeta {
    fn topics(&self) -> BoxFuture<'_, Result<Vec<StoredTopic>, MetaError>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let rows = conn
                .query("SELECT name, topic FROM wharf_topics ORDER BY name", &[])
                .await
                .map_err(remote("list topics"))?;
            rows.iter()
                .map(|row| {
                    let name: &str = row.get(0);
                    serde_json::from_str(row.get(1)).map_err(|e| corrupt(name.as_bytes(), e))
                })
                .collect()
        })
    }

    fn put_topic<'a>(&'a self, topic: &'a StoredTopic) -> BoxFuture<'a, Result<(), MetaError>> {
        Box::pin(async move {
            let body = serde_json::to_string(topic).expect("a topic serializes");
            self.conn()
                .await?
                .execute(
                    "INSERT INTO wharf_topics (name, topic) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET topic = EXCLUDED.topic",
                    &[&topic.name, &body],
                )
                .await
                .map_err(remote("put topic"))?;
            Ok(())
        })
    }

    fn delete_topic<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool, MetaError>> {
        Box::pin(async move {
            let deleted = self
                .conn()
                .await?
                .execute("DELETE FROM wharf_topics WHERE name = $1", &[&name])
                .await
                .map_err(remote("delete topic"))?;
            Ok(deleted > 0)
        })
    }

    fn claim_idempotency<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<IdempotencyClaim, MetaError>> {
        Box::pin(async move {
            // The hold owns the connection from here on: if this future is dropped while it
            // waits for the lock, the connection closes and the lock can never be granted to a
            // pooled session nobody owns.
            let hold = PgHold {
                conn: Some(self.conn().await?),
            };
            let conn = hold.conn.as_ref().expect("connection held");
            conn.execute(
                "SELECT pg_advisory_lock($1, $2)",
                &[&IDEMPOTENCY_LOCK_CLASS, &lock_id(key)],
            )
            .await
            .map_err(remote("lock idempotency key"))?;
            let bytes = key.as_bytes();
            let stored = conn
                .query_opt(
                    "SELECT outcome FROM wharf_idempotency WHERE key = $1",
                    &[&bytes],
                )
                .await
                .map_err(remote("read idempotency outcome"))?
                .map(|row| serde_json::from_str::<StoredProduce>(row.get(0)))
                .transpose()
                .map_err(|e| corrupt(bytes, e))?;
            let intent = conn
                .query_opt(
                    "SELECT intent FROM wharf_idempotency_intents WHERE key = $1",
                    &[&bytes],
                )
                .await
                .map_err(remote("read idempotency intent"))?
                .map(|row| serde_json::from_str::<ProduceIntent>(row.get(0)))
                .transpose()
                .map_err(|e| corrupt(bytes, e))?;
            Ok(IdempotencyClaim {
                stored,
                intent,
                hold: IdempotencyHold::new(hold),
            })
        })
    }

    fn record_intent<'a>(
        &'a self,
        _hold: &'a IdempotencyHold,
        key: &'a str,
        intent: &'a ProduceIntent,
    ) -> BoxFuture<'a, Result<(), MetaError>> {
        Box::pin(async move {
            // Any connection will do: the caller holds the key, so no one else writes it.
            let body = serde_json::to_string(intent).expect("an intent serializes");
            self.conn()
                .await?
                .execute(
                    "INSERT INTO wharf_idempotency_intents (key, created_at_ms, intent)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE
                     SET created_at_ms = EXCLUDED.created_at_ms, intent = EXCLUDED.intent",
                    &[&key.as_bytes(), &intent.created_at_ms, &body],
                )
                .await
                .map_err(remote("record idempotency intent"))?;
            Ok(())
        })
    }

    fn complete_idempotency<'a>(
        &'a self,
        hold: IdempotencyHold,
        key: &'a str,
        outcome: StoredProduce,
    ) -> BoxFuture<'a, Result<(), MetaError>> {
        Box::pin(async move {
            let mut hold = match hold.into_inner().downcast::<PgHold>() {
                Ok(hold) => *hold,
                Err(_) => {
                    return Err(MetaError::Remote {
                        operation: "complete idempotency",
                        source: "the hold was not taken by this store".into(),
                    });
                }
            };
            let body = serde_json::to_string(&outcome).expect("an outcome serializes");
            let bytes = key.as_bytes();
            {
                let conn = hold.conn.as_mut().expect("connection held");
                let tx = conn
                    .transaction()
                    .await
                    .map_err(remote("begin idempotency outcome"))?;
                tx.execute(
                    "INSERT INTO wharf_idempotency (key, created_at_ms, outcome) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE
                     SET created_at_ms = EXCLUDED.created_at_ms, outcome = EXCLUDED.outcome",
                    &[&bytes, &outcome.created_at_ms, &body],
                )
                .await
                .map_err(remote("store idempotency outcome"))?;
                tx.execute(
                    "DELETE FROM wharf_idempotency_intents WHERE key = $1",
                    &[&bytes],
                )
                .await
                .map_err(remote("forget idempotency intent"))?;
                tx.commit()
                    .await
                    .map_err(remote("commit idempotency outcome"))?;
            }
            hold.release(lock_id(key)).await;
            Ok(())
        })
    }

    fn expire_idempotency(&self, cutoff_ms: i64) -> BoxFuture<'_, Result<usize, MetaError>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let tx = conn
                .transaction()
                .await
                .map_err(remote("begin idempotency expiry"))?;
            let removed = tx
                .execute(
                    "DELETE FROM wharf_idempotency WHERE created_at_ms < $1",
                    &[&cutoff_ms],
                )
                .await
                .map_err(remote("expire idempotency outcomes"))?;
            tx.execute(
                "DELETE FROM wharf_idempotency_intents WHERE created_at_ms < $1",
                &[&cutoff_ms],
            )
            .await
            .map_err(remote("expire idempotency intents"))?;
            tx.commit()
                .await
                .map_err(remote("commit idempotency expiry"))?;
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
    }

    fn queue_blob_deletes<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<(), MetaError>> {
        Box::pin(async move {
            self.conn()
                .await?
                .execute(
                    "INSERT INTO wharf_blob_deletes (key) SELECT unnest($1::text[])
                     ON CONFLICT (key) DO NOTHING",
                    &[&keys],
                )
                .await
                .map_err(remote("queue blob deletes"))?;
            Ok(())
        })
    }

    fn queued_blob_deletes(&self) -> BoxFuture<'_, Result<Vec<String>, MetaError>> {
        Box::pin(async move {
            let rows = self
                .conn()
                .await?
                .query("SELECT key FROM wharf_blob_deletes ORDER BY key", &[])
                .await
                .map_err(remote("list queued blob deletes"))?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    fn dequeue_blob_delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), MetaError>> {
        Box::pin(async move {
            self.conn()
                .await?
                .execute("DELETE FROM wharf_blob_deletes WHERE key = $1", &[&key])
                .await
                .map_err(remote("dequeue blob delete"))?;
            Ok(())
        })
    }
}
