//! Account passwords, stored as argon2id PHC strings.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// A stored argon2id hash in PHC string form.
#[derive(Clone, Debug)]
pub struct PasswordHash(pub String);

impl PasswordHash {
    /// A short digest of this stored hash: tells a token issued before a password change
    /// from one issued after, and reveals nothing of the password.
    pub fn mark(&self) -> String {
        use sha2::{Digest, Sha256};
        super::hex(&Sha256::digest(self.0.as_bytes())[..8])
    }
}

pub fn hash_password(password: &str) -> anyhow::Result<PasswordHash> {
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing the password failed: {e}"))?;
    Ok(PasswordHash(hash.to_string()))
}

/// The shortest password a person may choose.
pub const MIN_PASSWORD: usize = 10;

/// Why a chosen password is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("use at least 10 characters")]
    TooShort,
    #[error("use at most 1024 characters")]
    TooLong,
    #[error("that password is among the most common ones: choose another")]
    Common,
    #[error("the password must not be your e-mail address")]
    IsEmail,
}

/// Checks a password a person chooses (sign-up, reset, change): long enough, not one of
/// the most common passwords (in any case), not the e-mail address.
pub fn check_new_password(password: &str, email: &str) -> Result<(), WeakPassword> {
    const COMMON: &str = include_str!("common_passwords.txt");
    let length = password.chars().count();
    if length < MIN_PASSWORD {
        return Err(WeakPassword::TooShort);
    }
    if length > 1024 {
        return Err(WeakPassword::TooLong);
    }
    let lower = password.trim().to_lowercase();
    if COMMON.lines().any(|common| common.to_lowercase() == lower) {
        return Err(WeakPassword::Common);
    }
    if lower == email.to_lowercase() {
        return Err(WeakPassword::IsEmail);
    }
    Ok(())
}

/// A random password for an operator who did not choose one: 20 base62 characters.
pub fn generate_password() -> String {
    super::random_base62(20)
}

/// Checks `password` against `stored`. With no stored hash (an unknown login) it still
/// does the same work against a fixed hash, so timing does not tell which logins exist.
pub fn verify_password(password: &str, stored: Option<&PasswordHash>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"dyn53 timing equaliser")
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    let hash = stored.map_or(dummy.as_str(), |h| h.0.as_str());
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok();
    ok && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.0.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", Some(&hash)));
        assert!(!verify_password("wrong horse", Some(&hash)));
        assert!(!verify_password("correct horse", None));
    }

    #[test]
    fn weak_passwords_are_refused() {
        let email = "me@example.com";
        assert_eq!(
            check_new_password("short", email),
            Err(WeakPassword::TooShort)
        );
        assert_eq!(
            check_new_password("Password123", email),
            Err(WeakPassword::Common)
        );
        assert_eq!(
            check_new_password("ME@example.com", email),
            Err(WeakPassword::IsEmail)
        );
        assert_eq!(
            check_new_password(&"x".repeat(1025), email),
            Err(WeakPassword::TooLong)
        );
        assert_eq!(check_new_password("a long secret phrase", email), Ok(()));
    }
}
