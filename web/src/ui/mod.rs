//! The account manager: pages for people, served by `web` at the paths they guess
//! (`/signup`, `/login`, `/hosts`, `/keys`, …). Pages work without JavaScript; forms carry
//! a CSRF token, checked by the extractors of `session.rs` before a handler runs; every
//! handler reaches the account through the [`Access`] of its [`SignedIn`], and every change
//! to DNS goes through the update service or a capability of that `Access`, like any other.
//!
//! [`Access`]: crate::access::Access

mod account;
mod groups;
mod host_edit;
mod hosts;
mod keys;
mod link_form;
mod notifications;
mod profile;
mod second_factor;
pub(crate) mod session;
mod setup_help;
mod team;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use subtle::ConstantTimeEq;

use crate::db::{DbError, WebUser};
use crate::domain::{PasswordHash, SecretToken, check_new_password};
use crate::hashing::{Busy, PasswordHashing};
use crate::pages::redirect;
use crate::state::AppState;
use session::{PageError, SignedIn};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(account::routes)
        .configure(hosts::routes)
        .configure(host_edit::routes)
        .configure(groups::routes)
        .configure(profile::routes)
        .configure(second_factor::routes)
        .configure(team::routes)
        .configure(keys::routes)
        .configure(notifications::routes);
}

/// The session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS.
pub(crate) const SESSION_COOKIE: &str = "dyn53_session";
/// The CSRF cookie of forms shown before a sign-in (double submit).
const CSRF_COOKIE: &str = "dyn53_csrf";

/// The answer to removing one of the account's objects by the id in the URL: back to `list`
/// when it was removed, 404 when the account has no such object (or the id is no number).
async fn removed<F: Future<Output = Result<bool, DbError>>>(
    signed: &SignedIn,
    id: &str,
    list: &str,
    remove: impl FnOnce(i64) -> F,
) -> Result<HttpResponse, PageError> {
    let id = id.parse::<i64>().map_err(|_| signed.not_found())?;
    match remove(id).await? {
        true => Ok(redirect(list)),
        false => Err(signed.not_found()),
    }
}

/// A URL-encoded form whose fields may repeat (one `hosts` per ticked box).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(body: &[u8]) -> Fields {
        Fields(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The answer to a form that would send one mail too many (to its address, or from its
/// source): said whether or not the address has an account.
const TOO_MANY_MAILS: &str = "We sent several messages to that address, or from your network, lately: wait a quarter \
     of an hour and try again.";

/// The answer to a form whose CSRF token does not match.
const FORM_EXPIRED: &str = "This form has expired: please send it again.";

/// The `?token=` of an e-mailed link.
#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// A password a person chose (sign-up, reset, change, joining): checked, then hashed by the
/// bounded hashing service. `Err(Some(why))` to show in the form, `Err(None)` when it could
/// not be hashed now (too busy: try later).
async fn chosen_password(
    hashing: &PasswordHashing,
    password: &str,
    email: &str,
) -> Result<PasswordHash, Option<String>> {
    if let Err(weak) = check_new_password(password, email) {
        return Err(Some(format!("Choose another password: {weak}.")));
    }
    hashing.hash(password).await.map_err(|_| None)
}

/// Whether `password` is the one `stored` was made from; without a stored hash the same work
/// is done, so timing does not tell which users exist.
async fn password_matches(
    hashing: &PasswordHashing,
    password: &str,
    stored: Option<PasswordHash>,
) -> Result<bool, Busy> {
    hashing.verify(password, stored).await
}

/// Whether a form's CSRF field matches the expected token (constant time).
fn csrf_ok(expected: &str, got: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(got.as_bytes()))
}

/// The CSRF token for a form shown before sign-in: the browser's cookie, or a new one
/// (and the cookie to set).
fn anonymous_csrf(req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    if let Some(token) = req
        .cookie(CSRF_COOKIE)
        .and_then(|c| SecretToken::parse(c.value()))
    {
        return (token.secret().to_owned(), None);
    }
    let token = SecretToken::generate().secret().to_owned();
    let cookie = cookie(req, CSRF_COOKIE, token.clone(), SameSite::Strict);
    (token, Some(cookie))
}

fn cookie(
    req: &HttpRequest,
    name: &'static str,
    value: String,
    same_site: SameSite,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(same_site)
        .secure(req.connection_info().scheme() == "https")
        .finish()
}

/// The secret of the session the request's cookie names, if it is well formed.
pub(crate) fn session_secret(req: &HttpRequest) -> Option<SecretToken> {
    req.cookie(SESSION_COOKIE)
        .and_then(|c| SecretToken::parse(c.value()))
}

/// How long a browser stays signed in.
const SESSION_DAYS: i64 = 14;

/// Signs the browser in as `user`: to their hosts, with the session's cookie, which lasts as
/// long as the session.
async fn open_session(
    req: &HttpRequest,
    state: &AppState,
    user: WebUser,
) -> Result<HttpResponse, PageError> {
    let ttl = chrono::Duration::days(SESSION_DAYS);
    let (secret, _) = state.db.create_session(user, ttl).await?;
    let mut session = cookie(
        req,
        SESSION_COOKIE,
        secret.secret().to_owned(),
        SameSite::Lax,
    );
    session.set_max_age(actix_web::cookie::time::Duration::days(SESSION_DAYS));
    Ok(with_cookie(redirect("/hosts"), Some(session)))
}

fn with_cookie(mut response: HttpResponse, cookie: Option<Cookie<'static>>) -> HttpResponse {
    if let Some(cookie) = cookie
        && let Err(e) = response.add_cookie(&cookie)
    {
        tracing::error!("setting a cookie: {e}");
    }
    response
}
