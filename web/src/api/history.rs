//! `GET /api/v1/hosts/{fqdn}/history`: every update attempt of a host, newest first, in
//! cursor pages.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::ApiCaller;
use super::problem::{NotFound, Problem, Unprocessable};
use super::{Cursor, page_size};
use crate::db::HistoryLine;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(history);
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    /// Lines per page (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One update attempt.
#[derive(Serialize, ToSchema)]
struct HistoryView {
    at: DateTime<Utc>,
    /// `dyndns2`, `rexx`, `miniupdate`, `api`, `web`, …
    protocol: String,
    /// The client's address.
    source: Option<String>,
    /// The client's User-Agent.
    agent: Option<String>,
    /// `good`, `nochg`, `abuse`, …
    result: String,
    ipv4: Option<String>,
    ipv6: Option<String>,
}

/// A page of history, newest first.
#[derive(Serialize, ToSchema)]
struct HistoryPage {
    items: Vec<HistoryView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// A host's update history, newest first.
#[utoipa::path(
    operation_id = "host_history",
    tag = "hosts",
    params(("fqdn" = String, Path, description = "The host's name."), HistoryQuery),
    responses(
        (status = 200, description = "A page of history.", body = HistoryPage),
        (status = 422, response = Unprocessable),
        (status = 404, response = NotFound),
    )
)]
#[get("/hosts/{fqdn}/history")]
async fn history(
    caller: ApiCaller,
    fqdn: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = page_size(query.limit)?;
    let before = match query.cursor.as_deref().map(Cursor::decode).transpose()? {
        Some(id) => Some(id.parse::<i64>().map_err(|_| Cursor::invalid())?),
        None => None,
    };
    let host = caller.host(&fqdn).await?;
    let mut lines = caller
        .access
        .history_before(&host, before, limit + 1)
        .await?;
    let more = lines.len() as u64 > limit;
    lines.truncate(limit as usize);
    let next_cursor = more
        .then(|| lines.last().map(|l| Cursor::encode(&l.id.to_string())))
        .flatten();
    Ok(HttpResponse::Ok().json(HistoryPage {
        items: lines.into_iter().map(HistoryView::of).collect(),
        next_cursor,
    }))
}

impl HistoryView {
    fn of(line: HistoryLine) -> HistoryView {
        HistoryView {
            at: line.at,
            protocol: line.protocol,
            source: line.source,
            agent: line.agent,
            result: line.result,
            ipv4: line.ipv4,
            ipv6: line.ipv6,
        }
    }
}
