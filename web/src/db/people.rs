//! Accounts, users, update keys and groups: who may update what.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use chrono::Utc;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter};

use super::entity::{account, group, group_host, host, update_key, update_key_host, user};
use super::{AccountId, Db, DbError, DbResult, WriteTx};
use crate::domain::{
    AccountStatus, Email, Fqdn, GroupName, KeyScope, PasswordHash, Plan, Role, UpdateKey,
};

/// A login's credentials and standing, as authentication needs them.
#[derive(Clone, Debug)]
pub struct UserAuth {
    pub user_id: i64,
    pub email: String,
    pub verified: bool,
    pub account: AccountId,
    pub role: Role,
    pub password: PasswordHash,
    pub account_status: AccountStatus,
    pub plan: Plan,
}

/// An update key's limits.
#[derive(Clone, Debug)]
pub struct KeyAuth {
    pub key_id: i64,
    pub scope: KeyScope,
    /// Host ids the key is limited to; `None` for every host of the account.
    pub hosts: Option<Vec<i64>>,
}

/// An update key to make for its owner.
#[derive(Clone, Copy, Debug)]
pub struct NewKey<'a> {
    pub owner: &'a Email,
    pub name: &'a str,
    /// The hosts it is limited to; empty: every host of the owner's account.
    pub hosts: &'a [Fqdn],
    pub scope: KeyScope,
    pub also_for: KeyProtocols,
}

/// The protocols a key is also made for, each keeping another form of it on the server.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyProtocols {
    /// miniupdate: its MD5 is kept.
    pub miniupdate: bool,
    /// RFC 2136 with TSIG: its TSIG secret is kept.
    pub tsig: bool,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: Email,
    pub login: Option<String>,
    pub password: PasswordHash,
    pub staff: bool,
    /// Whether the address is known to be the user's (operator-created users are).
    pub verified: bool,
    /// Where the user belongs: a new account of its own (as owner) on this plan, or an
    /// existing account with a role.
    pub account: NewUserAccount,
}

#[derive(Clone, Debug)]
pub enum NewUserAccount {
    Own(Plan),
    Member(AccountId, Role),
}

impl Db {
    /// The hosts a host-limited update key may change (none once they are all deleted).
    pub async fn key_host_ids(&self, key_id: i64) -> DbResult<Vec<i64>> {
        let rows = update_key_host::Entity::find()
            .filter(update_key_host::Column::KeyId.eq(key_id))
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().map(|r| r.host_id).collect())
    }

    /// How many live update keys the user who logs in as `login` has; `None` when there
    /// is no such user. Says why credentials failed, for the protocols that tell (Rexx).
    pub async fn live_keys(&self, login: &str) -> DbResult<Option<u64>> {
        let Some(user_id) = self.user_logging_in(login).await? else {
            return Ok(None);
        };
        let keys = update_key::Entity::find()
            .filter(update_key::Column::UserId.eq(user_id))
            .filter(update_key::Column::RevokedAt.is_null())
            .count(&self.conn)
            .await?;
        Ok(Some(keys))
    }

    /// The live miniupdate keys of the user who logs in as `login`: (digest, MD5 hex).
    pub async fn miniupdate_keys(&self, login: &str) -> DbResult<Vec<(String, String)>> {
        let Some(user_id) = self.user_logging_in(login).await? else {
            return Ok(Vec::new());
        };
        let keys = update_key::Entity::find()
            .filter(update_key::Column::UserId.eq(user_id))
            .filter(update_key::Column::RevokedAt.is_null())
            .filter(update_key::Column::Miniupdate.eq(true))
            .all(&self.conn)
            .await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| Some((k.digest, k.miniupdate_md5?)))
            .collect())
    }

    /// The live key `id` made for RFC 2136: its digest, visible prefix and TSIG secret.
    pub async fn tsig_key(&self, id: i64) -> DbResult<Option<(String, String, Vec<u8>)>> {
        let key = update_key::Entity::find_by_id(id)
            .filter(update_key::Column::RevokedAt.is_null())
            .one(&self.conn)
            .await?;
        Ok(key.and_then(|k| {
            let secret = BASE64_STANDARD.decode(k.tsig_secret?).ok()?;
            Some((k.digest, k.prefix, secret))
        }))
    }

    async fn user_logging_in(&self, login: &str) -> DbResult<Option<i64>> {
        let found = user::Entity::find()
            .filter(login_is(login))
            .one(&self.conn)
            .await?;
        Ok(found.map(|u| u.id))
    }

    /// The account of the user with this e-mail, for operator commands.
    pub async fn account_of(&self, email: &Email) -> DbResult<Option<AccountId>> {
        let found = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.conn)
            .await?;
        Ok(found.map(|u| AccountId(u.account_id)))
    }
}

