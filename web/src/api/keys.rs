//! `/api/v1/keys`: the account's update keys. A new key's secret is answered once; the
//! service keeps only its digest.

use super::body::Body;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::ApiCaller;
use super::hosts::own_hosts;
use super::problem::{NotFound, Problem, Unprocessable};
use crate::db::{DbError, KeyInfo, KeyProtocols};
use crate::domain::KeyScope;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(revoke);
}

/// An update key, never its secret.
#[derive(Serialize, ToSchema)]
struct KeyView {
    id: i64,
    name: String,
    /// The secret's first characters, to tell keys apart.
    prefix: String,
    /// The e-mail address of the user it acts for.
    owner: String,
    /// `update` (the update protocols) or `api` (the REST API too).
    scope: String,
    /// Also logs in over miniDNS's TCP protocol.
    miniupdate: bool,
    /// Made for RFC 2136 updates too: the name of its TSIG key.
    #[schema(example = "dyn53-key-7")]
    tsig_name: Option<String>,
    /// Limited to `hosts`: then empty means none is left, and the key can do nothing.
    limited: bool,
    /// The hosts it is limited to; empty when not `limited`.
    hosts: Vec<String>,
    /// When it was last used: to within an hour while it is used from one address.
    last_used_at: Option<DateTime<Utc>>,
    /// The address it was last used from.
    last_used_from: Option<String>,
    created_at: DateTime<Utc>,
}

impl KeyView {
    fn of(key: KeyInfo) -> KeyView {
        KeyView {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            owner: key.owner,
            scope: key.scope,
            miniupdate: key.miniupdate,
            tsig_name: key.tsig_name,
            limited: key.limited,
            hosts: key.hosts,
            last_used_at: key.last_used_at,
            last_used_from: key.last_used_from,
            created_at: key.created_at,
        }
    }
}

/// The account's live keys, newest first.
#[utoipa::path(
    operation_id = "list_keys",
    tag = "keys",
    responses(
        (status = 200, description = "The keys.", body = Vec<KeyView>),
    )
)]
#[get("/keys")]
async fn list(caller: ApiCaller) -> Result<HttpResponse, Problem> {
    let keys = caller.access.account()?.keys().await?;
    Ok(HttpResponse::Ok().json(keys.into_iter().map(KeyView::of).collect::<Vec<_>>()))
}

/// A key to make for the caller.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    #[schema(example = "router")]
    name: String,
    /// `update` (default) or `api`.
    #[schema(example = "update")]
    scope: Option<String>,
    /// Limit the key to these hosts of the account; empty or absent: every host.
    hosts: Option<Vec<String>>,
    /// Also for miniDNS's TCP protocol (the service then keeps the key's MD5).
    miniupdate: Option<bool>,
    /// Also for RFC 2136 updates signed with TSIG (the service then keeps the TSIG secret).
    tsig: Option<bool>,
}

/// A new key, with its secret: shown this once.
#[derive(Serialize, ToSchema)]
struct CreatedKey {
    secret: String,
    /// For a key made for RFC 2136: its TSIG key as nsupdate's `-y` takes it.
    #[schema(example = "hmac-sha256:dyn53-key-7:c2VjcmV0")]
    tsig_key: Option<String>,
    key: KeyView,
}

/// Makes a key that acts for the caller.
#[utoipa::path(
    operation_id = "create_key",
    tag = "keys",
    request_body = NewKey,
    responses(
        (status = 201, description = "Created; the secret is not shown again.", body = CreatedKey),
        (status = 422, response = Unprocessable),
    )
)]
#[post("/keys")]
async fn create(caller: ApiCaller, body: Body<NewKey>) -> Result<HttpResponse, Problem> {
    let keys = caller.access.key_admin()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Problem::invalid(
            "invalid_name",
            "A key's name is 1 to 64 characters, on one line.",
        ));
    }
    let scope = match body.scope.as_deref() {
        None => KeyScope::Update,
        Some(scope) => KeyScope::parse(scope)
            .ok_or_else(|| Problem::invalid("invalid_scope", "The scope is `update` or `api`."))?,
    };
    let hosts = own_hosts(&caller.access, body.hosts.as_deref().unwrap_or_default()).await?;
    let also_for = KeyProtocols {
        miniupdate: body.miniupdate.unwrap_or(false),
        tsig: body.tsig.unwrap_or(false),
    };
    let (key, id) = match keys.create(name, &hosts, scope, also_for).await {
        Ok(created) => created,
        Err(DbError::Missing(why)) => return Err(Problem::invalid("unknown_host", why)),
        Err(e) => return Err(e.into()),
    };
    let info = caller
        .access
        .account()?
        .keys()
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| Problem::try_later(&"the new key is not listed"))?;
    Ok(HttpResponse::Created().json(CreatedKey {
        secret: key.secret().to_owned(),
        tsig_key: also_for.tsig.then(|| key.tsig_argument(id)),
        key: KeyView::of(info),
    }))
}

/// Revokes a key: it stops working at once.
#[utoipa::path(
    operation_id = "revoke_key",
    tag = "keys",
    params(("id" = i64, Path, description = "The key's id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, response = NotFound),
    )
)]
#[delete("/keys/{id}")]
async fn revoke(caller: ApiCaller, id: web::Path<String>) -> Result<HttpResponse, Problem> {
    let keys = caller.access.key_admin()?;
    let not_found = || Problem::not_found("key_not_found", "You have no such key.");
    let id: i64 = id.parse().map_err(|_| not_found())?;
    match keys.revoke(id).await? {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(not_found()),
    }
}
