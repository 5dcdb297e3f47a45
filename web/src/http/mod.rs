//! The HTTP front: routes, shared state, and the server's life cycle. Handlers parse their
//! request into domain types, call one service function, and render its result.

mod assets;
mod checkip;
mod client_ip;
mod dyndns2;
mod health;
mod landing;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, dev::ServerHandle, http::StatusCode, web};
pub use client_ip::TrustedProxies;

use crate::db::Db;
use crate::publish::PublishStatus;
use crate::update::Updater;

pub struct AppState {
    pub db: Db,
    pub updater: Updater,
    pub trusted_proxies: TrustedProxies,
    /// `dyn53 web`'s publisher, for `/readyz`.
    pub publish: Option<Arc<PublishStatus>>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(landing::routes)
        .configure(checkip::routes)
        .configure(dyndns2::routes)
        .configure(health::routes)
        .configure(assets::routes);
}

/// Starts serving on already-bound listeners, so callers know their ports before anything
/// runs. Returns the handle that stops the server and the future that runs it.
pub fn start(
    state: AppState,
    listeners: Vec<TcpListener>,
) -> std::io::Result<(ServerHandle, actix_web::dev::Server)> {
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || App::new().app_data(state.clone()).configure(routes))
        .disable_signals()
        .workers(2);
    for listener in listeners {
        server = server.listen(listener)?;
    }
    let server = server.run();
    Ok((server.handle(), server))
}

/// A plain-text answer with a `Content-Length`, as field clients expect.
fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body.into())
}
