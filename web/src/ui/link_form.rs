//! The pages behind e-mailed links that ask for a password (a reset and an invitation ask for
//! a new one; a verification asks for the one chosen at sign-up): one form that sends the
//! password back with the link's token. A link is checked before any password is hashed, so
//! a flood of bogus links costs a database read each, never an argon2id run.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use super::session::{AnonymousForm, PageError};
use super::{anonymous_csrf, chosen_password, with_cookie};
use crate::db::{TokenData, TokenPurpose};
use crate::domain::{PasswordHash, SecretToken};
use crate::pages::{Nav, page};
use crate::state::AppState;

/// Which link the form is behind.
#[derive(Clone, Copy)]
pub(super) enum LinkKind {
    Reset,
    Join,
    Verify,
}

impl LinkKind {
    /// (title, form action, password label, button)
    fn words(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            LinkKind::Reset => (
                "Choose a new password",
                "/reset",
                "New password (at least 10 characters)",
                "Save the password",
            ),
            LinkKind::Join => (
                "Join an account",
                "/join",
                "Choose a password (at least 10 characters)",
                "Join",
            ),
            LinkKind::Verify => (
                "Confirm your address",
                "/verify",
                "The password you chose when you signed up",
                "Confirm and sign in",
            ),
        }
    }

    pub(super) fn purpose(self) -> TokenPurpose {
        match self {
            LinkKind::Reset => TokenPurpose::Reset,
            LinkKind::Join => TokenPurpose::Invite,
            LinkKind::Verify => TokenPurpose::Verify,
        }
    }

    /// What the form says when its link is unknown, used or expired.
    pub(super) fn dead(self) -> &'static str {
        match self {
            LinkKind::Reset => {
                "This link does not work: it was used already, or has expired. Ask for a new one."
            }
            LinkKind::Join => "This invitation does not work: it was used already, or has expired.",
            LinkKind::Verify => {
                "This link does not work: it was used already, has expired, or a newer sign-up \
                 replaced it. Sign up again to get a new one."
            }
        }
    }
}

#[derive(Template)]
#[template(path = "link_form.html")]
struct LinkPage {
    nav: Nav,
    title: &'static str,
    action: &'static str,
    label: &'static str,
    button: &'static str,
    /// `new-password` or `current-password`, for password managers.
    autocomplete: &'static str,
    token: String,
    error: Option<String>,
}

/// The form, holding `token`, with an error when there is one.
pub(super) fn show(
    req: &HttpRequest,
    kind: LinkKind,
    token: &str,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let (csrf, set) = anonymous_csrf(req);
    let (title, action, label, button) = kind.words();
    let view = LinkPage {
        nav: Nav::anonymous(&csrf),
        title,
        action,
        label,
        button,
        autocomplete: match kind {
            LinkKind::Verify => "current-password",
            _ => "new-password",
        },
        token: token.to_owned(),
        error,
    };
    with_cookie(page(status, &view), set)
}

/// The sent form's link and what it carries, if it is still live: the form again when not.
pub(super) async fn live_link(
    req: &HttpRequest,
    state: &AppState,
    kind: LinkKind,
    form: &AnonymousForm,
) -> Result<(SecretToken, TokenData), HttpResponse> {
    let sent = form.fields.get("token");
    let dead = || {
        show(
            req,
            kind,
            sent,
            Some(kind.dead().into()),
            StatusCode::BAD_REQUEST,
        )
    };
    let token = SecretToken::parse(sent).ok_or_else(dead)?;
    match state.db.peek_token(kind.purpose(), &token).await {
        Ok(Some(data)) => Ok((token, data)),
        Ok(None) => Err(dead()),
        Err(e) => Err(PageError::from(e).error_response()),
    }
}

/// A form with a new password behind a live link: the password's hash and the link's token,
/// or the page to answer with.
pub(super) async fn accept(
    req: &HttpRequest,
    state: &AppState,
    kind: LinkKind,
    form: &AnonymousForm,
) -> Result<(PasswordHash, SecretToken), HttpResponse> {
    let (token, _) = live_link(req, state, kind, form).await?;
    let sent = form.fields.get("token");
    // The address is not known before the token is used: not compared with the password.
    match chosen_password(&state.hashing, form.fields.get("password"), "").await {
        Ok(hash) => Ok((hash, token)),
        Err(Some(why)) => Err(show(req, kind, sent, Some(why), StatusCode::BAD_REQUEST)),
        Err(None) => Err(PageError::TryLater("hashing a password failed".into()).error_response()),
    }
}
