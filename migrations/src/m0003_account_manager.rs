//! The account manager: verified e-mail addresses, browser sessions, and one-time tokens
//! (e-mail verification, password reset, e-mail change, team invitations).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    EmailVerifiedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    Digest,
    UserId,
    Csrf,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Tokens {
    Table,
    Id,
    Digest,
    Purpose,
    UserId,
    AccountId,
    Email,
    Role,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column(timestamp_with_time_zone_null(Users::EmailVerifiedAt))
                .to_owned(),
        )
        .await?;
        // Users from before sign-up existed were created by the operator: trusted as verified.
        m.exec_stmt(
            Query::update()
                .table(Users::Table)
                .value(Users::EmailVerifiedAt, Expr::col(Users::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(big_pk_auto(Sessions::Id))
                .col(string_len(Sessions::Digest, 64))
                .col(big_integer(Sessions::UserId))
                .col(string_len(Sessions::Csrf, 64))
                .col(timestamp_with_time_zone(Sessions::CreatedAt))
                .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Sessions::Table, Sessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("sessions_digest")
                .table(Sessions::Table)
                .col(Sessions::Digest)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Tokens::Table)
                .col(big_pk_auto(Tokens::Id))
                .col(string_len(Tokens::Digest, 64))
                .col(string_len(Tokens::Purpose, 16))
                .col(big_integer_null(Tokens::UserId))
                .col(big_integer_null(Tokens::AccountId))
                .col(string_len_null(Tokens::Email, 254))
                .col(string_len_null(Tokens::Role, 16))
                .col(timestamp_with_time_zone(Tokens::ExpiresAt))
                .col(timestamp_with_time_zone_null(Tokens::UsedAt))
                .col(timestamp_with_time_zone(Tokens::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Tokens::Table, Tokens::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Tokens::Table, Tokens::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("tokens_digest")
                .table(Tokens::Table)
                .col(Tokens::Digest)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Tokens::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .drop_column(Users::EmailVerifiedAt)
                .to_owned(),
        )
        .await
    }
}
