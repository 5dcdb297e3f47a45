//! `/groups`: named sets of the account's hosts, which an update may name instead of the
//! hosts (No-IP's groups): create, rename and set members, delete.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::session::{PageError, SignedIn, Submitted};
use super::{Fields, removed};
use crate::db::{DbError, GroupInfo};
use crate::domain::{Action, Fqdn, GroupName};
use crate::pages::{Nav, page, redirect};

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
    /// Whether the user may change groups.
    manages: bool,
    error: Option<String>,
}

async fn groups_page(
    signed: &SignedIn,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let access = &signed.access;
    let groups = access.account()?.groups().await?;
    let hosts = access.hosts().await?;
    let view = GroupsPage {
        nav: signed.nav(),
        groups,
        hosts: hosts.iter().map(|h| h.name.to_string()).collect(),
        manages: access.may(Action::ManageGroups).is_ok(),
        error,
    };
    Ok(page(status, &view))
}

async fn list(signed: SignedIn) -> Result<HttpResponse, PageError> {
    groups_page(&signed, None, StatusCode::OK).await
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

async fn create(form: Submitted) -> Result<HttpResponse, PageError> {
    change(form, None).await
}

async fn save(form: Submitted, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    change(form, Some(id.into_inner())).await
}

/// Creates a group (`id` absent) or saves one.
async fn change(form: Submitted, id: Option<String>) -> Result<HttpResponse, PageError> {
    let signed = &form.signed;
    let groups = signed.access.group_admin().map_err(|r| signed.refused(r))?;
    let (name, hosts) = match read(&form.fields) {
        Ok(read) => read,
        Err(why) => return groups_page(signed, Some(why), StatusCode::BAD_REQUEST).await,
    };
    let result = match id {
        None => groups.create(&name, &hosts).await.map(|()| true),
        Some(id) => match id.parse::<i64>() {
            Ok(id) => groups.save(id, &name, &hosts).await,
            Err(_) => Ok(false),
        },
    };
    match result {
        Ok(true) => Ok(redirect("/groups")),
        Ok(false) => Err(signed.not_found()),
        Err(DbError::Taken(why) | DbError::Missing(why)) => {
            groups_page(signed, Some(format!("{why}.")), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete(form: Submitted, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    let signed = &form.signed;
    let groups = signed.access.group_admin().map_err(|r| signed.refused(r))?;
    removed(signed, &id, "/groups", |id| groups.delete(id)).await
}
