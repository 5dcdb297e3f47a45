//! Notifications in the database: an account's subscriptions (through [`Tenant`]), the
//! queue of deliveries, written by [`WriteTx::enqueue`] in the transaction of the event
//! itself (an update that does not commit enqueues nothing), each attempt at a delivery,
//! and the stale episodes already told.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};

use super::entity::{
    host, notification_attempt, notification_delivery, notification_stale_mark,
    notification_subscription,
};
use super::last_seen::last_seen;
use super::{AccountId, Db, DbResult, Tenant, WriteTx};
use crate::domain::{Channel, EventKind, Events};

/// Something to tell an account's subscribers about.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: EventKind,
    pub account: AccountId,
    /// The host it is about (id, name), if any.
    pub host: Option<(i64, String)>,
    /// The event's own fields.
    pub data: Value,
    /// For an event told at most once per window: the same key (the thing and the window)
    /// queues nothing for a subscription that has it already.
    pub dedupe: Option<String>,
}

/// A subscription as its account sees it (never a webhook's secret).
#[derive(Clone, Debug)]
pub struct Subscription {
    pub id: i64,
    /// The host (id, name); `None`: every host of the account.
    pub host: Option<(i64, String)>,
    /// `email` or `webhook`.
    pub channel: String,
    pub target: String,
    pub events: Events,
    pub stale_days: u32,
    pub created_at: DateTime<Utc>,
}

/// A subscription to make.
pub struct NewSubscription {
    /// One of the account's hosts, found through the caller's access; `None`: every host.
    pub host: Option<i64>,
    pub channel: Channel,
    pub events: Events,
    pub stale_days: u32,
    /// A webhook's signing secret.
    pub secret: Option<String>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeliveryState {
    Pending,
    Delivered,
    /// Given up: too old to try again.
    Failed,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// One notification to one subscription, with its attempts: a line of the delivery log.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: i64,
    pub subscription_id: i64,
    /// Where it goes: the subscription's address or URL.
    pub target: String,
    pub event_id: String,
    pub event: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempts: Vec<Attempt>,
}

/// One try at a delivery.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub duration_ms: i32,
    /// The HTTP status a webhook answered.
    pub status: Option<i32>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// A delivery to try now, with where it goes.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub id: i64,
    pub event_id: String,
    pub event: String,
    pub payload: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub channel: String,
    pub target: String,
    pub secret: Option<String>,
}

impl Tenant {
    /// The account's subscriptions, oldest first.
    pub async fn subscriptions(&self) -> DbResult<Vec<Subscription>> {
        let rows = notification_subscription::Entity::find()
            .filter(notification_subscription::Column::AccountId.eq(self.account.0))
            .order_by_asc(notification_subscription::Column::Id)
            .all(&self.db.conn)
            .await?;
        let host_ids: Vec<i64> = rows.iter().filter_map(|s| s.host_id).collect();
        let names: HashMap<i64, String> = host::Entity::find()
            .select_only()
            .columns([host::Column::Id, host::Column::Name])
            .filter(host::Column::Id.is_in(host_ids))
            .filter(host::Column::AccountId.eq(self.account.0))
            .into_tuple::<(i64, String)>()
            .all(&self.db.conn)
            .await?
            .into_iter()
            .collect();
        Ok(rows
            .into_iter()
            .map(|s| Subscription {
                id: s.id,
                host: s
                    .host_id
                    .map(|id| (id, names.get(&id).cloned().unwrap_or_default())),
                channel: s.channel,
                target: s.target,
                events: Events::from_stored(&s.events),
                stale_days: u32::try_from(s.stale_days).unwrap_or(1),
                created_at: s.created_at,
            })
            .collect())
    }

    /// Subscribes the account; audited. The new subscription's id.
    pub async fn create_subscription(&self, new: NewSubscription, actor: &str) -> DbResult<i64> {
        let tx = self.db.begin_write().await?;
        let row = notification_subscription::ActiveModel {
            id: NotSet,
            account_id: Set(self.account.0),
            host_id: Set(new.host),
            channel: Set(new.channel.kind().into()),
            target: Set(new.channel.target().into()),
            secret: Set(new.secret),
            events: Set(new.events.stored()),
            stale_days: Set(i32::try_from(new.stale_days).unwrap_or(i32::MAX)),
            created_at: Set(Utc::now()),
        }
        .insert(tx.tx())
        .await?;
        let detail = format!("{} {}", new.channel.kind(), new.channel.target());
        tx.audit(Some(self.account), actor, "notification.add", &detail)
            .await?;
        tx.commit().await?;
        Ok(row.id)
    }

