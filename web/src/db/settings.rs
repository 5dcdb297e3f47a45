//! Service-wide settings staff change at run time, one row each in `service_settings`. They
//! are read from the database on every request that needs them (one primary-key read), so a
//! change takes effect at once on every replica.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use sea_orm::sea_query::OnConflict;

use super::entity::service_setting;
use super::{Db, DbResult, WriteTx};
use crate::domain::Registration;

const REGISTRATION: &str = "registration";

/// Whether sign-ups are open, and who set it last, when and why.
#[derive(Clone, Debug, Default)]
pub struct RegistrationSetting {
    pub mode: Registration,
    pub reason: Option<String>,
    /// `None`: never changed (the default).
    pub changed: Option<(String, DateTime<Utc>)>,
}

impl Db {
    pub async fn registration(&self) -> DbResult<RegistrationSetting> {
        let Some(row) = service_setting::Entity::find_by_id(REGISTRATION)
            .one(&self.conn)
            .await?
        else {
            return Ok(RegistrationSetting::default());
        };
        // A value this version does not know (written by a newer one) closes sign-ups.
        let mode = super::readable("registration setting", {
            Registration::parse(&row.value).ok_or(row.value.clone())
        })
        .unwrap_or(Registration::Closed);
        Ok(RegistrationSetting {
            mode,
            reason: row.reason,
            changed: Some((row.changed_by, row.changed_at)),
        })
    }
}

impl WriteTx {
    /// Sets who may sign up; the caller audits it in the same transaction.
    pub async fn set_registration(
        &self,
        mode: Registration,
        reason: Option<&str>,
        actor: &str,
    ) -> DbResult<()> {
        let row = service_setting::ActiveModel {
            name: Set(REGISTRATION.into()),
            value: Set(mode.as_str().into()),
            reason: Set(reason.map(str::to_owned)),
            changed_by: Set(actor.into()),
            changed_at: Set(Utc::now()),
        };
        service_setting::Entity::insert(row)
            .on_conflict(
                OnConflict::column(service_setting::Column::Name)
                    .update_columns([
                        service_setting::Column::Value,
                        service_setting::Column::Reason,
                        service_setting::Column::ChangedBy,
                        service_setting::Column::ChangedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(self.tx())
            .await?;
        Ok(())
    }
}
