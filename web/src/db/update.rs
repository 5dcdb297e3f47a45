//! The read every update starts with: who presents the credentials and, in the same query,
//! the state of the hosts asked for in that user's account. One query, because every update
//! runs it and most updates need nothing else from the database (`nochg`).
//!
//! On PostgreSQL the reads of concurrent updates share their queries ([`Together`]): an
//! update whose read finds every reader busy waits in a queue, and the next reader free
//! reads everything queued in one query, each request a few rows of the arrays it `unnest`s. Under load one
//! round trip then serves many updates, and PostgreSQL starts one executor for them all
//! (the read was two thirds of its CPU per `nochg`). SQLite, in the process, reads each
//! request on its own with the same SQL, the request's rows written out as `VALUES`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use sea_orm::sqlx::Arguments;
use sea_orm::sqlx::postgres::PgArguments;
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, Iterable, QueryResult, RuntimeErr, Statement, Value,
};

use super::entity::host;
use super::host_rows::{host_at, host_columns};
use super::kept::KeptConnections;
use super::people::login_as_email;
use super::{AccountId, Db, DbResult, HostState, KeyAuth, UserAuth};
use crate::domain::{AccountStatus, Fqdn, KeyScope, PasswordHash, Plan, Role};
use crate::together::{Together, Work};

/// What an update decides on, read without locks.
pub struct UpdateContext {
    pub user: UserAuth,
    /// The key presented, when the secret is one.
    pub key: Option<KeyAuth>,
    /// The account's hosts among the names asked for, by name.
    pub hosts: Vec<(String, HostState)>,
}

/// The query's columns after the host's (which come first, in `host::Column` order) and
/// the request's index: the user's, then the key's when the shape has one. Rows are read
/// by position: by name, sea-orm formats every prefixed name anew for every row, which was
/// a tenth of the process's CPU under `nochg`.
const USER_COLUMNS: [&str; 8] = [
    "u.id",
    "u.email",
    "u.email_verified_at IS NOT NULL",
    "u.account_id",
    "u.role",
    "u.password_hash",
    "a.status",
    "a.plan",
];
const KEY_COLUMNS: [&str; 4] = [
    "k.id",
    "k.scope",
    // Stored, not inferred from the rows, which go with their hosts.
    "k.limited",
    // Whether this row's host is one the key is limited to.
    "EXISTS (SELECT 1 FROM update_key_hosts kh WHERE kh.key_id = k.id AND kh.host_id = h.id)",
];

/// Where each part of a row starts.
struct Positions {
    request: usize,
    user: usize,
    key: usize,
}

static POSITIONS: LazyLock<Positions> = LazyLock::new(|| {
    let request = host::Column::iter().count();
    Positions {
        request,
        user: request + 1,
        key: request + 1 + USER_COLUMNS.len(),
    }
});

/// One update's read: the user by login (or e-mail) and/or by a key's digest, and the
/// names asked for.
pub(super) struct Wanted {
    login: Option<String>,
    /// The login read as an e-mail address, when it is one.
    email: Option<String>,
    digest: Option<String>,
    names: Vec<String>,
}

impl Wanted {
    fn shape(&self) -> Shape {
        Shape {
            login: self.login.is_some(),
            key: self.digest.is_some(),
        }
    }

    /// Its rows in the query's input: one per name, or one without a name.
    fn rows(&self) -> impl Iterator<Item = Option<&str>> {
        let none = self.names.is_empty().then_some(None);
        self.names.iter().map(|n| Some(n.as_str())).chain(none)
    }
}

/// What the query's SQL depends on besides its input rows.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
struct Shape {
    /// The user is named by a login; else by the key alone.
    login: bool,
    key: bool,
}

impl Db {
    /// The user who logs in as `login` (by login ID, or e-mail in any case) and, with `key_digest`,
    /// that user's live key with this digest; and the hosts of the user's account among
    /// `names`. `None` when there is no such user, or no such key of theirs. The password,
    /// when the secret is one, is left for the caller to check.
    pub async fn update_context(
        &self,
        login: &str,
        key_digest: Option<&str>,
        names: &[&Fqdn],
    ) -> DbResult<Option<UpdateContext>> {
        self.context(Some(login), key_digest, names).await
    }

    /// Like [`Db::update_context`] for the user whose live key this is, whatever the login.
    pub async fn update_context_by_key(
        &self,
        key_digest: &str,
        names: &[&Fqdn],
    ) -> DbResult<Option<UpdateContext>> {
        self.context(None, Some(key_digest), names).await
    }

