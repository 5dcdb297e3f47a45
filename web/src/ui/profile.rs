//! A user's own credentials: the forgotten-password link, and `/account` (change the
//! password, change the e-mail address, confirmed by a link sent to the new one). Answers
//! never tell whether an address has an account.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, Utc};

use super::link_form::{self, LinkKind};
use super::session::{AnonymousForm, PageError, SignedIn, Submitted};
use super::{
    TOO_MANY_MAILS, TokenQuery, anonymous_csrf, chosen_password, password_matches, with_cookie,
};
use crate::db::{Db, DbError, TokenData, TokenPurpose};
use crate::domain::{Email, SecretToken};
use crate::mail::Letter;
use crate::pages::{Message, Nav, page, redirect};
use crate::state::AppState;

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

/// Whether the address has an account is looked up with the mail, in the background: the
/// answer is the same, in the same time, either way.
async fn forgot(req: HttpRequest, state: web::Data<AppState>, form: AnonymousForm) -> HttpResponse {
    if let Ok(email) = Email::parse(form.fields.get("email")) {
        let source = state.trusted_proxies.client_ip(&req);
        if !state.mail_limits.admit(email.as_str(), source).await {
            let view = ForgotPage {
                nav: Nav::anonymous(&form.csrf),
                error: Some(TOO_MANY_MAILS.into()),
            };
            let refused = page(StatusCode::TOO_MANY_REQUESTS, &view);
            return with_cookie(refused, form.set_cookie);
        }
        let (db, public_url) = (state.db.clone(), state.public_url.clone());
        state.mailer.post(async move {
            reset_letter(&db, &public_url, email)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!("a reset mail was not sent: {e}");
                    None
                })
        });
    }
    let message = Message {
        nav: Nav::anonymous(&form.csrf),
        title: "Check your inbox".into(),
        text: "If that address has an account, a link to choose a new password is on its way."
            .into(),
        link: Some(("/login".into(), "Sign in".into())),
    };
    with_cookie(page(StatusCode::OK, &message), form.set_cookie)
}

/// The mail with a reset link, when `email` has an account.
async fn reset_letter(db: &Db, public_url: &str, email: Email) -> Result<Option<Letter>, DbError> {
    let Some((user, _)) = db.web_login(&email).await? else {
        return Ok(None);
    };
    let data = TokenData {
        user: Some(user.id),
        ..TokenData::default()
    };
    let ttl = Duration::minutes(RESET_MINUTES);
    let token = db.issue_token(TokenPurpose::Reset, data, ttl).await?;
    let link = format!("{public_url}/reset?token={}", token.secret());
    let body = format!(
        "Choose a new dyn53 password here:\n\n{link}\n\n\
         The link works once, for {RESET_MINUTES} minutes.\n\
         If you did not ask, ignore this mail: nothing changes.\n"
    );
    Ok(Some(Letter {
        to: email.to_string(),
        subject: "Your dyn53 password",
        body,
    }))
}

async fn reset_form(req: HttpRequest, query: web::Query<TokenQuery>) -> HttpResponse {
    let token = query.token.as_deref().unwrap_or_default();
    link_form::show(&req, LinkKind::Reset, token, None, StatusCode::OK)
}

/// A new password behind a live reset link. Following the link proves the address too, so
/// an unconfirmed one is confirmed; every browser signed in before is signed out.
async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: AnonymousForm,
) -> Result<HttpResponse, PageError> {
    let (hash, token) = match link_form::accept(&req, &state, LinkKind::Reset, &form).await {
        Ok(accepted) => accepted,
        Err(response) => return Ok(response),
    };
    let changed = async {
        let now = Utc::now();
        let tx = state.db.begin_write().await?;
        let Some(user) = tx
            .take_token(TokenPurpose::Reset, &token, now)
            .await?
            .and_then(|t| t.user)
        else {
            return Ok(false);
        };
        tx.set_password(user, &hash, "password.reset").await?;
        tx.mark_verified(user, now).await?;
        tx.commit().await?;
        Ok::<_, DbError>(true)
    };
    if !changed.await? {
        let (sent, why) = (form.fields.get("token"), LinkKind::Reset.dead());
        let status = StatusCode::BAD_REQUEST;
        return Ok(link_form::show(
            &req,
            LinkKind::Reset,
            sent,
            Some(why.into()),
            status,
        ));
    }
    let message = Message {
        nav: Nav::anonymous(&form.csrf),
        title: "Password changed".into(),
        text: "Your new password works now; every browser signed in before was signed out.".into(),
        link: Some(("/login".into(), "Sign in".into())),
    };
    Ok(with_cookie(page(StatusCode::OK, &message), form.set_cookie))
}

