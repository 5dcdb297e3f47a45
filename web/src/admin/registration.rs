//! `/admin/registration`: whether people may sign up (open, invitation only, closed). The
//! setting is a database row read by every sign-up and invitation, so a change takes effect
//! at once on every replica; each change is audited with the staff actor and its reason.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Staff, StaffForm};
use crate::db::{DbResult, RegistrationSetting};
use crate::domain::Registration;
use crate::pages::{Nav, page, try_later};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/registration", web::get().to(registration))
        .route("/admin/registration", web::post().to(change));
}

/// The longest reason kept.
const MAX_REASON: usize = 500;

#[derive(Template)]
#[template(path = "admin/registration.html")]
struct RegistrationPage {
    nav: Nav,
    setting: RegistrationSetting,
    modes: [Registration; 3],
    error: Option<String>,
    notice: Option<String>,
}

async fn registration(staff: Staff) -> HttpResponse {
    show(&staff, None, None, StatusCode::OK).await
}

async fn show(
    staff: &Staff,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let setting = match staff.console.registration().await {
        Ok(setting) => setting,
        Err(e) => return try_later(&e),
    };
    let view = RegistrationPage {
        nav: staff.nav(),
        setting,
        modes: Registration::ALL,
        error,
        notice,
    };
    page(status, &view)
}

async fn change(form: StaffForm, state: web::Data<AppState>) -> HttpResponse {
    let (staff, fields) = (&form.staff, &form.fields);
    let Some(mode) = Registration::parse(fields.get("mode")) else {
        let why = "Choose open, invitation only or closed.".to_owned();
        return show(staff, Some(why), None, StatusCode::BAD_REQUEST).await;
    };
    let reason = Some(fields.get("reason")).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON) {
        let why = format!("The reason is longer than {MAX_REASON} characters.");
        return show(staff, Some(why), None, StatusCode::BAD_REQUEST).await;
    }
    let actor = staff.actor();
    let saved: DbResult<()> = async {
        let tx = state.db.begin_write().await?;
        tx.set_registration(mode, reason, &actor).await?;
        let detail = match reason {
            Some(reason) => format!("{}: {reason}", mode.as_str()),
            None => mode.as_str().to_owned(),
        };
        tx.audit(None, &actor, "registration.set", &detail).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(e) = saved {
        return try_later(&e);
    }
    let notice = format!("Registration is now: {}.", mode.label());
    show(staff, None, Some(notice), StatusCode::OK).await
}
