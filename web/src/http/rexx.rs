//! Rexx's `GET /dynamic.cgi?host=&ip=&user=&password=`: one host, the login ID (or e-mail)
//! and an update key (never the account password), `ip` defaulting to the caller's address.
//! An address updates only a record the host has: A for IPv4, AAAA for IPv6. The body is
//! exactly one of Rexx's codes; 200 for `OK`, a 4xx status for the others.

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{QueryParams, text, try_later};
use crate::domain::{Fqdn, Protocol, parse_ip};
use crate::state::AppState;
use crate::update::{
    AuthFailure, Client, Credentials, HostEntry, HostResult, Secret, UpdateError, UpdateRequest,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dynamic.cgi", web::get().to(dynamic));
}

async fn dynamic(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let params = QueryParams::of(&req);
    let Some(host) = params.get("host") else {
        return text(StatusCode::BAD_REQUEST, "MO_HOST");
    };
    let Some(login) = params.get("user") else {
        return text(StatusCode::BAD_REQUEST, "MO_USER");
    };
    let Some(key) = params.get("password") else {
        return text(StatusCode::BAD_REQUEST, "MO_PWD");
    };
    let source = state.trusted_proxies.client_ip(&req);
    // Rexx has no code for a malformed address: dyn53's own, in the same style.
    let ip = match params.get("ip").map(parse_ip) {
        None => source,
        Some(Ok(ip)) => ip,
        Some(Err(_)) => return text(StatusCode::BAD_REQUEST, "BAD_IP"),
    };
    let (family, addresses) = match ip {
        IpAddr::V4(v4) => ("A", (Some(v4), None)),
        IpAddr::V6(v6) => ("AAAA", (None, Some(v6))),
    };
    let credentials = Credentials {
        login: login.to_owned(),
        secret: Secret::Key(key.to_owned()),
    };
    let client = Client {
        protocol: Protocol::Rexx,
        source,
        agent: None,
    };
    let hosts = vec![HostEntry::host(Fqdn::parse(host))];
    let mut request = UpdateRequest::new(credentials, hosts, addresses, client);
    request.existing_families_only = true;
    // The name as Rexx searched it: normalised when it is one, else as given, one line.
    let searched = Fqdn::parse(host).map_or_else(
        |_| host.chars().filter(|c| !c.is_control()).take(253).collect(),
        |name| name.to_string(),
    );
    let not_found = || {
        text(
            StatusCode::NOT_FOUND,
            format!("NF_HOST {searched} {family}"),
        )
    };
    match state.updater.update(request).await {
        Ok(results) => match results.first() {
            Some(HostResult::Changed(_) | HostResult::Unchanged(_)) => text(StatusCode::OK, "OK"),
            Some(HostResult::ForeignZone) => text(StatusCode::FORBIDDEN, "OS_DOMAIN"),
            // Rexx has no code for it: not permitted, for now.
            Some(HostResult::Abuse) => text(StatusCode::TOO_MANY_REQUESTS, "NP_USR"),
            Some(HostResult::NotFqdn | HostResult::NoHost) | None => not_found(),
        },
        Err(UpdateError::BadAuth(why)) => match why {
            AuthFailure::NoSuchLogin => text(StatusCode::UNAUTHORIZED, "NF_USR"),
            AuthFailure::NoKey => text(StatusCode::UNAUTHORIZED, "NF_KEY"),
            AuthFailure::WrongSecret => text(StatusCode::UNAUTHORIZED, "OD_KEY"),
            AuthFailure::TooManyFailures => text(StatusCode::TOO_MANY_REQUESTS, "OD_KEY"),
        },
        Err(UpdateError::AccountInactive) => text(StatusCode::FORBIDDEN, "IA_ACCT"),
        Err(UpdateError::ReadOnly) => text(StatusCode::FORBIDDEN, "NP_USR"),
        // Rexx has no offline; nothing else needs a plan.
        Err(UpdateError::NotOnPlan) => text(StatusCode::FORBIDDEN, "NP_USR"),
        Err(UpdateError::AddressBlocked(_)) => text(StatusCode::FORBIDDEN, "NP_USR"),
        Err(
            e @ (UpdateError::Unavailable(_) | UpdateError::Interrupted | UpdateError::Busy(_)),
        ) => try_later(&e, "TRY_LATER"),
    }
}
