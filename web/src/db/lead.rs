//! Which web replica does a duty that one replica at a time does (publishing the feed,
//! sending notifications): the one holding the duty's PostgreSQL advisory lock.
//!
//! The lock belongs to a connection taken out of the pool for as long as the replica leads:
//! if the replica dies or loses the database, PostgreSQL ends the session and frees the lock,
//! and another replica takes over. Publishing is idempotent (see `dyn53_dns::fleet`), so a
//! brief overlap while a lost leader notices does no harm. On SQLite there is one process:
//! it always leads.

use sea_orm::sqlx::{self, Connection, PgConnection};

use super::{Db, DbError, DbResult};

/// What one replica at a time does.
#[derive(Clone, Copy, Debug)]
pub enum Duty {
    /// Publishing the outbox to Redis.
    Publish,
    /// Sending queued notifications and looking for stale hosts.
    Notify,
}

impl Duty {
    /// The advisory lock's key: "dyn53pub" or "dyn53ntf" in ASCII.
    fn lock(self) -> i64 {
        match self {
            Duty::Publish => 0x6479_6E35_3370_7562,
            Duty::Notify => 0x6479_6E35_336E_7466,
        }
    }
}

/// Held while this process does its duty.
pub struct Leadership {
    conn: Option<PgConnection>,
}

impl Db {
    /// Takes on `duty` if no other replica has it; `None` if another one has.
    pub async fn try_lead(&self, duty: Duty) -> DbResult<Option<Leadership>> {
        if !self.is_postgres() {
            return Ok(Some(Leadership { conn: None }));
        }
        let pool = self.conn.get_postgres_connection_pool();
        // Detached: the connection closes when dropped instead of going back to the pool
        // still holding the lock.
        let mut conn = pool.acquire().await.map_err(unavailable)?.detach();
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(duty.lock())
            .fetch_one(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(locked.then_some(Leadership { conn: Some(conn) }))
    }
}

impl Leadership {
    /// Whether the lock is still ours (its connection is alive).
    pub async fn holds(&mut self) -> bool {
        match &mut self.conn {
            Some(conn) => conn.ping().await.is_ok(),
            None => true,
        }
    }
}

fn unavailable(e: sqlx::Error) -> DbError {
    DbError::Unavailable(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(
        e.into(),
    )))
}
