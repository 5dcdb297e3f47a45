//! The console's hosts and audit log, end to end on both backends: host search by name,
//! zone, address and client, in pages; blocking and unblocking with a reason (updates answer
//! `abuse`, DNS serves on), audited; the audit log's filters, pages and CSV export; and a
//! tenant's changes in the account manager and through the API, audited with their actor.

mod support;

use hickory_server::proto::rr::RecordType;
use serde_json::json;
use support::api::Api;
use support::http::{get, update};
use support::second_factor::signed_in_with_second_factor;
use support::tenants::{PASS, assert_serves, setup};
use support::web::{Visitor, csrf, sign_in};
use support::{Backend, Server};

const STAFF: &str = "staff@example.net";
const ALICE: &str = "alice@example.com";

/// A server with the two tenants and a signed-in staff member.
async fn console(backend: Backend) -> (Server, Visitor) {
    let server = setup(backend).await;
    server.add_user_with(STAFF, PASS, &["--staff"]);
    let staff = signed_in_with_second_factor(server.http, STAFF, PASS).await;
    (server, staff)
}

/// The host names a console hosts page lists, in order.
fn listed(page: &str) -> Vec<String> {
    page.split(r#"<input type="hidden" name="name" value=""#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or("").to_owned())
        .collect()
}

/// The link to the next page, if any (`&amp;` as the page writes it).
fn next_link(page: &str) -> Option<String> {
    let end = page.find(r#"" rel="next""#)?;
    let start = page[..end].rfind("href=\"")? + 6;
    let href = &page[start..end];
    Some(
        href.replace("&#x2f;", "/")
            .replace("&#47;", "/")
            .replace("&#38;", "&")
            .replace("&amp;", "&"),
    )
}

async fn search(staff: &mut Visitor, by: &str, q: &str) -> Vec<String> {
    let path = format!(
        "/admin/hosts?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("by", by)
            .append_pair("q", q)
            .finish()
    );
    let page = staff.get(&path).await;
    assert_eq!(page.status, 200, "{path}: {}", page.body);
    listed(&page.body)
}

async fn host_search_and_pages(backend: Backend) {
    let (server, mut staff) = console(backend).await;
    let lines: String = (0..120)
        .map(|i| format!("bulk{i}.other.test bob@example.com 10.0.0.{i}\n"))
        .collect();
    let file = server.storage.data_dir.path().join("import.txt");
    std::fs::write(&file, lines).expect("write import file");
    server.cli_ok(&["host", "import", file.to_str().expect("utf-8 path")]);
    // Clients: alice's home from a router with its own agent, over IPv6.
    let r = get(
        server.http,
        "/nic/update?hostname=home.dyn.test&myip=2001:db8::7",
        Some((ALICE, PASS)),
        Some("FritzBox/7.5 (home)"),
    )
    .await;
    assert_eq!(r.body, "good 2001:db8::7");
    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=office.dyn.test&myip=192.0.2.9",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.9");

    // By name: exact, or the start of one; upper case and a final dot are the same name.
    assert_eq!(
        search(&mut staff, "name", "bulk7.other.test").await,
        ["bulk7.other.test"]
    );
    assert_eq!(
        search(&mut staff, "name", "BULK7.other.test.").await,
        ["bulk7.other.test"]
    );
    let bulk11 = search(&mut staff, "name", "bulk11").await;
    assert_eq!(bulk11.len(), 11, "{bulk11:?}"); // bulk11, bulk110..bulk119
    assert!(bulk11.windows(2).all(|w| w[0] < w[1]), "{bulk11:?}");
    assert!(search(&mut staff, "name", "nothing").await.is_empty());
    // A LIKE wildcard is a character like any other.
    assert!(search(&mut staff, "name", "bulk_").await.is_empty());
    // By zone.
    assert_eq!(
        search(&mut staff, "zone", "dyn.test").await,
        ["bob.dyn.test", "home.dyn.test", "office.dyn.test"]
    );
    // By current address, either family.
    assert_eq!(
        search(&mut staff, "address", "10.0.0.42").await,
        ["bulk42.other.test"]
    );
    assert_eq!(
        search(&mut staff, "address", "2001:db8:0::7").await,
        ["home.dyn.test"]
    );
    assert_eq!(
        search(&mut staff, "address", "192.0.2.9").await,
        ["office.dyn.test"]
    );
    // Only the current address: once the host moves, its old one finds nothing.
    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=office.dyn.test&myip=192.0.2.10",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.10");
    assert!(search(&mut staff, "address", "192.0.2.9").await.is_empty());
    assert_eq!(
        search(&mut staff, "address", "192.0.2.10").await,
        ["office.dyn.test"]
    );
    // The search's table holds every host's addresses as its row does: imported, created
    // and updated alike.
    let differing = server.sql(
        "SELECT count(*) FROM hosts h LEFT JOIN host_addresses a ON a.host_id = h.id \
         WHERE a.host_id IS NULL OR COALESCE(h.ipv4, '') <> COALESCE(a.ipv4, '') \
         OR COALESCE(h.ipv6, '') <> COALESCE(a.ipv6, '')",
    );
    assert_eq!(differing, "0");
    assert_eq!(
        server.sql("SELECT count(*) FROM host_addresses"),
        server.sql("SELECT count(*) FROM hosts")
    );
    // By client: the agent, or its start; the source address.
    assert_eq!(
        search(&mut staff, "agent", "FritzBox").await,
        ["home.dyn.test"]
    );
    assert_eq!(
        search(&mut staff, "agent", "FritzBox/7.5 (home)").await,
        ["home.dyn.test"]
    );
    assert_eq!(
        search(&mut staff, "agent", "dyn53-tests").await,
        ["office.dyn.test"]
    );
    assert_eq!(
        search(&mut staff, "source", "127.0.0.1").await,
        ["home.dyn.test", "office.dyn.test"]
    );
    // A bad address is a clear error, not a failure.
    let page = staff.get("/admin/hosts?by=address&q=10.0.0.999").await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("That is not an IP address."),
        "{}",
        page.body
    );

    // Pages of 50, each after the last of the one before, until all 120 are seen once.
    let mut path = "/admin/hosts?by=zone&q=other.test".to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = staff.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        let names = listed(&page.body);
        assert!(names.len() <= 50);
        seen.extend(names);
        pages += 1;
        match next_link(&page.body) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!((pages, seen.len()), (3, 120), "{seen:?}");
    let mut expected: Vec<String> = (0..120).map(|i| format!("bulk{i}.other.test")).collect();
    expected.sort();
    assert_eq!(seen, expected);
    // An agent search pages by agent, then name.
    for i in 0..60 {
        let r = get(
            server.http,
            &format!("/nic/update?hostname=bulk{i}.other.test&myip=10.1.0.{i}"),
            Some(("bob@example.com", PASS)),
            Some(&format!("agent-{}", i % 3)),
        )
        .await;
        assert!(r.body.starts_with("good"), "{}", r.body);
    }
    let mut path = "/admin/hosts?by=agent&q=agent-".to_owned();
    let mut seen = Vec::new();
    loop {
        let page = staff.get(&path).await;
        seen.extend(listed(&page.body));
        match next_link(&page.body) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(seen.len(), 60, "{seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 60);
}

async fn block_and_unblock(backend: Backend) {
    let (server, mut staff) = console(backend).await;
    let page = staff.get("/admin/hosts?by=name&q=office.dyn.test").await;
    assert!(page.body.contains(">Block</button>"), "{}", page.body);
    let token = csrf(&page.body);
    let block = |reason: &'static str, block: &'static str| {
        [
            ("csrf", token.clone()),
            ("name", "office.dyn.test".to_owned()),
            ("reason", reason.to_owned()),
            ("block", block.to_owned()),
        ]
    };
    let post = async |staff: &mut Visitor, fields: [(&str, String); 4]| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        staff.post("/admin/hosts/block", &fields).await
    };
    let revision = || server.sql("SELECT coalesce(max(revision), 0) FROM outbox");
    let before = revision();

    // No reason: a clear error, and nothing changed.
    let r = post(&mut staff, block("", "1")).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("Give a reason"), "{}", r.body);
    assert_eq!(server.sql("SELECT count(*) FROM blocked_names"), "0");
    let alice = async || {
        update(
            server.http,
            ALICE,
            PASS,
            "hostname=office.dyn.test&myip=192.0.2.60",
        )
        .await
        .body
    };
    assert_eq!(alice().await, "good 192.0.2.60");

    let r = post(&mut staff, block("phishing, \"reported\"", "1")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        server
            .sql("SELECT blocked FROM hosts WHERE name = 'office.dyn.test'")
            .replace("true", "1")
            .replace('t', "1"),
        "1"
    );
    // Updates are refused as the operator's block answers; DNS serves what it served (a
    // block changes nothing served: no new revision).
    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=office.dyn.test&myip=192.0.2.61",
    )
    .await;
    assert_eq!(r.body, "abuse");
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.60"]).await;
    assert_eq!(
        revision(),
        (before.parse::<i64>().expect("a count") + 1).to_string(),
        "only the update before the block published"
    );
    let page = staff.get("/admin/hosts?by=name&q=office.dyn.test").await;
    assert!(page.body.contains(">Unblock</button>"), "{}", page.body);
    assert_eq!(
        server.sql("SELECT actor || ' ' || action || ' ' || detail FROM audit_log WHERE action = 'host.block'"),
        "staff:staff@example.net host.block office.dyn.test: phishing, \"reported\""
    );

    // Unblocking needs a reason too, and restores updates.
    let r = post(&mut staff, block("", "0")).await;
    assert_eq!(r.status, 422);
    assert_eq!(alice().await, "abuse");
    let r = post(&mut staff, block("owner cleaned up", "0")).await;
    assert_eq!(r.status, 303);
    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=office.dyn.test&myip=192.0.2.62",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.62");
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.62"]).await;
    assert_eq!(
        server.sql("SELECT actor || ' ' || detail FROM audit_log WHERE action = 'host.unblock'"),
        "staff:staff@example.net office.dyn.test: owner cleaned up"
    );
}

