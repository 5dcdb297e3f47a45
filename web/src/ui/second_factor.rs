//! The second factor in the pages: `/account/second-factor` (enrol with a QR code or the
//! secret typed by hand, confirmed by a first code; new recovery codes; switch off with the
//! password or a current code) and the sign-in's code step, `/login/code`.
//!
//! A password that was right for a user with a second factor makes no session: it leaves
//! a one-time sign-in token (stored as a digest, 5 minutes) in a cookie of that browser, and
//! only a TOTP code or a recovery code sent with it opens the session. Wrong codes count
//! against the sign-in's limits (`LoginLimits`), as wrong passwords do.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, Utc};

use super::session::{AnonymousForm, PageError, SignedIn, Submitted};
use super::{anonymous_csrf, cookie, open_session, password_matches, session_secret, with_cookie};
use crate::db::{TokenData, TokenPurpose, WebUser};
use crate::domain::{RecoveryCode, SecretToken};
use crate::pages::{Nav, page, redirect};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account/second-factor", web::get().to(settings))
        .route("/account/second-factor/on", web::post().to(switch_on))
        .route("/account/second-factor/codes", web::post().to(new_codes))
        .route("/account/second-factor/off", web::post().to(switch_off))
        .route("/login/code", web::get().to(code_form))
        .route("/login/code", web::post().to(code));
}

