//! `/admin`: the console's first page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::Staff;
use crate::pages::{Nav, page};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(home));
}

#[derive(Template)]
#[template(path = "admin/home.html")]
struct HomePage {
    nav: Nav,
}

async fn home(staff: Staff) -> HttpResponse {
    page(StatusCode::OK, &HomePage { nav: staff.nav() })
}
