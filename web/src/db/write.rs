//! One writing transaction. Every change to served data goes through a [`WriteTx`], which
//! collects the feed changes it makes and, at commit, appends them to the outbox under the
//! next revision in the same transaction: a change is committed and published, or neither.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dyn53_dns::feed::{Batch, Change, Revision};

use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Value;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend,
    EntityTrait, IdenStatic, QueryFilter, QuerySelect, Statement, TransactionTrait,
};

use super::entity::{audit_log, blocked_name, host, host_address, outbox, update_key, zone};
use super::host_rows::{host_at, host_columns};
use super::input_rows::InputRows;
use super::last_seen::SEEN_LAG;
use super::{AccountId, Db, DbError, DbResult, Event, Host, HostState, NewHost, NewZone, Zone};
use crate::domain::{EventKind, Fqdn, Protocol};

/// Who or what touched a host, for its "last seen" fields and history.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: DateTime<Utc>,
    pub protocol: Protocol,
    pub source: Option<IpAddr>,
    pub agent: Option<String>,
}

/// One line of a host's update history: a client checked in, changing the host or not.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    pub host: HostState,
    pub seen: Seen,
    pub changed: bool,
}

pub struct WriteTx {
    tx: DatabaseTransaction,
    changes: Vec<Change>,
    /// Address changes to notify, queued at commit with the revision that serves them.
    address_changes: Vec<Event>,
}

impl Db {
    pub async fn begin_write(&self) -> DbResult<WriteTx> {
        let tx = self.conn.begin().await?;
        if !self.is_postgres() {
            // SQLite: take the write lock now. A deferred transaction that reads first and
            // upgrades later fails with SQLITE_BUSY when another writer got there between.
            tx.execute_unprepared("UPDATE feed_revision SET value = value WHERE id = 1")
                .await?;
        }
        Ok(WriteTx {
            tx,
            changes: Vec::new(),
            address_changes: Vec::new(),
        })
    }
}

