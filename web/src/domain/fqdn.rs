use std::fmt;

/// A fully-qualified host name: at least two labels, each 1-63 letters, digits or hyphens
/// (not at either end), at most 253 characters in all. Internationalised names are accepted
/// as Unicode and kept as punycode; the name is lowercase and has no trailing dot, so two
/// spellings of one name compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fqdn(String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("the name is longer than 253 characters")]
    TooLong,
    #[error("the name is not fully qualified")]
    NotQualified,
    #[error("a label is empty or longer than 63 characters")]
    BadLabelLength,
    #[error("a label has a character other than letters, digits and inner hyphens")]
    BadCharacter,
}

impl Fqdn {
    pub fn parse(input: &str) -> Result<Fqdn, NameError> {
        let trimmed = input.trim();
        let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        // Bound the work before IDNA processing sees a hostile input.
        if name.len() > 1024 {
            return Err(NameError::TooLong);
        }
        let ascii = if name.is_ascii() {
            name.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(name).map_err(|_| NameError::BadCharacter)?
        };
        if ascii.len() > 253 {
            return Err(NameError::TooLong);
        }
        let mut labels = 0;
        for label in ascii.split('.') {
            check_label(label)?;
            labels += 1;
        }
        if labels < 2 {
            return Err(NameError::NotQualified);
        }
        Ok(Fqdn(ascii))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `self` is `zone` or a name below it.
    pub fn is_within(&self, zone: &Fqdn) -> bool {
        self.0 == zone.0
            || (self.0.len() > zone.0.len()
                && self.0.ends_with(zone.0.as_str())
                && self.0.as_bytes()[self.0.len() - zone.0.len() - 1] == b'.')
    }

    /// The name and every ancestor with at least two labels, longest first.
    pub fn suffixes(&self) -> impl Iterator<Item = &str> {
        let name = self.0.as_str();
        std::iter::once(name)
            .chain(name.match_indices('.').map(move |(i, _)| &name[i + 1..]))
            .filter(|s| s.contains('.'))
    }
}

fn check_label(label: &str) -> Result<(), NameError> {
    if label.is_empty() || label.len() > 63 {
        return Err(NameError::BadLabelLength);
    }
    let ldh = label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !ldh || label.starts_with('-') || label.ends_with('-') {
        return Err(NameError::BadCharacter);
    }
    Ok(())
}

impl fmt::Display for Fqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_trailing_dot_and_space() {
        assert_eq!(
            Fqdn::parse(" Home.Dyn.Example. ").unwrap().as_str(),
            "home.dyn.example"
        );
    }

    #[test]
    fn internationalised_names_become_punycode() {
        assert_eq!(
            Fqdn::parse("bücher.dyn.example").unwrap().as_str(),
            "xn--bcher-kva.dyn.example"
        );
        assert_eq!(
            Fqdn::parse("BÜCHER.dyn.example").unwrap().as_str(),
            "xn--bcher-kva.dyn.example"
        );
    }

    #[test]
    fn rejects_what_is_not_a_hostname() {
        let long_label = format!("{}.example", "a".repeat(64));
        let long_name = format!("{}example", "abcdefghi.".repeat(25));
        let cases = [
            ("", NameError::Empty),
            (".", NameError::Empty),
            ("localhost", NameError::NotQualified),
            ("a..example", NameError::BadLabelLength),
            (long_label.as_str(), NameError::BadLabelLength),
            (long_name.as_str(), NameError::TooLong),
            ("under_score.example", NameError::BadCharacter),
            ("-lead.example", NameError::BadCharacter),
            ("trail-.example", NameError::BadCharacter),
            ("*.example", NameError::BadCharacter),
            ("a b.example", NameError::BadCharacter),
        ];
        for (input, expected) in cases {
            assert_eq!(Fqdn::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn accepts_the_longest_legal_name() {
        let name = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(name.len(), 253);
        assert!(Fqdn::parse(&name).is_ok());
    }

    #[test]
    fn within_and_suffixes() {
        let host = Fqdn::parse("a.b.dyn.example").unwrap();
        assert!(host.is_within(&Fqdn::parse("dyn.example").unwrap()));
        assert!(!host.is_within(&Fqdn::parse("yn.example").unwrap()));
        let all: Vec<_> = host.suffixes().collect();
        assert_eq!(all, ["a.b.dyn.example", "b.dyn.example", "dyn.example"]);
    }
}
