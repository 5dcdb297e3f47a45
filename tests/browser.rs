//! The pages in a real browser, headless Chromium (`support::browser`): each one renders at
//! phone and desktop widths and passes the page check, and its screenshots are kept.

mod support;

use support::browser::Browser;
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

on_both_backends!(landing);

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