fn account_page(
    signed: &SignedIn,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let user = signed.access.user();
    let view = AccountPage {
        nav: signed.nav(),
        email: user.email.to_string(),
        plan: user.plan.as_str(),
        role: user.role.as_str(),
        verified: user.verified,
        error,
        notice,
    };
    page(status, &view)
}

async fn account(signed: SignedIn) -> HttpResponse {
    account_page(&signed, None, None, StatusCode::OK)
}

/// Whether `password` is the signed-in user's.
async fn is_password(
    state: &AppState,
    signed: &SignedIn,
    password: &str,
) -> Result<bool, PageError> {
    let stored = state
        .db
        .web_login(&signed.access.user().email)
        .await?
        .map(|(_, hash)| hash);
    Ok(stored.is_some() && password_matches(&state.hashing, password, stored).await?)
}

async fn change_password(
    state: web::Data<AppState>,
    form: Submitted,
) -> Result<HttpResponse, PageError> {
    let (signed, fields) = (&form.signed, &form.fields);
    let refuse = |why: String, status| Ok(account_page(signed, Some(why), None, status));
    if !is_password(&state, signed, fields.get("current")).await? {
        return refuse(
            "Your current password is not that.".into(),
            StatusCode::FORBIDDEN,
        );
    }
    let user = signed.access.user();
    let hash =
        match chosen_password(&state.hashing, fields.get("password"), user.email.as_str()).await {
            Ok(hash) => hash,
            Err(Some(why)) => return refuse(why, StatusCode::BAD_REQUEST),
            Err(None) => return Err(PageError::TryLater("hashing a password failed".into())),
        };
    let tx = state.db.begin_write().await?;
    tx.set_password(user.id, &hash, "password.change").await?;
    tx.commit().await?;
    // Every session ended with the old password, this one too: sign in again.
    Ok(redirect("/login"))
}

async fn change_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Submitted,
) -> Result<HttpResponse, PageError> {
    let (signed, fields) = (&form.signed, &form.fields);
    let refuse = |why: &str, status| Ok(account_page(signed, Some(why.into()), None, status));
    let Ok(email) = Email::parse(fields.get("email")) else {
        return refuse("That is not an e-mail address.", StatusCode::BAD_REQUEST);
    };
    if !is_password(&state, signed, fields.get("current")).await? {
        return refuse("Your current password is not that.", StatusCode::FORBIDDEN);
    }
    let source = state.trusted_proxies.client_ip(&req);
    if !state.mail_limits.admit(email.as_str(), source).await {
        return refuse(TOO_MANY_MAILS, StatusCode::TOO_MANY_REQUESTS);
    }
    let data = TokenData {
        user: Some(signed.access.user().id),
        email: Some(email.clone()),
        ..TokenData::default()
    };
    let ttl = Duration::hours(EMAIL_HOURS);
    let token = state.db.issue_token(TokenPurpose::Email, data, ttl).await?;
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
    state.mailer.post_letter(Letter {
        to: email.to_string(),
        subject: "Confirm your new dyn53 address",
        body,
    });
    let notice = format!("We sent a link to {email}: the change takes effect when you follow it.");
    Ok(account_page(signed, None, Some(notice), StatusCode::OK))
}

async fn confirm_email(
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
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
        Err(e) => return Err(e.into()),
    };
    let message = Message {
        nav: Nav::anonymous(""),
        title: title.into(),
        text: text.into(),
        link: Some(("/login".into(), "Sign in".into())),
    };
    Ok(page(status, &message))
}
