//! `/hosts`: the account's host names, creating one, and each host's page (its state,
//! history with a timeline, settings and client setup help, deleting it). Changes to a host
//! are in `host_edit.rs`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::session::{PageError, SignedIn, Submitted};
use super::{removed, setup_help};
use crate::access::CreateHostError;
use crate::db::{HistoryLine, Host, LastSeen};
use crate::domain::{Action, Fqdn, Ipv6Prefix, Label, Plan};
use crate::pages::{Nav, page, redirect};
use crate::state::AppState;

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
        let seen = host.last_seen.as_ref();
        Row {
            id: host.state.id,
            name: host.name.to_string(),
            ipv4: text(host.state.ipv4.map(|a| a.to_string())),
            ipv6: text(host.state.ipv6.map(|a| a.to_string())),
            updated: text(seen.map(|s| s.at.format("%Y-%m-%d %H:%M UTC").to_string())),
            client: text(seen.and_then(LastSeen::client)),
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
    /// Whether the user may add hosts.
    may_add: bool,
    /// Hosts the plan allows, and whether the account has them all.
    limit: u64,
    full: bool,
    label: String,
    error: Option<String>,
}

async fn hosts_page(
    signed: &SignedIn,
    label: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let access = &signed.access;
    let hosts = access.hosts().await?;
    let zones = access.zones().await?;
    let limit = access.user().plan.max_hosts();
    let view = HostsPage {
        nav: signed.nav(),
        full: hosts.len() as u64 >= limit,
        hosts: hosts.iter().map(Row::of).collect(),
        zones: zones.iter().map(|z| z.name.to_string()).collect(),
        may_add: access.may(Action::AddRemoveHosts).is_ok(),
        limit,
        label,
        error,
    };
    Ok(page(status, &view))
}

async fn list(signed: SignedIn) -> Result<HttpResponse, PageError> {
    hosts_page(&signed, String::new(), None, StatusCode::OK).await
}

/// A label and one of the zones offered, created through the rule every surface shares.
async fn create(form: Submitted, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let (signed, fields) = (&form.signed, &form.fields);
    let hosts = signed.access.host_admin().map_err(|r| signed.refused(r))?;
    let label = fields.get("label");
    let refuse = |why: String, status| hosts_page(signed, label.to_owned(), Some(why), status);
    let label = match Label::parse(label) {
        Ok(label) => label,
        Err(e) => {
            return refuse(
                format!("Choose another name: {e}."),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let zones = signed.access.zones().await?;
    let Some(zone) = zones.iter().find(|z| z.name.as_str() == fields.get("zone")) else {
        let why = "Choose one of the zones offered.".into();
        return refuse(why, StatusCode::BAD_REQUEST).await;
    };
    let Ok(name) = Fqdn::parse(&format!("{label}.{}", zone.name)) else {
        return refuse("That name is too long.".into(), StatusCode::BAD_REQUEST).await;
    };
    match hosts.create(name, (None, None), &state.blocklists).await {
        Ok(host) => Ok(redirect(&format!("/hosts/{}", host.state.id))),
        Err(CreateHostError::Db(e)) => Err(e.into()),
        Err(e @ CreateHostError::Taken(_)) => refuse(e.to_string(), StatusCode::CONFLICT).await,
        Err(e @ CreateHostError::PlanLimit(_)) => {
            refuse(e.to_string(), StatusCode::FORBIDDEN).await
        }
        Err(e) => refuse(e.to_string(), StatusCode::BAD_REQUEST).await,
    }
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
    ipv6_interface_id: String,
    /// The account's IPv6 prefix, or what to do to have one.
    ipv6_prefix: String,
}

impl SettingsView {
    fn of(host: &Host, premium: bool, prefix: Option<Ipv6Prefix>) -> SettingsView {
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
            ipv6_interface_id: text(state.ipv6_interface_id.map(|id| id.to_string())),
            ipv6_prefix: prefix.map_or_else(
                || "none yet: your router sends it with its update".to_owned(),
                |p| p.to_string(),
            ),
        }
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
    may_change: bool,
    may_delete: bool,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<u64>,
}

async fn show(
    signed: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let page_no = query.page.unwrap_or(0);
    host_page(&state, &signed, &id, page_no, Feedback::default()).await
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
    signed: &SignedIn,
    id: &str,
    page_no: u64,
    feedback: Feedback,
) -> Result<HttpResponse, PageError> {
    let access = &signed.access;
    let id = id.parse::<i64>().map_err(|_| signed.not_found())?;
    let host = access.host(id).await?.ok_or_else(|| signed.not_found())?;
    let history = access
        .history(&host, page_no * HISTORY_PAGE, HISTORY_PAGE + 1)
        .await?;
    let more = history.len() as u64 > HISTORY_PAGE;
    let history: Vec<HistoryLine> = history.into_iter().take(HISTORY_PAGE as usize).collect();
    let (timeline, lanes) = timeline(&history);
    let prefix = match access.account() {
        Ok(account) => account.ipv6_prefix().await?,
        Err(_) => None,
    };
    let view = HostPage {
        nav: signed.nav(),
        ipv4: feedback
            .ipv4
            .unwrap_or_else(|| host.state.ipv4.map(|a| a.to_string()).unwrap_or_default()),
        ipv6: feedback
            .ipv6
            .unwrap_or_else(|| host.state.ipv6.map(|a| a.to_string()).unwrap_or_default()),
        settings: SettingsView::of(&host, access.user().plan == Plan::Premium, prefix),
        setup: setup_help::client_setup(host.name.as_str(), &state.public_url),
        host: Row::of(&host),
        history,
        page: page_no,
        more,
        timeline,
        lanes,
        may_change: access.may(Action::ChangeHosts).is_ok(),
        may_delete: access.may(Action::AddRemoveHosts).is_ok(),
        error: feedback.error,
        notice: feedback.notice,
    };
    Ok(page(feedback.status.unwrap_or(StatusCode::OK), &view))
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

async fn delete(form: Submitted, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    let signed = &form.signed;
    let hosts = signed.access.host_admin().map_err(|r| signed.refused(r))?;
    removed(signed, &id, "/hosts", |id| hosts.delete(id)).await
}
