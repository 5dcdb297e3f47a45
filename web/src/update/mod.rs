//! The update service: the one path by which every protocol changes a host's addresses.
//! Adapters translate their request into an [`UpdateRequest`] and the [`HostResult`]s back
//! into their wire format; nothing else about an update lives in an adapter.
//!
//! Most updates change nothing: a client checks in with the address it had. An update is
//! first decided on an unlocked read; when nothing changes it is answered `nochg` at once
//! and its check-in is written later, in a batch ([`check_ins`]). An update that changes
//! something goes to the [`committer`], which decides again on locked rows and answers only
//! after the commit.

mod auth;
mod check_ins;
mod committer;
mod credentials;
mod stats;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use chrono::Utc;

use crate::blocklists::Blocklists;
use crate::db::{AccountId, Db, DbError, HistoryEntry, HostState, KeyAuth, Seen, UserAuth};
use crate::domain::{Fqdn, GroupName, InterfaceId, Ipv6Prefix, NameError, Plan, Protocol};
use crate::feed::LocalCommits;
use crate::hashing::{Busy, PasswordHashing};
use crate::limits::AbuseLimit;
use crate::notify;
use crate::shared_limits::{Counter, SharedLimits};
pub use auth::{AuthFailure, Credentials, Secret, TsigCheck, TsigKey, TsigProof};
use check_ins::CheckIns;
use committer::Committer;
use credentials::VerifiedPasswords;
pub use stats::UpdateStats;

/// Where a request came from, for defaults, history and "last seen".
#[derive(Clone, Debug)]
pub struct Client {
    pub protocol: Protocol,
    pub source: IpAddr,
    pub agent: Option<String>,
}

/// One entry of a request's list of hosts, read both ways: No-IP lets a group's name stand
/// where a host's does, and a group's name may look like a host's.
#[derive(Clone, Debug)]
pub struct HostEntry {
    pub host: Result<Fqdn, NameError>,
    /// `None` when the entry cannot name a group, or the protocol has no groups.
    pub group: Option<GroupName>,
}

impl HostEntry {
    /// An entry of a protocol that names a host or a group.
    pub fn host_or_group(entry: &str) -> HostEntry {
        HostEntry {
            host: Fqdn::parse(entry),
            group: GroupName::parse(entry).ok(),
        }
    }

