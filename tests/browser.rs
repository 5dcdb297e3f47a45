//! The pages in a real browser, headless Chromium (`support::browser`): each one renders at
//! phone and desktop widths and passes the page check, and its screenshots are kept.

mod support;

use support::browser::Browser;
use support::second_factor::enrol_in_browser;
use support::{Backend, Server};

async fn landing(backend: Backend) {
    let server = Server::start(backend).await;
    let mut browser = Browser::start().await;
    browser.goto(&format!("http://{}/", server.http)).await;
    browser.check_page("landing").await;
    assert_eq!(browser.title().await, "dyn53 — dynamic DNS");
    let text = browser.text().await;
    assert!(text.contains("dyn.test, other.test"), "{text}");

    browser.click_link("/checkip").await;
    assert_eq!(
        browser.current_url().await,
        format!("http://{}/checkip", server.http)
    );
    assert_eq!(browser.text().await, "Current IP Address: 127.0.0.1");
}

/// The form helpers the account journey relies on, on a form of the test's own: a field
/// found by its label, one by its name, and a button that submits to the server.
#[tokio::test(flavor = "multi_thread")]
async fn form_helpers() {
    let server = Server::start(Backend::Sqlite).await;
    let browser = Browser::start().await;
    browser
        .goto(&format!(
            "data:text/html,<form action='http://{}/checkip'>\
             <label for=e>E-mail address</label><input id=e name=email>\
             <input name=note value=old><button>Check my address</button></form>",
            server.http
        ))
        .await;
    browser.fill("E-mail address", "me@example.com").await;
    browser.fill("note", "new").await;
    browser.click_button("Check my address").await;
    assert_eq!(
        browser.current_url().await,
        format!(
            "http://{}/checkip?email=me%40example.com&note=new",
            server.http
        )
    );
    browser.screenshot("checkip").await;
}

/// The whole journey in the browser: sign up, open the verification link from the mail
/// directory, sign in, create a host, generate a key, update the host with that key over
/// `/nic/update`, and see the new address and the history line in the page. Every page on
/// the way passes the page check; the screenshots are kept.
async fn account_journey(backend: Backend) {
    let server = Server::start(backend).await;
    let base = format!("http://{}", server.http);
    let mut browser = Browser::start().await;

    browser.goto(&format!("{base}/signup")).await;
    browser.check_page("signup").await;
    browser.fill("E-mail address", "pat@example.com").await;
    browser
        .fill("Password (at least 10 characters)", "a long secret phrase")
        .await;
    browser.click_button("Sign up").await;
    assert!(browser.text().await.contains("Check your inbox"));
    browser.check_page("signup-sent").await;

    let mail = support::web::mails_at_least(&server, 1)
        .pop()
        .expect("the verification mail");
    let link = support::web::link(&mail, "/verify?token=").expect("a link");
    browser.goto(&link).await;
    assert!(browser.text().await.contains("Confirm your address"));
    browser.check_page("verify").await;
    browser
        .fill(
            "The password you chose when you signed up",
            "a long secret phrase",
        )
        .await;
    browser.click_button("Confirm and sign in").await;
    assert_eq!(browser.current_url().await, format!("{base}/hosts"));
    browser.check_page("hosts-empty").await;

    browser.fill("Name", "home").await;
    browser.click_button("Add host").await;
    assert!(browser.text().await.contains("home.dyn.test"));
    browser.check_page("host-new").await;

    browser.click_link("Keys").await;
    browser.check_page("keys").await;
    browser.fill("Name", "router").await;
    browser.click_button("Create key").await;
    let key = browser.value("Key").await;
    assert!(key.starts_with("dyn53_"), "{key}");
    browser.check_page("key-created").await;

    let r = support::http::update(
        server.http,
        "pat@example.com",
        &key,
        "hostname=home.dyn.test&myip=192.0.2.123",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.123");

    browser.click_link("Hosts").await;
    let text = browser.text().await;
    assert!(text.contains("192.0.2.123"), "{text}");
    browser.check_page("hosts").await;
    browser.click_link("home.dyn.test").await;
    let text = browser.text().await;
    assert!(
        text.contains("192.0.2.123") && text.contains("dyndns2"),
        "{text}"
    );
    browser.check_page("host-updated").await;

    for (link, name) in [
        ("Groups", "groups"),
        ("Team", "team"),
        ("Account", "account"),
    ] {
        browser.click_link(link).await;
        browser.check_page(name).await;
    }
    browser.click_link("Notifications").await;
    browser.check_page("notifications").await;
    browser.click_button("Subscribe").await;
    let text = browser.text().await;
    assert!(text.contains("email: pat@example.com"), "{text}");
    browser.check_page("notifications-subscribed").await;
    browser.goto(&format!("{base}/hosts/999999")).await;
    assert!(browser.text().await.contains("Not found"));
    browser.check_page("not-found").await;
    browser.click_button("Sign out").await;
    assert_eq!(browser.current_url().await, format!("{base}/login"));
    browser.check_page("login").await;
    browser.click_link("Forgot your password?").await;
    browser.check_page("forgot").await;
    // The pages behind e-mailed links, reached with a link that does not work.
    for (path, name) in [
        ("/reset?token=x", "reset"),
        ("/join?token=x", "join"),
        ("/nothing-here", "unknown-url"),
    ] {
        browser.goto(&format!("{base}{path}")).await;
        browser.check_page(name).await;
    }
}

/// The API reference, made from the OpenAPI document: every operation is on it.
async fn api_reference(backend: Backend) {
    let server = Server::start(backend).await;
    let mut browser = Browser::start().await;
    browser
        .goto(&format!("http://{}/api/v1/docs", server.http))
        .await;
    browser.check_page("api-reference").await;
    assert_eq!(browser.title().await, "API reference · dyn53");
    let text = browser.text().await;
    for operation in [
        "POST /api/v1/auth/token",
        "GET /api/v1/hosts/{fqdn}/history",
        "POST /api/v1/hosts/{fqdn}/records",
        "DELETE /api/v1/keys/{id}",
    ] {
        assert!(text.contains(operation), "{operation} is missing");
    }
    assert!(text.contains("acme_challenge"), "the schemas' fields");
}

/// The console's operations pages (zones, fleet, registration) as staff see them, with a
/// zone added and a bad one refused.
async fn console_operations(backend: Backend) {
    let server = Server::start(backend).await;
    server.add_user_with("staff@example.net", "staff's long phrase", &["--staff"]);
    let base = format!("http://{}", server.http);
    let mut browser = Browser::start().await;
    browser
        .sign_in(&base, "staff@example.net", "staff's long phrase")
        .await;
    enrol_in_browser(&mut browser, &base, "admin").await;

    browser.goto(&format!("{base}/admin/zones")).await;
    browser.check_page("admin-zones").await;
    browser.fill("Zone name", "bad_zone!").await;
    browser.click_button("Add zone").await;
    assert!(browser.text().await.contains("is not a zone name"));
    browser.check_page("admin-zones-error").await;
    browser.fill("Zone name", "fresh.test").await;
    browser.click_button("Add zone").await;
    assert!(browser.text().await.contains("Zone fresh.test added"));
    browser.check_page("admin-zones-added").await;
    for (link, name) in [
        ("Fleet", "admin-fleet"),
        ("Registration", "admin-registration"),
    ] {
        browser.click_link(link).await;
        browser.check_page(name).await;
    }
    browser.click_button("Save").await;
    assert!(browser.text().await.contains("Registration is now"));
    browser.check_page("admin-registration-saved").await;
}

on_both_backends!(landing, account_journey, api_reference, console_operations);
