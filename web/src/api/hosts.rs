//! `/api/v1/hosts`: the caller's hosts (filtered, in cursor pages), and creating, reading,
//! changing and deleting one. Changes go through the update service (`updates.rs`), like
//! the legacy protocols'.

use super::body::Body;
use std::net::{Ipv4Addr, Ipv6Addr};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::ApiCaller;
use super::problem::{Conflict, NotFound, Problem, Unprocessable};
use super::updates::{addresses, apply, settings_request};
use super::{Cursor, nullable, page_size};
use crate::access::{Access, CreateHostError};
use crate::db::{Host, HostFilter, LastSeen};
use crate::domain::{Fqdn, InterfaceId};
use crate::state::AppState;
use crate::update::{HostSettings, check_txt};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(change)
        .service(remove);
}

/// A host and everything it serves.
#[derive(Serialize, ToSchema)]
pub(super) struct HostView {
    #[schema(example = "home.dyn.example")]
    name: String,
    zone: String,
    #[schema(value_type = Option<String>, format = Ipv4)]
    ipv4: Option<Ipv4Addr>,
    #[schema(value_type = Option<String>, format = Ipv6)]
    ipv6: Option<Ipv6Addr>,
    /// Set when `ipv6` follows the account's IPv6 prefix: the address's bits after the
    /// prefix, like `::1:2:3:4`.
    ipv6_interface_id: Option<String>,
    /// The TTL served, in seconds.
    ttl: u32,
    /// The owner's TTL; `null`: the zone's default.
    ttl_override: Option<u32>,
    /// Offline: the host serves `offline_ipv4`/`offline_ipv6`, or no address.
    offline: bool,
    #[schema(value_type = Option<String>, format = Ipv4)]
    offline_ipv4: Option<Ipv4Addr>,
    #[schema(value_type = Option<String>, format = Ipv6)]
    offline_ipv6: Option<Ipv6Addr>,
    /// `*.name` answers as the name does.
    wildcard: bool,
    /// The mail exchanger.
    mx: Option<String>,
    /// `mx` is a backup: the host itself is the first mail exchanger.
    backmx: bool,
    /// An alias serves a CNAME to this name instead of addresses.
    alias: Option<String>,
    /// The host's own TXT records.
    txt: Vec<String>,
    /// TXT values served at `_acme-challenge.<name>`.
    acme_challenge: Vec<String>,
    /// Blocked by the operator: updates answer `abuse`.
    blocked: bool,
    /// When a client last checked in, changing the host or not.
    updated_at: Option<DateTime<Utc>>,
    /// The protocol and client of the last check-in.
    last_client: Option<String>,
}

impl HostView {
    pub(super) fn of(host: &Host) -> HostView {
        let state = &host.state;
        HostView {
            name: host.name.to_string(),
            zone: host.zone.name.to_string(),
            ipv4: state.ipv4,
            ipv6: state.ipv6,
            ipv6_interface_id: state.ipv6_interface_id.map(|id| id.to_string()),
            ttl: host.zone.ttl_for(state.ttl),
            ttl_override: state.ttl,
            offline: state.offline,
            offline_ipv4: state.offline_ipv4,
            offline_ipv6: state.offline_ipv6,
            wildcard: state.wildcard,
            mx: state.mx.as_ref().map(Fqdn::to_string),
            backmx: state.backmx,
            alias: state.alias.as_ref().map(Fqdn::to_string),
            txt: state.txt.clone(),
            acme_challenge: state.acme_txt.clone(),
            blocked: state.blocked,
            updated_at: host.last_seen.as_ref().map(|s| s.at),
            last_client: host.last_seen.as_ref().and_then(LastSeen::client),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only hosts in this zone.
    zone: Option<String>,
    /// Only hosts whose name contains this.
    name_contains: Option<String>,
    /// Only hosts that are offline (`true`) or online (`false`).
    offline: Option<bool>,
    /// Hosts per page (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of hosts, by name.
#[derive(Default, Serialize, ToSchema)]
struct HostPage {
    items: Vec<HostView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// The caller's hosts (a host-limited key's: its hosts), by name.
#[utoipa::path(
    operation_id = "list_hosts",
    tag = "hosts",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of hosts.", body = HostPage),
        (status = 422, response = Unprocessable),
    )
)]
#[get("/hosts")]
async fn list(caller: ApiCaller, query: web::Query<ListQuery>) -> Result<HttpResponse, Problem> {
    let limit = page_size(query.limit)?;
    let access = &caller.access;
    let mut filter = HostFilter {
        after: query.cursor.as_deref().map(Cursor::decode).transpose()?,
        name_contains: query.name_contains.clone(),
        offline: query.offline,
        ..HostFilter::default()
    };
    if let Some(zone) = &query.zone {
        let zones = access.zones().await?;
        let wanted = Fqdn::parse(zone).ok();
        match zones.iter().find(|z| Some(&z.name) == wanted.as_ref()) {
            Some(zone) => filter.zone = Some(zone.id),
            None => return Ok(HttpResponse::Ok().json(HostPage::default())),
        }
    }
    let mut hosts = access.hosts_page(filter, limit + 1).await?;
    let more = hosts.len() as u64 > limit;
    hosts.truncate(limit as usize);
    let next_cursor = more
        .then(|| hosts.last().map(|h| Cursor::encode(h.name.as_str())))
        .flatten();
    Ok(HttpResponse::Ok().json(HostPage {
        items: hosts.iter().map(HostView::of).collect(),
        next_cursor,
    }))
}

/// A host to create: its name under one of the caller's zones, and its first addresses.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewHost {
    /// One label under a zone of `GET /zones`.
    #[schema(example = "home.dyn.example")]
    name: String,
    #[schema(format = Ipv4)]
    ipv4: Option<String>,
    #[schema(format = Ipv6)]
    ipv6: Option<String>,
}

