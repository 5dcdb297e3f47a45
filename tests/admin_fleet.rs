//! The console's fleet page with three real `dyn53 dns` nodes behind `dyn53 web`: it lists
//! each with its revision, lag, readiness and the propagation delay of the latest change;
//! a node killed is shown as stale within 30 seconds while the others stay ready. Also: the
//! registration switch made on one replica holds on another at once.

mod support;

use std::time::{Duration, Instant};

use support::fleet::{Node, Redis, Web, assert_nodes_match_database};
use support::second_factor::signed_in_with_second_factor;
use support::web::{Visitor, csrf};
use support::{add_user_with, eventually, http};

const PASS: &str = "correct horse battery staple";
const STAFF: &str = "staff@example.net";
const USER: &str = "alice@example.com";

/// A node's row on the fleet page: its state and its cells, as text.
fn node_row(page: &str, id: &str) -> Option<(String, Vec<String>)> {
    let start = page.find(&format!(r#"data-node="{id}""#))?;
    let row = &page[start..start + page[start..].find("</tr>")?];
    let state = row
        .split(r#"data-state=""#)
        .nth(1)?
        .split('"')
        .next()?
        .to_owned();
    let cells = row
        .split("<td>")
        .skip(1)
        .map(|c| c.split("</td>").next().unwrap_or("").to_owned())
        .collect();
    Some((state, cells))
}

/// The database's revision as the page states it.
fn page_revision(page: &str) -> u64 {
    page.split(r#"<strong id="revision">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.parse().ok())
        .expect("the page states the revision")
}

async fn staff(web: &Web) -> Visitor {
    add_user_with(&web.storage, STAFF, PASS, &["--staff"]);
    signed_in_with_second_factor(web.http, STAFF, PASS).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_lists_nodes_and_shows_a_dead_one_stale() {
    let redis = Redis::shared();
    let web = Web::start(&redis, &[]).await;
    let key = web.setup_hosts(USER, 3);
    let mut nodes = [
        Node::start(&redis, "node-a").await,
        Node::start(&redis, "node-b").await,
        Node::start(&redis, "node-c").await,
    ];
    assert_nodes_match_database(&web, &nodes.iter().collect::<Vec<_>>()).await;
    let mut staff = staff(&web).await;

    // A change after the nodes started: each applies it as a batch, whose delay is shown.
    let r = http::update(
        web.http,
        USER,
        &key,
        "hostname=h0.dyn.test&myip=198.51.100.7",
    )
    .await;
    assert_eq!(r.body, "good 198.51.100.7");
    let listed = eventually(Duration::from_secs(10), async || {
        let page = staff.get("/admin/fleet").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let revision = page_revision(&page.body);
        let all_current = nodes.iter().all(|node| {
            node_row(&page.body, &node.id).is_some_and(|(state, cells)| {
                // Revision, then lag.
                state == "ready" && cells[1] == revision.to_string() && cells[2] == "0"
            })
        });
        let done = all_current && page.body.contains("Recent propagation delay: <strong>");
        if !done {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        done.then_some(page)
    })
    .await;
    let page = listed.expect("every node listed, ready, at the database's revision, lag 0");
    for node in &nodes {
        let (_, cells) = node_row(&page.body, &node.id).expect("listed");
        assert!(
            cells[5].ends_with(&format!("(revision {})", page_revision(&page.body))),
            "{}: {cells:?}",
            node.id
        );
        assert_eq!(cells[6], node.dns.to_string());
    }

    // Queries to one node show as its rate; the others stay at theirs.
    let busy = eventually(Duration::from_secs(10), async || {
        for _ in 0..20 {
            support::dns::udp(
                nodes[0].dns,
                "h0.dyn.test",
                hickory_server::proto::rr::RecordType::A,
            )
            .await;
        }
        let page = staff.get("/admin/fleet").await;
        let (_, cells) = node_row(&page.body, "node-a")?;
        let qps: f64 = cells[4].parse().ok()?;
        (qps > 0.0).then_some(qps)
    })
    .await;
    assert!(busy.is_some(), "node-a's queries per second rose");

    // One node dies: stale within 30 s; the others stay ready; the dead one is still listed.
    let killed = Instant::now();
    nodes[1].kill();
    let stale = eventually(Duration::from_secs(30), async || {
        let page = staff.get("/admin/fleet").await;
        let (state, _) = node_row(&page.body, "node-b")?;
        if state != "stale" {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        (state == "stale").then_some(page)
    })
    .await;
    let page = stale.expect("the killed node is shown as stale within 30 s");
    assert!(killed.elapsed() < Duration::from_secs(30));
    for id in ["node-a", "node-c"] {
        let (state, _) = node_row(&page.body, id).expect("listed");
        assert_eq!(state, "ready", "{id}: {}", page.body);
    }

    // The zones page shows each live node's serial of the zone, as it answers it.
    let zones = staff.get("/admin/zones").await;
    assert!(zones.body.contains("node-a: "), "{}", zones.body);
    let serial = support::dns::soa_serial(nodes[0].dns, "dyn.test")
        .await
        .expect("SOA");
    assert!(
        zones.body.contains(&format!("node-a: {serial}")),
        "{}",
        zones.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_holds_on_every_replica_at_once() {
    let redis = Redis::shared();
    let first = Web::start(&redis, &[]).await;
    let second = first.replica(&redis).await;
    let mut staff = staff(&first).await;
    let form = staff.get("/admin/registration").await;
    let r = staff
        .post(
            "/admin/registration",
            &[
                ("csrf", &csrf(&form.body)),
                ("mode", "closed"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The very next request to the other replica sees it.
    let page = Visitor::at(second.http).get("/signup").await;
    assert!(
        page.body.contains("Sign-ups are closed just now"),
        "{}",
        page.body
    );
}
