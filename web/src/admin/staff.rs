//! [`Staff`] and [`StaffForm`]: what every console handler takes. They are made only from a
//! live session of a staff user; to anyone else (signed out, a tenant's user, a closed
//! session) every `/admin` URL is the site's own 404, the same page as an unknown URL, so
//! the console's existence is not told. A form's CSRF token is checked as on every page.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};

use crate::db::{Console, WebSession};
use crate::pages::{Nav, unknown_url_page};
use crate::state::AppState;
use crate::ui::Fields;
use crate::ui::session::{SignedIn, Submitted};

/// A signed-in staff member, and the console's queries.
pub struct Staff {
    pub session: WebSession,
    pub console: Console,
}

/// A form a staff member sent, its CSRF token checked.
pub struct StaffForm {
    pub staff: Staff,
    pub fields: Fields,
}

impl Staff {
    pub fn nav(&self) -> Nav {
        Nav::signed_in(&self.session)
    }

    /// The audit log's actor for this staff member's actions.
    pub fn actor(&self) -> String {
        format!("staff:{}", self.session.user.email)
    }

    /// The staff member of `signed`, if the session's user is staff.
    fn of(req: &HttpRequest, signed: SignedIn) -> Option<Staff> {
        if !signed.session.user.staff {
            return None;
        }
        let state = req.app_data::<web::Data<AppState>>()?;
        #[allow(clippy::disallowed_methods)]
        let console = state.db.console();
        Some(Staff {
            session: signed.session,
            console,
        })
    }
}

/// Not staff (or a form without its token): the site's 404 for the URL asked.
#[derive(Debug, thiserror::Error)]
#[error("not found")]
pub struct NotStaff(String);

impl ResponseError for NotStaff {
    fn status_code(&self) -> StatusCode {
        StatusCode::NOT_FOUND
    }

    fn error_response(&self) -> HttpResponse {
        unknown_url_page(&self.0)
    }
}

impl FromRequest for Staff {
    type Error = NotStaff;
    type Future = Pin<Box<dyn Future<Output = Result<Staff, NotStaff>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed = SignedIn::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let staff = signed.await.ok().and_then(|s| Staff::of(&req, s));
            staff.ok_or_else(|| NotStaff(req.path().to_owned()))
        })
    }
}

impl FromRequest for StaffForm {
    type Error = NotStaff;
    type Future = Pin<Box<dyn Future<Output = Result<StaffForm, NotStaff>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let submitted = Submitted::staff_form(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let form = submitted.await.ok().and_then(|s| {
                let staff = Staff::of(&req, s.signed)?;
                Some(StaffForm {
                    staff,
                    fields: s.fields,
                })
            });
            form.ok_or_else(|| NotStaff(req.path().to_owned()))
        })
    }
}
