//! The console's dashboard and abuse page, end to end on both backends: the figures after a
//! known sequence of updates (once the statistics are flushed), the refused sources and
//! busiest agents, and the block lists (User-Agents, address ranges) edited at run time,
//! audited, and applied without a restart, in every replica of a fleet within seconds.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use support::api::{Api, problem};
use support::fleet::{Redis, Web};
use support::http::{Response, get};
use support::second_factor::signed_in_with_second_factor;
use support::tenants::{PASS, setup};
use support::web::{Visitor, csrf};
use support::{Backend, eventually};

const STAFF: &str = "staff@example.net";
const ALICE: &str = "alice@example.com";
/// Long enough for a flush (every 3 s) or a reload (every 5 s), with room to spare.
const SOON: Duration = Duration::from_secs(15);

/// The (first cell, second cell) of each row of the table `id` in `page`.
fn rows(page: &str, id: &str) -> Vec<(String, String)> {
    let start = page
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id} in {page}"));
    let table = &page[start..];
    let table = &table[..table.find("</table>").expect("the table ends")];
    let cells = |row: &str| -> Vec<String> {
        row.split("<td>")
            .skip(1)
            .map(|c| c.split("</td>").next().unwrap_or("").to_owned())
            .map(|c| c.replace("&#x2f;", "/").replace("&#47;", "/"))
            .collect()
    };
    table
        .split("<tr>")
        .skip(1)
        .map(cells)
        .filter(|c| c.len() >= 2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

fn row(page: &str, id: &str, first: &str) -> Option<String> {
    rows(page, id)
        .into_iter()
        .find(|(a, _)| a == first)
        .map(|(_, b)| b)
}

/// A dyndns2 update of alice's home with `agent`.
async fn update(http: SocketAddr, pass: &str, query: &str, agent: &str) -> Response {
    get(
        http,
        &format!("/nic/update?hostname=home.dyn.test&{query}"),
        Some((ALICE, pass)),
        Some(agent),
    )
    .await
}

async fn staff_of(http: SocketAddr) -> Visitor {
    signed_in_with_second_factor(http, STAFF, PASS).await
}

/// Posts a block list form from the abuse page.
async fn post(staff: &mut Visitor, action: &str, fields: &[(&str, &str)]) -> Response {
    let page = staff.get("/admin/abuse").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = csrf(&page.body);
    let mut fields = fields.to_vec();
    fields.push(("csrf", &token));
    staff.post(&format!("/admin/abuse/{action}"), &fields).await
}

async fn dashboard_counts_updates_and_abuse_lists_clients(backend: Backend) {
    let server = setup(backend).await;
    server.add_user_with(STAFF, PASS, &["--staff"]);
    let agent = "busy-client/2.0";
    let first = update(server.http, PASS, "myip=192.0.2.10", agent).await;
    assert_eq!(first.body, "good 192.0.2.10");
    let again = update(server.http, PASS, "myip=192.0.2.10", agent).await;
    assert_eq!(again.body, "nochg 192.0.2.10");
    let wrong = update(server.http, "wrong password", "myip=192.0.2.10", agent).await;
    assert_eq!(wrong.body, "badauth");

    let mut staff = staff_of(server.http).await;
    let expected = [
        ("dyndns2 badauth", "1"),
        ("dyndns2 good", "1"),
        ("dyndns2 nochg", "1"),
    ];
    let figures = |page: &str, id: &str| -> Vec<(String, String)> { rows(page, id) };
    let dashboard = eventually(SOON, async || {
        let page = staff.get("/admin").await;
        (figures(&page.body, "hour-figures").len() == expected.len()).then_some(page.body)
    })
    .await
    .expect("the statistics are flushed");
    for id in ["hour-figures", "day-figures"] {
        let got = figures(&dashboard, id);
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        assert_eq!(got, want, "{id}");
    }
    assert!(dashboard.contains("<svg"), "a chart is drawn");
    assert!(
        dashboard.contains("dyndns2 good 1"),
        "the chart's title tells its figures"
    );
    // Accounts, hosts and keys by plan, as the database counts them.
    let accounts = server.sql("SELECT COUNT(*) FROM accounts WHERE plan = 'free'");
    let hosts = server.sql(
        "SELECT COUNT(*) FROM hosts h JOIN accounts a ON a.id = h.account_id WHERE a.plan = 'free'",
    );
    assert_eq!(accounts, "3", "alice, bob and the staff member");
    assert_eq!(hosts, "3");
    let plans = rows(&dashboard, "plans");
    assert_eq!(plans, vec![("free".to_owned(), accounts.clone())]);
    assert!(dashboard.contains("<td>free</td><td>3</td><td>3</td><td>0</td>"));
    let today = server.sql("SELECT CAST(CURRENT_DATE AS TEXT)");
    assert_eq!(
        row(&dashboard, "signups-figures", &today).as_deref(),
        Some("3")
    );

    let abuse = staff.get("/admin/abuse").await;
    assert_eq!(abuse.status, 200);
    assert_eq!(
        row(&abuse.body, "refused-sources", "127.0.0.1").as_deref(),
        Some("1")
    );
    assert_eq!(row(&abuse.body, "agents-hour", agent).as_deref(), Some("3"));
    assert_eq!(row(&abuse.body, "agents-day", agent).as_deref(), Some("3"));
    assert!(
        rows(&abuse.body, "hosts-at-limit")
            .iter()
            .all(|(h, _)| h != "home.dyn.test")
    );
}

async fn hosts_at_the_abuse_limit_are_listed(backend: Backend) {
    let server = support::tenants::setup_with(backend, &[("DYN53_ABUSE_LIMIT", "3/600")]).await;
    server.add_user_with(STAFF, PASS, &["--staff"]);
    for i in 0..3 {
        let r = update(server.http, PASS, &format!("myip=192.0.2.{i}"), "a/1").await;
        assert!(r.body.starts_with("good"), "{}", r.body);
    }
    let over = update(server.http, PASS, "myip=192.0.2.9", "a/1").await;
    assert_eq!(over.body, "abuse");
    let mut staff = staff_of(server.http).await;
    let page = eventually(SOON, async || {
        let page = staff.get("/admin/abuse").await;
        row(&page.body, "hosts-at-limit", "home.dyn.test").map(|n| (n, page.body))
    })
    .await
    .expect("home is listed at the limit (its check-ins are written in the background)");
    assert_eq!(page.0, "3");
    assert!(row(&page.1, "hosts-at-limit", "office.dyn.test").is_none());
}

async fn blocked_agents_and_ranges_apply_at_once_and_are_audited(backend: Backend) {
    let server = setup(backend).await;
    server.add_user_with(STAFF, PASS, &["--staff"]);
    let mut staff = staff_of(server.http).await;
    let audited = |action: &str| {
        server.sql(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE actor = 'staff:{STAFF}' AND action = '{action}'"
        ))
    };

    // A reason is required; nothing is blocked without one.
    let refused = post(
        &mut staff,
        "block",
        &[("kind", "agent"), ("pattern", "Loopy"), ("reason", " ")],
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("Give a reason"), "{}", refused.body);
    assert_eq!(
        update(server.http, PASS, "myip=192.0.2.20", "Loopy/1.0")
            .await
            .body,
        "good 192.0.2.20"
    );

    let blocked = post(
        &mut staff,
        "block",
        &[
            ("kind", "agent"),
            ("pattern", "Loopy"),
            ("reason", "in a loop"),
        ],
    )
    .await;
    assert_eq!(blocked.status, 303, "{}", blocked.body);
    assert_eq!(
        update(server.http, PASS, "myip=192.0.2.21", "my LOOPY client/2")
            .await
            .body,
        "badagent"
    );
    assert_eq!(
        update(server.http, PASS, "myip=192.0.2.21", "other/1")
            .await
            .body,
        "good 192.0.2.21",
        "other agents still update"
    );
    let page = staff.get("/admin/abuse").await;
    assert_eq!(
        row(&page.body, "blocked-agents", "loopy").as_deref(),
        Some("in a loop")
    );
    assert!(page.body.contains(&format!("staff:{STAFF}")));
    assert_eq!(audited("blocklist.add"), "1");

    let unblocked = post(
        &mut staff,
        "unblock",
        &[("kind", "agent"), ("pattern", "loopy")],
    )
    .await;
    assert_eq!(unblocked.status, 303);
    assert_eq!(
        update(server.http, PASS, "myip=192.0.2.22", "Loopy/1.0")
            .await
            .body,
        "good 192.0.2.22"
    );
    assert_eq!(audited("blocklist.remove"), "1");

    // Ranges: a bad one is a form error, nothing stored.
    for bad in ["203.0.113.0/33", "not a range", "2001:db8::/129"] {
        let refused = post(
            &mut staff,
            "block",
            &[("kind", "range"), ("pattern", bad), ("reason", "theirs")],
        )
        .await;
        assert_eq!(refused.status, 422, "{bad}: {}", refused.body);
        assert!(
            refused.body.contains("is not an address range"),
            "{}",
            refused.body
        );
    }
    assert_eq!(server.sql("SELECT COUNT(*) FROM blocklist"), "0");
    for range in ["203.0.113.7/24", "2001:db8:bad::/48"] {
        let blocked = post(
            &mut staff,
            "block",
            &[
                ("kind", "range"),
                ("pattern", range),
                ("reason", "not ours"),
            ],
        )
        .await;
        assert_eq!(blocked.status, 303, "{}", blocked.body);
    }
    let page = staff.get("/admin/abuse").await;
    assert_eq!(
        row(&page.body, "blocked-ranges", "203.0.113.0/24").as_deref(),
        Some("not ours"),
        "stored with its host bits cleared"
    );
    assert_eq!(audited("blocklist.add"), "3");

    let agent = "ok-client/1";
    assert_eq!(
        update(server.http, PASS, "myip=203.0.113.5", agent)
            .await
            .body,
        "abuse"
    );
    assert_eq!(
        update(server.http, PASS, "myip=2001:db8:bad::1", agent)
            .await
            .body,
        "abuse"
    );
    assert_eq!(
        update(server.http, PASS, "myip=203.0.114.5", agent)
            .await
            .body,
        "good 203.0.114.5",
        "just outside the range"
    );
    let api = Api::user(&server, ALICE).await;
    let refused = api
        .send(
            "POST",
            "/api/v1/hosts/home.dyn.test/update",
            json!({"ipv4": "203.0.113.9"}),
        )
        .await;
    assert_eq!(problem(refused), (403, "address_blocked".to_owned()));
    // A host is not created pointing into a range either.
    let refused = api
        .send(
            "POST",
            "/api/v1/hosts",
            json!({"name": "fresh.dyn.test", "ipv6": "2001:db8:bad::9"}),
        )
        .await;
    assert_eq!(problem(refused), (403, "address_blocked".to_owned()));
    assert_eq!(
        server.sql("SELECT COUNT(*) FROM hosts WHERE name = 'fresh.dyn.test'"),
        "0"
    );
    let (status, body, _) = api
        .send(
            "POST",
            "/api/v1/hosts/home.dyn.test/update",
            json!({"ipv4": "198.51.100.200"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server.sql("SELECT ipv4 FROM hosts WHERE name = 'home.dyn.test'"),
        "198.51.100.200",
        "the refused addresses were never stored"
    );

    let unblocked = post(
        &mut staff,
        "unblock",
        &[("kind", "range"), ("pattern", "203.0.113.0/24")],
    )
    .await;
    assert_eq!(unblocked.status, 303);
    assert_eq!(
        update(server.http, PASS, "myip=203.0.113.5", agent)
            .await
            .body,
        "good 203.0.113.5"
    );
    assert_eq!(audited("blocklist.remove"), "2");
}

on_both_backends!(
    dashboard_counts_updates_and_abuse_lists_clients,
    hosts_at_the_abuse_limit_are_listed,
    blocked_agents_and_ranges_apply_at_once_and_are_audited,
);

/// Two replicas on one PostgreSQL database: a block made on one applies on the other
/// within seconds, and so does lifting it.
#[tokio::test(flavor = "multi_thread")]
async fn a_block_reaches_every_replica() {
    let redis = Redis::shared();
    let one = Web::start(&redis, &[]).await;
    let two = one.replica(&redis).await;
    let key = one.setup_hosts(ALICE, 1);
    support::add_user_with(&one.storage, STAFF, PASS, &["--staff"]);
    let update_on = async |web: &Web, agent: &str| {
        get(
            web.http,
            "/nic/update?hostname=h0.dyn.test&myip=192.0.2.50",
            Some((ALICE, &key)),
            Some(agent),
        )
        .await
        .body
    };
    assert_eq!(update_on(&two, "Flood/3").await, "good 192.0.2.50");

    let mut staff = staff_of(one.http).await;
    let blocked = post(
        &mut staff,
        "block",
        &[
            ("kind", "agent"),
            ("pattern", "flood/"),
            ("reason", "a flood"),
        ],
    )
    .await;
    assert_eq!(blocked.status, 303, "{}", blocked.body);
    assert_eq!(update_on(&one, "Flood/3").await, "badagent");
    let applied = eventually(SOON, async || {
        (update_on(&two, "Flood/3").await == "badagent").then_some(())
    })
    .await;
    assert!(applied.is_some(), "the other replica refuses it too");

    let unblocked = post(
        &mut staff,
        "unblock",
        &[("kind", "agent"), ("pattern", "flood/")],
    )
    .await;
    assert_eq!(unblocked.status, 303);
    let lifted = eventually(SOON, async || {
        update_on(&two, "Flood/3")
            .await
            .starts_with("nochg")
            .then_some(())
    })
    .await;
    assert!(lifted.is_some(), "lifted on the other replica too");
}
