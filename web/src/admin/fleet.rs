//! `/admin/fleet`: every DNS node with its revision, lag behind the database, heartbeat age,
//! queries per second and readiness, and how long the latest changes took to be served.
//!
//! Nodes report about once a second (`dns::fleet::Reporter`); a report is kept a day, so a
//! node that stopped is listed as stale once its heartbeat is older than [`STALE_AFTER_MS`].
//! Propagation: each node reports the last batch it applied and when; the database knows
//! when that revision was committed (the outbox's `created_at`). A node's delay is the
//! difference (so the web's and the nodes' clocks must agree, as NTP keeps them), and the
//! page shows the largest among live nodes: the time the slowest node took to serve its
//! latest change. A snapshot a node loaded at start is no propagation and is not counted.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use dyn53_dns::feed::Revision;
use dyn53_dns::fleet::{NodeReport, now_ms};

use super::Staff;
use crate::pages::{Nav, page, try_later};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/fleet", web::get().to(fleet));
}

/// A node whose last heartbeat is older than this is listed as stale (nodes report every
/// second, so this is many missed reports, not a slow one).
const STALE_AFTER_MS: u64 = 15_000;

/// A node as the page lists it.
struct NodeRow {
    report: NodeReport,
    lag: Revision,
    heartbeat_age: String,
    stale: bool,
    /// From commit to served, for the last batch the node applied, when known.
    delay_ms: Option<u64>,
}

/// The slowest live node's latest change.
struct Propagation {
    delay_ms: u64,
    revision: Revision,
    node: String,
}

#[derive(Template)]
#[template(path = "admin/fleet.html")]
struct FleetPage {
    nav: Nav,
    revision: Revision,
    nodes: Vec<NodeRow>,
    nodes_error: Option<String>,
    propagation: Option<Propagation>,
    stale_after_s: u64,
}

async fn fleet(staff: Staff, state: web::Data<AppState>) -> HttpResponse {
    let revision = match staff.console.feed_revision().await {
        Ok(revision) => revision,
        Err(e) => return try_later(&e),
    };
    let (reports, nodes_error) = match state.nodes.list().await {
        Ok(reports) => (reports, None),
        Err(e) => {
            tracing::warn!("reading the nodes' reports: {e}");
            (
                Vec::new(),
                Some("The nodes' reports cannot be read just now.".into()),
            )
        }
    };
    let applied: Vec<Revision> = reports
        .iter()
        .map(|r| r.applied_revision)
        .filter(|&r| r > 0)
        .collect();
    let committed = match staff.console.commit_times(&applied).await {
        Ok(times) => times,
        Err(e) => return try_later(&e),
    };
    let now = now_ms();
    let nodes: Vec<NodeRow> = reports
        .into_iter()
        .map(|report| {
            let age = now.saturating_sub(report.heartbeat_ms);
            let delay_ms = committed
                .get(&report.applied_revision)
                .map(|&at| report.applied_ms.saturating_sub(at));
            NodeRow {
                lag: revision.saturating_sub(report.revision),
                heartbeat_age: format!("{:.1} s", age as f64 / 1000.0),
                stale: age > STALE_AFTER_MS,
                delay_ms,
                report,
            }
        })
        .collect();
    let propagation = nodes
        .iter()
        .filter(|n| !n.stale)
        .filter_map(|n| {
            Some(Propagation {
                delay_ms: n.delay_ms?,
                revision: n.report.applied_revision,
                node: n.report.id.clone(),
            })
        })
        .max_by_key(|p| p.delay_ms);
    let view = FleetPage {
        nav: staff.nav(),
        revision,
        nodes,
        nodes_error,
        propagation,
        stale_after_s: STALE_AFTER_MS / 1000,
    };
    page(StatusCode::OK, &view)
}