/// The audit lines a console page shows: (actor, action) of each row.
fn audit_rows(page: &str) -> Vec<(String, String)> {
    page.split("<tr>\n<td>")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("<td>")
                .map(|c| c.split("</td>").next().unwrap_or(""))
                .collect();
            (cells[1].to_owned(), cells[3].to_owned())
        })
        .collect()
}

async fn audit_of_changes_filters_and_csv(backend: Backend) {
    let (server, mut staff) = console(backend).await;
    // alice in the account manager: a new host, then its address.
    let mut alice = Visitor::new(&server);
    assert_eq!(sign_in(&mut alice, ALICE, PASS).await.status, 303);
    let page = alice.get("/hosts").await;
    let r = alice
        .post(
            "/hosts",
            &[
                ("label", "lab"),
                ("zone", "dyn.test"),
                ("csrf", &csrf(&page.body)),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let id = server.sql("SELECT id FROM hosts WHERE name = 'lab.dyn.test'");
    let r = alice
        .post(
            &format!("/hosts/{id}/addresses"),
            &[
                ("ipv4", "192.0.2.80"),
                ("ipv6", ""),
                ("csrf", &csrf(&page.body)),
            ],
        )
        .await;
    assert!(r.body.contains("Saved"), "{}", r.body);
    // bob through the API with a key: a setting.
    let key = Api::new_key(&server, "bob@example.com", &[]);
    let prefix = server.sql("SELECT prefix FROM update_keys WHERE revoked_at IS NULL");
    let (status, body, _) = key
        .send(
            "PATCH",
            "/api/v1/hosts/bob.dyn.test",
            json!({"wildcard": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A device's update is history, not audit.
    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=home.dyn.test&myip=192.0.2.81",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.81");
    // staff: a block.
    let page = staff.get("/admin/hosts?by=name&q=home.dyn.test").await;
    let r = staff
        .post(
            "/admin/hosts/block",
            &[
                ("csrf", &csrf(&page.body)),
                ("name", "home.dyn.test"),
                ("reason", "spam"),
                ("block", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);

    let rows = |page: &str| audit_rows(page);
    let all = staff.get("/admin/audit").await;
    assert_eq!(all.status, 200);
    let all = rows(&all.body);
    let bob_key = format!("key:{prefix}");
    for wanted in [
        (ALICE.to_owned(), "host.create".to_owned()),
        (ALICE.to_owned(), "host.change".to_owned()),
        (bob_key.clone(), "host.change".to_owned()),
        (
            "staff:staff@example.net".to_owned(),
            "host.block".to_owned(),
        ),
    ] {
        assert!(all.contains(&wanted), "{wanted:?} not in {all:?}");
    }
    assert_eq!(
        all.first().map(|r| r.1.as_str()),
        Some("host.block"),
        "newest first"
    );
    let changes = server.sql("SELECT count(*) FROM audit_log WHERE action = 'host.change'");
    assert_eq!(changes, "2", "the device's update is not audited");

    // Each filter narrows to its lines.
    let by_actor = rows(
        &staff
            .get("/admin/audit?actor=alice%40example.com")
            .await
            .body,
    );
    assert!(
        !by_actor.is_empty() && by_actor.iter().all(|r| r.0 == ALICE),
        "{by_actor:?}"
    );
    let by_action = rows(&staff.get("/admin/audit?action=host.change").await.body);
    assert_eq!(by_action.len(), 2, "{by_action:?}");
    let bob = server.sql("SELECT account_id FROM users WHERE email = 'bob@example.com'");
    let by_account = staff.get(&format!("/admin/audit?account={bob}")).await;
    let by_account_rows = rows(&by_account.body);
    let bob_lines = server.sql(&format!(
        "SELECT count(*) FROM audit_log WHERE account_id = {bob}"
    ));
    assert_eq!(by_account_rows.len().to_string(), bob_lines);
    assert!(by_account_rows.contains(&(bob_key.clone(), "host.change".into())));
    assert!(!by_account_rows.iter().any(|r| r.0 == ALICE));
    let future = rows(&staff.get("/admin/audit?from=2999-01-01").await.body);
    assert!(future.is_empty());
    let past = rows(&staff.get("/admin/audit?to=2000-01-01T00%3A00").await.body);
    assert!(past.is_empty());
    let since = rows(
        &staff
            .get("/admin/audit?from=2000-01-01&to=2999-01-01")
            .await
            .body,
    );
    assert_eq!(since.len(), all.len());
    let both = rows(
        &staff
            .get("/admin/audit?actor=alice%40example.com&action=host.create")
            .await
            .body,
    );
    assert_eq!(both, [(ALICE.to_owned(), "host.create".to_owned())]);
    let bad = staff.get("/admin/audit?from=yesterday").await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("From: give a time"), "{}", bad.body);
    let bad = staff.get("/admin/audit?account=bob").await;
    assert_eq!(bad.status, 422);

    // CSV: the filtered lines, quoted, formulas neutralised.
    server.sql(
        "UPDATE audit_log SET detail = '=HYPERLINK(\"x\"), said \"hi\"' \
         WHERE action = 'host.block' RETURNING id",
    );
    let csv = staff.get("/admin/audit.csv?action=host.block").await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-type")
            .unwrap_or("")
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 2, "{}", csv.body);
    assert_eq!(lines[0], "id,at,account,actor,action,detail");
    assert!(
        lines[1]
            .ends_with(r#",staff:staff@example.net,host.block,"'=HYPERLINK(""x""), said ""hi""""#),
        "{}",
        lines[1]
    );
    let csv = staff.get("/admin/audit.csv").await;
    assert_eq!(csv.body.lines().count(), all.len() + 1);
}

async fn audit_pages(backend: Backend) {
    let (server, mut staff) = console(backend).await;
    // 3 lines from the setup's `host add`s (and users), doubled until over two pages.
    for _ in 0..7 {
        server.sql(
            "INSERT INTO audit_log (at, account_id, actor, action, detail) \
             SELECT at, account_id, actor, action, detail FROM audit_log RETURNING id",
        );
    }
    let total: usize = server
        .sql("SELECT count(*) FROM audit_log")
        .parse()
        .expect("a count");
    assert!(total > 200, "{total}");
    let mut path = "/admin/audit".to_owned();
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let page = staff.get(&path).await;
        let rows = audit_rows(&page.body);
        assert!(rows.len() <= 100);
        seen += rows.len();
        pages += 1;
        match next_link(&page.body) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(seen, total);
    assert_eq!(pages, total.div_ceil(100));
}

/// The detail of each line a console page shows.
fn audit_details(page: &str) -> Vec<String> {
    page.split("<tr>\n<td>")
        .skip(1)
        .map(|row| {
            let cell = row.split("<td>").nth(4).unwrap_or("");
            cell.split("</td>").next().unwrap_or("").to_owned()
        })
        .collect()
}

/// Every line a filtered log shows across its pages, following "Older" (at most 100 a page).
async fn all_pages(staff: &mut Visitor, first: &str) -> (Vec<String>, usize) {
    let (mut path, mut seen, mut pages) = (first.to_owned(), Vec::new(), 0);
    loop {
        let page = staff.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        let details = audit_details(&page.body);
        assert!(details.len() <= 100);
        seen.extend(details);
        pages += 1;
        match next_link(&page.body) {
            Some(next) => path = next,
            None => return (seen, pages),
        }
    }
}

/// A time range keeps exactly the lines written from `from` up to `to`, alone or with an
/// action, across pages and in the CSV export (streamed in chunks of 1,000 lines).
async fn audit_time_range_pages(backend: Backend) {
    let (server, mut staff) = console(backend).await;
    // 2,100 lines a minute apart from 2030-01-01 00:00 UTC, written in time order,
    // alternately `test.even` and `test.odd`.
    server.sql("DELETE FROM audit_log RETURNING id");
    let values: Vec<String> = (0..2100)
        .map(|i| {
            format!(
                "('2030-01-{:02}T{:02}:{:02}:00+00:00', NULL, 'cli', 'test.{}', 'line{i}')",
                1 + i / 1440,
                i / 60 % 24,
                i % 60,
                if i % 2 == 0 { "even" } else { "odd" }
            )
        })
        .collect();
    for chunk in values.chunks(500) {
        server.sql(&format!(
            "INSERT INTO audit_log (at, account_id, actor, action, detail) VALUES {} RETURNING id",
            chunk.join(", ")
        ));
    }
    let lines = |range: std::ops::Range<usize>, action: Option<&str>| -> Vec<String> {
        range
            .rev()
            .filter(|i| action.is_none_or(|a| (a == "test.even") == (i % 2 == 0)))
            .map(|i| format!("line{i}"))
            .collect()
    };

    // 01:00 up to 04:30: lines 60..270, three pages; with an action, two.
    let (seen, pages) = all_pages(
        &mut staff,
        "/admin/audit?from=2030-01-01T01%3A00&to=2030-01-01T04%3A30",
    )
    .await;
    assert_eq!((seen.clone(), pages), (lines(60..270, None), 3));
    let (seen, pages) = all_pages(
        &mut staff,
        "/admin/audit?action=test.odd&from=2030-01-01T01%3A00&to=2030-01-01T04%3A30",
    )
    .await;
    assert_eq!((seen.clone(), pages), (lines(60..270, Some("test.odd")), 2));
    // One bound only; seconds; a day alone is its midnight.
    let (seen, _) = all_pages(&mut staff, "/admin/audit?from=2030-01-02T10%3A00%3A00").await;
    assert_eq!(seen, lines(2040..2100, None));
    let (seen, _) = all_pages(&mut staff, "/admin/audit?to=2030-01-01T00%3A30").await;
    assert_eq!(seen, lines(0..30, None));
    let (seen, _) = all_pages(&mut staff, "/admin/audit?action=test.even&to=2030-01-02").await;
    assert_eq!(seen, lines(0..1440, Some("test.even")));
    // A bound between two lines, a range with no line, bounds the wrong way round.
    let (seen, _) = all_pages(
        &mut staff,
        "/admin/audit?from=2030-01-01T00%3A10%3A30&to=2030-01-01T00%3A12%3A30",
    )
    .await;
    assert_eq!(seen, lines(11..13, None));
    for empty in [
        "/admin/audit?from=2031-01-01",
        "/admin/audit?to=2029-12-31",
        "/admin/audit?from=2030-01-01T00%3A10%3A30&to=2030-01-01T00%3A10%3A40",
        "/admin/audit?from=2030-01-01T02%3A00&to=2030-01-01T01%3A00",
    ] {
        assert_eq!(
            all_pages(&mut staff, empty).await,
            (Vec::new(), 1),
            "{empty}"
        );
    }

    // CSV: every line kept, across chunks, once, newest first; a range of exactly two
    // chunks; a range in the middle.
    let details = |csv: &str| -> Vec<String> {
        csv.lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap_or("").to_owned())
            .collect()
    };
    let csv = staff.get("/admin/audit.csv").await;
    assert_eq!(csv.status, 200);
    assert_eq!(
        csv.body.lines().next(),
        Some("id,at,account,actor,action,detail")
    );
    assert_eq!(details(&csv.body), lines(0..2100, None));
    let csv = staff.get("/admin/audit.csv?from=2030-01-01T01%3A40").await;
    assert_eq!(details(&csv.body), lines(100..2100, None));
    let csv = staff
        .get("/admin/audit.csv?action=test.odd&from=2030-01-01T01%3A00&to=2030-01-01T04%3A30")
        .await;
    assert_eq!(details(&csv.body), lines(60..270, Some("test.odd")));
    let csv = staff.get("/admin/audit.csv?from=2031-01-01").await;
    assert_eq!(csv.body, "id,at,account,actor,action,detail\n");
}

/// Non-staff get the site's 404 on every URL here.
async fn only_staff(backend: Backend) {
    let server = setup(backend).await;
    let mut stranger = Visitor::new(&server);
    let mut alice = Visitor::new(&server);
    assert_eq!(sign_in(&mut alice, ALICE, PASS).await.status, 303);
    for v in [&mut stranger, &mut alice] {
        for path in [
            "/admin/hosts",
            "/admin/hosts?by=zone&q=dyn.test",
            "/admin/audit",
            "/admin/audit.csv",
        ] {
            let r = v.get(path).await;
            assert_eq!(r.status, 404, "{path}");
            assert!(!r.body.contains("office.dyn.test"));
        }
        let r = v
            .post(
                "/admin/hosts/block",
                &[
                    ("csrf", "x"),
                    ("name", "office.dyn.test"),
                    ("reason", "x"),
                    ("block", "1"),
                ],
            )
            .await;
        assert_eq!(r.status, 404);
    }
    assert_eq!(server.sql("SELECT count(*) FROM blocked_names"), "0");
}

on_both_backends!(
    host_search_and_pages,
    block_and_unblock,
    audit_of_changes_filters_and_csv,
    audit_pages,
    audit_time_range_pages,
    only_staff
);
