//! MintDNS's calls besides the dyndns2 update (which it sends to `/nic/update/default.aspx`):
//! a credentials check, the caller's address, and the list of the user's host names as XML
//! (`<?xml version="1.0" encoding="UTF-8"?><domains><domain>FQDN</domain>…</domains>`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{basic_auth, text, try_later};
use crate::state::AppState;
use crate::update::UpdateError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/client/usercheck.aspx", web::get().to(usercheck))
        .route("/client/domlook.aspx", web::get().to(domlook))
        .route("/ipcheck.aspx", web::get().to(ipcheck));
}

async fn usercheck(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(credentials) = basic_auth(&req) else {
        return text(StatusCode::UNAUTHORIZED, "nouser");
    };
    let source = state.trusted_proxies.client_ip(&req);
    match state.updater.check(&credentials, source).await {
        Ok(()) => text(StatusCode::OK, "okuser"),
        Err(UpdateError::BadAuth(_) | UpdateError::AccountInactive) => {
            text(StatusCode::UNAUTHORIZED, "nouser")
        }
        Err(e) => try_later(&e, "911"),
    }
}

async fn domlook(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(credentials) = basic_auth(&req) else {
        return text(StatusCode::UNAUTHORIZED, "nouser");
    };
    let source = state.trusted_proxies.client_ip(&req);
    match state.updater.updatable_hosts(&credentials, source).await {
        Ok(names) => {
            // Host names are LDH ASCII (punycode): nothing in them needs XML escaping.
            let domains: String = names
                .iter()
                .map(|name| format!("<domain>{name}</domain>"))
                .collect();
            HttpResponse::Ok()
                .content_type("text/xml; charset=utf-8")
                .body(format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><domains>{domains}</domains>"
                ))
        }
        Err(UpdateError::BadAuth(_) | UpdateError::AccountInactive) => {
            text(StatusCode::UNAUTHORIZED, "nouser")
        }
        Err(e) => try_later(&e, "911"),
    }
}

async fn ipcheck(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    text(
        StatusCode::OK,
        state.trusted_proxies.client_ip(&req).to_string(),
    )
}
