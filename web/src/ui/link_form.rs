//! The pages behind e-mailed links that ask for a new password (a reset, an invitation):
//! one form that sends the password back with the link's token.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::FORM_EXPIRED;
use super::{
    Nav, anonymous_csrf, anonymous_csrf_ok, chosen_password, page, try_later, with_cookie,
};
use crate::domain::{PasswordHash, SecretToken};

/// Which link the form is behind.
#[derive(Clone, Copy)]
pub(super) enum LinkKind {
    Reset,
    Join,
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
    token: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct LinkForm {
    pub token: String,
    pub password: String,
    pub csrf: String,
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
        token: token.to_owned(),
        error,
    };
    with_cookie(page(status, &view), set)
}

/// A sent form checked (CSRF, then the password): the password's hash and the link's
/// token (`None` when it cannot be one), or the page to answer with.
pub(super) async fn accept(
    req: &HttpRequest,
    kind: LinkKind,
    form: &LinkForm,
) -> Result<(PasswordHash, Option<SecretToken>), HttpResponse> {
    let again = |why: String, status| show(req, kind, &form.token, Some(why), status);
    if !anonymous_csrf_ok(req, &form.csrf) {
        return Err(again(FORM_EXPIRED.into(), StatusCode::FORBIDDEN));
    }
    // The address is not known before the token is used: not compared with the password.
    match chosen_password(&form.password, "").await {
        Ok(hash) => Ok((hash, SecretToken::parse(form.token.trim()))),
        Err(Some(why)) => Err(again(why, StatusCode::BAD_REQUEST)),
        Err(None) => Err(try_later(&"hashing a password failed")),
    }
}
