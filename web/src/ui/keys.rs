//! `/keys`: update keys (the secret devices use instead of the password): create one,
//! shown once, limited to some hosts or usable for miniupdate; list them with their last
//! use; revoke one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{CsrfForm, FORM_EXPIRED};
use super::{Fields, Nav, csrf_ok, page, removed, signed_in, try_later};
use crate::db::{KeyInfo, WebSession};
use crate::domain::{Fqdn, KeyScope};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys", web::get().to(list))
        .route("/keys", web::post().to(create))
        .route("/keys/{id}/revoke", web::post().to(revoke));
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    nav: Nav,
    keys: Vec<KeyInfo>,
    hosts: Vec<String>,
    /// A key just created: its secret, shown this once.
    created: Option<String>,
    error: Option<String>,
}

async fn keys_page(
    state: &AppState,
    session: &WebSession,
    created: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let tenant = state.db.tenant(session.user.account);
    let (keys, hosts) = match (tenant.keys().await, tenant.hosts().await) {
        (Ok(keys), Ok(hosts)) => (keys, hosts),
        (Err(e), _) | (_, Err(e)) => return try_later(&e),
    };
    let view = KeysPage {
        nav: Nav::signed_in(session),
        keys,
        hosts: hosts.iter().map(|h| h.name.to_string()).collect(),
        created,
        error,
    };
    page(status, &view)
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match signed_in(&req, &state).await {
        Ok(session) => keys_page(&state, &session, None, None, StatusCode::OK).await,
        Err(response) => response,
    }
}

/// The form, read by hand: `hosts` repeats, once per ticked box.
async fn create(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let fields = Fields::parse(&body);
    let (csrf, name) = (fields.get("csrf"), fields.get("name"));
    let miniupdate = !fields.get("miniupdate").is_empty();
    let scope = KeyScope::parse(fields.get("scope")).unwrap_or(KeyScope::Update);
    let refuse = |why: &str, status| keys_page(&state, &session, None, Some(why.into()), status);
    if !csrf_ok(&session.csrf, csrf) {
        return refuse(FORM_EXPIRED, StatusCode::FORBIDDEN).await;
    }
    if name.is_empty() || name.chars().count() > 64 {
        return refuse(
            "Give the key a name of 1 to 64 characters.",
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let Ok(hosts) = fields
        .all("hosts")
        .map(Fqdn::parse)
        .collect::<Result<Vec<_>, _>>()
    else {
        return refuse("Choose hosts from the list.", StatusCode::BAD_REQUEST).await;
    };
    let tenant = state.db.tenant(session.user.account);
    match tenant
        .create_key(
            &session.user.email,
            name,
            &hosts,
            scope,
            miniupdate,
            &session.user.email,
        )
        .await
    {
        Ok(key) => {
            let secret = key.secret().to_owned();
            keys_page(&state, &session, Some(secret), None, StatusCode::OK).await
        }
        Err(crate::db::DbError::Rejected(_)) => {
            refuse("Choose hosts from the list.", StatusCode::BAD_REQUEST).await
        }
        Err(e) => try_later(&e),
    }
}

async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if !csrf_ok(&session.csrf, &form.csrf) {
        let why = Some(FORM_EXPIRED.into());
        return keys_page(&state, &session, None, why, StatusCode::FORBIDDEN).await;
    }
    let tenant = state.db.tenant(session.user.account);
    let actor = &session.user.email;
    removed(&session, &id, "/keys", |id| tenant.revoke_key(id, actor)).await
}
