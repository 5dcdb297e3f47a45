//! Notifications end to end: webhooks to a local HTTPS receiver, signed and delivered once
//! per event, retried across the receiver's outage with every attempt in the delivery log;
//! nothing for an update that did not commit; a stale host told once per episode, by
//! e-mail; a host over the abuse limit, a login past its wrong passwords' cap and a staff
//! block each told once; subscriptions invisible to another account; bad input refused;
//! two `web` replicas sending each event once, the standby taking over when the sender dies.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::api::Api;
use support::fleet::{PASSWORD, Redis, Web};
use support::hooks::{Received, Receiver};
use support::http::update;
use support::tenants::{PASS, setup_with};
use support::web::{Visitor, csrf, mails, sign_in};
use support::{Backend, Server, break_database, eventually};

const WAIT: Duration = Duration::from_secs(30);

/// A server whose webhooks may reach the receiver on 127.0.0.1, retried after a second.
async fn server_for(backend: Backend, receiver: &Receiver) -> Server {
    let ca = receiver.ca_file.display().to_string();
    setup_with(
        backend,
        &[
            ("DYN53_NOTIFY_ALLOW_PRIVATE", "true"),
            ("DYN53_NOTIFY_CA_FILE", &ca),
            ("DYN53_NOTIFY_RETRY_MIN", "1"),
            ("DYN53_NOTIFY_RETRY_MAX", "2"),
            ("DYN53_NOTIFY_SCAN_INTERVAL", "1"),
        ],
    )
    .await
}

/// Subscribes `api`'s account; the answer's body.
async fn subscribe(api: &Api, body: Value) -> Value {
    let (status, created, _) = api.send("POST", "/api/v1/notifications", body).await;
    assert_eq!(status, 201, "{created}");
    created
}

/// Waits until the receiver has a request whose body says `ipv4` is the new address.
async fn received_change(receiver: &Receiver, ipv4: &str) -> Received {
    eventually(WAIT, async || {
        receiver
            .received()
            .into_iter()
            .find(|r| r.json()["data"]["new"]["ipv4"] == ipv4)
    })
    .await
    .unwrap_or_else(|| panic!("no notification of {ipv4}: {:?}", receiver.received()))
}

async fn deliveries(api: &Api, subscription: &Value) -> Vec<Value> {
    let id = &subscription["subscription"]["id"];
    let (status, log, _) = api
        .get(&format!("/api/v1/notifications/{id}/deliveries"))
        .await;
    assert_eq!(status, 200, "{log}");
    log.as_array().expect("a list").clone()
}

