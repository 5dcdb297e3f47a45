//! A user's own credentials: the forgotten-password link, and `/account` (change the
//! password, change the e-mail address, confirmed by a link sent to the new one). Answers
//! never tell whether an address has an account.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::link_form::{self, LinkForm, LinkKind};
use super::{FORM_EXPIRED, TokenQuery};
use super::{
    Message, Nav, anonymous_csrf, anonymous_csrf_ok, chosen_password, csrf_ok, page, redirect,
    signed_in, try_later, with_cookie,
};
use crate::db::{DbError, TokenData, TokenPurpose, WebSession};
use crate::domain::{Email, SecretToken, verify_password};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/forgot", web::get().to(forgot_form))
        .route("/forgot", web::post().to(forgot))
        .route("/reset", web::get().to(reset_form))
        .route("/reset", web::post().to(reset))
        .route("/account", web::get().to(account))
        .route("/account/password", web::post().to(change_password))
        .route("/account/email", web::post().to(change_email))
        .route("/confirm-email", web::get().to(confirm_email));
}

/// How long a reset link works: short, it grants the account.
const RESET_MINUTES: i64 = 60;
const EMAIL_HOURS: i64 = 48;

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    nav: Nav,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    email: String,
    plan: &'static str,
    role: &'static str,
    verified: bool,
    error: Option<String>,
    notice: Option<String>,
}

async fn forgot_form(req: HttpRequest) -> HttpResponse {
    let (csrf, set) = anonymous_csrf(&req);
    let view = ForgotPage {
        nav: Nav::anonymous(&csrf),
        error: None,
    };
    with_cookie(page(StatusCode::OK, &view), set)
}

#[derive(Deserialize)]
struct ForgotForm {
    email: String,
    csrf: String,
}

async fn forgot(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ForgotForm>,
) -> HttpResponse {
    let (csrf, set) = anonymous_csrf(&req);
    if !anonymous_csrf_ok(&req, &form.csrf) {
        let view = ForgotPage {
            nav: Nav::anonymous(&csrf),
            error: Some(FORM_EXPIRED.into()),
        };
        return with_cookie(page(StatusCode::FORBIDDEN, &view), set);
    }
    if let Ok(email) = Email::parse(&form.email) {
        let user = match state.db.web_login(&email).await {
            Ok(found) => found.map(|(user, _)| user),
            Err(e) => return try_later(&e),
        };
        if let Some(user) = user {
            let data = TokenData {
                user: Some(user.id),
                ..TokenData::default()
            };
            let ttl = Duration::minutes(RESET_MINUTES);
            let token = match state.db.issue_token(TokenPurpose::Reset, data, ttl).await {
                Ok(token) => token,
                Err(e) => return try_later(&e),
            };
            let link = format!("{}/reset?token={}", state.public_url, token.secret());
            let body = format!(
                "Choose a new dyn53 password here:\n\n{link}\n\n\
                 The link works once, for {RESET_MINUTES} minutes.\n\
                 If you did not ask, ignore this mail: nothing changes.\n"
            );
            if let Err(e) = state
                .mailer
                .send(email.as_str(), "Your dyn53 password", body)
                .await
            {
                return try_later(&e);
            }
        }
    }
    let message = Message {
        nav: Nav::anonymous(&csrf),
        title: "Check your inbox".into(),
        text: "If that address has an account, a link to choose a new password is on its way."
            .into(),
        link: Some(("/login".into(), "Sign in".into())),
    };
    with_cookie(page(StatusCode::OK, &message), set)
}

async fn reset_form(req: HttpRequest, query: web::Query<TokenQuery>) -> HttpResponse {
    let token = query.token.as_deref().unwrap_or_default();
    link_form::show(&req, LinkKind::Reset, token, None, StatusCode::OK)
}

async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LinkForm>,
) -> HttpResponse {
    let (hash, token) = match link_form::accept(&req, LinkKind::Reset, &form).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let changed = async {
        let Some(token) = token else {
            return Ok(false);
        };
        let tx = state.db.begin_write().await?;
        let Some(user) = tx
            .take_token(TokenPurpose::Reset, &token, Utc::now())
            .await?
            .and_then(|t| t.user)
        else {
            return Ok(false);
        };
        tx.set_password(user, &hash).await?;
        tx.commit().await?;
        Ok::<_, DbError>(true)
    };
    match changed.await {
        Ok(true) => {
            let (csrf, set) = anonymous_csrf(&req);
            let message = Message {
                nav: Nav::anonymous(&csrf),
                title: "Password changed".into(),
                text: "Your new password works now; every browser signed in before was signed out."
                    .into(),
                link: Some(("/login".into(), "Sign in".into())),
            };
            with_cookie(page(StatusCode::OK, &message), set)
        }
        Ok(false) => {
            let why =
                "This link does not work: it was used already, or has expired. Ask for a new one.";
            link_form::show(
                &req,
                LinkKind::Reset,
                &form.token,
                Some(why.into()),
                StatusCode::BAD_REQUEST,
            )
        }
        Err(e) => try_later(&e),
    }
}

