//! `/hosts`: the account's host names, creating one, and each host's page (addresses set
//! through the update service, its history with a timeline, deleting it).

use std::net::{Ipv4Addr, Ipv6Addr};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Nav, csrf_ok, not_found, page, redirect, signed_in, try_later};
use crate::db::{DbError, HistoryLine, Host, WebSession};
use crate::domain::{AccountStatus, Fqdn, Label, Protocol, parse_ipv4, parse_ipv6};
use crate::http::AppState;
use crate::update::{Client, Credentials, HostEntry, HostResult, UpdateError, UpdateRequest};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/hosts", web::get().to(list))
        .route("/hosts", web::post().to(create))
        .route("/hosts/{id}", web::get().to(show))
        .route("/hosts/{id}/addresses", web::post().to(set_addresses))
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
    error: Option<String>,
    notice: Option<String>,
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
    let tenant = state.db.tenant(session.user.account);
    let host = match id.parse::<i64>().ok() {
        Some(id) => match tenant.host(id).await {
            Ok(host) => host,
            Err(e) => return try_later(&e),
        },
        None => None,
    };
    let Some(host) = host else {
        return not_found(Nav::signed_in(&session));
    };
    let client = Client {
        protocol: Protocol::Web,
        source: state.trusted_proxies.client_ip(&req),
        agent: None,
    };
    let request = UpdateRequest::new(
        Credentials::signed_in(&session),
        vec![HostEntry::host(Ok(host.name.clone()))],
        (ipv4, ipv6),
        client,
    );
    let (notice, error, status) = match state.updater.update(request).await {
        Ok(results) => match results.first() {
            Some(HostResult::Changed(_)) => (
                Some("Saved: DNS answers with it now."),
                None,
                StatusCode::OK,
            ),
            Some(HostResult::Unchanged(_)) => (Some("Nothing to change."), None, StatusCode::OK),
            Some(HostResult::Abuse) => (
                None,
                Some("This host had too many updates lately; try later."),
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
        Err(e @ (UpdateError::Unavailable(_) | UpdateError::Interrupted)) => return try_later(&e),
        Err(e @ (UpdateError::BadAuth(_) | UpdateError::NotOnPlan)) => {
            tracing::warn!("a signed-in update was refused: {e}");
            (
                None,
                Some("This host cannot be changed."),
                StatusCode::FORBIDDEN,
            )
        }
    };
    let feedback = Feedback {
        ipv4: error.map(|_| form.ipv4.clone()),
        ipv6: error.map(|_| form.ipv6.clone()),
        error: error.map(str::to_owned),
        notice: notice.map(str::to_owned),
        status: Some(status),
    };
    host_page(&state, &session, &id, 0, feedback).await
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
