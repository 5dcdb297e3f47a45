//! The limits counted in Redis when the control plane is a fleet (`web`): the update
//! service's, the REST API's rate, failed sign-ins and the mails the pages send, so that
//! every replica sees one count (two replicas allow the configured rate, not twice
//! it) and a restarted replica remembers it. Each key's window is a sorted set of event
//! times, trimmed, added to and counted by plain commands, and expiring with the window.
//! Concurrent calls share one pipeline ([`Together`]): under load, one round trip counts
//! for many updates.
//!
//! When Redis cannot be reached, counting falls back to the process for a few seconds at a
//! time, and `/readyz` says so: updates go on, limited per replica, rather than failing.

use std::fmt::Display;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;

use crate::limits::{AbuseLimit, WindowCounter};
use crate::together::{Together, Work};

/// How long counting stays in the process after Redis failed, before Redis is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Pipelines at once: while one waits for Redis, the calls that come meanwhile gather for
/// the next.
const RUNS: usize = 2;
/// Calls in one pipeline at most.
const MOST_PER_RUN: usize = 256;

/// The fleet's Redis, where counters are shared, and whether it is answering.
#[derive(Clone)]
pub struct SharedLimits {
    prefix: String,
    runs: Arc<Together<WindowRuns>>,
    health: Arc<Health>,
}

/// The windows' pipelines, each for many calls.
struct WindowRuns {
    conn: ConnectionManager,
}

struct WindowCall {
    key: String,
    limit: AbuseLimit,
    op: Op,
}

/// What a call does to its key's window.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Whether the window holds its count of events: 1 or 0.
    Full,
    /// Adds an event if the window holds fewer than its count (1), else answers minus the
    /// milliseconds until it has room.
    Admit,
    /// Adds an event.
    Record,
}

impl Op {
    /// The replies of its commands in [`WindowRuns::count`]'s pipeline.
    fn replies(self) -> usize {
        match self {
            Op::Full => 1,
            Op::Record => 3,
            Op::Admit => 4,
        }
    }
}

/// An answer of [`WindowRuns`]: as [`Op`] says, or Redis's error as text (one error
/// answers every call of the pipeline).
type WindowAnswer = Result<i64, String>;

impl Work for WindowRuns {
    type Call = WindowCall;
    type Answer = WindowAnswer;

