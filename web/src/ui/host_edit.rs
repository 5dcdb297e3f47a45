//! Changing a host from its page: its addresses, and its settings (TTL, MX, wildcard, TXT,
//! alias, offline mode and addresses), each through the update service like any client.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::Fields;
use super::hosts::{Feedback, host_page};
use super::session::{PageError, SignedIn, Submitted};
use crate::db::Host;
use crate::domain::{Fqdn, InterfaceId, Protocol, parse_ipv4, parse_ipv6};
use crate::state::AppState;
use crate::update::{Client, HostEntry, HostResult, HostSettings, UpdateError, check_txt};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/hosts/{id}/addresses", web::post().to(set_addresses))
        .route("/hosts/{id}/settings", web::post().to(set_settings));
}

/// Sets the host's addresses through the update service, as a client would; an empty
/// field leaves that family as it is.
async fn set_addresses(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Submitted,
) -> Result<HttpResponse, PageError> {
    let (signed, fields) = (&form.signed, &form.fields);
    let writer = signed.access.host_writer().map_err(|r| signed.refused(r))?;
    let (typed_v4, typed_v6) = (fields.get("ipv4"), fields.get("ipv6"));
    let refuse = |error: &str, status| Feedback {
        ipv4: Some(typed_v4.to_owned()),
        ipv6: Some(typed_v6.to_owned()),
        error: Some(error.to_owned()),
        notice: None,
        status: Some(status),
    };
    let ipv4 = optional(typed_v4, parse_ipv4);
    let ipv6 = optional(typed_v6, parse_ipv6);
    let (ipv4, ipv6) = match (ipv4, ipv6) {
        (Ok(v4), Ok(v6)) if v4.is_some() || v6.is_some() => (v4, v6),
        (Ok(_), Ok(_)) => {
            let feedback = refuse("Give an IPv4 or an IPv6 address.", StatusCode::BAD_REQUEST);
            return host_page(&state, signed, &id, 0, feedback).await;
        }
        _ => {
            let feedback = refuse("That is not an IP address.", StatusCode::BAD_REQUEST);
            return host_page(&state, signed, &id, 0, feedback).await;
        }
    };
    let host = own_host(signed, &id).await?;
    let request = writer.request(
        vec![HostEntry::host(Ok(host.name.clone()))],
        (ipv4, ipv6),
        web_client(&req, &state),
    );
    let mut feedback = outcome(state.updater.update(request).await);
    if feedback.error.is_some() {
        (feedback.ipv4, feedback.ipv6) = (Some(typed_v4.to_owned()), Some(typed_v6.to_owned()));
    }
    host_page(&state, signed, &id, 0, feedback).await
}

/// Reads the settings form into [`HostSettings`] for `host`; the reason when a field is bad.
/// Checkboxes are absent when not ticked.
fn settings(form: &Fields, host: &Host) -> Result<HostSettings, String> {
    let zone = &host.zone;
    let ttl = match optional(form.get("ttl"), |t| t.parse::<u32>()) {
        Ok(Some(ttl)) => {
            zone.check_ttl(ttl)?;
            Some(ttl)
        }
        Ok(None) => None,
        Err(_) => return Err("The TTL is a number of seconds.".into()),
    };
    let name = |field: &str, what: &str| {
        optional(field, Fqdn::parse).map_err(|e| format!("The {what} is not a host name: {e}."))
    };
    let mx = name(form.get("mx"), "mail exchanger")?;
    let alias = name(form.get("alias"), "alias target")?;
    let txt: Vec<String> = form
        .get("txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    check_txt(&txt)?;
    let offline_ipv4 = optional(form.get("offline_ipv4"), parse_ipv4)
        .map_err(|_| "The offline IPv4 address is not an IPv4 address.".to_owned())?;
    let offline_ipv6 = optional(form.get("offline_ipv6"), parse_ipv6)
        .map_err(|_| "The offline IPv6 address is not an IPv6 address.".to_owned())?;
    let ipv6_interface_id = optional(form.get("ipv6_interface_id"), InterfaceId::parse)
        .map_err(|e| format!("The interface identifier: {e}."))?;
    Ok(HostSettings {
        wildcard: Some(!form.get("wildcard").is_empty()),
        mx: Some(mx),
        backmx: Some(!form.get("backmx").is_empty()),
        ttl: Some(ttl),
        txt: Some(txt),
        alias: Some(alias),
        offline_addresses: Some((offline_ipv4, offline_ipv6)),
        ipv6_interface_id: Some(ipv6_interface_id),
        ..HostSettings::default()
    })
}

/// Saves the host's settings through the update service, its addresses left as they are.
async fn set_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Submitted,
) -> Result<HttpResponse, PageError> {
    let (signed, fields) = (&form.signed, &form.fields);
    let writer = signed.access.host_writer().map_err(|r| signed.refused(r))?;
    let host = own_host(signed, &id).await?;
    let checked = match settings(fields, &host) {
        Ok(settings) => match settings.alias_refusal(&state.db, &host.name).await? {
            Some(why) => Err(why.to_owned()),
            None => Ok(settings),
        },
        Err(why) => Err(why),
    };
    let settings = match checked {
        Ok(settings) => settings,
        Err(why) => {
            let feedback = Feedback {
                error: Some(why),
                status: Some(StatusCode::BAD_REQUEST),
                ..Feedback::default()
            };
            return host_page(&state, signed, &id, 0, feedback).await;
        }
    };
    let mut request = writer.request(
        vec![HostEntry::host(Ok(host.name.clone()))],
        (None, None),
        web_client(&req, &state),
    );
    (request.preserve_ipv4, request.preserve_ipv6) = (true, true);
    request.offline = Some(!fields.get("offline").is_empty());
    request.settings = settings;
    let feedback = outcome(state.updater.update(request).await);
    host_page(&state, signed, &id, 0, feedback).await
}

/// The signed-in account's host `id` (as in the URL); 404 for any other.
async fn own_host(signed: &SignedIn, id: &str) -> Result<Host, PageError> {
    let id = id.parse::<i64>().map_err(|_| signed.not_found())?;
    signed
        .access
        .host(id)
        .await?
        .ok_or_else(|| signed.not_found())
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
        Err(UpdateError::AddressBlocked(_)) => (
            None,
            Some("That address is in a range the operator blocks: no name may point there."),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(
            e @ (UpdateError::Unavailable(_) | UpdateError::Interrupted | UpdateError::Busy(_)),
        ) => {
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
