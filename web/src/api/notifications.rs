//! `/api/v1/notifications`: the account's subscriptions to notifications (e-mail or
//! webhook, for all hosts or one) and each one's delivery log. A webhook's signing secret
//! is answered once, when it is made.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::ApiCaller;
use super::body::Body;
use super::hosts::whole_number;
use super::page_size;
use super::problem::{NotFound, Problem, Unprocessable};
use crate::access::SubscribeError;
use crate::db::{Attempt, Delivery, Subscription};
use crate::state::AppState;
use crate::subscription_input::{InputError, SubscriptionInput};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(remove)
        .service(deliveries);
}

/// A subscription, never its secret.
#[derive(Serialize, ToSchema)]
struct SubscriptionView {
    id: i64,
    /// The host it is for; `null`: every host of the account.
    #[schema(example = "home.dyn.example")]
    host: Option<String>,
    /// `email` or `webhook`.
    channel: String,
    /// The e-mail address or the webhook's URL.
    target: String,
    /// `address.changed`, `host.stale`, `credentials.failing`, `host.abuse_blocked`.
    events: Vec<String>,
    /// Days without an update after which a host is stale.
    stale_days: u32,
    created_at: DateTime<Utc>,
}

impl SubscriptionView {
    fn of(s: Subscription) -> SubscriptionView {
        SubscriptionView {
            id: s.id,
            host: s.host.map(|(_, name)| name),
            channel: s.channel,
            target: s.target,
            events: s.events.names().map(str::to_owned).collect(),
            stale_days: s.stale_days,
            created_at: s.created_at,
        }
    }
}

/// The account's subscriptions, oldest first.
#[utoipa::path(
    operation_id = "list_notifications",
    tag = "notifications",
    responses(
        (status = 200, description = "The subscriptions.", body = Vec<SubscriptionView>),
    )
)]
#[get("/notifications")]
async fn list(caller: ApiCaller) -> Result<HttpResponse, Problem> {
    let subscriptions = caller.access.account()?.subscriptions().await?;
    Ok(HttpResponse::Ok().json(
        subscriptions
            .into_iter()
            .map(SubscriptionView::of)
            .collect::<Vec<_>>(),
    ))
}

/// A subscription to make: `email` (an address of one of the account's users) or `url`
/// (an `https://` webhook), not both.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSubscription {
    /// One of the account's hosts; absent: every host.
    #[schema(example = "home.dyn.example")]
    host: Option<String>,
    #[schema(example = "alice@example.com")]
    email: Option<String>,
    #[schema(example = "https://hooks.example.com/dyn53")]
    url: Option<String>,
    /// At least one of `address.changed`, `host.stale`, `credentials.failing`,
    /// `host.abuse_blocked`.
    #[schema(example = json!(["address.changed", "host.stale"]))]
    events: Vec<String>,
    /// Days without an update after which a host is stale (1 to 365; default 7).
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 365, example = 7)]
    stale_days: Option<serde_json::Number>,
}

/// A new subscription, with a webhook's signing secret: shown this once.
#[derive(Serialize, ToSchema)]
struct CreatedSubscription {
    /// HMAC-SHA256 key of the `X-Dyn53-Signature` header; `null` for e-mail.
    #[schema(example = "whsec_Yq3…")]
    secret: Option<String>,
    subscription: SubscriptionView,
}

