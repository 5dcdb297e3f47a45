//! `/keys`: update keys (the secret devices use instead of the password): create one,
//! shown once, limited to some hosts or usable for miniupdate or RFC 2136 (TSIG); list
//! them with their last
//! use; revoke one. Only the owner and admins manage keys; others see the list.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::removed;
use super::session::{PageError, SignedIn, Submitted};
use crate::db::{DbError, KeyInfo, KeyProtocols};
use crate::domain::{Action, Fqdn, KeyScope};
use crate::pages::{Nav, page};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys", web::get().to(list))
        .route("/keys", web::post().to(create))
        .route("/keys/{id}/revoke", web::post().to(revoke));
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    nav: Nav,
    keys: Vec<KeyInfo>,
    hosts: Vec<String>,
    /// Whether the user may create and revoke keys.
    manages: bool,
    /// A key just created: its secret, shown this once.
    created: Option<Created>,
    error: Option<String>,
}

/// A new key's secret and, for RFC 2136, its TSIG key as nsupdate's `-y` takes it.
struct Created {
    secret: String,
    tsig: Option<String>,
}

async fn keys_page(
    signed: &SignedIn,
    created: Option<Created>,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let access = &signed.access;
    let keys = access.account()?.keys().await?;
    let hosts = access.hosts().await?;
    let view = KeysPage {
        nav: signed.nav(),
        keys,
        hosts: hosts.iter().map(|h| h.name.to_string()).collect(),
        manages: access.may(Action::ManageKeys).is_ok(),
        created,
        error,
    };
    Ok(page(status, &view))
}

async fn list(signed: SignedIn) -> Result<HttpResponse, PageError> {
    keys_page(&signed, None, None, StatusCode::OK).await
}

/// `hosts` repeats, once per ticked box.
async fn create(form: Submitted) -> Result<HttpResponse, PageError> {
    let (signed, fields) = (&form.signed, &form.fields);
    let keys = signed.access.key_admin().map_err(|r| signed.refused(r))?;
    let name = fields.get("name");
    let also_for = KeyProtocols {
        miniupdate: !fields.get("miniupdate").is_empty(),
        tsig: !fields.get("tsig").is_empty(),
    };
    let scope = KeyScope::parse(fields.get("scope")).unwrap_or(KeyScope::Update);
    let refuse = |why: &str| keys_page(signed, None, Some(why.into()), StatusCode::BAD_REQUEST);
    if name.is_empty() || name.chars().count() > 64 {
        return refuse("Give the key a name of 1 to 64 characters.").await;
    }
    let Ok(hosts) = fields
        .all("hosts")
        .map(Fqdn::parse)
        .collect::<Result<Vec<_>, _>>()
    else {
        return refuse("Choose hosts from the list.").await;
    };
    match keys.create(name, &hosts, scope, also_for).await {
        Ok((key, id)) => {
            let created = Created {
                secret: key.secret().to_owned(),
                tsig: also_for.tsig.then(|| key.tsig_argument(id)),
            };
            keys_page(signed, Some(created), None, StatusCode::OK).await
        }
        Err(DbError::Missing(_)) => refuse("Choose hosts from the list.").await,
        Err(e) => Err(e.into()),
    }
}

async fn revoke(form: Submitted, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    let signed = &form.signed;
    let keys = signed.access.key_admin().map_err(|r| signed.refused(r))?;
    removed(signed, &id, "/keys", |id| keys.revoke(id)).await
}
