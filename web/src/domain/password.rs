//! Account passwords, stored as argon2id PHC strings. The argon2 runs here work in memory
//! the caller lends ([`Argon2Memory`]), so that the service that schedules them
//! (`hashing::PasswordHashing`) keeps a fixed number of buffers instead of allocating 19 MiB
//! per run, which the allocator's per-thread arenas keep after a burst.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

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

/// The memory of one argon2 run, kept and reused from run to run.
#[derive(Default)]
pub struct Argon2Memory(Vec<Block>);

impl Argon2Memory {
    /// `count` blocks of 1 KiB, grown (once) when a run needs more than it had.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }
}

/// Stored hashes asking for more memory than this are refused rather than obeyed: ours use
/// the crate's 19 MiB, and a row should not make the server allocate what it names.
const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// A new argon2id hash of `password` with the crate's default parameters (19 MiB, two
/// passes, one lane) and a random 16-byte salt, in PHC string form.
pub fn hash_password(password: &str, memory: &mut Argon2Memory) -> anyhow::Result<PasswordHash> {
    let failed = |e: &dyn std::fmt::Display| anyhow::anyhow!("hashing the password failed: {e}");
    let params = Params::default();
    let salt = Salt::new(&rand::random::<[u8; 16]>()).map_err(|e| failed(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            memory.blocks(params.block_count()),
        )
        .map_err(|e| failed(&e))?;
    let phc = Phc {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(PasswordHash(phc.to_string()))
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
pub fn verify_password(
    password: &str,
    stored: Option<&PasswordHash>,
    memory: &mut Argon2Memory,
) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash_password("dyn53 timing equaliser", memory)
            .map(|h| h.0)
            .unwrap_or_default()
    });
    let hash = stored.map_or(dummy.as_str(), |h| h.0.as_str());
    let ok = matches(password, hash, memory).unwrap_or(false);
    ok && stored.is_some()
}

/// Whether `password` hashes to the PHC string `stored`, with the parameters it names;
/// `None` when `stored` is no argon2 hash we would compute.
fn matches(password: &str, stored: &str, memory: &mut Argon2Memory) -> Option<bool> {
    let phc = Phc::new(stored).ok()?;
    let algorithm = Algorithm::try_from(phc.algorithm.as_str()).ok()?;
    let version = match phc.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&phc).ok()?;
    if params.m_cost() > MAX_MEMORY_KIB {
        return None;
    }
    let (salt, expected) = (phc.salt?, phc.hash?);
    let mut out = vec![0u8; expected.len()];
    let blocks = memory.blocks(params.block_count());
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
        .ok()?;
    Some(bool::from(out.ct_eq(expected.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let memory = &mut Argon2Memory::default();
        let hash = hash_password("correct horse", memory).unwrap();
        assert!(hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", Some(&hash), memory));
        assert!(!verify_password("wrong horse", Some(&hash), memory));
        assert!(!verify_password("correct horse", None, memory));
    }

    #[test]
    fn verifies_hashes_the_crate_made() {
        use argon2::password_hash::PasswordHasher;
        let made = Argon2::default().hash_password(b"correct horse").unwrap();
        let stored = PasswordHash(made.to_string());
        let memory = &mut Argon2Memory::default();
        assert!(verify_password("correct horse", Some(&stored), memory));
        assert!(!verify_password("correct horsE", Some(&stored), memory));
    }

    #[test]
    fn refuses_what_is_no_usable_hash() {
        let memory = &mut Argon2Memory::default();
        for stored in [
            "",
            "plain text",
            "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            let stored = PasswordHash(stored.into());
            assert!(!verify_password("x", Some(&stored), memory));
        }
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
