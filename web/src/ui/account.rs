//! Sign-up, e-mail verification, sign-in and sign-out. No answer tells whether an address
//! has an account: sign-up always says "check your inbox" (an existing user gets a mail
//! saying so instead of a link), and a failed sign-in never says which half was wrong.
//!
//! Only a confirmed address signs in. Confirming takes the link *and* the password chosen at
//! sign-up, so whoever signed up with someone else's address cannot have the owner confirm it
//! for them; a new sign-up with an unconfirmed address replaces the earlier password.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, Utc};

use super::link_form::{self, LinkKind};
use super::second_factor;
use super::session::{AnonymousForm, PageError, Submitted, inactive_text};
use super::{
    SESSION_COOKIE, TOO_MANY_MAILS, TokenQuery, anonymous_csrf, chosen_password, open_session,
    password_matches, session_secret, with_cookie,
};
use crate::db::{DbError, NewUser, NewUserAccount, TokenData, TokenPurpose, WebUser};
use crate::domain::{AccountStatus, Email, Plan, Registration};
use crate::mail::Letter;
use crate::pages::{Message, Nav, page, redirect};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/signup", web::get().to(signup_form))
        .route("/signup", web::post().to(signup))
        .route("/verify", web::get().to(verify_form))
        .route("/verify", web::post().to(verify))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::get().to(logout_form))
        .route("/logout", web::post().to(logout));
}

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

/// The page `/signup` shows instead of its form when staff closed sign-ups.
fn signup_refused(mode: Registration, csrf: &str, status: StatusCode) -> HttpResponse {
    let (title, text) = match mode {
        Registration::InvitationOnly => (
            "Sign-ups are by invitation only",
            "Sign-ups are by invitation only just now: ask the owner or an admin of an \
             account to invite you to their team.",
        ),
        _ => (
            "Sign-ups are closed",
            "Sign-ups are closed just now: the service takes no new users.",
        ),
    };
    let message = Message {
        nav: Nav::anonymous(csrf),
        title: title.into(),
        text: text.into(),
        link: Some(("/login".into(), "Sign in to an existing account".into())),
    };
    page(status, &message)
}

async fn signup_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (csrf, set) = anonymous_csrf(&req);
    let mode = state.db.registration().await?.mode;
    if !mode.signup_open() {
        return Ok(with_cookie(
            signup_refused(mode, &csrf, StatusCode::OK),
            set,
        ));
    }
    let form = SignupPage {
        nav: Nav::anonymous(&csrf),
        email: String::new(),
        error: None,
    };
    Ok(with_cookie(page(StatusCode::OK, &form), set))
}

