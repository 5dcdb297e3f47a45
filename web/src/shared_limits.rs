//! The limits counted in Redis when the control plane is a fleet (`web`): the update
//! service's, the REST API's rate, failed sign-ins and the mails the pages send, so that
//! every replica sees one count (two replicas allow the configured rate, not twice
//! it) and a restarted replica remembers it. Each key's window is a sorted set of event
//! times, trimmed, counted and added to by one script (atomic, on Redis's own clock, so
//! replicas' clocks do not matter) and expiring with the window. Concurrent calls share a
//! run of the script ([`Together`]): under load, one round trip counts for many updates.
//!
//! When Redis cannot be reached, counting falls back to the process for a few seconds at a
//! time, and `/readyz` says so: updates go on, limited per replica, rather than failing.

use std::fmt::Display;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::Script;
use redis::aio::ConnectionManager;

use crate::limits::{AbuseLimit, WindowCounter};
use crate::together::{Together, Work};

/// How long counting stays in the process after Redis failed, before Redis is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// For each key of KEYS, with its four values of ARGV (the window's length in µs, an
/// operation, a count and a member), by the operation: `full` says whether the window holds
/// the count of events (1 or 0); `admit` adds one (the member) if it holds fewer (1), else
/// answers minus the milliseconds until there is room; `record` adds one. One answer per
/// key, in order; many callers' calls share one run.
///
/// Events older than the window are trimmed only once a key holds the count: below it,
/// they cannot make it full. The common call is then three commands (`admit`: ZCARD, ZADD,
/// PEXPIRE) or one (`full`: ZCOUNT) instead of four or two; each command a script calls
/// costs Redis more than its work on a small set.
const WINDOW_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local answers = {}
for i, key in ipairs(KEYS) do
  local base = (i - 1) * 4
  local window, op, max = tonumber(ARGV[base + 1]), ARGV[base + 2], tonumber(ARGV[base + 3])
  local since = now - window
  if op == 'full' then
    -- Times are whole µs: later than `since` is from `since + 1` on.
    answers[i] = (redis.call('ZCOUNT', key, since + 1, '+inf') >= max) and 1 or 0
  else
    local count = redis.call('ZCARD', key)
    if count >= max then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', since)
      count = redis.call('ZCARD', key)
    end
    if op == 'admit' and count >= max then
      local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
      if oldest == nil then
        answers[i] = -math.ceil(window / 1000)
      else
        answers[i] = -math.max(1, math.ceil((tonumber(oldest) + window - now) / 1000))
      end
    else
      redis.call('ZADD', key, now, now .. ':' .. ARGV[base + 4])
      redis.call('PEXPIRE', key, math.ceil(window / 1000))
      answers[i] = 1
    end
  end
end
return answers
";

/// Script runs at once: while one waits for Redis, the calls that come meanwhile gather for
/// the next.
const RUNS: usize = 2;
/// Calls in one run at most.
const MOST_PER_RUN: usize = 256;

/// The fleet's Redis, where counters are shared, and whether it is answering.
#[derive(Clone)]
pub struct SharedLimits {
    prefix: String,
    runs: Arc<Together<WindowRuns>>,
    health: Arc<Health>,
}

/// The window script's runs, each for many calls.
struct WindowRuns {
    conn: ConnectionManager,
    script: Script,
}

struct WindowCall {
    key: String,
    limit: AbuseLimit,
    op: &'static str,
}

impl Work for WindowRuns {
    type Call = WindowCall;
    /// Redis's error as text: one error answers every call of the run.
    type Answer = Result<i64, String>;

    async fn run(&self, calls: Vec<WindowCall>) -> Vec<Self::Answer> {
        let mut run = self.script.prepare_invoke();
        for call in &calls {
            run.key(&call.key)
                .arg(call.limit.window.as_micros() as u64)
                .arg(call.op)
                .arg(call.limit.max)
                .arg(rand::random::<u64>());
        }
        let mut conn = self.conn.clone();
        match run.invoke_async::<Vec<i64>>(&mut conn).await {
            Ok(answers) if answers.len() == calls.len() => answers.into_iter().map(Ok).collect(),
            Ok(answers) => {
                let e = format!("{} answers to {} calls", answers.len(), calls.len());
                calls.iter().map(|_| Err(e.clone())).collect()
            }
            Err(e) => calls.iter().map(|_| Err(e.to_string())).collect(),
        }
    }

    fn lost() -> Self::Answer {
        Err("the process is stopping".into())
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
        let runs = WindowRuns {
            conn,
            script: Script::new(WINDOW_SCRIPT),
        };
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

    /// Runs the window script on the key `name:key` under the prefix, or says Redis failed
    /// (and counting goes local for a while).
    async fn run(
        &self,
        name: &str,
        key: impl Display,
        limit: AbuseLimit,
        op: &'static str,
    ) -> Option<i64> {
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

    async fn shared(&self, key: &K, op: &'static str) -> Option<i64> {
        let (shared, name) = self.shared.as_ref()?;
        shared.run(name, key, self.limit, op).await
    }

    /// Whether `key` has had its limit of events in the window.
    pub async fn is_full(&self, key: K) -> bool {
        match self.shared(&key, "full").await {
            Some(full) => full == 1,
            None => self.local.is_full(key),
        }
    }

    /// Counts an event of `key`.
    pub async fn record(&self, key: K) {
        if self.shared(&key, "record").await.is_none() {
            self.local.record(key);
        }
    }

    /// Counts an event of `key` if it is within the limit, and says whether it was.
    pub async fn admit(&self, key: K) -> bool {
        self.admit_or_wait(key).await.is_ok()
    }

    /// Like [`Self::admit`]; when there is no room, how long until there is.
    pub async fn admit_or_wait(&self, key: K) -> Result<(), Duration> {
        match self.shared(&key, "admit").await {
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

    /// The window script on the machine's Redis (`DYN53_TEST_REDIS`), under a prefix of
    /// this run's own.
    async fn redis_counter(limit: AbuseLimit) -> Counter<u32> {
        let url =
            std::env::var("DYN53_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let client = redis::Client::open(url).expect("Redis URL");
        let conn = ConnectionManager::new(client).await.expect("Redis answers");
        let shared = SharedLimits::new(conn, &format!("dyn53unit{}:", rand::random::<u64>()));
        Counter::new(limit, Some(&shared), "window")
    }

    /// Events that left the window stay in Redis until the key holds its count: they never
    /// count, and they make room as soon as they are needed.
    #[tokio::test]
    async fn a_shared_window_counts_only_its_own_events() {
        let window = Duration::from_millis(1500);
        let counter = redis_counter(AbuseLimit { max: 3, window }).await;
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
        assert!(counter.shared.as_ref().is_some_and(|(s, _)| s.is_shared()));

        tokio::time::sleep(window + Duration::from_millis(100)).await;
        // Three old events are left, none of which counts.
        assert!(!counter.is_full(1).await);
        for _ in 0..3 {
            assert!(counter.admit(1).await);
        }
        assert!(counter.is_full(1).await);
        assert!(counter.admit_or_wait(1).await.is_err());
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
