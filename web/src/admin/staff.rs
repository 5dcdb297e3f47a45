//! [`Staff`] and [`StaffForm`]: what every console handler takes. They are made only from a
//! live session of a staff user; to anyone else (signed out, a tenant's user, a closed
//! session) every `/admin` URL is the site's own 404, the same page as an unknown URL, so
//! the console's existence is not told. Staff whose sign-in takes no second factor are sent
//! to its enrolment from every `/admin` URL: the console opens only behind a second factor.
//! A form's CSRF token is checked as on every page.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};

use crate::db::{Console, WebSession};
use crate::pages::{Nav, redirect, unknown_url_page};
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

    /// The staff member of `signed`, if the session's user is staff with a second factor.
    fn of(req: &HttpRequest, signed: Option<SignedIn>) -> Result<Staff, NotStaff> {
        let hidden = || NotStaff::Hidden(req.path().to_owned());
        let signed = signed.filter(|s| s.session.user.staff).ok_or_else(hidden)?;
        if !signed.session.user.second_factor {
            return Err(NotStaff::NoSecondFactor);
        }
        let state = req.app_data::<web::Data<AppState>>().ok_or_else(hidden)?;
        #[allow(clippy::disallowed_methods)]
        let console = state.db.console();
        Ok(Staff {
            session: signed.session,
            console,
        })
    }
}

/// Why the console is not open to a request.
#[derive(Debug, thiserror::Error)]
pub enum NotStaff {
    /// Not staff (or a form without its token): the site's 404 for the URL asked.
    #[error("not found")]
    Hidden(String),
    /// Staff whose sign-in takes no second factor yet: to its enrolment, and nowhere else.
    #[error("staff without a second factor")]
    NoSecondFactor,
}

impl ResponseError for NotStaff {
    fn status_code(&self) -> StatusCode {
        match self {
            NotStaff::Hidden(_) => StatusCode::NOT_FOUND,
            NotStaff::NoSecondFactor => StatusCode::SEE_OTHER,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            NotStaff::Hidden(path) => unknown_url_page(path),
            NotStaff::NoSecondFactor => redirect("/account/second-factor"),
        }
    }
}

impl FromRequest for Staff {
    type Error = NotStaff;
    type Future = Pin<Box<dyn Future<Output = Result<Staff, NotStaff>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed = SignedIn::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move { Staff::of(&req, signed.await.ok()) })
    }
}

impl FromRequest for StaffForm {
    type Error = NotStaff;
    type Future = Pin<Box<dyn Future<Output = Result<StaffForm, NotStaff>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let submitted = Submitted::staff_form(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let Ok(submitted) = submitted.await else {
                return Err(NotStaff::Hidden(req.path().to_owned()));
            };
            Ok(StaffForm {
                staff: Staff::of(&req, Some(submitted.signed))?,
                fields: submitted.fields,
            })
        })
    }
}
