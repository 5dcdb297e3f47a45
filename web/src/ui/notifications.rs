//! `/notifications`: the account's subscriptions (e-mail to one of its users, or a signed
//! webhook; for every host or one) and the delivery log, every attempt with its outcome. A
//! webhook's secret is shown once, when it is made. Owners and admins subscribe and
//! remove; everyone sees the list and the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::removed;
use super::session::{PageError, SignedIn, Submitted};
use crate::access::SubscribeError;
use crate::db::{Delivery, Subscription};
use crate::domain::{Action, EventKind};
use crate::pages::{Nav, page};
use crate::state::AppState;
use crate::subscription_input::{DEFAULT_STALE_DAYS, InputError, SubscriptionInput};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/notifications", web::get().to(list))
        .route("/notifications", web::post().to(create))
        .route("/notifications/{id}/delete", web::post().to(delete));
}

/// Deliveries the page shows, newest first.
const LOG_LENGTH: u64 = 50;

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    nav: Nav,
    subscriptions: Vec<Subscription>,
    log: Vec<Delivery>,
    hosts: Vec<String>,
    /// The account's users' addresses: where e-mail may go.
    emails: Vec<String>,
    events: Vec<(&'static str, &'static str)>,
    default_stale_days: u32,
    manages: bool,
    /// A webhook just made: its signing secret, shown this once.
    secret: Option<String>,
    error: Option<String>,
}

async fn notifications_page(
    signed: &SignedIn,
    secret: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let access = &signed.access;
    let account = access.account()?;
    let view = NotificationsPage {
        nav: signed.nav(),
        subscriptions: account.subscriptions().await?,
        log: account.deliveries(None, LOG_LENGTH).await?,
        hosts: access
            .hosts()
            .await?
            .iter()
            .map(|h| h.name.to_string())
            .collect(),
        emails: account
            .members()
            .await?
            .into_iter()
            .map(|m| m.email)
            .collect(),
        events: EventKind::ALL
            .iter()
            .map(|e| (e.as_str(), e.title()))
            .collect(),
        default_stale_days: DEFAULT_STALE_DAYS,
        manages: access.may(Action::ManageNotifications).is_ok(),
        secret,
        error,
    };
    Ok(page(status, &view))
}

async fn list(signed: SignedIn) -> Result<HttpResponse, PageError> {
    notifications_page(&signed, None, None, StatusCode::OK).await
}

/// `channel` says which of `email` and `url` counts; `events` repeats, once per box.
async fn create(form: Submitted, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let (signed, fields) = (&form.signed, &form.fields);
    let admin = signed
        .access
        .notification_admin()
        .map_err(|r| signed.refused(r))?;
    let webhook = fields.get("channel") == "webhook";
    let refuse = |why: String| notifications_page(signed, None, Some(why), StatusCode::BAD_REQUEST);
    let Ok(stale_days) = fields.get("stale_days").parse::<u32>() else {
        return refuse("A host is stale after 1 to 365 days without an update.".into()).await;
    };
    let input = SubscriptionInput {
        host: Some(fields.get("host")),
        email: (!webhook).then(|| fields.get("email")),
        url: webhook.then(|| fields.get("url")),
        events: fields.all("events").collect(),
        stale_days: Some(stale_days),
    };
    let request = match input.check(&signed.access, state.private_webhooks).await {
        Ok(request) => request,
        Err(InputError::Db(e)) => return Err(e.into()),
        Err(e) => return refuse(e.to_string()).await,
    };
    match admin.subscribe(request).await {
        Ok((_, secret)) => notifications_page(signed, secret, None, StatusCode::OK).await,
        Err(SubscribeError::Db(e)) => Err(e.into()),
        Err(e) => refuse(e.to_string()).await,
    }
}

async fn delete(form: Submitted, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    let signed = &form.signed;
    let admin = signed
        .access
        .notification_admin()
        .map_err(|r| signed.refused(r))?;
    removed(signed, &id, "/notifications", |id| admin.unsubscribe(id)).await
}
