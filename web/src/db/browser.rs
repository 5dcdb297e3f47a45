//! What the account manager needs besides tenant data: logins by e-mail, browser sessions,
//! and the one-time tokens of e-mailed links. Secrets are stored as SHA-256 digests only.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::entity::{account, session, token, update_key, user};
use super::{AccountId, Db, DbResult, UserAuth, WriteTx};
use crate::domain::{AccountStatus, Email, PasswordHash, Plan, Role, SecretToken};

/// A user as the account manager sees them.
#[derive(Clone, Debug)]
pub struct WebUser {
    pub id: i64,
    pub account: AccountId,
    pub email: Email,
    pub role: Role,
    pub plan: Plan,
    pub verified: bool,
    pub account_status: AccountStatus,
    /// One of the operator's staff: the console is open to them.
    pub staff: bool,
    /// Signs in with a TOTP code after the password.
    pub second_factor: bool,
}

impl WebUser {
    /// The user whose credentials the update service checked (an API key's owner).
    pub fn checked(user: &UserAuth) -> Option<WebUser> {
        Some(WebUser {
            id: user.user_id,
            account: user.account,
            email: Email::parse(&user.email).ok()?,
            role: user.role,
            plan: user.plan,
            verified: user.verified,
            account_status: user.account_status,
            // The console takes a browser session only.
            staff: false,
            second_factor: false,
        })
    }
}

/// A signed-in browser: its user and the CSRF token its forms must carry.
#[derive(Clone, Debug)]
pub struct WebSession {
    pub user: WebUser,
    pub csrf: String,
    /// A staff member viewing an account as staff: that account's owner, whose pages the
    /// session shows read only.
    pub viewing: Option<WebUser>,
}

/// What an e-mailed link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Confirms the address of a new user.
    Verify,
    /// Lets a user choose a new password.
    Reset,
    /// Confirms a user's new address.
    Email,
    /// Lets someone join an account with a role.
    Invite,
    /// A sign-in whose password was right, waiting for its second factor (in a cookie).
    SignIn,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Verify => "verify",
            TokenPurpose::Reset => "reset",
            TokenPurpose::Email => "email",
            TokenPurpose::Invite => "invite",
            TokenPurpose::SignIn => "sign_in",
        }
    }
}

/// What a one-time link carries besides its purpose.
#[derive(Clone, Debug, Default)]
pub struct TokenData {
    pub user: Option<i64>,
    pub account: Option<AccountId>,
    /// The address it was sent to, for an e-mail change or an invitation.
    pub email: Option<Email>,
    pub role: Option<Role>,
}

impl Db {
    /// The user with this e-mail and their password hash, for a login form.
    pub async fn web_login(&self, email: &Email) -> DbResult<Option<(WebUser, PasswordHash)>> {
        let Some(u) = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let hash = PasswordHash(u.password_hash.clone());
        Ok(self.web_user(u).await?.map(|w| (w, hash)))
    }

    /// The user with this id (an API token's subject), and their password hash.
    pub async fn web_user_by_id(&self, id: i64) -> DbResult<Option<(WebUser, PasswordHash)>> {
        let Some(u) = user::Entity::find_by_id(id).one(&self.conn).await? else {
            return Ok(None);
        };
        let hash = PasswordHash(u.password_hash.clone());
        Ok(self.web_user(u).await?.map(|w| (w, hash)))
    }

    async fn web_user(&self, u: user::Model) -> DbResult<Option<WebUser>> {
        let Some(account) = account::Entity::find_by_id(u.account_id)
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let Ok(email) = Email::parse(&u.email) else {
            return Ok(None);
        };
        Ok(Some(WebUser {
            id: u.id,
            account: AccountId(u.account_id),
            email,
            role: Role::parse(&u.role).unwrap_or(Role::Viewer),
            plan: Plan::parse(&account.plan).unwrap_or(Plan::Free),
            verified: u.email_verified_at.is_some(),
            account_status: AccountStatus::parse(&account.status)
                .unwrap_or(AccountStatus::Suspended),
            staff: u.staff,
            second_factor: u.totp_enabled_at.is_some(),
        }))
    }

