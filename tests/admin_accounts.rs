//! The console's accounts, end to end on both backends: search by each key, pages that walk
//! every account once, an account's page without secrets, plan and status changes with a
//! required, audited reason and their effects on updates and sign-in, and the read-only
//! "view as this account".

mod support;

use std::collections::BTreeSet;

use support::browser::Browser;
use support::http::update;
use support::second_factor::{enrol_in_browser, signed_in_with_second_factor};
use support::tenants::{PASS, setup};
use support::web::{Visitor, csrf, sign_in};
use support::{Backend, Server};

const STAFF: &str = "staff@example.net";

/// The account id of the user `email`.
fn account_of(server: &Server, email: &str) -> String {
    server.sql(&format!(
        "SELECT account_id FROM users WHERE email = '{email}'"
    ))
}

/// A signed-in staff member, and the CSRF token of their session.
async fn staff(server: &Server) -> (Visitor, String) {
    server.add_user_with(STAFF, PASS, &["--staff"]);
    let mut v = signed_in_with_second_factor(server.http, STAFF, PASS).await;
    let token = csrf(&v.get("/hosts").await.body);
    (v, token)
}

async fn signed_in(server: &Server, email: &str) -> (Visitor, String) {
    let mut v = Visitor::new(server);
    assert_eq!(sign_in(&mut v, email, PASS).await.status, 303, "{email}");
    let page = v.get("/hosts").await;
    let token = csrf(&page.body);
    (v, token)
}

/// The account ids a console page links to, in order.
fn linked_accounts(body: &str) -> Vec<String> {
    body.split("href=\"/admin/accounts/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The audit rows of `action` about `account`, as "actor|detail".
fn audited(server: &Server, account: &str, action: &str) -> String {
    server.sql(&format!(
        "SELECT actor || '|' || detail FROM audit_log \
         WHERE account_id = {account} AND action = '{action}' ORDER BY id DESC LIMIT 1"
    ))
}

async fn search_finds_by_each_key(backend: Backend) {
    let server = setup(backend).await;
    server.add_user_with("carol@example.com", PASS, &["--login", "carol-id"]);
    let alice = account_of(&server, "alice@example.com");
    let bob = account_of(&server, "bob@example.com");
    let carol = account_of(&server, "carol@example.com");
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=home.dyn.test&myip=2001:db8::5",
    )
    .await;
    assert!(r.body.starts_with("good"), "{}", r.body);
    let (mut v, _) = staff(&server).await;

    for (query, found) in [
        ("alice@example.com", &alice),
        ("  Alice@Example.COM ", &alice),
        ("carol-id", &carol),
        ("bob.dyn.test", &bob),
        ("BOB.dyn.test", &bob),
        ("198.51.100.1", &alice),
        ("198.51.100.9", &bob),
        ("2001:db8::5", &alice),
        ("2001:0db8:0:0::5", &alice),
    ] {
        let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
        let page = v.get(&format!("/admin/accounts?q={q}")).await;
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        assert_eq!(linked_accounts(&page.body), vec![found.clone()], "{query}");
    }
    for nothing in ["nobody@example.com", "198.51.100.2", "home", "alice"] {
        let page = v.get(&format!("/admin/accounts?q={nothing}")).await;
        assert_eq!(page.status, 200, "{nothing}: {}", page.body);
        assert!(linked_accounts(&page.body).is_empty(), "{nothing}");
        assert!(page.body.contains("No account matches"), "{}", page.body);
    }
    // An empty box lists every account, with its owner and host count.
    let all = v.get("/admin/accounts?q=").await;
    let listed = linked_accounts(&all.body);
    for id in [&alice, &bob, &carol] {
        assert!(listed.contains(id), "{id} in {listed:?}");
    }
    assert!(all.body.contains("alice@example.com"), "{}", all.body);
}

async fn pages_walk_every_account_once(backend: Backend) {
    let server = setup(backend).await;
    server.sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120) \
         INSERT INTO accounts (plan, status, created_at) \
         SELECT 'free', 'active', (SELECT MIN(created_at) FROM accounts) FROM n",
    );
    let (mut v, _) = staff(&server).await;
    let total: usize = server
        .sql("SELECT COUNT(*) FROM accounts")
        .parse()
        .expect("a count");
    assert!(total > 120, "{total}");

    let mut seen: Vec<i64> = Vec::new();
    let mut next = Some("/admin/accounts".to_owned());
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        let page = v.get(&url).await;
        assert_eq!(page.status, 200, "{url}: {}", page.body);
        let ids = linked_accounts(&page.body);
        assert!(ids.len() <= 50, "{url}: {} accounts", ids.len());
        seen.extend(ids.iter().map(|id| id.parse::<i64>().expect("an id")));
        next = page.body.split_once("\">Next page</a>").map(|(before, _)| {
            let link = before.rsplit("<a href=\"").next().unwrap_or_default();
            link.replace("&amp;", "&")
        });
        assert!(pages <= 10, "the pages never end");
    }
    assert_eq!(pages, total.div_ceil(50), "{seen:?}");
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "an account repeated: {seen:?}");
    assert_eq!(seen.len(), total, "an account skipped");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "by id: {seen:?}");

    // A page past the end is empty, not an error; a bad cursor is the console's 400.
    let past = v
        .get(&format!("/admin/accounts?after={}", seen[seen.len() - 1]))
        .await;
    assert_eq!(past.status, 200);
    assert!(linked_accounts(&past.body).is_empty());
    assert!(!past.body.contains("Next page"));
    let bad = v.get("/admin/accounts?after=x").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

