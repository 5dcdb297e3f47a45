//! REST API tokens: JWTs signed with HS256 only (issuer and expiry checked; `none` and other
//! algorithms refused), naming a user and the password they were issued under.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

/// How long a token lives.
pub const TOKEN_SECONDS: i64 = 15 * 60;
const ISSUER: &str = "dyn53";

/// The key that signs and checks API tokens (`DYN53_JWT_SECRET`, else one drawn at start).
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    iat: i64,
    exp: i64,
    /// Which password the token was issued for ([`crate::domain::PasswordHash::mark`]): a new
    /// password ends every token, as it ends every browser session.
    pwd: String,
}

/// What a valid token says.
pub struct TokenClaims {
    pub user: i64,
    pub password_mark: String,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> TokenKeys {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A token for `user`, valid [`TOKEN_SECONDS`].
    pub fn issue(&self, user: i64, password_mark: String) -> jsonwebtoken::errors::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user.to_string(),
            iss: ISSUER.into(),
            iat: now,
            exp: now + TOKEN_SECONDS,
            pwd: password_mark,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// What `jwt` says, if it is a live token of ours.
    pub fn check(&self, jwt: &str) -> Option<TokenClaims> {
        let claims = decode::<Claims>(jwt, &self.decoding, &validation())
            .ok()?
            .claims;
        Some(TokenClaims {
            user: claims.sub.parse().ok()?,
            password_mark: claims.pwd,
        })
    }
}

fn validation() -> Validation {
    // Only HS256: a token claiming another algorithm (or `none`) is refused.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    validation.leeway = 0;
    validation
}