    async fn context(
        &self,
        login: Option<&str>,
        key: Option<&str>,
        names: &[&Fqdn],
    ) -> DbResult<Option<UpdateContext>> {
        let mut names: Vec<String> = names.iter().map(|n| n.as_str().to_owned()).collect();
        names.sort_unstable();
        names.dedup();
        let wanted = Wanted {
            login: login.map(str::to_owned),
            email: login.and_then(login_as_email),
            digest: key.map(str::to_owned),
            names,
        };
        match &self.reads {
            Some(reads) => reads.call(wanted).await,
            None => self.sqlite_context(&wanted).await,
        }
    }

    /// SQLite's read, of one request: its input rows written out as `VALUES`.
    async fn sqlite_context(&self, wanted: &Wanted) -> DbResult<Option<UpdateContext>> {
        let text = |s: Option<&str>| Value::String(s.map(str::to_owned));
        let rows: Vec<Option<&str>> = wanted.rows().collect();
        let values = rows.iter().flat_map(|&name| {
            [
                Value::BigInt(Some(0)),
                text(wanted.login.as_deref()),
                text(wanted.email.as_deref()),
                text(wanted.digest.as_deref()),
                text(name),
            ]
        });
        let sql = context_sql(false, wanted.shape(), rows.len());
        let statement = Statement::from_sql_and_values(DbBackend::Sqlite, &*sql, values);
        let rows = self.conn.query_all_raw(statement).await?;
        Ok(context_of(
            &rows.iter().collect::<Vec<_>>(),
            wanted.shape().key,
        )?)
    }
}

/// The context of one request from its rows (one per host found, or a single row without
/// a host); `None` without rows.
fn context_of(rows: &[&QueryResult], keyed: bool) -> Result<Option<UpdateContext>, DbErr> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut hosts = Vec::new();
    let mut allowed = Vec::new();
    let (user, key) = (POSITIONS.user, POSITIONS.key);
    for row in rows {
        if row.try_get_by_index::<Option<i64>>(0)?.is_none() {
            continue;
        }
        let h = host_at(row)?;
        if keyed && row.try_get_by_index::<bool>(key + 3)? {
            allowed.push(h.id);
        }
        let state = HostState::from_model(&h);
        hosts.push((h.name, state));
    }
    let key = match keyed {
        true => Some(KeyAuth {
            key_id: first.try_get_by_index(key)?,
            scope: KeyScope::parse(&first.try_get_by_index::<String>(key + 1)?)
                .unwrap_or(KeyScope::Update),
            // Only the hosts asked for: all this request needs to know.
            hosts: first.try_get_by_index::<bool>(key + 2)?.then_some(allowed),
        }),
        false => None,
    };
    let text = |i: usize| first.try_get_by_index::<String>(user + i);
    let user = UserAuth {
        user_id: first.try_get_by_index(user)?,
        email: text(1)?,
        verified: first.try_get_by_index(user + 2)?,
        account: AccountId(first.try_get_by_index(user + 3)?),
        role: Role::parse(&text(4)?).unwrap_or(Role::Viewer),
        password: PasswordHash(text(5)?),
        // An unknown status may not update.
        account_status: AccountStatus::parse(&text(6)?).unwrap_or(AccountStatus::Suspended),
        // An unknown plan gets the free plan's features.
        plan: Plan::parse(&text(7)?).unwrap_or(Plan::Free),
    };
    Ok(Some(UpdateContext { user, key, hosts }))
}

/// Input rows written out for SQLite beyond which the SQL is built each time instead of
/// kept (requests naming many hosts are rare).
const MOST_ROWS_KEPT: usize = 8;

/// A query's SQL by backend (PostgreSQL or not), shape and SQLite's number of input rows.
type SqlKey = (bool, Shape, usize);

static SQL: LazyLock<Mutex<HashMap<SqlKey, Arc<str>>>> = LazyLock::new(Mutex::default);

/// The context query of `shape` on PostgreSQL (its input four arrays and the requests'
/// indexes, whatever their length) or on SQLite (its input `rows` rows of values), built
/// once per shape.
fn context_sql(postgres: bool, shape: Shape, rows: usize) -> Arc<str> {
    let rows = if postgres { 0 } else { rows };
    if rows > MOST_ROWS_KEPT {
        return build_sql(postgres, shape, rows).into();
    }
    SQL.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry((postgres, shape, rows))
        .or_insert_with(|| build_sql(postgres, shape, rows).into())
        .clone()
}

