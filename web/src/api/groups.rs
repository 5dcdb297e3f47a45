//! `/api/v1/groups`: named sets of the account's hosts, which a dyndns2 update may name
//! instead of a host (No-IP's groups).

use super::body::Body;
use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::ApiCaller;
use super::hosts::own_hosts;
use super::problem::{Conflict, NotFound, Problem, Unprocessable};
use crate::access::Access;
use crate::db::{DbError, GroupInfo};
use crate::domain::{Fqdn, GroupName};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(replace)
        .service(remove);
}

/// A group and its member hosts.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Group {
    #[schema(example = "cameras")]
    name: String,
    /// Names of the account's hosts, sorted.
    #[schema(example = json!(["cam1.dyn.example"]))]
    hosts: Vec<String>,
}

impl Group {
    fn of(group: &GroupInfo) -> Group {
        Group {
            name: group.name.to_string(),
            hosts: group.hosts.clone(),
        }
    }

    /// The name and members as the database takes them; 422 for a bad name or a host that
    /// is not the account's.
    async fn parse(&self, access: &Access) -> Result<(GroupName, Vec<Fqdn>), Problem> {
        let name = GroupName::parse(&self.name)
            .map_err(|e| Problem::invalid("invalid_name", format!("Choose another name: {e}.")))?;
        Ok((name, own_hosts(access, &self.hosts).await?))
    }
}

/// The account's group `name`, or 404.
async fn find(access: &Access, name: &str) -> Result<GroupInfo, Problem> {
    let wanted = GroupName::parse(name).ok();
    access
        .account()?
        .groups()
        .await?
        .into_iter()
        .find(|g| Some(&g.name) == wanted.as_ref())
        .ok_or_else(|| Problem::not_found("group_not_found", format!("You have no group {name}.")))
}

fn taken(name: &GroupName) -> Problem {
    Problem::new(409, "name_taken", format!("A group {name} exists already."))
}

/// The account's groups, by name.
#[utoipa::path(
    operation_id = "list_groups",
    tag = "groups",
    responses(
        (status = 200, description = "The groups.", body = Vec<Group>),
    )
)]
#[get("/groups")]
async fn list(caller: ApiCaller) -> Result<HttpResponse, Problem> {
    let groups = caller.access.account()?.groups().await?;
    Ok(HttpResponse::Ok().json(groups.iter().map(Group::of).collect::<Vec<_>>()))
}

/// Creates a group.
#[utoipa::path(
    operation_id = "create_group",
    tag = "groups",
    request_body = Group,
    responses(
        (status = 201, description = "Created.", body = Group, headers(("Location" = String, description = "The group's URL."))),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
    )
)]
#[post("/groups")]
async fn create(caller: ApiCaller, body: Body<Group>) -> Result<HttpResponse, Problem> {
    let groups = caller.access.group_admin()?;
    let (name, hosts) = body.parse(&caller.access).await?;
    match groups.create(&name, &hosts).await {
        Ok(()) => {}
        Err(DbError::Taken(_)) => return Err(taken(&name)),
        Err(e) => return Err(e.into()),
    }
    let group = find(&caller.access, name.as_str()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/groups/{}", group.name)))
        .json(Group::of(&group)))
}

/// One group.
#[utoipa::path(
    operation_id = "read_group",
    tag = "groups",
    params(("name" = String, Path, description = "The group's name.")),
    responses(
        (status = 200, description = "The group.", body = Group),
        (status = 404, response = NotFound),
    )
)]
#[get("/groups/{name}")]
async fn read(caller: ApiCaller, name: web::Path<String>) -> Result<HttpResponse, Problem> {
    let group = find(&caller.access, &name).await?;
    Ok(HttpResponse::Ok().json(Group::of(&group)))
}

/// Renames a group and sets its members.
#[utoipa::path(
    operation_id = "replace_group",
    tag = "groups",
    params(("name" = String, Path, description = "The group's name.")),
    request_body = Group,
    responses(
        (status = 200, description = "The group as it is now.", body = Group),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
    )
)]
#[put("/groups/{name}")]
async fn replace(
    caller: ApiCaller,
    name: web::Path<String>,
    body: Body<Group>,
) -> Result<HttpResponse, Problem> {
    let current = find(&caller.access, &name).await?;
    let groups = caller.access.group_admin()?;
    let (new_name, hosts) = body.parse(&caller.access).await?;
    match groups.save(current.id, &new_name, &hosts).await {
        Ok(_) => {}
        Err(DbError::Taken(_)) => return Err(taken(&new_name)),
        Err(e) => return Err(e.into()),
    }
    let group = find(&caller.access, new_name.as_str()).await?;
    Ok(HttpResponse::Ok().json(Group::of(&group)))
}

/// Deletes a group; its hosts stay.
#[utoipa::path(
    operation_id = "delete_group",
    tag = "groups",
    params(("name" = String, Path, description = "The group's name.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, response = NotFound),
    )
)]
#[delete("/groups/{name}")]
async fn remove(caller: ApiCaller, name: web::Path<String>) -> Result<HttpResponse, Problem> {
    let group = find(&caller.access, &name).await?;
    caller.access.group_admin()?.delete(group.id).await?;
    Ok(HttpResponse::NoContent().finish())
}
