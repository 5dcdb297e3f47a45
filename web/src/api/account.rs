//! `/api/v1/account`, its users, and `/api/v1/zones`: the caller's account as a whole.

use actix_web::{HttpResponse, delete, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::ApiCaller;
use super::problem::{NotFound, Problem};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(account)
        .service(users)
        .service(remove_user)
        .service(zones);
}

/// The caller's account, and the caller.
#[derive(Serialize, ToSchema)]
struct AccountView {
    /// `free` or `premium`.
    plan: &'static str,
    /// `active`, `blocked` (updates answer `abuse`) or `suspended`.
    status: &'static str,
    /// Hosts the plan allows.
    host_limit: u64,
    host_count: u64,
    /// The caller's e-mail address.
    email: String,
    /// The caller's role: `owner`, `admin`, `editor` or `viewer`.
    role: &'static str,
    /// The IPv6 prefix the account's router last sent (`ipv6_prefix` of an update, dyndns2's
    /// `ip6lanprefix`): hosts with an `ipv6_interface_id` have this prefix, then their own bits.
    #[schema(example = "2001:db8:1200::/56")]
    ipv6_prefix: Option<String>,
}

/// The caller's account.
#[utoipa::path(
    operation_id = "read_account",
    tag = "account",
    responses(
        (status = 200, description = "The account.", body = AccountView),
    )
)]
#[get("/account")]
async fn account(caller: ApiCaller) -> Result<HttpResponse, Problem> {
    let account = caller.access.account()?;
    let host_count = account.host_count().await?;
    let ipv6_prefix = account.ipv6_prefix().await?.map(|p| p.to_string());
    let user = caller.user();
    Ok(HttpResponse::Ok().json(AccountView {
        plan: user.plan.as_str(),
        status: user.account_status.as_str(),
        host_limit: user.plan.max_hosts(),
        host_count,
        email: user.email.to_string(),
        role: user.role.as_str(),
        ipv6_prefix,
    }))
}

/// A user of the account.
#[derive(Serialize, ToSchema)]
struct UserView {
    id: i64,
    email: String,
    /// `owner`, `admin`, `editor` or `viewer`.
    role: &'static str,
}

/// The account's users, by e-mail address.
#[utoipa::path(
    operation_id = "list_users",
    tag = "account",
    responses(
        (status = 200, description = "The users.", body = Vec<UserView>),
    )
)]
#[get("/account/users")]
async fn users(caller: ApiCaller) -> Result<HttpResponse, Problem> {
    let members = caller.access.account()?.members().await?;
    let users: Vec<UserView> = members
        .into_iter()
        .map(|m| UserView {
            id: m.id,
            email: m.email,
            role: m.role.as_str(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(users))
}

/// Removes a user (never the owner) with their keys and sessions: for the owner and admins.
#[utoipa::path(
    operation_id = "remove_user",
    tag = "account",
    params(("id" = i64, Path, description = "The user's id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, response = NotFound),
    )
)]
#[delete("/account/users/{id}")]
async fn remove_user(caller: ApiCaller, id: web::Path<String>) -> Result<HttpResponse, Problem> {
    let not_found = || Problem::not_found("user_not_found", "The account has no such user.");
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let members = caller.access.account()?.members().await?;
    if !members.iter().any(|m| m.id == id) {
        return Err(not_found());
    }
    match caller.access.team_admin()?.remove(id).await? {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(not_found()),
    }
}

/// A zone the account may create hosts in.
#[derive(Serialize, ToSchema)]
struct ZoneView {
    #[schema(example = "dyn.example")]
    name: String,
    /// The account's own zone, rather than one the service shares.
    own: bool,
    /// TTLs in seconds: a host's is `default_ttl` unless its owner chose one within the bounds.
    default_ttl: u32,
    min_ttl: u32,
    max_ttl: u32,
}

/// The zones the caller may create hosts in.
#[utoipa::path(
    operation_id = "list_zones",
    tag = "account",
    responses(
        (status = 200, description = "The zones.", body = Vec<ZoneView>),
    )
)]
#[get("/zones")]
async fn zones(caller: ApiCaller) -> Result<HttpResponse, Problem> {
    let zones: Vec<ZoneView> = caller
        .access
        .zones()
        .await?
        .into_iter()
        .map(|z| ZoneView {
            name: z.name.to_string(),
            own: z.account.is_some(),
            default_ttl: z.default_ttl,
            min_ttl: z.min_ttl,
            max_ttl: z.max_ttl,
        })
        .collect();
    Ok(HttpResponse::Ok().json(zones))
}