/// `users JOIN accounts [JOIN update_keys] LEFT JOIN hosts` for each input row
/// `r(i, login, email, digest, name)` (the request's index in its batch, then any of the
/// others NULL), its columns where [`Positions`] expects them.
fn build_sql(postgres: bool, shape: Shape, rows: usize) -> String {
    let input = if postgres {
        "SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[])"
            .to_owned()
    } else {
        format!("VALUES {}", vec!["(?, ?, ?, ?, ?)"; rows].join(", "))
    };
    let mut columns = vec![host_columns("h"), "r.i".to_owned()];
    columns.extend(USER_COLUMNS.map(str::to_owned));
    // The key is found by the SHA-256 of its 190 random bits: index timing reveals nothing
    // about the secret.
    let live_key = "k.digest = r.digest AND k.revoked_at IS NULL";
    let by_login = "users u ON (u.login = r.login OR u.email = r.email)";
    let who = match (shape.login, shape.key) {
        (true, true) => format!("{by_login} JOIN update_keys k ON k.user_id = u.id AND {live_key}"),
        (true, false) => by_login.to_owned(),
        // Without a login the key alone names its user.
        (false, _) => format!("update_keys k ON {live_key} JOIN users u ON u.id = k.user_id"),
    };
    if shape.key {
        columns.extend(KEY_COLUMNS.map(str::to_owned));
    }
    format!(
        "WITH r(i, login, email, digest, name) AS ({input}) \
         SELECT {} FROM r JOIN {who} \
         JOIN accounts a ON a.id = u.account_id \
         LEFT JOIN hosts h ON h.account_id = u.account_id AND h.name = r.name",
        columns.join(", ")
    )
}

/// Reads at once: as many kept connections. One: the reads that come while it runs share
/// its next query. A second made PostgreSQL's CPU per `nochg` a quarter higher (each query
/// read fewer requests) for no more updates per second (bench/README.md).
const READERS: usize = 1;
/// Requests read in one query at most.
const MOST_PER_QUERY: usize = 64;

/// PostgreSQL's update reads, concurrent ones sharing a query.
pub(super) type ContextReads = Together<PgReads>;

pub(super) fn context_reads(kept: KeptConnections) -> Arc<ContextReads> {
    Together::new(PgReads { kept }, READERS, MOST_PER_QUERY)
}

pub(super) struct PgReads {
    kept: KeptConnections,
}

impl Work for PgReads {
    type Call = Wanted;
    type Answer = DbResult<Option<UpdateContext>>;

    /// One query per shape among the requests.
    async fn run(&self, wanted: Vec<Wanted>) -> Vec<Self::Answer> {
        let mut answers: Vec<Self::Answer> = wanted.iter().map(|_| Ok(None)).collect();
        let mut shapes: Vec<Shape> = wanted.iter().map(Wanted::shape).collect();
        shapes.sort_unstable();
        shapes.dedup();
        for shape in shapes {
            let of_shape: Vec<usize> = (0..wanted.len())
                .filter(|&i| wanted[i].shape() == shape)
                .collect();
            match self.query(shape, &wanted, &of_shape).await {
                Ok(contexts) => {
                    for (&i, context) in of_shape.iter().zip(contexts) {
                        answers[i] = Ok(context);
                    }
                }
                Err(e) => {
                    for &i in &of_shape {
                        answers[i] = Err(e.clone());
                    }
                }
            }
        }
        answers
    }

    fn lost() -> Self::Answer {
        Err(DbErr::Conn(RuntimeErr::Internal("the update's read stopped".into())).into())
    }
}

impl PgReads {
    /// The contexts of the requests `which` of `wanted`, all of `shape`, in one query.
    async fn query(
        &self,
        shape: Shape,
        wanted: &[Wanted],
        which: &[usize],
    ) -> DbResult<Vec<Option<UpdateContext>>> {
        let (mut index, mut login, mut email, mut digest, mut name) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, w) in which.iter().map(|&i| &wanted[i]).enumerate() {
            for row in w.rows() {
                index.push(i as i64);
                login.push(w.login.as_deref());
                email.push(w.email.as_deref());
                digest.push(w.digest.as_deref());
                name.push(row);
            }
        }
        let mut args = PgArguments::default();
        let bound = args
            .add(index)
            .and_then(|()| args.add(login))
            .and_then(|()| args.add(email))
            .and_then(|()| args.add(digest))
            .and_then(|()| args.add(name));
        if let Err(e) = bound {
            return Err(DbErr::Custom(format!("binding the update's read: {e}")).into());
        }
        let rows = self
            .kept
            .query_all(&context_sql(true, shape, 0), args)
            .await?;
        let mut by_request: Vec<Vec<&QueryResult>> = which.iter().map(|_| Vec::new()).collect();
        for row in &rows {
            let i = row.try_get_by_index::<i64>(POSITIONS.request)?;
            if let Some(request) = usize::try_from(i).ok().and_then(|i| by_request.get_mut(i)) {
                request.push(row);
            }
        }
        let mut contexts = Vec::with_capacity(which.len());
        for rows in by_request {
            contexts.push(context_of(&rows, shape.key)?);
        }
        Ok(contexts)
    }
}
