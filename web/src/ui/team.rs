//! `/team`: the users of an account. The owner and admins invite people by e-mail with a
//! role (a link lets them choose a password and join) and remove users; a viewer may look
//! but not change DNS (its updates answer `nohost` / `NP_USR`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, Utc};

use super::link_form::{self, LinkKind};
use super::session::{AnonymousForm, PageError, SignedIn, Submitted};
use super::{TOO_MANY_MAILS, TokenQuery, removed, with_cookie};
use crate::db::{DbError, Member, NewUser, NewUserAccount, TokenData, TokenPurpose};
use crate::domain::{Action, Email, Role};
use crate::mail::Letter;
use crate::pages::{Message, Nav, page};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/team", web::get().to(team))
        .route("/team/invite", web::post().to(invite))
        .route("/team/{id}/remove", web::post().to(remove))
        .route("/join", web::get().to(join_form))
        .route("/join", web::post().to(join));
}

const INVITE_DAYS: i64 = 7;

/// Staff closed registration: invitations neither go out nor make users (the link keeps
/// working once it reopens, within its days).
const CLOSED: &str = "The service takes no new users just now, not even by invitation.";

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
    signed: &SignedIn,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let access = &signed.access;
    let view = TeamPage {
        nav: signed.nav(),
        members: access.account()?.members().await?,
        manages: access.may(Action::ManageTeam).is_ok(),
        me: access.user().id,
        error,
        notice,
    };
    Ok(page(status, &view))
}

async fn team(signed: SignedIn) -> Result<HttpResponse, PageError> {
    team_page(&signed, None, None, StatusCode::OK).await
}

async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Submitted,
) -> Result<HttpResponse, PageError> {
    let (signed, fields) = (&form.signed, &form.fields);
    let team = signed.access.team_admin().map_err(|r| signed.refused(r))?;
    let refuse = |why: &str| team_page(signed, Some(why.into()), None, StatusCode::BAD_REQUEST);
    if !state.db.registration().await?.mode.invitations_open() {
        return team_page(signed, Some(CLOSED.into()), None, StatusCode::FORBIDDEN).await;
    }
    let Ok(email) = Email::parse(fields.get("email")) else {
        return refuse("That is not an e-mail address.").await;
    };
    let role = match Role::parse(fields.get("role")) {
        Some(role @ (Role::Admin | Role::Editor | Role::Viewer)) => role,
        _ => return refuse("Choose admin, editor or viewer.").await,
    };
    let source = state.trusted_proxies.client_ip(&req);
    if !state.mail_limits.admit(email.as_str(), source).await {
        let refused = StatusCode::TOO_MANY_REQUESTS;
        return team_page(signed, Some(TOO_MANY_MAILS.into()), None, refused).await;
    }
    let inviter = team.inviter();
    let ttl = Duration::days(INVITE_DAYS);
    let token = team.invite(&email, role, ttl).await?;
    let link = format!("{}/join?token={}", state.public_url, token.secret());
    let body = format!(
        "{} invites you to their dyn53 account as {}.\n\nJoin here:\n\n{link}\n\n\
         The link works once, for {INVITE_DAYS} days.\n",
        inviter.email,
        role.as_str()
    );
    state.mailer.post_letter(Letter {
        to: email.to_string(),
        subject: "An invitation to dyn53",
        body,
    });
    let notice = format!("Invitation sent to {email}.");
    team_page(signed, None, Some(notice), StatusCode::OK).await
}

async fn remove(form: Submitted, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    let signed = &form.signed;
    let team = signed.access.team_admin().map_err(|r| signed.refused(r))?;
    removed(signed, &id, "/team", |id| team.remove(id)).await
}

async fn join_form(req: HttpRequest, query: web::Query<TokenQuery>) -> HttpResponse {
    let token = query.token.as_deref().unwrap_or_default();
    link_form::show(&req, LinkKind::Join, token, None, StatusCode::OK)
}

/// Joins the inviting account: the link proves the address, so the user is confirmed.
async fn join(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: AnonymousForm,
) -> Result<HttpResponse, PageError> {
    if !state.db.registration().await?.mode.invitations_open() {
        let sent = form.fields.get("token");
        let closed = StatusCode::FORBIDDEN;
        return Ok(link_form::show(
            &req,
            LinkKind::Join,
            sent,
            Some(CLOSED.into()),
            closed,
        ));
    }
    let (hash, token) = match link_form::accept(&req, &state, LinkKind::Join, &form).await {
        Ok(accepted) => accepted,
        Err(response) => return Ok(response),
    };
    let joined = async {
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
    let sent = form.fields.get("token");
    let again =
        |why: &str, status| link_form::show(&req, LinkKind::Join, sent, Some(why.into()), status);
    Ok(match joined.await? {
        Some(true) => {
            let message = Message {
                nav: Nav::anonymous(&form.csrf),
                title: "Welcome aboard".into(),
                text: "You joined the account: sign in with your address and this password.".into(),
                link: Some(("/login".into(), "Sign in".into())),
            };
            with_cookie(page(StatusCode::OK, &message), form.set_cookie.clone())
        }
        Some(false) => again(
            "That address has an account already: an address belongs to one account.",
            StatusCode::CONFLICT,
        ),
        None => again(LinkKind::Join.dead(), StatusCode::BAD_REQUEST),
    })
}