    /// Removes the account's subscription `id` with its deliveries; `false` when the
    /// account has none such.
    pub async fn delete_subscription(&self, id: i64, actor: &str) -> DbResult<bool> {
        let tx = self.db.begin_write().await?;
        let deleted = notification_subscription::Entity::delete_many()
            .filter(notification_subscription::Column::Id.eq(id))
            .filter(notification_subscription::Column::AccountId.eq(self.account.0))
            .exec(tx.tx())
            .await?
            .rows_affected
            == 1;
        if deleted {
            tx.audit(
                Some(self.account),
                actor,
                "notification.remove",
                &id.to_string(),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// The newest `limit` deliveries of the account (of `subscription` only, if given),
    /// newest first, each with its attempts in order.
    pub async fn deliveries(
        &self,
        subscription: Option<i64>,
        limit: u64,
    ) -> DbResult<Vec<Delivery>> {
        let mut query = notification_delivery::Entity::find()
            .filter(notification_delivery::Column::AccountId.eq(self.account.0))
            .order_by_desc(notification_delivery::Column::Id)
            .limit(limit);
        if let Some(id) = subscription {
            query = query.filter(notification_delivery::Column::SubscriptionId.eq(id));
        }
        let rows = query.all(&self.db.conn).await?;
        let targets: HashMap<i64, String> = notification_subscription::Entity::find()
            .select_only()
            .columns([
                notification_subscription::Column::Id,
                notification_subscription::Column::Target,
            ])
            .filter(notification_subscription::Column::AccountId.eq(self.account.0))
            .into_tuple::<(i64, String)>()
            .all(&self.db.conn)
            .await?
            .into_iter()
            .collect();
        let mut attempts: HashMap<i64, Vec<Attempt>> = HashMap::new();
        let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
        for a in notification_attempt::Entity::find()
            .filter(notification_attempt::Column::DeliveryId.is_in(ids))
            .order_by_asc(notification_attempt::Column::Id)
            .all(&self.db.conn)
            .await?
        {
            attempts.entry(a.delivery_id).or_default().push(Attempt {
                at: a.at,
                duration_ms: a.duration_ms,
                status: a.status,
                error: a.error,
            });
        }
        Ok(rows
            .into_iter()
            .map(|d| Delivery {
                attempts: attempts.remove(&d.id).unwrap_or_default(),
                target: targets.get(&d.subscription_id).cloned().unwrap_or_default(),
                id: d.id,
                subscription_id: d.subscription_id,
                event_id: d.event_id,
                event: d.event,
                state: d.state,
                created_at: d.created_at,
                next_attempt_at: d.next_attempt_at,
                finished_at: d.finished_at,
            })
            .collect())
    }
}

impl WriteTx {
    /// Queues `event` for each subscription of its account that wants it (for its host,
    /// or for every host), in this transaction: it is sent if and only if this commits.
    pub async fn enqueue(&self, event: &Event) -> DbResult<()> {
        let wanted = self.subscribers(std::slice::from_ref(event)).await?;
        self.insert_deliveries(std::slice::from_ref(event), &wanted)
            .await
    }

    /// (subscription, index in `events`) for each subscription that wants each event: one
    /// query for them all.
    pub(super) async fn subscribers(&self, events: &[Event]) -> DbResult<Vec<(i64, usize)>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let accounts: BTreeSet<i64> = events.iter().map(|e| e.account.0).collect();
        let subscriptions = notification_subscription::Entity::find()
            .filter(notification_subscription::Column::AccountId.is_in(accounts))
            .order_by_asc(notification_subscription::Column::Id)
            .all(self.tx())
            .await?;
        let mut wanted = Vec::new();
        for (i, event) in events.iter().enumerate() {
            let host_id = event.host.as_ref().map(|(id, _)| *id);
            wanted.extend(
                subscriptions
                    .iter()
                    .filter(|s| {
                        s.account_id == event.account.0
                            && Events::from_stored(&s.events).contains(event.kind)
                            && s.host_id.is_none_or(|id| Some(id) == host_id)
                    })
                    .map(|s| (s.id, i)),
            );
        }
        Ok(wanted)
    }

    /// Inserts a pending delivery of `events[i]` for each (subscription, i) of `wanted`, 500
    /// rows to a statement; one whose dedupe key the subscription has already is skipped.
    pub(super) async fn insert_deliveries(
        &self,
        events: &[Event],
        wanted: &[(i64, usize)],
    ) -> DbResult<()> {
        let now = Utc::now();
        let rows: Vec<_> = wanted
            .iter()
            .map(|(subscription, i)| delivery_row(*subscription, &events[*i], now))
            .collect();
        for chunk in rows.chunks(500) {
            notification_delivery::Entity::insert_many(chunk.iter().cloned())
                .on_conflict_do_nothing()
                .exec_without_returning(self.tx())
                .await?;
        }
        Ok(())
    }
}

impl WriteTx {
    /// E-mail subscriptions follow their person: to `to` when the user at `from` changes
    /// address, gone (`None`) when the user leaves the account.
    pub(super) async fn readdress_subscriptions(
        &self,
        account: i64,
        from: &str,
        to: Option<&str>,
    ) -> DbResult<()> {
        let theirs = Condition::all()
            .add(notification_subscription::Column::AccountId.eq(account))
            .add(notification_subscription::Column::Channel.eq("email"))
            .add(notification_subscription::Column::Target.eq(from));
        match to {
            Some(to) => {
                notification_subscription::Entity::update_many()
                    .col_expr(notification_subscription::Column::Target, Expr::value(to))
                    .filter(theirs)
                    .exec(self.tx())
                    .await?;
            }
            None => {
                notification_subscription::Entity::delete_many()
                    .filter(theirs)
                    .exec(self.tx())
                    .await?;
            }
        }
        Ok(())
    }
}

/// A pending delivery of `event` to `subscription`, under a new event id.
fn delivery_row(
    subscription: i64,
    event: &Event,
    now: DateTime<Utc>,
) -> notification_delivery::ActiveModel {
    let event_id = format!("evt_{:032x}", rand::random::<u128>());
    let payload = json!({
        "id": event_id,
        "type": event.kind.as_str(),
        "created_at": now,
        "host": event.host.as_ref().map(|(_, name)| name),
        "data": event.data,
    });
    notification_delivery::ActiveModel {
        id: NotSet,
        subscription_id: Set(subscription),
        account_id: Set(event.account.0),
        event_id: Set(event_id),
        event: Set(event.kind.as_str().into()),
        payload: Set(payload.to_string()),
        dedupe_key: Set(event.dedupe.clone()),
        state: Set(DeliveryState::Pending.as_str().into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        created_at: Set(now),
        finished_at: Set(None),
    }
}

/// What became of an attempt, and so of its delivery.
pub enum Outcome {
    Delivered,
    /// Failed; try again at this time.
    Retry(DateTime<Utc>),
    /// Failed, and too old to try again.
    GiveUp,
}

impl Db {
    /// Up to `limit` pending deliveries whose time has come, oldest first.
    pub async fn due_deliveries(&self, limit: u64) -> DbResult<Vec<DueDelivery>> {
        let rows = notification_delivery::Entity::find()
            .filter(notification_delivery::Column::State.eq(DeliveryState::Pending.as_str()))
            .filter(notification_delivery::Column::NextAttemptAt.lte(Utc::now()))
            .order_by_asc(notification_delivery::Column::NextAttemptAt)
            .limit(limit)
            .all(&self.conn)
            .await?;
        let ids: Vec<i64> = rows.iter().map(|d| d.subscription_id).collect();
        let subscriptions: HashMap<i64, notification_subscription::Model> =
            notification_subscription::Entity::find()
                .filter(notification_subscription::Column::Id.is_in(ids))
                .all(&self.conn)
                .await?
                .into_iter()
                .map(|s| (s.id, s))
                .collect();
        Ok(rows
            .into_iter()
            .filter_map(|d| {
                let s = subscriptions.get(&d.subscription_id)?;
                Some(DueDelivery {
                    id: d.id,
                    event_id: d.event_id,
                    event: d.event,
                    payload: d.payload,
                    attempts: d.attempts,
                    created_at: d.created_at,
                    channel: s.channel.clone(),
                    target: s.target.clone(),
                    secret: s.secret.clone(),
                })
            })
            .collect())
    }

    /// Logs an attempt at delivery `id` and moves the delivery on as `outcome` says.
    pub async fn record_attempt(
        &self,
        id: i64,
        attempt: Attempt,
        outcome: Outcome,
    ) -> DbResult<()> {
        let tx = self.begin_write().await?;
        notification_attempt::ActiveModel {
            id: NotSet,
            delivery_id: Set(id),
            at: Set(attempt.at),
            duration_ms: Set(attempt.duration_ms),
            status: Set(attempt.status),
            error: Set(attempt.error.map(|e| e.chars().take(255).collect())),
        }
        .insert(tx.tx())
        .await?;
        let (state, next, finished) = match outcome {
            Outcome::Delivered => (DeliveryState::Delivered, attempt.at, Some(attempt.at)),
            Outcome::Retry(at) => (DeliveryState::Pending, at, None),
            Outcome::GiveUp => (DeliveryState::Failed, attempt.at, Some(attempt.at)),
        };
        notification_delivery::Entity::update_many()
            .col_expr(
                notification_delivery::Column::State,
                Expr::value(state.as_str()),
            )
            .col_expr(
                notification_delivery::Column::Attempts,
                Expr::col(notification_delivery::Column::Attempts).add(1),
            )
            .col_expr(
                notification_delivery::Column::NextAttemptAt,
                Expr::value(next),
            )
            .col_expr(
                notification_delivery::Column::FinishedAt,
                Expr::value(finished),
            )
            .filter(notification_delivery::Column::Id.eq(id))
            .exec(tx.tx())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets deliveries finished (delivered or failed) before `before`, with their
    /// attempts: the delivery log keeps what is recent. How many went.
    pub async fn prune_deliveries(&self, before: DateTime<Utc>) -> DbResult<u64> {
        let finished = notification_delivery::Entity::find()
            .select_only()
            .column(notification_delivery::Column::Id)
            .filter(notification_delivery::Column::State.ne(DeliveryState::Pending.as_str()))
            .filter(notification_delivery::Column::FinishedAt.lt(before))
            .limit(1000)
            .into_tuple::<i64>()
            .all(&self.conn)
            .await?;
        if finished.is_empty() {
            return Ok(0);
        }
        let tx = self.begin_write().await?;
        notification_attempt::Entity::delete_many()
            .filter(notification_attempt::Column::DeliveryId.is_in(finished.iter().copied()))
            .exec(tx.tx())
            .await?;
        let gone = notification_delivery::Entity::delete_many()
            .filter(notification_delivery::Column::Id.is_in(finished))
            .exec(tx.tx())
            .await?
            .rows_affected;
        tx.commit().await?;
        Ok(gone)
    }

    /// Queues `host.stale` for each host that has gone without an update for its
    /// subscription's days and has not been told for this episode (an episode ends when
    /// the host updates). One transaction: marks and deliveries commit together. How many
    /// were queued.
    pub async fn enqueue_stale_hosts(&self) -> DbResult<usize> {
        let now = Utc::now();
        let tx = self.begin_write().await?;
        let subscriptions: Vec<_> = notification_subscription::Entity::find()
            .filter(
                notification_subscription::Column::Events.contains(EventKind::HostStale.as_str()),
            )
            .all(tx.tx())
            .await?;
        let mut queued = 0;
        for s in subscriptions {
            let cutoff = now - Duration::days(i64::from(s.stale_days));
            let mut query = host::Entity::find()
                .filter(host::Column::AccountId.eq(s.account_id))
                .filter(
                    Condition::any()
                        .add(host::Column::UpdatedAt.lt(cutoff))
                        .add(
                            Condition::all()
                                .add(host::Column::UpdatedAt.is_null())
                                .add(host::Column::CreatedAt.lt(cutoff)),
                        ),
                );
            if let Some(id) = s.host_id {
                query = query.filter(host::Column::Id.eq(id));
            }
            // The rows are a lower bound: a host whose row is old may have checked in since.
            let candidates = query.all(tx.tx()).await?;
            let mut seen = last_seen(tx.tx(), &candidates).await?;
            let stale: Vec<_> = candidates
                .into_iter()
                .map(|h| (seen.remove(&h.id).map_or(h.created_at, |s| s.at), h))
                .filter(|(since, _)| *since < cutoff)
                .collect();
            if stale.is_empty() {
                continue;
            }
            let told: HashMap<i64, DateTime<Utc>> = notification_stale_mark::Entity::find()
                .filter(notification_stale_mark::Column::SubscriptionId.eq(s.id))
                .all(tx.tx())
                .await?
                .into_iter()
                .map(|m| (m.host_id, m.since))
                .collect();
            for (since, h) in stale {
                if told.get(&h.id) == Some(&since) {
                    continue;
                }
                notification_stale_mark::Entity::insert(notification_stale_mark::ActiveModel {
                    subscription_id: Set(s.id),
                    host_id: Set(h.id),
                    since: Set(since),
                })
                .on_conflict(
                    OnConflict::columns([
                        notification_stale_mark::Column::SubscriptionId,
                        notification_stale_mark::Column::HostId,
                    ])
                    .update_column(notification_stale_mark::Column::Since)
                    .to_owned(),
                )
                .exec(tx.tx())
                .await?;
                let event = Event {
                    kind: EventKind::HostStale,
                    account: AccountId(s.account_id),
                    host: Some((h.id, h.name.clone())),
                    data: json!({
                        "last_update": since,
                        "days": s.stale_days,
                        "ipv4": h.ipv4,
                        "ipv6": h.ipv6,
                    }),
                    dedupe: None,
                };
                tx.insert_deliveries(std::slice::from_ref(&event), &[(s.id, 0)])
                    .await?;
                queued += 1;
            }
        }
        tx.commit().await?;
        Ok(queued)
    }
}
