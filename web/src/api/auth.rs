//! `POST /api/v1/auth/token` and the caller of every other call ([`ApiCaller`]): a JWT
//! (HS256 only, issuer and expiry checked; `none` and other algorithms refused) or an update
//! key with the API scope, both as `Authorization: Bearer`; calls are counted per caller.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::problem::Problem;
use crate::db::{Host, KeyAuth, Tenant, WebUser};
use crate::domain::{AccountStatus, Email, Fqdn, UpdateKey, verify_password};
use crate::http::AppState;
use crate::update::{AbuseLimit, Credentials, WindowCounter};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(token);
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

/// Calls each caller (a user's tokens together, or one key) may make
/// (`DYN53_API_RATE_LIMIT`); beyond that, `429 rate_limited` until the window has room.
pub struct ApiLimits(WindowCounter<Who>);

/// Whom a call is counted against: a user (their tokens), or a key by its digest, known
/// before the database is asked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Who {
    User(i64),
    /// The key's digest, as stored.
    Key(String),
}

impl ApiLimits {
    /// Counts a call of `who`; refuses it beyond the limit.
    fn count(&self, who: Who) -> Result<(), Problem> {
        self.0.admit_or_wait(who).map_err(|wait| {
            Problem::new(429, "rate_limited", "Too many calls; slow down.")
                .retry_after(wait.as_secs().max(1))
        })
    }
}

impl ApiLimits {
    pub fn new(limit: AbuseLimit) -> ApiLimits {
        ApiLimits(WindowCounter::new(limit))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    iat: i64,
    exp: i64,
    /// Which password the token was issued for ([`PasswordHash::mark`]): a new password ends
    /// every token, as it ends every browser session.
    pwd: String,
}

/// A user's sign-in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    #[schema(example = "alice@example.com")]
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    access_token: String,
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    /// Seconds the token is valid for.
    expires_in: i64,
}

/// Trades an e-mail address and password for a token valid 15 minutes.
#[utoipa::path(
    operation_id = "create_token",
    tag = "auth",
    security(()),
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A token.", body = TokenResponse),
        (status = 401, description = "Wrong e-mail address or password (`invalid_credentials`).", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/token")]
async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse, Problem> {
    let source = state.trusted_proxies.client_ip(&req);
    let key = body.email.trim().to_lowercase();
    if state.login_limits.refuses(&key, source) {
        return Err(Problem::new(
            429,
            "too_many_attempts",
            "Too many failed attempts; wait a while.",
        )
        .retry_after(900));
    }
    let found = match Email::parse(&body.email) {
        Ok(email) => state.db.web_login(&email).await?,
        Err(_) => None,
    };
    let password = body.password.clone();
    let stored = found.as_ref().map(|(_, hash)| hash.clone());
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, stored.as_ref()))
        .await
        .unwrap_or(false);
    let Some((user, hash)) = found.filter(|_| ok) else {
        state.login_limits.failed(&key, source);
        return Err(Problem::new(
            401,
            "invalid_credentials",
            "Wrong e-mail address or password.",
        ));
    };
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: user.id.to_string(),
        iss: ISSUER.into(),
        iat: now,
        exp: now + TOKEN_SECONDS,
        pwd: hash.mark(),
    };
    let access_token = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &state.token_keys.encoding,
    )
    .map_err(|e| Problem::try_later(&e))?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: TOKEN_SECONDS,
    }))
}

/// Who calls: the user a token names, or an API key's owner with that key's limits. Every
/// handler but the token's takes one; a request without it is answered 401.
pub struct ApiCaller {
    pub user: WebUser,
    /// The key presented, with its whole host limit; `None` for a token.
    key: Option<KeyAuth>,
    credentials: Credentials,
    pub source: IpAddr,
}

impl ApiCaller {
    pub fn tenant(&self, state: &AppState) -> Tenant {
        state.db.tenant(self.user.account)
    }

    /// The credentials the update service takes for this caller.
    pub fn credentials(&self) -> Credentials {
        self.credentials.clone()
    }

    /// Host ids a host-limited key may touch; `None`: every host of the account.
    pub fn host_limit(&self) -> Option<&[i64]> {
        self.key.as_ref().and_then(|k| k.hosts.as_deref())
    }

    /// Refuses a host-limited key: it may touch its hosts and nothing else of the account.
    pub fn account_wide(&self) -> Result<(), Problem> {
        match self.host_limit() {
            Some(_) => Err(Problem::forbidden(
                "key_limited",
                "This key is limited to some hosts; it can only reach those.",
            )),
            None => Ok(()),
        }
    }

    /// Refuses a viewer, and an account the operator blocked.
    pub fn may_change(&self) -> Result<(), Problem> {
        if !self.user.role.may_change_dns() {
            return Err(Problem::forbidden(
                "read_only",
                "Your role may not change DNS.",
            ));
        }
        if self.user.account_status != AccountStatus::Active {
            return Err(Problem::forbidden(
                "account_inactive",
                "This account may not make changes.",
            ));
        }
        Ok(())
    }