    async fn run(&self, calls: Vec<WindowCall>) -> Vec<WindowAnswer> {
        match self.count(&calls).await {
            Ok(answers) => answers.into_iter().map(Ok).collect(),
            Err(e) => calls.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn lost() -> WindowAnswer {
        Err("the process is stopping".into())
    }
}

/// Event times are µs since the epoch on each replica's clock: within milliseconds of each
/// other, which a window of minutes does not notice.
fn micros(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl WindowRuns {
    /// Plain commands rather than a script: a script's calls cost Redis about twice their
    /// commands (measured in bench/README). Each key's old events are trimmed before it is
    /// counted, and an admission adds its event before counting it: one round trip. The
    /// events refused (rare: a host over its limit) are taken back in a second one, so a
    /// refusal does not count; a call that meets such an event meanwhile may be refused
    /// too, never admitted beyond the count.
    async fn count(&self, calls: &[WindowCall]) -> Result<Vec<i64>, String> {
        let now = micros(SystemTime::now());
        let mut pipe = redis::pipe();
        let mut members = Vec::with_capacity(calls.len());
        for call in calls {
            let since = now - call.limit.window.as_micros() as i64;
            let member = rand::random::<u64>();
            members.push(member);
            if call.op == Op::Full {
                // Times are whole µs: later than `since` is from `since + 1` on.
                pipe.zcount(&call.key, since + 1, "+inf");
                continue;
            }
            pipe.zrembyscore(&call.key, "-inf", since)
                .zadd(&call.key, member, now)
                .pexpire(&call.key, call.limit.window.as_millis() as i64);
            if call.op == Op::Admit {
                pipe.zcard(&call.key);
            }
        }
        let mut conn = self.conn.clone();
        let replies: Vec<usize> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let expected: usize = calls.iter().map(|c| c.op.replies()).sum();
        if replies.len() != expected {
            return Err(format!("{} replies to {expected} commands", replies.len()));
        }
        let mut replies = replies.into_iter();
        let mut answers = Vec::with_capacity(calls.len());
        let mut refused = Vec::new();
        for (i, call) in calls.iter().enumerate() {
            // Each call's last reply is its count (`Record`: the expiry set, unused).
            let last = replies.nth(call.op.replies() - 1).unwrap_or(0);
            answers.push(match call.op {
                Op::Full => i64::from(last >= call.limit.max),
                Op::Record => 1,
                Op::Admit => {
                    if last > call.limit.max {
                        refused.push(i);
                    }
                    1
                }
            });
        }
        if !refused.is_empty() {
            let waits = self.take_back(calls, &members, &refused, now).await?;
            for (i, wait) in refused.into_iter().zip(waits) {
                answers[i] = -wait;
            }
        }
        Ok(answers)
    }

    /// Removes the `refused` calls' events, and says for each how many milliseconds until
    /// its window's oldest event leaves it.
    async fn take_back(
        &self,
        calls: &[WindowCall],
        members: &[u64],
        refused: &[usize],
        now: i64,
    ) -> Result<Vec<i64>, String> {
        let mut pipe = redis::pipe();
        for &i in refused {
            pipe.zrem(&calls[i].key, members[i])
                .ignore()
                .zrange_withscores(&calls[i].key, 0, 0);
        }
        let mut conn = self.conn.clone();
        let oldest: Vec<Vec<(String, f64)>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok(refused
            .iter()
            .zip(oldest)
            .map(|(&i, oldest)| {
                let window = calls[i].limit.window.as_micros() as i64;
                let until = oldest
                    .first()
                    .map_or(window, |(_, at)| *at as i64 + window - now);
                (until.max(1) + 999) / 1000
            })
            .collect())
    }
}

#[derive(Default)]
struct Health {
    /// Set while counting is in the process because Redis failed.
    down_until: Mutex<Option<Instant>>,
    shared: AtomicBool,
}

impl SharedLimits {
    /// Counters under `prefix` (the deployment's Redis prefix) in `conn`'s Redis.
    pub fn new(conn: ConnectionManager, prefix: &str) -> SharedLimits {
        let runs = WindowRuns { conn };
        SharedLimits {
            prefix: format!("{prefix}limit:"),
            runs: Together::new(runs, RUNS, MOST_PER_RUN),
            health: Arc::new(Health {
                shared: AtomicBool::new(true),
                ..Health::default()
            }),
        }
    }

    /// Whether the counts are shared right now (Redis answered last time it was asked).
    pub fn is_shared(&self) -> bool {
        self.health.shared.load(Relaxed)
    }

    fn down(&self) -> bool {
        let mut down_until = self
            .health
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *down_until {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *down_until = None;
                false
            }
            None => false,
        }
    }

    /// Runs `op` on the window of the key `name:key` under the prefix, or says Redis failed
    /// (and counting goes local for a while).
    async fn run(&self, name: &str, key: impl Display, limit: AbuseLimit, op: Op) -> Option<i64> {
        if self.down() {
            return None;
        }
        let call = WindowCall {
            key: format!("{}{name}:{key}", self.prefix),
            limit,
            op,
        };
        match self.runs.call(call).await {
            Ok(answer) => {
                if !self.health.shared.swap(true, Relaxed) {
                    tracing::info!("Redis answers again: limits are shared by the fleet");
                }
                Some(answer)
            }
            Err(e) => {
                *self
                    .health
                    .down_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + RETRY_AFTER);
                if self.health.shared.swap(false, Relaxed) {
                    tracing::warn!("Redis failed ({e}): limits are counted per process for now");
                }
                None
            }
        }
    }
}

/// Events per key in a sliding window: in the fleet's Redis when there is one, else (and
/// while Redis fails) in this process.
pub struct Counter<K> {
    local: WindowCounter<K>,
    shared: Option<(SharedLimits, &'static str)>,
    limit: AbuseLimit,
}

impl<K: Hash + Eq + Display> Counter<K> {
    /// A counter named `name` (its keys' prefix in Redis), shared when `shared` is given.
    pub fn new(limit: AbuseLimit, shared: Option<&SharedLimits>, name: &'static str) -> Self {
        Counter {
            local: WindowCounter::new(limit),
            shared: shared.map(|s| (s.clone(), name)),
            limit,
        }
    }

    async fn shared(&self, key: &K, op: Op) -> Option<i64> {
        let (shared, name) = self.shared.as_ref()?;
        shared.run(name, key, self.limit, op).await
    }

    /// Whether `key` has had its limit of events in the window.
    pub async fn is_full(&self, key: K) -> bool {
        match self.shared(&key, Op::Full).await {
            Some(full) => full == 1,
            None => self.local.is_full(key),
        }
    }

