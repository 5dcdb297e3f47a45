//! `/hosts`: the account's host names, creating one, and each host's page (its state,
//! history with a timeline, settings and client setup help, deleting it). Changes to a host
//! are in `host_edit.rs`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::host_edit::SettingsView;
use super::{CsrfForm, FORM_EXPIRED};
use super::{Nav, csrf_ok, not_found, page, redirect, removed, setup_help, signed_in, try_later};
use crate::db::{DbError, HistoryLine, Host, WebSession};
use crate::domain::{AccountStatus, Fqdn, Label, Plan};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/hosts", web::get().to(list))
        .route("/hosts", web::post().to(create))
        .route("/hosts/{id}", web::get().to(show))
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
        return refuse(FORM_EXPIRED.into(), StatusCode::FORBIDDEN).await;
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
        .create_host(zone, name.clone(), (None, None), &session.user.email)
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
pub(super) struct Feedback {
    pub(super) ipv4: Option<String>,
    pub(super) ipv6: Option<String>,
    pub(super) error: Option<String>,
    pub(super) notice: Option<String>,
    pub(super) status: Option<StatusCode>,
}

pub(super) async fn host_page(
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
        setup: setup_help::client_setup(host.name.as_str(), &state.public_url),
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
            error: Some(FORM_EXPIRED.into()),
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
    let actor = &session.user.email;
    removed(&session, &id, "/hosts", |id| tenant.delete_host(id, actor)).await
}