    /// The caller's host `name` (as in the URL): 404 when it is not the account's, or not
    /// within the key's limit.
    pub async fn host(&self, state: &AppState, name: &str) -> Result<Host, Problem> {
        let not_found =
            || Problem::not_found("host_not_found", format!("You have no host {name}."));
        let Ok(fqdn) = Fqdn::parse(name) else {
            return Err(not_found());
        };
        self.tenant(state)
            .host_named(&fqdn)
            .await?
            .filter(|h| {
                self.host_limit()
                    .is_none_or(|ids| ids.contains(&h.state.id))
            })
            .ok_or_else(not_found)
    }
}

/// The API's state, for extractors.
fn app_state(req: &HttpRequest) -> Result<&web::Data<AppState>, Problem> {
    req.app_data::<web::Data<AppState>>()
        .ok_or_else(|| Problem::try_later(&"the API has no state"))
}

impl FromRequest for ApiCaller {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<ApiCaller, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Bearer::of(&req)?.caller(&req, app_state(&req)?).await })
    }
}

/// Who calls `POST /hosts/{fqdn}/update`, the call devices make over and over: an API key
/// goes to the update service as it came, which checks it in the same query that reads the
/// host; a token's user is resolved as for every other call.
pub enum UpdateCaller {
    Key(Credentials, IpAddr),
    User(ApiCaller),
}

impl UpdateCaller {
    pub fn credentials(&self) -> Credentials {
        match self {
            UpdateCaller::Key(credentials, _) => credentials.clone(),
            UpdateCaller::User(caller) => caller.credentials(),
        }
    }

    pub fn source(&self) -> IpAddr {
        match self {
            UpdateCaller::Key(_, source) => *source,
            UpdateCaller::User(caller) => caller.source,
        }
    }
}

impl FromRequest for UpdateCaller {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<UpdateCaller, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            match Bearer::of(&req)? {
                Bearer::Key(key) => {
                    state.api_limits.count(Who::Key(key.digest()))?;
                    let source = state.trusted_proxies.client_ip(&req);
                    Ok(UpdateCaller::Key(
                        Credentials::api_key(key.secret()),
                        source,
                    ))
                }
                jwt => Ok(UpdateCaller::User(jwt.caller(&req, state).await?)),
            }
        })
    }
}

/// The credential in `Authorization: Bearer`.
enum Bearer {
    Key(UpdateKey),
    Token(String),
}

impl Bearer {
    fn of(req: &HttpRequest) -> Result<Bearer, Problem> {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match bearer {
            Some(bearer) => Ok(match UpdateKey::parse(bearer) {
                Some(key) => Bearer::Key(key),
                None => Bearer::Token(bearer.to_owned()),
            }),
            None => Err(Problem::new(
                401,
                "unauthenticated",
                "Send Authorization: Bearer with a token or an API key.",
            )),
        }
    }

    /// The caller this credential names, its call counted against its window.
    async fn caller(self, req: &HttpRequest, state: &AppState) -> Result<ApiCaller, Problem> {
        match self {
            Bearer::Key(key) => {
                state.api_limits.count(Who::Key(key.digest()))?;
                key_caller(req, state, &key).await
            }
            Bearer::Token(jwt) => {
                let caller = token_caller(req, state, &jwt).await?;
                state.api_limits.count(Who::User(caller.user.id))?;
                Ok(caller)
            }
        }
    }
}

fn invalid_token() -> Problem {
    Problem::new(401, "invalid_token", "The token is invalid or has expired.")
}

/// An API key's caller: its owner, with the key's limits.
async fn key_caller(
    req: &HttpRequest,
    state: &AppState,
    key: &UpdateKey,
) -> Result<ApiCaller, Problem> {
    let source = state.trusted_proxies.client_ip(req);
    let credentials = Credentials::api_key(key.secret());
    let (user, key) = state.updater.holder(&credentials, source).await?;
    let user = WebUser::checked(&user).ok_or_else(invalid_token)?;
    active(ApiCaller {
        user,
        key,
        credentials,
        source,
    })
}

/// A token's caller: the user it names, while their password is the one it was issued for.
async fn token_caller(
    req: &HttpRequest,
    state: &AppState,
    jwt: &str,
) -> Result<ApiCaller, Problem> {
    let claims = decode::<Claims>(jwt, &state.token_keys.decoding, &TokenKeys::validation())
        .map_err(|_| invalid_token())?
        .claims;
    let id: i64 = claims.sub.parse().map_err(|_| invalid_token())?;
    let (user, hash) = state
        .db
        .web_user_by_id(id)
        .await?
        .ok_or_else(invalid_token)?;
    if !bool::from(hash.mark().as_bytes().ct_eq(claims.pwd.as_bytes())) {
        return Err(invalid_token());
    }
    active(ApiCaller {
        credentials: Credentials::token_user(&user),
        user,
        key: None,
        source: state.trusted_proxies.client_ip(req),
    })
}

/// Refuses the caller of a suspended account.
fn active(caller: ApiCaller) -> Result<ApiCaller, Problem> {
    if caller.user.account_status == AccountStatus::Suspended {
        return Err(Problem::forbidden(
            "account_inactive",
            "The account is suspended.",
        ));
    }
    Ok(caller)
}
