//! Random bearer secrets of the browser side: session cookies and the one-time links of
//! e-mails (verification, password reset, e-mail change, invitation). Like update keys, only
//! their SHA-256 is stored.

use sha2::{Digest, Sha256};

const CHARS: usize = 32;

/// 32 base62 characters: 190 random bits.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    pub fn generate() -> SecretToken {
        SecretToken(super::random_base62(CHARS))
    }

    /// `None` when `input` cannot be a token (it is then never looked up).
    pub fn parse(input: &str) -> Option<SecretToken> {
        (input.len() == CHARS && input.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| SecretToken(input.to_owned()))
    }

    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The stored form, lowercase hex SHA-256.
    pub fn digest(&self) -> String {
        super::hex(&Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretToken(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_hide_their_secret() {
        let token = SecretToken::generate();
        assert_eq!(SecretToken::parse(token.secret()), Some(token.clone()));
        assert_eq!(token.digest().len(), 64);
        assert!(!format!("{token:?}").contains(token.secret()));
        assert!(SecretToken::parse("short").is_none());
        assert!(SecretToken::parse(&"!".repeat(32)).is_none());
    }
}
