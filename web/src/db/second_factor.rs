//! The second factor's rows: a user's TOTP secret (pending until a first code switches it
//! on), the last time step a code was taken in, and the recovery codes' digests. Every
//! change is audited with the user's address as the actor.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter};

use super::entity::{recovery_code, user};
use super::{Db, DbResult, WebUser, WriteTx};
use crate::domain::{RecoveryCode, TotpSecret};

/// Recovery codes made at once.
pub const RECOVERY_CODES: usize = 10;

impl Db {
    /// The secret `user` is enrolling with (a new one if they have none yet), or `None` when
    /// their second factor is on: a secret in use is never shown again.
    pub async fn pending_totp(&self, user: i64) -> DbResult<Option<TotpSecret>> {
        let pending = |row: Option<user::Model>| {
            let row = row.filter(|u| u.totp_enabled_at.is_none())?;
            Some(row.totp_secret.as_deref().and_then(TotpSecret::parse))
        };
        match pending(user::Entity::find_by_id(user).one(&self.conn).await?) {
            None => return Ok(None),
            Some(Some(secret)) => return Ok(Some(secret)),
            Some(None) => {}
        }
        user::Entity::update_many()
            .col_expr(
                user::Column::TotpSecret,
                Expr::value(TotpSecret::generate().base32()),
            )
            .filter(user::Column::Id.eq(user))
            .filter(user::Column::TotpSecret.is_null())
            .exec(&self.conn)
            .await?;
        // Read back: of two pages opened at once, both show the secret that was kept.
        let row = user::Entity::find_by_id(user).one(&self.conn).await?;
        Ok(pending(row).flatten())
    }
}

impl WriteTx {
    /// Takes `code` if it is `user`'s TOTP code now and its time step is later than the last
    /// one taken (a code, even one seen over a shoulder, works once). `enabled` says which
    /// secret: the one switched on, or the one being enrolled.
    pub async fn take_totp(
        &self,
        user: i64,
        code: &str,
        now: DateTime<Utc>,
        enabled: bool,
    ) -> DbResult<bool> {
        let Some(row) = user::Entity::find_by_id(user).one(self.tx()).await? else {
            return Ok(false);
        };
        if row.totp_enabled_at.is_some() != enabled {
            return Ok(false);
        }
        let secret = row.totp_secret.as_deref().and_then(TotpSecret::parse);
        let unix = u64::try_from(now.timestamp()).unwrap_or_default();
        let Some(step) = secret.and_then(|s| s.check(code, unix)) else {
            return Ok(false);
        };
        // The condition is in the update, so two requests with one code cannot both win.
        let taken = user::Entity::update_many()
            .col_expr(user::Column::TotpLastStep, Expr::value(step))
            .filter(user::Column::Id.eq(user))
            .filter(
                Condition::any()
                    .add(user::Column::TotpLastStep.is_null())
                    .add(user::Column::TotpLastStep.lt(step)),
            )
            .exec(self.tx())
            .await?
            .rows_affected;
        Ok(taken == 1)
    }

    /// Takes a TOTP code or, failing that, one of `user`'s recovery codes (which is gone).
    pub async fn take_second_factor(
        &self,
        user: &WebUser,
        typed: &str,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        if self.take_totp(user.id, typed, now, true).await? {
            return Ok(true);
        }
        let Some(code) = RecoveryCode::parse(typed) else {
            return Ok(false);
        };
        let used = recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::UserId.eq(user.id))
            .filter(recovery_code::Column::Digest.eq(code.digest()))
            .exec(self.tx())
            .await?
            .rows_affected
            == 1;
        if used {
            let detail = "a recovery code was used";
            self.audit_second_factor(user, "second_factor.recovery_code_used", detail)
                .await?;
        }
        Ok(used)
    }

    /// Switches the pending secret on, `code` being its first code: the recovery codes to
    /// show once, or `None` when the code was not right.
    pub async fn enable_totp(
        &self,
        user: &WebUser,
        code: &str,
        now: DateTime<Utc>,
    ) -> DbResult<Option<Vec<RecoveryCode>>> {
        if !self.take_totp(user.id, code, now, false).await? {
            return Ok(None);
        }
        user::Entity::update_many()
            .col_expr(user::Column::TotpEnabledAt, Expr::value(now))
            .filter(user::Column::Id.eq(user.id))
            .exec(self.tx())
            .await?;
        self.audit_second_factor(user, "second_factor.enable", "TOTP switched on")
            .await?;
        self.new_recovery_codes(user).await.map(Some)
    }

    /// New recovery codes for `user`, replacing the old ones: shown once, stored as digests.
    pub async fn new_recovery_codes(&self, user: &WebUser) -> DbResult<Vec<RecoveryCode>> {
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::UserId.eq(user.id))
            .exec(self.tx())
            .await?;
        let codes: Vec<RecoveryCode> = (0..RECOVERY_CODES)
            .map(|_| RecoveryCode::generate())
            .collect();
        for code in &codes {
            recovery_code::ActiveModel {
                id: NotSet,
                user_id: Set(user.id),
                digest: Set(code.digest()),
            }
            .insert(self.tx())
            .await?;
        }
        let detail = format!("{RECOVERY_CODES} new recovery codes");
        self.audit_second_factor(user, "second_factor.recovery_codes", &detail)
            .await?;
        Ok(codes)
    }

    /// Switches `user`'s second factor off: secret and recovery codes are gone.
    pub async fn disable_totp(&self, user: &WebUser) -> DbResult<()> {
        user::Entity::update_many()
            .col_expr(
                user::Column::TotpSecret,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                user::Column::TotpEnabledAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(user::Column::TotpLastStep, Expr::value(Option::<i64>::None))
            .filter(user::Column::Id.eq(user.id))
            .exec(self.tx())
            .await?;
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::UserId.eq(user.id))
            .exec(self.tx())
            .await?;
        self.audit_second_factor(user, "second_factor.disable", "TOTP switched off")
            .await
    }

    async fn audit_second_factor(
        &self,
        user: &WebUser,
        action: &str,
        detail: &str,
    ) -> DbResult<()> {
        self.audit(Some(user.account), user.email.as_str(), action, detail)
            .await
    }
}