async fn webhooks_are_signed_retried_and_sent_once(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut receiver = Receiver::start(dir.path());
    let server = server_for(backend, &receiver).await;
    let alice = Api::user(&server, "alice@example.com").await;
    let created = subscribe(
        &alice,
        json!({"url": receiver.url(), "events": ["address.changed"]}),
    )
    .await;
    let secret = created["secret"].as_str().expect("a secret, once");
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(created["subscription"]["host"], Value::Null);

    let answer = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=home.dyn.test&myip=203.0.113.5",
    )
    .await;
    assert_eq!(answer.body, "good 203.0.113.5");
    let first = received_change(&receiver, "203.0.113.5").await;
    assert!(first.signed_with(secret), "{first:?}");
    assert!(!first.signed_with("whsec_wrong"));
    assert_eq!(first.event, "address.changed");
    let body = first.json();
    assert_eq!(body["id"], first.event_id.as_str());
    assert_eq!(body["type"], "address.changed");
    assert_eq!(body["host"], "home.dyn.test");
    assert_eq!(body["data"]["old"]["ipv4"], Value::Null);
    assert!(body["data"]["revision"].as_i64().is_some(), "{body}");

    // Updates that commit nothing notify nothing: the same address again, wrong
    // credentials, and an update the database failed.
    let same = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=home.dyn.test&myip=203.0.113.5",
    )
    .await;
    assert_eq!(same.body, "nochg 203.0.113.5");
    let wrong = update(
        server.http,
        "alice@example.com",
        "wrong",
        "hostname=home.dyn.test&myip=203.0.113.66",
    )
    .await;
    assert_eq!(wrong.body, "badauth");
    {
        let _broken = break_database(&server.storage);
        let failed = update(
            server.http,
            "alice@example.com",
            PASS,
            "hostname=home.dyn.test&myip=203.0.113.77",
        )
        .await;
        assert_eq!(failed.body, "911");
    }

    // The receiver is down: the next change is tried, logged as failed, and retried.
    receiver.stop().await;
    // The pool's connections ended with the database's outage: the first may answer 911.
    eventually(WAIT, async || {
        let answer = update(
            server.http,
            "alice@example.com",
            PASS,
            "hostname=office.dyn.test&myip=203.0.113.6",
        )
        .await;
        (answer.body == "good 203.0.113.6").then_some(())
    })
    .await
    .expect("the update is taken once the database is back");
    let failed = eventually(WAIT, async || {
        deliveries(&alice, &created).await.into_iter().find(|d| {
            d["attempts"].as_array().is_some_and(|a| !a.is_empty()) && d["state"] == "pending"
        })
    })
    .await
    .expect("a failed attempt logged");
    assert!(
        failed["attempts"][0]["error"].as_str().is_some(),
        "{failed}"
    );
    receiver.restart();
    let second = received_change(&receiver, "203.0.113.6").await;
    assert!(second.signed_with(secret));
    assert_eq!(second.json()["host"], "office.dyn.test");
    let delivered = eventually(WAIT, async || {
        deliveries(&alice, &created)
            .await
            .into_iter()
            .find(|d| d["event_id"] == second.event_id.as_str() && d["state"] == "delivered")
    })
    .await
    .expect("the retried delivery delivered");
    let attempts = delivered["attempts"].as_array().expect("attempts");
    assert!(attempts.len() >= 2, "{delivered}");
    assert_eq!(attempts.last().expect("the last")["status"], 204);

    // Once delivered, never sent again; the failed update and the nochg sent nothing.
    let received = receiver.received();
    for event in [&first, &second] {
        let copies = received
            .iter()
            .filter(|r| r.event_id == event.event_id)
            .count();
        assert_eq!(copies, 1, "{received:?}");
    }
    assert_eq!(received.len(), 2, "{received:?}");
    let log = deliveries(&alice, &created).await;
    assert_eq!(log.len(), 2, "{log:?}");

    // The account manager's delivery log shows both, and the failed attempt.
    let mut v = Visitor::new(&server);
    sign_in(&mut v, "alice@example.com", PASS).await;
    let page = v.get("/notifications").await;
    assert_eq!(page.status, 200);
    for event in [&first, &second] {
        assert!(page.body.contains(&event.event_id), "{}", page.body);
    }
    assert!(
        page.body.contains("failed: could not connect"),
        "{}",
        page.body
    );
    assert!(page.body.contains("HTTP 204"), "{}", page.body);
    assert!(!page.body.contains(secret), "the secret is shown once only");
}

/// A time `days` ago as an SQL expression of the server's backend (SQLite keeps RFC 3339
/// text).
fn days_ago(server: &Server, days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let at = i64::try_from(now).expect("a time") - days * 86_400;
    if server.storage.pg_database.is_some() {
        format!("to_timestamp({at})")
    } else {
        format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', {at}, 'unixepoch')")
    }
}

/// Sets `name`'s creation and every check-in, its row's and its history's, `days` ago, in
/// the database.
fn backdate(server: &Server, name: &str, days: i64) {
    let at = days_ago(server, days);
    server.sql(&format!(
        "UPDATE hosts SET updated_at = {at}, created_at = {at} WHERE name = '{name}' RETURNING id"
    ));
    server.sql(&format!(
        "UPDATE update_history SET at = {at} \
         WHERE host_id = (SELECT id FROM hosts WHERE name = '{name}') RETURNING id"
    ));
}

/// Mails about `host` going stale.
fn stale_mails(server: &Server, host: &str) -> usize {
    mails(server)
        .iter()
        .filter(|m| {
            m.contains("Subject: A host has not updated")
                && m.contains(&format!("{host} has not updated"))
        })
        .count()
}

