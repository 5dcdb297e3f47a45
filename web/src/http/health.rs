//! `/healthz` (the process answers) and `/readyz` (it can take updates: the database
//! answers), for load balancers and orchestrators. `/readyz` also says how publishing goes
//! and where the limits are counted, without failing for either: updates are accepted while
//! Redis is down.

use std::sync::atomic::Ordering::Relaxed;

use actix_web::{HttpResponse, http::StatusCode, web};

use super::text;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    text(StatusCode::OK, "ok\n")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let revision = match state.db.feed_revision().await {
        Ok(revision) => revision,
        Err(_) => return text(StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
    };
    let mut body = format!("ready\nrevision {revision}\n");
    if let Some(publish) = &state.publish {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        body.push_str(&format!(
            "publisher {}\nredis reachable {}\npublished {}\n",
            yes_no(publish.leader.load(Relaxed)),
            yes_no(publish.redis_ok.load(Relaxed)),
            publish.published.load(Relaxed),
        ));
    }
    if let Some(shared) = state.updater.limits_shared() {
        body.push_str(if shared {
            "limits shared in redis\n"
        } else {
            "limits per process (redis unreachable)\n"
        });
    }
    text(StatusCode::OK, body)
}