impl WriteTx {
    /// The hosts named, each within its account, locked until commit so that concurrent
    /// updates of one host serialise and each decides on fresh data. Rows are locked in id
    /// order, so that two transactions locking some of the same hosts cannot deadlock, and
    /// `FOR NO KEY UPDATE`, the lock an update of these columns takes anyway: unlike
    /// `FOR UPDATE`, it lets rows that reference the host by a foreign key be inserted
    /// meanwhile.
    pub async fn lock_hosts(&self, wanted: &[(AccountId, &Fqdn)]) -> DbResult<Vec<Host>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Vec<Value>> = wanted
            .iter()
            .map(|(account, name)| vec![account.0.into(), name.as_str().into()])
            .collect();
        let lock = self.row_lock("hosts");
        let statement = self.with_keyed_input(&rows, 1, "name", |v, among| {
            format!(
                "SELECT {} FROM hosts WHERE (account_id, name) IN \
                 (SELECT column1, column2 FROM {v}){among} ORDER BY id{lock}",
                host_columns("hosts")
            )
        })?;
        let rows = self.tx.query_all_raw(statement).await?;
        let hosts = rows.iter().map(host_at).collect::<Result<_, _>>()?;
        self.with_zones(hosts).await
    }

    async fn with_zones(&self, rows: Vec<host::Model>) -> DbResult<Vec<Host>> {
        // Distinct, so that the query's text is the same for any number of hosts of a zone.
        let zone_ids: BTreeSet<i64> = rows.iter().map(|h| h.zone_id).collect();
        let zones: HashMap<i64, Arc<Zone>> = zone::Entity::find()
            .filter(zone::Column::Id.is_in(zone_ids))
            .all(&self.tx)
            .await?
            .into_iter()
            .filter_map(|z| Some((z.id, Arc::new(Zone::from_model(z)?))))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|h| {
                zones
                    .get(&h.zone_id)
                    .cloned()
                    .and_then(|z| Host::from_model(h, z))
            })
            .collect())
    }

    /// Stores hosts' states, each with its check-in; publishes what they now serve, given
    /// the state each had before.
    pub async fn save_host_states(&mut self, hosts: &[(&Host, &HostState, &Seen)]) -> DbResult<()> {
        let rows = hosts.iter().map(|(host, _, seen)| {
            let state = &host.state;
            let mut row = address_row(state);
            row.extend([
                state.offline.into(),
                state.wildcard.into(),
                state.mx.as_ref().map(Fqdn::to_string).into(),
                state.backmx.into(),
                state
                    .ttl
                    .map(|t| i32::try_from(t).unwrap_or(i32::MAX))
                    .into(),
                serde_json::to_string(&state.txt)
                    .unwrap_or_else(|_| "[]".into())
                    .into(),
                serde_json::to_string(&state.acme_txt)
                    .unwrap_or_else(|_| "[]".into())
                    .into(),
                state.kind().as_str().into(),
                state.alias.as_ref().map(Fqdn::to_string).into(),
                state.offline_ipv4.map(|a| a.to_string()).into(),
                state.offline_ipv6.map(|a| a.to_string()).into(),
                state.ipv6_interface_id.map(|id| id.to_string()).into(),
            ]);
            row.extend(seen_values(seen));
            row
        });
        let columns = [
            host::Column::Ipv4,
            host::Column::Ipv6,
            host::Column::Offline,
            host::Column::Wildcard,
            host::Column::Mx,
            host::Column::Backmx,
            host::Column::Ttl,
            host::Column::Txt,
            host::Column::AcmeTxt,
            host::Column::Kind,
            host::Column::Alias,
            host::Column::OfflineIpv4,
            host::Column::OfflineIpv6,
            host::Column::Ipv6InterfaceId,
        ];
        let columns = [&columns[..], &SEEN_COLUMNS].concat();
        self.update_rows::<host::Entity>(host::Column::Id, &columns, rows)
            .await?;
        let mut moved = Vec::new();
        for (host, before, _) in hosts {
            for change in host.changes(Some(before)) {
                self.publish(change);
            }
            if (before.ipv4, before.ipv6) != (host.state.ipv4, host.state.ipv6) {
                self.address_changes.push(address_changed(host, before));
                moved.push(address_row(&host.state));
            }
        }
        let columns = [host_address::Column::Ipv4, host_address::Column::Ipv6];
        self.update_rows::<host_address::Entity>(
            host_address::Column::HostId,
            &columns,
            moved.into_iter(),
        )
        .await
    }

    /// Records check-ins by host id, as [`rewrites_seen`] says: a device checking in every
    /// few minutes rewrites its row hourly, and its history lines tell the rest
    /// (`last_seen.rs`). Returns the ids of the hosts that still exist, locked: the hosts
    /// [`Self::add_history`] may be given.
    pub async fn touch_hosts<'a>(
        &self,
        hosts: impl IntoIterator<Item = (i64, &'a Seen)>,
    ) -> DbResult<BTreeSet<i64>> {
        let rows = hosts
            .into_iter()
            .map(|(id, seen)| {
                let mut row: Vec<Value> = vec![id.into()];
                row.extend(seen_values(seen));
                row.push(Some(seen.at - SEEN_LAG).into());
                (id, row)
            })
            .collect();
        let [client @ .., at] = SEEN_COLUMNS;
        let due = rewrites_seen::<host::Entity>(&client, at);
        let (locked, rewrites) = self
            .lock_picking::<host::Entity>(host::Column::Id, rows, &due)
            .await?;
        self.update_rows::<host::Entity>(host::Column::Id, &SEEN_COLUMNS, rewrites.into_iter())
            .await?;
        Ok(locked)
    }

    /// Locks the rows of `rows` (by id: the id, then values `due` reads as `v.column2`, …)
    /// that exist, in id order as [`Self::lock_hosts`] does, and picks those that `due`, a
    /// condition on the table and `v`, holds for as locked. Returns the ids locked and the
    /// rows picked, for an UPDATE that names only those: an UPDATE locks rows in whatever
    /// order its plan meets them, and two transactions locking in different orders can
    /// deadlock; and a condition in the UPDATE would look up every row to change few.
    async fn lock_picking<E: EntityTrait>(
        &self,
        id: E::Column,
        rows: BTreeMap<i64, Vec<Value>>,
        due: &str,
    ) -> DbResult<(BTreeSet<i64>, Vec<Vec<Value>>)> {
        let table = E::default().table_name();
        let (key, lock) = (
            format!(r#""{table}"."{}""#, id.as_str()),
            self.row_lock(table),
        );
        let (ids, mut input): (Vec<i64>, Vec<Vec<Value>>) = rows.into_iter().unzip();
        let (mut locked, mut picks) = (BTreeSet::new(), Vec::new());
        for chunk in input.chunks(500) {
            let statement = self.with_keyed_input(chunk, 0, &key, |v, among| {
                format!(
                    "SELECT {key}, {due} FROM \"{table}\", {v} \
                     WHERE {key} = v.column1{among} ORDER BY {key}{lock}"
                )
            })?;
            for row in self.tx.query_all_raw(statement).await? {
                let id: i64 = row.try_get_by_index(0)?;
                locked.insert(id);
                if row.try_get_by_index::<bool>(1)? {
                    picks.extend(ids.binary_search(&id).ok());
                }
            }
        }
        let picked = picks.into_iter().map(|i| std::mem::take(&mut input[i]));
        Ok((locked, picked.collect()))
    }

    /// Sets `columns` of many rows, 500 to a statement: `UPDATE t SET c = v.column2, …
    /// FROM (VALUES (id, …), …) AS v WHERE t.id = v.column1` (both backends name the
    /// columns of a VALUES list so). Each row is the id, then a value per column (and any
    /// values after them, unused).
    async fn update_rows<E: EntityTrait>(
        &self,
        id: E::Column,
        columns: &[E::Column],
        rows: impl Iterator<Item = Vec<Value>>,
    ) -> DbResult<()> {
        let (table, id) = (E::default().table_name(), id.as_str());
        let set: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!(r#""{}" = v.column{}"#, c.as_str(), i + 2))
            .collect();
        let rows: Vec<Vec<Value>> = rows.collect();
        let key = format!(r#""{table}"."{id}""#);
        for chunk in rows.chunks(500) {
            let statement = self.with_keyed_input(chunk, 0, &key, |v, among| {
                format!(
                    "UPDATE \"{table}\" SET {} FROM {v} WHERE {key} = v.column1{among}",
                    set.join(", ")
                )
            })?;
            self.tx.execute_raw(statement).await?;
        }
        Ok(())
    }

    /// `sql` of the FROM item `v` of `rows`, with their values.
    fn with_input(&self, rows: &[Vec<Value>], sql: impl Fn(&str) -> String) -> DbResult<Statement> {
        let backend = self.tx.get_database_backend();
        let (source, values) = InputRows::new(rows).source(backend)?;
        Ok(Statement::from_sql_and_values(
            backend,
            sql(&source),
            values,
        ))
    }

    /// [`Self::with_input`] for a statement that finds each row by a key, `key` (SQL) being
    /// its `column`th value (from 0): on PostgreSQL `sql` is also given a condition that
    /// the key is one of the rows', an `= ANY` of an array of them, to end its WHERE with.
    /// Of `json_to_recordset` the planner knows nothing (it assumes 100 rows): on a table
    /// of some thousands of rows it read the whole table for each batch, where the array
    /// tells it to look up an index entry per row. SQLite plans from the VALUES it sees.
    fn with_keyed_input(
        &self,
        rows: &[Vec<Value>],
        column: usize,
        key: &str,
        sql: impl Fn(&str, &str) -> String,
    ) -> DbResult<Statement> {
        let backend = self.tx.get_database_backend();
        let input = InputRows::new(rows);
        let (source, mut values) = input.source(backend)?;
        let mut among = String::new();
        if backend == DbBackend::Postgres {
            let (array, kind) = input.column_array(column)?;
            values.push(array.into());
            among = format!(" AND {key} = ANY(${}::{kind}[])", values.len());
        }
        Ok(Statement::from_sql_and_values(
            backend,
            sql(&source, &among),
            values,
        ))
    }

    /// What a SELECT ends with to lock its rows until commit; SQLite's one writer holds the
    /// whole database.
    fn row_lock(&self, table: &str) -> String {
        match self.tx.get_database_backend() {
            DbBackend::Postgres => format!(r#" FOR NO KEY UPDATE OF "{table}""#),
            _ => String::new(),
        }
    }

    /// Lines of history of hosts whose rows this transaction has locked ([`Self::lock_hosts`],
    /// [`Self::touch_hosts`]): a host deleted meanwhile is not among them, and one locked
    /// cannot be deleted until this commits, its deletion then taking its history with it.
    /// No foreign key checks this on PostgreSQL (`m0019`), nor does the statement.
    pub async fn add_history(
        &self,
        entries: impl IntoIterator<Item = &HistoryEntry>,
    ) -> DbResult<()> {
        let row = |e: &HistoryEntry| -> Vec<Value> {
            vec![
                e.host.id.into(),
                e.host.account.0.into(),
                Some(e.seen.at).into(),
                e.seen.protocol.as_str().into(),
                e.seen.source.map(|s| s.to_string()).into(),
                e.seen.agent.as_deref().map(truncate_agent).into(),
                if e.changed { "good" } else { "nochg" }.into(),
                e.host.ipv4.map(|a| a.to_string()).into(),
                e.host.ipv6.map(|a| a.to_string()).into(),
            ]
        };
        let rows: Vec<Vec<Value>> = entries.into_iter().map(row).collect();
        // Nine values a row: well inside SQLite's limit of bound parameters.
        for chunk in rows.chunks(500) {
            let statement = self.with_input(chunk, |v| {
                format!(
                    "INSERT INTO update_history \
                     (host_id, account_id, at, protocol, source, agent, result, ipv4, ipv6) \
                     SELECT column1, column2, column3, column4, column5, column6, column7, \
                     column8, column9 FROM {v}"
                )
            })?;
            self.tx.execute_raw(statement).await?;
        }
        Ok(())
    }

    /// Records keys' uses, by key id, as [`rewrites_seen`] says: a key's "last used" is
    /// within [`SEEN_LAG`] of its last use from the address it names.
    pub async fn mark_keys_used(&self, keys: &BTreeMap<i64, &Seen>) -> DbResult<()> {
        let rows = keys
            .iter()
            .map(|(id, seen)| {
                let row = vec![
                    (*id).into(),
                    seen.source.map(|s| s.to_string()).into(),
                    Some(seen.at).into(),
                    Some(seen.at - SEEN_LAG).into(),
                ];
                (*id, row)
            })
            .collect();
        let (from, at) = (
            update_key::Column::LastUsedFrom,
            update_key::Column::LastUsedAt,
        );
        let due = rewrites_seen::<update_key::Entity>(&[from], at);
        let (_, rewrites) = self
            .lock_picking::<update_key::Entity>(update_key::Column::Id, rows, &due)
            .await?;
        self.update_rows::<update_key::Entity>(
            update_key::Column::Id,
            &[from, at],
            rewrites.into_iter(),
        )
        .await
    }

    /// Creates a zone; `Ok(None)` when it exists already. A zone named after a host, or
    /// over one, is rejected: the host would no longer be served (and could be another
    /// account's), as `zone_for` keeps new hosts out of zones' apexes.
    pub async fn insert_zone(&mut self, new: NewZone) -> DbResult<Option<Zone>> {
        let existing = zone::Entity::find()
            .filter(zone::Column::Name.eq(new.name.as_str()))
            .one(&self.tx)
            .await?;
        if existing.is_some() {
            return Ok(None);
        }
        // Names are lowercase LDH: no `%` or `_` to escape. A scan, for an operator's command.
        let covered = host::Entity::find()
            .select_only()
            .column(host::Column::Name)
            .filter(
                Condition::any()
                    .add(host::Column::Name.eq(new.name.as_str()))
                    .add(host::Column::Name.like(format!("%.{}", new.name))),
            )
            .into_tuple::<String>()
            .one(&self.tx)
            .await?;
        if let Some(host) = covered {
            return Err(DbError::Taken(format!(
                "host {host} exists: a zone {} would take it over",
                new.name
            )));
        }
        let zone = Zone::from_model(new.into_active_model().insert(&self.tx).await?)
            .ok_or_else(|| DbError::Malformed("the new zone's name".into()))?;
        self.publish(Change::ZoneUpsert(zone.served()));
        Ok(Some(zone))
    }

    /// Creates hosts, each in the zone it falls in, which must be one of `zones` (those the
    /// caller may use). All or nothing: a name that exists, is a zone's apex, or falls
    /// outside `zones` or in another account's own zone rejects the whole lot. Every zone
    /// is consulted, not only `zones`, so that no surface can forget one. A name the
    /// operator blocked is created blocked.
    pub async fn insert_hosts(
        &mut self,
        zones: &[Zone],
        hosts: Vec<NewHost>,
    ) -> DbResult<Vec<Host>> {
        let now = Utc::now();
        let names: Vec<String> = hosts.iter().map(|h| h.name.to_string()).collect();
        let existing = self
            .names_among::<host::Entity>(host::Column::Name, &names)
            .await?;
        if let Some(name) = existing.first() {
            return Err(DbError::Taken(format!("host {name} exists already")));
        }
        let every_zone: Vec<Zone> = zone::Entity::find()
            .all(&self.tx)
            .await?
            .into_iter()
            .filter_map(Zone::from_model)
            .collect();
        let blocked: HashSet<String> = self
            .names_among::<blocked_name::Entity>(blocked_name::Column::Name, &names)
            .await?
            .into_iter()
            .collect();
        let mut models = Vec::with_capacity(hosts.len());
        for new in hosts {
            let zone = zone_for(&every_zone, &new)?;
            if !zones.iter().any(|z| z.id == zone.id) {
                return Err(DbError::NotAllowed(format!(
                    "{} is in {}, which is not one of the zones allowed here",
                    new.name, zone.name
                )));
            }
            let is_blocked = blocked.contains(new.name.as_str());
            let mut model = new.into_active_model(zone.id, now);
            model.blocked = Set(is_blocked);
            models.push(model);
        }
        let zone_by_id: HashMap<i64, Arc<Zone>> =
            zones.iter().map(|z| (z.id, Arc::new(z.clone()))).collect();
        let mut created = Vec::with_capacity(models.len());
        // RETURNING (PostgreSQL, SQLite ≥ 3.35): reading the rows back by name instead turned
        // a million-host import quadratic, the planner still sizing the table as before.
        for chunk in models.chunks(500) {
            let rows = host::Entity::insert_many(chunk.iter().cloned())
                .exec_with_returning(&self.tx)
                .await?;
            host_address::Entity::insert_many(rows.iter().map(|row| host_address::ActiveModel {
                host_id: Set(row.id),
                ipv4: Set(row.ipv4.clone()),
                ipv6: Set(row.ipv6.clone()),
            }))
            .exec_without_returning(&self.tx)
            .await?;
            created.extend(rows.into_iter().filter_map(|row| {
                let zone = zone_by_id.get(&row.zone_id)?.clone();
                Host::from_model(row, zone)
            }));
        }
        for host in &created {
            for change in host.changes(None) {
                self.publish(change);
            }
        }
        Ok(created)
    }

    /// The values among `names` that `column` (a text column) holds, 500 to a query.
    async fn names_among<E: EntityTrait>(
        &self,
        column: E::Column,
        names: &[String],
    ) -> DbResult<Vec<String>> {
        let mut found = Vec::new();
        for chunk in names.chunks(500) {
            let rows = E::find()
                .select_only()
                .column(column)
                .filter(column.is_in(chunk))
                .into_tuple::<String>()
                .all(&self.tx)
                .await?;
            found.extend(rows);
        }
        Ok(found)
    }

    pub async fn audit(
        &self,
        account: Option<AccountId>,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> DbResult<()> {
        audit_log::ActiveModel {
            id: NotSet,
            at: Set(Utc::now()),
            account_id: Set(account.map(|a| a.0)),
            actor: Set(actor.into()),
            action: Set(action.into()),
            detail: Set(detail.into()),
        }
        .insert(&self.tx)
        .await?;
        Ok(())
    }

    pub(super) fn tx(&self) -> &DatabaseTransaction {
        &self.tx
    }

    pub(super) fn publish(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// Commits; returns the changes as published, under their revision, if there were any.
    pub async fn commit(mut self) -> DbResult<Option<Batch>> {
        // Who hears of the address changes is read before the revision's lock is taken;
        // only their insert, which needs the revision, comes after it.
        let mut address_changes = std::mem::take(&mut self.address_changes);
        let subscribers = self.subscribers(&address_changes).await?;
        let revision = if self.changes.is_empty() {
            None
        } else {
            // Bumped last, so the counter's row lock is held only for the commit itself;
            // holding it at all makes revisions commit in order, which the feed relies on.
            let backend = self.tx.get_database_backend();
            let bump = Statement::from_string(
                backend,
                "UPDATE feed_revision SET value = value + 1 WHERE id = 1 RETURNING value",
            );
            let row = self.tx.query_one_raw(bump).await?;
            let value: i64 = row
                .ok_or_else(|| {
                    DbError::Malformed("feed_revision is missing: run migrations".into())
                })?
                .try_get("", "value")?;
            let payload = serde_json::to_string(&self.changes)
                .map_err(|e| DbError::Malformed(e.to_string()))?;
            outbox::ActiveModel {
                revision: Set(value),
                created_at: Set(Utc::now()),
                payload: Set(payload),
            }
            .insert(&self.tx)
            .await?;
            if !subscribers.is_empty() {
                for event in &mut address_changes {
                    event.data["revision"] = value.into();
                }
                self.insert_deliveries(&address_changes, &subscribers)
                    .await?;
            }
            Some(value as Revision)
        };
        self.tx.commit().await?;
        Ok(revision.map(|revision| Batch {
            revision,
            changes: self.changes,
        }))
    }
}

/// `state`'s id and addresses: its row of `host_addresses`, and the start of its row of
/// `hosts` as [`WriteTx::save_host_states`] writes it.
fn address_row(state: &HostState) -> Vec<Value> {
    vec![
        state.id.into(),
        state.ipv4.map(|a| a.to_string()).into(),
        state.ipv6.map(|a| a.to_string()).into(),
    ]
}

/// The `address.changed` event of `host`, which had `before`'s addresses.
fn address_changed(host: &Host, before: &HostState) -> Event {
    let addresses = |s: &HostState| serde_json::json!({ "ipv4": s.ipv4, "ipv6": s.ipv6 });
    Event {
        kind: EventKind::AddressChanged,
        account: host.state.account,
        host: Some((host.state.id, host.name.to_string())),
        data: serde_json::json!({ "old": addresses(before), "new": addresses(&host.state) }),
        dedupe: None,
    }
}

/// When a use rewrites a row's "last seen": the `client` columns and the time `at`, set
/// from the values `v.column2`, … in that order after the id, and followed by the start of
/// the lag (the use's time less [`SEEN_LAG`]). A row is rewritten when it has no time, or
/// one older than the lag's start, or one older than the use's and names another client.
/// So a client in a loop rewrites its row hourly, not at every use, and a use written late
/// never overwrites a newer one.
fn rewrites_seen<E: EntityTrait>(client: &[E::Column], at: E::Column) -> String {
    let table = E::default().table_name();
    let column = |c: &E::Column| format!(r#""{table}"."{}""#, c.as_str());
    let client_differs: Vec<String> = client
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} IS DISTINCT FROM v.column{}", column(c), i + 2))
        .collect();
    let (n, at) = (client.len() + 2, column(&at));
    format!(
        "{at} IS NULL OR {at} < v.column{lag} OR ({at} < v.column{n} AND ({}))",
        client_differs.join(" OR "),
        lag = n + 1,
    )
}

/// The columns a check-in sets, `updated_at` last; [`seen_values`] gives their values.
const SEEN_COLUMNS: [host::Column; 4] = [
    host::Column::LastAgent,
    host::Column::LastSource,
    host::Column::LastProtocol,
    host::Column::UpdatedAt,
];

fn seen_values(seen: &Seen) -> [Value; 4] {
    [
        seen.agent.as_deref().map(truncate_agent).into(),
        seen.source.map(|s| s.to_string()).into(),
        Some(seen.protocol.as_str()).into(),
        Some(seen.at).into(),
    ]
}

/// The zone `new` is created in: the longest zone it is inside of (never a zone's own
/// apex, which a host would shadow or be shadowed by), and not another account's own.
fn zone_for<'z>(zones: &'z [Zone], new: &NewHost) -> DbResult<&'z Zone> {
    let rejected = |why: &str| Err(DbError::NotAllowed(format!("{} {why}", new.name)));
    if let Some(apex) = zones.iter().find(|z| z.name == new.name) {
        return match apex.account {
            Some(owner) if owner != new.account => rejected("is another account's own zone"),
            _ => rejected("is a zone's apex; a host is a name inside a zone"),
        };
    }
    let Some(zone) = zones
        .iter()
        .filter(|z| new.name.is_within(&z.name))
        .max_by_key(|z| z.name.as_str().len())
    else {
        return rejected("is not inside any zone of this service");
    };
    if zone.account.is_some_and(|owner| owner != new.account) {
        return rejected("is in another account's own zone");
    }
    Ok(zone)
}

fn truncate_agent(agent: &str) -> String {
    agent.chars().take(255).collect()
}

impl From<sea_orm::TryGetError> for DbError {
    fn from(e: sea_orm::TryGetError) -> Self {
        DbError::Unavailable(e.into())
    }
}
