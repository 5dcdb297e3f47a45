//! Notifications: e-mails and webhooks about an account's hosts, sent from the durable
//! queue that the events' own transactions fill (`db::WriteTx::enqueue`), so a
//! notification is sent at least once for every event that committed, and never for one
//! that did not.
//!
//! One replica at a time sends: the one holding the `Duty::Notify` advisory lock (as the
//! publisher does; on SQLite the one process). Leasing rows with `FOR UPDATE SKIP LOCKED`
//! would let replicas share the work, but SQLite has no such thing and one sender keeps up
//! easily (deliveries run concurrently); the lock dies with its session, so another
//! replica takes over at once. The sender also looks for stale hosts every
//! `scan_interval`, and then forgets deliveries finished more than 30 days ago. A failed attempt is logged and retried with exponential backoff and
//! jitter, up to `retry_max` apart, until the event is `max_age` old: then it is failed.

mod events;
mod webhook;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use metrics::{counter, describe_counter};
use rand::Rng;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::db::{Attempt, Db, DueDelivery, Duty, Outcome};
use crate::domain::EventKind;
use crate::mail::{Letter, Mailer};
pub use events::{credentials_failing, over_abuse_limit};
pub use webhook::Webhooks;

/// The operator's settings (`DYN53_NOTIFY_*`).
#[derive(Clone, Debug)]
pub struct NotifySettings {
    /// The first retry's delay; each next one doubles, up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// An event not delivered by this age is given up.
    pub max_age: Duration,
    /// How often hosts are checked for staleness.
    pub scan_interval: Duration,
    /// Webhooks may go to private, loopback and link-local addresses (self-hosters, tests).
    pub allow_private: bool,
    /// Certificates (PEM) trusted for webhooks besides the public roots.
    pub ca_file: Option<PathBuf>,
}

/// How often the queue is read while leading, and how often a standby tries to lead.
const POLL: Duration = Duration::from_secs(1);
const STANDBY_RETRY: Duration = Duration::from_secs(5);
/// Deliveries tried at once.
const AT_ONCE: u64 = 16;
/// How long the delivery log keeps a finished delivery.
const KEEP_LOG: chrono::Duration = chrono::Duration::days(30);

struct Sender {
    db: Db,
    mailer: Mailer,
    webhooks: Webhooks,
    settings: NotifySettings,
}

/// Sends notifications while this replica holds the lock; never returns.
pub async fn run(db: Db, mailer: Mailer, webhooks: Webhooks, settings: NotifySettings) {
    describe_counter!(
        "dyn53_notifications_total",
        "Notification attempts by channel and outcome: delivered, retried later, or failed for good."
    );
    for channel in ["email", "webhook"] {
        for outcome in ["delivered", "retried", "failed"] {
            count(channel, outcome, 0);
        }
    }
    let sender = Arc::new(Sender {
        db,
        mailer,
        webhooks,
        settings,
    });
    loop {
        match sender.db.try_lead(Duty::Notify).await {
            Ok(Some(mut lead)) => {
                info!("this replica sends notifications");
                sender.lead(&mut lead).await;
                warn!("lost the notification lock");
            }
            Ok(None) => {}
            Err(e) => warn!("taking the notification lock: {e}"),
        }
        tokio::time::sleep(STANDBY_RETRY).await;
    }
}

