//! Rendering a page of the site: the navigation every page shows, a short message page, the
//! site's own "not found" and "try later" pages. Shared by the account manager and the API's
//! reference page.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::db::WebSession;

/// The navigation every page shows: who is signed in, and the token of the sign-out form.
#[derive(Clone, Debug)]
pub struct Nav {
    pub email: Option<String>,
    pub csrf: String,
    /// The signed-in user is staff: the navigation links the console.
    pub staff: bool,
    /// Staff viewing an account as staff: its owner's address, for the read-only banner.
    pub viewing: Option<String>,
}

impl Nav {
    pub fn signed_in(session: &WebSession) -> Nav {
        Nav {
            email: Some(session.user.email.to_string()),
            csrf: session.csrf.clone(),
            staff: session.user.staff,
            viewing: session
                .viewing
                .as_ref()
                .map(|owner| owner.email.to_string()),
        }
    }

    pub fn anonymous(csrf: &str) -> Nav {
        Nav {
            email: None,
            csrf: csrf.to_owned(),
            staff: false,
            viewing: None,
        }
    }
}

/// Renders a page; a template error (a bug) is a logged 500 without details.
pub fn page(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!("rendering a page: {e}");
            HttpResponse::InternalServerError().finish()
        }
    }
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// A page saying something went wrong on our side (the database), without details.
pub fn try_later(why: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!("account manager: {why}");
    let message = Message {
        nav: Nav::anonymous(""),
        title: "Please try again later".into(),
        text: "The service could not complete this just now. Please try again in a minute.".into(),
        link: None,
    };
    page(StatusCode::SERVICE_UNAVAILABLE, &message)
}

pub fn not_found(nav: Nav) -> HttpResponse {
    let message = Message {
        nav,
        title: "Not found".into(),
        text: "There is nothing here, or it is not yours.".into(),
        link: Some(("/hosts".into(), "Your hosts".into())),
    };
    page(StatusCode::NOT_FOUND, &message)
}

/// A short page with one message and an optional link onwards.
#[derive(Template)]
#[template(path = "message.html")]
pub struct Message {
    pub nav: Nav,
    pub title: String,
    pub text: String,
    pub link: Option<(String, String)>,
}

/// Any URL no route has: the site's own 404 page (the API answers its own problem).
pub async fn unknown_url(req: HttpRequest) -> HttpResponse {
    unknown_url_page(req.path())
}

/// The site's 404 for `path`: an unknown URL, and every console URL to anyone but staff.
pub fn unknown_url_page(path: &str) -> HttpResponse {
    let message = Message {
        nav: Nav::anonymous(""),
        title: "Not found".into(),
        text: format!("There is no page at {path}."),
        link: Some(("/".into(), "The home page".into())),
    };
    page(StatusCode::NOT_FOUND, &message)
}
