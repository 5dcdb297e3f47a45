//! The read every update starts with: who presents the credentials and, in the same query,
//! the state of the hosts asked for in that user's account. One round trip, because every
//! update runs it and most updates need nothing else from the database (`nochg`).
//!
//! Its SQL depends only on the request's shape (a login or not, which also by e-mail, a key
//! or not, how many names), so it is built once per shape and kept with where each value
//! goes: building and dropping the query's expression tree was a sixth of an update's CPU.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ConnectionTrait, DbBackend, FromQueryResult, IdenStatic, Iterable, Statement, StatementBuilder,
    Value,
};

use super::entity::{account, host, update_key, update_key_host, user};
use super::people::{login_as_email, login_or_email_is};
use super::{AccountId, Db, DbResult, HostState, KeyAuth, UserAuth};
use crate::domain::{AccountStatus, Fqdn, KeyScope, PasswordHash, Plan, Role};

/// What an update decides on, read without locks.
pub struct UpdateContext {
    pub user: UserAuth,
    /// The key presented, when the secret is one.
    pub key: Option<KeyAuth>,
    /// The account's hosts among the names asked for, by name.
    pub hosts: Vec<(String, HostState)>,
}

#[derive(FromQueryResult)]
struct UserRow {
    user_id: i64,
    email: String,
    verified: bool,
    account_id: i64,
    role: String,
    password_hash: String,
    account_status: String,
    account_plan: String,
}

/// The prefix of the host's columns in a row (empty when no host was found).
const HOST: &str = "host_";

#[derive(FromQueryResult)]
struct KeyRow {
    key_id: i64,
    key_scope: String,
    /// Whether the key is limited to some hosts.
    key_limited: bool,
    /// Whether this row's host is one of them.
    host_allowed: bool,
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
        let login = login.map(|login| (login, login_as_email(login)));
        let login = login
            .as_ref()
            .map(|(login, email)| (*login, email.as_deref()));
        let query = context_statement(self.conn.get_database_backend(), login, key, names);
        // One row per host found, or a single row without a host.
        let rows = match &self.kept {
            Some(kept) => kept.query_all(query).await?,
            None => self.conn.query_all_raw(query).await?,
        };
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let u = UserRow::from_query_result(first, "")?;
        let account = AccountId(u.account_id);
        let mut hosts = Vec::new();
        let mut allowed = Vec::new();
        for row in &rows {
            if row.try_get::<Option<i64>>(HOST, "id")?.is_none() {
                continue;
            }
            let h = host::Model::from_query_result(row, HOST)?;
            if key.is_some() && KeyRow::from_query_result(row, "")?.host_allowed {
                allowed.push(h.id);
            }
            hosts.push((h.name.clone(), HostState::from_model(&h)));
        }
        let key = match key {
            Some(_) => {
                let k = KeyRow::from_query_result(first, "")?;
                Some(KeyAuth {
                    key_id: k.key_id,
                    scope: KeyScope::parse(&k.key_scope).unwrap_or(KeyScope::Update),
                    // Only the hosts asked for: all this request needs to know.
                    hosts: k.key_limited.then_some(allowed),
                })
            }
            None => None,
        };
        let user = UserAuth {
            user_id: u.user_id,
            email: u.email,
            verified: u.verified,
            account,
            role: Role::parse(&u.role).unwrap_or(Role::Viewer),
            password: PasswordHash(u.password_hash),
            // An unknown status may not update.
            account_status: AccountStatus::parse(&u.account_status)
                .unwrap_or(AccountStatus::Suspended),
            // An unknown plan gets the free plan's features.
            plan: Plan::parse(&u.account_plan).unwrap_or(Plan::Free),
        };
        Ok(Some(UpdateContext { user, key, hosts }))
    }
}

/// What the context query's SQL depends on, besides the values bound to it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct Shape {
    /// PostgreSQL's SQL, else SQLite's.
    postgres: bool,
    /// A login, and whether it is also an e-mail address.
    login: Option<bool>,
    key: bool,
    names: usize,
}

