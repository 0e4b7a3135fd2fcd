//! Persistence: every record as JSON in a redb table, each mutation one ACID transaction, so a
//! `kill -9` mid-request leaves either the whole change or none of it.

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sandbox database {path}: {message}")]
    Open { path: String, message: String },
    #[error("sandbox database: {0}")]
    Io(String),
    #[error("sandbox database record {key} is corrupt: {message}")]
    Corrupt { key: String, message: String },
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// One change to write: a key and its new value, or `None` to delete it.
pub type Write = (String, Option<Vec<u8>>);

pub struct Store {
    db: Option<Database>,
}

impl Store {
    /// A store that keeps nothing (tests, benchmarks).
    pub fn memory() -> Store {
        Store { db: None }
    }

    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let db = Database::create(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let txn = db.begin_write().map_err(io)?;
        txn.open_table(RECORDS).map_err(io)?;
        txn.commit().map_err(io)?;
        Ok(Store { db: Some(db) })
    }

    /// Every record whose key starts with `prefix`.
    pub fn load<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        let Some(db) = &self.db else {
            return Ok(Vec::new());
        };
        let txn = db.begin_read().map_err(io)?;
        let table = txn.open_table(RECORDS).map_err(io)?;
        let mut out = Vec::new();
        for item in table.range(prefix..).map_err(io)? {
            let (k, v) = item.map_err(io)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push(
                serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                    key: k.value().to_string(),
                    message: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    /// Writes `changes` in one transaction.
    pub fn commit(&self, changes: Vec<Write>) -> Result<(), StoreError> {
        let Some(db) = &self.db else { return Ok(()) };
        if changes.is_empty() {
            return Ok(());
        }
        let txn = db.begin_write().map_err(io)?;
        {
            let mut table = txn.open_table(RECORDS).map_err(io)?;
            for (k, v) in &changes {
                match v {
                    Some(v) => {
                        table.insert(k.as_str(), v.as_slice()).map_err(io)?;
                    }
                    None => {
                        table.remove(k.as_str()).map_err(io)?;
                    }
                }
            }
        }
        txn.commit().map_err(io)
    }
}

pub fn encode<T: Serialize>(key: String, value: &T) -> Write {
    (
        key,
        Some(serde_json::to_vec(value).expect("records serialise")),
    )
}
