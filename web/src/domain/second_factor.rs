//! The second factor: TOTP codes (RFC 6238 with HMAC-SHA-1, 30-second steps and 6 digits,
//! what every authenticator app reads) and one-time recovery codes, stored as SHA-256 like
//! every other bearer secret.

use sha2::{Digest, Sha256};
use totp_rs::{Secret, Totp};

/// The service's name in authenticator apps.
const ISSUER: &str = "dyn53";
/// Bytes of a new secret: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;

/// A user's TOTP secret. Never logged: its `Debug` hides it.
#[derive(Clone)]
pub struct TotpSecret(Totp);

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        let bytes: [u8; SECRET_BYTES] = rand::random();
        TotpSecret::of(Secret::from(bytes)).expect("a 160-bit secret is valid")
    }

    /// The secret as stored (base32); `None` if it cannot be one.
    pub fn parse(stored: &str) -> Option<TotpSecret> {
        TotpSecret::of(Secret::try_from_base32(stored).ok()?)
    }

    fn of(secret: Secret) -> Option<TotpSecret> {
        totp_rs::Builder::new()
            .with_secret(secret)
            .with_skew(1)
            .with_step_duration(30)
            .build()
            .ok()
            .map(TotpSecret)
    }

    /// Base32, as stored and as typed into an app by hand.
    pub fn base32(&self) -> String {
        self.0.secret().to_base32()
    }

    /// The time step `code` belongs to, if it is this secret's code within one step of
    /// `unix_time` either way (clocks drift; people type slowly).
    pub fn check(&self, code: &str, unix_time: u64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.0
            .check(&code, unix_time)
            .and_then(|step| i64::try_from(step).ok())
    }

    /// The `otpauth://` URL an app scans, naming the service and the user's address.
    pub fn url(&self, account: &str) -> String {
        let label: String = form_urlencoded::byte_serialize(account.as_bytes()).collect();
        format!(
            "otpauth://totp/{ISSUER}:{label}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits=6&period=30",
            self.base32()
        )
    }

    /// The URL as a QR code, an inline `<svg>` element labelled for screen readers.
    pub fn qr_svg(&self, account: &str) -> String {
        let Ok(code) = qrcode::QrCode::new(self.url(account).as_bytes()) else {
            return String::new();
        };
        let svg = code
            .render::<qrcode::render::svg::Color>()
            .max_dimensions(240, 240)
            .build();
        // The renderer writes a standalone document; the page wants the element alone.
        let element = svg.find("<svg").map_or("", |at| &svg[at + 4..]);
        format!(r#"<svg role="img" aria-label="QR code of your secret"{element}"#)
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

/// Characters of a recovery code: lowercase letters and digits without the look-alikes.
const CODE_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
const CODE_CHARS: usize = 10;

/// A one-time recovery code, shown as `xxxxx-xxxxx` (about 50 random bits: it is tried
/// under the sign-in's rate limit, and works once).
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    pub fn generate() -> RecoveryCode {
        use rand::Rng;
        let mut rng = rand::rng();
        RecoveryCode(
            (0..CODE_CHARS)
                .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
                .collect(),
        )
    }

    /// A code as typed: case, spaces and dashes do not matter.
    pub fn parse(input: &str) -> Option<RecoveryCode> {
        let code: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        (code.len() == CODE_CHARS && code.bytes().all(|b| CODE_ALPHABET.contains(&b)))
            .then_some(RecoveryCode(code))
    }

    /// How the code is shown once, at enrolment.
    pub fn shown(&self) -> String {
        format!("{}-{}", &self.0[..5], &self.0[5..])
    }

    /// The stored form, lowercase hex SHA-256.
    pub fn digest(&self) -> String {
        super::hex(&Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_checked_within_one_step_and_name_their_step() {
        let secret = TotpSecret::parse(&TotpSecret::generate().base32()).expect("round trip");
        let now = 1_800_000_015;
        let code = secret.0.generate(now).to_string();
        assert_eq!(secret.check(&code, now), Some(60_000_000));
        assert_eq!(secret.check(&code, now + 30), Some(60_000_000));
        assert_eq!(secret.check(&code, now + 90), None);
        assert_eq!(secret.check("12345", now), None);
        assert!(!format!("{secret:?}").contains(&secret.base32()));
        assert!(
            secret
                .qr_svg("a@example.com")
                .starts_with("<svg role=\"img\"")
        );
    }

    #[test]
    fn recovery_codes_parse_as_typed() {
        let code = RecoveryCode::generate();
        let typed = code.shown().to_uppercase();
        assert_eq!(RecoveryCode::parse(&typed), Some(code.clone()));
        assert_eq!(code.digest().len(), 64);
        assert!(RecoveryCode::parse("short").is_none());
        assert!(!format!("{code:?}").contains(&code.0));
    }
}
