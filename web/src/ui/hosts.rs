//! `/hosts`: the account's host names, creating one, and each host's page (addresses set
//! through the update service, its history with a timeline, deleting it).

use std::net::{Ipv4Addr, Ipv6Addr};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Nav, csrf_ok, not_found, page, redirect, signed_in, try_later};
use crate::db::{DbError, HistoryLine, Host, WebSession};
use crate::domain::{AccountStatus, Fqdn, Label, Plan, Protocol, parse_ipv4, parse_ipv6};
use crate::http::AppState;
use crate::update::{
    Client, Credentials, HostEntry, HostResult, HostSettings, UpdateError, UpdateRequest,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/hosts", web::get().to(list))
        .route("/hosts", web::post().to(create))
        .route("/hosts/{id}", web::get().to(show))
        .route("/hosts/{id}/addresses", web::post().to(set_addresses))
        .route("/hosts/{id}/settings", web::post().to(set_settings))
        .route("/hosts/{id}/delete", web::post().to(delete));
}

/// History lines per page.
const HISTORY_PAGE: u64 = 20;

/// A host as a row of the list.
struct Row {
    id: i64,
    name: String,
    ipv4: String,
    ipv6: String,
    updated: String,
    client: String,
    offline: bool,
}

impl Row {
    fn of(host: &Host) -> Row {
        let text = |v: Option<String>| v.unwrap_or_else(|| "—".into());
        Row {
            id: host.state.id,
            name: host.name.to_string(),
            ipv4: text(host.state.ipv4.map(|a| a.to_string())),
            ipv6: text(host.state.ipv6.map(|a| a.to_string())),
            updated: text(
                host.updated_at
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
            ),
            client: text(host.last_client.clone()),
            offline: host.state.offline,
        }
    }
}

#[derive(Template)]
#[template(path = "hosts.html")]
struct HostsPage {
    nav: Nav,
    hosts: Vec<Row>,
    zones: Vec<String>,
    verified: bool,
    /// Hosts the plan allows, and whether the account has them all.
    limit: u64,
    full: bool,
    label: String,
    error: Option<String>,
}

async fn hosts_page(
    state: &AppState,
    session: &WebSession,
    label: String,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let tenant = state.db.tenant(session.user.account);
    let (hosts, zones) = match (tenant.hosts().await, tenant.zones().await) {
        (Ok(hosts), Ok(zones)) => (hosts, zones),
        (Err(e), _) | (_, Err(e)) => return try_later(&e),
    };
    let limit = session.user.plan.max_hosts();
    let view = HostsPage {
        nav: Nav::signed_in(session),
        full: hosts.len() as u64 >= limit,
        hosts: hosts.iter().map(Row::of).collect(),
        zones: zones.iter().map(|z| z.name.to_string()).collect(),
        verified: session.user.verified,
        limit,
        label,
        error,
    };
    page(status, &view)
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match signed_in(&req, &state).await {
        Ok(session) => hosts_page(&state, &session, String::new(), None, StatusCode::OK).await,
        Err(response) => response,
    }
}