    /// An entry of a protocol that names hosts only.
    pub fn host(name: Result<Fqdn, NameError>) -> HostEntry {
        HostEntry {
            host: name,
            group: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct UpdateRequest {
    pub credentials: Credentials,
    /// What to update, in request order; each is answered in that order.
    pub hosts: Vec<HostEntry>,
    /// Addresses to set. Neither given nor preserved: the client's source address, for
    /// its family.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// The router's IPv6 prefix: every host of the account that follows it moves with it,
    /// in the same revision, and the account keeps it for hosts made to follow it later.
    pub ipv6_prefix: Option<Ipv6Prefix>,
    /// Families to leave as they are, and to report as they are.
    pub preserve_ipv4: bool,
    pub preserve_ipv6: bool,
    /// `Some(true)`: take the hosts offline (a premium feature), keeping their addresses;
    /// otherwise an update brings them online.
    pub offline: Option<bool>,
    pub settings: HostSettings,
    /// Rexx: an address updates only a family the host already has (else `NoHost`).
    pub existing_families_only: bool,
    pub client: Client,
    /// A person's change (the account manager's, the API's): the actor the audit log names
    /// for each host it changes (`host.change`). `None` for devices, whose updates are
    /// history. Set by `access::HostWriter::request`.
    pub audited: Option<String>,
}

impl UpdateRequest {
    /// A request to set `ipv4`/`ipv6` (neither: the source address), nothing else.
    pub fn new(
        credentials: Credentials,
        hosts: Vec<HostEntry>,
        (ipv4, ipv6): (Option<Ipv4Addr>, Option<Ipv6Addr>),
        client: Client,
    ) -> UpdateRequest {
        UpdateRequest {
            credentials,
            hosts,
            ipv4,
            ipv6,
            ipv6_prefix: None,
            preserve_ipv4: false,
            preserve_ipv6: false,
            offline: None,
            settings: HostSettings::default(),
            existing_families_only: false,
            client,
            audited: None,
        }
    }
}

/// Host settings an update may change (DynDNS's three, and the account manager's others);
/// `None` leaves one as it is, `Some(None)` removes an optional one.
#[derive(Clone, Debug, Default)]
pub struct HostSettings {
    pub wildcard: Option<bool>,
    pub mx: Option<Option<Fqdn>>,
    pub backmx: Option<bool>,
    /// Checked against the zone's bounds by the caller.
    pub ttl: Option<Option<u32>>,
    pub txt: Option<Vec<String>>,
    /// An alias serves a CNAME to this name instead of addresses.
    pub alias: Option<Option<Fqdn>>,
    /// What the host serves while offline.
    pub offline_addresses: Option<(Option<Ipv4Addr>, Option<Ipv6Addr>)>,
    /// Address families whose address is removed (RFC 2136's deletes): (IPv4, IPv6).
    pub remove_addresses: (bool, bool),
    /// TXT values added or removed, in order, after `txt` is set.
    pub txt_edits: Vec<TxtEdit>,
    /// `Some(id)`: the host's IPv6 address follows the account's prefix, ending in `id`;
    /// `Some(None)`: it no longer does, and keeps the address it has.
    pub ipv6_interface_id: Option<Option<InterfaceId>>,
}

/// TXT values a name may have, and the longest one (one DNS character-string).
pub const MAX_TXT: usize = 10;
pub const MAX_TXT_LENGTH: usize = 255;

/// Whether `values` may be a name's TXT records; the reason when not.
pub fn check_txt(values: &[String]) -> Result<(), String> {
    if values.len() > MAX_TXT {
        return Err(format!("A name has at most {MAX_TXT} TXT records."));
    }
    if values
        .iter()
        .any(|t| t.is_empty() || t.len() > MAX_TXT_LENGTH || t.chars().any(char::is_control))
    {
        return Err(format!(
            "A TXT record is 1 to {MAX_TXT_LENGTH} characters, on one line."
        ));
    }
    Ok(())
}

/// Which TXT records of a host: its own, or those at `_acme-challenge.<host>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxtAt {
    Host,
    AcmeChallenge,
}

/// A change to a name's TXT values. Applied to the locked row, so two certificate clients
/// adding values at once both keep theirs; a name already at [`MAX_TXT`] takes no more.
#[derive(Clone, Debug)]
pub struct TxtEdit {
    pub at: TxtAt,
    pub change: TxtChange,
}

#[derive(Clone, Debug)]
pub enum TxtChange {
    Add(String),
    Remove(String),
    /// Every value goes.
    Clear,
}

impl TxtEdit {
    pub fn apply(&self, host: &mut HostState) {
        let values = match self.at {
            TxtAt::Host => &mut host.txt,
            TxtAt::AcmeChallenge => &mut host.acme_txt,
        };
        match &self.change {
            TxtChange::Add(value) => {
                if !values.contains(value) && values.len() < MAX_TXT {
                    values.push(value.clone());
                }
            }
            TxtChange::Remove(value) => values.retain(|v| v != value),
            TxtChange::Clear => values.clear(),
        }
    }
}

impl HostSettings {
    /// Why these settings cannot be `host`'s, if the alias they set cannot: the rule of
    /// every surface that sets aliases. A loop of aliases would answer a CNAME chain that
    /// never ends.
    pub async fn alias_refusal(
        &self,
        db: &Db,
        host: &Fqdn,
    ) -> Result<Option<&'static str>, DbError> {
        let Some(Some(target)) = &self.alias else {
            return Ok(None);
        };
        if target == host {
            return Ok(Some("A host cannot be an alias of itself."));
        }
        let loops = db.alias_loops(host, target).await?;
        Ok(loops.then_some(
            "That alias would make a loop: through its own aliases, the target leads back here.",
        ))
    }

    fn apply(&self, host: &mut HostState) {
        if let Some(wildcard) = self.wildcard {
            host.wildcard = wildcard;
        }
        if let Some(mx) = &self.mx {
            host.mx.clone_from(mx);
        }
        if let Some(backmx) = self.backmx {
            host.backmx = backmx;
        }
        if let Some(ttl) = self.ttl {
            host.ttl = ttl;
        }
        if let Some(txt) = &self.txt {
            host.txt.clone_from(txt);
        }
        if let Some(alias) = &self.alias {
            host.alias.clone_from(alias);
        }
        if let Some((ipv4, ipv6)) = self.offline_addresses {
            (host.offline_ipv4, host.offline_ipv6) = (ipv4, ipv6);
        }
        if self.remove_addresses.0 {
            host.ipv4 = None;
        }
        if self.remove_addresses.1 {
            host.ipv6 = None;
        }
        for edit in &self.txt_edits {
            edit.apply(host);
        }
        if let Some(id) = self.ipv6_interface_id {
            host.ipv6_interface_id = id;
        }
    }
}

/// The addresses a request set, IPv4 first when both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

/// The outcome for one requested name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostResult {
    Changed(Addresses),
    Unchanged(Addresses),
    /// The entry is not a valid host name.
    NotFqdn,
    /// No such host, or not one the caller may change: never says which.
    NoHost,
    /// The name is in no zone this account may use: another account's own zone, or none
    /// of the service's (Rexx's `OS_DOMAIN`; elsewhere the same as `NoHost`).
    ForeignZone,
    /// The host had too many updates lately (see [`AbuseLimit`]), or the operator blocked
    /// it or its account; nothing changed.
    Abuse,
}

