//! The registry's durable form: two tables in the broker's metadata database (`meta.redb`),
//! next to topics and group offsets.
//!
//! - `schema_versions`: `<subject> NUL <version, 10 digits>` → the [`RegisteredSchema`] as JSON.
//!   A version is written once; a soft delete rewrites it with `deleted: true`.
//! - `schema_config`: subject (`""` for the global level) → compatibility level.
//!
//! Every write commits with redb's default (immediate) durability: a registration acknowledged
//! to a client survives `kill -9`.

use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use super::{Compatibility, RegisteredSchema, SchemaError};

const VERSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("schema_versions");
const CONFIG: TableDefinition<&str, &str> = TableDefinition::new("schema_config");

/// Everything stored: every version, and every level by subject.
pub(super) type Loaded = (Vec<RegisteredSchema>, Vec<(String, Compatibility)>);

/// The subject name under which the global compatibility level is kept.
pub(super) const GLOBAL: &str = "";

/// The registry's tables.
#[derive(Debug, Clone)]
pub(super) struct SchemaStore {
    db: Arc<Database>,
}

fn store_err(e: impl Into<redb::Error>) -> SchemaError {
    SchemaError::Store {
        detail: e.into().to_string(),
    }
}

fn version_key(subject: &str, version: u32) -> String {
    format!("{subject}\u{0}{version:010}")
}

impl SchemaStore {
    /// Opens (creates) the tables.
    pub(super) fn open(db: Arc<Database>) -> Result<Self, SchemaError> {
        let txn = db.begin_write().map_err(store_err)?;
        txn.open_table(VERSIONS).map_err(store_err)?;
        txn.open_table(CONFIG).map_err(store_err)?;
        txn.commit().map_err(store_err)?;
        Ok(Self { db })
    }

    /// Every version of every subject, in subject then version order, and every level.
    pub(super) fn load(&self) -> Result<Loaded, SchemaError> {
        let txn = self.db.begin_read().map_err(store_err)?;
        let versions = txn.open_table(VERSIONS).map_err(store_err)?;
        let mut schemas = Vec::new();
        for item in versions.iter().map_err(store_err)? {
            let (key, value) = item.map_err(store_err)?;
            let schema: RegisteredSchema =
                serde_json::from_slice(value.value()).map_err(|e| SchemaError::Corruption {
                    key: key.value().replace('\u{0}', "/"),
                    detail: e.to_string(),
                })?;
            schemas.push(schema);
        }
        let config = txn.open_table(CONFIG).map_err(store_err)?;
        let mut levels = Vec::new();
        for item in config.iter().map_err(store_err)? {
            let (key, value) = item.map_err(store_err)?;
            let level =
                Compatibility::parse(value.value()).map_err(|e| SchemaError::Corruption {
                    key: format!("config {:?}", key.value()),
                    detail: e.to_string(),
                })?;
            levels.push((key.value().to_owned(), level));
        }
        Ok((schemas, levels))
    }

    /// Writes versions (new ones, or soft-deleted ones) in one transaction.
    pub(super) fn put_versions(&self, schemas: &[&RegisteredSchema]) -> Result<(), SchemaError> {
        let txn = self.db.begin_write().map_err(store_err)?;
        {
            let mut table = txn.open_table(VERSIONS).map_err(store_err)?;
            for schema in schemas {
                let bytes = serde_json::to_vec(schema).expect("a schema serializes");
                table
                    .insert(
                        version_key(&schema.subject, schema.version).as_str(),
                        bytes.as_slice(),
                    )
                    .map_err(store_err)?;
            }
        }
        txn.commit().map_err(store_err)
    }

    /// Sets (or with `None` removes) a subject's level; [`GLOBAL`] is the global one.
    pub(super) fn put_level(
        &self,
        subject: &str,
        level: Option<Compatibility>,
    ) -> Result<(), SchemaError> {
        let txn = self.db.begin_write().map_err(store_err)?;
        {
            let mut table = txn.open_table(CONFIG).map_err(store_err)?;
            match level {
                Some(level) => {
                    table.insert(subject, level.as_str()).map_err(store_err)?;
                }
                None => {
                    table.remove(subject).map_err(store_err)?;
                }
            }
        }
        txn.commit().map_err(store_err)
    }
}
