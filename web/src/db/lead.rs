//! Which web replica publishes the feed: the one holding a PostgreSQL advisory lock.
//!
//! The lock belongs to a connection taken out of the pool for as long as the replica leads:
//! if the replica dies or loses the database, PostgreSQL ends the session and frees the lock,
//! and another replica takes over. Publishing is idempotent (see `dyn53_dns::fleet`), so a
//! brief overlap while a lost leader notices does no harm. On SQLite there is one process:
//! it always leads.

use sea_orm::sqlx::{self, Connection, PgConnection};

use super::{Db, DbError, DbResult};

/// The advisory lock's key: "dyn53pub" in ASCII.
const PUBLISHER_LOCK: i64 = 0x6479_6E35_3370_7562;

/// Held while this process publishes.
pub struct Leadership {
    conn: Option<PgConnection>,
}

impl Db {
    /// Becomes the publisher if no other replica is; `None` if another one is.
    pub async fn try_lead(&self) -> DbResult<Option<Leadership>> {
        if !self.is_postgres() {
            return Ok(Some(Leadership { conn: None }));
        }
        let pool = self.conn.get_postgres_connection_pool();
        // Detached: the connection closes when dropped instead of going back to the pool
        // still holding the lock.
        let mut conn = pool.acquire().await.map_err(unavailable)?.detach();
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(PUBLISHER_LOCK)
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