/// Why a whole request failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("wrong credentials")]
    BadAuth(AuthFailure),
    #[error("the account is not active")]
    AccountInactive,
    /// The user's role may not change DNS (a viewer).
    #[error("this user may not change DNS")]
    ReadOnly,
    /// The request asks for a feature the account's plan does not have.
    #[error("the account's plan does not include this")]
    NotOnPlan,
    #[error("the database is unavailable")]
    Unavailable(#[source] DbError),
    /// Too many passwords are being checked at once: try again shortly.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The committer stopped before answering: the process is stopping.
    #[error("the update was interrupted")]
    Interrupted,
    /// The address to set is in a range the operator blocked (someone else's network).
    #[error("updates to {0} are blocked")]
    AddressBlocked(IpAddr),
}

impl From<DbError> for UpdateError {
    fn from(e: DbError) -> Self {
        UpdateError::Unavailable(e)
    }
}

/// How much the update service takes before it says `abuse` or stops listening.
#[derive(Clone, Copy, Debug)]
pub struct UpdateLimits {
    pub updates_per_host: AbuseLimit,
    pub auth_failures_per_source: AbuseLimit,
    /// Wrong passwords per login from all sources together (`DYN53_GUESS_LIMIT`).
    pub password_guesses_per_login: AbuseLimit,
}

/// Who is updating, and within which limits.
struct Principal {
    /// The user, or the key's owner.
    user: UserAuth,
    account: AccountId,
    /// Blocked by the operator: every host answers `abuse`.
    blocked: bool,
    plan: Plan,
    may_change_dns: bool,
    key: Option<KeyAuth>,
}

impl Principal {
    fn may_update(&self, host: &HostState) -> bool {
        self.may_change_dns
            && host.account == self.account
            && self
                .key
                .as_ref()
                .and_then(|k| k.hosts.as_ref())
                .is_none_or(|ids| ids.contains(&host.id))
    }
}

/// What an entry of the request came to once the account's hosts and groups were read.
enum Target {
    /// Answered without a host: `NotFqdn`, `NoHost` or `ForeignZone`.
    Answer(HostResult),
    Host(Fqdn),
    /// A group's members: its line is a failure of any of them, else `good` when one
    /// changed, else `nochg`.
    Group(Vec<Fqdn>),
}

/// An authenticated request, ready to apply.
struct Job {
    principal: Principal,
    /// Hosts over their abuse limit: answered `abuse`, left alone.
    over_limit: Vec<i64>,
    targets: Vec<Target>,
    addresses: Addresses,
    /// (IPv4, IPv6) kept as they are, and reported.
    preserve: (bool, bool),
    /// Take the hosts offline, their addresses kept and reported.
    offline: bool,
    settings: HostSettings,
    existing_families_only: bool,
    seen: Seen,
    /// The actor of a person's change, audited for each host it changes.
    audited: Option<String>,
    prefix: PrefixPlan,
}

