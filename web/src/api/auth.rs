//! `POST /api/v1/auth/token` and the bearer credentials of every other call: a JWT (HS256
//! only, issuer and expiry checked; `none` and other algorithms refused) or an update key
//! with the API scope.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use super::problem::Problem;
use crate::db::WebUser;
use crate::domain::{Email, UpdateKey, verify_password};
use crate::http::AppState;
use crate::update::Credentials;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/token", web::post().to(token));
}

/// How long a token lives.
const TOKEN_SECONDS: i64 = 15 * 60;
const ISSUER: &str = "dyn53";

/// The key that signs and checks API tokens (`DYN53_JWT_SECRET`, else one drawn at start).
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> TokenKeys {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
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
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<TokenRequest>,
) -> HttpResponse {
    let source = state.trusted_proxies.client_ip(&req);
    let key = body.email.trim().to_lowercase();
    if state.login_limits.refuses(&key, source) {
        return Problem::new(
            429,
            "too_many_attempts",
            "Too many failed attempts; wait a while.",
        )
        .retry_after(900)
        .response();
    }
    let found = match Email::parse(&body.email) {
        Ok(email) => match state.db.web_login(&email).await {
            Ok(found) => found,
            Err(e) => return Problem::try_later(&e).response(),
        },
        Err(_) => None,
    };
    let password = body.password.clone();
    let stored = found.as_ref().map(|(_, hash)| hash.clone());
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, stored.as_ref()))
        .await
        .unwrap_or(false);
    let Some((user, _)) = found.filter(|_| ok) else {
        state.login_limits.failed(&key, source);
        return Problem::new(
            401,
            "invalid_credentials",
            "Wrong e-mail address or password.",
        )
        .response();
    };
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: user.id.to_string(),
        iss: ISSUER.into(),
        iat: now,
        exp: now + TOKEN_SECONDS,
    };
    match encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &state.token_keys.encoding,
    ) {
        Ok(access_token) => HttpResponse::Ok().json(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: TOKEN_SECONDS,
        }),
        Err(e) => Problem::try_later(&e).response(),
    }
}

/// Who calls: the user a token names, or an API key.
pub enum Caller {
    User(WebUser),
    Key(String),
}

impl Caller {
    /// The credentials the update service takes for this caller.
    pub fn credentials(&self) -> Credentials {
        match self {
            Caller::User(user) => Credentials::token_user(user),
            Caller::Key(secret) => Credentials::api_key(secret),
        }
    }
}

/// The caller of an API request, from `Authorization: Bearer`.
pub async fn caller(req: &HttpRequest, state: &AppState) -> Result<Caller, Problem> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(bearer) = bearer else {
        return Err(Problem::new(
            401,
            "unauthenticated",
            "Send Authorization: Bearer with a token or an API key.",
        ));
    };
    if UpdateKey::parse(bearer).is_some() {
        return Ok(Caller::Key(bearer.to_owned()));
    }
    let invalid = || Problem::new(401, "invalid_token", "The token is invalid or has expired.");
    let claims = decode::<Claims>(bearer, &state.token_keys.decoding, &TokenKeys::validation())
        .map_err(|_| invalid())?
        .claims;
    let id: i64 = claims.sub.parse().map_err(|_| invalid())?;
    match state.db.web_user_by_id(id).await {
        Ok(Some(user)) => Ok(Caller::User(user)),
        Ok(None) => Err(invalid()),
        Err(e) => Err(Problem::try_later(&e)),
    }
}

/// The caller's source address, for history and throttling.
pub fn source(req: &HttpRequest, state: &AppState) -> IpAddr {
    state.trusted_proxies.client_ip(req)
}
