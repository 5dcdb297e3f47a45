//! Rexx's `dynamic.cgi` end to end on both backends: every code it answers, with its exact
//! body and status, and nothing changed when it fails.

mod support;

use hickory_server::proto::rr::RecordType;
use support::http::get;
use support::tenants::{PASS, assert_serves, setup};
use support::{Backend, Server};

/// carol (login ID `CarolR`, hosts www (A) and v6 (AAAA only), an update key), a viewer
/// and a suspended user with keys, a user without keys, and bob's own zone with a host.
async fn setup_rexx(backend: Backend) -> (Server, String) {
    let server = setup(backend).await;
    let user = |email: &str, options: &[&str]| server.add_user_with(email, PASS, options);
    user("carol@example.com", &["--login", "CarolR"]);
    user("dave@example.com", &["--login", "dave"]);
    user(
        "vera@example.com",
        &[
            "--login",
            "vera",
            "--member-of",
            "carol@example.com",
            "--role",
            "viewer",
        ],
    );
    user("erin@example.com", &["--login", "erin"]);
    for args in [
        &[
            "host",
            "add",
            "www.dyn.test",
            "--owner",
            "carol@example.com",
            "--ipv4",
            "198.51.100.20",
        ][..],
        &[
            "host",
            "add",
            "v6.dyn.test",
            "--owner",
            "carol@example.com",
            "--ipv6",
            "2001:db8::20",
        ],
        &["zone", "add", "bobzone.test", "--owner", "bob@example.com"],
        &[
            "host",
            "add",
            "mail.bobzone.test",
            "--owner",
            "bob@example.com",
            "--ipv4",
            "198.51.100.30",
        ],
    ] {
        server.cli_ok(args);
    }
    let key = server.cli_ok(&["key", "create", "--user", "carol@example.com"]);
    assert_serves(
        &server,
        "mail.bobzone.test",
        RecordType::A,
        &["198.51.100.30"],
    )
    .await;
    (server, key.trim().to_owned())
}

/// `GET /dynamic.cgi?QUERY`: (status, body).
async fn dynamic(server: &Server, query: &str) -> (u16, String) {
    let r = get(server.http, &format!("/dynamic.cgi?{query}"), None, None).await;
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    (r.status, r.body)
}