async fn a_stale_host_is_told_once_per_episode(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start(dir.path());
    let server = server_for(backend, &receiver).await;
    let alice = Api::user(&server, "alice@example.com").await;
    let created = subscribe(
        &alice,
        json!({"email": "alice@example.com", "events": ["host.stale"], "stale_days": 3}),
    )
    .await;
    assert_eq!(created["secret"], Value::Null);

    backdate(&server, "office.dyn.test", 4);
    eventually(WAIT, async || {
        (stale_mails(&server, "office.dyn.test") == 1).then_some(())
    })
    .await
    .expect("a mail about office");
    // Another host going stale later shows that scans went on; office is not told again.
    backdate(&server, "home.dyn.test", 4);
    eventually(WAIT, async || {
        (stale_mails(&server, "home.dyn.test") == 1).then_some(())
    })
    .await
    .expect("a mail about home");
    assert_eq!(stale_mails(&server, "office.dyn.test"), 1);
    // The mail is written before its attempt is logged.
    let log = eventually(WAIT, async || {
        let log = deliveries(&alice, &created).await;
        log.iter().all(|d| d["state"] == "delivered").then_some(log)
    })
    .await
    .expect("both logged as delivered");
    assert_eq!(log.len(), 2, "{log:?}");

    // Office checks in. Its check-in is written in the background: wait for it, or it
    // would overwrite the dates set after it.
    let recent = format!(
        "SELECT COUNT(*) FROM hosts WHERE name = 'office.dyn.test' AND updated_at > {}",
        days_ago(&server, 1)
    );
    let office_checks_in = async || {
        let answer = update(
            server.http,
            "alice@example.com",
            PASS,
            "hostname=office.dyn.test&myip=198.51.100.1",
        )
        .await;
        assert_eq!(answer.body, "nochg 198.51.100.1");
        eventually(WAIT, async || (server.sql(&recent) == "1").then_some(()))
            .await
            .expect("the check-in written");
    };

    // Updated, then stale again: a new episode, told again.
    office_checks_in().await;
    assert_eq!(deliveries(&alice, &created).await.len(), 2);
    backdate(&server, "office.dyn.test", 5);
    eventually(WAIT, async || {
        (stale_mails(&server, "office.dyn.test") == 2).then_some(())
    })
    .await
    .expect("a second episode told");

    // Seen again, then its row alone made old: a steady client rewrites its row only
    // hourly, and the newest history line says the host was seen. Home going stale again
    // shows that a scan ran meanwhile.
    office_checks_in().await;
    let at = days_ago(&server, 6);
    server.sql(&format!(
        "UPDATE hosts SET updated_at = {at} WHERE name = 'office.dyn.test' RETURNING id"
    ));
    backdate(&server, "home.dyn.test", 6);
    eventually(WAIT, async || {
        (stale_mails(&server, "home.dyn.test") == 2).then_some(())
    })
    .await
    .expect("home's second episode told");
    assert_eq!(stale_mails(&server, "office.dyn.test"), 2);
}

