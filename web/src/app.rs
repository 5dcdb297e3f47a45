//! The composition root of the HTTP server: every route, the headers every response carries,
//! the answer for an unknown URL, and the server's life cycle.

use std::net::TcpListener;

use actix_web::http::header;
use actix_web::{App, HttpServer, dev::ServerHandle, web};

use crate::state::AppState;

/// Every route; `update_paths` are extra paths for the dyndns2 update.
pub fn routes(cfg: &mut web::ServiceConfig, update_paths: &[String]) {
    cfg.configure(|cfg| crate::http::routes(cfg, update_paths))
        .configure(crate::ui::routes)
        .configure(crate::api::routes)
        .configure(crate::admin::routes);
}

/// Starts serving on already-bound listeners, so callers know their ports before anything
/// runs. Returns the handle that stops the server and the future that runs it.
pub fn start(
    state: AppState,
    update_paths: Vec<String>,
    listeners: Vec<TcpListener>,
    tls_listeners: Vec<(TcpListener, rustls::ServerConfig)>,
) -> std::io::Result<(ServerHandle, actix_web::dev::Server)> {
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(security_headers())
            .wrap(actix_web::middleware::from_fn(
                crate::request_id::request_id,
            ))
            .app_data(state.clone())
            .configure(|cfg| routes(cfg, &update_paths))
            .default_service(web::to(crate::pages::unknown_url))
    })
    .disable_signals()
    .workers(2);
    for listener in listeners {
        server = server.listen(listener)?;
    }
    for (listener, config) in tls_listeners {
        server = server.listen_rustls_0_23(listener, config)?;
    }
    let server = server.run();
    Ok((server.handle(), server))
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