fn account_page(
    session: &WebSession,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let view = AccountPage {
        nav: Nav::signed_in(session),
        email: session.user.email.to_string(),
        plan: session.user.plan.as_str(),
        role: session.user.role.as_str(),
        verified: session.user.verified,
        error,
        notice,
    };
    page(status, &view)
}

async fn account(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match signed_in(&req, &state).await {
        Ok(session) => account_page(&session, None, None, StatusCode::OK),
        Err(response) => response,
    }
}

/// Whether `password` is the signed-in user's (argon2id, off the async workers).
async fn is_password(
    state: &AppState,
    session: &WebSession,
    password: &str,
) -> Result<bool, DbError> {
    let stored = state
        .db
        .web_login(&session.user.email)
        .await?
        .map(|(_, hash)| hash);
    let password = password.to_owned();
    Ok(
        tokio::task::spawn_blocking(move || verify_password(&password, stored.as_ref()))
            .await
            .unwrap_or(false),
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    password: String,
    csrf: String,
}

async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let refuse = |why: String, status| account_page(&session, Some(why), None, status);
    if !csrf_ok(&session.csrf, &form.csrf) {
        return refuse(FORM_EXPIRED.into(), StatusCode::FORBIDDEN);
    }
    match is_password(&state, &session, &form.current).await {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                "Your current password is not that.".into(),
                StatusCode::FORBIDDEN,
            );
        }
        Err(e) => return try_later(&e),
    }
    let hash = match chosen_password(&form.password, session.user.email.as_str()).await {
        Ok(hash) => hash,
        Err(Some(why)) => return refuse(why, StatusCode::BAD_REQUEST),
        Err(None) => return try_later(&"hashing a password failed"),
    };
    let saved = async {
        let tx = state.db.begin_write().await?;
        tx.set_password(session.user.id, &hash).await?;
        tx.commit().await
    };
    match saved.await {
        // Every session ended with the old password, this one too: sign in again.
        Ok(_) => redirect("/login"),
        Err(e) => try_later(&e),
    }
}

#[derive(Deserialize)]
struct EmailForm {
    email: String,
    current: String,
    csrf: String,
}

async fn change_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<EmailForm>,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let refuse = |why: String, status| account_page(&session, Some(why), None, status);
    if !csrf_ok(&session.csrf, &form.csrf) {
        return refuse(FORM_EXPIRED.into(), StatusCode::FORBIDDEN);
    }
    let Ok(email) = Email::parse(&form.email) else {
        return refuse(
            "That is not an e-mail address.".into(),
            StatusCode::BAD_REQUEST,
        );
    };
    match is_password(&state, &session, &form.current).await {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                "Your current password is not that.".into(),
                StatusCode::FORBIDDEN,
            );
        }
        Err(e) => return try_later(&e),
    }
    let data = TokenData {
        user: Some(session.user.id),
        email: Some(email.clone()),
        ..TokenData::default()
    };
    let token = match state
        .db
        .issue_token(TokenPurpose::Email, data, Duration::hours(EMAIL_HOURS))
        .await
    {
        Ok(token) => token,
        Err(e) => return try_later(&e),
    };
    let link = format!(
        "{}/confirm-email?token={}",
        state.public_url,
        token.secret()
    );
    let body = format!(
        "Confirm this address for your dyn53 account:\n\n{link}\n\n\
         The link works once, for {EMAIL_HOURS} hours.\n\
         If you did not ask, ignore this mail.\n"
    );
    if let Err(e) = state
        .mailer
        .send(email.as_str(), "Confirm your new dyn53 address", body)
        .await
    {
        return try_later(&e);
    }
    let notice = format!("We sent a link to {email}: the change takes effect when you follow it.");
    account_page(&session, None, Some(notice), StatusCode::OK)
}

async fn confirm_email(state: web::Data<AppState>, query: web::Query<TokenQuery>) -> HttpResponse {
    let token = query.token.as_deref().and_then(SecretToken::parse);
    let changed = async {
        let Some(token) = token else {
            return Ok(false);
        };
        let now = Utc::now();
        let tx = state.db.begin_write().await?;
        let Some(TokenData {
            user: Some(user),
            email: Some(email),
            ..
        }) = tx.take_token(TokenPurpose::Email, &token, now).await?
        else {
            return Ok(false);
        };
        let changed = tx.set_email(user, &email, now).await?;
        tx.commit().await?;
        Ok::<_, DbError>(changed)
    };
    let (status, title, text) = match changed.await {
        Ok(true) => (
            StatusCode::OK,
            "Address changed",
            "Sign in with your new address from now on.",
        ),
        Ok(false) => (
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "It was used already, has expired, or the address belongs to another account.",
        ),
        Err(e) => return try_later(&e),
    };
    let message = Message {
        nav: Nav::anonymous(""),
        title: title.into(),
        text: text.into(),
        link: Some(("/login".into(), "Sign in".into())),
    };
    page(status, &message)
}
