//! The store: the directory kept relationally in SQLite (default) or Postgres, a change log
//! with one row per revision, and admin tokens (hashed). Decisions never touch it: the
//! daemon loads the grant table from it and follows its change log.
//!
//! SKELETON: the API the rest of the daemon uses; the bodies are being written.

use std::sync::Arc;

use callgate::model::Tenant;
use callgate::{DirectoryError, Table};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or failed; details go to the log, never to clients.
    #[error("an internal database error occurred")]
    Database(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The URL is not `sqlite://PATH` or `postgres://…`.
    #[error("unsupported database url `{0}` (use sqlite://PATH or postgres://...)")]
    BadUrl(String),
    /// The directory data is invalid; nothing was written.
    #[error("{0}")]
    Invalid(#[from] DirectoryError),
    /// No such tenant (or entity).
    #[error("{0} not found")]
    NotFound(String),
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportOutcome {
    /// The revision after the import (unchanged if nothing changed).
    pub revision: u64,
    /// Tenants written.
    pub changed: Vec<String>,
    /// Tenants already exactly as in the file.
    pub unchanged: Vec<String>,
}

/// One row of the change log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// The revision this change produced.
    pub revision: u64,
    /// The tenant it changed.
    pub tenant: String,
    /// `put` (the tenant was written) or `delete`.
    pub kind: String,
    /// Who made it (token name, `import`, `cli`, …).
    pub actor: String,
}

/// An admin token's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its name (the audit trail's "who").
    pub name: String,
    /// The one tenant it may write, or `None` for all.
    pub tenant: Option<String>,
}

/// A connection pool to the store.
#[derive(Clone, Debug)]
pub struct Store {
    _private: Arc<()>,
}

impl Store {
    /// Connects to `url` (creating a SQLite file if needed, in WAL mode) and applies migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Err(StoreError::BadUrl(url.to_string()))
    }
    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        "sqlite"
    }
    /// The latest revision.
    pub async fn revision(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// Whether no tenant is stored.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(true)
    }
    /// Every tenant and the revision they are at, read consistently.
    pub async fn load_all(&self) -> Result<(Vec<Tenant>, u64), StoreError> {
        Ok((Vec::new(), 0))
    }
    /// One tenant.
    pub async fn load_tenant(&self, _id: &str) -> Result<Option<Tenant>, StoreError> {
        Ok(None)
    }
    /// Replaces each given tenant whole, in one transaction; tenants already equal are
    /// skipped (no revision). Tenants must be validated (from `callgate::directory::parse`).
    pub async fn import(&self, _tenants: &[Tenant], _actor: &str) -> Result<ImportOutcome, StoreError> {
        Ok(ImportOutcome::default())
    }
    /// Reads tenant `id` (an empty one with that id if absent when `create` is true), lets
    /// `edit` change it, validates, and writes it back, all in one transaction. Returns the
    /// new revision, or `None` if `edit` changed nothing.
    pub async fn update_tenant<F>(&self, id: &str, create: bool, actor: &str, edit: F) -> Result<Option<u64>, StoreError>
    where
        F: FnOnce(&mut Tenant) -> Result<(), StoreError> + Send,
    {
        let _ = (id, create, actor, edit);
        Ok(None)
    }
    /// Deletes a tenant. Returns the new revision, or `None` if there was no such tenant.
    pub async fn delete_tenant(&self, _id: &str, _actor: &str) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
    /// Tenants, whole (all, or one).
    pub async fn export(&self, _tenant: Option<&str>) -> Result<Vec<Tenant>, StoreError> {
        Ok(Vec::new())
    }
    /// Every change after `revision`, in order.
    pub async fn changes_since(&self, _revision: u64) -> Result<Vec<Change>, StoreError> {
        Ok(Vec::new())
    }
    /// Creates an admin token; returns its secret (shown once; only its hash is stored).
    pub async fn add_token(&self, _name: &str, _tenant: Option<&str>) -> Result<String, StoreError> {
        Ok(String::new())
    }
    /// The token a secret belongs to, if any.
    pub async fn verify_token(&self, _secret: &str) -> Result<Option<TokenInfo>, StoreError> {
        Ok(None)
    }
}

/// Loads the table from the store, then keeps it following the change log until `shutdown`
/// resolves: Postgres wakes on NOTIFY (with a periodic catch-up), SQLite polls. A database
/// outage is logged and retried; checks keep being answered from the table meanwhile.
pub async fn follow(_store: Store, _table: Arc<Table>, shutdown: impl std::future::Future<Output = ()>) {
    shutdown.await
}
