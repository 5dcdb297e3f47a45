//! What the update service answered, counted per minute in memory and added to the
//! database's counts in the background ([`FLUSH_EVERY`], and once more at a graceful stop),
//! so that no update waits for a query and every replica's counts add up. Distinct clients
//! kept between two flushes are capped: under a flood of made-up User-Agents or sources the
//! rest are counted under [`OTHERS`].
//!
//! The same answers are counted for Prometheus (`dyn53_updates_total`) with the request's
//! time (`dyn53_update_duration_seconds`), through handles registered once per protocol and
//! result: an update takes no lock and builds no label for them (an atomic add, and a
//! sample pushed onto the histogram's lock-free bucket, folded in at the next scrape).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics::{Counter, Histogram, counter, describe_counter, describe_histogram, histogram};

use super::{HostResult, UpdateError};
use crate::db::{ClientCount, ClientKind, Db, OutcomeCount};
use crate::domain::Protocol;

pub const FLUSH_EVERY: Duration = Duration::from_secs(3);
/// How long counts are kept.
const KEEP: chrono::TimeDelta = chrono::TimeDelta::days(8);
/// Distinct (minute, kind, client) counted between two flushes.
const MAX_CLIENTS: usize = 10_000;
/// The client the rest are counted under once [`MAX_CLIENTS`] is reached.
pub const OTHERS: &str = "(others)";
/// The longest client stored (the column's width).
const MAX_CLIENT_LEN: usize = 255;

#[derive(Default)]
struct Pending {
    outcomes: HashMap<(i64, &'static str, &'static str), i64>,
    clients: HashMap<(i64, ClientKind, String), i64>,
}

pub struct UpdateStats {
    pending: Mutex<Pending>,
    meters: Meters,
}

/// Every word [`result_names`] and the adapters' refusals ([`UpdateStats::refused`]) answer.
const RESULTS: [&str; 9] = [
    "good", "nochg", "notfqdn", "nohost", "abuse", "badauth", "!donator", "911", "badagent",
];

/// The Prometheus side: a counter per protocol and result, a latency histogram per protocol,
/// all registered at start (so that a scrape shows them at zero).
struct Meters {
    answers: HashMap<(Protocol, &'static str), Counter>,
    durations: HashMap<Protocol, Histogram>,
}

impl Meters {
    fn new() -> Meters {
        describe_counter!(
            "dyn53_updates_total",
            "Hosts answered by the update service, by protocol and result (one per host named)."
        );
        describe_histogram!(
            "dyn53_update_duration_seconds",
            metrics::Unit::Seconds,
            "Time the update service took to answer a request, by protocol."
        );
        // The CLI's changes run in its own process, which has no metrics port.
        let served = || Protocol::ALL.into_iter().filter(|p| *p != Protocol::Cli);
        let answers = served()
            .flat_map(|p| RESULTS.map(|r| (p, r)))
            .map(|(p, r)| {
                let counter =
                    counter!("dyn53_updates_total", "protocol" => p.as_str(), "result" => r);
                ((p, r), counter)
            })
            .collect();
        let durations = served()
            .map(|p| {
                let histogram =
                    histogram!("dyn53_update_duration_seconds", "protocol" => p.as_str());
                (p, histogram)
            })
            .collect();
        Meters { answers, durations }
    }

    fn answered(&self, protocol: Protocol, result: &'static str) {
        match self.answers.get(&(protocol, result)) {
            Some(counter) => counter.increment(1),
            None => {
                counter!("dyn53_updates_total", "protocol" => protocol.as_str(), "result" => result)
                    .increment(1)
            }
        }
    }
}

fn minute_now() -> i64 {
    Utc::now().timestamp().div_euclid(60) * 60
}

/// The dyndns2 word for what an update came to, per host.
fn result_names(result: &Result<Vec<HostResult>, UpdateError>) -> Vec<&'static str> {
    match result {
        Ok(results) => results
            .iter()
            .map(|r| match r {
                HostResult::Changed(_) => "good",
                HostResult::Unchanged(_) => "nochg",
                HostResult::NotFqdn => "notfqdn",
                HostResult::NoHost | HostResult::ForeignZone => "nohost",
                HostResult::Abuse => "abuse",
            })
            .collect(),
        Err(e) => vec![match e {
            UpdateError::BadAuth(_) | UpdateError::AccountInactive => "badauth",
            UpdateError::ReadOnly => "nohost",
            UpdateError::NotOnPlan => "!donator",
            UpdateError::AddressBlocked(_) => "abuse",
            UpdateError::Unavailable(_) | UpdateError::Busy(_) | UpdateError::Interrupted => "911",
        }],
    }
}

