//! A staff member's day in the console, in headless Chromium on both backends: enrol a
//! second factor and sign in with it, find an account by one of its host names, suspend it
//! (its updates answer `badauth`, its users cannot sign in) and reactivate it, block a
//! User-Agent (the next update with it answers `badagent`, no restart) and a host (its
//! updates answer `abuse`), and read each action in the audit log. Every page passes the
//! page check (axe-core at phone and desktop widths).

mod support;

use support::browser::Browser;
use support::http::{Response, get};
use support::second_factor::{enrol_in_browser, fresh_step};
use support::tenants::{PASS, setup};
use support::web::{Visitor, sign_in};
use support::{Backend, Server};

const STAFF: &str = "staff@example.net";
const STAFF_PASS: &str = "staff's long phrase";
const ALICE: &str = "alice@example.com";

/// A dyndns2 update of alice's office from the device `agent`.
async fn office_update(server: &Server, ip: &str, agent: &str) -> Response {
    get(
        server.http,
        &format!("/nic/update?hostname=office.dyn.test&myip={ip}"),
        Some((ALICE, PASS)),
        Some(agent),
    )
    .await
}

async fn alice_signs_in(server: &Server) -> Option<String> {
    let mut alice = Visitor::new(server);
    let answer = sign_in(&mut alice, ALICE, PASS).await;
    answer.header("location").map(str::to_owned)
}

async fn staff_journey(backend: Backend) {
    let server = setup(backend).await;
    server.add_user_with(STAFF, STAFF_PASS, &["--staff"]);
    let base = format!("http://{}", server.http);
    let mut browser = Browser::start().await;

    // Without a second factor, the console is only its enrolment.
    browser.sign_in(&base, STAFF, STAFF_PASS).await;
    browser.goto(&format!("{base}/admin/accounts")).await;
    assert_eq!(
        browser.current_url().await,
        format!("{base}/account/second-factor")
    );
    let app = enrol_in_browser(&mut browser, &base, "journey").await;

    // Signing in again takes the app's code.
    browser.goto(&format!("{base}/account")).await;
    browser.click_button("Sign out").await;
    browser.sign_in(&base, STAFF, STAFF_PASS).await;
    assert_eq!(browser.current_url().await, format!("{base}/login/code"));
    browser.check_page("journey-code").await;
    fresh_step().await;
    browser.fill("Code", &app.code(0)).await;
    browser.click_button("Sign in").await;

    // The dashboard, then the account of office.dyn.test.
    browser.goto(&format!("{base}/admin")).await;
    browser.check_page("journey-dashboard").await;
    browser.click_link("Accounts").await;
    browser
        .fill(
            "E-mail, login ID, host name or current address",
            "office.dyn.test",
        )
        .await;
    browser.click_button("Search").await;
    browser.check_page("journey-accounts-found").await;
    let alice = server.sql(&format!(
        "SELECT account_id FROM users WHERE email = '{ALICE}'"
    ));
    browser.click_link(&format!("#{alice}")).await;
    assert!(browser.text().await.contains(ALICE));
    browser.check_page("journey-account").await;

    // Suspended: updates answer badauth, and alice cannot sign in.
    assert_eq!(
        office_update(&server, "192.0.2.10", "Router/1.0")
            .await
            .body,
        "good 192.0.2.10"
    );
    browser
        .choose("Suspend (updates answer badauth, no sign-in)")
        .await;
    browser
        .fill("Reason for the status change", "ticket 7: spam host")
        .await;
    browser.click_button("Change status").await;
    assert!(browser.text().await.contains("suspended"));
    browser.check_page("journey-suspended").await;
    assert_eq!(
        office_update(&server, "192.0.2.11", "Router/1.0")
            .await
            .body,
        "badauth"
    );
    assert_ne!(alice_signs_in(&server).await.as_deref(), Some("/hosts"));

    // Reactivated: both work again.
    browser.choose("Reactivate").await;
    browser
        .fill("Reason for the status change", "ticket 7: owner answered")
        .await;
    browser.click_button("Change status").await;
    assert_eq!(
        office_update(&server, "192.0.2.11", "Router/1.0")
            .await
            .body,
        "good 192.0.2.11"
    );
    assert_eq!(alice_signs_in(&server).await.as_deref(), Some("/hosts"));

    // A User-Agent blocked: its next update answers badagent, with no restart.
    browser.click_link("Abuse").await;
    browser.check_page("journey-abuse").await;
    browser.fill("User-Agent containing", "LoopingClient").await;
    browser
        .fill("Reason to block this User-Agent", "updates every second")
        .await;
    browser.click_button("Block this User-Agent").await;
    // Listed as matched: case-insensitively.
    let abuse = browser.text().await;
    assert!(abuse.contains("loopingclient"), "{abuse}");
    browser.check_page("journey-agent-blocked").await;
    assert_eq!(
        office_update(&server, "192.0.2.12", "LoopingClient/2.1")
            .await
            .body,
        "badagent"
    );
    assert_eq!(
        office_update(&server, "192.0.2.12", "Router/1.0")
            .await
            .body,
        "good 192.0.2.12"
    );

    // A host blocked: its updates answer abuse.
    // (The site's own "Hosts" link is the signed-in user's hosts.)
    browser.goto(&format!("{base}/admin/hosts")).await;
    browser.fill("Search for", "office.dyn.test").await;
    browser.click_button("Search").await;
    browser
        .fill("Reason to block office.dyn.test", "phishing")
        .await;
    browser.click_button("Block").await;
    browser.check_page("journey-host-blocked").await;
    assert_eq!(
        office_update(&server, "192.0.2.13", "Router/1.0")
            .await
            .body,
        "abuse"
    );

    // Every action is in the audit log with the staff actor and its reason.
    browser.click_link("Audit log").await;
    browser
        .fill(
            "Actor (e-mail, staff:e-mail, key:prefix, cli)",
            &format!("staff:{STAFF}"),
        )
        .await;
    browser.click_button("Filter").await;
    browser.check_page("journey-audit").await;
    let log = browser.text().await;
    for (action, reason) in [
        ("account.suspend", "ticket 7: spam host"),
        ("account.reactivate", "ticket 7: owner answered"),
        ("blocklist.add", "updates every second"),
        ("host.block", "phishing"),
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(action) && l.contains(&format!("staff:{STAFF}")))
            .unwrap_or_else(|| panic!("{action} by staff is not in the audit log:\n{log}"));
        assert!(line.contains(reason), "{line}");
    }

    // The dashboard counts the journey's updates once they are flushed (every 3 s).
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    browser.click_link("Dashboard").await;
    let dashboard = browser.text().await;
    for line in [
        "dyndns2 good",
        "dyndns2 badauth",
        "dyndns2 badagent",
        "dyndns2 abuse",
    ] {
        assert!(dashboard.contains(line), "{line}:\n{dashboard}");
    }
    browser.check_page("journey-dashboard-figures").await;
}

on_both_backends!(staff_journey);