impl Sender {
    /// Sends while `lead` holds.
    async fn lead(self: &Arc<Self>, lead: &mut crate::db::Leadership) {
        let mut scanned: Option<Instant> = None;
        loop {
            if !lead.holds().await {
                return;
            }
            if scanned.is_none_or(|at| at.elapsed() >= self.settings.scan_interval) {
                match self.db.enqueue_stale_hosts().await {
                    Ok(0) => {}
                    Ok(n) => info!("{n} stale hosts to notify"),
                    Err(e) => warn!("looking for stale hosts: {e}"),
                }
                if let Err(e) = self.db.prune_deliveries(Utc::now() - KEEP_LOG).await {
                    warn!("pruning the delivery log: {e}");
                }
                scanned = Some(Instant::now());
            }
            match self.db.due_deliveries(AT_ONCE).await {
                Ok(due) => {
                    let mut sending = JoinSet::new();
                    for delivery in due {
                        let sender = self.clone();
                        sending.spawn(async move { sender.attempt(delivery).await });
                    }
                    sending.join_all().await;
                }
                Err(e) => warn!("reading the notification queue: {e}"),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One attempt at `delivery`, logged, and the delivery moved on.
    async fn attempt(&self, delivery: DueDelivery) {
        let at = Utc::now();
        let started = Instant::now();
        let result = match (delivery.channel.as_str(), &delivery.secret) {
            ("webhook", Some(secret)) => self
                .webhooks
                .post(
                    &delivery.target,
                    secret,
                    (&delivery.event_id, &delivery.event),
                    &delivery.payload,
                )
                .await
                .map(Some)
                .map_err(|f| (f.status, f.error)),
            ("email", _) => self
                .mailer
                .send_now(&letter(&delivery))
                .await
                .map(|()| None)
                .map_err(|e| (None, e.to_string())),
            (channel, _) => Err((None, format!("no way to send by {channel}"))),
        };
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let (status, error) = match &result {
            Ok(status) => (*status, None),
            Err((status, error)) => (*status, Some(error.clone())),
        };
        let outcome = match result {
            Ok(_) => Outcome::Delivered,
            Err(_) => {
                let next = at + self.backoff(delivery.attempts);
                let max_age = chrono::Duration::from_std(self.settings.max_age)
                    .unwrap_or(chrono::Duration::MAX);
                if next - delivery.created_at > max_age {
                    Outcome::GiveUp
                } else {
                    Outcome::Retry(next)
                }
            }
        };
        let counted = match outcome {
            Outcome::Delivered => "delivered",
            Outcome::Retry(_) => "retried",
            Outcome::GiveUp => "failed",
        };
        // The label from our own words, whatever the row holds.
        let channel = if delivery.channel == "email" {
            "email"
        } else {
            "webhook"
        };
        count(channel, counted, 1);
        if let Some(error) = &error {
            // The event id and kind, never the target's secret or the body.
            warn!(
                event_id = %delivery.event_id,
                event = %delivery.event,
                attempt = delivery.attempts + 1,
                "notification not delivered: {error}"
            );
        }
        let attempt = Attempt {
            at,
            duration_ms,
            status: status.map(i32::from),
            error,
        };
        if let Err(e) = self.db.record_attempt(delivery.id, attempt, outcome).await {
            // Tried again when due: at least once.
            warn!(event_id = %delivery.event_id, "logging a notification attempt: {e}");
        }
    }

    /// The wait after the `failed`-th failure (0 for the first): `retry_min` doubling up
    /// to `retry_max`, then between half of it and all of it, so that retries of many
    /// deliveries to one receiver spread out.
    fn backoff(&self, failed: i32) -> chrono::Duration {
        let doubled = self
            .settings
            .retry_min
            .saturating_mul(1 << failed.clamp(0, 20))
            .min(self.settings.retry_max);
        let jittered = doubled.mul_f64(rand::rng().random_range(0.5..=1.0));
        chrono::Duration::from_std(jittered).unwrap_or(chrono::Duration::MAX)
    }
}

/// Adds `n` to the attempts of `channel` that came to `outcome`.
fn count(channel: &'static str, outcome: &'static str, n: u64) {
    counter!("dyn53_notifications_total", "channel" => channel, "outcome" => outcome).increment(n);
}

/// The e-mail of a delivery: what happened in a line, then the event as JSON.
fn letter(delivery: &DueDelivery) -> Letter {
    let kind = EventKind::parse(&delivery.event);
    let event: serde_json::Value = serde_json::from_str(&delivery.payload).unwrap_or_default();
    let host = event["host"].as_str().unwrap_or("your account");
    let data = &event["data"];
    let summary = match kind {
        Some(EventKind::AddressChanged) => format!(
            "{host} now has {}{} (it had {}{}).",
            data["new"]["ipv4"].as_str().unwrap_or(""),
            data["new"]["ipv6"]
                .as_str()
                .map(|a| format!(" {a}"))
                .unwrap_or_default(),
            data["old"]["ipv4"].as_str().unwrap_or(""),
            data["old"]["ipv6"]
                .as_str()
                .map(|a| format!(" {a}"))
                .unwrap_or_default(),
        ),
        Some(EventKind::HostStale) => format!(
            "{host} has not updated for {} days or more (last: {}).",
            data["days"],
            data["last_update"].as_str().unwrap_or("never")
        ),
        Some(EventKind::CredentialsFailing) => {
            "Wrong credentials were tried repeatedly for your account's login or keys.".into()
        }
        Some(EventKind::AbuseBlocked) => format!("{host} was blocked: updates are refused."),
        None => format!("{host}: {}", delivery.event),
    };
    let details = serde_json::to_string_pretty(&event).unwrap_or_default();
    Letter {
        to: delivery.target.clone(),
        subject: kind.map_or("dyn53 notification", EventKind::title),
        body: format!(
            "{summary}\n\nEvent {} ({}):\n\n{details}\n\nYou receive this because your \
             account subscribed this address to dyn53 notifications; the Notifications page \
             of your account changes that.\n",
            delivery.event_id, delivery.event
        ),
    }
}
