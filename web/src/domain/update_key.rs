//! Update keys: random secrets that a device uses instead of the account password.
//! Only a SHA-256 digest is stored; the secret is shown once, when it is created.

use md5::Md5;
use sha2::{Digest, Sha256};

use super::hex;

const PREFIX: &str = "dyn53_";
const SECRET_CHARS: usize = 32;
/// How much of a key is kept in clear to let people tell their keys apart.
const VISIBLE: usize = PREFIX.len() + 6;

/// A syntactically valid update key (`dyn53_` and 32 base62 characters: 190 bits).
#[derive(Clone, PartialEq, Eq)]
pub struct UpdateKey(String);

impl UpdateKey {
    pub fn generate() -> UpdateKey {
        UpdateKey(format!("{PREFIX}{}", super::random_base62(SECRET_CHARS)))
    }

    /// `None` when `input` cannot be a key, so it is checked as a password instead.
    pub fn parse(input: &str) -> Option<UpdateKey> {
        let secret = input.strip_prefix(PREFIX)?;
        (secret.len() == SECRET_CHARS && secret.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| UpdateKey(input.to_owned()))
    }

    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The stored form: lowercase hex SHA-256. Keys carry 190 random bits, so a fast hash
    /// is enough and lets the server find a key by its digest.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.0.as_bytes()))
    }

    /// The form a miniupdate key is also kept in, lowercase hex MD5: the protocol's
    /// challenge is computed from it (`web/src/miniupdate.rs` weighs that).
    pub fn md5_hex(&self) -> String {
        hex(&Md5::digest(self.0.as_bytes()))
    }

    /// The part shown in listings, e.g. `dyn53_Ab12Cd`.
    pub fn visible_prefix(&self) -> &str {
        &self.0[..VISIBLE]
    }
}

/// miniupdate's expected answer to `challenge`: the MD5 hex of the key's MD5 hex followed
/// by the challenge.
pub fn miniupdate_response(key_md5_hex: &str, challenge: &str) -> String {
    hex(&Md5::new()
        .chain_update(key_md5_hex.as_bytes())
        .chain_update(challenge.as_bytes())
        .finalize())
}

impl std::fmt::Debug for UpdateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UpdateKey({}…)", self.visible_prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = UpdateKey::generate();
        let b = UpdateKey::generate();
        assert_ne!(a, b);
        assert_eq!(UpdateKey::parse(a.secret()), Some(a.clone()));
        assert_eq!(a.digest().len(), 64);
        assert!(!format!("{a:?}").contains(&a.secret()[VISIBLE..]));
    }

    #[test]
    fn miniupdate_response_is_md5_of_md5_hex_and_challenge() {
        // md5("secret") and md5(that hex + "0123456789abcdef0123456789abcdef"), by Python's hashlib.
        let inner = "5ebe2294ecd0e0f08eab7690d2a6ee69";
        assert_eq!(
            miniupdate_response(inner, "0123456789abcdef0123456789abcdef"),
            "848b4c0f455377fdfcc23483a4c45e34"
        );
    }

    #[test]
    fn passwords_are_not_keys() {
        assert!(UpdateKey::parse("hunter2").is_none());
        assert!(UpdateKey::parse("dyn53_short").is_none());
        assert!(UpdateKey::parse(&format!("dyn53_{}", "!".repeat(32))).is_none());
    }
}
