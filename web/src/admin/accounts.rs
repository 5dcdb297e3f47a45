//! `/admin/accounts`: finding an account (one box: a user's address or login ID, a host's
//! name or current address), pages of accounts by id, an account's page (users, hosts,
//! keys without secrets, groups, recent updates and audit lines), changing its plan and
//! status with a reason, and viewing its own pages as staff, read only
//! (`ui::session` builds a read-only `Access` for such a session).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Staff, StaffForm};
use crate::db::{AccountChange, AccountDetail, AccountRow, AccountSearch};
use crate::domain::{AccountStatus, Plan};
use crate::pages::{Nav, page, redirect, try_later, unknown_url_page};
use crate::ui::session_secret;

/// Accounts on a page of the list.
const PAGE: u64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/accounts", web::get().to(list))
        .route("/admin/accounts/{id}", web::get().to(show))
        .route("/admin/accounts/{id}/plan", web::post().to(change_plan))
        .route("/admin/accounts/{id}/status", web::post().to(change_status))
        .route(
            "/admin/accounts/{id}/view-as",
            web::post().to(start_view_as),
        )
        .route("/admin/view-as/stop", web::post().to(stop_view_as));
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    after: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin/accounts.html")]
struct ListPage {
    nav: Nav,
    q: String,
    accounts: Vec<AccountRow>,
    /// The link to the next page, when there is one.
    next: Option<String>,
}

async fn list(staff: Staff, query: web::Query<ListQuery>) -> HttpResponse {
    let search = AccountSearch::parse(&query.q);
    let mut accounts = match staff
        .console
        .accounts(search.as_ref(), query.after, PAGE + 1)
        .await
    {
        Ok(accounts) => accounts,
        Err(e) => return try_later(&e),
    };
    let next = (accounts.len() as u64 > PAGE).then(|| {
        accounts.truncate(PAGE as usize);
        let last = accounts.last().map_or(0, |a| a.id);
        let mut link = form_urlencoded::Serializer::new(String::new());
        if search.is_some() {
            link.append_pair("q", query.q.trim());
        }
        link.append_pair("after", &last.to_string());
        format!("/admin/accounts?{}", link.finish())
    });
    let list = ListPage {
        nav: staff.nav(),
        q: query.q.trim().to_owned(),
        accounts,
        next,
    };
    page(StatusCode::OK, &list)
}

#[derive(Template)]
#[template(path = "admin/account.html")]
struct AccountPage {
    nav: Nav,
    account: AccountDetail,
    plans: [Plan; 2],
    /// The plan allows fewer hosts than the account has: they are kept.
    over_limit: Option<u64>,
    error: Option<String>,
}

/// Account `id`'s page, with `error` from a form; the console's 404 for an unknown id.
async fn account_page(
    staff: &Staff,
    req: &HttpRequest,
    id: i64,
    error: Option<String>,
) -> HttpResponse {
    let account = match staff.console.account(id).await {
        Ok(Some(account)) => account,
        Ok(None) => return unknown_url_page(req.path()),
        Err(e) => return try_later(&e),
    };
    let limit = account.row.plan.max_hosts();
    let status = match error {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let shown = AccountPage {
        nav: staff.nav(),
        over_limit: (account.row.hosts > limit).then_some(limit),
        plans: [Plan::Free, Plan::Premium],
        account,
        error,
    };
    page(status, &shown)
}

async fn show(staff: Staff, req: HttpRequest, id: web::Path<i64>) -> HttpResponse {
    account_page(&staff, &req, id.into_inner(), None).await
}

async fn change_plan(form: StaffForm, req: HttpRequest, id: web::Path<i64>) -> HttpResponse {
    let change = Plan::parse(form.fields.get("plan")).map(AccountChange::Plan);
    change_account(form, req, id.into_inner(), change).await
}

async fn change_status(form: StaffForm, req: HttpRequest, id: web::Path<i64>) -> HttpResponse {
    let change = AccountStatus::parse(form.fields.get("status")).map(AccountChange::Status);
    change_account(form, req, id.into_inner(), change).await
}

/// Makes `change` with the form's reason, or shows the account's page with what is missing
/// (nothing changed).
async fn change_account(
    form: StaffForm,
    req: HttpRequest,
    id: i64,
    change: Option<AccountChange>,
) -> HttpResponse {
    let staff = &form.staff;
    let reason = form.fields.get("reason").trim();
    let Some(change) = change else {
        let error = "Choose one of the choices offered.".to_owned();
        return account_page(staff, &req, id, Some(error)).await;
    };
    if reason.is_empty() {
        let error = "Give a reason: it goes in the audit log. Nothing was changed.".to_owned();
        return account_page(staff, &req, id, Some(error)).await;
    }
    match staff
        .console
        .change_account(id, change, &staff.actor(), reason)
        .await
    {
        Ok(true) => redirect(&format!("/admin/accounts/{id}")),
        Ok(false) => unknown_url_page(req.path()),
        Err(e) => try_later(&e),
    }
}

/// Starts viewing account `id` as staff (audited): to its hosts page, read only.
async fn start_view_as(form: StaffForm, req: HttpRequest, id: web::Path<i64>) -> HttpResponse {
    let Some(secret) = session_secret(&req) else {
        return unknown_url_page(req.path());
    };
    let staff = &form.staff;
    match staff
        .console
        .view_as(&secret, Some(id.into_inner()), &staff.actor())
        .await
    {
        Ok(true) => redirect("/hosts"),
        Ok(false) => unknown_url_page(req.path()),
        Err(e) => try_later(&e),
    }
}

/// Stops viewing as staff: back to the account's console page.
async fn stop_view_as(form: StaffForm, req: HttpRequest) -> HttpResponse {
    let Some(secret) = session_secret(&req) else {
        return unknown_url_page(req.path());
    };
    let staff = &form.staff;
    let back = match &staff.session.viewing {
        Some(owner) => format!("/admin/accounts/{}", owner.account.0),
        None => "/admin/accounts".to_owned(),
    };
    match staff.console.view_as(&secret, None, &staff.actor()).await {
        Ok(_) => redirect(&back),
        Err(e) => try_later(&e),
    }
}