/// Creates a host (a host-limited key may not).
#[utoipa::path(
    operation_id = "create_host",
    tag = "hosts",
    request_body = NewHost,
    responses(
        (status = 201, description = "Created.", body = HostView, headers(("Location" = String, description = "The host's URL."))),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
    )
)]
#[post("/hosts")]
async fn create(
    caller: ApiCaller,
    state: web::Data<AppState>,
    body: Body<NewHost>,
) -> Result<HttpResponse, Problem> {
    let hosts = caller.access.host_admin()?;
    let addresses = addresses(body.ipv4.as_deref(), body.ipv6.as_deref())?;
    let name = Fqdn::parse(&body.name)
        .map_err(|e| Problem::invalid("invalid_name", format!("Not a host name: {e}.")))?;
    match hosts.create(name, addresses, &state.blocklists).await {
        Ok(host) => Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/api/v1/hosts/{}", host.name)))
            .json(HostView::of(&host))),
        Err(CreateHostError::Db(e)) => Err(e.into()),
        Err(e @ CreateHostError::Taken(_)) => Err(Problem::new(409, "name_taken", e.to_string())),
        Err(e @ CreateHostError::PlanLimit(_)) => {
            Err(Problem::forbidden("plan_limit", e.to_string()))
        }
        Err(e @ CreateHostError::AddressBlocked(_)) => {
            Err(Problem::forbidden("address_blocked", e.to_string()))
        }
        Err(e) => Err(Problem::invalid("invalid_name", e.to_string())),
    }
}

/// One host.
#[utoipa::path(
    operation_id = "read_host",
    tag = "hosts",
    params(("fqdn" = String, Path, description = "The host's name.")),
    responses(
        (status = 200, description = "The host.", body = HostView),
        (status = 404, response = NotFound),
    )
)]
#[get("/hosts/{fqdn}")]
async fn read(caller: ApiCaller, fqdn: web::Path<String>) -> Result<HttpResponse, Problem> {
    let host = caller.host(&fqdn).await?;
    Ok(HttpResponse::Ok().json(HostView::of(&host)))
}

/// What to change: absent fields stay as they are; `null` removes an optional one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct HostChanges {
    #[schema(format = Ipv4)]
    ipv4: Option<String>,
    #[schema(format = Ipv6)]
    ipv6: Option<String>,
    /// Offline mode (premium plan).
    offline: Option<bool>,
    /// Seconds, within the zone's bounds; `null`: the zone's default.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    ttl: Option<Option<serde_json::Number>>,
    wildcard: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    mx: Option<Option<String>>,
    backmx: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    alias: Option<Option<String>>,
    /// The host's own TXT records, all of them (at most 10).
    txt: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Ipv4)]
    offline_ipv4: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Ipv6)]
    offline_ipv6: Option<Option<String>>,
    /// Make `ipv6` follow the account's IPv6 prefix, ending in these bits (`::1:2:3:4`; the
    /// last 64 bits not all zero); `null`: keep the address it has and stop following.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "::1:2:3:4")]
    ipv6_interface_id: Option<Option<String>>,
}

