//! The feed: how zone data reaches a DNS node.
//!
//! The control plane turns every committed change into a [`Revision`]ed batch of
//! [`Change`]s. A node starts from a [`Snapshot`] and then applies batches strictly in
//! revision order. The transport is behind the [`Feed`] trait: in-process (fed by the
//! database outbox) in `dyn53 serve`, Redis for a fleet.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// The feed's sequence number. Revisions are contiguous: batch `n + 1` follows batch `n`.
pub type Revision = u64;

/// What a zone's apex serves. Names are lowercase ASCII (punycode), without a trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneData {
    pub name: String,
    /// TTL of the apex's SOA and NS records.
    pub ttl: u32,
    /// Primary name server (SOA MNAME).
    pub mname: String,
    /// Responsible mailbox in domain form (SOA RNAME), e.g. `hostmaster.dyn.example`.
    pub rname: String,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// SOA MINIMUM: the TTL of negative answers (RFC 2308).
    pub minimum: u32,
    pub ns: Vec<String>,
}

/// A mail exchanger of a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mx {
    pub preference: u16,
    pub exchange: String,
}

/// Everything a host name serves right now. The control plane has already applied the
/// host's state (offline behaviour, alias kind), so a node serves exactly this.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecords {
    /// The host's fully-qualified name, inside its zone.
    pub name: String,
    pub ttl: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub a: Vec<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aaaa: Vec<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mx: Vec<Mx>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub txt: Vec<String>,
    /// An alias host: answers CNAME for every type, and nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cname: Option<String>,
    /// `*.name` answers with this host's records too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wildcard: bool,
}

/// One change to the served data. Applying a change is idempotent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Create a zone or replace its apex data (its hosts are kept).
    ZoneUpsert(ZoneData),
    /// Remove a zone and every host in it.
    ZoneDelete { zone: String },
    /// Create a host or replace all of its records.
    HostUpsert { zone: String, host: HostRecords },
    /// Remove a host name.
    HostDelete { zone: String, name: String },
}

/// The changes committed together under one revision: applied all at once or not at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub revision: Revision,
    pub changes: Vec<Change>,
}

/// A zone with all its hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneSnapshot {
    pub zone: ZoneData,
    pub hosts: Vec<HostRecords>,
}

/// The complete served data as of `revision`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub revision: Revision,
    pub zones: Vec<ZoneSnapshot>,
}

/// Why a feed could not answer.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The source cannot be reached or read: the follower keeps serving and retries.
    #[error("feed unavailable: {0}")]
    Unavailable(String),
    /// The feed cannot continue from the node's revision (changes were trimmed away, or
    /// the source now holds other data): the follower reloads the snapshot.
    #[error("feed cannot continue: {0}")]
    Resync(String),
}

/// A source of zone data for a node.
pub trait Feed: Send + Sync + 'static {
    /// The complete current state.
    fn snapshot(&self) -> impl Future<Output = Result<Snapshot, FeedError>> + Send;

    /// Batches with a revision above `after`, in revision order. Waits until at least one
    /// is available, or returns an empty list after a short while (about a second) so the
    /// caller can check for shutdown. A batch whose revision is not `after + 1`, or
    /// [`FeedError::Resync`], means the node missed changes: the follower reloads the
    /// snapshot.
    fn next(&self, after: Revision) -> impl Future<Output = Result<Vec<Batch>, FeedError>> + Send;
}
