//! The legacy update protocols over HTTP (dyndns2, MintDNS, miniDNS's `areg.php`, Rexx),
//! the IP-check pages, health, the landing page and assets. Handlers parse their request into
//! domain types, call one service function, and render its result.

mod assets;
mod checkip;
pub mod dyndns2;
mod health;
mod landing;
mod minidns;
mod mintdns;
mod rexx;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use base64::Engine;

use crate::update::Credentials;

/// The routes of this module; `update_paths` are extra paths for the dyndns2 update.
pub fn routes(cfg: &mut web::ServiceConfig, update_paths: &[String]) {
    cfg.configure(landing::routes)
        .configure(checkip::routes)
        .configure(|cfg| dyndns2::routes(cfg, update_paths))
        .configure(health::routes)
        .configure(mintdns::routes)
        .configure(minidns::routes)
        .configure(rexx::routes)
        .configure(assets::routes);
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
