//! Notifications: an account's subscriptions (all hosts or one, by e-mail or webhook, for
//! some events), the durable queue of deliveries written in the same transaction as the
//! event, every attempt at one, and the stale episodes already told (so a host that stays
//! stale is told once).

use sea_orm_migration::{prelude::*, schema::*};

use crate::{IndexSpec, create_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Hosts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum NotificationSubscriptions {
    Table,
    Id,
    AccountId,
    HostId,
    Channel,
    Target,
    Secret,
    Events,
    StaleDays,
    CreatedAt,
}

#[derive(DeriveIden)]
enum NotificationDeliveries {
    Table,
    Id,
    SubscriptionId,
    AccountId,
    EventId,
    Event,
    Payload,
    DedupeKey,
    State,
    Attempts,
    NextAttemptAt,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum NotificationAttempts {
    Table,
    Id,
    DeliveryId,
    At,
    DurationMs,
    Status,
    Error,
}

#[derive(DeriveIden)]
enum NotificationStaleMarks {
    Table,
    SubscriptionId,
    HostId,
    Since,
}

fn cascade(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

const INDEXES: [IndexSpec; 4] = [
    (
        "notification_subscriptions_account",
        "notification_subscriptions",
        &["account_id"],
    ),
    (
        "notification_deliveries_due",
        "notification_deliveries",
        &["state", "next_attempt_at"],
    ),
    (
        "notification_deliveries_account",
        "notification_deliveries",
        &["account_id", "id"],
    ),
    (
        "notification_attempts_delivery",
        "notification_attempts",
        &["delivery_id"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use NotificationAttempts as A;
        use NotificationDeliveries as D;
        use NotificationStaleMarks as M;
        use NotificationSubscriptions as S;
        m.create_table(
            Table::create()
                .table(S::Table)
                .col(big_pk_auto(S::Id))
                .col(big_integer(S::AccountId))
                .col(big_integer_null(S::HostId))
                .col(string_len(S::Channel, 8))
                .col(string_len(S::Target, 2048))
                .col(string_len_null(S::Secret, 64))
                .col(string_len(S::Events, 255))
                .col(integer(S::StaleDays))
                .col(timestamp_with_time_zone(S::CreatedAt))
                .foreign_key(&mut cascade(
                    (S::Table, S::AccountId),
                    (Accounts::Table, Accounts::Id),
                ))
                .foreign_key(&mut cascade(
                    (S::Table, S::HostId),
                    (Hosts::Table, Hosts::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(D::Table)
                .col(big_pk_auto(D::Id))
                .col(big_integer(D::SubscriptionId))
                .col(big_integer(D::AccountId))
                .col(string_len_uniq(D::EventId, 40))
                .col(string_len(D::Event, 32))
                .col(text(D::Payload))
                .col(string_len_null(D::DedupeKey, 320))
                .col(string_len(D::State, 16))
                .col(integer(D::Attempts))
                .col(timestamp_with_time_zone(D::NextAttemptAt))
                .col(timestamp_with_time_zone(D::CreatedAt))
                .col(timestamp_with_time_zone_null(D::FinishedAt))
                .foreign_key(&mut cascade(
                    (D::Table, D::SubscriptionId),
                    (S::Table, S::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(A::Table)
                .col(big_pk_auto(A::Id))
                .col(big_integer(A::DeliveryId))
                .col(timestamp_with_time_zone(A::At))
                .col(integer(A::DurationMs))
                .col(integer_null(A::Status))
                .col(string_len_null(A::Error, 255))
                .foreign_key(&mut cascade((A::Table, A::DeliveryId), (D::Table, D::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(M::Table)
                .col(big_integer(M::SubscriptionId))
                .col(big_integer(M::HostId))
                .col(timestamp_with_time_zone(M::Since))
                .primary_key(Index::create().col(M::SubscriptionId).col(M::HostId))
                .foreign_key(&mut cascade(
                    (M::Table, M::SubscriptionId),
                    (S::Table, S::Id),
                ))
                .foreign_key(&mut cascade(
                    (M::Table, M::HostId),
                    (Hosts::Table, Hosts::Id),
                ))
                .to_owned(),
        )
        .await?;
        create_indexes(m, &INDEXES).await?;
        // One delivery per subscription and key: repeats of a once-per-window event
        // (from any replica) insert nothing. Keys are NULL otherwise, and NULLs differ.
        m.create_index(
            Index::create()
                .name("notification_deliveries_dedupe")
                .table(D::Table)
                .col(D::SubscriptionId)
                .col(D::DedupeKey)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            NotificationStaleMarks::Table.into_iden(),
            NotificationAttempts::Table.into_iden(),
            NotificationDeliveries::Table.into_iden(),
            NotificationSubscriptions::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