/// What an update does with IPv6 prefixes.
#[derive(Default)]
struct PrefixPlan {
    /// What following hosts' addresses are made of: the prefix the request sent, else the
    /// account's when the request makes a host follow it.
    prefix: Option<Ipv6Prefix>,
    /// Whether the request sent `prefix`: its hosts then report their IPv6 address.
    sent: bool,
    /// The account's hosts that follow the prefix sent and are not named: they move too.
    followers: Vec<Fqdn>,
    /// The account's prefix from now on, when the request sent a new one.
    keep: Option<Ipv6Prefix>,
}

impl Job {
    /// Every host the request names, groups expanded.
    fn names(&self) -> impl Iterator<Item = &Fqdn> {
        self.targets.iter().flat_map(|t| match t {
            Target::Host(name) => std::slice::from_ref(name),
            Target::Group(names) => names.as_slice(),
            Target::Answer(_) => &[],
        })
    }

    /// Every host the request may change: those it names, and those following its prefix.
    fn written(&self) -> impl Iterator<Item = &Fqdn> {
        self.names().chain(&self.prefix.followers)
    }

    /// Applies the request to `hosts` (by name; at least the hosts it names, as they are
    /// now), in request order: the answer for each entry, and a history entry for each host
    /// it checked in.
    fn apply(
        &self,
        hosts: &mut HashMap<String, HostState>,
    ) -> (Vec<HostResult>, Vec<HistoryEntry>) {
        let mut results = Vec::with_capacity(self.targets.len());
        let mut history = Vec::new();
        for target in &self.targets {
            results.push(match target {
                Target::Answer(result) => *result,
                Target::Host(name) => self.apply_one(name, hosts, &mut history),
                Target::Group(names) => {
                    let each: Vec<HostResult> = names
                        .iter()
                        .map(|name| self.apply_one(name, hosts, &mut history))
                        .collect();
                    group_result(&each)
                }
            });
        }
        // A prefix moves the hosts that follow it only with an update that was taken; the
        // update then changed DNS, and says `good` for its hosts.
        if results
            .iter()
            .any(|r| matches!(r, HostResult::Changed(_) | HostResult::Unchanged(_)))
        {
            let before = history.len();
            for name in &self.prefix.followers {
                self.move_follower(name, hosts, &mut history);
            }
            if history.len() > before {
                for result in &mut results {
                    if let HostResult::Unchanged(now) = result {
                        *result = HostResult::Changed(*now);
                    }
                }
            }
        }
        (results, history)
    }

    /// A host the request does not name follows the prefix it sent: in its history only
    /// when it moved.
    fn move_follower(
        &self,
        name: &Fqdn,
        hosts: &mut HashMap<String, HostState>,
        history: &mut Vec<HistoryEntry>,
    ) {
        let Some(host) = hosts
            .get_mut(name.as_str())
            .filter(|h| self.principal.may_update(h) && !h.blocked)
        else {
            return;
        };
        let (Some(prefix), Some(id)) = (self.prefix.prefix, host.ipv6_interface_id) else {
            return;
        };
        let address = Some(prefix.address_for(id));
        if host.ipv6 != address {
            host.ipv6 = address;
            history.push(HistoryEntry {
                host: host.clone(),
                seen: self.seen.clone(),
                changed: true,
            });
        }
    }

