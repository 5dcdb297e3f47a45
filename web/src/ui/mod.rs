//! The account manager: pages for people, served by `web` at the paths they guess
//! (`/signup`, `/login`, `/hosts`, `/keys`, …). Pages work without JavaScript; forms carry
//! a CSRF token; every change to DNS goes through the update service or a [`Tenant`]
//! write, like any other.
//!
//! [`Tenant`]: crate::db::Tenant

mod account;
mod groups;
mod host_edit;
mod hosts;
mod keys;
mod link_form;
mod profile;
mod setup_help;
mod team;

use std::net::IpAddr;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use subtle::ConstantTimeEq;

use crate::db::{DbError, WebSession};
use crate::domain::{PasswordHash, SecretToken, check_new_password, hash_password};
use crate::http::AppState;
use crate::update::{AbuseLimit, WindowCounter};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(account::routes)
        .configure(hosts::routes)
        .configure(host_edit::routes)
        .configure(groups::routes)
        .configure(profile::routes)
        .configure(team::routes)
        .configure(keys::routes);
}

/// The session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS.
const SESSION_COOKIE: &str = "dyn53_session";
/// The CSRF cookie of forms shown before a sign-in (double submit).
const CSRF_COOKIE: &str = "dyn53_csrf";

/// Failed sign-ins counted per e-mail (whether or not it exists) and per source address.
pub struct LoginLimits {
    by_email: WindowCounter<String>,
    by_source: WindowCounter<IpAddr>,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let window = std::time::Duration::from_secs(15 * 60);
        LoginLimits {
            by_email: WindowCounter::new(AbuseLimit { max: 10, window }),
            by_source: WindowCounter::new(AbuseLimit { max: 50, window }),
        }
    }
}

impl LoginLimits {
    pub(crate) fn refuses(&self, email: &str, source: IpAddr) -> bool {
        self.by_email.is_full(email.to_owned()) || self.by_source.is_full(source)
    }

    pub(crate) fn failed(&self, email: &str, source: IpAddr) {
        self.by_email.record(email.to_owned());
        self.by_source.record(source);
    }
}

/// The navigation every page shows: who is signed in, and the token of the sign-out form.
pub struct Nav {
    pub email: Option<String>,
    pub csrf: String,
}

impl Nav {
    fn signed_in(session: &WebSession) -> Nav {
        Nav {
            email: Some(session.user.email.to_string()),
            csrf: session.csrf.clone(),
        }
    }

    fn anonymous(csrf: &str) -> Nav {
        Nav {
            email: None,
            csrf: csrf.to_owned(),
        }
    }
}

/// Renders a page; a template error (a bug) is a logged 500 without details.
fn page(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!("rendering a page: {e}");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// A page saying something went wrong on our side (the database), without details.
fn try_later(why: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!("account manager: {why}");
    let message = Message {
        nav: Nav::anonymous(""),
        title: "Please try again later".into(),
        text: "The service could not complete this just now. Please try again in a minute.".into(),
        link: None,
    };
    page(StatusCode::SERVICE_UNAVAILABLE, &message)
}

fn not_found(nav: Nav) -> HttpResponse {
    let message = Message {
        nav,
        title: "Not found".into(),
        text: "There is nothing here, or it is not yours.".into(),
        link: Some(("/hosts".into(), "Your hosts".into())),
    };
    page(StatusCode::NOT_FOUND, &message)
}

/// The answer to removing one of the account's objects by the id in the URL: back to `list`
/// when it was removed, 404 when the account has no such object (or the id is no number).
async fn removed<F: Future<Output = Result<bool, DbError>>>(
    session: &WebSession,
    id: &str,
    list: &str,
    remove: impl FnOnce(i64) -> F,
) -> HttpResponse {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(Nav::signed_in(session));
    };
    match remove(id).await {
        Ok(true) => redirect(list),
        Ok(false) => not_found(Nav::signed_in(session)),
        Err(e) => try_later(&e),
    }
}

/// A short page with one message and an optional link onwards.
#[derive(Template)]
#[template(path = "message.html")]
struct Message {
    nav: Nav,
    title: String,
    text: String,
    link: Option<(String, String)>,
}

/// The signed-in browser, or a redirect to the sign-in page.
async fn signed_in(req: &HttpRequest, state: &AppState) -> Result<WebSession, HttpResponse> {
    let secret = req
        .cookie(SESSION_COOKIE)
        .and_then(|c| SecretToken::parse(c.value()));
    let Some(secret) = secret else {
        return Err(redirect("/login"));
    };
    match state.db.session(&secret).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(redirect("/login")),
        Err(e) => Err(try_later(&e)),
    }
}

/// A URL-encoded form whose fields may repeat (one `hosts` per ticked box).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(body: &[u8]) -> Fields {
        Fields(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; empty when absent.
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The answer to a form whose CSRF token does not match.
const FORM_EXPIRED: &str = "This form has expired: please send it again.";

/// A form that carries nothing but its CSRF token (delete, revoke, remove, sign out).
#[derive(serde::Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// The `?token=` of an e-mailed link.
#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// A password a person chose (sign-up, reset, change, joining): checked, then hashed with
/// argon2id off the async workers. `Err(Some(why))` to show in the form, `Err(None)` when
/// hashing failed (our fault).
async fn chosen_password(password: &str, email: &str) -> Result<PasswordHash, Option<String>> {
    if let Err(weak) = check_new_password(password, email) {
        return Err(Some(format!("Choose another password: {weak}.")));
    }
    let password = password.to_owned();
    match tokio::task::spawn_blocking(move || hash_password(&password)).await {
        Ok(Ok(hash)) => Ok(hash),
        _ => Err(None),
    }
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

/// Whether an anonymous form's CSRF field matches the browser's cookie.
fn anonymous_csrf_ok(req: &HttpRequest, got: &str) -> bool {
    req.cookie(CSRF_COOKIE)
        .is_some_and(|c| csrf_ok(c.value(), got))
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

fn with_cookie(mut response: HttpResponse, cookie: Option<Cookie<'static>>) -> HttpResponse {
    if let Some(cookie) = cookie
        && let Err(e) = response.add_cookie(&cookie)
    {
        tracing::error!("setting a cookie: {e}");
    }
    response
}
