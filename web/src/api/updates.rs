//! `POST /api/v1/hosts/{fqdn}/update`, and how every API change to a host reaches the one
//! update service: the request it makes, the caller as a client in the history, and the
//! answer mapped to a problem.

use super::body;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::{ApiCaller, UpdateCaller};
use super::problem::{NotFound, Problem, Unprocessable};
use crate::db::Host;
use crate::domain::{Fqdn, Ipv6Prefix, Protocol, parse_ipv4, parse_ipv6};
use crate::state::AppState;
use crate::update::{Addresses, Client, HostEntry, HostResult, HostSettings, UpdateRequest};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(update);
}

/// An update's addresses, as the legacy protocols take them.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[schema(format = Ipv4)]
    ipv4: Option<String>,
    #[schema(format = Ipv6)]
    ipv6: Option<String>,
    /// The router's IPv6 prefix (`/64` or shorter): every host of the account with an
    /// `ipv6_interface_id` moves into it, with this update.
    #[schema(example = "2001:db8:1200::/56")]
    ipv6_prefix: Option<String>,
    /// Take the host offline (premium plan); `false` or absent brings it online.
    offline: Option<bool>,
}

/// The outcome of an update.
#[derive(Serialize, ToSchema)]
struct UpdateResult {
    /// `good` (changed) or `nochg`, as the legacy protocols say.
    #[schema(value_type = String, example = "good")]
    result: &'static str,
    #[schema(value_type = Option<String>, format = Ipv4)]
    ipv4: Option<Ipv4Addr>,
    #[schema(value_type = Option<String>, format = Ipv6)]
    ipv6: Option<Ipv6Addr>,
}

/// Updates a host as a dynamic DNS client does: the addresses given, or with neither the
/// caller's own; the same service and results as `/nic/update`.
#[utoipa::path(
    operation_id = "update_host",
    tag = "hosts",
    params(("fqdn" = String, Path, description = "The host's name.")),
    request_body(content = Option<UpdateBody>, description = "No body (or `null`): the caller's address."),
    responses(
        (status = 200, description = "Updated, or already so.", body = UpdateResult),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
    )
)]
#[post("/hosts/{fqdn}/update")]
async fn update(
    req: HttpRequest,
    caller: UpdateCaller,
    state: web::Data<AppState>,
    fqdn: web::Path<String>,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, Problem> {
    // Read here rather than as JSON: no body at all is the simplest update, the caller's
    // address. The only error reading it is a body over the limit.
    let body = body.map_err(|_| Problem::too_large())?;
    let body: UpdateBody = if body.is_empty() {
        UpdateBody::default()
    } else {
        body::decode::<Option<UpdateBody>>(&body)?.unwrap_or_default()
    };
    let mut request = UpdateRequest::new(
        caller.credentials(),
        vec![HostEntry::host(Fqdn::parse(&fqdn))],
        addresses(body.ipv4.as_deref(), body.ipv6.as_deref())?,
        api_client(&req, caller.source()),
    );
    request.offline = body.offline;
    request.ipv6_prefix = body
        .ipv6_prefix
        .as_deref()
        .map(Ipv6Prefix::parse)
        .transpose()
        .map_err(|e| Problem::invalid("invalid_ipv6_prefix", format!("ipv6_prefix: {e}.")))?;
    let (changed, now) = run(&state, request, &fqdn).await?;
    Ok(HttpResponse::Ok().json(UpdateResult {
        result: if changed { "good" } else { "nochg" },
        ipv4: now.ipv4,
        ipv6: now.ipv6,
    }))
}

/// Addresses as a body gives them; 422 for one that is not of its family.
pub(super) fn addresses(
    ipv4: Option<&str>,
    ipv6: Option<&str>,
) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>), Problem> {
    let ipv4 = ipv4
        .map(parse_ipv4)
        .transpose()
        .map_err(|_| Problem::invalid("invalid_ipv4", "ipv4 is not an IPv4 address."))?;
    let ipv6 = ipv6
        .map(parse_ipv6)
        .transpose()
        .map_err(|_| Problem::invalid("invalid_ipv6", "ipv6 is not an IPv6 address."))?;
    Ok((ipv4, ipv6))
}

/// Who updates through the API, for history.
fn api_client(req: &HttpRequest, source: IpAddr) -> Client {
    Client {
        protocol: Protocol::Api,
        source,
        agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// A request that changes `settings` of `host` and keeps its addresses and offline state;
/// refused unless the caller may change hosts.
pub(super) fn settings_request(
    req: &HttpRequest,
    caller: &ApiCaller,
    host: &Host,
    settings: HostSettings,
) -> Result<UpdateRequest, Problem> {
    let writer = caller.access.host_writer()?;
    let mut request = writer.request(
        vec![HostEntry::host(Ok(host.name.clone()))],
        (None, None),
        api_client(req, caller.source),
    );
    (request.preserve_ipv4, request.preserve_ipv6) = (true, true);
    request.offline = Some(host.state.offline);
    request.settings = settings;
    Ok(request)
}

/// Runs `request` for `host`: whether it changed anything.
pub(super) async fn apply(
    state: &AppState,
    request: UpdateRequest,
    host: &Host,
) -> Result<bool, Problem> {
    Ok(run(state, request, host.name.as_str()).await?.0)
}

/// Runs an update of one host `name`: whether it changed, and the addresses it reports.
async fn run(
    state: &AppState,
    request: UpdateRequest,
    name: &str,
) -> Result<(bool, Addresses), Problem> {
    match state.updater.update(request).await?.first() {
        Some(HostResult::Changed(now)) => Ok((true, *now)),
        Some(HostResult::Unchanged(now)) => Ok((false, *now)),
        Some(HostResult::Abuse) => Err(Problem::new(
            429,
            "abuse",
            "This host had too many updates lately, or is blocked.",
        )
        .retry_after(600)),
        _ => Err(Problem::not_found(
            "host_not_found",
            format!("You have no host {name}."),
        )),
    }
}
