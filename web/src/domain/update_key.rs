//! Update keys: random secrets that a device uses instead of the account password.
//! Only a SHA-256 digest is stored; the secret is shown once, when it is created.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
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

    /// The TSIG secret (HMAC-SHA256, RFC 8945) of a key made for RFC 2136 updates: a
    /// one-way function of the key, so the stored secret does not give the key itself away.
    pub fn tsig_secret(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update(b"dyn53 TSIG\0")
            .chain_update(self.0.as_bytes())
            .finalize()
            .into()
    }

    /// The TSIG key made from this key, whose id is `id`, as nsupdate's `-y` takes it:
    /// `hmac-sha256:NAME:SECRET` (base64).
    pub fn tsig_argument(&self, id: i64) -> String {
        let secret = BASE64_STANDARD.encode(self.tsig_secret());
        format!("hmac-sha256:{}:{secret}", tsig_key_name(id))
    }

    /// The part shown in listings, e.g. `dyn53_Ab12Cd`.
    pub fn visible_prefix(&self) -> &str {
        &self.0[..VISIBLE]
    }
}

/// The name of the TSIG key made from update key `id`: `dyn53-key-<id>`.
pub fn tsig_key_name(id: i64) -> String {
    format!("{TSIG_NAME_PREFIX}{id}")
}

/// The update key a TSIG key name stands for (names are case-insensitive, a final dot
/// allowed); `None` for a name [`tsig_key_name`] did not make.
pub fn tsig_key_id(name: &str) -> Option<i64> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let id = name.strip_prefix(TSIG_NAME_PREFIX)?;
    id.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| id.parse().ok())
        .flatten()
}

const TSIG_NAME_PREFIX: &str = "dyn53-key-";

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
    fn tsig_names_round_trip() {
        assert_eq!(tsig_key_id(&tsig_key_name(42)), Some(42));
        assert_eq!(tsig_key_id("DYN53-KEY-7."), Some(7));
        assert_eq!(tsig_key_id("dyn53-key-+7"), None);
        assert_eq!(tsig_key_id("other"), None);
        let key = UpdateKey::generate();
        assert_ne!(key.tsig_secret(), UpdateKey::generate().tsig_secret());
        assert_ne!(hex(&key.tsig_secret()), key.digest());
    }

    #[test]
    fn passwords_are_not_keys() {
        assert!(UpdateKey::parse("hunter2").is_none());
        assert!(UpdateKey::parse("dyn53_short").is_none());
        assert!(UpdateKey::parse(&format!("dyn53_{}", "!".repeat(32))).is_none());
    }
}
