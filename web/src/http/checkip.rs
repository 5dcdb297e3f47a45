//! `GET /checkip`: the caller's address, in exactly the page checkip.dyndns.org serves,
//! because clients scrape it; `GET /checkip.cgi` (Rexx): the address alone.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/checkip", web::get().to(checkip))
        .route("/checkip.cgi", web::get().to(address_only));
}

async fn checkip(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ip = state.trusted_proxies.client_ip(&req);
    HttpResponse::Ok().content_type("text/html").body(format!(
        "<html><head><title>Current IP Check</title></head><body>Current IP Address: {ip}</body></html>"
    ))
}

async fn address_only(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(state.trusted_proxies.client_ip(&req).to_string())
}
