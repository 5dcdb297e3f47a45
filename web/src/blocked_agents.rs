//! User-Agents the operator refuses (`DYN53_BLOCKED_AGENTS`): broken clients in a loop, which
//! dyndns2 answers `badagent`.

/// User-Agents the operator refuses (`DYN53_BLOCKED_AGENTS`): case-insensitive substrings.
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
}
