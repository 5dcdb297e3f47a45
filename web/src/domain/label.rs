use std::fmt;

/// One label a user picks for a host under a zone (`home` in `home.dyn.example`): 1 to 63
/// letters, digits or inner hyphens, lowercase, and not one the service keeps for itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label(String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("a name has 1 to 63 letters, digits or hyphens (not at either end)")]
    Invalid,
    #[error("that name is reserved")]
    Reserved,
}

/// Names that would mislead (the service's own, mail and name servers, well-known
/// autodiscovery names).
const RESERVED: &[&str] = &[
    "www",
    "mail",
    "smtp",
    "imap",
    "pop",
    "pop3",
    "ns",
    "ns1",
    "ns2",
    "ns3",
    "ns4",
    "dns",
    "admin",
    "administrator",
    "root",
    "hostmaster",
    "postmaster",
    "webmaster",
    "abuse",
    "support",
    "help",
    "api",
    "app",
    "login",
    "signup",
    "account",
    "status",
    "dyn53",
    "localhost",
    "wpad",
    "autodiscover",
    "autoconfig",
    "isatap",
];

impl Label {
    pub fn parse(input: &str) -> Result<Label, LabelError> {
        let label = input.trim().to_ascii_lowercase();
        let ldh = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if label.is_empty()
            || label.len() > 63
            || !ldh
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(LabelError::Invalid);
        }
        if RESERVED.contains(&label.as_str()) {
            return Err(LabelError::Reserved);
        }
        Ok(Label(label))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(Label::parse(" Home-1 ").unwrap().as_str(), "home-1");
        assert_eq!(Label::parse("WWW"), Err(LabelError::Reserved));
        for bad in ["", "-a", "a-", "a.b", "a_b", &"a".repeat(64)] {
            assert_eq!(Label::parse(bad), Err(LabelError::Invalid), "{bad:?}");
        }
    }
}
