//! The console of the operator's staff under `/admin`. Every handler takes [`Staff`] or
//! [`StaffForm`], made only for a staff user's session: anyone else gets the site's 404 for
//! every URL here. The console reads across accounts through `db::Console`, which only
//! `Staff` opens; its changes go through `WriteTx` like every other surface's, so they reach
//! DNS the same way, and each is audited with the staff actor.

mod abuse;
mod home;
mod staff;

use actix_web::web;

pub use staff::{NotStaff, Staff, StaffForm};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(home::routes);
    cfg.configure(abuse::routes);
}