    fn apply_one(
        &self,
        name: &Fqdn,
        hosts: &mut HashMap<String, HostState>,
        history: &mut Vec<HistoryEntry>,
    ) -> HostResult {
        let Some(host) = hosts
            .get_mut(name.as_str())
            .filter(|h| self.principal.may_update(h))
        else {
            return HostResult::NoHost;
        };
        let lacks_family = (self.addresses.ipv4.is_some() && host.ipv4.is_none())
            || (self.addresses.ipv6.is_some() && host.ipv6.is_none());
        if self.existing_families_only && lacks_family {
            return HostResult::NoHost;
        }
        if self.principal.blocked || host.blocked || self.over_limit.contains(&host.id) {
            return HostResult::Abuse;
        }
        let before = host.clone();
        // A host following the prefix takes no IPv6 address of its own: a router's update
        // carries the router's address besides the prefix.
        let follows = self
            .settings
            .ipv6_interface_id
            .unwrap_or(host.ipv6_interface_id)
            .is_some();
        if !self.offline {
            // The families are independent: a family the request does not name is kept.
            host.ipv4 = self.addresses.ipv4.or(host.ipv4);
            if !follows {
                host.ipv6 = self.addresses.ipv6.or(host.ipv6);
            }
        }
        host.offline = self.offline;
        self.settings.apply(host);
        if let (Some(id), Some(prefix)) = (host.ipv6_interface_id, self.prefix.prefix) {
            host.ipv6 = Some(prefix.address_for(id));
        }
        let changed = *host != before;
        history.push(HistoryEntry {
            host: host.clone(),
            seen: self.seen.clone(),
            changed,
        });
        // The families asked about, as they now are; offline: the stored addresses.
        let now = if self.offline {
            Addresses {
                ipv4: host.ipv4,
                ipv6: host.ipv6,
            }
        } else {
            Addresses {
                ipv4: self
                    .addresses
                    .ipv4
                    .or(host.ipv4.filter(|_| self.preserve.0)),
                ipv6: if follows && (self.addresses.ipv6.is_some() || self.prefix.sent) {
                    host.ipv6
                } else {
                    self.addresses
                        .ipv6
                        .or(host.ipv6.filter(|_| self.preserve.1))
                },
            }
        };
        if changed {
            HostResult::Changed(now)
        } else {
            HostResult::Unchanged(now)
        }
    }
}

/// A group's answer: the first failure among its hosts, else the first change, else the
/// first `nochg`; an empty group has no host to update.
fn group_result(each: &[HostResult]) -> HostResult {
    let failed = |r: &&HostResult| !matches!(r, HostResult::Changed(_) | HostResult::Unchanged(_));
    each.iter()
        .find(failed)
        .or_else(|| each.iter().find(|r| matches!(r, HostResult::Changed(_))))
        .or(each.first())
        .copied()
        .unwrap_or(HostResult::NoHost)
}

#[derive(Clone)]
pub struct Updater {
    db: Db,
    passwords: Arc<VerifiedPasswords>,
    /// argon2id, bounded: the service every path shares.
    hashing: PasswordHashing,
    committer: Committer,
    check_ins: CheckIns,
    /// Accepted updates per host.
    updates: Arc<Counter<i64>>,
    /// Wrong credentials per source address.
    auth_failures: Arc<Counter<IpAddr>>,
    /// Wrong passwords per login, from any source: a cap on guessing from many addresses.
    /// Keys, which cannot be guessed, still work when it is reached.
    password_guesses: Arc<Counter<String>>,
    /// Where the counters are shared by a fleet's replicas, if they are.
    shared_limits: Option<SharedLimits>,
    /// Agents and address ranges refused.
    blocklists: Arc<Blocklists>,
    limits: UpdateLimits,
    /// What was answered, for the console.
    stats: Arc<UpdateStats>,
}

impl Updater {
    /// Starts the committer, the check-in writer and the statistics' flusher: call within
    /// the Tokio runtime. The limits are counted in `shared`'s Redis when given, else in this
    /// process.
    pub fn new(
        db: Db,
        feed: Arc<LocalCommits>,
        limits: UpdateLimits,
        hashing: PasswordHashing,
        shared: Option<SharedLimits>,
        blocklists: Arc<Blocklists>,
    ) -> Updater {
        let stats = Arc::new(UpdateStats::new());
        tokio::spawn(stats.clone().keep_flushing(db.clone()));
        Updater {
            blocklists,
            stats,
            limits,
            passwords: Arc::new(VerifiedPasswords::new()),
            hashing,
            committer: Committer::start(db.clone(), feed),
            check_ins: CheckIns::start(db.clone()),
            updates: Arc::new(Counter::new(
                limits.updates_per_host,
                shared.as_ref(),
                "updates",
            )),
            auth_failures: Arc::new(Counter::new(
                limits.auth_failures_per_source,
                shared.as_ref(),
                "auth-failures",
            )),
            password_guesses: Arc::new(Counter::new(
                limits.password_guesses_per_login,
                shared.as_ref(),
                "password-guesses",
            )),
            shared_limits: shared,
            db,
        }
    }

