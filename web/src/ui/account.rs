//! Sign-up, e-mail verification, sign-in and sign-out. No answer tells whether an address
//! has an account: sign-up always says "check your inbox" (an existing user gets a mail
//! saying so instead of a link), and a failed sign-in never says which half was wrong.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::{CsrfForm, FORM_EXPIRED, TokenQuery};
use super::{
    Message, Nav, SESSION_COOKIE, anonymous_csrf, anonymous_csrf_ok, chosen_password, cookie,
    csrf_ok, page, redirect, signed_in, try_later, with_cookie,
};
use crate::db::{NewUser, NewUserAccount, TokenData, TokenPurpose};
use crate::domain::{Email, Plan, SecretToken, verify_password};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/signup", web::get().to(signup_form))
        .route("/signup", web::post().to(signup))
        .route("/verify", web::get().to(verify))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout));
}

/// How long a browser stays signed in.
const SESSION_DAYS: i64 = 14;
/// How long a verification link works.
const VERIFY_HOURS: i64 = 48;

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    nav: Nav,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
    csrf: String,
}

async fn signup_form(req: HttpRequest) -> HttpResponse {
    let (csrf, set) = anonymous_csrf(&req);
    let form = SignupPage {
        nav: Nav::anonymous(&csrf),
        email: String::new(),
        error: None,
    };
    with_cookie(page(StatusCode::OK, &form), set)
}

async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Credentials>,
) -> HttpResponse {
    let (csrf, set) = anonymous_csrf(&req);
    let again = |error: String, status: StatusCode| {
        let form = SignupPage {
            nav: Nav::anonymous(&csrf),
            email: form.email.clone(),
            error: Some(error),
        };
        with_cookie(page(status, &form), set.clone())
    };
    if !anonymous_csrf_ok(&req, &form.csrf) {
        return again(FORM_EXPIRED.into(), StatusCode::FORBIDDEN);
    }
    let Ok(email) = Email::parse(&form.email) else {
        return again(
            "That is not an e-mail address.".into(),
            StatusCode::BAD_REQUEST,
        );
    };
    let hash = match chosen_password(&form.password, email.as_str()).await {
        Ok(hash) => hash,
        Err(Some(why)) => return again(why, StatusCode::BAD_REQUEST),
        Err(None) => return try_later(&"hashing a password failed"),
    };
    let new = NewUser {
        email: email.clone(),
        login: None,
        password: hash,
        staff: false,
        verified: false,
        account: NewUserAccount::Own(Plan::Free),
    };
    let created = async {
        let tx = state.db.begin_write().await?;
        let id = tx.insert_user(new, email.as_str()).await?;
        tx.commit().await?;
        Ok::<_, crate::db::DbError>(id)
    };
    // A new user, or one who never confirmed (perhaps the first mail was lost), gets a
    // link; a confirmed one is told that the account exists.
    let unconfirmed = match created.await {
        Ok(Some(user)) => Some(user),
        Ok(None) => match state.db.web_login(&email).await {
            Ok(found) => found
                .map(|(user, _)| user)
                .filter(|u| !u.verified)
                .map(|u| u.id),
            Err(e) => return try_later(&e),
        },
        Err(e) => return try_later(&e),
    };
    let mail = match unconfirmed {
        Some(user) => {
            let ttl = Duration::hours(VERIFY_HOURS);
            let data = TokenData {
                user: Some(user),
                ..TokenData::default()
            };
            let token = match state.db.issue_token(TokenPurpose::Verify, data, ttl).await {
                Ok(token) => token,
                Err(e) => return try_later(&e),
            };
            let link = format!("{}/verify?token={}", state.public_url, token.secret());
            format!(
                "Welcome to dyn53.\n\nConfirm your address to start adding host names:\n\n\
                 {link}\n\nThe link works once, for {VERIFY_HOURS} hours.\n\
                 If you did not sign up, ignore this mail.\n"
            )
        }
        None => format!(
            "Someone (perhaps you) tried to sign up for dyn53 with this\n\
             address, which has an account already. Sign in at:\n\n\
             {}/login\n\nIf you did not try, ignore this mail.\n",
            state.public_url
        ),
    };
    if let Err(e) = state
        .mailer
        .send(email.as_str(), "Confirm your dyn53 address", mail)
        .await
    {
        return try_later(&e);
    }
    let message = Message {
        nav: Nav::anonymous(&csrf),
        title: "Check your inbox".into(),
        text: format!(
            "We sent a message to {email}. Follow its link to confirm the address, then sign in."
        ),
        link: Some(("/login".into(), "Sign in".into())),
    };
    with_cookie(page(StatusCode::OK, &message), set)
}

