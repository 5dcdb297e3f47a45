//! miniDNS's HTTP update, `GET /areg.php?opcode=ADD&host=&username=&password=&ip=`: one host,
//! the login and password (or update key) in the query, `ip` defaulting to the caller's
//! address. Success is `okay. HOST mapped to IP.`; a failure is one `error. …` line with a
//! 4xx status (5xx when the database is unavailable).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{QueryParams, text, try_later};
use crate::domain::{Fqdn, Protocol, parse_ip};
use crate::state::AppState;
use crate::update::{Client, Credentials, HostEntry, HostResult, UpdateError, UpdateRequest};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/areg.php", web::get().to(areg));
}

fn error(status: StatusCode, why: &str) -> HttpResponse {
    text(status, format!("error. {why}"))
}

async fn areg(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let params = QueryParams::of(&req);
    let param = |name: &str| params.get(name);
    if !param("opcode").is_some_and(|op| op.eq_ignore_ascii_case("ADD")) {
        return error(StatusCode::BAD_REQUEST, "opcode must be ADD.");
    }
    let (Some(host), Some(login), Some(secret)) =
        (param("host"), param("username"), param("password"))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "host, username and password are required.",
        );
    };
    let (ipv4, ipv6) = match param("ip").map(parse_ip) {
        None => (None, None),
        Some(Ok(std::net::IpAddr::V4(v4))) => (Some(v4), None),
        Some(Ok(std::net::IpAddr::V6(v6))) => (None, Some(v6)),
        Some(Err(_)) => return error(StatusCode::BAD_REQUEST, "ip is not an IP address."),
    };
    let request = UpdateRequest::new(
        Credentials::password_or_key(login, secret),
        vec![HostEntry::host(Fqdn::parse(host))],
        (ipv4, ipv6),
        Client {
            protocol: Protocol::Minidns,
            source: state.trusted_proxies.client_ip(&req),
            agent: None,
        },
    );
    match state.updater.update(request).await {
        Ok(results) => match results.first() {
            Some(HostResult::Changed(a) | HostResult::Unchanged(a)) => {
                let ip = a
                    .ipv4
                    .map(|ip| ip.to_string())
                    .or(a.ipv6.map(|ip| ip.to_string()));
                let host = host.to_ascii_lowercase();
                text(
                    StatusCode::OK,
                    format!("okay. {host} mapped to {}.", ip.unwrap_or_default()),
                )
            }
            Some(HostResult::NotFqdn) => error(StatusCode::BAD_REQUEST, "host is not a host name."),
            Some(HostResult::Abuse) => error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many updates of this host; try later.",
            ),
            Some(HostResult::NoHost | HostResult::ForeignZone) | None => {
                error(StatusCode::NOT_FOUND, "no such host.")
            }
        },
        Err(UpdateError::BadAuth(_) | UpdateError::AccountInactive) => {
            error(StatusCode::UNAUTHORIZED, "wrong username or password.")
        }
        Err(UpdateError::NotOnPlan) => error(StatusCode::FORBIDDEN, "not on this plan."),
        Err(UpdateError::AddressBlocked(_)) => error(
            StatusCode::FORBIDDEN,
            "updates to this address are blocked.",
        ),
        Err(UpdateError::ReadOnly) => error(StatusCode::FORBIDDEN, "this user may not change DNS."),
        Err(
            e @ (UpdateError::Unavailable(_) | UpdateError::Interrupted | UpdateError::Busy(_)),
        ) => try_later(&e, "error. try again later."),
    }
}
