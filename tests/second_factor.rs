//! The second factor end to end, on both backends: enrolling with the secret the page shows
//! (codes computed here as an authenticator app computes them), signing in with the
//! password then a code, wrong and replayed codes refused, recovery codes that work once,
//! new recovery codes, switching off, the API's token asking for the code, the limit on
//! wrong codes, and the console closed to staff until they enrol.

mod support;

use serde_json::json;
use support::api::{SECRET, call};
use support::second_factor::{App, enrol, fresh_step, sign_in_with_code};
use support::web::{Visitor, csrf, sign_in};
use support::{Backend, Server};

const PASS: &str = "correct horse battery staple";
const WRONG_CODE: &str = "That code is not right";

/// A code that is none of `app`'s codes of the steps the server would take.
fn wrong_code(app: &App) -> String {
    let taken: Vec<String> = (-1..=1).map(|o| app.code(o)).collect();
    (0..)
        .map(|n| format!("{:06}", 123_456 + n))
        .find(|c| !taken.contains(c))
        .expect("a wrong code")
}

fn audited(server: &Server, action: &str) -> String {
    server.sql(&format!(
        "SELECT count(*) FROM audit_log WHERE action = '{action}' AND actor = 'me@example.com'"
    ))
}

/// The API's answer to a token request with `otp` (none when `None`).
async fn api_token(server: &Server, otp: Option<&str>) -> (u16, serde_json::Value) {
    let mut body = json!({"email": "me@example.com", "password": PASS});
    if let Some(otp) = otp {
        body["otp"] = json!(otp);
    }
    let body = body.to_string();
    let (status, value, _) =
        call(server.http, "POST", "/api/v1/auth/token", None, Some(&body)).await;
    (status, value)
}