impl HostChanges {
    /// The settings to apply to `host`; a problem naming the first bad field.
    fn settings(&self, host: &Host) -> Result<HostSettings, Problem> {
        let name = |value: &Option<Option<String>>, code, what: &str| {
            value
                .as_ref()
                .map(|v| v.as_deref().map(Fqdn::parse).transpose())
                .transpose()
                .map_err(|e| Problem::invalid(code, format!("The {what} is not a host name: {e}.")))
        };
        let ttl = match &self.ttl {
            Some(Some(ttl)) => {
                let ttl = whole_number(ttl).ok_or_else(|| {
                    Problem::invalid("invalid_ttl", "The TTL is a whole number of seconds.")
                })?;
                host.zone
                    .check_ttl(ttl)
                    .map_err(|why| Problem::invalid("invalid_ttl", why))?;
                Some(Some(ttl))
            }
            Some(None) => Some(None),
            None => None,
        };
        let alias = name(&self.alias, "invalid_alias", "alias target")?;
        if let Some(txt) = &self.txt {
            check_txt(txt).map_err(|why| Problem::invalid("invalid_txt", why))?;
        }
        let offline_addresses = match (&self.offline_ipv4, &self.offline_ipv6) {
            (None, None) => None,
            (v4, v6) => {
                let (ipv4, ipv6) = addresses(
                    v4.as_ref().and_then(Option::as_deref),
                    v6.as_ref().and_then(Option::as_deref),
                )?;
                let state = &host.state;
                Some((
                    if v4.is_some() {
                        ipv4
                    } else {
                        state.offline_ipv4
                    },
                    if v6.is_some() {
                        ipv6
                    } else {
                        state.offline_ipv6
                    },
                ))
            }
        };
        let ipv6_interface_id = match &self.ipv6_interface_id {
            Some(Some(id)) => Some(Some(InterfaceId::parse(id).map_err(|e| {
                Problem::invalid("invalid_interface_id", format!("ipv6_interface_id: {e}."))
            })?)),
            Some(None) => Some(None),
            None => None,
        };
        Ok(HostSettings {
            ipv6_interface_id,
            wildcard: self.wildcard,
            mx: name(&self.mx, "invalid_mx", "mail exchanger")?,
            backmx: self.backmx,
            ttl,
            txt: self.txt.clone(),
            alias,
            offline_addresses,
            ..HostSettings::default()
        })
    }
}

/// Changes a host's addresses and settings at once.
#[utoipa::path(
    operation_id = "change_host",
    tag = "hosts",
    params(("fqdn" = String, Path, description = "The host's name.")),
    request_body = HostChanges,
    responses(
        (status = 200, description = "The host as it is now.", body = HostView),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
    )
)]
#[patch("/hosts/{fqdn}")]
async fn change(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    fqdn: web::Path<String>,
    body: Body<HostChanges>,
) -> Result<HttpResponse, Problem> {
    let host = caller.host(&fqdn).await?;
    let settings = body.settings(&host)?;
    if let Some(why) = settings.alias_refusal(&state.db, &host.name).await? {
        return Err(Problem::invalid("invalid_alias", why));
    }
    let set = addresses(body.ipv4.as_deref(), body.ipv6.as_deref())?;
    let mut request = settings_request(&req, &caller, &host, settings)?;
    (request.ipv4, request.ipv6) = set;
    if let Some(offline) = body.offline {
        request.offline = Some(offline);
    }
    apply(&state, request, &host).await?;
    let host = caller.host(&fqdn).await?;
    Ok(HttpResponse::Ok().json(HostView::of(&host)))
}

/// Deletes a host (a host-limited key may not).
#[utoipa::path(
    operation_id = "delete_host",
    tag = "hosts",
    params(("fqdn" = String, Path, description = "The host's name.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, response = NotFound),
    )
)]
#[delete("/hosts/{fqdn}")]
async fn remove(caller: ApiCaller, fqdn: web::Path<String>) -> Result<HttpResponse, Problem> {
    let host = caller.host(&fqdn).await?;
    match caller.access.host_admin()?.delete(host.state.id).await? {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(Problem::not_found(
            "host_not_found",
            format!("You have no host {fqdn}."),
        )),
    }
}

/// The account's hosts named in `names` (a group's members, a key's limit); 422 for a name
/// that is not one of them.
pub(super) async fn own_hosts(access: &Access, names: &[String]) -> Result<Vec<Fqdn>, Problem> {
    let own = access.hosts().await?;
    names
        .iter()
        .map(|name| {
            Fqdn::parse(name)
                .ok()
                .filter(|n| own.iter().any(|h| h.name == *n))
                .ok_or_else(|| {
                    Problem::invalid("unknown_host", format!("You have no host {name}."))
                })
        })
        .collect()
}

/// A JSON number that is a whole number (JSON Schema counts `60.0` as an integer too), as
/// a `u32`.
pub(super) fn whole_number(n: &serde_json::Number) -> Option<u32> {
    match n.as_u64() {
        Some(n) => u32::try_from(n).ok(),
        None => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(f))
            .map(|f| f as u32),
    }
}
