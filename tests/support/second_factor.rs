//! The second factor from the user's side: an authenticator app made from the secret the
//! enrolment page shows (totp-rs, as apps compute it), and enrolling through the pages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use totp_rs::{Builder, Secret, Totp};

use super::browser::Browser;
use super::web::{Visitor, csrf};

/// An authenticator app holding one secret.
pub struct App(Totp);

impl App {
    pub fn new(base32: &str) -> App {
        let secret = Secret::try_from_base32(base32).expect("a base32 secret");
        App(Builder::new()
            .with_secret(secret)
            .build()
            .expect("a valid secret"))
    }

    /// The code of the time step `offset` steps from now (the server takes one step either
    /// way).
    pub fn code(&self, offset: i64) -> String {
        let now = unix_now() as i64 + offset * 30;
        self.0.generate(now as u64).to_string()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Waits, if need be, until a time step has at least 5 s left, so that codes computed now
/// are judged in the same step by the server.
pub async fn fresh_step() {
    let left = 30 - unix_now() % 30;
    if left < 5 {
        tokio::time::sleep(Duration::from_secs(left + 1)).await;
    }
}

/// The text between `start` and the next `end` in `page`.
pub fn between<'a>(page: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = page.find(start)? + start.len();
    page[from..].split(end).next()
}

/// What enrolling gave: the app, and the recovery codes shown once.
pub struct Enrolled {
    pub app: App,
    pub recovery_codes: Vec<String>,
}

/// Enrols the signed-in `v` through `/account/second-factor`, confirming with the code of
/// the step before the current one: codes of the current and next steps remain usable.
pub async fn enrol(v: &mut Visitor) -> Enrolled {
    let page = v.get("/account/second-factor").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let secret = between(&page.body, r#"<code id="secret">"#, "</code>").expect("the secret");
    let app = App::new(secret);
    fresh_step().await;
    let on = v
        .post(
            "/account/second-factor/on",
            &[("csrf", &csrf(&page.body)), ("code", &app.code(-1))],
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    let list = between(
        &on.body,
        r#"<ul class="codes" id="recovery-codes">"#,
        "</ul>",
    )
    .expect("the recovery codes");
    let recovery_codes = list
        .split("<code>")
        .skip(1)
        .filter_map(|c| c.split("</code>").next())
        .map(str::to_owned)
        .collect();
    Enrolled {
        app,
        recovery_codes,
    }
}

/// Signs in with the password, then `code` at the code step: the code step's answer.
pub async fn sign_in_with_code(
    v: &mut Visitor,
    email: &str,
    password: &str,
    code: &str,
) -> super::http::Response {
    let first = super::web::sign_in(v, email, password).await;
    assert_eq!(
        first.header("location"),
        Some("/login/code"),
        "{}",
        first.body
    );
    let form = v.get("/login/code").await;
    assert_eq!(form.status, 200, "{}", form.body);
    v.post(
        "/login/code",
        &[("csrf", &csrf(&form.body)), ("code", code)],
    )
    .await
}

/// A staff member (or anyone) signed in at the server at `http` with a second factor
/// enrolled: what the console asks before it opens.
pub async fn signed_in_with_second_factor(
    http: std::net::SocketAddr,
    email: &str,
    password: &str,
) -> Visitor {
    let mut v = Visitor::at(http);
    let signed = super::web::sign_in(&mut v, email, password).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    enrol(&mut v).await;
    v
}

/// Enrols the browser's signed-in user at `base` the way a person does: reads the secret
/// off the enrolment page, types the app's code, and keeps the recovery codes page. Both
/// pages pass the page check (`NAME-second-factor`, `NAME-recovery-codes`).
pub async fn enrol_in_browser(browser: &mut Browser, base: &str, name: &str) -> App {
    browser.goto(&format!("{base}/account/second-factor")).await;
    browser.check_page(&format!("{name}-second-factor")).await;
    let text = browser.text().await;
    let secret = between(&text, "Secret: ", "\n").expect("the secret is shown");
    let app = App::new(secret.trim());
    fresh_step().await;
    browser.fill("Code from your app", &app.code(-1)).await;
    browser.click_button("Switch on").await;
    assert!(
        browser.text().await.contains("Your recovery codes"),
        "{}",
        browser.text().await
    );
    browser.check_page(&format!("{name}-recovery-codes")).await;
    app
}
