//! The REST/JSON API under `/api/v1`, for scripts and integrators. Errors are
//! `application/problem+json` (RFC 9457) with a stable `code`; bodies are JSON of at most
//! 16 KiB, with unknown fields refused. Callers authenticate with a short-lived JWT from
//! `POST /api/v1/auth/token`, or an update key with the API scope, both as
//! `Authorization: Bearer`.

mod auth;
mod hosts;
mod problem;

use actix_web::web;

pub use auth::TokenKeys;
use problem::Problem;

/// The largest request body accepted.
const MAX_BODY: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let json = web::JsonConfig::default()
        .limit(MAX_BODY)
        .content_type_required(true)
        .error_handler(|e, _| Problem::bad_body(&e).into());
    cfg.service(
        web::scope("/api/v1")
            .app_data(json)
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .configure(auth::routes)
            .configure(hosts::routes)
            .default_service(web::to(|| async {
                Problem::new(404, "not_found", "There is no such resource.").response()
            })),
    );
}
