//! `/api/v1/hosts`: the caller's hosts, one host, and updating one through the same update
//! service (and results) as the legacy protocols.

use std::net::{Ipv4Addr, Ipv6Addr};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{caller, source};
use super::problem::Problem;
use crate::db::Host;
use crate::domain::{Fqdn, Protocol, parse_ipv4, parse_ipv6};
use crate::http::AppState;
use crate::update::{Client, HostEntry, HostResult, UpdateError, UpdateRequest};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/hosts", web::get().to(list))
        .route("/hosts/{fqdn}", web::get().to(one))
        .route("/hosts/{fqdn}/update", web::post().to(update));
}

#[derive(Serialize)]
struct HostView {
    name: String,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    ttl: u32,
    offline: bool,
    updated_at: Option<DateTime<Utc>>,
}

impl HostView {
    fn of(host: &Host) -> HostView {
        HostView {
            name: host.name.to_string(),
            ipv4: host.state.ipv4,
            ipv6: host.state.ipv6,
            ttl: host.zone.ttl_for(host.state.ttl),
            offline: host.state.offline,
            updated_at: host.updated_at,
        }
    }
}

/// Maps the update service's refusal of the caller to a problem.
fn refused(e: UpdateError) -> Problem {
    match e {
        UpdateError::BadAuth(_) => Problem::new(
            401,
            "invalid_credentials",
            "The key is not valid for the API.",
        ),
        UpdateError::AccountInactive => {
            Problem::new(403, "account_inactive", "The account is suspended.")
        }
        UpdateError::ReadOnly => Problem::new(403, "read_only", "Your role may not change DNS."),
        UpdateError::NotOnPlan => Problem::new(
            403,
            "not_on_plan",
            "Offline mode is part of the premium plan.",
        ),
        e @ (UpdateError::Unavailable(_) | UpdateError::Interrupted) => Problem::try_later(&e),
    }
}

/// The hosts the caller may see: the account's, or those a host-limited key names.
async fn visible_hosts(req: &HttpRequest, state: &AppState) -> Result<Vec<Host>, Problem> {
    let caller = caller(req, state).await?;
    let credentials = caller.credentials();
    let src = source(req, state);
    let (account, names) = state
        .updater
        .reachable_hosts(&credentials, src)
        .await
        .map_err(refused)?;
    let hosts = state
        .db
        .tenant(account)
        .hosts()
        .await
        .map_err(|e| Problem::try_later(&e))?;
    Ok(hosts
        .into_iter()
        .filter(|h| names.contains(&h.name))
        .collect())
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match visible_hosts(&req, &state).await {
        Ok(hosts) => HttpResponse::Ok().json(hosts.iter().map(HostView::of).collect::<Vec<_>>()),
        Err(problem) => problem.response(),
    }
}

fn not_found(name: &str) -> Problem {
    Problem::new(404, "host_not_found", format!("You have no host {name}."))
}

async fn one(
    req: HttpRequest,
    state: web::Data<AppState>,
    fqdn: web::Path<String>,
) -> HttpResponse {
    let hosts = match visible_hosts(&req, &state).await {
        Ok(hosts) => hosts,
        Err(problem) => return problem.response(),
    };
    let wanted = Fqdn::parse(&fqdn).ok();
    match hosts.iter().find(|h| Some(&h.name) == wanted.as_ref()) {
        Some(host) => HttpResponse::Ok().json(HostView::of(host)),
        None => not_found(&fqdn).response(),
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    ipv4: Option<String>,
    ipv6: Option<String>,
    offline: Option<bool>,
}

#[derive(Serialize)]
struct UpdateResult {
    /// `good` (changed) or `nochg`, as the legacy protocols say.
    result: &'static str,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
}

/// Sets the host's addresses (neither given: the caller's address) or its offline state.
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    fqdn: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let caller = match caller(&req, &state).await {
        Ok(caller) => caller,
        Err(problem) => return problem.response(),
    };
    // No body at all is the simplest update: the caller's address.
    let body: UpdateBody = if body.is_empty() {
        UpdateBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(e) => {
                let detail = format!("The body is not valid: {e}");
                return Problem::new(400, "invalid_body", detail).response();
            }
        }
    };
    let ipv4 = match body.ipv4.as_deref().map(parse_ipv4).transpose() {
        Ok(ipv4) => ipv4,
        Err(_) => {
            return Problem::new(422, "invalid_ipv4", "ipv4 is not an IPv4 address.").response();
        }
    };
    let ipv6 = match body.ipv6.as_deref().map(parse_ipv6).transpose() {
        Ok(ipv6) => ipv6,
        Err(_) => {
            return Problem::new(422, "invalid_ipv6", "ipv6 is not an IPv6 address.").response();
        }
    };
    let client = Client {
        protocol: Protocol::Api,
        source: source(&req, &state),
        agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let mut request = UpdateRequest::new(
        caller.credentials(),
        vec![HostEntry::host(Fqdn::parse(&fqdn))],
        (ipv4, ipv6),
        client,
    );
    request.offline = body.offline;
    match state.updater.update(request).await {
        Ok(results) => match results.first() {
            Some(HostResult::Changed(a)) => HttpResponse::Ok().json(UpdateResult {
                result: "good",
                ipv4: a.ipv4,
                ipv6: a.ipv6,
            }),
            Some(HostResult::Unchanged(a)) => HttpResponse::Ok().json(UpdateResult {
                result: "nochg",
                ipv4: a.ipv4,
                ipv6: a.ipv6,
            }),
            Some(HostResult::Abuse) => Problem::new(
                429,
                "abuse",
                "This host had too many updates lately, or is blocked.",
            )
            .retry_after(600)
            .response(),
            _ => not_found(&fqdn).response(),
        },
        Err(e) => refused(e).response(),
    }
}
