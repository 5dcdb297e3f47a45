//! The console's gate, end to end on both backends: every `/admin` URL answers the site's
//! own 404 to a signed-out visitor and to a tenant's user (even the owner of an account),
//! byte for byte the page of an unknown URL, and opens to staff.

mod support;

use support::second_factor::enrol;
use support::web::{Visitor, sign_in};
use support::{Backend, Server};

const PASS: &str = "correct horse battery staple";

/// Every page of the console, and a form's target.
const CONSOLE_URLS: [&str; 3] = ["/admin", "/admin/accounts", "/admin/nothing-here"];

/// The 404 page of `path`, as the site shows an unknown URL.
async fn assert_not_found(v: &mut Visitor, path: &str) {
    let page = v.get(path).await;
    assert_eq!(page.status, 404, "GET {path}: {}", page.body);
    let unknown = v.get(&format!("/no-such-page{path}")).await;
    assert_eq!(
        page.body.replace(path, "PATH"),
        unknown
            .body
            .replace(&format!("/no-such-page{path}"), "PATH"),
        "GET {path} is told apart from an unknown URL"
    );
    let post = v.post(path, &[("csrf", "x")]).await;
    assert_eq!(post.status, 404, "POST {path}: {}", post.body);
}

async fn only_staff_reach_the_console(backend: Backend) {
    let server = Server::start(backend).await;
    server.add_user("owner@example.net", PASS);
    server.add_user_with("staff@example.net", PASS, &["--staff"]);

    let mut stranger = Visitor::new(&server);
    let mut owner = Visitor::new(&server);
    assert_eq!(
        sign_in(&mut owner, "owner@example.net", PASS).await.status,
        303
    );
    for path in CONSOLE_URLS {
        assert_not_found(&mut stranger, path).await;
        assert_not_found(&mut owner, path).await;
    }

    let mut staff = Visitor::new(&server);
    assert_eq!(
        sign_in(&mut staff, "staff@example.net", PASS).await.status,
        303
    );
    // The console opens behind a second factor only (tests/second_factor.rs).
    enrol(&mut staff).await;
    let console = staff.get("/admin").await;
    assert_eq!(console.status, 200, "{}", console.body);
    assert!(console.body.contains("Console"), "{}", console.body);
    let hosts = staff.get("/hosts").await;
    assert!(
        hosts.body.contains(r#"href="/admin""#),
        "staff's navigation links the console"
    );
    let hosts = owner.get("/hosts").await;
    assert!(!hosts.body.contains(r#"href="/admin""#), "{}", hosts.body);
}

on_both_backends!(only_staff_reach_the_console);