async fn account_page_shows_no_secrets(backend: Backend) {
    let server = setup(backend).await;
    let secret = server
        .cli_ok(&[
            "key",
            "create",
            "--user",
            "alice@example.com",
            "--name",
            "router",
        ])
        .trim()
        .to_owned();
    let alice = account_of(&server, "alice@example.com");
    let digest = server.sql(&format!(
        "SELECT digest FROM update_keys WHERE account_id = {alice}"
    ));
    let prefix = server.sql(&format!(
        "SELECT prefix FROM update_keys WHERE account_id = {alice}"
    ));
    let (mut v, _) = staff(&server).await;
    let page = v.get(&format!("/admin/accounts/{alice}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in [
        "alice@example.com",
        "home.dyn.test",
        "office.dyn.test",
        "198.51.100.1",
        "router",
        &prefix,
        "free",
        "active",
    ] {
        assert!(page.body.contains(shown), "{shown} missing: {}", page.body);
    }
    assert!(!page.body.contains(&secret), "the key's secret is shown");
    assert!(!page.body.contains(&digest), "the key's digest is shown");
    assert!(
        !page.body.contains("bob.dyn.test"),
        "another account's host"
    );

    let unknown = v.get("/admin/accounts/987654").await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(
        unknown
            .body
            .contains("There is no page at /admin/accounts/987654"),
        "{}",
        unknown.body
    );
    let post = v
        .post(
            "/admin/accounts/987654/status",
            &[
                ("csrf", &csrf(&page.body)),
                ("status", "suspended"),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(post.status, 404, "{}", post.body);
}

async fn suspend_block_and_reactivate(backend: Backend) {
    let server = setup(backend).await;
    let alice = account_of(&server, "alice@example.com");
    let (mut tenant, _) = signed_in(&server, "alice@example.com").await;
    let (mut v, token) = staff(&server).await;
    let status_url = format!("/admin/accounts/{alice}/status");
    let status = || server.sql(&format!("SELECT status FROM accounts WHERE id = {alice}"));
    let home = |ip: &'static str| format!("hostname=home.dyn.test&myip={ip}");

    // No reason: a clear error, and nothing changed or audited.
    for reason in ["", "   "] {
        let r = v
            .post(
                &status_url,
                &[
                    ("csrf", &token),
                    ("status", "suspended"),
                    ("reason", reason),
                ],
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("Give a reason"), "{}", r.body);
        assert_eq!(status(), "active");
    }
    let r = v
        .post(
            &status_url,
            &[("csrf", &token), ("status", "gone"), ("reason", "x")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(status(), "active");
    assert_eq!(audited(&server, &alice, "account.suspend"), "");

    let r = v
        .post(
            &status_url,
            &[
                ("csrf", &token),
                ("status", "suspended"),
                ("reason", "chargeback"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(status(), "suspended");
    assert_eq!(
        audited(&server, &alice, "account.suspend"),
        "staff:staff@example.net|active → suspended: chargeback"
    );
    let r = update(server.http, "alice@example.com", PASS, &home("192.0.2.7")).await;
    assert_eq!(r.body.trim(), "badauth");
    assert_eq!(
        tenant.get("/hosts").await.status,
        403,
        "the session goes on"
    );
    let mut again = Visitor::new(&server);
    assert_ne!(
        sign_in(&mut again, "alice@example.com", PASS).await.status,
        303
    );
    let page = v.get(&format!("/admin/accounts/{alice}")).await;
    assert!(
        page.body.contains("chargeback"),
        "the page shows the audit line"
    );

    let r = v
        .post(
            &status_url,
            &[("csrf", &token), ("status", "blocked"), ("reason", "spam")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        audited(&server, &alice, "account.block"),
        "staff:staff@example.net|suspended → blocked: spam"
    );
    let r = update(server.http, "alice@example.com", PASS, &home("192.0.2.8")).await;
    assert_eq!(r.body.trim(), "abuse");

    let r = v
        .post(
            &status_url,
            &[("csrf", &token), ("status", "active"), ("reason", "paid")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(status(), "active");
    assert_eq!(
        audited(&server, &alice, "account.reactivate"),
        "staff:staff@example.net|blocked → active: paid"
    );
    let r = update(server.http, "alice@example.com", PASS, &home("192.0.2.9")).await;
    assert_eq!(r.body.trim(), "good 192.0.2.9");
    assert_eq!(
        tenant.get("/hosts").await.status,
        200,
        "the session is back"
    );
    let mut again = Visitor::new(&server);
    assert_eq!(
        sign_in(&mut again, "alice@example.com", PASS).await.status,
        303
    );
}

async fn plan_changes_are_audited(backend: Backend) {
    let server = setup(backend).await;
    let alice = account_of(&server, "alice@example.com");
    let (mut v, token) = staff(&server).await;
    let plan_url = format!("/admin/accounts/{alice}/plan");
    let plan = || server.sql(&format!("SELECT plan FROM accounts WHERE id = {alice}"));

    let r = v
        .post(
            &plan_url,
            &[("csrf", &token), ("plan", "premium"), ("reason", "")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(plan(), "free");
    let r = v
        .post(
            &plan_url,
            &[("csrf", &token), ("plan", "gold"), ("reason", "x")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(plan(), "free");
    assert_eq!(audited(&server, &alice, "account.plan"), "");

    let r = v
        .post(
            &plan_url,
            &[("csrf", &token), ("plan", "premium"), ("reason", "upgrade")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(plan(), "premium");
    assert_eq!(
        audited(&server, &alice, "account.plan"),
        "staff:staff@example.net|free → premium: upgrade"
    );
    // Over the free plan's 5 hosts, then back to free: the hosts stay, and the page says so.
    for label in ["h3", "h4", "h5", "h6"] {
        server.cli_ok(&[
            "host",
            "add",
            &format!("{label}.dyn.test"),
            "--owner",
            "alice@example.com",
        ]);
    }
    let r = v
        .post(
            &plan_url,
            &[("csrf", &token), ("plan", "free"), ("reason", "unpaid")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(plan(), "free");
    let hosts = server.sql(&format!(
        "SELECT COUNT(*) FROM hosts WHERE account_id = {alice}"
    ));
    assert_eq!(hosts, "6");
    let page = v.get(&format!("/admin/accounts/{alice}")).await;
    assert!(
        page.body
            .contains("This account has 6 hosts, more than its plan's 5: they are kept"),
        "{}",
        page.body
    );
}

async fn view_as_is_read_only(backend: Backend) {
    let server = setup(backend).await;
    let alice = account_of(&server, "alice@example.com");
    let (mut v, token) = staff(&server).await;
    server.cli_ok(&["host", "add", "staffs-own.dyn.test", "--owner", STAFF]);
    let hosts_of_alice = || {
        server.sql(&format!(
            "SELECT COUNT(*) FROM hosts WHERE account_id = {alice}"
        ))
    };

    // A tenant cannot start it: the console is a 404 to them.
    let (mut tenant, tenant_token) = signed_in(&server, "bob@example.com").await;
    let r = tenant
        .post(
            &format!("/admin/accounts/{alice}/view-as"),
            &[("csrf", &tenant_token)],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let own = tenant.get("/hosts").await;
    assert!(own.body.contains("bob.dyn.test") && !own.body.contains("home.dyn.test"));

    let r = v
        .post(
            &format!("/admin/accounts/{alice}/view-as"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!((r.status, r.header("location")), (303, Some("/hosts")));
    assert_eq!(
        audited(&server, &alice, "account.view_as"),
        "staff:staff@example.net|read only"
    );
    let banner = "Viewing alice@example.com as staff — read only";
    let hosts = v.get("/hosts").await;
    assert_eq!(hosts.status, 200, "{}", hosts.body);
    assert!(hosts.body.contains(banner), "{}", hosts.body);
    assert!(hosts.body.contains("home.dyn.test") && hosts.body.contains("office.dyn.test"));
    assert!(
        !hosts.body.contains("staffs-own.dyn.test"),
        "the staff's own hosts"
    );
    let home = server.sql("SELECT id FROM hosts WHERE name = 'home.dyn.test'");
    for path in [
        format!("/hosts/{home}"),
        "/groups".into(),
        "/keys".into(),
        "/team".into(),
        "/account".into(),
    ] {
        let page = v.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains(banner), "{path}: no banner");
    }

    // Every form is refused and changes nothing.
    for (path, fields) in [
        (
            "/hosts".to_owned(),
            vec![("label", "new"), ("zone", "dyn.test")],
        ),
        (format!("/hosts/{home}/delete"), vec![]),
        ("/keys".to_owned(), vec![("name", "sneaky")]),
        ("/groups".to_owned(), vec![("name", "sneaky")]),
        ("/logout".to_owned(), vec![]),
    ] {
        let mut form = vec![("csrf", token.as_str())];
        form.extend(fields);
        let r = v.post(&path, &form).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(
            r.body.contains("Read only: viewing as staff"),
            "{path}: {}",
            r.body
        );
    }
    assert_eq!(hosts_of_alice(), "2");
    assert_eq!(
        server.sql(&format!(
            "SELECT COUNT(*) FROM update_keys WHERE account_id = {alice}"
        )),
        "0"
    );
    assert_eq!(
        server.sql(&format!(
            "SELECT COUNT(*) FROM groups WHERE account_id = {alice}"
        )),
        "0"
    );
    // The REST API is not reached with the session.
    let api = v.get("/api/v1/hosts").await;
    assert_eq!(api.status, 401, "{}", api.body);

    let r = v.post("/admin/view-as/stop", &[("csrf", &token)]).await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some(format!("/admin/accounts/{alice}").as_str()))
    );
    let own = v.get("/hosts").await;
    assert!(!own.body.contains(banner), "{}", own.body);
    assert!(own.body.contains("staffs-own.dyn.test"), "{}", own.body);
    assert!(!own.body.contains("home.dyn.test"));
}

/// The section's pages in headless Chromium: each passes the page check (axe-core, phone and
/// desktop widths), found and reached the way staff would.
async fn pages_in_a_browser(backend: Backend) {
    let server = setup(backend).await;
    server.cli_ok(&[
        "key",
        "create",
        "--user",
        "alice@example.com",
        "--name",
        "router",
    ]);
    server.add_user_with(STAFF, PASS, &["--staff"]);
    let base = format!("http://{}", server.http);
    let mut browser = Browser::start().await;
    browser.sign_in(&base, STAFF, PASS).await;
    enrol_in_browser(&mut browser, &base, "admin-accounts").await;

    browser.goto(&format!("{base}/admin/accounts")).await;
    browser.check_page("admin-accounts").await;
    browser
        .fill(
            "E-mail, login ID, host name or current address",
            "office.dyn.test",
        )
        .await;
    browser.click_button("Search").await;
    let alice = account_of(&server, "alice@example.com");
    browser.click_link(&format!("#{alice}")).await;
    assert!(browser.text().await.contains("office.dyn.test"));
    browser.check_page("admin-account").await;
    browser
        .click_button("View as this account (read only)")
        .await;
    assert_eq!(browser.current_url().await, format!("{base}/hosts"));
    assert!(browser.text().await.contains("as staff — read only"));
    browser.check_page("admin-view-as").await;
    browser.click_button("Stop viewing").await;
    assert_eq!(
        browser.current_url().await,
        format!("{base}/admin/accounts/{alice}")
    );
}

on_both_backends!(
    pages_in_a_browser,
    search_finds_by_each_key,
    pages_walk_every_account_once,
    account_page_shows_no_secrets,
    suspend_block_and_reactivate,
    plan_changes_are_audited,
    view_as_is_read_only,
);
