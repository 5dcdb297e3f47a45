//! `/api/v1/hosts/{fqdn}/records`: what a host serves, record by record, and its TXT values,
//! at the host or at `_acme-challenge.<host>` for ACME DNS-01 clients, added and removed one
//! at a time through the update service.

use super::body::Body;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::ApiCaller;
use super::problem::{NotFound, Problem, Unprocessable};
use super::updates::{apply, settings_request};
use crate::db::{ACME_LABEL, Host};
use crate::state::AppState;
use crate::update::{HostSettings, MAX_TXT, TxtAt, TxtChange, TxtEdit, check_txt};
use dyn53_dns::feed::HostRecords;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(add).service(remove);
}

/// One record as DNS serves it.
#[derive(Serialize, ToSchema)]
struct RecordView {
    #[schema(example = "_acme-challenge.home.dyn.example")]
    name: String,
    /// `A`, `AAAA`, `MX`, `TXT` or `CNAME`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "TXT")]
    kind: &'static str,
    ttl: u32,
    /// The record's data in presentation form (an MX is `preference exchange`).
    data: String,
}

fn views(records: &HostRecords) -> Vec<RecordView> {
    let record = |kind, data: String| RecordView {
        name: records.name.clone(),
        kind,
        ttl: records.ttl,
        data,
    };
    let mut out = Vec::new();
    out.extend(records.a.iter().map(|a| record("A", a.to_string())));
    out.extend(records.aaaa.iter().map(|a| record("AAAA", a.to_string())));
    out.extend(records.cname.iter().map(|c| record("CNAME", c.clone())));
    out.extend(
        records
            .mx
            .iter()
            .map(|mx| record("MX", format!("{} {}", mx.preference, mx.exchange))),
    );
    out.extend(records.txt.iter().map(|t| record("TXT", t.clone())));
    out
}

/// Every record a host serves now, its challenge name's too.
#[utoipa::path(
    operation_id = "list_records",
    tag = "records",
    params(("fqdn" = String, Path, description = "The host's name.")),
    responses(
        (status = 200, description = "The records.", body = Vec<RecordView>),
        (status = 404, response = NotFound),
    )
)]
#[get("/hosts/{fqdn}/records")]
async fn list(caller: ApiCaller, fqdn: web::Path<String>) -> Result<HttpResponse, Problem> {
    let host = caller.host(&fqdn).await?;
    let mut records = views(&host.served());
    if let Some(challenge) = host.served_challenge() {
        records.extend(views(&challenge));
    }
    Ok(HttpResponse::Ok().json(records))
}

/// A TXT value at the host or at its challenge name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TxtRecord {
    /// Only `TXT`: addresses change through `/update`, the rest through `PATCH`.
    #[serde(rename = "type")]
    #[schema(example = "TXT")]
    kind: String,
    /// The host's name, or `_acme-challenge.` and the host's name.
    #[schema(example = "_acme-challenge.home.dyn.example")]
    name: String,
    /// At most 255 characters, on one line.
    #[schema(min_length = 1, max_length = 255)]
    value: String,
}

impl TxtRecord {
    /// Which TXT records of `host` this names; 422 for anything else.
    fn at(&self, host: &Host) -> Result<TxtAt, Problem> {
        if !self.kind.eq_ignore_ascii_case("TXT") {
            return Err(Problem::invalid(
                "unsupported_record_type",
                "Only TXT records are set here.",
            ));
        }
        let name = self.name.trim_end_matches('.').to_ascii_lowercase();
        if name == host.name.as_str() {
            Ok(TxtAt::Host)
        } else if name == host.challenge_name() {
            Ok(TxtAt::AcmeChallenge)
        } else {
            Err(Problem::invalid(
                "invalid_record_name",
                format!("The name is {} or {ACME_LABEL}.{}.", host.name, host.name),
            ))
        }
    }
}

fn values(host: &Host, at: TxtAt) -> &[String] {
    match at {
        TxtAt::Host => &host.state.txt,
        TxtAt::AcmeChallenge => &host.state.acme_txt,
    }
}

/// Adds a TXT value (201; 200 when it was there already). DNS serves it once answered.
#[utoipa::path(
    operation_id = "add_record",
    tag = "records",
    params(("fqdn" = String, Path, description = "The host's name.")),
    request_body = TxtRecord,
    responses(
        (status = 201, description = "Added.", body = RecordView),
        (status = 200, description = "It was there already.", body = RecordView),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
    )
)]
#[post("/hosts/{fqdn}/records")]
async fn add(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    fqdn: web::Path<String>,
    body: Body<TxtRecord>,
) -> Result<HttpResponse, Problem> {
    let host = caller.host(&fqdn).await?;
    let at = body.at(&host)?;
    check_txt(std::slice::from_ref(&body.value))
        .map_err(|why| Problem::invalid("invalid_txt", why))?;
    let present = values(&host, at);
    if !present.contains(&body.value) && present.len() >= MAX_TXT {
        return Err(Problem::invalid(
            "too_many_records",
            format!("A name has at most {MAX_TXT} TXT records."),
        ));
    }
    let edit = TxtEdit {
        at,
        change: TxtChange::Add(body.value.clone()),
    };
    let changed = edit_txt(&req, &caller, &state, &host, edit).await?;
    let view = RecordView {
        name: match at {
            TxtAt::Host => host.name.to_string(),
            TxtAt::AcmeChallenge => host.challenge_name(),
        },
        kind: "TXT",
        ttl: host.zone.ttl_for(host.state.ttl),
        data: body.value.clone(),
    };
    Ok(match changed {
        true => HttpResponse::Created().json(view),
        false => HttpResponse::Ok().json(view),
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TxtQuery {
    /// Only `TXT`.
    #[serde(rename = "type")]
    #[param(rename = "type", example = "TXT")]
    kind: String,
    /// The host's name, or `_acme-challenge.` and the host's name.
    name: String,
    /// The value to remove.
    value: String,
}

/// Removes a TXT value.
#[utoipa::path(
    operation_id = "remove_record",
    tag = "records",
    params(("fqdn" = String, Path, description = "The host's name."), TxtQuery),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
    )
)]
#[delete("/hosts/{fqdn}/records")]
async fn remove(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    fqdn: web::Path<String>,
    query: web::Query<TxtQuery>,
) -> Result<HttpResponse, Problem> {
    let host = caller.host(&fqdn).await?;
    let record = TxtRecord {
        kind: query.kind.clone(),
        name: query.name.clone(),
        value: query.value.clone(),
    };
    let at = record.at(&host)?;
    if !values(&host, at).contains(&record.value) {
        return Err(Problem::not_found(
            "record_not_found",
            "The name has no such TXT value.",
        ));
    }
    let edit = TxtEdit {
        at,
        change: TxtChange::Remove(record.value),
    };
    edit_txt(&req, &caller, &state, &host, edit).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn edit_txt(
    req: &HttpRequest,
    caller: &ApiCaller,
    state: &AppState,
    host: &Host,
    edit: TxtEdit,
) -> Result<bool, Problem> {
    let settings = HostSettings {
        txt_edits: vec![edit],
        ..HostSettings::default()
    };
    apply(state, settings_request(req, caller, host, settings)?, host).await
}