/// Subscribes the account to notifications.
#[utoipa::path(
    operation_id = "create_notification",
    tag = "notifications",
    request_body = NewSubscription,
    responses(
        (status = 201, description = "Subscribed; a webhook's secret is not shown again.", body = CreatedSubscription),
        (status = 422, response = Unprocessable),
    )
)]
#[post("/notifications")]
async fn create(
    caller: ApiCaller,
    state: web::Data<AppState>,
    body: Body<NewSubscription>,
) -> Result<HttpResponse, Problem> {
    let admin = caller.access.notification_admin()?;
    // Not a whole number of days: 0, which the rules refuse as out of range.
    let stale_days = body
        .stale_days
        .as_ref()
        .map(|d| whole_number(d).unwrap_or(0));
    let input = SubscriptionInput {
        host: body.host.as_deref(),
        email: body.email.as_deref(),
        url: body.url.as_deref(),
        events: body.events.iter().map(String::as_str).collect(),
        stale_days,
    };
    let request = match input.check(&caller.access, state.private_webhooks).await {
        Ok(request) => request,
        Err(InputError::Db(e)) => return Err(e.into()),
        Err(e) => return Err(Problem::invalid(e.code(), e.to_string())),
    };
    let (id, secret) = admin.subscribe(request).await.map_err(|e| match e {
        SubscribeError::Db(e) => e.into(),
        SubscribeError::NotAMember => Problem::invalid("not_a_member", e.to_string()),
        SubscribeError::TooMany => Problem::invalid("too_many", e.to_string()),
    })?;
    let subscription = caller
        .access
        .account()?
        .subscriptions()
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| Problem::try_later(&"the new subscription is not listed"))?;
    Ok(HttpResponse::Created().json(CreatedSubscription {
        secret,
        subscription: SubscriptionView::of(subscription),
    }))
}

/// Removes a subscription, with its delivery log; what was queued is not sent.
#[utoipa::path(
    operation_id = "delete_notification",
    tag = "notifications",
    params(("subscription" = String, Path, description = "The subscription's id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, response = NotFound),
    )
)]
#[delete("/notifications/{subscription}")]
async fn remove(caller: ApiCaller, id: web::Path<String>) -> Result<HttpResponse, Problem> {
    let admin = caller.access.notification_admin()?;
    let id: i64 = id.parse().map_err(|_| not_found())?;
    match admin.unsubscribe(id).await? {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(not_found()),
    }
}

fn not_found() -> Problem {
    Problem::not_found("notification_not_found", "You have no such subscription.")
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    /// Deliveries to answer, newest first (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u64>,
}

/// One notification sent (or to send) to a subscription.
#[derive(Serialize, ToSchema)]
struct DeliveryView {
    /// The event's id, as in `X-Dyn53-Event-Id` and the body.
    #[schema(example = "evt_5f0c…")]
    event_id: String,
    #[schema(example = "address.changed")]
    event: String,
    /// `pending` (to try, at `next_attempt_at`), `delivered` or `failed` (given up).
    state: String,
    created_at: DateTime<Utc>,
    next_attempt_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    attempts: Vec<AttemptView>,
}

/// One try at a delivery.
#[derive(Serialize, ToSchema)]
struct AttemptView {
    at: DateTime<Utc>,
    duration_ms: i32,
    /// The HTTP status the webhook answered, if it answered.
    status: Option<i32>,
    /// Why the attempt failed; `null` when it succeeded.
    error: Option<String>,
}

impl DeliveryView {
    fn of(d: Delivery) -> DeliveryView {
        DeliveryView {
            event_id: d.event_id,
            event: d.event,
            state: d.state,
            created_at: d.created_at,
            next_attempt_at: d.next_attempt_at,
            finished_at: d.finished_at,
            attempts: d.attempts.into_iter().map(AttemptView::of).collect(),
        }
    }
}

impl AttemptView {
    fn of(a: Attempt) -> AttemptView {
        AttemptView {
            at: a.at,
            duration_ms: a.duration_ms,
            status: a.status,
            error: a.error,
        }
    }
}

/// A subscription's delivery log: its newest notifications, each with every attempt.
#[utoipa::path(
    operation_id = "list_notification_deliveries",
    tag = "notifications",
    params(("subscription" = String, Path, description = "The subscription's id."), DeliveriesQuery),
    responses(
        (status = 200, description = "The deliveries, newest first.", body = Vec<DeliveryView>),
        (status = 404, response = NotFound),
    )
)]
#[get("/notifications/{subscription}/deliveries")]
async fn deliveries(
    caller: ApiCaller,
    id: web::Path<String>,
    query: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = page_size(query.limit)?;
    let account = caller.access.account()?;
    let id: i64 = id.parse().map_err(|_| not_found())?;
    if !account.subscriptions().await?.iter().any(|s| s.id == id) {
        return Err(not_found());
    }
    let log = account.deliveries(Some(id), limit).await?;
    Ok(HttpResponse::Ok().json(log.into_iter().map(DeliveryView::of).collect::<Vec<_>>()))
}