async fn signing_in_with_a_second_factor(backend: Backend) {
    let server = Server::start_with(backend, &[("DYN53_JWT_SECRET", SECRET)]).await;
    server.add_user("me@example.com", PASS);

    let mut mine = Visitor::new(&server);
    assert_eq!(
        sign_in(&mut mine, "me@example.com", PASS)
            .await
            .header("location"),
        Some("/hosts")
    );
    let account = mine.get("/account").await;
    assert!(
        account.body.contains(r#"href="/account/second-factor""#),
        "{}",
        account.body
    );
    // A wrong first code switches nothing on.
    let page = mine.get("/account/second-factor").await;
    let refused = mine
        .post(
            "/account/second-factor/on",
            &[("csrf", &csrf(&page.body)), ("code", "12")],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("That is not the code your app shows now")
    );
    // A browser signed in with the password alone before enrolment...
    let mut before = Visitor::new(&server);
    assert_eq!(
        sign_in(&mut before, "me@example.com", PASS)
            .await
            .header("location"),
        Some("/hosts")
    );
    assert_eq!(before.get("/hosts").await.status, 200);

    let enrolled = enrol(&mut mine).await;
    // ...is signed out by it; the enrolling one stays in.
    let gone = before.get("/hosts").await;
    assert_eq!(gone.header("location"), Some("/login"), "{}", gone.body);
    assert_eq!(mine.get("/hosts").await.status, 200);
    let (app, recovery) = (&enrolled.app, &enrolled.recovery_codes);
    assert_eq!(recovery.len(), 10, "{recovery:?}");
    assert_eq!(audited(&server, "second_factor.enable"), "1");
    // Stored as digests, never as shown.
    assert_eq!(server.sql("SELECT count(*) FROM recovery_codes"), "10");
    let plain = recovery[0].replace('-', "");
    assert_eq!(
        server.sql(&format!(
            "SELECT count(*) FROM recovery_codes WHERE digest LIKE '%{plain}%'"
        )),
        "0"
    );
    // The secret is never shown again.
    let settings = mine.get("/account/second-factor").await;
    assert!(
        !settings.body.contains(r#"id="secret""#),
        "{}",
        settings.body
    );
    assert!(
        settings.body.contains("Your second factor is on"),
        "{}",
        settings.body
    );

    // The password alone makes no session.
    let mut other = Visitor::new(&server);
    let first = sign_in(&mut other, "me@example.com", PASS).await;
    assert_eq!(first.header("location"), Some("/login/code"));
    assert!(!other.has_cookie("dyn53_session"));
    assert_eq!(other.get("/hosts").await.header("location"), Some("/login"));
    let form = other.get("/login/code").await;
    let wrong = other
        .post(
            "/login/code",
            &[("csrf", &csrf(&form.body)), ("code", &wrong_code(app))],
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.body.contains(WRONG_CODE), "{}", wrong.body);
    assert!(!other.has_cookie("dyn53_session"));
    // The right code, at the same step (the pending sign-in survived the wrong code).
    fresh_step().await;
    let code = app.code(0);
    let done = other
        .post(
            "/login/code",
            &[("csrf", &csrf(&form.body)), ("code", &code)],
        )
        .await;
    assert_eq!(done.header("location"), Some("/hosts"), "{}", done.body);
    assert_eq!(other.get("/hosts").await.status, 200);
    assert!(!other.has_cookie("dyn53_pending"));

    // The same code again, in another browser: refused.
    let mut replay = Visitor::new(&server);
    let again = sign_in_with_code(&mut replay, "me@example.com", PASS, &code).await;
    assert_eq!(again.status, 401, "{}", again.body);
    assert!(again.body.contains(WRONG_CODE));
    // A recovery code works, once.
    let used = sign_in_with_code(
        &mut replay,
        "me@example.com",
        PASS,
        &recovery[0].to_uppercase(),
    )
    .await;
    assert_eq!(used.header("location"), Some("/hosts"), "{}", used.body);
    assert_eq!(audited(&server, "second_factor.recovery_code_used"), "1");
    assert_eq!(server.sql("SELECT count(*) FROM recovery_codes"), "9");
    let mut third = Visitor::new(&server);
    let twice = sign_in_with_code(&mut third, "me@example.com", PASS, &recovery[0]).await;
    assert_eq!(twice.status, 401, "{}", twice.body);
    // No pending sign-in, no code step.
    assert_eq!(
        Visitor::new(&server)
            .get("/login/code")
            .await
            .header("location"),
        Some("/login")
    );

    // The API's token takes the current code too, once.
    assert_eq!(
        problem_of(api_token(&server, None).await),
        (401, "otp_required".into())
    );
    let wrong = wrong_code(app);
    assert_eq!(
        problem_of(api_token(&server, Some(&wrong)).await),
        (401, "invalid_otp".into())
    );
    let next = app.code(1);
    let (status, value) = api_token(&server, Some(&next)).await;
    assert_eq!(status, 200, "{value}");
    assert_eq!(
        problem_of(api_token(&server, Some(&next)).await),
        (401, "invalid_otp".into())
    );

    // New recovery codes replace the old ones.
    let settings = mine.get("/account/second-factor").await;
    let renewed = mine
        .post(
            "/account/second-factor/codes",
            &[("csrf", &csrf(&settings.body))],
        )
        .await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    assert!(!renewed.body.contains(&recovery[1]), "old codes are gone");
    assert_eq!(server.sql("SELECT count(*) FROM recovery_codes"), "10");
    assert_eq!(audited(&server, "second_factor.recovery_codes"), "2");
    let old = sign_in_with_code(
        &mut Visitor::new(&server),
        "me@example.com",
        PASS,
        &recovery[1],
    )
    .await;
    assert_eq!(old.status, 401, "{}", old.body);

    // Switching off takes the password (or a code); a wrong one changes nothing.
    let no = mine
        .post(
            "/account/second-factor/off",
            &[
                ("csrf", &csrf(&settings.body)),
                ("proof", "not my password"),
            ],
        )
        .await;
    assert_eq!(no.status, 403, "{}", no.body);
    assert!(no.body.contains("neither your password"), "{}", no.body);
    assert_eq!(
        sign_in(&mut Visitor::new(&server), "me@example.com", PASS)
            .await
            .header("location"),
        Some("/login/code")
    );
    let off = mine
        .post(
            "/account/second-factor/off",
            &[("csrf", &csrf(&settings.body)), ("proof", PASS)],
        )
        .await;
    assert_eq!(
        off.header("location"),
        Some("/account/second-factor"),
        "{}",
        off.body
    );
    assert_eq!(audited(&server, "second_factor.disable"), "1");
    assert_eq!(server.sql("SELECT count(*) FROM recovery_codes"), "0");
    assert_eq!(
        sign_in(&mut Visitor::new(&server), "me@example.com", PASS)
            .await
            .header("location"),
        Some("/hosts")
    );
    assert_eq!(api_token(&server, None).await.0, 200);
}

fn problem_of((status, value): (u16, serde_json::Value)) -> (u16, String) {
    assert_eq!(value["status"], json!(status), "{value}");
    (status, value["code"].as_str().unwrap_or("").to_owned())
}

/// Wrong codes count against the sign-in's limit: past it even the right code waits.
async fn wrong_codes_are_limited(backend: Backend) {
    let server = Server::start(backend).await;
    server.add_user("me@example.com", PASS);
    let mut mine = Visitor::new(&server);
    sign_in(&mut mine, "me@example.com", PASS).await;
    let app = enrol(&mut mine).await.app;
    let mut guesser = Visitor::new(&server);
    assert_eq!(
        sign_in(&mut guesser, "me@example.com", PASS)
            .await
            .header("location"),
        Some("/login/code")
    );
    let form = guesser.get("/login/code").await;
    let wrong = wrong_code(&app);
    for _ in 0..10 {
        let r = guesser
            .post(
                "/login/code",
                &[("csrf", &csrf(&form.body)), ("code", &wrong)],
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    fresh_step().await;
    let r = guesser
        .post(
            "/login/code",
            &[("csrf", &csrf(&form.body)), ("code", &app.code(0))],
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("Too many failed attempts"), "{}", r.body);
    assert!(!guesser.has_cookie("dyn53_session"));
}

/// Staff without a second factor get its enrolment from every console URL, then the
/// console once it is on.
async fn the_console_needs_a_second_factor(backend: Backend) {
    let server = Server::start(backend).await;
    server.add_user_with("staff@example.net", PASS, &["--staff"]);
    let mut staff = Visitor::new(&server);
    assert_eq!(
        sign_in(&mut staff, "staff@example.net", PASS)
            .await
            .header("location"),
        Some("/hosts")
    );
    let hosts = staff.get("/hosts").await;
    for path in ["/admin", "/admin/accounts", "/admin/nothing-here"] {
        let page = staff.get(path).await;
        assert_eq!(page.status, 303, "GET {path}: {}", page.body);
        assert_eq!(
            page.header("location"),
            Some("/account/second-factor"),
            "GET {path}"
        );
        assert!(!page.body.contains("Console"), "{}", page.body);
        let post = staff.post(path, &[("csrf", &csrf(&hosts.body))]).await;
        assert_eq!(
            post.header("location"),
            Some("/account/second-factor"),
            "POST {path}"
        );
    }
    let enrolment = staff.get("/account/second-factor").await;
    assert!(
        enrolment.body.contains(r#"id="secret""#),
        "{}",
        enrolment.body
    );
    enrol(&mut staff).await;
    let console = staff.get("/admin").await;
    assert_eq!(console.status, 200, "{}", console.body);
    assert!(console.body.contains("Console"), "{}", console.body);
}

on_both_backends!(
    signing_in_with_a_second_factor,
    wrong_codes_are_limited,
    the_console_needs_a_second_factor
);
