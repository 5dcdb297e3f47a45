//! Static files, compiled into the binary.

use actix_web::{HttpResponse, http::header, web};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../static/"]
struct Static;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{path:.*}", web::get().to(asset));
}

async fn asset(path: web::Path<String>) -> HttpResponse {
    match Static::get(&path) {
        Some(file) => HttpResponse::Ok()
            .content_type(file.metadata.mimetype())
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(file.data.into_owned()),
        None => HttpResponse::NotFound()
            .content_type("text/plain")
            .body("not found"),
    }
}