    /// Starts a session for `user` that lasts `ttl`: the cookie's secret, and the session.
    pub async fn create_session(
        &self,
        user: WebUser,
        ttl: Duration,
    ) -> DbResult<(SecretToken, WebSession)> {
        let secret = SecretToken::generate();
        let csrf = SecretToken::generate().secret().to_owned();
        let now = Utc::now();
        session::ActiveModel {
            id: NotSet,
            digest: Set(secret.digest()),
            user_id: Set(user.id),
            csrf: Set(csrf.clone()),
            created_at: Set(now),
            expires_at: Set(now + ttl),
            viewing_account: Set(None),
        }
        .insert(&self.conn)
        .await?;
        let session = WebSession {
            user,
            csrf,
            viewing: None,
        };
        Ok((secret, session))
    }

    /// The live session whose cookie holds `secret`.
    pub async fn session(&self, secret: &SecretToken) -> DbResult<Option<WebSession>> {
        let Some(s) = session::Entity::find()
            .filter(session::Column::Digest.eq(secret.digest()))
            .filter(session::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let Some(u) = user::Entity::find_by_id(s.user_id).one(&self.conn).await? else {
            return Ok(None);
        };
        let Some(user) = self.web_user(u).await? else {
            return Ok(None);
        };
        let viewing = match s.viewing_account {
            Some(account) if user.staff => self.account_owner(account).await?,
            _ => None,
        };
        Ok(Some(WebSession {
            user,
            csrf: s.csrf,
            viewing,
        }))
    }

    /// The owner of `account` (the first, should it have several).
    async fn account_owner(&self, account: i64) -> DbResult<Option<WebUser>> {
        let owner = user::Entity::find()
            .filter(user::Column::AccountId.eq(account))
            .filter(user::Column::Role.eq(Role::Owner.as_str()))
            .order_by_asc(user::Column::Id)
            .one(&self.conn)
            .await?;
        match owner {
            Some(u) => self.web_user(u).await,
            None => Ok(None),
        }
    }

    pub async fn end_session(&self, secret: &SecretToken) -> DbResult<()> {
        session::Entity::delete_many()
            .filter(session::Column::Digest.eq(secret.digest()))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Issues a one-time link token, valid for `ttl`.
    pub async fn issue_token(
        &self,
        purpose: TokenPurpose,
        data: TokenData,
        ttl: Duration,
    ) -> DbResult<SecretToken> {
        insert_token(&self.conn, purpose, data, ttl).await
    }
}

impl WriteTx {
    /// Audits a change user `user` made to themselves, under their account and address.
    async fn audit_own(&self, user: i64, action: &str, detail: &str) -> DbResult<()> {
        if let Some(u) = user::Entity::find_by_id(user).one(self.tx()).await? {
            self.audit(Some(AccountId(u.account_id)), &u.email, action, detail)
                .await?;
        }
        Ok(())
    }

    /// [`Db::issue_token`] within this transaction.
    pub async fn issue_token(
        &self,
        purpose: TokenPurpose,
        data: TokenData,
        ttl: Duration,
    ) -> DbResult<SecretToken> {
        insert_token(self.tx(), purpose, data, ttl).await
    }
}

async fn insert_token(
    conn: &impl ConnectionTrait,
    purpose: TokenPurpose,
    data: TokenData,
    ttl: Duration,
) -> DbResult<SecretToken> {
    let secret = SecretToken::generate();
    let now = Utc::now();
    token::ActiveModel {
        id: NotSet,
        digest: Set(secret.digest()),
        purpose: Set(purpose.as_str().into()),
        user_id: Set(data.user),
        account_id: Set(data.account.map(|a| a.0)),
        email: Set(data.email.map(|e| e.to_string())),
        role: Set(data.role.map(|r| r.as_str().to_owned())),
        expires_at: Set(now + ttl),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(conn)
    .await?;
    Ok(secret)
}

impl Db {
    /// What the live token `secret` of `purpose` carries, without using it up (unknown,
    /// used and expired ones are `None`): a form behind a link is checked with this before
    /// any password is hashed.
    pub async fn peek_token(
        &self,
        purpose: TokenPurpose,
        secret: &SecretToken,
    ) -> DbResult<Option<TokenData>> {
        Ok(token::Entity::find()
            .filter(token::Column::Digest.eq(secret.digest()))
            .filter(token::Column::Purpose.eq(purpose.as_str()))
            .filter(token::Column::UsedAt.is_null())
            .filter(token::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.conn)
            .await?
            .map(token_data))
    }
}

/// What a token row carries.
fn token_data(t: token::Model) -> TokenData {
    TokenData {
        user: t.user_id,
        account: t.account_id.map(AccountId),
        email: t.email.as_deref().and_then(|e| Email::parse(e).ok()),
        role: t.role.as_deref().and_then(Role::parse),
    }
}

impl WriteTx {
    /// Uses up a live token of `purpose`: what it carries, or `None` when it is unknown,
    /// expired or used (a token works once, even when two requests race).
    pub async fn take_token(
        &self,
        purpose: TokenPurpose,
        secret: &SecretToken,
        now: DateTime<Utc>,
    ) -> DbResult<Option<TokenData>> {
        let Some(t) = token::Entity::find()
            .filter(token::Column::Digest.eq(secret.digest()))
            .filter(token::Column::Purpose.eq(purpose.as_str()))
            .filter(token::Column::UsedAt.is_null())
            .filter(token::Column::ExpiresAt.gt(now))
            .one(self.tx())
            .await?
        else {
            return Ok(None);
        };
        let taken = token::Entity::update_many()
            .col_expr(token::Column::UsedAt, Expr::value(now))
            .filter(token::Column::Id.eq(t.id))
            .filter(token::Column::UsedAt.is_null())
            .exec(self.tx())
            .await?
            .rows_affected;
        Ok((taken == 1).then(|| token_data(t)))
    }

    /// Sets a user's password and signs every browser of theirs out; audited as `action`,
    /// the user (the only one who can) as its actor.
    pub async fn set_password(&self, user: i64, hash: &PasswordHash, action: &str) -> DbResult<()> {
        self.audit_own(user, action, "").await?;
        user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash.0.clone()))
            .filter(user::Column::Id.eq(user))
            .exec(self.tx())
            .await?;
        session::Entity::delete_many()
            .filter(session::Column::UserId.eq(user))
            .exec(self.tx())
            .await?;
        Ok(())
    }

    /// Signs every browser of `user` out but the one of session `kept`.
    pub async fn end_other_sessions(&self, user: i64, kept: &SecretToken) -> DbResult<()> {
        session::Entity::delete_many()
            .filter(session::Column::UserId.eq(user))
            .filter(session::Column::Digest.ne(kept.digest()))
            .exec(self.tx())
            .await?;
        Ok(())
    }

    /// Gives a user a new, confirmed address; `false` when another user has it.
    pub async fn set_email(&self, user: i64, email: &Email, now: DateTime<Utc>) -> DbResult<bool> {
        let taken = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(self.tx())
            .await?
            .is_some_and(|u| u.id != user);
        if taken {
            return Ok(false);
        }
        self.audit_own(user, "email.change", &format!("to {email}"))
            .await?;
        if let Some(before) = user::Entity::find_by_id(user).one(self.tx()).await? {
            self.readdress_subscriptions(before.account_id, &before.email, Some(email.as_str()))
                .await?;
        }
        user::Entity::update_many()
            .col_expr(user::Column::Email, Expr::value(email.as_str()))
            .col_expr(user::Column::EmailVerifiedAt, Expr::value(now))
            .filter(user::Column::Id.eq(user))
            .exec(self.tx())
            .await?;
        Ok(true)
    }

    /// A new sign-up with the address of a user who never confirmed it: the new password
    /// replaces the earlier one, and nothing made under it (sessions, keys) survives.
    pub async fn replace_unconfirmed(&self, user: i64, hash: &PasswordHash) -> DbResult<()> {
        self.set_password(user, hash, "password.replace_unconfirmed")
            .await?;
        update_key::Entity::update_many()
            .col_expr(update_key::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(update_key::Column::UserId.eq(user))
            .filter(update_key::Column::RevokedAt.is_null())
            .exec(self.tx())
            .await?;
        Ok(())
    }

    pub async fn mark_verified(&self, user: i64, now: DateTime<Utc>) -> DbResult<()> {
        user::Entity::update_many()
            .col_expr(user::Column::EmailVerifiedAt, Expr::value(now))
            .filter(user::Column::Id.eq(user))
            .filter(user::Column::EmailVerifiedAt.is_null())
            .exec(self.tx())
            .await?;
        Ok(())
    }
}
