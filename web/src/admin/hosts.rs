//! `/admin/hosts`: every account's hosts, found by name (exact or the start of one), zone,
//! current address, or client (the last User-Agent, or the start of it; the last source
//! address), 50 to a page; block and unblock a host's name with a reason, through the
//! operator's one block (`WriteTx::set_name_blocked`, as `dyn53 block` uses).

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Staff, StaffForm};
use crate::db::{HostCursor, HostQuery, HostRow};
use crate::domain::Fqdn;
use crate::pages::{Nav, page, redirect, try_later};

const PAGE: u64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/hosts", web::get().to(search))
        .route("/admin/hosts/block", web::post().to(block));
}

/// The search form's fields, and the cursor of a further page.
#[derive(Clone, Debug, Default, Deserialize)]
struct Search {
    #[serde(default)]
    by: String,
    #[serde(default)]
    q: String,
    after: Option<String>,
    after_agent: Option<String>,
}

impl Search {
    /// The query these fields ask for; `None` when nothing is asked, an error for a value
    /// the kind of search cannot take.
    fn query(&self) -> Result<Option<HostQuery>, &'static str> {
        let q = self.q.trim();
        if q.is_empty() {
            return Ok(None);
        }
        let name = || q.trim_end_matches('.').to_lowercase();
        let address = || {
            q.parse::<IpAddr>()
                .map_err(|_| "That is not an IP address.")
        };
        Ok(Some(match self.by.as_str() {
            "zone" => HostQuery::Zone(name()),
            "address" => HostQuery::Address(address()?),
            "agent" => HostQuery::Agent(q.to_owned()),
            "source" => HostQuery::Source(address()?),
            _ => HostQuery::Name(name()),
        }))
    }

    fn cursor(&self) -> Option<HostCursor> {
        Some(HostCursor {
            name: self.after.clone()?,
            agent: self.after_agent.clone(),
        })
    }

    /// This search's URL from `cursor` on (none: its first page).
    fn url(&self, cursor: Option<&HostCursor>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("by", &self.by).append_pair("q", &self.q);
        if let Some(cursor) = cursor {
            query.append_pair("after", &cursor.name);
            if let Some(agent) = &cursor.agent {
                query.append_pair("after_agent", agent);
            }
        }
        format!("/admin/hosts?{}", query.finish())
    }
}

#[derive(Template)]
#[template(path = "admin/hosts.html")]
struct HostsPage {
    nav: Nav,
    by: String,
    q: String,
    searched: bool,
    hosts: Vec<HostRow>,
    next: Option<String>,
    first: Option<String>,
    error: Option<String>,
}

async fn search(staff: Staff, search: web::Query<Search>) -> HttpResponse {
    hosts_page(&staff, &search, None).await
}

/// The page of `search`, with `error` (a form's) when any.
async fn hosts_page(staff: &Staff, search: &Search, error: Option<String>) -> HttpResponse {
    let (query, error) = match (search.query(), error) {
        (Ok(query), error) => (query, error),
        (Err(bad), _) => (None, Some(bad.to_owned())),
    };
    let mut hosts = Vec::new();
    let mut next = None;
    if let Some(query) = &query {
        hosts = match staff
            .console
            .search_hosts(query, search.cursor().as_ref(), PAGE + 1)
            .await
        {
            Ok(hosts) => hosts,
            Err(e) => return try_later(&e),
        };
        if hosts.len() as u64 > PAGE {
            hosts.truncate(PAGE as usize);
            next = hosts.last().map(|h| search.url(Some(&h.cursor(query))));
        }
    }
    let status = match error {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let view = HostsPage {
        nav: staff.nav(),
        by: search.by.clone(),
        q: search.q.clone(),
        searched: query.is_some(),
        hosts,
        next,
        first: search.after.is_some().then(|| search.url(None)),
        error,
    };
    page(status, &view)
}

/// Blocks (`block=1`) or unblocks a host's name; the reason is required and audited.
async fn block(form: StaffForm) -> HttpResponse {
    let (staff, fields) = (&form.staff, &form.fields);
    let back = Search {
        by: "name".into(),
        q: fields.get("name").to_owned(),
        ..Search::default()
    };
    let Ok(name) = Fqdn::parse(fields.get("name")) else {
        return hosts_page(staff, &back, Some("That is not a host name.".into())).await;
    };
    let reason = fields.get("reason");
    let blocked = fields.get("block") == "1";
    if reason.is_empty() {
        let error = "Give a reason: it is kept in the audit log.";
        return hosts_page(staff, &back, Some(error.into())).await;
    }
    match staff
        .console
        .set_name_blocked(&name, blocked, reason, &staff.actor())
        .await
    {
        Ok(_) => redirect(&back.url(None)),
        Err(e) => try_later(&e),
    }
}