async fn verify(state: web::Data<AppState>, query: web::Query<TokenQuery>) -> HttpResponse {
    let token = query.token.as_deref().and_then(SecretToken::parse);
    let verified = async {
        let Some(token) = token else {
            return Ok(false);
        };
        let now = Utc::now();
        let tx = state.db.begin_write().await?;
        let user = tx.take_token(TokenPurpose::Verify, &token, now).await?;
        let user = user.and_then(|t| t.user);
        if let Some(user) = user {
            tx.mark_verified(user, now).await?;
        }
        tx.commit().await?;
        Ok::<_, crate::db::DbError>(user.is_some())
    };
    let (status, title, text) = match verified.await {
        Ok(true) => (
            StatusCode::OK,
            "Address confirmed",
            "Your e-mail address is confirmed: you can now add host names.",
        ),
        Ok(false) => (
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "It was used already, has expired, or was cut short. Sign in to ask for a new one.",
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

async fn login_form(req: HttpRequest) -> HttpResponse {
    let (csrf, set) = anonymous_csrf(&req);
    let form = LoginPage {
        nav: Nav::anonymous(&csrf),
        email: String::new(),
        error: None,
    };
    with_cookie(page(StatusCode::OK, &form), set)
}

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Credentials>,
) -> HttpResponse {
    let (csrf, set) = anonymous_csrf(&req);
    let again = |error: &str, status: StatusCode| {
        let form = LoginPage {
            nav: Nav::anonymous(&csrf),
            email: form.email.clone(),
            error: Some(error.into()),
        };
        with_cookie(page(status, &form), set.clone())
    };
    if !anonymous_csrf_ok(&req, &form.csrf) {
        return again(FORM_EXPIRED, StatusCode::FORBIDDEN);
    }
    let source = state.trusted_proxies.client_ip(&req);
    let key = form.email.trim().to_lowercase();
    if state.login_limits.refuses(&key, source) {
        return again(
            "Too many failed attempts: wait a quarter of an hour and try again.",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let found = match Email::parse(&form.email) {
        Ok(email) => match state.db.web_login(&email).await {
            Ok(found) => found,
            Err(e) => return try_later(&e),
        },
        Err(_) => None,
    };
    let password = form.password.clone();
    let stored = found.as_ref().map(|(_, hash)| hash.clone());
    // Off the async workers; an unknown address costs the same as a known one.
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, stored.as_ref()))
        .await
        .unwrap_or(false);
    let Some((user, _)) = found.filter(|_| ok) else {
        state.login_limits.failed(&key, source);
        return again(
            "Wrong e-mail address or password.",
            StatusCode::UNAUTHORIZED,
        );
    };
    let (secret, _) = match state
        .db
        .create_session(user, Duration::days(SESSION_DAYS))
        .await
    {
        Ok(session) => session,
        Err(e) => return try_later(&e),
    };
    let session = cookie(
        &req,
        SESSION_COOKIE,
        secret.secret().to_owned(),
        SameSite::Lax,
    );
    with_cookie(redirect("/hosts"), Some(session))
}

async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if !csrf_ok(&session.csrf, &form.csrf) {
        return redirect("/hosts");
    }
    if let Some(secret) = req
        .cookie(SESSION_COOKIE)
        .and_then(|c| SecretToken::parse(c.value()))
        && let Err(e) = state.db.end_session(&secret).await
    {
        return try_later(&e);
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    with_cookie(redirect("/login"), Some(gone))
}
