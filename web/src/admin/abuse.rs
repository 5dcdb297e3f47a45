//! `/admin/abuse`: hosts at their update limit, sources refused for wrong credentials, the
//! busiest User-Agents, and the block lists (User-Agents and address ranges), which staff
//! edit here: each change is audited with the staff actor and takes effect in this process
//! at once and in every replica within seconds (`blocklists::RELOAD_EVERY`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{Duration, Utc};

use super::{Staff, StaffForm};
use crate::blocklists::parse_range;
use crate::db::{BlockEntry, BlockKind, BusyHost, ClientKind, DbResult};
use crate::pages::{Nav, page, redirect, try_later};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/abuse", web::get().to(abuse))
        .route("/admin/abuse/block", web::post().to(block))
        .route("/admin/abuse/unblock", web::post().to(unblock));
}

/// Rows in each list.
const TOP: u64 = 20;
const MAX_REASON: usize = 500;
const MAX_AGENT: usize = 255;

#[derive(Template)]
#[template(path = "admin/abuse.html")]
struct AbusePage {
    nav: Nav,
    error: Option<String>,
    limit: String,
    hosts: Vec<BusyHost>,
    refused: Vec<(String, i64)>,
    agents_hour: Vec<(String, i64)>,
    agents_day: Vec<(String, i64)>,
    configured_agents: Vec<String>,
    blocked_agents: Vec<BlockEntry>,
    blocked_ranges: Vec<BlockEntry>,
    /// What the form sent back, after an error.
    kind: &'static str,
    pattern: String,
    reason: String,
}

async fn abuse(staff: Staff, state: web::Data<AppState>) -> HttpResponse {
    render(&staff, &state, StatusCode::OK, None).await
}

/// The page, with the error of a form that was refused (its fields sent back).
async fn render(
    staff: &Staff,
    state: &AppState,
    status: StatusCode,
    refused: Option<(String, BlockKind, String, String)>,
) -> HttpResponse {
    match contents(staff, state).await {
        Ok(mut contents) => {
            if let Some((error, kind, pattern, reason)) = refused {
                contents.error = Some(error);
                contents.kind = kind.as_str();
                contents.pattern = pattern;
                contents.reason = reason;
            }
            page(status, &contents)
        }
        Err(e) => try_later(&e),
    }
}

async fn contents(staff: &Staff, state: &AppState) -> DbResult<AbusePage> {
    let console = &staff.console;
    let now = Utc::now();
    let hour = now - Duration::hours(1);
    let limit = state.updater.limits().updates_per_host;
    let window = Duration::from_std(limit.window).unwrap_or(Duration::hours(1));
    let entries = state.blocklists.entries();
    let (blocked_agents, blocked_ranges) = entries
        .into_iter()
        .partition(|e| e.kind == BlockKind::Agent);
    Ok(AbusePage {
        nav: staff.nav(),
        error: None,
        limit: format!("{} updates in {} s", limit.max, limit.window.as_secs()),
        hosts: console.hosts_at_limit(now - window, limit.max, TOP).await?,
        refused: console.top_clients(ClientKind::Refused, hour, TOP).await?,
        agents_hour: console.top_clients(ClientKind::Agent, hour, TOP).await?,
        agents_day: console
            .top_clients(ClientKind::Agent, now - Duration::days(1), TOP)
            .await?,
        configured_agents: state.blocklists.configured_agents().to_vec(),
        blocked_agents,
        blocked_ranges,
        kind: "",
        pattern: String::new(),
        reason: String::new(),
    })
}

fn kind_of(field: &str) -> Option<BlockKind> {
    match field {
        "agent" => Some(BlockKind::Agent),
        "range" => Some(BlockKind::Range),
        _ => None,
    }
}

/// The pattern to store for `kind`, normalised, or why it cannot be one.
fn pattern_of(kind: BlockKind, text: &str) -> Result<String, String> {
    match kind {
        BlockKind::Agent => {
            let agent = text.trim().to_lowercase();
            if agent.is_empty() || agent.len() > MAX_AGENT || agent.chars().any(char::is_control) {
                return Err(format!(
                    "A User-Agent pattern is 1 to {MAX_AGENT} characters, on one line."
                ));
            }
            Ok(agent)
        }
        BlockKind::Range => parse_range(text).map(|net| net.to_string()),
    }
}

async fn block(form: StaffForm, state: web::Data<AppState>) -> HttpResponse {
    let StaffForm { staff, fields } = form;
    let Some(kind) = kind_of(fields.get("kind")) else {
        return render(&staff, &state, StatusCode::BAD_REQUEST, None).await;
    };
    let (text, reason) = (fields.get("pattern"), fields.get("reason").trim());
    let refuse = |error: String| (error, kind, text.to_owned(), reason.to_owned());
    let pattern = match pattern_of(kind, text) {
        Ok(pattern) => pattern,
        Err(error) => {
            let refused = Some(refuse(error));
            return render(&staff, &state, StatusCode::UNPROCESSABLE_ENTITY, refused).await;
        }
    };
    if reason.is_empty() || reason.len() > MAX_REASON {
        let error = format!("Give a reason, up to {MAX_REASON} characters: it is audited.");
        let refused = Some(refuse(error));
        return render(&staff, &state, StatusCode::UNPROCESSABLE_ENTITY, refused).await;
    }
    let changed = change(&state, &staff, kind, &pattern, Some(reason)).await;
    done(changed, &state).await
}

async fn unblock(form: StaffForm, state: web::Data<AppState>) -> HttpResponse {
    let StaffForm { staff, fields } = form;
    let Some(kind) = kind_of(fields.get("kind")) else {
        return render(&staff, &state, StatusCode::BAD_REQUEST, None).await;
    };
    let changed = change(&state, &staff, kind, fields.get("pattern"), None).await;
    done(changed, &state).await
}

/// Adds (with a reason) or removes `pattern`, audited in the same transaction.
async fn change(
    state: &AppState,
    staff: &Staff,
    kind: BlockKind,
    pattern: &str,
    reason: Option<&str>,
) -> DbResult<()> {
    let tx = state.db.begin_write().await?;
    let (changed, action, detail) = match reason {
        Some(reason) => (
            tx.add_block(kind, pattern, reason, &staff.actor()).await?,
            "blocklist.add",
            format!("{} {pattern}: {reason}", kind.as_str()),
        ),
        None => (
            tx.remove_block(kind, pattern).await?,
            "blocklist.remove",
            format!("{} {pattern}", kind.as_str()),
        ),
    };
    if changed {
        tx.audit(None, &staff.actor(), action, &detail).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Back to the page, the lists reloaded here at once (other replicas follow within seconds).
async fn done(changed: DbResult<()>, state: &AppState) -> HttpResponse {
    if let Err(e) = changed {
        return try_later(&e);
    }
    if let Err(e) = state.blocklists.reload().await {
        tracing::warn!("reloading the block lists: {e}");
    }
    redirect("/admin/abuse")
}