    /// Counts an event of `key`.
    pub async fn record(&self, key: K) {
        if self.shared(&key, Op::Record).await.is_none() {
            self.local.record(key);
        }
    }

    /// Counts an event of `key` if it is within the limit, and says whether it was.
    pub async fn admit(&self, key: K) -> bool {
        self.admit_or_wait(key).await.is_ok()
    }

    /// Like [`Self::admit`]; when there is no room, how long until there is.
    pub async fn admit_or_wait(&self, key: K) -> Result<(), Duration> {
        match self.shared(&key, Op::Admit).await {
            Some(1) => Ok(()),
            Some(wait) => Err(Duration::from_millis(wait.unsigned_abs())),
            None => self.local.admit_or_wait(key),
        }
    }
}

/// Calls each REST API caller (a user's tokens together, or one key) may make
/// (`DYN53_API_RATE_LIMIT`); beyond that, refused until the window has room.
pub struct ApiLimits(Counter<ApiCaller>);

/// Whom an API call is counted against: a user (their tokens), or a key by its digest, known
/// before the database is asked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ApiCaller {
    User(i64),
    /// The key's digest, as stored.
    Key(String),
}

impl Display for ApiCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiCaller::User(id) => write!(f, "user:{id}"),
            ApiCaller::Key(digest) => write!(f, "key:{digest}"),
        }
    }
}

impl ApiLimits {
    /// Counted in `shared`'s Redis when given (a fleet's replicas), else in the process.
    pub fn new(limit: AbuseLimit, shared: Option<&SharedLimits>) -> ApiLimits {
        ApiLimits(Counter::new(limit, shared, "api"))
    }

    /// Counts a call of `who`; beyond the limit, how long until there is room.
    pub async fn count(&self, who: ApiCaller) -> Result<(), Duration> {
        self.0.admit_or_wait(who).await
    }
}

/// Failed sign-ins (pages and API tokens), counted per e-mail (whether or not it exists)
/// *and* source address together, so that a stranger's guesses lock out the stranger and not
/// the owner signing in from elsewhere; per source, against one address trying many
/// e-mails; and per e-mail from all sources, a cap (`DYN53_GUESS_LIMIT`) on guessing
/// spread over many addresses.
pub struct LoginLimits {
    by_email_and_source: Counter<String>,
    by_source: Counter<IpAddr>,
    by_email: Counter<String>,
}

impl LoginLimits {
    /// Counted in `shared`'s Redis when given (a fleet's replicas), else in the process.
    pub fn new(per_email: AbuseLimit, shared: Option<&SharedLimits>) -> LoginLimits {
        let window = Duration::from_secs(15 * 60);
        LoginLimits {
            by_email_and_source: Counter::new(
                AbuseLimit { max: 10, window },
                shared,
                "login-email-source",
            ),
            by_source: Counter::new(AbuseLimit { max: 50, window }, shared, "login-source"),
            by_email: Counter::new(per_email, shared, "login-email"),
        }
    }

    pub async fn refuses(&self, email: &str, source: IpAddr) -> bool {
        let (pair, by_source, by_email) = tokio::join!(
            self.by_email_and_source
                .is_full(format!("{email} {source}")),
            self.by_source.is_full(source),
            self.by_email.is_full(email.to_owned()),
        );
        pair || by_source || by_email
    }

    pub async fn failed(&self, email: &str, source: IpAddr) {
        tokio::join!(
            self.by_email_and_source.record(format!("{email} {source}")),
            self.by_source.record(source),
            self.by_email.record(email.to_owned()),
        );
    }
}

/// Mails the pages send (sign-up, `/forgot`, invitations, e-mail changes), counted per
/// address (whether or not it has an account: the count tells nothing) and per source, so
/// that nobody can fill a stranger's mailbox or use the service to send mail in bulk.
pub struct MailLimits {
    by_address: Counter<String>,
    by_source: Counter<IpAddr>,
}

impl MailLimits {
    /// Counted in `shared`'s Redis when given (a fleet's replicas), else in the process.
    pub fn new(shared: Option<&SharedLimits>) -> MailLimits {
        let limit = |max, minutes: u64| AbuseLimit {
            max,
            window: Duration::from_secs(minutes * 60),
        };
        MailLimits {
            by_address: Counter::new(limit(3, 15), shared, "mail-address"),
            by_source: Counter::new(limit(20, 60), shared, "mail-source"),
        }
    }

