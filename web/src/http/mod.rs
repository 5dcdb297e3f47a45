//! The HTTP front: routes, shared state, and the server's life cycle. Handlers parse their
//! request into domain types, call one service function, and render its result.

mod assets;
mod checkip;
mod client_ip;
mod dyndns2;
mod health;
mod landing;
mod minidns;
mod mintdns;
mod rexx;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{
    App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, http::StatusCode, web,
};
use base64::Engine;
pub use client_ip::TrustedProxies;
pub use dyndns2::BlockedAgents;

use crate::api::{ApiLimits, TokenKeys};
use crate::db::Db;
use crate::mail::Mailer;
use crate::publish::PublishStatus;
use crate::ui::LoginLimits;
use crate::update::{Credentials, Updater};

pub struct AppState {
    pub db: Db,
    pub updater: Updater,
    pub trusted_proxies: TrustedProxies,
    pub blocked_agents: BlockedAgents,
    /// `dyn53 web`'s publisher, for `/readyz`.
    pub publish: Option<Arc<PublishStatus>>,
    pub mailer: Mailer,
    /// The service's address as people reach it, without a trailing `/`: e-mailed links.
    pub public_url: String,
    pub login_limits: Arc<LoginLimits>,
    /// Signs and checks REST API tokens.
    pub token_keys: TokenKeys,
    /// REST API calls per caller.
    pub api_limits: Arc<ApiLimits>,
}

/// Every route; `update_paths` are extra paths for the dyndns2 update.
pub fn routes(cfg: &mut web::ServiceConfig, update_paths: &[String]) {
    cfg.configure(landing::routes)
        .configure(checkip::routes)
        .configure(|cfg| dyndns2::routes(cfg, update_paths))
        .configure(health::routes)
        .configure(mintdns::routes)
        .configure(minidns::routes)
        .configure(rexx::routes)
        .configure(crate::ui::routes)
        .configure(crate::api::routes)
        .configure(assets::routes);
}

/// Starts serving on already-bound listeners, so callers know their ports before anything
/// runs. Returns the handle that stops the server and the future that runs it.
pub fn start(
    state: AppState,
    update_paths: Vec<String>,
    listeners: Vec<TcpListener>,
) -> std::io::Result<(ServerHandle, actix_web::dev::Server)> {
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(security_headers())
            .app_data(state.clone())
            .configure(|cfg| routes(cfg, &update_paths))
    })
    .disable_signals()
    .workers(2);
    for listener in listeners {
        server = server.listen(listener)?;
    }
    let server = server.run();
    Ok((server.handle(), server))
}

/// A query string's parameters, trimmed; the last of a repeated name wins.
struct QueryParams(std::collections::HashMap<String, String>);

impl QueryParams {
    fn of(req: &HttpRequest) -> QueryParams {
        let pairs = form_urlencoded::parse(req.query_string().as_bytes());
        QueryParams(
            pairs
                .map(|(key, value)| (key.into_owned(), value.trim().to_owned()))
                .collect(),
        )
    }

    /// The parameter's value; `None` when absent or empty.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Headers on every response: pages run only their own scripts and styles, are never framed,
/// and send no referrer (links carry one-time tokens).
fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
}

/// A plain-text answer with a `Content-Length`, as field clients expect.
fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body.into())
}

/// HTTP Basic credentials, as every legacy protocol sends them.
pub(crate) fn basic_auth(req: &HttpRequest) -> Option<Credentials> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (login, secret) = decoded.split_once(':')?;
    Some(Credentials::password_or_key(login, secret))
}

/// 503 with `Retry-After` and the protocol's word for it (`911`): the database is
/// unavailable; nothing changed.
pub(crate) fn try_later(why: &dyn std::fmt::Display, body: &'static str) -> HttpResponse {
    tracing::error!("update failed: {why}");
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
    response
}
