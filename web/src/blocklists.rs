//! The operator's block lists: User-Agents refused (broken clients in a loop, which dyndns2
//! answers `badagent`) and address ranges no update may point a name into (someone else's
//! infrastructure, as deSEC refuses). `DYN53_BLOCKED_AGENTS` gives agents that always
//! apply; the staff edit the rest on the console's abuse page, stored in the database, and
//! every replica reloads them every few seconds, so a change applies everywhere without a
//! restart.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipnet::IpNet;

use crate::db::{BlockEntry, BlockKind, Db, DbResult};

/// How often every replica reads the lists again.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// User-Agents refused: case-insensitive substrings.
#[derive(Clone, Debug, Default)]
pub struct BlockedAgents(Vec<String>);

impl BlockedAgents {
    pub fn new(patterns: &[String]) -> Self {
        Self(
            patterns
                .iter()
                .map(|p| p.trim().to_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
        )
    }

    pub fn blocks(&self, agent: &str) -> bool {
        let agent = agent.to_lowercase();
        self.0
            .iter()
            .any(|pattern| agent.contains(pattern.as_str()))
    }

    pub fn patterns(&self) -> &[String] {
        &self.0
    }
}

/// `text` as a range to block: CIDR (`192.0.2.0/24`, `2001:db8::/32`) or one address,
/// host bits cleared; the reason when it is neither.
pub fn parse_range(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => text.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
            format!(
                "{text:?} is not an address range: write it as CIDR, e.g. 192.0.2.0/24 or \
                 2001:db8::/32"
            )
        })?,
    };
    Ok(net.trunc())
}

/// The lists as last read.
#[derive(Default)]
struct Lists {
    agents: BlockedAgents,
    ranges: Vec<IpNet>,
    entries: Vec<BlockEntry>,
}

/// The block lists in force in this process: the environment's agents and the database's
/// entries as last reloaded.
pub struct Blocklists {
    db: Db,
    configured: BlockedAgents,
    lists: RwLock<Arc<Lists>>,
}

impl Blocklists {
    /// The configured agents only, until the first [`reload`](Blocklists::reload).
    pub fn new(db: Db, configured: BlockedAgents) -> Blocklists {
        let lists = Lists {
            agents: configured.clone(),
            ..Lists::default()
        };
        Blocklists {
            db,
            configured,
            lists: RwLock::new(Arc::new(lists)),
        }
    }

    fn current(&self) -> Arc<Lists> {
        self.lists.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn agent_blocked(&self, agent: &str) -> bool {
        self.current().agents.blocks(agent)
    }

    /// The first of a name's addresses that lies in a blocked range, if any.
    pub fn blocked_of(&self, ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>) -> Option<IpAddr> {
        [ipv4.map(IpAddr::V4), ipv6.map(IpAddr::V6)]
            .into_iter()
            .flatten()
            .find(|a| self.address_blocked(*a))
    }

    fn address_blocked(&self, address: IpAddr) -> bool {
        self.current()
            .ranges
            .iter()
            .any(|net| net.contains(&address))
    }

    /// The agents `DYN53_BLOCKED_AGENTS` blocks, which the console cannot lift.
    pub fn configured_agents(&self) -> &[String] {
        self.configured.patterns()
    }

    /// The stored entries, as last read.
    pub fn entries(&self) -> Vec<BlockEntry> {
        self.current().entries.clone()
    }

    /// Reads the stored lists again.
    pub async fn reload(&self) -> DbResult<()> {
        let entries = self.db.blocklist().await?;
        let mut agents: Vec<String> = self.configured.patterns().to_vec();
        let mut ranges = Vec::new();
        for entry in &entries {
            match entry.kind {
                BlockKind::Agent => agents.push(entry.pattern.clone()),
                BlockKind::Range => match parse_range(&entry.pattern) {
                    Ok(net) => ranges.push(net),
                    Err(e) => tracing::warn!("a blocked range is unreadable and left out: {e}"),
                },
            }
        }
        let lists = Lists {
            agents: BlockedAgents::new(&agents),
            ranges,
            entries,
        };
        *self.lists.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(lists);
        Ok(())
    }

    /// Reloads every [`RELOAD_EVERY`], for as long as the process runs.
    pub async fn keep_reloading(self: Arc<Self>) {
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = self.reload().await {
                tracing::warn!("reloading the block lists: {e}");
            }
        }
    }
}