    pub fn limits(&self) -> UpdateLimits {
        self.limits
    }

    /// `None` when the limits are this process's own; else whether they are shared with
    /// the fleet right now (`false`: Redis failed, counted here meanwhile).
    pub fn limits_shared(&self) -> Option<bool> {
        self.shared_limits.as_ref().map(SharedLimits::is_shared)
    }

    /// Whether `agent` is blocked (an adapter then refuses the request with `answer`, counted
    /// as such).
    pub fn refuses_agent(&self, protocol: Protocol, agent: &str, answer: &'static str) -> bool {
        let refused = self.blocklists.agent_blocked(agent);
        if refused {
            self.stats.agent(agent);
            self.stats.refused(protocol, answer);
        }
        refused
    }

    /// Adds the statistics counted so far to the database's: at a graceful stop.
    pub async fn flush_stats(&self) {
        self.stats.flush(&self.db).await;
    }

    pub async fn update(&self, req: UpdateRequest) -> Result<Vec<HostResult>, UpdateError> {
        let (protocol, source) = (req.client.protocol, req.client.source);
        if let Some(agent) = &req.client.agent {
            self.stats.agent(agent);
        }
        let started = std::time::Instant::now();
        let result = self.decide(req).await;
        self.stats
            .answered(protocol, source, &result, started.elapsed());
        result
    }

    async fn decide(&self, req: UpdateRequest) -> Result<Vec<HostResult>, UpdateError> {
        let names: Vec<&Fqdn> = req
            .hosts
            .iter()
            .filter_map(|h| h.host.as_ref().ok())
            .collect();
        let (mut principal, mut hosts) = self
            .authenticate(&req.credentials, &names, req.client.source)
            .await?;
        if !principal.may_change_dns {
            return Err(UpdateError::ReadOnly);
        }
        let targets = self.resolve(&req.hosts, &mut principal, &mut hosts).await?;
        if targets
            .iter()
            .all(|t| matches!(t, Target::Answer(HostResult::NotFqdn)))
        {
            return Ok(vec![HostResult::NotFqdn; targets.len()]);
        }
        let offline = req.offline == Some(true);
        if offline && principal.plan != Plan::Premium {
            return Err(UpdateError::NotOnPlan);
        }
        let preserve = (req.preserve_ipv4, req.preserve_ipv6);
        let addresses = match (req.ipv4, req.ipv6, req.client.source) {
            _ if preserve != (false, false) || req.ipv6_prefix.is_some() => Addresses {
                ipv4: req.ipv4,
                ipv6: req.ipv6,
            },
            (None, None, IpAddr::V4(v4)) => Addresses {
                ipv4: Some(v4),
                ipv6: None,
            },
            (None, None, IpAddr::V6(v6)) => Addresses {
                ipv4: None,
                ipv6: Some(v6),
            },
            (ipv4, ipv6, _) => Addresses { ipv4, ipv6 },
        };
        if let Some(blocked) = self.blocklists.blocked_of(addresses.ipv4, addresses.ipv6) {
            return Err(UpdateError::AddressBlocked(blocked));
        }
        let makes_follow = matches!(req.settings.ipv6_interface_id, Some(Some(_)));
        let prefix = self
            .plan_prefix(req.ipv6_prefix, makes_follow, &mut principal, &mut hosts)
            .await?;
        let mut job = Job {
            prefix,
            principal,
            over_limit: Vec::new(),
            targets,
            addresses,
            preserve,
            offline,
            settings: req.settings,
            existing_families_only: req.existing_families_only,
            audited: req.audited,
            seen: Seen {
                at: Utc::now(),
                protocol: req.client.protocol,
                source: Some(req.client.source),
                agent: req.client.agent,
            },
        };
        // Each host the caller may update counts once per request; a person editing in the
        // account manager is not a device in a loop, and is not counted.
        let mut counted: Vec<i64> = Vec::new();
        let mut over_limit = Vec::new();
        let counts = !matches!(req.credentials.secret, Secret::SignedIn(_));
        for name in job.names().filter(|_| counts) {
            if let Some(host) = hosts
                .get(name.as_str())
                .filter(|h| job.principal.may_update(h))
                && !counted.contains(&host.id)
            {
                counted.push(host.id);
                if !self.updates.admit(host.id).await {
                    over_limit.push(host.id);
                }
            }
        }
        job.over_limit = over_limit;
        if !job.over_limit.is_empty() {
            let over: Vec<(i64, String)> = hosts
                .iter()
                .filter(|(_, h)| job.over_limit.contains(&h.id))
                .map(|(name, h)| (h.id, name.clone()))
                .collect();
            let limit = self.limits.updates_per_host;
            notify::over_abuse_limit(&self.db, job.principal.account, &over, limit);
        }

        let (results, history) = job.apply(&mut hosts);
        if history.iter().any(|h| h.changed) || job.prefix.keep.is_some() {
            // Decided again under lock: another update may have come first.
            return self.committer.commit(job).await;
        }
        let key = job.principal.key.map(|k| (k.key_id, job.seen));
        self.check_ins.record(history, key).await;
        Ok(results)
    }