async fn subscriptions_are_the_accounts_own_and_checked(backend: Backend) {
    let server = setup_with(backend, &[]).await;
    let alice = Api::user(&server, "alice@example.com").await;
    let bob = Api::user(&server, "bob@example.com").await;
    let created = subscribe(
        &alice,
        json!({"host": "home.dyn.test", "url": "https://hooks.example.com/dyn53", "events": ["address.changed", "host.stale"]}),
    )
    .await;
    let id = &created["subscription"]["id"];
    assert_eq!(created["subscription"]["host"], "home.dyn.test");
    assert_eq!(
        created["subscription"]["events"],
        json!(["address.changed", "host.stale"])
    );

    // Bob sees none of it.
    let (status, list, _) = bob.get("/api/v1/notifications").await;
    assert_eq!((status, list), (200, json!([])));
    let path = format!("/api/v1/notifications/{id}");
    assert_eq!(
        bob.refused("DELETE", &path, None).await,
        (404, "notification_not_found".into())
    );
    let log = format!("{path}/deliveries");
    assert_eq!(
        bob.refused("GET", &log, None).await,
        (404, "notification_not_found".into())
    );

    // Bad input: refused with what is wrong, nothing made.
    for (body, code) in [
        (
            json!({"url": "http://hooks.example.com/", "events": ["address.changed"]}),
            "invalid_url",
        ),
        (
            json!({"url": "https://127.0.0.1:9/", "events": ["address.changed"]}),
            "invalid_url",
        ),
        (
            json!({"url": "https://[fe80::1]/", "events": ["address.changed"]}),
            "invalid_url",
        ),
        (
            json!({"url": "not a url", "events": ["address.changed"]}),
            "invalid_url",
        ),
        (
            json!({"email": "mallory@example.com", "events": ["host.stale"]}),
            "not_a_member",
        ),
        (
            json!({"email": "alice@example.com", "url": "https://hooks.example.com/", "events": ["host.stale"]}),
            "invalid_target",
        ),
        (
            json!({"email": "alice@example.com", "events": []}),
            "invalid_events",
        ),
        (
            json!({"email": "alice@example.com", "events": ["host.renamed"]}),
            "invalid_events",
        ),
        (
            json!({"email": "alice@example.com", "events": ["host.stale"], "stale_days": 0}),
            "invalid_stale_days",
        ),
        (
            json!({"host": "bob.dyn.test", "email": "alice@example.com", "events": ["host.stale"]}),
            "unknown_host",
        ),
    ] {
        let refused = alice
            .refused("POST", "/api/v1/notifications", Some(body.clone()))
            .await;
        assert_eq!(refused, (422, code.to_owned()), "{body}");
    }
    let (_, list, _) = alice.get("/api/v1/notifications").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    // The same rules on the page: bob neither sees nor removes alice's subscription.
    let mut page_bob = Visitor::new(&server);
    sign_in(&mut page_bob, "bob@example.com", PASS).await;
    let page = page_bob.get("/notifications").await;
    assert!(page.body.contains("No subscriptions yet."), "{}", page.body);
    let csrf_bob = csrf(&page.body);
    let removing = page_bob
        .post(
            &format!("/notifications/{id}/delete"),
            &[("csrf", &csrf_bob)],
        )
        .await;
    assert_eq!(removing.status, 404);
    let refused = page_bob
        .post(
            "/notifications",
            &[
                ("csrf", &csrf_bob),
                ("channel", "webhook"),
                ("url", "http://hooks.example.com/"),
                ("events", "address.changed"),
                ("stale_days", "7"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("starts with https://"),
        "{}",
        refused.body
    );
    let made = page_bob
        .post(
            "/notifications",
            &[
                ("csrf", &csrf_bob),
                ("channel", "webhook"),
                ("url", "https://hooks.example.net/bob"),
                ("host", "bob.dyn.test"),
                ("events", "address.changed"),
                ("events", "host.abuse_blocked"),
                ("stale_days", "7"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    assert!(
        made.body.contains("whsec_"),
        "the secret, once: {}",
        made.body
    );
    let (_, list, _) = bob.get("/api/v1/notifications").await;
    assert_eq!(
        list[0]["events"],
        json!(["address.changed", "host.abuse_blocked"])
    );
    assert_eq!(list[0]["host"], "bob.dyn.test");

    // A member's e-mail subscription goes with the member.
    server.add_user_with(
        "carol@example.com",
        PASS,
        &["--member-of", "alice@example.com", "--role", "viewer"],
    );
    subscribe(
        &alice,
        json!({"email": "carol@example.com", "events": ["host.stale"]}),
    )
    .await;
    let (_, users, _) = alice.get("/api/v1/account/users").await;
    let carol = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["email"] == "carol@example.com"))
        .map(|u| u["id"].clone())
        .expect("carol listed");
    assert_eq!(
        alice
            .delete(&format!("/api/v1/account/users/{carol}"))
            .await
            .0,
        204
    );
    let (_, list, _) = alice.get("/api/v1/notifications").await;
    assert!(
        list.as_array()
            .is_some_and(|l| l.iter().all(|s| s["target"] != "carol@example.com")),
        "{list}"
    );

    // Removing it is the owner's; then it is gone.
    assert_eq!(alice.delete(&path).await.0, 204);
    assert_eq!(
        alice.refused("DELETE", &path, None).await,
        (404, "notification_not_found".into())
    );
}

async fn refusals_and_blocks_are_told_once(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start(dir.path());
    let ca = receiver.ca_file.display().to_string();
    let server = setup_with(
        backend,
        &[
            ("DYN53_NOTIFY_ALLOW_PRIVATE", "true"),
            ("DYN53_NOTIFY_CA_FILE", &ca),
            ("DYN53_ABUSE_LIMIT", "2/600"),
            ("DYN53_GUESS_LIMIT", "3/600"),
        ],
    )
    .await;
    let alice = Api::user(&server, "alice@example.com").await;
    let created = subscribe(
        &alice,
        json!({"url": receiver.url(), "events": ["host.abuse_blocked", "credentials.failing"]}),
    )
    .await;
    let secret = created["secret"].as_str().expect("a secret");

    // Over the abuse limit: refused twice, told once.
    let answers: Vec<String> = update_home_to(
        &server,
        &["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"],
    )
    .await;
    assert_eq!(
        answers,
        ["good 203.0.113.1", "good 203.0.113.2", "abuse", "abuse"]
    );
    // Wrong passwords past the login's cap: told once.
    for _ in 0..5 {
        let wrong = update(
            server.http,
            "alice@example.com",
            "wrong",
            "hostname=office.dyn.test",
        )
        .await;
        assert_eq!(wrong.body, "badauth");
    }
    // Staff block a host: told.
    server.cli_ok(&["host", "block", "office.dyn.test", "--reason", "phishing"]);

    let all = eventually(WAIT, async || {
        let received = receiver.received();
        let staff = received
            .iter()
            .any(|r| r.json()["data"]["reason"] == "staff");
        let credentials = received.iter().any(|r| r.event == "credentials.failing");
        let abuse = received
            .iter()
            .any(|r| r.json()["data"]["reason"] == "abuse_limit");
        (staff && credentials && abuse).then_some(received)
    })
    .await
    .unwrap_or_else(|| panic!("not all told: {:?}", receiver.received()));
    assert!(all.iter().all(|r| r.signed_with(secret)));
    let count = |f: &dyn Fn(&Received) -> bool| all.iter().filter(|r| f(r)).count();
    assert_eq!(
        count(&|r| r.json()["data"]["reason"] == "abuse_limit"),
        1,
        "{all:?}"
    );
    assert_eq!(count(&|r| r.event == "credentials.failing"), 1, "{all:?}");
    let staff: Vec<&Received> = all
        .iter()
        .filter(|r| r.json()["data"]["reason"] == "staff")
        .collect();
    assert_eq!(staff.len(), 1);
    assert_eq!(staff[0].json()["host"], "office.dyn.test");
    assert_eq!(staff[0].json()["data"]["detail"], "phishing");
    let abuse = all
        .iter()
        .find(|r| r.json()["data"]["reason"] == "abuse_limit")
        .expect("abuse");
    assert_eq!(abuse.json()["host"], "home.dyn.test");
    assert_eq!(all.len(), 3, "{all:?}");
}

/// Updates home.dyn.test to each address in turn: the answers.
async fn update_home_to(server: &Server, addresses: &[&str]) -> Vec<String> {
    let mut answers = Vec::new();
    for address in addresses {
        let query = format!("hostname=home.dyn.test&myip={address}");
        answers.push(
            update(server.http, "alice@example.com", PASS, &query)
                .await
                .body,
        );
    }
    answers
}

on_both_backends!(
    refusals_and_blocks_are_told_once,
    webhooks_are_signed_retried_and_sent_once,
    a_stale_host_is_told_once_per_episode,
    subscriptions_are_the_accounts_own_and_checked,
);

/// Two `dyn53 web` replicas on one PostgreSQL database: events from both are sent once
/// each, by the one replica holding the lock; when it dies, the other sends.
#[tokio::test(flavor = "multi_thread")]
async fn one_replica_sends_and_another_takes_over() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start(dir.path());
    let ca = receiver.ca_file.display().to_string();
    let env = [
        ("DYN53_NOTIFY_ALLOW_PRIVATE", "true"),
        ("DYN53_NOTIFY_CA_FILE", ca.as_str()),
    ];
    let redis = Redis::shared();
    let mut first = Web::start(&redis, &env).await;
    let key = first.setup_hosts("fleet@example.com", 2);
    let second = first.replica_with(&redis, &env).await;
    let login = json!({"email": "fleet@example.com", "password": PASSWORD}).to_string();
    let (_, token, _) =
        support::api::call(first.http, "POST", "/api/v1/auth/token", None, Some(&login)).await;
    let api = Api {
        addr: first.http,
        bearer: token["access_token"].as_str().expect("a token").to_owned(),
    };
    let created = subscribe(
        &api,
        json!({"url": receiver.url(), "events": ["address.changed"]}),
    )
    .await;

    for i in 1..=6 {
        let web = if i % 2 == 0 { &first } else { &second };
        let query = format!("hostname=h0.dyn.test&myip=203.0.113.{i}");
        let answer = update(web.http, "fleet@example.com", &key, &query).await;
        assert_eq!(answer.body, format!("good 203.0.113.{i}"));
    }
    received_change(&receiver, "203.0.113.6").await;
    for i in 1..=5 {
        received_change(&receiver, &format!("203.0.113.{i}")).await;
    }
    // Logged as delivered (a sender killed between a request and its log sends it again,
    // under the same event id: at least once).
    eventually(WAIT, async || {
        let log = deliveries(&api, &created).await;
        log.iter().all(|d| d["state"] == "delivered").then_some(())
    })
    .await
    .expect("all logged as delivered");
    // The leader dies; the standby takes the lock and sends what comes next.
    first.kill();
    let answer = update(
        second.http,
        "fleet@example.com",
        &key,
        "hostname=h1.dyn.test&myip=203.0.113.7",
    )
    .await;
    assert_eq!(answer.body, "good 203.0.113.7");
    received_change(&receiver, "203.0.113.7").await;
    let received = receiver.received();
    let mut ids: Vec<&str> = received.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((received.len(), ids.len()), (7, 7), "{received:?}");
}