/// Users who log in as `login`: by login ID, or by e-mail in any case.
pub(super) fn login_is(login: &str) -> Condition {
    login_or_email_is(login, login_as_email(login).as_deref())
}

/// The e-mail address `login` names, if it is one (stored addresses are normalised).
pub(super) fn login_as_email(login: &str) -> Option<String> {
    Email::parse(login).ok().map(|e| e.as_str().to_owned())
}

/// Users whose login ID is `login`, or whose e-mail is `email`.
pub(super) fn login_or_email_is(login: &str, email: Option<&str>) -> Condition {
    let mut cond = Condition::any().add(user::Column::Login.eq(login));
    if let Some(email) = email {
        cond = cond.add(user::Column::Email.eq(email));
    }
    cond
}

impl WriteTx {
    /// Creates a user, in an account of its own (as its owner) or a member of another; the
    /// audit log names `actor`. The user's id, or `None` when the e-mail or login ID is
    /// taken (nothing is changed).
    pub async fn insert_user(&self, new: NewUser, actor: &str) -> DbResult<Option<i64>> {
        let mut taken = Condition::any().add(user::Column::Email.eq(new.email.as_str()));
        if let Some(login) = &new.login {
            taken = taken.add(user::Column::Login.eq(login.as_str()));
        }
        if user::Entity::find()
            .filter(taken)
            .one(self.tx())
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let now = Utc::now();
        let (account, role) = match new.account {
            NewUserAccount::Own(plan) => {
                let account = account::ActiveModel {
                    id: NotSet,
                    plan: Set(plan.as_str().into()),
                    status: Set(AccountStatus::Active.as_str().into()),
                    created_at: Set(now),
                    ipv6_prefix: Set(None),
                }
                .insert(self.tx())
                .await?;
                (AccountId(account.id), Role::Owner)
            }
            NewUserAccount::Member(account, role) => (account, role),
        };
        let user = user::ActiveModel {
            id: NotSet,
            account_id: Set(account.0),
            email: Set(new.email.to_string()),
            login: Set(new.login),
            password_hash: Set(new.password.0),
            role: Set(role.as_str().into()),
            staff: Set(new.staff),
            created_at: Set(now),
            email_verified_at: Set(new.verified.then_some(now)),
            totp_secret: Set(None),
            totp_enabled_at: Set(None),
            totp_last_step: Set(None),
        }
        .insert(self.tx())
        .await?
        .id;
        let detail = format!("{} as {}", new.email, role.as_str());
        self.audit(Some(account), actor, "user.create", &detail)
            .await?;
        Ok(Some(user))
    }

    /// Sets an account's status, audited as the CLI's with `reason`; `false` if it had it
    /// already.
    pub async fn set_account_status(
        &self,
        account: AccountId,
        status: AccountStatus,
        reason: &str,
    ) -> DbResult<bool> {
        let changed = account::Entity::update_many()
            .col_expr(account::Column::Status, Expr::value(status.as_str()))
            .filter(account::Column::Id.eq(account.0))
            .filter(account::Column::Status.ne(status.as_str()))
            .exec(self.tx())
            .await?
            .rows_affected
            > 0;
        if changed {
            self.audit(Some(account), "cli", status.audit_action(), reason)
                .await?;
        }
        Ok(changed)
    }

