//! [`Console`]: the operator's staff's view across every account. It is opened only by
//! `admin::Staff`, the extractor that proved the caller is staff (clippy's
//! `disallowed-methods` refuses `Db::console` anywhere else), just as `Tenant` is opened only
//! by `access::Access`. Reads here cross tenants; writes go through `WriteTx` like any other,
//! and each one is audited with the staff actor.

mod abuse;
mod accounts;
mod audit;
mod dashboard;
mod hosts;
mod operations;

pub use abuse::BusyHost;
pub use accounts::{AccountChange, AccountDetail, AccountRow, AccountSearch};
pub use audit::{AuditFilter, AuditLine};
pub use dashboard::PlanCounts;
pub use hosts::{HostCursor, HostQuery, HostRow};

use super::Db;

/// Queries and changes across every account, for staff only.
#[derive(Clone)]
pub struct Console {
    db: Db,
}

impl Db {
    pub fn console(&self) -> Console {
        Console { db: self.clone() }
    }
}