/// Where a bound value comes from.
#[derive(Debug)]
enum Slot {
    Login,
    Email,
    Name(usize),
    Digest,
    /// A constant of the query itself.
    Fixed(Value),
}

/// A shape's SQL, and its values' slots in order.
#[derive(Debug)]
struct Prepared {
    sql: String,
    slots: Vec<Slot>,
}

/// Shapes kept: requests naming more hosts than this are built each time (they are rare,
/// and a bound keeps the cache small).
const MOST_NAMES_KEPT: usize = 8;

static PREPARED: LazyLock<Mutex<HashMap<Shape, Arc<Prepared>>>> = LazyLock::new(Mutex::default);

/// The context query for these values, from the cache when its shape is kept.
fn context_statement(
    backend: DbBackend,
    login: Option<(&str, Option<&str>)>,
    key_digest: Option<&str>,
    names: &[&Fqdn],
) -> Statement {
    let shape = Shape {
        postgres: backend == DbBackend::Postgres,
        login: login.map(|(_, email)| email.is_some()),
        key: key_digest.is_some(),
        names: names.len(),
    };
    if shape.names > MOST_NAMES_KEPT {
        return StatementBuilder::build(&context_query(login, key_digest, names), &backend);
    }
    let prepared = PREPARED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(shape)
        .or_insert_with(|| Arc::new(prepare(backend, shape)))
        .clone();
    let text = |s: &str| Value::String(Some(s.to_owned()));
    let values = prepared.slots.iter().map(|slot| match slot {
        Slot::Login => text(login.map_or("", |(login, _)| login)),
        Slot::Email => text(login.and_then(|(_, email)| email).unwrap_or("")),
        Slot::Name(i) => text(names[*i].as_str()),
        Slot::Digest => text(key_digest.unwrap_or("")),
        Slot::Fixed(value) => value.clone(),
    });
    Statement::from_sql_and_values(backend, prepared.sql.clone(), values)
}

/// Builds a shape's query with a marker in place of each value, and reads back where each
/// marker went.
fn prepare(backend: DbBackend, shape: Shape) -> Prepared {
    const LOGIN: &str = "\0login";
    const EMAIL: &str = "\0email";
    const DIGEST: &str = "\0digest";
    let names: Vec<Fqdn> = (0..shape.names)
        .map(|i| Fqdn::parse(&format!("n{i}.marker.invalid")).expect("a valid name"))
        .collect();
    let name_refs: Vec<&Fqdn> = names.iter().collect();
    let login = shape
        .login
        .map(|by_email| (LOGIN, by_email.then_some(EMAIL)));
    let query = context_query(login, shape.key.then_some(DIGEST), &name_refs);
    let built = StatementBuilder::build(&query, &backend);
    let slots = built
        .values
        .map(|values| values.0)
        .unwrap_or_default()
        .into_iter()
        .map(|value| match &value {
            Value::String(Some(s)) if s == LOGIN => Slot::Login,
            Value::String(Some(s)) if s == EMAIL => Slot::Email,
            Value::String(Some(s)) if s == DIGEST => Slot::Digest,
            Value::String(Some(s)) => match names.iter().position(|n| n.as_str() == s) {
                Some(i) => Slot::Name(i),
                None => Slot::Fixed(value),
            },
            _ => Slot::Fixed(value),
        })
        .collect();
    Prepared {
        sql: built.sql,
        slots,
    }
}

