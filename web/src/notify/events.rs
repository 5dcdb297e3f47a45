//! Events that come of a refusal rather than a change (a host over its abuse limit, a
//! login's wrong passwords past their cap): nothing else is written for them, so each is
//! queued in a transaction of its own, in the background, so that the refused request
//! does not wait for it. Each is told at most once per window of its limit (per host, per
//! login), whichever replica sees it: the window is in the delivery's dedupe key.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, PoisonError};

use chrono::Utc;
use serde_json::json;

use crate::db::{AccountId, Db, Event};
use crate::domain::EventKind;
use crate::limits::AbuseLimit;

/// Dedupe keys this process queued lately: a client looping over its limit costs one
/// queue write per window, not one per request. Forgotten wholesale when it grows large
/// (the database's unique key still holds).
static QUEUED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);
const QUEUED_MAX: usize = 10_000;

/// Queues `event` in the background, unless this process queued its dedupe key already; a
/// failure is logged (the event is lost with it).
fn queue_soon(db: &Db, event: Event) {
    if let Some(key) = &event.dedupe {
        let mut queued = QUEUED.lock().unwrap_or_else(PoisonError::into_inner);
        if queued.len() >= QUEUED_MAX {
            queued.clear();
        }
        if !queued.insert(key.clone()) {
            return;
        }
    }
    let db = db.clone();
    tokio::spawn(async move {
        let queued = async {
            let tx = db.begin_write().await?;
            tx.enqueue(&event).await?;
            tx.commit().await
        };
        if let Err(e) = queued.await {
            tracing::warn!(event = event.kind.as_str(), "queueing a notification: {e}");
        }
    });
}

/// Which window of `limit` now is in: the same number until the window has passed.
fn window(limit: AbuseLimit) -> i64 {
    let seconds = i64::try_from(limit.window.as_secs().max(1)).unwrap_or(i64::MAX);
    Utc::now().timestamp() / seconds
}

/// `hosts` (id, name) of `account` went over the update abuse limit and answer `abuse`.
pub fn over_abuse_limit(db: &Db, account: AccountId, hosts: &[(i64, String)], limit: AbuseLimit) {
    for (id, name) in hosts {
        queue_soon(
            db,
            Event {
                kind: EventKind::AbuseBlocked,
                account,
                host: Some((*id, name.clone())),
                data: json!({
                    "reason": "abuse_limit",
                    "limit": limit.max,
                    "window_seconds": limit.window.as_secs(),
                }),
                dedupe: Some(format!("abuse:{id}:{}", window(limit))),
            },
        );
    }
}

/// `login` of `account` reached its cap of wrong passwords: its passwords are refused
/// unchecked until the window has room (its keys still work).
pub fn credentials_failing(db: &Db, account: AccountId, login: &str, limit: AbuseLimit) {
    queue_soon(
        db,
        Event {
            kind: EventKind::CredentialsFailing,
            account,
            host: None,
            data: json!({
                "login": login,
                "limit": limit.max,
                "window_seconds": limit.window.as_secs(),
            }),
            dedupe: Some(format!("credentials:{login}:{}", window(limit))),
        },
    );
}
