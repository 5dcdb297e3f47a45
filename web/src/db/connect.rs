//! Opening the database, and saying in one line why it could not be opened: what failed,
//! where (the file, or host and port; never the password) and the likely fix.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use sea_orm::sqlx;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr,
};

use super::Db;
use super::kept::KeptConnections;
use super::update::context_reads;

/// A database that could not be opened or brought up to date.
#[derive(Debug, thiserror::Error)]
#[error("cannot {doing} {place}: {why}")]
pub struct OpenError {
    doing: &'static str,
    place: String,
    why: String,
}

/// Where a database URL points, for people: the SQLite file, or PostgreSQL's database, host
/// and port. The password never appears.
pub fn place(url: &str) -> String {
    if let Some(file) = url.strip_prefix("sqlite:") {
        let file = file.trim_start_matches("//");
        let file = file.split_once('?').map_or(file, |(file, _)| file);
        return format!("the SQLite database {file}");
    }
    match Postgres::parse(url) {
        Some(pg) => format!(
            "the PostgreSQL database {:?} at {}:{}",
            pg.database, pg.host, pg.port
        ),
        None => "DYN53_DATABASE_URL (not a URL like postgres://user@host/database)".to_owned(),
    }
}

impl Db {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and applies the migrations.
    /// Failures surface within a few seconds, so update clients get `911` instead of hanging.
    pub async fn open(url: &str) -> Result<Db, OpenError> {
        let failed = |doing, e: DbErr| OpenError {
            doing,
            place: place(url),
            why: explain(url, &e),
        };
        let conn = connect(url).await.map_err(|e| failed("open", e))?;
        let reads = (conn.get_database_backend() == DbBackend::Postgres)
            .then(|| context_reads(KeptConnections::new(conn.get_postgres_connection_pool())));
        let db = Db { conn, reads };
        db.migrate().await.map_err(|e| failed("migrate", e))?;
        Ok(db)
    }

    /// How the connection pool is used now.
    pub fn pool_use(&self) -> PoolUse {
        fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> PoolUse {
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
            PoolUse {
                in_use: pool.size().saturating_sub(idle),
                idle,
                max: pool.options().get_max_connections(),
            }
        }
        if self.is_postgres() {
            of(self.conn.get_postgres_connection_pool())
        } else {
            of(self.conn.get_sqlite_connection_pool())
        }
    }
}

/// Connections of the pool: taken by a query or transaction, open and waiting, and at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolUse {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(3))
        // Pinging every connection taken from the pool doubles the round trips of an
        // update; only one idle long enough to have been dropped is checked. A connection
        // the server closed fails one request (`911`) and is discarded.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // A writer waits this long for another process's write lock, then gives up (`911`).
        options
            .max_connections(4)
            .map_sqlx_sqlite_opts(|o| o.busy_timeout(Duration::from_secs(3)));
    } else {
        options.max_connections(16);
    }
    let conn = Database::connect(options).await?;
    if conn.get_database_backend() == DbBackend::Sqlite {
        // WAL lets the DNS feed read while a writer commits; the CLI and the server share the file.
        conn.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(conn)
}

/// The cause of `e` in words, with the fix when there is a likely one.
fn explain(url: &str, e: &DbErr) -> String {
    let sqlx_error = match e {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(&**e),
        _ => None,
    };
    let pg = Postgres::parse(url);
    match (sqlx_error, pg) {
        (Some(sqlx::Error::Database(db)), Some(pg)) => match db.code().as_deref() {
            Some("3D000") => format!(
                "it does not exist; create it with `createdb -h {} -p {} -U {} {}`",
                pg.host, pg.port, pg.user, pg.database
            ),
            Some("28P01" | "28000") => format!(
                "the server refused user {:?} (check the user and password in DYN53_DATABASE_URL)",
                pg.user
            ),
            _ => db.message().to_owned(),
        },
        (Some(sqlx::Error::Database(db)), None) => match db.code().as_deref() {
            // SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_PERM
            Some("14" | "8" | "3") => format!(
                "{} (check that this user may read and write the file and its directory)",
                db.message()
            ),
            _ => db.message().to_owned(),
        },
        (Some(sqlx::Error::PoolTimedOut), Some(pg)) => pg.why_unreachable(),
        (Some(sqlx::Error::PoolTimedOut), None) => {
            "timed out (another process may hold the file locked)".to_owned()
        }
        (Some(sqlx::Error::Io(io)), Some(pg))
            if io.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            pg.why_unreachable()
        }
        (Some(e), _) => e.to_string(),
        (None, _) => e.to_string(),
    }
}

/// The parts of a PostgreSQL URL a person needs to find the server.
struct Postgres {
    host: String,
    port: u16,
    user: String,
    database: String,
}

impl Postgres {
    fn parse(url: &str) -> Option<Postgres> {
        let url = url::Url::parse(url).ok()?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return None;
        }
        let user = match url.username() {
            "" => "postgres".to_owned(),
            user => user.to_owned(),
        };
        let database = match url.path().trim_start_matches('/') {
            "" => user.clone(),
            database => database.to_owned(),
        };
        Some(Postgres {
            host: url.host_str().unwrap_or("localhost").to_owned(),
            port: url.port().unwrap_or(5432),
            user,
            database,
        })
    }

    /// Why no connection came: sqlx only says its pool timed out, so the address is tried
    /// once more to tell a server that is down from one that does not answer.
    fn why_unreachable(&self) -> String {
        let addrs = match (self.host.as_str(), self.port).to_socket_addrs() {
            Ok(addrs) => addrs.collect::<Vec<_>>(),
            Err(_) => return format!("the host name {:?} does not resolve", self.host),
        };
        let tried = addrs
            .iter()
            .map(|addr| TcpStream::connect_timeout(addr, Duration::from_secs(1)));
        let mut refused = false;
        for attempt in tried {
            match attempt {
                Ok(_) => {
                    return "the server accepted the connection but did not let us in within 3 \
                            seconds (is it overloaded, or not PostgreSQL?)"
                        .to_owned();
                }
                Err(e) => refused |= e.kind() == std::io::ErrorKind::ConnectionRefused,
            }
        }
        if refused {
            "nothing listens there (is PostgreSQL running? check the host and port)".to_owned()
        } else {
            "no answer from that address (a firewall, or the wrong host?)".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::place;

    #[test]
    fn places_name_the_file_or_the_server_and_never_the_password() {
        assert_eq!(
            place("sqlite:///srv/dyn53/dyn53.db?mode=rwc"),
            "the SQLite database /srv/dyn53/dyn53.db"
        );
        let pg = place("postgres://dyn53:hunter2hunter2@db.example.net:6543/prod");
        assert_eq!(
            pg,
            "the PostgreSQL database \"prod\" at db.example.net:6543"
        );
        assert!(!place("postgres://u:pw@h/d").contains("pw"));
        assert!(place("mysql:nonsense").starts_with("DYN53_DATABASE_URL"));
    }
}
