//! `/admin/zones`: every zone (shared, and accounts' own) with its name servers, TTL bounds
//! and SOA fields, the serial each DNS node serves for it, and a form to add a shared zone
//! through the same operation as `dyn53 zone add` (`ops::add_zone`), audited with the staff
//! actor. The new zone reaches the nodes through the feed, like any change.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Staff, StaffForm};
use crate::db::{DbError, NewZone, Zone};
use crate::domain::Fqdn;
use crate::ops;
use crate::pages::{Nav, page, try_later};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/zones", web::get().to(zones))
        .route("/admin/zones", web::post().to(add));
}

/// A zone as listed, with the serial each node serves.
struct Row {
    zone: Zone,
    /// `None` for the shared zones.
    account: Option<String>,
    /// `(node id, serial)`; the serial is `None` where the node does not serve the zone.
    serials: Vec<(String, Option<u32>)>,
}

/// What was typed into the form, shown again with an error.
#[derive(Default)]
struct Typed {
    name: String,
    nameservers: String,
    ttl: String,
}

#[derive(Template)]
#[template(path = "admin/zones.html")]
struct ZonesPage {
    nav: Nav,
    rows: Vec<Row>,
    /// Why the nodes' serials are missing, if they are.
    nodes_error: Option<String>,
    typed: Typed,
    error: Option<String>,
    notice: Option<String>,
}

async fn zones(staff: Staff, state: web::Data<AppState>) -> HttpResponse {
    let typed = Typed {
        ttl: ops::DEFAULT_TTL.to_string(),
        ..Typed::default()
    };
    show(&staff, &state, typed, None, None, StatusCode::OK).await
}

async fn show(
    staff: &Staff,
    state: &AppState,
    typed: Typed,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let zones = match staff.console.zones().await {
        Ok(zones) => zones,
        Err(e) => return try_later(&e),
    };
    let (nodes, nodes_error) = match state.nodes.list().await {
        Ok(nodes) => (nodes, None),
        Err(e) => {
            tracing::warn!("reading the nodes' reports: {e}");
            (
                Vec::new(),
                Some("The nodes' reports cannot be read just now.".into()),
            )
        }
    };
    let rows = zones
        .into_iter()
        .map(|zone| {
            let serials = nodes
                .iter()
                .map(|node| {
                    let serial = node
                        .serials
                        .iter()
                        .find(|(name, _)| name == zone.name.as_str())
                        .map(|&(_, serial)| serial);
                    (node.id.clone(), serial)
                })
                .collect();
            let account = zone.account.map(|a| format!("account {}", a.0));
            Row {
                zone,
                account,
                serials,
            }
        })
        .collect();
    let view = ZonesPage {
        nav: staff.nav(),
        rows,
        nodes_error,
        typed,
        error,
        notice,
    };
    page(status, &view)
}

/// Reads the form into a zone, or says what is wrong with it.
fn parse(typed: &Typed) -> Result<NewZone, String> {
    let name = Fqdn::parse(&typed.name)
        .map_err(|e| format!("“{}” is not a zone name: {e}.", typed.name))?;
    let nameservers = typed
        .nameservers
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|ns| Fqdn::parse(ns).map_err(|e| format!("“{ns}” is not a name server's name: {e}.")))
        .collect::<Result<Vec<_>, _>>()?;
    let default_ttl = typed
        .ttl
        .parse()
        .map_err(|_| format!("“{}” is not a TTL in seconds.", typed.ttl))?;
    Ok(NewZone {
        name,
        nameservers,
        default_ttl,
        account: None,
    })
}

async fn add(form: StaffForm, state: web::Data<AppState>) -> HttpResponse {
    let (staff, fields) = (&form.staff, &form.fields);
    let typed = Typed {
        name: fields.get("name").to_owned(),
        nameservers: fields.get("nameservers").to_owned(),
        ttl: fields.get("ttl").to_owned(),
    };
    let refuse = |typed, why: String, status| show(staff, &state, typed, Some(why), None, status);
    let new = match parse(&typed) {
        Ok(new) => new,
        Err(why) => return refuse(typed, why, StatusCode::BAD_REQUEST).await,
    };
    let name = new.name.clone();
    match ops::add_zone(&state.db, new, &staff.actor()).await {
        Ok(true) => {
            let notice = format!("Zone {name} added: the DNS nodes serve it within seconds.");
            let typed = Typed {
                ttl: ops::DEFAULT_TTL.to_string(),
                ..Typed::default()
            };
            show(staff, &state, typed, None, Some(notice), StatusCode::OK).await
        }
        Ok(false) => {
            let why = format!("The zone {name} exists already; nothing was changed.");
            refuse(typed, why, StatusCode::CONFLICT).await
        }
        Err(e) if e.downcast_ref::<DbError>().is_some() => try_later(&e),
        // The operation's own refusals (a TTL out of range, the apex as its name server).
        Err(e) => refuse(typed, format!("Not added: {e}."), StatusCode::BAD_REQUEST).await,
    }
}
