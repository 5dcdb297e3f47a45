//! `/`: says what this is and how to use it.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(landing));
}

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    zones: Vec<String>,
}

async fn landing(state: web::Data<AppState>) -> HttpResponse {
    // The page is still useful without the zone list if the database is down.
    let zones = state
        .db
        .zones()
        .await
        .map(|z| z.into_iter().map(|z| z.name.to_string()).collect());
    match (Landing {
        zones: zones.unwrap_or_default(),
    })
    .render()
    {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => {
            tracing::error!("rendering the landing page: {e}");
            HttpResponse::InternalServerError().finish()
        }
    }
}