impl UpdateStats {
    pub(super) fn new() -> UpdateStats {
        UpdateStats {
            pending: Mutex::default(),
            meters: Meters::new(),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `result` of one request by `protocol`, which took `took`, and its source if
    /// it was refused for wrong credentials.
    pub fn answered(
        &self,
        protocol: Protocol,
        source: IpAddr,
        result: &Result<Vec<HostResult>, UpdateError>,
        took: Duration,
    ) {
        if let Some(histogram) = self.meters.durations.get(&protocol) {
            histogram.record(took);
        }
        let minute = minute_now();
        let names = result_names(result);
        let mut pending = self.pending();
        for name in names {
            self.meters.answered(protocol, name);
            *pending
                .outcomes
                .entry((minute, protocol.as_str(), name))
                .or_default() += 1;
        }
        if matches!(result, Err(UpdateError::BadAuth(_))) {
            pending.client(minute, ClientKind::Refused, &source.to_string());
        }
    }

    /// Counts a request refused before the service, as `answer` (e.g. `badagent`).
    pub fn refused(&self, protocol: Protocol, answer: &'static str) {
        self.meters.answered(protocol, answer);
        let minute = minute_now();
        *self
            .pending()
            .outcomes
            .entry((minute, protocol.as_str(), answer))
            .or_default() += 1;
    }

    /// Counts a request with this User-Agent.
    pub fn agent(&self, agent: &str) {
        self.pending()
            .client(minute_now(), ClientKind::Agent, agent);
    }

    /// Adds what was counted since the last flush to the database's counts. On failure the
    /// counts are dropped (and logged): they are statistics, and memory stays bounded.
    pub async fn flush(&self, db: &Db) {
        let taken = std::mem::take(&mut *self.pending());
        if taken.outcomes.is_empty() && taken.clients.is_empty() {
            return;
        }
        let at = |minute: i64| DateTime::from_timestamp(minute, 0).unwrap_or_default();
        let outcomes: Vec<OutcomeCount> = taken
            .outcomes
            .into_iter()
            .map(|((minute, protocol, result), count)| OutcomeCount {
                minute: at(minute),
                protocol,
                result,
                count,
            })
            .collect();
        let clients: Vec<ClientCount> = taken
            .clients
            .into_iter()
            .map(|((minute, kind, client), count)| ClientCount {
                minute: at(minute),
                kind,
                client,
                count,
            })
            .collect();
        if let Err(e) = db.add_update_counts(&outcomes, &clients).await {
            tracing::warn!("storing update statistics: {e}");
        }
    }

    /// Flushes every [`FLUSH_EVERY`] and drops counts older than eight days once an hour,
    /// for as long as the process runs.
    pub async fn keep_flushing(self: std::sync::Arc<Self>, db: Db) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        let mut flushes: u64 = 0;
        loop {
            tick.tick().await;
            self.flush(&db).await;
            if flushes.is_multiple_of(1200)
                && let Err(e) = db.prune_update_counts(Utc::now() - KEEP).await
            {
                tracing::warn!("pruning update statistics: {e}");
            }
            flushes += 1;
        }
    }
}

impl Pending {
    fn client(&mut self, minute: i64, kind: ClientKind, client: &str) {
        let client = truncated(client, MAX_CLIENT_LEN);
        if let Some(count) = self.clients.get_mut(&(minute, kind, client.to_owned())) {
            *count += 1;
            return;
        }
        let client = if self.clients.len() < MAX_CLIENTS {
            client
        } else {
            OTHERS
        };
        *self
            .clients
            .entry((minute, kind, client.to_owned()))
            .or_default() += 1;
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncated(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_clients_are_capped() {
        let mut pending = Pending::default();
        for i in 0..MAX_CLIENTS + 50 {
            pending.client(0, ClientKind::Agent, &format!("agent {i}"));
        }
        assert_eq!(pending.clients.len(), MAX_CLIENTS + 1);
        assert_eq!(pending.clients[&(0, ClientKind::Agent, OTHERS.into())], 50);
    }

    #[test]
    fn long_clients_are_cut_at_a_character() {
        let long = "é".repeat(200);
        assert_eq!(truncated(&long, 255).len(), 254);
    }
}
