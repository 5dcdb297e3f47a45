//! A `hosts` row read by position. By name, sea-orm formats every column's name anew for
//! every row it decodes, which was a tenth of the process's CPU on the update path
//! (bench/README.md): the queries the update path runs on every request or batch list the
//! columns themselves, in `host::Column`'s order, and read them back by index.

use sea_orm::{DbErr, IdenStatic, Iterable, QueryResult, TryGetable};

use super::entity::host;

/// The columns of `hosts` aliased `alias`, in `host::Column`'s order: the first columns of
/// a row [`host_at`] reads.
pub(super) fn host_columns(alias: &str) -> String {
    host::Column::iter()
        .map(|c| format!(r#"{alias}."{}""#, c.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The host of a row whose first columns are [`host_columns`] (`host::Column`'s order is
/// the order of its fields, as a test checks).
pub(super) fn host_at(row: &QueryResult) -> Result<host::Model, DbErr> {
    use host::Column as C;
    fn get<T: TryGetable>(row: &QueryResult, column: C) -> Result<T, DbErr> {
        row.try_get_by_index(column as usize)
    }
    Ok(host::Model {
        id: get(row, C::Id)?,
        zone_id: get(row, C::ZoneId)?,
        account_id: get(row, C::AccountId)?,
        name: get(row, C::Name)?,
        kind: get(row, C::Kind)?,
        ipv4: get(row, C::Ipv4)?,
        ipv6: get(row, C::Ipv6)?,
        ttl: get(row, C::Ttl)?,
        alias: get(row, C::Alias)?,
        mx: get(row, C::Mx)?,
        mx_preference: get(row, C::MxPreference)?,
        backmx: get(row, C::Backmx)?,
        txt: get(row, C::Txt)?,
        acme_txt: get(row, C::AcmeTxt)?,
        wildcard: get(row, C::Wildcard)?,
        offline: get(row, C::Offline)?,
        blocked: get(row, C::Blocked)?,
        offline_ipv4: get(row, C::OfflineIpv4)?,
        offline_ipv6: get(row, C::OfflineIpv6)?,
        ipv6_interface_id: get(row, C::Ipv6InterfaceId)?,
        last_agent: get(row, C::LastAgent)?,
        last_source: get(row, C::LastSource)?,
        last_protocol: get(row, C::LastProtocol)?,
        updated_at: get(row, C::UpdatedAt)?,
        created_at: get(row, C::CreatedAt)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`host_at`] reads each column at its place in `host::Column`'s order.
    #[test]
    fn host_columns_are_read_in_their_order() {
        for (i, column) in host::Column::iter().enumerate() {
            assert_eq!(column as usize, i, "{}", column.as_str());
        }
    }
}
