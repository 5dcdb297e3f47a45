//! `GET /checkip`: the caller's address, in exactly the page checkip.dyndns.org serves,
//! because clients scrape it.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/checkip", web::get().to(checkip));
}

async fn checkip(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ip = state.trusted_proxies.client_ip(&req);
    HttpResponse::Ok().content_type("text/html").body(format!(
        "<html><head><title>Current IP Check</title></head><body>Current IP Address: {ip}</body></html>"
    ))
}