    /// What each entry names: a host of the account, else a group of the account (whose
    /// members join `hosts`), else nothing. A host-limited key learns its limit for the
    /// groups' members too.
    async fn resolve(
        &self,
        entries: &[HostEntry],
        principal: &mut Principal,
        hosts: &mut HashMap<String, HostState>,
    ) -> Result<Vec<Target>, UpdateError> {
        let is_host = |entry: &HostEntry| {
            entry
                .host
                .as_ref()
                .is_ok_and(|name| hosts.contains_key(name.as_str()))
        };
        let groups: Vec<&GroupName> = entries
            .iter()
            .filter(|e| !is_host(e))
            .filter_map(|e| e.group.as_ref())
            .collect();
        let mut members = HashMap::new();
        if !groups.is_empty() {
            members.extend(self.db.group_members(principal.account, &groups).await?);
            if let Some(key) = principal.key.as_mut().filter(|k| k.hosts.is_some()) {
                key.hosts = Some(self.db.key_host_ids(key.key_id).await?);
            }
        }
        let is_group = |entry: &HostEntry| {
            entry
                .group
                .as_ref()
                .is_some_and(|g| members.contains_key(g))
        };
        // Names that are neither: in a zone this account may use, or not?
        let zones = if entries
            .iter()
            .any(|e| e.host.is_ok() && !is_host(e) && !is_group(e))
        {
            self.db.zones().await?
        } else {
            Vec::new()
        };
        let foreign = |name: &Fqdn| {
            let zone = zones
                .iter()
                .filter(|z| name.is_within(&z.name))
                .max_by_key(|z| z.name.as_str().len());
            zone.is_none_or(|z| z.account.is_some_and(|a| a != principal.account))
        };
        let targets = entries
            .iter()
            .map(|entry| match (&entry.host, &entry.group) {
                (Ok(name), _) if is_host(entry) => Target::Host(name.clone()),
                (_, Some(group)) if is_group(entry) => Target::Group(
                    members[group]
                        .iter()
                        .map(|(name, _)| name.clone())
                        .collect(),
                ),
                // Not a host name, and no group of this account: as dyndns2 answers any
                // name that is not fully qualified.
                (Err(_), _) => Target::Answer(HostResult::NotFqdn),
                (Ok(name), _) if foreign(name) => Target::Answer(HostResult::ForeignZone),
                _ => Target::Answer(HostResult::NoHost),
            })
            .collect();
        for (name, state) in members.into_values().flatten() {
            hosts.insert(name.to_string(), state);
        }
        Ok(targets)
    }

