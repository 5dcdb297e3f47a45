//! `/team`: the users of an account. The owner and admins invite people by e-mail with a
//! role (a link lets them choose a password and join) and remove users; a viewer may look
//! but not change DNS (its updates answer `nohost` / `NP_USR`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::link_form::{self, LinkForm, LinkKind};
use super::{CsrfForm, FORM_EXPIRED, TokenQuery};
use super::{
    Message, Nav, anonymous_csrf, csrf_ok, page, removed, signed_in, try_later, with_cookie,
};
use crate::db::{DbError, Member, NewUser, NewUserAccount, TokenData, TokenPurpose, WebSession};
use crate::domain::{Email, Role};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/team", web::get().to(team))
        .route("/team/invite", web::post().to(invite))
        .route("/team/{id}/remove", web::post().to(remove))
        .route("/join", web::get().to(join_form))
        .route("/join", web::post().to(join));
}

const INVITE_DAYS: i64 = 7;

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    nav: Nav,
    members: Vec<Member>,
    manages: bool,
    me: i64,
    error: Option<String>,
    notice: Option<String>,
}

async fn team_page(
    state: &AppState,
    session: &WebSession,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let members = match state.db.tenant(session.user.account).members().await {
        Ok(members) => members,
        Err(e) => return try_later(&e),
    };
    let view = TeamPage {
        nav: Nav::signed_in(session),
        members,
        manages: session.user.role.manages_team(),
        me: session.user.id,
        error,
        notice,
    };
    page(status, &view)
}

async fn team(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match signed_in(&req, &state).await {
        Ok(session) => team_page(&state, &session, None, None, StatusCode::OK).await,
        Err(response) => response,
    }
}

#[derive(Deserialize)]
struct InviteForm {
    email: String,
    role: String,
    csrf: String,
}

async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<InviteForm>,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let refuse = |why: &str, status| team_page(&state, &session, Some(why.into()), None, status);
    if !csrf_ok(&session.csrf, &form.csrf) {
        return refuse(FORM_EXPIRED, StatusCode::FORBIDDEN).await;
    }
    if !session.user.role.manages_team() || !session.user.verified {
        return refuse(
            "Only the owner and admins, once confirmed, invite people.",
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let Ok(email) = Email::parse(&form.email) else {
        return refuse("That is not an e-mail address.", StatusCode::BAD_REQUEST).await;
    };
    let role = match Role::parse(form.role.trim()) {
        Some(role @ (Role::Admin | Role::Editor | Role::Viewer)) => role,
        _ => return refuse("Choose admin, editor or viewer.", StatusCode::BAD_REQUEST).await,
    };
    let data = TokenData {
        account: Some(session.user.account),
        email: Some(email.clone()),
        role: Some(role),
        ..TokenData::default()
    };
    let ttl = Duration::days(INVITE_DAYS);
    let token = match state.db.issue_token(TokenPurpose::Invite, data, ttl).await {
        Ok(token) => token,
        Err(e) => return try_later(&e),
    };
    let link = format!("{}/join?token={}", state.public_url, token.secret());
    let body = format!(
        "{} invites you to their dyn53 account as {}.\n\nJoin here:\n\n{link}\n\n\
         The link works once, for {INVITE_DAYS} days.\n",
        session.user.email,
        role.as_str()
    );
    if let Err(e) = state
        .mailer
        .send(email.as_str(), "An invitation to dyn53", body)
        .await
    {
        return try_later(&e);
    }
    let notice = format!("Invitation sent to {email}.");
    team_page(&state, &session, None, Some(notice), StatusCode::OK).await
}

async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if !csrf_ok(&session.csrf, &form.csrf) || !session.user.role.manages_team() {
        let why = Some("This form has expired, or your role may not remove users.".into());
        return team_page(&state, &session, why, None, StatusCode::FORBIDDEN).await;
    }
    let tenant = state.db.tenant(session.user.account);
    // Never oneself: the account would be left without whoever manages it.
    let me = session.user.id;
    let actor = &session.user.email;
    removed(&session, &id, "/team", async |id| {
        if id == me {
            return Ok(false);
        }
        tenant.remove_member(id, actor).await
    })
    .await
}

async fn join_form(req: HttpRequest, query: web::Query<TokenQuery>) -> HttpResponse {
    let token = query.token.as_deref().unwrap_or_default();
    link_form::show(&req, LinkKind::Join, token, None, StatusCode::OK)
}

/// Joins the inviting account: the link proves the address, so the user is confirmed.
async fn join(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LinkForm>,
) -> HttpResponse {
    let (hash, token) = match link_form::accept(&req, LinkKind::Join, &form).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let joined = async {
        let Some(token) = token else {
            return Ok(None);
        };
        let tx = state.db.begin_write().await?;
        let Some(TokenData {
            account: Some(account),
            email: Some(email),
            role: Some(role),
            ..
        }) = tx
            .take_token(TokenPurpose::Invite, &token, Utc::now())
            .await?
        else {
            return Ok(None);
        };
        let new = NewUser {
            email: email.clone(),
            login: None,
            password: hash,
            staff: false,
            verified: true,
            account: NewUserAccount::Member(account, role),
        };
        let created = tx.insert_user(new, email.as_str()).await?;
        tx.commit().await?;
        Ok::<_, DbError>(Some(created.is_some()))
    };
    match joined.await {
        Ok(Some(true)) => {
            let (csrf, set) = anonymous_csrf(&req);
            let message = Message {
                nav: Nav::anonymous(&csrf),
                title: "Welcome aboard".into(),
                text: "You joined the account: sign in with your address and this password.".into(),
                link: Some(("/login".into(), "Sign in".into())),
            };
            with_cookie(page(StatusCode::OK, &message), set)
        }
        Ok(Some(false)) => {
            let why = "That address has an account already: an address belongs to one account.";
            link_form::show(
                &req,
                LinkKind::Join,
                &form.token,
                Some(why.into()),
                StatusCode::CONFLICT,
            )
        }
        Ok(None) => {
            let why = "This invitation does not work: it was used already, or has expired.";
            link_form::show(
                &req,
                LinkKind::Join,
                &form.token,
                Some(why.into()),
                StatusCode::BAD_REQUEST,
            )
        }
        Err(e) => try_later(&e),
    }
}