/// The cookie holding a sign-in that waits for its code.
const PENDING_COOKIE: &str = "dyn53_pending";
/// How long the code step waits.
const PENDING_MINUTES: i64 = 5;
const TOO_MANY: &str = "Too many failed attempts: wait a quarter of an hour and try again.";

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SettingsPage {
    nav: Nav,
    /// Enrolling: the QR code (inline SVG) and the secret in text.
    enrolling: Option<(String, String)>,
    /// Shown once, just made.
    codes: Vec<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage {
    nav: Nav,
    error: Option<String>,
}

/// The settings page as it is for `signed`'s user now.
async fn settings_page(
    state: &AppState,
    signed: &SignedIn,
    codes: Vec<RecoveryCode>,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let user = signed.access.user();
    let enrolling = match user.second_factor || !codes.is_empty() {
        true => None,
        false => state.db.pending_totp(user.id).await?.map(|secret| {
            let email = user.email.as_str();
            (secret.qr_svg(email), secret.base32())
        }),
    };
    let view = SettingsPage {
        nav: signed.nav(),
        enrolling,
        codes: codes.iter().map(RecoveryCode::shown).collect(),
        error,
    };
    Ok(page(status, &view))
}

async fn settings(state: web::Data<AppState>, signed: SignedIn) -> Result<HttpResponse, PageError> {
    settings_page(&state, &signed, Vec::new(), None, StatusCode::OK).await
}

/// The first code from the app switches the pending secret on, and signs the user's other
/// browsers out: those sessions were opened with the password alone.
async fn switch_on(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Submitted,
) -> Result<HttpResponse, PageError> {
    let signed = &form.signed;
    let this_session = session_secret(&req);
    let tx = state.db.begin_write().await?;
    let codes = tx
        .enable_totp(signed.access.user(), form.fields.get("code"), Utc::now())
        .await?;
    if codes.is_some()
        && let Some(this_session) = &this_session
    {
        tx.end_other_sessions(signed.access.user().id, this_session)
            .await?;
    }
    tx.commit().await?;
    match codes {
        Some(codes) => settings_page(&state, signed, codes, None, StatusCode::OK).await,
        None => {
            let why = "That is not the code your app shows now: check that the app has the \
                       secret above and that this device's clock is right.";
            settings_page(
                &state,
                signed,
                Vec::new(),
                Some(why.into()),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

async fn new_codes(state: web::Data<AppState>, form: Submitted) -> Result<HttpResponse, PageError> {
    let signed = &form.signed;
    if !signed.access.user().second_factor {
        return Ok(redirect("/account/second-factor"));
    }
    let tx = state.db.begin_write().await?;
    let codes = tx.new_recovery_codes(signed.access.user()).await?;
    tx.commit().await?;
    settings_page(&state, signed, codes, None, StatusCode::OK).await
}

/// Switching off takes the password or a current code, so a browser left signed in is not
/// enough.
async fn switch_off(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Submitted,
) -> Result<HttpResponse, PageError> {
    let signed = &form.signed;
    let user = signed.access.user();
    if !user.second_factor {
        return Ok(redirect("/account/second-factor"));
    }
    let refuse =
        |why: &str, status| settings_page(&state, signed, Vec::new(), Some(why.into()), status);
    let (key, source) = (
        user.email.to_string(),
        state.trusted_proxies.client_ip(&req),
    );
    if state.login_limits.refuses(&key, source).await {
        return refuse(TOO_MANY, StatusCode::TOO_MANY_REQUESTS).await;
    }
    let proof = form.fields.get("proof");
    let tx = state.db.begin_write().await?;
    let mut proven = tx.take_totp(user.id, proof, Utc::now(), true).await?;
    if !proven {
        let stored = state.db.web_login(&user.email).await?.map(|(_, hash)| hash);
        proven = stored.is_some() && password_matches(&state.hashing, proof, stored).await?;
    }
    if !proven {
        state.login_limits.failed(&key, source).await;
        let why = "That is neither your password nor your app's current code.";
        return refuse(why, StatusCode::FORBIDDEN).await;
    }
    tx.disable_totp(user).await?;
    tx.commit().await?;
    Ok(redirect("/account/second-factor"))
}

/// After a right password: a pending sign-in in this browser's cookie, and the code step.
pub(super) async fn code_step(
    req: &HttpRequest,
    state: &AppState,
    user: &WebUser,
) -> Result<HttpResponse, PageError> {
    let data = TokenData {
        user: Some(user.id),
        ..TokenData::default()
    };
    let ttl = Duration::minutes(PENDING_MINUTES);
    let token = state
        .db
        .issue_token(TokenPurpose::SignIn, data, ttl)
        .await?;
    let mut pending = cookie(
        req,
        PENDING_COOKIE,
        token.secret().to_owned(),
        SameSite::Strict,
    );
    pending.set_max_age(actix_web::cookie::time::Duration::minutes(PENDING_MINUTES));
    Ok(with_cookie(redirect("/login/code"), Some(pending)))
}

fn pending_token(req: &HttpRequest) -> Option<SecretToken> {
    req.cookie(PENDING_COOKIE)
        .and_then(|c| SecretToken::parse(c.value()))
}

pub(super) async fn code_form(req: HttpRequest) -> HttpResponse {
    if pending_token(&req).is_none() {
        return redirect("/login");
    }
    let (csrf, set) = anonymous_csrf(&req);
    let view = CodePage {
        nav: Nav::anonymous(&csrf),
        error: None,
    };
    with_cookie(page(StatusCode::OK, &view), set)
}

/// A TOTP code, or a recovery code, completes the pending sign-in of this browser.
pub(super) async fn code(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: AnonymousForm,
) -> Result<HttpResponse, PageError> {
    let again = |error: &str, status: StatusCode| {
        let view = CodePage {
            nav: Nav::anonymous(&form.csrf),
            error: Some(error.into()),
        };
        Ok(with_cookie(page(status, &view), form.set_cookie.clone()))
    };
    let Some(token) = pending_token(&req) else {
        return Ok(redirect("/login"));
    };
    let waiting = match state.db.peek_token(TokenPurpose::SignIn, &token).await? {
        Some(TokenData { user: Some(id), .. }) => state.db.web_user_by_id(id).await?,
        _ => None,
    };
    let Some((user, _)) = waiting else {
        // Expired or used: the password again.
        return Ok(redirect("/login"));
    };
    let (key, source) = (
        user.email.to_string(),
        state.trusted_proxies.client_ip(&req),
    );
    if state.login_limits.refuses(&key, source).await {
        return again(TOO_MANY, StatusCode::TOO_MANY_REQUESTS);
    }
    let now = Utc::now();
    let tx = state.db.begin_write().await?;
    let taken = tx
        .take_second_factor(&user, form.fields.get("code"), now)
        .await?
        && tx
            .take_token(TokenPurpose::SignIn, &token, now)
            .await?
            .is_some();
    if !taken {
        state.login_limits.failed(&key, source).await;
        return again(
            "That code is not right, or it was used already: enter the code your app shows \
             now, or one of your unused recovery codes.",
            StatusCode::UNAUTHORIZED,
        );
    }
    tx.commit().await?;
    let mut gone = Cookie::build(PENDING_COOKIE, "").path("/").finish();
    gone.make_removal();
    let signed_in = open_session(&req, &state, user).await?;
    Ok(with_cookie(signed_in, Some(gone)))
}