    /// The prefix the request's hosts follow, and the account's other hosts that follow
    /// the prefix it sent (a host-limited key moves those in its limit, and leaves the
    /// account's prefix as it is).
    async fn plan_prefix(
        &self,
        sent: Option<Ipv6Prefix>,
        makes_follow: bool,
        principal: &mut Principal,
        hosts: &mut HashMap<String, HostState>,
    ) -> Result<PrefixPlan, UpdateError> {
        let Some(prefix) = sent else {
            return Ok(PrefixPlan {
                prefix: match makes_follow {
                    true => self.db.account_ipv6_prefix(principal.account).await?,
                    false => None,
                },
                ..PrefixPlan::default()
            });
        };
        let (kept, following) = self.db.prefix_followers(principal.account).await?;
        let limited = match principal.key.as_mut().filter(|k| k.hosts.is_some()) {
            Some(key) => {
                key.hosts = Some(self.db.key_host_ids(key.key_id).await?);
                true
            }
            None => false,
        };
        let mut followers = Vec::new();
        for (name, state) in following {
            // A host already here is one the request names: it follows as one.
            if principal.may_update(&state) && !hosts.contains_key(name.as_str()) {
                hosts.insert(name.to_string(), state);
                followers.push(name);
            }
        }
        Ok(PrefixPlan {
            prefix: Some(prefix),
            sent: true,
            followers,
            keep: (kept != Some(prefix) && !limited && !principal.blocked).then_some(prefix),
        })
    }

    /// Whether `credentials` may update (MintDNS's user check): `Ok` or why not.
    pub async fn check(
        &self,
        credentials: &Credentials,
        source: IpAddr,
    ) -> Result<(), UpdateError> {
        self.authenticate(credentials, &[], source)
            .await
            .map(|_| ())
    }

    /// The host names `credentials` may update, sorted (MintDNS's domain list): the
    /// account's, or those a host-limited key names; none for a viewer.
    pub async fn updatable_hosts(
        &self,
        credentials: &Credentials,
        source: IpAddr,
    ) -> Result<Vec<Fqdn>, UpdateError> {
        let (principal, hosts) = self.account_hosts(credentials, source).await?;
        Ok(hosts
            .into_iter()
            .filter(|(_, state)| principal.may_update(state))
            .map(|(name, _)| name)
            .collect())
    }

    /// The account `credentials` act in and the host names they may see there, sorted: the
    /// account's, or those a host-limited key names (a viewer sees them too).
    pub async fn reachable_hosts(
        &self,
        credentials: &Credentials,
        source: IpAddr,
    ) -> Result<(AccountId, Vec<Fqdn>), UpdateError> {
        let (principal, hosts) = self.account_hosts(credentials, source).await?;
        let limit = principal.key.as_ref().and_then(|k| k.hosts.as_ref());
        let names = hosts
            .into_iter()
            .filter(|(_, state)| limit.is_none_or(|ids| ids.contains(&state.id)))
            .map(|(name, _)| name)
            .collect();
        Ok((principal.account, names))
    }

    /// Who `credentials` act for: the user (a key's owner) and the key with its whole host
    /// limit. The REST API asks this of an API key once per call.
    pub async fn holder(
        &self,
        credentials: &Credentials,
        source: IpAddr,
    ) -> Result<(UserAuth, Option<KeyAuth>), UpdateError> {
        let (mut principal, _) = self.authenticate(credentials, &[], source).await?;
        if let Some(key) = principal.key.as_mut().filter(|k| k.hosts.is_some()) {
            key.hosts = Some(self.db.key_host_ids(key.key_id).await?);
        }
        Ok((principal.user, principal.key))
    }

    /// The principal and every host of its account, by name, with a key's whole limit.
    async fn account_hosts(
        &self,
        credentials: &Credentials,
        source: IpAddr,
    ) -> Result<(Principal, Vec<(Fqdn, HostState)>), UpdateError> {
        let (mut principal, _) = self.authenticate(credentials, &[], source).await?;
        // Authentication resolves a key's limit for the names asked only: here, all of them.
        if let Some(key) = principal.key.as_mut().filter(|k| k.hosts.is_some()) {
            key.hosts = Some(self.db.key_host_ids(key.key_id).await?);
        }
        let mut hosts = self.db.host_states(principal.account).await?;
        hosts.sort_by(|a, b| a.0.cmp(&b.0));
        Ok((principal, hosts))
    }
}
