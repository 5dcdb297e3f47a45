//! The console of the operator's staff under `/admin`. Every handler takes [`Staff`] or
//! [`StaffForm`], made only for a staff user's session: anyone else gets the site's 404 for
//! every URL here. The console reads across accounts through `db::Console`, which only
//! `Staff` opens; its changes go through `WriteTx` like every other surface's, so they reach
//! DNS the same way, and each is audited with the staff actor.

mod abuse;
mod accounts;
mod audit;
mod fleet;
mod home;
mod hosts;
mod registration;
mod staff;
mod zones;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::pages::unknown_url_page;

pub use staff::{NotStaff, Staff, StaffForm};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(audit::routes);
    cfg.configure(home::routes);
    cfg.configure(zones::routes);
    cfg.configure(fleet::routes);
    cfg.configure(registration::routes);
    cfg.configure(accounts::routes);
    cfg.configure(hosts::routes);
    cfg.configure(abuse::routes);
    // Last: any other URL or method under /admin is the site's 404, but only once `Staff`
    // has been made, so that staff without a second factor are sent to its enrolment even
    // here, and nobody can tell the console's URLs from unknown ones.
    cfg.service(web::resource(["/admin", "/admin/{rest:.*}"]).to(unknown_console_url));
}

async fn unknown_console_url(_staff: Staff, req: HttpRequest) -> HttpResponse {
    unknown_url_page(req.path())
}