async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: AnonymousForm,
) -> Result<HttpResponse, PageError> {
    // Read on every sign-up, so that a change in the console holds on every replica at once.
    let mode = state.db.registration().await?.mode;
    if !mode.signup_open() {
        let refused = signup_refused(mode, &form.csrf, StatusCode::FORBIDDEN);
        return Ok(with_cookie(refused, form.set_cookie.clone()));
    }
    let typed = form.fields.get("email");
    let again = |error: String, status: StatusCode| {
        let view = SignupPage {
            nav: Nav::anonymous(&form.csrf),
            email: typed.to_owned(),
            error: Some(error),
        };
        Ok(with_cookie(page(status, &view), form.set_cookie.clone()))
    };
    let Ok(email) = Email::parse(typed) else {
        return again(
            "That is not an e-mail address.".into(),
            StatusCode::BAD_REQUEST,
        );
    };
    let hash =
        match chosen_password(&state.hashing, form.fields.get("password"), email.as_str()).await {
            Ok(hash) => hash,
            Err(Some(why)) => return again(why, StatusCode::BAD_REQUEST),
            Err(None) => return Err(PageError::TryLater("hashing a password failed".into())),
        };
    let source = state.trusted_proxies.client_ip(&req);
    if !state.mail_limits.admit(email.as_str(), source).await {
        return again(TOO_MANY_MAILS.into(), StatusCode::TOO_MANY_REQUESTS);
    }
    let new = NewUser {
        email: email.clone(),
        login: None,
        password: hash.clone(),
        staff: false,
        verified: false,
        account: NewUserAccount::Own(Plan::Free),
    };
    // A new user, or one who never confirmed (perhaps the first mail was lost, perhaps
    // someone else signed up with this address): this password, and a link. A confirmed one
    // is told that the account exists.
    let unconfirmed = async {
        let tx = state.db.begin_write().await?;
        let user = match tx.insert_user(new, email.as_str()).await? {
            Some(user) => Some(user),
            None => match state.db.web_login(&email).await? {
                Some((user, _)) if !user.verified => {
                    tx.replace_unconfirmed(user.id, &hash).await?;
                    Some(user.id)
                }
                _ => None,
            },
        };
        tx.commit().await?;
        Ok::<_, DbError>(user)
    };
    let body = match unconfirmed.await? {
        Some(user) => {
            let ttl = Duration::hours(VERIFY_HOURS);
            let data = TokenData {
                user: Some(user),
                ..TokenData::default()
            };
            let token = state
                .db
                .issue_token(TokenPurpose::Verify, data, ttl)
                .await?;
            let link = format!("{}/verify?token={}", state.public_url, token.secret());
            format!(
                "Welcome to dyn53.\n\nConfirm your address with the password you chose,\n\
                 to start adding host names:\n\n{link}\n\n\
                 The link works once, for {VERIFY_HOURS} hours.\n\
                 If you did not sign up, ignore this mail:\n\
                 nobody can use this address without it.\n"
            )
        }
        None => format!(
            "Someone (perhaps you) tried to sign up for dyn53 with this\n\
             address, which has an account already. Sign in at:\n\n\
             {}/login\n\nIf you did not try, ignore this mail.\n",
            state.public_url
        ),
    };
    state.mailer.post_letter(Letter {
        to: email.to_string(),
        subject: "Confirm your dyn53 address",
        body,
    });
    let message = Message {
        nav: Nav::anonymous(&form.csrf),
        title: "Check your inbox".into(),
        text: format!(
            "We sent a message to {email}. Follow its link and enter your password to confirm \
             the address."
        ),
        link: None,
    };
    Ok(with_cookie(page(StatusCode::OK, &message), form.set_cookie))
}

async fn verify_form(req: HttpRequest, query: web::Query<TokenQuery>) -> HttpResponse {
    let token = query.token.as_deref().unwrap_or_default();
    link_form::show(&req, LinkKind::Verify, token, None, StatusCode::OK)
}