#[derive(Deserialize)]
struct NewHostForm {
    label: String,
    zone: String,
    csrf: String,
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<NewHostForm>,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let refuse =
        |why: String, status| hosts_page(&state, &session, form.label.clone(), Some(why), status);
    if !csrf_ok(&session.csrf, &form.csrf) {
        return refuse(super::account::FORM_EXPIRED.into(), StatusCode::FORBIDDEN).await;
    }
    if !session.user.verified {
        let why = "Confirm your e-mail address first: follow the link we sent you.";
        return refuse(why.into(), StatusCode::FORBIDDEN).await;
    }
    if session.user.account_status != AccountStatus::Active || !session.user.role.may_change_dns() {
        return refuse(
            "You may not add host names to this account.".into(),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let label = match Label::parse(&form.label) {
        Ok(label) => label,
        Err(e) => {
            return refuse(
                format!("Choose another name: {e}."),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let tenant = state.db.tenant(session.user.account);
    let zones = match tenant.zones().await {
        Ok(zones) => zones,
        Err(e) => return try_later(&e),
    };
    let Some(zone) = zones.iter().find(|z| z.name.as_str() == form.zone.trim()) else {
        return refuse(
            "Choose one of the zones offered.".into(),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    match tenant.host_count().await {
        Ok(count) if count >= session.user.plan.max_hosts() => {
            let why = format!(
                "Your plan allows {} host names.",
                session.user.plan.max_hosts()
            );
            return refuse(why, StatusCode::FORBIDDEN).await;
        }
        Ok(_) => {}
        Err(e) => return try_later(&e),
    }
    let Ok(name) = Fqdn::parse(&format!("{label}.{}", zone.name)) else {
        return refuse("That name is too long.".into(), StatusCode::BAD_REQUEST).await;
    };
    match tenant
        .create_host(zone, name.clone(), &session.user.email)
        .await
    {
        Ok(host) => redirect(&format!("/hosts/{}", host.state.id)),
        Err(DbError::Rejected(_)) => {
            let why = format!("{name} is taken: choose another name.");
            refuse(why, StatusCode::CONFLICT).await
        }
        Err(e) => try_later(&e),
    }
}

/// One point of the timeline: an address that was set, and where it goes.
struct Point {
    x: u32,
    y: u32,
    label: String,
}

#[derive(Template)]
#[template(path = "host.html")]
struct HostPage {
    nav: Nav,
    host: Row,
    history: Vec<HistoryLine>,
    page: u64,
    more: bool,
    timeline: Vec<Point>,
    lanes: Vec<(u32, String)>,
    ipv4: String,
    ipv6: String,
    settings: SettingsView,
    /// Client configurations for this host: (client, text to paste).
    setup: Vec<(&'static str, String)>,
    error: Option<String>,
    notice: Option<String>,
}

/// The settings form's current values.
struct SettingsView {
    ttl: String,
    ttl_bounds: String,
    mx: String,
    backmx: bool,
    wildcard: bool,
    txt: String,
    alias: String,
    offline: bool,
    offline_ipv4: String,
    offline_ipv6: String,
    premium: bool,
}

impl SettingsView {
    fn of(host: &Host, premium: bool) -> SettingsView {
        let state = &host.state;
        let text = |v: Option<String>| v.unwrap_or_default();
        SettingsView {
            ttl: text(state.ttl.map(|t| t.to_string())),
            ttl_bounds: format!(
                "{} to {} s; empty: the zone's {} s",
                host.zone.min_ttl, host.zone.max_ttl, host.zone.default_ttl
            ),
            mx: text(state.mx.as_ref().map(Fqdn::to_string)),
            backmx: state.backmx,
            wildcard: state.wildcard,
            txt: state.txt.join("\n"),
            alias: text(state.alias.as_ref().map(Fqdn::to_string)),
            offline: state.offline,
            offline_ipv4: text(state.offline_ipv4.map(|a| a.to_string())),
            offline_ipv6: text(state.offline_ipv6.map(|a| a.to_string())),
            premium,
        }
    }
}

/// Ready-to-paste configurations of the common clients for `name` on this service.
fn client_setup(name: &str, public_url: &str) -> Vec<(&'static str, String)> {
    let server = public_url
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let ssl = if public_url.starts_with("https://") {
        "yes"
    } else {
        "no"
    };
    let key = "YOUR-UPDATE-KEY";
    vec![
        (
            "ddclient (/etc/ddclient.conf)",
            format!(
                "protocol=dyndns2\nssl={ssl}\nserver={server}\nlogin={name}\npassword='{key}'\n\
                 use=web, web={public_url}/checkip\n{name}\n"
            ),
        ),
        (
            "inadyn (/etc/inadyn.conf)",
            format!(
                "custom dyn53 {{\n    ssl            = {}\n    username       = \"{name}\"\n    \
                 password       = \"{key}\"\n    checkip-server = \"{server}\"\n    \
                 checkip-path   = \"/checkip\"\n    ddns-server    = \"{server}\"\n    \
                 ddns-path      = \"/nic/update?hostname=%h&myip=%i\"\n    \
                 hostname       = {{ \"{name}\" }}\n}}\n",
                ssl == "yes"
            ),
        ),
        (
            "OpenWrt (/etc/config/ddns)",
            format!(
                "config service 'dyn53'\n\toption lookup_host '{name}'\n\toption domain '{name}'\n\
                 \toption username '{name}'\n\toption password '{key}'\n\toption update_url \
                 '{}://[USERNAME]:[PASSWORD]@{server}/nic/update?hostname=[DOMAIN]&myip=[IP]'\n\
                 \toption interface 'wan'\n",
                if ssl == "yes" { "https" } else { "http" }
            ),
        ),
        (
            "Fritz!Box (custom provider)",
            format!(
                "Update-URL: {public_url}/nic/update?hostname=<domain>&myip=<ipaddr>&myipv6=<ip6addr>\
                 &username=<username>&password=<pass>\nDomain name: {name}\nUser name: {name}\n\
                 Password: {key}\n"
            ),
        ),
        (
            "cron + curl",
            format!(
                "*/5 * * * * curl -fsS -u '{name}:{key}' '{public_url}/nic/update?hostname={name}' >/dev/null\n"
            ),
        ),
    ]
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<u64>,
}

async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    host_page(
        &state,
        &session,
        &id,
        query.page.unwrap_or(0),
        Default::default(),
    )
    .await
}

/// What a host page shows besides the host: the form's values and a message.
#[derive(Default)]
struct Feedback {
    ipv4: Option<String>,
    ipv6: Option<String>,
    error: Option<String>,
    notice: Option<String>,
    status: Option<StatusCode>,
}

async fn host_page(
    state: &AppState,
    session: &WebSession,
    id: &str,
    page_no: u64,
    feedback: Feedback,
) -> HttpResponse {
    let Ok(id) = id.parse::<i64>() else {
        return not_found(Nav::signed_in(session));
    };
    let tenant = state.db.tenant(session.user.account);
    let host = match tenant.host(id).await {
        Ok(Some(host)) => host,
        Ok(None) => return not_found(Nav::signed_in(session)),
        Err(e) => return try_later(&e),
    };
    let history = match tenant
        .history(id, page_no * HISTORY_PAGE, HISTORY_PAGE + 1)
        .await
    {
        Ok(history) => history,
        Err(e) => return try_later(&e),
    };
    let more = history.len() as u64 > HISTORY_PAGE;
    let history: Vec<HistoryLine> = history.into_iter().take(HISTORY_PAGE as usize).collect();
    let (timeline, lanes) = timeline(&history);
    let view = HostPage {
        nav: Nav::signed_in(session),
        ipv4: feedback
            .ipv4
            .unwrap_or_else(|| host.state.ipv4.map(|a| a.to_string()).unwrap_or_default()),
        ipv6: feedback
            .ipv6
            .unwrap_or_else(|| host.state.ipv6.map(|a| a.to_string()).unwrap_or_default()),
        settings: SettingsView::of(&host, session.user.plan == Plan::Premium),
        setup: client_setup(host.name.as_str(), &state.public_url),
        host: Row::of(&host),
        history,
        page: page_no,
        more,
        timeline,
        lanes,
        error: feedback.error,
        notice: feedback.notice,
    };
    page(feedback.status.unwrap_or(StatusCode::OK), &view)
}

/// The timeline of the page's history: one lane per address, oldest on the left.
fn timeline(history: &[HistoryLine]) -> (Vec<Point>, Vec<(u32, String)>) {
    let changes: Vec<(&HistoryLine, String)> = history
        .iter()
        .rev()
        .filter(|h| h.result == "good")
        .map(|h| {
            let address = [h.ipv4.as_deref(), h.ipv6.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            (h, address)
        })
        .collect();
    let mut lanes: Vec<String> = Vec::new();
    for (_, address) in &changes {
        if !lanes.contains(address) {
            lanes.push(address.clone());
        }
    }
    let lane_y = |i: usize| 20 + 24 * i as u32;
    let (first, last) = match (changes.first(), changes.last()) {
        (Some(first), Some(last)) => (first.0.at, last.0.at),
        _ => return (Vec::new(), Vec::new()),
    };
    let span = (last - first).num_seconds().max(1) as f64;
    let points = changes
        .iter()
        .map(|(h, address)| {
            let lane = lanes.iter().position(|l| l == address).unwrap_or(0);
            let x = 200.0 + 380.0 * (h.at - first).num_seconds() as f64 / span;
            Point {
                x: x as u32,
                y: lane_y(lane),
                label: format!("{} at {}", address, h.at.format("%Y-%m-%d %H:%M:%S UTC")),
            }
        })
        .collect();
    let lanes = lanes
        .into_iter()
        .enumerate()
        .map(|(i, l)| (lane_y(i), l))
        .collect();
    (points, lanes)
}

#[derive(Deserialize)]
struct AddressForm {
    ipv4: String,
    ipv6: String,
    csrf: String,
}

/// Sets the host's addresses through the update service, as a client would; an empty
/// field leaves that family as it is.
async fn set_addresses(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<AddressForm>,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let refuse = |error: String, status| Feedback {
        ipv4: Some(form.ipv4.clone()),
        ipv6: Some(form.ipv6.clone()),
        error: Some(error),
        notice: None,
        status: Some(status),
    };
    if !csrf_ok(&session.csrf, &form.csrf) {
        let feedback = refuse(super::account::FORM_EXPIRED.into(), StatusCode::FORBIDDEN);
        return host_page(&state, &session, &id, 0, feedback).await;
    }
    let ipv4 = optional(&form.ipv4, parse_ipv4);
    let ipv6 = optional(&form.ipv6, parse_ipv6);
    let (ipv4, ipv6): (Option<Ipv4Addr>, Option<Ipv6Addr>) = match (ipv4, ipv6) {
        (Ok(v4), Ok(v6)) if v4.is_some() || v6.is_some() => (v4, v6),
        (Ok(_), Ok(_)) => {
            let feedback = refuse(
                "Give an IPv4 or an IPv6 address.".into(),
                StatusCode::BAD_REQUEST,
            );
            return host_page(&state, &session, &id, 0, feedback).await;
        }
        _ => {
            let feedback = refuse("That is not an IP address.".into(), StatusCode::BAD_REQUEST);
            return host_page(&state, &session, &id, 0, feedback).await;
        }
    };
    let Some(host) = (match own_host(&state, &session, &id).await {
        Ok(host) => host,
        Err(e) => return try_later(&e),
    }) else {
        return not_found(Nav::signed_in(&session));
    };
    let request = UpdateRequest::new(
        Credentials::signed_in(&session),
        vec![HostEntry::host(Ok(host.name.clone()))],
        (ipv4, ipv6),
        web_client(&req, &state),
    );
    let mut feedback = outcome(state.updater.update(request).await);
    if feedback.error.is_some() {
        (feedback.ipv4, feedback.ipv6) = (Some(form.ipv4.clone()), Some(form.ipv6.clone()));
    }
    host_page(&state, &session, &id, 0, feedback).await
}

/// The settings form. Checkboxes are absent when not ticked.
#[derive(Deserialize)]
struct SettingsForm {
    ttl: String,
    mx: String,
    backmx: Option<String>,
    wildcard: Option<String>,
    txt: String,
    alias: String,
    offline: Option<String>,
    offline_ipv4: String,
    offline_ipv6: String,
    csrf: String,
}

/// TXT records a host may have, and the longest one (one DNS character-string).
const MAX_TXT: usize = 10;
const MAX_TXT_LENGTH: usize = 255;

/// Reads the settings form into [`HostSettings`] for `host`; the reason when a field is bad.
fn settings(form: &SettingsForm, host: &Host) -> Result<HostSettings, String> {
    let zone = &host.zone;
    let ttl = match optional(&form.ttl, |t| t.parse::<u32>()) {
        Ok(Some(ttl)) if !(zone.min_ttl..=zone.max_ttl).contains(&ttl) => {
            return Err(format!(
                "The TTL must be between {} and {} seconds in {}.",
                zone.min_ttl, zone.max_ttl, zone.name
            ));
        }
        Ok(ttl) => ttl,
        Err(_) => return Err("The TTL is a number of seconds.".into()),
    };
    let name = |field: &str, what: &str| {
        optional(field, Fqdn::parse).map_err(|e| format!("The {what} is not a host name: {e}."))
    };
    let mx = name(&form.mx, "mail exchanger")?;
    let alias = name(&form.alias, "alias target")?;
    if alias.as_ref() == Some(&host.name) {
        return Err("A host cannot be an alias of itself.".into());
    }
    let txt: Vec<String> = form
        .txt
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if txt.len() > MAX_TXT {
        return Err(format!("A host has at most {MAX_TXT} TXT records."));
    }
    if txt
        .iter()
        .any(|t| t.len() > MAX_TXT_LENGTH || t.chars().any(char::is_control))
    {
        return Err(format!(
            "A TXT record is at most {MAX_TXT_LENGTH} characters, on one line."
        ));
    }
    let offline_ipv4 = optional(&form.offline_ipv4, parse_ipv4)
        .map_err(|_| "The offline IPv4 address is not an IPv4 address.".to_owned())?;
    let offline_ipv6 = optional(&form.offline_ipv6, parse_ipv6)
        .map_err(|_| "The offline IPv6 address is not an IPv6 address.".to_owned())?;
    Ok(HostSettings {
        wildcard: Some(form.wildcard.is_some()),
        mx: Some(mx),
        backmx: Some(form.backmx.is_some()),
        ttl: Some(ttl),
        txt: Some(txt),
        alias: Some(alias),
        offline_addresses: Some((offline_ipv4, offline_ipv6)),
    })
}

/// Saves the host's settings through the update service, its addresses left as they are.
async fn set_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<SettingsForm>,
) -> HttpResponse {
    let session = match signed_in(&req, &state).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let failed = |error: String, status| Feedback {
        error: Some(error),
        status: Some(status),
        ..Feedback::default()
    };
    if !csrf_ok(&session.csrf, &form.csrf) {
        let feedback = failed(super::account::FORM_EXPIRED.into(), StatusCode::FORBIDDEN);
        return host_page(&state, &session, &id, 0, feedback).await;
    }
    let Some(host) = (match own_host(&state, &session, &id).await {
        Ok(host) => host,
        Err(e) => return try_later(&e),
    }) else {
        return not_found(Nav::signed_in(&session));
    };
    let settings = match settings(&form, &host) {
        Ok(settings) => settings,
        Err(why) => {
            let feedback = failed(why, StatusCode::BAD_REQUEST);
            return host_page(&state, &session, &id, 0, feedback).await;
        }
    };
    let mut request = UpdateRequest::new(
        Credentials::signed_in(&session),
        vec![HostEntry::host(Ok(host.name.clone()))],
        (None, None),
        web_client(&req, &state),
    );
    (request.preserve_ipv4, request.preserve_ipv6) = (true, true);
    request.offline = Some(form.offline.is_some());
    request.settings = settings;
    let feedback = outcome(state.updater.update(request).await);
    host_page(&state, &session, &id, 0, feedback).await
}

/// The signed-in account's host `id` (as in the URL).
async fn own_host(
    state: &AppState,
    session: &WebSession,
    id: &str,
) -> Result<Option<Host>, DbError> {
    match id.parse::<i64>() {
        Ok(id) => state.db.tenant(session.user.account).host(id).await,
        Err(_) => Ok(None),
    }
}

/// Who updates from the account manager, for history.
fn web_client(req: &HttpRequest, state: &AppState) -> Client {
    Client {
        protocol: Protocol::Web,
        source: state.trusted_proxies.client_ip(req),
        agent: None,
    }
}

/// What the page says after an update made from it.
fn outcome(result: Result<Vec<HostResult>, UpdateError>) -> Feedback {
    let (notice, error, status) = match result {
        Ok(results) => match results.first() {
            Some(HostResult::Changed(_)) => (
                Some("Saved: DNS answers with it now."),
                None,
                StatusCode::OK,
            ),
            Some(HostResult::Unchanged(_)) => (Some("Nothing to change."), None, StatusCode::OK),
            Some(HostResult::Abuse) => (
                None,
                Some("This host is blocked, or had too many updates lately."),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            _ => (
                None,
                Some("This host cannot be changed."),
                StatusCode::FORBIDDEN,
            ),
        },
        Err(UpdateError::ReadOnly) => (
            None,
            Some("Your role may not change DNS."),
            StatusCode::FORBIDDEN,
        ),
        Err(UpdateError::AccountInactive) => (
            None,
            Some("This account is suspended."),
            StatusCode::FORBIDDEN,
        ),
        Err(UpdateError::NotOnPlan) => (
            None,
            Some("Offline mode is part of the premium plan."),
            StatusCode::FORBIDDEN,
        ),
        Err(e @ (UpdateError::Unavailable(_) | UpdateError::Interrupted)) => {
            tracing::error!("account manager update: {e}");
            (
                None,
                Some("The service could not save this just now; try again in a minute."),
                StatusCode::SERVICE_UNAVAILABLE,
            )
        }
        Err(e @ UpdateError::BadAuth(_)) => {
            tracing::warn!("a signed-in update was refused: {e}");
            (
                None,
                Some("This host cannot be changed."),
                StatusCode::FORBIDDEN,
            )
        }
    };
    Feedback {
        notice: notice.map(str::to_owned),
        error: error.map(str::to_owned),
        status: Some(status),
        ..Feedback::default()
    }
}

/// An optional form field: empty is `None`.
fn optional<T, E>(value: &str, parse: impl Fn(&str) -> Result<T, E>) -> Result<Option<T>, E> {
    match value.trim() {
        "" => Ok(None),
        v => parse(v).map(Some),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn delete(
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
        let feedback = Feedback {
            error: Some(super::account::FORM_EXPIRED.into()),
            status: Some(StatusCode::FORBIDDEN),
            ..Feedback::default()
        };
        return host_page(&state, &session, &id, 0, feedback).await;
    }
    if !session.user.role.may_change_dns() {
        let feedback = Feedback {
            error: Some("Your role may not change DNS.".into()),
            status: Some(StatusCode::FORBIDDEN),
            ..Feedback::default()
        };
        return host_page(&state, &session, &id, 0, feedback).await;
    }
    let tenant = state.db.tenant(session.user.account);
    match id.parse::<i64>() {
        Ok(id) => match tenant.delete_host(id, &session.user.email).await {
            Ok(true) => redirect("/hosts"),
            Ok(false) => not_found(Nav::signed_in(&session)),
            Err(e) => try_later(&e),
        },
        Err(_) => not_found(Nav::signed_in(&session)),
    }
}
