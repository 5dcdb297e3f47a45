//! The read every update starts with: who presents the credentials and, in the same query,
//! the state of the hosts asked for in that user's account. One round trip, because every
//! update runs it and most updates need nothing else from the database (`nochg`).

use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ConnectionTrait, FromQueryResult, IdenStatic, Iterable};

use super::entity::{account, host, update_key, update_key_host, user};
use super::people::login_is;
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
        let query = context_query(login, key, names);
        // One row per host found, or a single row without a host.
        let rows = self.conn.query_all(&query).await?;
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

/// `users JOIN accounts [JOIN update_keys] LEFT JOIN hosts`, the columns named as the row
/// structs above expect.
fn context_query(
    login: Option<&str>,
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
    if let Some(login) = login {
        query.cond_where(login_is(login));
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