    /// Host ids of `account` for `names`; a name the account does not have is rejected.
    async fn own_host_ids(&self, account: AccountId, names: &[Fqdn]) -> DbResult<Vec<i64>> {
        let rows = host::Entity::find()
            .filter(host::Column::AccountId.eq(account.0))
            .filter(host::Column::Name.is_in(names.iter().map(Fqdn::as_str)))
            .all(self.tx())
            .await?;
        if let Some(missing) = names
            .iter()
            .find(|n| !rows.iter().any(|r| r.name == n.as_str()))
        {
            return Err(DbError::Missing(format!(
                "no host {missing} in this account"
            )));
        }
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Creates an update key, limited to `new.hosts` when any: for good, even once they
    /// are deleted. The audit log names `actor`. Returns the key's id.
    pub async fn insert_key(&self, new: NewKey<'_>, key: &UpdateKey, actor: &str) -> DbResult<i64> {
        let owner = user::Entity::find()
            .filter(user::Column::Email.eq(new.owner.as_str()))
            .one(self.tx())
            .await?
            .ok_or_else(|| DbError::Missing(format!("no user {}", new.owner)))?;
        let account = AccountId(owner.account_id);
        let host_ids = self.own_host_ids(account, new.hosts).await?;
        let row = update_key::ActiveModel {
            id: NotSet,
            account_id: Set(owner.account_id),
            user_id: Set(owner.id),
            name: Set(new.name.chars().take(64).collect()),
            prefix: Set(key.visible_prefix().into()),
            digest: Set(key.digest()),
            scope: Set(new.scope.as_str().into()),
            miniupdate: Set(new.also_for.miniupdate),
            miniupdate_md5: Set(new.also_for.miniupdate.then(|| key.md5_hex())),
            tsig_secret: Set(new
                .also_for
                .tsig
                .then(|| BASE64_STANDARD.encode(key.tsig_secret()))),
            last_used_at: Set(None),
            last_used_from: Set(None),
            revoked_at: Set(None),
            created_at: Set(Utc::now()),
            limited: Set(!host_ids.is_empty()),
        }
        .insert(self.tx())
        .await?;
        if !host_ids.is_empty() {
            update_key_host::Entity::insert_many(host_ids.into_iter().map(|host_id| {
                update_key_host::ActiveModel {
                    key_id: Set(row.id),
                    host_id: Set(host_id),
                }
            }))
            .exec(self.tx())
            .await?;
        }
        self.audit(Some(account), actor, "key.create", key.visible_prefix())
            .await?;
        Ok(row.id)
    }

    /// Creates a group of the account's hosts, or replaces the members of an existing one.
    pub async fn upsert_group(
        &self,
        account: AccountId,
        name: &GroupName,
        hosts: &[Fqdn],
        actor: &str,
    ) -> DbResult<()> {
        let host_ids = self.own_host_ids(account, hosts).await?;
        let existing = group::Entity::find()
            .filter(group::Column::AccountId.eq(account.0))
            .filter(group::Column::Name.eq(name.as_str()))
            .one(self.tx())
            .await?;
        let group_id = match existing {
            Some(g) => {
                group_host::Entity::delete_many()
                    .filter(group_host::Column::GroupId.eq(g.id))
                    .exec(self.tx())
                    .await?;
                g.id
            }
            None => {
                group::ActiveModel {
                    id: NotSet,
                    account_id: Set(account.0),
                    name: Set(name.to_string()),
                    created_at: Set(Utc::now()),
                }
                .insert(self.tx())
                .await?
                .id
            }
        };
        if !host_ids.is_empty() {
            group_host::Entity::insert_many(host_ids.into_iter().map(|host_id| {
                group_host::ActiveModel {
                    group_id: Set(group_id),
                    host_id: Set(host_id),
                }
            }))
            .exec(self.tx())
            .await?;
        }
        self.audit(Some(account), actor, "group.upsert", name.as_str())
            .await
    }
}