async fn dynamic_cgi_codes(backend: Backend) {
    let (server, key) = setup_rexx(backend).await;
    let carol = |host: &str, ip: &str| format!("host={host}&ip={ip}&user=CarolR&password={key}");
    let ok = (200, "OK".to_owned());

    assert_eq!(
        dynamic(&server, &carol("www.dyn.test", "192.0.2.70")).await,
        ok
    );
    assert_serves(&server, "www.dyn.test", RecordType::A, &["192.0.2.70"]).await;
    // Unchanged is `OK` too; names are not case-sensitive; the e-mail also logs in.
    assert_eq!(
        dynamic(&server, &carol("WWW.dyn.test", "192.0.2.70")).await,
        ok
    );
    let by_email = format!("host=www.dyn.test&ip=192.0.2.71&user=carol@example.com&password={key}");
    assert_eq!(dynamic(&server, &by_email).await, ok);
    // No `ip`: the caller's address.
    let no_ip = format!("host=www.dyn.test&user=CarolR&password={key}");
    assert_eq!(dynamic(&server, &no_ip).await, ok);
    assert_serves(&server, "www.dyn.test", RecordType::A, &["127.0.0.1"]).await;
    assert_eq!(
        dynamic(&server, &carol("v6.dyn.test", "2001:db8::70")).await,
        ok
    );
    assert_serves(&server, "v6.dyn.test", RecordType::AAAA, &["2001:db8::70"]).await;

    let failures = [
        // A record type the host does not have.
        (carol("v6.dyn.test", "192.0.2.72"), 404, "NF_HOST v6.dyn.test A"),
        (carol("www.dyn.test", "2001:db8::72"), 404, "NF_HOST www.dyn.test AAAA"),
        // No such host, another account's host in a shared zone, not a host name.
        (carol("nothere.dyn.test", "192.0.2.72"), 404, "NF_HOST nothere.dyn.test A"),
        (carol("bob.dyn.test", "192.0.2.72"), 404, "NF_HOST bob.dyn.test A"),
        (carol("bad_name.dyn.test", "192.0.2.72"), 404, "NF_HOST bad_name.dyn.test A"),
        // Another account's own zone, and a zone that is not the service's.
        (carol("mail.bobzone.test", "192.0.2.72"), 403, "OS_DOMAIN"),
        (carol("www.example.org", "192.0.2.72"), 403, "OS_DOMAIN"),
        // Missing operands, in order; empty counts as missing.
        (format!("ip=192.0.2.72&user=CarolR&password={key}"), 400, "MO_HOST"),
        (format!("host=&user=CarolR&password={key}"), 400, "MO_HOST"),
        ("host=www.dyn.test&password=x".into(), 400, "MO_USER"),
        ("host=www.dyn.test&user=CarolR".into(), 400, "MO_PWD"),
        // Login IDs are case-sensitive.
        (format!("host=www.dyn.test&ip=192.0.2.72&user=carolr&password={key}"), 401, "NF_USR"),
        ("host=www.dyn.test&ip=192.0.2.72&user=dave&password=anything".into(), 401, "NF_KEY"),
        // Another key, or the account password (never accepted here): out of date.
        (
            "host=www.dyn.test&ip=192.0.2.72&user=CarolR&password=dyn53_00000000000000000000000000000000".into(),
            401,
            "OD_KEY",
        ),
        (
            format!("host=www.dyn.test&ip=192.0.2.72&user=CarolR&password={}", PASS.replace(' ', "%20")),
            401,
            "OD_KEY",
        ),
        (carol("www.dyn.test", "192.0.2.999"), 400, "BAD_IP"),
    ];
    for (query, status, body) in &failures {
        assert_eq!(
            dynamic(&server, query).await,
            (*status, (*body).to_owned()),
            "{query}"
        );
    }

    // A viewer may not change DNS; a suspended account is inactive; both with their own keys.
    let vera = server.cli_ok(&["key", "create", "--user", "vera@example.com"]);
    let query = format!(
        "host=www.dyn.test&ip=192.0.2.73&user=vera&password={}",
        vera.trim()
    );
    assert_eq!(dynamic(&server, &query).await, (403, "NP_USR".into()));
    let erin = server.cli_ok(&["key", "create", "--user", "erin@example.com"]);
    server.cli_ok(&["account", "suspend", "erin@example.com"]);
    let query = format!(
        "host=www.dyn.test&ip=192.0.2.73&user=erin&password={}",
        erin.trim()
    );
    assert_eq!(dynamic(&server, &query).await, (403, "IA_ACCT".into()));
    // A host the operator blocked: not permitted, 429.
    server.cli_ok(&["host", "block", "www.dyn.test"]);
    assert_eq!(
        dynamic(&server, &carol("www.dyn.test", "192.0.2.74")).await,
        (429, "NP_USR".into())
    );

    // Nothing failed changed anything: the last OKs are what DNS serves, and the history
    // holds only the five accepted updates.
    assert_serves(&server, "www.dyn.test", RecordType::A, &["127.0.0.1"]).await;
    assert_serves(&server, "v6.dyn.test", RecordType::A, &[]).await;
    assert_serves(&server, "v6.dyn.test", RecordType::AAAA, &["2001:db8::70"]).await;
    assert_serves(&server, "bob.dyn.test", RecordType::A, &["198.51.100.9"]).await;
    assert_serves(
        &server,
        "mail.bobzone.test",
        RecordType::A,
        &["198.51.100.30"],
    )
    .await;
    let rexx = "SELECT count(*) FROM update_history WHERE protocol = 'rexx'";
    let counted = support::eventually(std::time::Duration::from_secs(3), async || {
        (server.sql(rexx) == "5").then_some(())
    })
    .await;
    assert!(counted.is_some(), "history: {}", server.sql(rexx));

    let r = get(server.http, "/checkip.cgi", None, None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "127.0.0.1"));
}

/// With the database down: 503 `TRY_LATER`, with `Retry-After`, and DNS keeps its data.
async fn database_down_is_try_later(backend: Backend) {
    let (server, key) = setup_rexx(backend).await;
    let _broken = support::break_database(&server.storage);
    let query = format!("/dynamic.cgi?host=www.dyn.test&ip=192.0.2.75&user=CarolR&password={key}");
    let r = get(server.http, &query, None, None).await;
    assert_eq!((r.status, r.body.as_str()), (503, "TRY_LATER"));
    assert!(r.header("retry-after").is_some());
    assert_serves(&server, "www.dyn.test", RecordType::A, &["198.51.100.20"]).await;
}

/// Only the account owning a zone may have hosts in it.
async fn own_zones_keep_other_accounts_out(backend: Backend) {
    let (server, _) = setup_rexx(backend).await;
    let out = server.cli(&[
        "host",
        "add",
        "x.bobzone.test",
        "--owner",
        "alice@example.com",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another account's own zone"));
    let zones = server.cli_ok(&["zone", "list"]);
    assert!(zones.contains("bobzone.test\town\t"), "{zones}");
    assert!(zones.contains("dyn.test\tshared\t"), "{zones}");
}

on_both_backends!(
    dynamic_cgi_codes,
    database_down_is_try_later,
    own_zones_keep_other_accounts_out
);
