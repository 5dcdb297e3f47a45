//! `/groups`: named sets of the account's hosts, which an update may name instead of the
//! hosts (No-IP's groups): create, rename and set members, delete.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::FORM_EXPIRED;
use super::{Fields, Nav, csrf_ok, not_found, page, redirect, removed, signed_in, try_later};
use crate::db::{DbError, GroupInfo, WebSession};
use crate::domain::{Fqdn, GroupName};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/groups", web::get().to(list))
        .route("/groups", web::post().to(create))
        .route("/groups/{id}", web::post().to(save))
        .route("/groups/{id}/delete", web::post().to(delete));
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    nav: Nav,
    groups: Vec<GroupInfo>,
    hosts: Vec<String>,
    error: Option<String>,
}

async fn groups_page(
    state: &AppState,
    session: &WebSession,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let tenant = state.db.tenant(session.user.account);
    let (groups, hosts) = match (tenant.groups().await, tenant.hosts().await) {
        (Ok(groups), Ok(hosts)) => (groups, hosts),
        (Err(e), _) | (_, Err(e)) => return try_later(&e),
    };
    let view = GroupsPage {
        nav: Nav::signed_in(session),
        groups,
        hosts: hosts.iter().map(|h| h.name.to_string()).collect(),
        error,
    };
    page(status, &view)
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match signed_in(&req, &state).await {
        Ok(session) => groups_page(&state, &session, None, StatusCode::OK).await,
        Err(response) => response,
    }
}

/// The name and members a group form sends, checked; or why not.
fn read(fields: &Fields) -> Result<(GroupName, Vec<Fqdn>), String> {
    let name =
        GroupName::parse(fields.get("name")).map_err(|e| format!("Choose another name: {e}."))?;
    let hosts = fields
        .all("hosts")
        .map(Fqdn::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "Choose hosts from the list.".to_owned())?;
    Ok((name, hosts))
}

async fn create(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    change(req, state, body, None).await
}

async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    change(req, state, body, Some(id.into_inner())).await
}

/// Creates a group (`id` absent) or saves one.
async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    id: Option<String>,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let fields = Fields::parse(&body);
    if !csrf_ok(&session.csrf, fields.get("csrf")) {
        let why = Some(FORM_EXPIRED.into());
        return groups_page(&state, &session, why, StatusCode::FORBIDDEN).await;
    }
    if !session.user.role.may_change_dns() {
        let why = Some("Your role may not change groups.".into());
        return groups_page(&state, &session, why, StatusCode::FORBIDDEN).await;
    }
    let (name, hosts) = match read(&fields) {
        Ok(read) => read,
        Err(why) => return groups_page(&state, &session, Some(why), StatusCode::BAD_REQUEST).await,
    };
    let tenant = state.db.tenant(session.user.account);
    let actor = &session.user.email;
    let result = match id {
        None => tenant
            .create_group(&name, &hosts, actor)
            .await
            .map(|()| true),
        Some(id) => match id.parse::<i64>() {
            Ok(id) => tenant.save_group(id, &name, &hosts, actor).await,
            Err(_) => Ok(false),
        },
    };
    match result {
        Ok(true) => redirect("/groups"),
        Ok(false) => not_found(Nav::signed_in(&session)),
        Err(DbError::Rejected(why)) => {
            let why = Some(format!("{why}."));
            groups_page(&state, &session, why, StatusCode::BAD_REQUEST).await
        }
        Err(e) => try_later(&e),
    }
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let fields = Fields::parse(&body);
    if !csrf_ok(&session.csrf, fields.get("csrf")) || !session.user.role.may_change_dns() {
        let why = Some("This form has expired, or your role may not change groups.".into());
        return groups_page(&state, &session, why, StatusCode::FORBIDDEN).await;
    }
    let tenant = state.db.tenant(session.user.account);
    let actor = &session.user.email;
    removed(&session, &id, "/groups", |id| {
        tenant.delete_group(id, actor)
    })
    .await
}
