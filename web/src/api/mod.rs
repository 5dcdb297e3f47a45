//! The REST/JSON API under `/api/v1`, for scripts, ACME clients and integrators. Errors are
//! `application/problem+json` (RFC 9457) with a stable `code`; bodies are JSON of at most
//! 16 KiB, with unknown fields refused. Callers authenticate with a short-lived JWT from
//! `POST /api/v1/auth/token`, or an update key with the API scope, both as
//! `Authorization: Bearer`. The OpenAPI document is made from the handlers as registered
//! here (`docs.rs`), so it describes every route.

mod account;
mod auth;
mod body;
mod docs;
mod groups;
mod history;
mod hosts;
mod keys;
mod notifications;
mod problem;
mod records;
mod updates;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer};

use problem::Problem;

/// The largest request body accepted.
const MAX_BODY: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let query = web::QueryConfig::default().error_handler(|e, _| Problem::bad_query(&e).into());
    // The answer for a route the scope lacks needs the document, which needs the scope:
    // it reads the document from this cell, filled once the scope is made.
    let published = web::Data::new(std::sync::OnceLock::<docs::Published>::new());
    let unrouted = published.clone();
    let api = utoipa_actix_web::scope("/api/v1")
        .app_data(query)
        .app_data(web::PayloadConfig::new(MAX_BODY))
        .configure(auth::routes)
        .configure(account::routes)
        .configure(hosts::routes)
        .configure(updates::routes)
        .configure(history::routes)
        .configure(records::routes)
        .configure(groups::routes)
        .configure(keys::routes)
        .configure(notifications::routes)
        .default_service(web::to(move |req: HttpRequest| {
            let allowed = unrouted.get().and_then(|p| p.allowed(req.path()));
            async move { no_route(allowed) }
        }));
    let _ = published.set(docs::Published::new(&docs::document(&api)));
    // Before the scope, which would otherwise answer these paths with its default.
    cfg.configure(|cfg| docs::routes(cfg, published))
        .service(api);
}

/// No route: 405 with `Allow` for a path the API has with other methods, else 404.
fn no_route(allowed: Option<String>) -> HttpResponse {
    match allowed {
        Some(methods) => {
            let mut response = Problem::new(
                405,
                "method_not_allowed",
                format!("This resource takes {methods}."),
            )
            .response();
            if let Ok(value) = header::HeaderValue::from_str(&methods) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
        None => Problem::not_found("not_found", "There is no such resource.").response(),
    }
}

/// Page sizes: `limit`, 1 to 200, 50 when absent.
fn page_size(limit: Option<u64>) -> Result<u64, Problem> {
    match limit.unwrap_or(50) {
        limit @ 1..=200 => Ok(limit),
        _ => Err(Problem::new(
            400,
            "invalid_query",
            "limit is between 1 and 200.",
        )),
    }
}

/// A page's cursor: where the next page starts, opaque to clients.
struct Cursor;

impl Cursor {
    fn encode(position: &str) -> String {
        URL_SAFE_NO_PAD.encode(position)
    }

    fn decode(cursor: &str) -> Result<String, Problem> {
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(Cursor::invalid)
    }

    fn invalid() -> Problem {
        Problem::invalid("invalid_cursor", "cursor is not one this API gave.")
    }
}

/// A field that may be absent (`None`: leave it), `null` (`Some(None)`: remove it) or set.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
