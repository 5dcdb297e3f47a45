use std::fmt;

/// The name of a group of an account's hosts: 1 to 64 letters, digits, `-`, `_` or `.`,
/// lowercase, so that `Home` and `home` name one group. A group name may look like a host
/// name (No-IP allows both in one list); where both exist, the host is meant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupName(String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a group name has 1 to 64 letters, digits, '-', '_' or '.'")]
pub struct GroupNameError;

impl GroupName {
    pub fn parse(input: &str) -> Result<GroupName, GroupNameError> {
        let name = input.trim();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            return Err(GroupNameError);
        }
        Ok(GroupName(name.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_and_trimmed() {
        assert_eq!(
            GroupName::parse(" Home_Net.1 ").unwrap().as_str(),
            "home_net.1"
        );
    }

    #[test]
    fn refuses_other_characters_and_lengths() {
        for bad in ["", " ", "a b", "a,b", "a/b", "grüppe", &"g".repeat(65)] {
            assert_eq!(GroupName::parse(bad), Err(GroupNameError), "{bad:?}");
        }
        assert!(GroupName::parse(&"g".repeat(64)).is_ok());
    }
}
