//! The database layer: the only module that imports sea-orm. It runs unchanged on
//! PostgreSQL and SQLite; where the two differ (row locks), the difference stays here.
//!
//! Tenant data is reached through an [`AccountId`], which only authentication and the
//! operator's lookups hand out, and every query for tenant data filters by it.

mod blocks;
mod browser;
mod connect;
mod console;
mod entity;
mod feed;
mod host_rows;
mod hosts;
mod input_rows;
mod kept;
mod last_seen;
mod lead;
mod notifications;
mod people;
mod second_factor;
mod settings;
mod stats;
mod tenant;
mod update;
mod write;
mod zones;

use dyn53_migrations::MigratorTrait;
use sea_orm::{DatabaseConnection, DbBackend, DbErr};

pub use browser::{TokenData, TokenPurpose, WebSession, WebUser};
pub use connect::{OpenError, PoolUse, place};
pub use console::{
    AccountChange, AccountDetail, AccountRow, AccountSearch, AuditFilter, AuditLine, BusyHost,
    Console, HostCursor, HostQuery, HostRow, PlanCounts,
};
pub use hosts::{ACME_LABEL, Host, HostKind, HostState, NewHost};
pub use last_seen::LastSeen;
pub use lead::{Duty, Leadership};
pub use notifications::{
    Attempt, Delivery, DueDelivery, Event, NewSubscription, Outcome, Subscription,
};
pub use people::{KeyAuth, KeyProtocols, NewKey, NewUser, NewUserAccount, UserAuth};
pub use second_factor::RECOVERY_CODES;
pub use settings::RegistrationSetting;
pub use stats::{BlockEntry, BlockKind, ClientCount, ClientKind, OutcomeCount};
pub use tenant::{GroupInfo, HistoryLine, HostFilter, KeyInfo, Member, Tenant};
pub use update::UpdateContext;
pub use write::{HistoryEntry, Seen, WriteTx};
pub use zones::{NewZone, Zone};

/// The tenant an object belongs to. Queries for tenant data take one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub(crate) i64);

#[derive(Clone, Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be reached or failed: callers answer "try later".
    #[error("database unavailable: {0}")]
    Unavailable(#[from] DbErr),
    /// A name is taken (a host, a group, or a zone over a host); the text says which.
    #[error("{0}")]
    Taken(String),
    /// Something the request names does not exist (a host, a user, a zone).
    #[error("{0}")]
    Missing(String),
    /// The name may not be created where it was asked for (a zone's apex, another account's
    /// own zone, a zone the caller may not use).
    #[error("{0}")]
    NotAllowed(String),
    /// Stored data this version cannot read (written by hand or by another version).
    #[error("unreadable data: {0}")]
    Malformed(String),
}

/// `value` if it parsed; a row that no longer does is logged and left out rather than
/// stopping the task that read it.
fn readable<T, E: std::fmt::Display>(what: &str, parsed: Result<T, E>) -> Option<T> {
    parsed
        .map_err(|e| tracing::warn!("a stored {what} is unreadable and left out: {e}"))
        .ok()
}

pub type DbResult<T> = Result<T, DbError>;

#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// PostgreSQL: the update's read, on connections kept out of the pool.
    reads: Option<std::sync::Arc<update::ContextReads>>,
}

impl Db {
    async fn migrate(&self) -> Result<(), DbErr> {
        dyn53_migrations::Migrator::up(&self.conn, None).await
    }

    fn is_postgres(&self) -> bool {
        self.conn.get_database_backend() == DbBackend::Postgres
    }
}
