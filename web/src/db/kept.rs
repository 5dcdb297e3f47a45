//! PostgreSQL connections kept out of the pool for the read every update starts with.
//!
//! sqlx tests each pooled connection with a round trip (a Sync and its ReadyForQuery) as it
//! goes back to the pool, whatever the pool's options. For the one query most updates make
//! (`nochg` needs nothing else from the database) that doubled the round trips: a tenth of
//! the process's CPU and as much work again for PostgreSQL. These connections are opened
//! with the pool's options but live outside it; a query takes one, and puts it back only
//! once it has read every row. A connection whose query failed, or whose request went away
//! mid-query, is dropped (closed) rather than reused in an unknown state, and a new one is
//! opened when needed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgArguments, PgConnectOptions, PgRow};
use sea_orm::sqlx::{self, ConnectOptions, PgConnection, PgPool};
use sea_orm::{DbErr, QueryResult, RuntimeErr};

/// As the pool's: a database that does not answer is reported (`911`) within seconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections for the update's read; as many as its readers (`update::READERS`), which
/// bound how many run at once.
pub(super) struct KeptConnections {
    /// The pool's: how to connect.
    options: Arc<PgConnectOptions>,
    idle: Mutex<Vec<PgConnection>>,
}

impl KeptConnections {
    pub(super) fn new(pool: &PgPool) -> KeptConnections {
        KeptConnections {
            options: pool.connect_options(),
            idle: Mutex::default(),
        }
    }

    /// Every row of `sql` with `args`, read on a kept connection. A kept connection that
    /// broke while idle (the server restarted or terminated it, which its next read learns
    /// as an I/O or a `57P01` error) fails its query: that read is tried once more on a new
    /// connection.
    pub(super) async fn query_all(
        &self,
        sql: &str,
        args: PgArguments,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let (mut conn, reused) = match idle {
            Some(conn) => (conn, true),
            None => (self.open().await?, false),
        };
        let mut rows = fetch_all(&mut conn, sql, args.clone()).await;
        if reused && rows.is_err() {
            conn = self.open().await?;
            rows = fetch_all(&mut conn, sql, args).await;
        }
        let rows = rows.map_err(|e| DbErr::Query(RuntimeErr::SqlxError(e.into())))?;
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    /// A new connection, with the pool's options: not one of the pool's idle ones, which
    /// the server may have closed as well.
    async fn open(&self) -> Result<PgConnection, DbErr> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.options.connect()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(DbErr::Conn(RuntimeErr::SqlxError(e.into()))),
            Err(_) => Err(DbErr::Conn(RuntimeErr::Internal(
                "PostgreSQL did not accept a connection in time".into(),
            ))),
        }
    }
}

async fn fetch_all(
    conn: &mut PgConnection,
    sql: &str,
    args: PgArguments,
) -> Result<Vec<PgRow>, sqlx::Error> {
    sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
        .fetch_all(conn)
        .await
}