/// The link and the sign-up's password: the address is confirmed and the browser signed in.
async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: AnonymousForm,
) -> Result<HttpResponse, PageError> {
    let kind = LinkKind::Verify;
    let (token, data) = match link_form::live_link(&req, &state, kind, &form).await {
        Ok(live) => live,
        Err(response) => return Ok(response),
    };
    let sent = form.fields.get("token");
    // The form again, saying why it was not taken.
    let again = |why: &str, status| Ok(link_form::show(&req, kind, sent, Some(why.into()), status));
    let found = match data.user {
        Some(id) => state.db.web_user_by_id(id).await?,
        None => None,
    };
    let source = state.trusted_proxies.client_ip(&req);
    let key = found
        .as_ref()
        .map(|(user, _)| user.email.to_string())
        .unwrap_or_default();
    if state.login_limits.refuses(&key, source).await {
        let why = "Too many failed attempts: wait a quarter of an hour and try again.";
        return again(why, StatusCode::TOO_MANY_REQUESTS);
    }
    let Some((user, stored)) = found else {
        return again(kind.dead(), StatusCode::BAD_REQUEST);
    };
    if !password_matches(&state.hashing, form.fields.get("password"), Some(stored)).await? {
        state.login_limits.failed(&key, source).await;
        let why = "That is not the password chosen at sign-up. If you did not sign up, sign up \
                   now with your own password: it replaces the other one.";
        return again(why, StatusCode::UNAUTHORIZED);
    }
    let confirmed = async {
        let now = Utc::now();
        let tx = state.db.begin_write().await?;
        let taken = tx
            .take_token(TokenPurpose::Verify, &token, now)
            .await?
            .is_some();
        if taken {
            tx.mark_verified(user.id, now).await?;
        }
        tx.commit().await?;
        Ok::<_, DbError>(taken)
    };
    if !confirmed.await? {
        return again(kind.dead(), StatusCode::BAD_REQUEST);
    }
    let user = WebUser {
        verified: true,
        ..user
    };
    start_session(&req, &state, user).await
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
    form: AnonymousForm,
) -> Result<HttpResponse, PageError> {
    // Read on every sign-up, so that a change in the console holds on every replica at once.
    let mode = state.db.registration().await?.mode;
    if !mode.signup_open() {
        let refused = signup_refused(mode, &form.csrf, StatusCode::FORBIDDEN);
        return Ok(with_cookie(refused, form.set_cookie.clone()));
    }
    let typed = form.fields.get("email");
    let again = |error: &str, status: StatusCode| {
        let view = LoginPage {
            nav: Nav::anonymous(&form.csrf),
            email: typed.to_owned(),
            error: Some(error.into()),
        };
        Ok(with_cookie(page(status, &view), form.set_cookie.clone()))
    };
    let source = state.trusted_proxies.client_ip(&req);
    let key = typed.to_lowercase();
    if state.login_limits.refuses(&key, source).await {
        return again(
            "Too many failed attempts: wait a quarter of an hour and try again.",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let found = match Email::parse(typed) {
        Ok(email) => state.db.web_login(&email).await?,
        Err(_) => None,
    };
    let stored = found.as_ref().map(|(_, hash)| hash.clone());
    // An unknown address costs the same as a known one.
    let ok = password_matches(&state.hashing, form.fields.get("password"), stored).await?;
    let Some((user, _)) = found.filter(|_| ok) else {
        state.login_limits.failed(&key, source).await;
        return again(
            "Wrong e-mail address or password.",
            StatusCode::UNAUTHORIZED,
        );
    };
    // Said only to whoever knows the password.
    if !user.verified {
        return again(
            "Confirm your address first: follow the link in the mail we sent you. Lost it? \
             Sign up again with the same address for a new one.",
            StatusCode::FORBIDDEN,
        );
    }
    if user.account_status != AccountStatus::Active {
        return again(inactive_text(user.account_status), StatusCode::FORBIDDEN);
    }
    start_session(&req, &state, user).await
}

/// Signs the browser in as `user` whose password was right: to the code step when they have
/// a second factor, else to their hosts.
async fn start_session(
    req: &HttpRequest,
    state: &AppState,
    user: WebUser,
) -> Result<HttpResponse, PageError> {
    if user.second_factor {
        return second_factor::code_step(req, state, &user).await;
    }
    open_session(req, state, user).await
}

/// `GET /logout` (a typed or bookmarked URL): a page with the sign-out button, since a
/// link must not sign anyone out.
async fn logout_form(req: HttpRequest) -> HttpResponse {
    let (csrf, set) = anonymous_csrf(&req);
    let message = Message {
        nav: Nav::anonymous(&csrf),
        title: "Sign out".into(),
        text: "Use the Sign out button at the top of any page of yours.".into(),
        link: Some(("/hosts".into(), "Your hosts".into())),
    };
    with_cookie(page(StatusCode::OK, &message), set)
}

async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    _form: Submitted,
) -> Result<HttpResponse, PageError> {
    if let Some(secret) = session_secret(&req) {
        state.db.end_session(&secret).await?;
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(with_cookie(redirect("/login"), Some(gone)))
}