/// `users JOIN accounts [JOIN update_keys] LEFT JOIN hosts`, the columns named as the row
/// structs above expect.
fn context_query(
    login: Option<(&str, Option<&str>)>,
    key_digest: Option<&str>,
    names: &[&Fqdn],
) -> SelectStatement {
    let u = |c: user::Column| Expr::col((user::Entity, c));
    let h = |c: host::Column| Expr::col((host::Entity, c));
    let mut query = Query::select();
    for column in host::Column::iter() {
        query.expr_as(h(column), format!("{HOST}{}", column.as_str()));
    }
    query
        .expr_as(u(user::Column::Id), "user_id")
        .expr_as(u(user::Column::Email), "email")
        .expr_as(u(user::Column::EmailVerifiedAt).is_not_null(), "verified")
        .expr_as(u(user::Column::AccountId), "account_id")
        .expr_as(u(user::Column::Role), "role")
        .expr_as(u(user::Column::PasswordHash), "password_hash")
        .expr_as(
            Expr::col((account::Entity, account::Column::Status)),
            "account_status",
        )
        .expr_as(
            Expr::col((account::Entity, account::Column::Plan)),
            "account_plan",
        )
        .from(user::Entity)
        .inner_join(
            account::Entity,
            Expr::col((account::Entity, account::Column::Id))
                .equals((user::Entity, user::Column::AccountId)),
        )
        .left_join(
            host::Entity,
            Condition::all()
                .add(h(host::Column::AccountId).equals((user::Entity, user::Column::AccountId)))
                .add(h(host::Column::Name).is_in(names.iter().map(|n| n.as_str()))),
        );
    // Without a login the key alone names its user (joined below).
    if let Some((login, email)) = login {
        query.cond_where(login_or_email_is(login, email));
    }
    if let Some(digest) = key_digest {
        let k = |c: update_key::Column| Expr::col((update_key::Entity, c));
        // The key's row of update_key_hosts for this row's host.
        let kh = |c: update_key_host::Column| Expr::col((update_key_host::Entity, c));
        let this_host = Query::select()
            .expr(Expr::val(1))
            .from(update_key_host::Entity)
            .and_where(
                kh(update_key_host::Column::KeyId)
                    .equals((update_key::Entity, update_key::Column::Id)),
            )
            .and_where(kh(update_key_host::Column::HostId).equals((host::Entity, host::Column::Id)))
            .to_owned();
        // The key is found by the SHA-256 of its 190 random bits: index timing reveals
        // nothing about the secret.
        query
            .inner_join(
                update_key::Entity,
                Condition::all()
                    .add(k(update_key::Column::UserId).equals((user::Entity, user::Column::Id)))
                    .add(k(update_key::Column::Digest).eq(digest))
                    .add(k(update_key::Column::RevokedAt).is_null()),
            )
            .expr_as(k(update_key::Column::Id), "key_id")
            .expr_as(k(update_key::Column::Scope), "key_scope")
            // Stored, not inferred from the rows above, which go with their hosts.
            .expr_as(k(update_key::Column::Limited), "key_limited")
            .expr_as(Expr::exists(this_host), "host_allowed");
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept SQL with the values put in their slots is the query built afresh.
    #[test]
    fn a_kept_shape_gives_the_query_built_afresh() {
        let names: Vec<Fqdn> = ["a.dyn.test", "b.dyn.test", "a.dyn.test"]
            .iter()
            .map(|n| Fqdn::parse(n).expect("name"))
            .collect();
        let names: Vec<&Fqdn> = names.iter().collect();
        let logins = [
            None,
            Some(("me", None)),
            Some(("me@example.com", Some("me@example.com"))),
        ];
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            for login in logins {
                for key in [None, Some("0123abcd")] {
                    for count in 0..=names.len() {
                        // Twice: the second comes from the cache.
                        for _ in 0..2 {
                            let kept = context_statement(backend, login, key, &names[..count]);
                            let fresh = StatementBuilder::build(
                                &context_query(login, key, &names[..count]),
                                &backend,
                            );
                            assert_eq!(kept.sql, fresh.sql);
                            assert_eq!(format!("{:?}", kept.values), format!("{:?}", fresh.values));
                        }
                    }
                }
            }
        }
    }
}
