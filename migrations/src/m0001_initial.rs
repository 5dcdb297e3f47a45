//! The whole domain of DESIGN.md §5: tenants, people, zones, hosts, groups, update keys,
//! history, audit log, and the outbox that feeds the DNS nodes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Plan,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    AccountId,
    Email,
    Login,
    PasswordHash,
    Role,
    Staff,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Zones {
    Table,
    Id,
    Name,
    AccountId,
    DefaultTtl,
    MinTtl,
    MaxTtl,
    Mname,
    Rname,
    Nameservers,
    Refresh,
    Retry,
    Expire,
    NegativeTtl,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Hosts {
    Table,
    Id,
    ZoneId,
    AccountId,
    Name,
    Kind,
    Ipv4,
    Ipv6,
    Ttl,
    Alias,
    Mx,
    MxPreference,
    Txt,
    Wildcard,
    Offline,
    OfflineIpv4,
    OfflineIpv6,
    LastAgent,
    LastSource,
    LastProtocol,
    UpdatedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    AccountId,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum GroupHosts {
    Table,
    GroupId,
    HostId,
}

#[derive(DeriveIden)]
enum UpdateKeys {
    Table,
    Id,
    AccountId,
    UserId,
    Name,
    Prefix,
    Digest,
    Scope,
    Miniupdate,
    LastUsedAt,
    LastUsedFrom,
    RevokedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UpdateKeyHosts {
    Table,
    KeyId,
    HostId,
}

#[derive(DeriveIden)]
enum UpdateHistory {
    Table,
    Id,
    HostId,
    AccountId,
    At,
    Protocol,
    Source,
    Agent,
    Result,
    Ipv4,
    Ipv6,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    AccountId,
    Actor,
    Action,
    Detail,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Revision,
    CreatedAt,
    Payload,
}

#[derive(DeriveIden)]
enum FeedRevision {
    Table,
    Id,
    Value,
}

fn fk(
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from_table, from_col)
        .to(to_table, to_col)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn index(
    name: &str,
    table: impl IntoIden,
    cols: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    if unique {
        stmt.unique();
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Accounts::Table)
                .col(big_pk_auto(Accounts::Id))
                .col(string_len(Accounts::Plan, 16))
                .col(string_len(Accounts::Status, 16))
                .col(timestamp_with_time_zone(Accounts::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(big_pk_auto(Users::Id))
                .col(big_integer(Users::AccountId))
                .col(string_len(Users::Email, 254))
                .col(string_len_null(Users::Login, 64))
                .col(string_len(Users::PasswordHash, 255))
                .col(string_len(Users::Role, 16))
                .col(boolean(Users::Staff))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .foreign_key(&mut fk(
                    Users::Table,
                    Users::AccountId,
                    Accounts::Table,
                    Accounts::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("users_email", Users::Table, &["email"], true))
            .await?;
        m.create_index(index("users_login", Users::Table, &["login"], true))
            .await?;
        m.create_index(index("users_account", Users::Table, &["account_id"], false))
            .await?;

        m.create_table(
            Table::create()
                .table(Zones::Table)
                .col(big_pk_auto(Zones::Id))
                .col(string_len(Zones::Name, 253))
                .col(big_integer_null(Zones::AccountId))
                .col(integer(Zones::DefaultTtl))
                .col(integer(Zones::MinTtl))
                .col(integer(Zones::MaxTtl))
                .col(string_len(Zones::Mname, 253))
                .col(string_len(Zones::Rname, 253))
                .col(text(Zones::Nameservers))
                .col(integer(Zones::Refresh))
                .col(integer(Zones::Retry))
                .col(integer(Zones::Expire))
                .col(integer(Zones::NegativeTtl))
                .col(timestamp_with_time_zone(Zones::CreatedAt))
                .foreign_key(&mut fk(
                    Zones::Table,
                    Zones::AccountId,
                    Accounts::Table,
                    Accounts::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("zones_name", Zones::Table, &["name"], true))
            .await?;

        m.create_table(
            Table::create()
                .table(Hosts::Table)
                .col(big_pk_auto(Hosts::Id))
                .col(big_integer(Hosts::ZoneId))
                .col(big_integer(Hosts::AccountId))
                .col(string_len(Hosts::Name, 253))
                .col(string_len(Hosts::Kind, 16))
                .col(string_len_null(Hosts::Ipv4, 15))
                .col(string_len_null(Hosts::Ipv6, 39))
                .col(integer_null(Hosts::Ttl))
                .col(string_len_null(Hosts::Alias, 253))
                .col(string_len_null(Hosts::Mx, 253))
                .col(integer(Hosts::MxPreference))
                .col(text(Hosts::Txt))
                .col(boolean(Hosts::Wildcard))
                .col(boolean(Hosts::Offline))
                .col(string_len_null(Hosts::OfflineIpv4, 15))
                .col(string_len_null(Hosts::OfflineIpv6, 39))
                .col(string_len_null(Hosts::LastAgent, 255))
                .col(string_len_null(Hosts::LastSource, 45))
                .col(string_len_null(Hosts::LastProtocol, 16))
                .col(timestamp_with_time_zone_null(Hosts::UpdatedAt))
                .col(timestamp_with_time_zone(Hosts::CreatedAt))
                .foreign_key(&mut fk(
                    Hosts::Table,
                    Hosts::ZoneId,
                    Zones::Table,
                    Zones::Id,
                ))
                .foreign_key(&mut fk(
                    Hosts::Table,
                    Hosts::AccountId,
                    Accounts::Table,
                    Accounts::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("hosts_name", Hosts::Table, &["name"], true))
            .await?;
        m.create_index(index("hosts_account", Hosts::Table, &["account_id"], false))
            .await?;
        m.create_index(index("hosts_zone", Hosts::Table, &["zone_id"], false))
            .await?;

        m.create_table(
            Table::create()
                .table(Groups::Table)
                .col(big_pk_auto(Groups::Id))
                .col(big_integer(Groups::AccountId))
                .col(string_len(Groups::Name, 64))
                .col(timestamp_with_time_zone(Groups::CreatedAt))
                .foreign_key(&mut fk(
                    Groups::Table,
                    Groups::AccountId,
                    Accounts::Table,
                    Accounts::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "groups_account_name",
            Groups::Table,
            &["account_id", "name"],
            true,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(GroupHosts::Table)
                .col(big_integer(GroupHosts::GroupId))
                .col(big_integer(GroupHosts::HostId))
                .primary_key(
                    Index::create()
                        .col(GroupHosts::GroupId)
                        .col(GroupHosts::HostId),
                )
                .foreign_key(&mut fk(
                    GroupHosts::Table,
                    GroupHosts::GroupId,
                    Groups::Table,
                    Groups::Id,
                ))
                .foreign_key(&mut fk(
                    GroupHosts::Table,
                    GroupHosts::HostId,
                    Hosts::Table,
                    Hosts::Id,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(UpdateKeys::Table)
                .col(big_pk_auto(UpdateKeys::Id))
                .col(big_integer(UpdateKeys::AccountId))
                .col(big_integer(UpdateKeys::UserId))
                .col(string_len(UpdateKeys::Name, 64))
                .col(string_len(UpdateKeys::Prefix, 16))
                .col(string_len(UpdateKeys::Digest, 64))
                .col(string_len(UpdateKeys::Scope, 16))
                .col(boolean(UpdateKeys::Miniupdate))
                .col(timestamp_with_time_zone_null(UpdateKeys::LastUsedAt))
                .col(string_len_null(UpdateKeys::LastUsedFrom, 45))
                .col(timestamp_with_time_zone_null(UpdateKeys::RevokedAt))
                .col(timestamp_with_time_zone(UpdateKeys::CreatedAt))
                .foreign_key(&mut fk(
                    UpdateKeys::Table,
                    UpdateKeys::AccountId,
                    Accounts::Table,
                    Accounts::Id,
                ))
                .foreign_key(&mut fk(
                    UpdateKeys::Table,
                    UpdateKeys::UserId,
                    Users::Table,
                    Users::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "update_keys_digest",
            UpdateKeys::Table,
            &["digest"],
            true,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(UpdateKeyHosts::Table)
                .col(big_integer(UpdateKeyHosts::KeyId))
                .col(big_integer(UpdateKeyHosts::HostId))
                .primary_key(
                    Index::create()
                        .col(UpdateKeyHosts::KeyId)
                        .col(UpdateKeyHosts::HostId),
                )
                .foreign_key(&mut fk(
                    UpdateKeyHosts::Table,
                    UpdateKeyHosts::KeyId,
                    UpdateKeys::Table,
                    UpdateKeys::Id,
                ))
                .foreign_key(&mut fk(
                    UpdateKeyHosts::Table,
                    UpdateKeyHosts::HostId,
                    Hosts::Table,
                    Hosts::Id,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(UpdateHistory::Table)
                .col(big_pk_auto(UpdateHistory::Id))
                .col(big_integer(UpdateHistory::HostId))
                .col(big_integer(UpdateHistory::AccountId))
                .col(timestamp_with_time_zone(UpdateHistory::At))
                .col(string_len(UpdateHistory::Protocol, 16))
                .col(string_len_null(UpdateHistory::Source, 45))
                .col(string_len_null(UpdateHistory::Agent, 255))
                .col(string_len(UpdateHistory::Result, 16))
                .col(string_len_null(UpdateHistory::Ipv4, 15))
                .col(string_len_null(UpdateHistory::Ipv6, 39))
                .foreign_key(&mut fk(
                    UpdateHistory::Table,
                    UpdateHistory::HostId,
                    Hosts::Table,
                    Hosts::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "update_history_host",
            UpdateHistory::Table,
            &["host_id", "id"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(big_pk_auto(AuditLog::Id))
                .col(timestamp_with_time_zone(AuditLog::At))
                .col(big_integer_null(AuditLog::AccountId))
                .col(string_len(AuditLog::Actor, 254))
                .col(string_len(AuditLog::Action, 64))
                .col(text(AuditLog::Detail))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .col(big_integer(Outbox::Revision).primary_key())
                .col(timestamp_with_time_zone(Outbox::CreatedAt))
                .col(text(Outbox::Payload))
                .to_owned(),
        )
        .await?;

        // One row: the last revision handed out. Bumping it inside each writing transaction
        // serialises revisions in commit order, so the feed never skips a late commit.
        m.create_table(
            Table::create()
                .table(FeedRevision::Table)
                .col(integer(FeedRevision::Id).primary_key())
                .col(big_integer(FeedRevision::Value))
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(FeedRevision::Table)
                .columns([FeedRevision::Id, FeedRevision::Value])
                .values_panic([1.into(), 0.into()])
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
