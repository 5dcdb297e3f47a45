//! `POST /api/v1/auth/token` and the caller of every other call ([`ApiCaller`]): a JWT
//! (HS256 only, issuer and expiry checked; `none` and other algorithms refused) or an update
//! key with the API scope, both as `Authorization: Bearer`; calls are counted per caller.

use super::body::Body;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::problem::Problem;
use crate::access::{Access, Refusal};
use crate::db::{Host, WebUser};
use crate::domain::{AccountStatus, Email, Fqdn, UpdateKey};
use crate::shared_limits::{self as limits, ApiLimits};
use crate::state::AppState;
use crate::tokens::TOKEN_SECONDS;
use crate::update::Credentials;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(token);
}

/// Counts a call of `who`; refuses it beyond `DYN53_API_RATE_LIMIT`.
async fn count(limits: &ApiLimits, who: limits::ApiCaller) -> Result<(), Problem> {
    limits.count(who).await.map_err(|wait| {
        Problem::new(429, "rate_limited", "Too many calls; slow down.")
            .retry_after(wait.as_secs().max(1))
    })
}

impl From<Refusal> for Problem {
    fn from(refusal: Refusal) -> Self {
        let code = match refusal {
            Refusal::ReadOnly => "read_only",
            Refusal::Role => "role",
            Refusal::KeyLimited => "key_limited",
            Refusal::AccountInactive => "account_inactive",
            // The API never makes a view-as `Access` (sessions do not reach it).
            Refusal::ViewingAsStaff => "read_only",
        };
        Problem::forbidden(code, refusal.to_string())
    }
}

/// A user's sign-in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    #[schema(example = "alice@example.com")]
    email: String,
    password: String,
    /// The current code of the user's authenticator app: required when they have a second
    /// factor.
    #[schema(example = "123456")]
    otp: Option<String>,
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
        (status = 401, description = "Wrong e-mail address or password (`invalid_credentials`); the user has a second factor and `otp` is missing (`otp_required`), or is not the current code or was used already (`invalid_otp`).", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/token")]
async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Body<TokenRequest>,
) -> Result<HttpResponse, Problem> {
    let source = state.trusted_proxies.client_ip(&req);
    let key = body.email.trim().to_lowercase();
    if state.login_limits.refuses(&key, source).await {
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
    let stored = found.as_ref().map(|(_, hash)| hash.clone());
    let ok = state
        .hashing
        .verify(&body.password, stored)
        .await
        .map_err(|e| Problem::try_later(&e))?;
    let Some((user, hash)) = found.filter(|_| ok) else {
        state.login_limits.failed(&key, source).await;
        return Err(Problem::new(
            401,
            "invalid_credentials",
            "Wrong e-mail address or password.",
        ));
    };
    if !user.verified {
        return Err(unverified());
    }
    if user.second_factor {
        second_factor(&state, &user, body.otp.as_deref(), &key, source).await?;
    }
    let access_token = state
        .token_keys
        .issue(user.id, hash.mark())
        .map_err(|e| Problem::try_later(&e))?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: TOKEN_SECONDS,
    }))
}

/// The current TOTP code of a user with a second factor (a code is taken once; wrong ones
/// count against the sign-in's limits).
async fn second_factor(
    state: &AppState,
    user: &WebUser,
    otp: Option<&str>,
    key: &str,
    source: IpAddr,
) -> Result<(), Problem> {
    let Some(otp) = otp else {
        return Err(Problem::new(
            401,
            "otp_required",
            "This user signs in with a second factor: send the current code of the \
             authenticator app as `otp`.",
        ));
    };
    let tx = state.db.begin_write().await?;
    let taken = tx.take_totp(user.id, otp, chrono::Utc::now(), true).await?;
    tx.commit().await?;
    if !taken {
        state.login_limits.failed(key, source).await;
        return Err(Problem::new(
            401,
            "invalid_otp",
            "That is not the current code, or it was used already.",
        ));
    }
    Ok(())
}

fn unverified() -> Problem {
    Problem::forbidden("unverified", "Confirm your e-mail address first.")
}

/// Who calls: the user a token names, or an API key's owner with that key's stored host
/// limit, as an [`Access`]. Every handler but the token's takes one; a request without it
/// is answered 401.
pub struct ApiCaller {
    pub access: Access,
    pub source: IpAddr,
}

impl ApiCaller {
    pub fn user(&self) -> &WebUser {
        self.access.user()
    }

    /// The caller's host `name` (as in the URL): 404 when it is not the account's, or not
    /// within the key's limit.
    pub async fn host(&self, name: &str) -> Result<Host, Problem> {
        let not_found =
            || Problem::not_found("host_not_found", format!("You have no host {name}."));
        let Ok(fqdn) = Fqdn::parse(name) else {
            return Err(not_found());
        };
        self.access.host_named(&fqdn).await?.ok_or_else(not_found)
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
            UpdateCaller::User(caller) => caller.access.credentials(),
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
                    count(&state.api_limits, limits::ApiCaller::Key(key.digest())).await?;
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
                count(&state.api_limits, limits::ApiCaller::Key(key.digest())).await?;
                key_caller(req, state, &key).await
            }
            Bearer::Token(jwt) => {
                let caller = token_caller(req, state, &jwt).await?;
                count(&state.api_limits, limits::ApiCaller::User(caller.user().id)).await?;
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
    let prefix = key.visible_prefix().to_owned();
    let credentials = Credentials::api_key(key.secret());
    let (user, key) = state.updater.holder(&credentials, source).await?;
    let user = WebUser::checked(&user).ok_or_else(invalid_token)?;
    let limit = key.and_then(|k| k.hosts);
    let mut caller = caller(state, user, limit, credentials, source)?;
    caller.access = caller.access.by_key(&prefix);
    Ok(caller)
}

/// A token's caller: the user it names, while their password is the one it was issued for.
async fn token_caller(
    req: &HttpRequest,
    state: &AppState,
    jwt: &str,
) -> Result<ApiCaller, Problem> {
    let claims = state.token_keys.check(jwt).ok_or_else(invalid_token)?;
    let (user, hash) = state
        .db
        .web_user_by_id(claims.user)
        .await?
        .ok_or_else(invalid_token)?;
    if !bool::from(
        hash.mark()
            .as_bytes()
            .ct_eq(claims.password_mark.as_bytes()),
    ) {
        return Err(invalid_token());
    }
    let credentials = Credentials::token_user(&user);
    caller(
        state,
        user,
        None,
        credentials,
        state.trusted_proxies.client_ip(req),
    )
}

/// The caller's [`Access`]; a suspended account's callers and unconfirmed users get none.
fn caller(
    state: &AppState,
    user: WebUser,
    limit: Option<Vec<i64>>,
    credentials: Credentials,
    source: IpAddr,
) -> Result<ApiCaller, Problem> {
    if user.account_status == AccountStatus::Suspended {
        return Err(Problem::forbidden(
            "account_inactive",
            "The account is suspended.",
        ));
    }
    if !user.verified {
        return Err(unverified());
    }
    let access = Access::new(&state.db, user, limit, credentials);
    Ok(ApiCaller { access, source })
}