    /// Counts a mail to `address` asked for by `source`, if both are within their limits.
    pub async fn admit(&self, address: &str, source: IpAddr) -> bool {
        let address = address.to_lowercase();
        let (to_address, from_source) = tokio::join!(
            self.by_address.is_full(address.clone()),
            self.by_source.is_full(source),
        );
        if to_address || from_source {
            return false;
        }
        tokio::join!(
            self.by_address.record(address),
            self.by_source.record(source)
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window on the machine's Redis (`DYN53_TEST_REDIS`), under a prefix of this run's
    /// own, and a connection to look at it.
    async fn redis_counter(limit: AbuseLimit) -> (Counter<u32>, ConnectionManager) {
        let url =
            std::env::var("DYN53_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let client = redis::Client::open(url).expect("Redis URL");
        let conn = ConnectionManager::new(client).await.expect("Redis answers");
        let shared = SharedLimits::new(
            conn.clone(),
            &format!("dyn53unit{}:", rand::random::<u64>()),
        );
        (Counter::new(limit, Some(&shared), "window"), conn)
    }

    /// The events `key` holds in Redis, in the window or not.
    async fn events(counter: &Counter<u32>, conn: &mut ConnectionManager, key: u32) -> usize {
        let (shared, name) = counter.shared.as_ref().expect("shared");
        redis::cmd("ZCARD")
            .arg(format!("{}{name}:{key}", shared.prefix))
            .query_async(conn)
            .await
            .expect("ZCARD")
    }

    /// A window counts only its own events, and a key's events that left it are trimmed
    /// as it is counted again.
    #[tokio::test]
    async fn a_shared_window_counts_only_its_own_events() {
        let window = Duration::from_millis(1500);
        let (counter, mut conn) = redis_counter(AbuseLimit { max: 3, window }).await;
        assert!(counter.admit(1).await && counter.admit(1).await);
        counter.record(2).await;
        assert!(!counter.is_full(1).await);
        assert!(counter.admit(1).await);
        assert!(counter.is_full(1).await && !counter.is_full(2).await);
        let wait = counter
            .admit_or_wait(1)
            .await
            .expect_err("the window is full");
        assert!(
            wait > Duration::from_millis(500) && wait <= window,
            "{wait:?}"
        );
        // The refusal took its event back: it does not count.
        assert_eq!(events(&counter, &mut conn, 1).await, 3);
        assert!(counter.shared.as_ref().is_some_and(|(s, _)| s.is_shared()));

        tokio::time::sleep(window + Duration::from_millis(100)).await;
        // Three old events are left, none of which counts; the next admission trims them.
        assert!(!counter.is_full(1).await);
        assert!(counter.admit(1).await);
        assert_eq!(events(&counter, &mut conn, 1).await, 1);
        for _ in 0..2 {
            assert!(counter.admit(1).await);
        }
        assert!(counter.is_full(1).await);
        assert!(counter.admit_or_wait(1).await.is_err());
        assert_eq!(events(&counter, &mut conn, 1).await, 3);
    }

    #[tokio::test]
    async fn a_strangers_guesses_do_not_lock_the_owner_out() {
        let limits = LoginLimits::new(AbuseLimit::parse("30/900").expect("limit"), None);
        let (stranger, owner) = (
            "192.0.2.1".parse().unwrap(),
            "198.51.100.7".parse().unwrap(),
        );
        for _ in 0..10 {
            limits.failed("me@example.com", stranger).await;
        }
        assert!(limits.refuses("me@example.com", stranger).await);
        assert!(!limits.refuses("me@example.com", owner).await);
        // Guesses spread over many sources reach the cap on the address itself.
        for n in 0..30u8 {
            limits
                .failed("me@example.com", IpAddr::from([203, 0, 113, n]))
                .await;
        }
        assert!(limits.refuses("me@example.com", owner).await);
        assert!(!limits.refuses("you@example.com", owner).await);
    }

    #[tokio::test]
    async fn mail_is_limited_per_address_and_per_source() {
        let limits = MailLimits::new(None);
        let source: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.admit("Me@example.com", source).await);
        }
        assert!(!limits.admit("me@example.com", source).await);
        for n in 0..17 {
            assert!(limits.admit(&format!("u{n}@example.com"), source).await);
        }
        assert!(!limits.admit("new@example.com", source).await);
        assert!(
            limits
                .admit("new@example.com", "192.0.2.2".parse().unwrap())
                .await
        );
    }
}
