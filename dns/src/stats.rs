//! Query counters, for metrics and the node's status report.
//!
//! One relaxed increment per answered query on one shared cache line: cheap next to the
//! rest of a query, and the totals are derived when read rather than counted twice.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hickory_server::proto::op::ResponseCode;

/// Live counters of a running server; read them with [`Stats::snapshot`].
#[derive(Debug, Default)]
pub struct Stats {
    noerror: AtomicU64,
    nodata: AtomicU64,
    nxdomain: AtomicU64,
    refused: AtomicU64,
    formerr: AtomicU64,
    notimp: AtomicU64,
    servfail: AtomicU64,
    other: AtomicU64,
    truncated: AtomicU64,
    tcp: AtomicU64,
    rrl_dropped: AtomicU64,
    rrl_slipped: AtomicU64,
    rrl_logged: AtomicU64,
    cookies_valid: AtomicU64,
    cookies_new: AtomicU64,
}

/// The counters at one moment. `noerror` excludes `nodata` (NOERROR with an empty answer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub total: u64,
    pub noerror: u64,
    pub nodata: u64,
    pub nxdomain: u64,
    pub refused: u64,
    pub formerr: u64,
    pub notimp: u64,
    pub servfail: u64,
    /// Any other response code (e.g. BADVERS).
    pub other: u64,
    /// UDP answers sent with the TC bit.
    pub truncated: u64,
    /// Queries that came over TCP.
    pub tcp: u64,
    /// UDP answers rate limiting dropped (not in the counts above).
    pub rrl_dropped: u64,
    /// UDP answers rate limiting sent truncated and empty (also in `truncated`).
    pub rrl_slipped: u64,
    /// Answers rate limiting would have limited, sent in log-only mode.
    pub rrl_logged: u64,
    /// Queries with a valid server cookie of ours (never rate limited).
    pub cookies_valid: u64,
    /// Queries with a client cookie only, or a server cookie not (or no longer) valid.
    pub cookies_new: u64,
}

impl Stats {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one response.
    pub(crate) fn record(&self, rcode: ResponseCode, empty_answer: bool, tcp: bool) {
        let counter = match rcode {
            ResponseCode::NoError if empty_answer => &self.nodata,
            ResponseCode::NoError => &self.noerror,
            ResponseCode::NXDomain => &self.nxdomain,
            ResponseCode::Refused => &self.refused,
            ResponseCode::FormErr => &self.formerr,
            ResponseCode::NotImp => &self.notimp,
            ResponseCode::ServFail => &self.servfail,
            _ => &self.other,
        };
        counter.fetch_add(1, Relaxed);
        if tcp {
            self.tcp.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn record_truncated(&self) {
        self.truncated.fetch_add(1, Relaxed);
    }

    /// Counts an answer the rate limiter dropped.
    pub(crate) fn record_rrl_dropped(&self) {
        self.rrl_dropped.fetch_add(1, Relaxed);
    }

    /// Counts an answer the rate limiter slipped (sent truncated).
    pub(crate) fn record_rrl_slipped(&self) {
        self.rrl_slipped.fetch_add(1, Relaxed);
    }

    /// Counts an answer over the limit sent anyway (log-only mode).
    pub(crate) fn record_rrl_logged(&self) {
        self.rrl_logged.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_cookie(&self, valid: bool) {
        let counter = if valid {
            &self.cookies_valid
        } else {
            &self.cookies_new
        };
        counter.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let mut s = StatsSnapshot {
            total: 0,
            noerror: self.noerror.load(Relaxed),
            nodata: self.nodata.load(Relaxed),
            nxdomain: self.nxdomain.load(Relaxed),
            refused: self.refused.load(Relaxed),
            formerr: self.formerr.load(Relaxed),
            notimp: self.notimp.load(Relaxed),
            servfail: self.servfail.load(Relaxed),
            other: self.other.load(Relaxed),
            truncated: self.truncated.load(Relaxed),
            tcp: self.tcp.load(Relaxed),
            rrl_dropped: self.rrl_dropped.load(Relaxed),
            rrl_slipped: self.rrl_slipped.load(Relaxed),
            rrl_logged: self.rrl_logged.load(Relaxed),
            cookies_valid: self.cookies_valid.load(Relaxed),
            cookies_new: self.cookies_new.load(Relaxed),
        };
        s.total = s.noerror
            + s.nodata
            + s.nxdomain
            + s.refused
            + s.formerr
            + s.notimp
            + s.servfail
            + s.other;
        s
    }
}
