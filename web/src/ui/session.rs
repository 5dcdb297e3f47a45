//! What every page handler takes instead of checking by hand: [`SignedIn`] (a live session
//! of a verified user of an active account, with its [`Access`]), [`Submitted`] (the same,
//! and a form whose CSRF token matches the session's), [`AnonymousForm`] (a form shown before
//! sign-in, checked against its double-submit cookie); and [`PageError`], the one error of
//! the pages, rendered in one place.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::Cookie;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};

use super::{CSRF_COOKIE, Fields, anonymous_csrf, csrf_ok};
use crate::access::{Access, Refusal};
use crate::db::{DbError, WebSession};
use crate::domain::AccountStatus;
use crate::hashing::Busy;
use crate::pages::{Message, Nav, page, redirect};
use crate::state::AppState;
use crate::update::Credentials;

/// A signed-in browser.
pub struct SignedIn {
    pub session: WebSession,
    pub access: Access,
}

impl SignedIn {
    pub fn nav(&self) -> Nav {
        Nav::signed_in(&self.session)
    }

    /// A refusal, as a page.
    pub fn refused(&self, why: impl std::fmt::Display) -> PageError {
        PageError::Refused(self.nav(), why.to_string())
    }

    pub fn not_found(&self) -> PageError {
        PageError::NotFound(self.nav())
    }
}

/// A form a signed-in browser sent, its CSRF token checked.
pub struct Submitted {
    pub signed: SignedIn,
    pub fields: Fields,
}

/// A form sent before sign-in, its CSRF token checked against the browser's cookie: the
/// fields, and the token (with the cookie to set, if new) for the page that answers.
pub struct AnonymousForm {
    pub fields: Fields,
    pub csrf: String,
    pub set_cookie: Option<Cookie<'static>>,
}

/// Why a page could not be shown or a form not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No live session: to the sign-in page.
    #[error("not signed in")]
    SignIn,
    /// The session's account may not use the pages.
    #[error("the account is {}", .0.as_str())]
    Inactive(AccountStatus),
    /// The form's CSRF token does not match.
    #[error("a form without its token")]
    Expired(Nav),
    #[error("not found")]
    NotFound(Nav),
    #[error("refused: {1}")]
    Refused(Nav, String),
    /// The database failed, or too many passwords are being checked: nothing was changed.
    #[error("{0}")]
    TryLater(String),
}

impl From<DbError> for PageError {
    fn from(e: DbError) -> Self {
        PageError::TryLater(e.to_string())
    }
}

impl From<Busy> for PageError {
    fn from(e: Busy) -> Self {
        PageError::TryLater(e.to_string())
    }
}

/// What the sign-in page says to a user whose account is not active.
pub fn inactive_text(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Suspended => {
            "This account is suspended: its pages are closed and its hosts cannot be changed. \
             Write to the service's support to have it reopened."
        }
        _ => {
            "This account is blocked for abuse: its pages are closed and its hosts cannot be \
             changed. Write to the service's support if you think this is a mistake."
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn => StatusCode::SEE_OTHER,
            PageError::Inactive(_) | PageError::Expired(_) | PageError::Refused(..) => {
                StatusCode::FORBIDDEN
            }
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::TryLater(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (nav, title, text, link) = match self {
            PageError::SignIn => return redirect("/login"),
            PageError::Inactive(status) => (
                Nav::anonymous(""),
                "This account is closed",
                inactive_text(*status).to_owned(),
                None,
            ),
            PageError::Expired(nav) => (
                nav.clone(),
                "This form has expired",
                super::FORM_EXPIRED.to_owned(),
                None,
            ),
            PageError::NotFound(nav) => (
                nav.clone(),
                "Not found",
                "There is nothing here, or it is not yours.".to_owned(),
                Some(("/hosts".into(), "Your hosts".into())),
            ),
            PageError::Refused(nav, why) => (nav.clone(), "Not allowed", why.clone(), None),
            PageError::TryLater(why) => {
                tracing::error!("account manager: {why}");
                (
                    Nav::anonymous(""),
                    "Please try again later",
                    "The service could not complete this just now. Please try again in a minute."
                        .to_owned(),
                    None,
                )
            }
        };
        let message = Message {
            nav,
            title: title.into(),
            text,
            link,
        };
        page(self.status_code(), &message)
    }
}

impl From<Refusal> for PageError {
    /// A refusal without the page's navigation; handlers use [`SignedIn::refused`].
    fn from(refusal: Refusal) -> Self {
        PageError::Refused(Nav::anonymous(""), refusal.to_string())
    }
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, PageError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| PageError::TryLater("the pages have no state".into()))
}

async fn signed_in(req: &HttpRequest) -> Result<SignedIn, PageError> {
    let state = app_state(req)?;
    let secret = super::session_secret(req).ok_or(PageError::SignIn)?;
    let session = state
        .db
        .session(&secret)
        .await?
        .filter(|s| s.user.verified)
        .ok_or(PageError::SignIn)?;
    if session.user.account_status != AccountStatus::Active {
        return Err(PageError::Inactive(session.user.account_status));
    }
    let credentials = Credentials::signed_in(&session);
    let access = match &session.viewing {
        Some(owner) => Access::view_as(&state.db, owner.clone(), credentials),
        None => Access::new(&state.db, session.user.clone(), None, credentials),
    };
    Ok(SignedIn { session, access })
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<SignedIn, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { signed_in(&req).await })
    }
}

/// A form body, read whole (forms are small: actix's limit applies).
fn form_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<Fields, PageError>> + use<> {
    let body = web::Bytes::from_request(req, payload);
    async move {
        let body = body.await.map_err(|_| {
            PageError::Refused(Nav::anonymous(""), "The form was cut short.".into())
        })?;
        Ok(Fields::parse(&body))
    }
}

impl Submitted {
    /// A form with its token checked, also from staff viewing an account as staff: for the
    /// console's forms only (`admin::StaffForm`), which act as the staff member.
    pub fn staff_form(
        req: &HttpRequest,
        payload: &mut Payload,
    ) -> impl Future<Output = Result<Submitted, PageError>> + use<> {
        let req = req.clone();
        let fields = form_body(&req, payload);
        async move {
            let signed = signed_in(&req).await?;
            let fields = fields.await?;
            if !csrf_ok(&signed.session.csrf, fields.get("csrf")) {
                return Err(PageError::Expired(signed.nav()));
            }
            Ok(Submitted { signed, fields })
        }
    }
}

impl FromRequest for Submitted {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Submitted, PageError>>>>;

    /// Refuses every form of staff viewing an account as staff, whatever it would change
    /// (profile, sign-out included): the view is read only below the capabilities too.
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = Submitted::staff_form(req, payload);
        Box::pin(async move {
            let form = form.await?;
            if form.signed.session.viewing.is_some() {
                return Err(form.signed.refused(Refusal::ViewingAsStaff));
            }
            Ok(form)
        })
    }
}

impl FromRequest for AnonymousForm {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<AnonymousForm, PageError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let fields = form_body(&req, payload);
        Box::pin(async move {
            let fields = fields.await?;
            let (csrf, set_cookie) = anonymous_csrf(&req);
            let sent = req
                .cookie(CSRF_COOKIE)
                .is_some_and(|c| csrf_ok(c.value(), fields.get("csrf")));
            if !sent {
                return Err(PageError::Expired(Nav::anonymous(&csrf)));
            }
            Ok(AnonymousForm {
                fields,
                csrf,
                set_cookie,
            })
        })
    }
}
