//! The limits that keep strangers from hurting an account or the server, end to end on both
//! backends: password checks are bounded (a flood gets "try later", never a queue of
//! 19 MiB runs), a stranger's guesses lock out the stranger and not the owner, guessing from
//! many addresses meets a cap per login that leaves keys working, and the pages that send
//! mail answer alike whether or not the address has an account, are limited per address,
//! and do not fail when the mail server does.

mod support;

use std::net::SocketAddr;

use base64::Engine;
use support::Backend;
use support::http::{AGENT, Response, get, raw};
use support::tenants::{PASS, setup_with};
use support::web::{Visitor, csrf, mails, mails_at_least, sign_in};

const ALICE: &str = "alice@example.com";
const PROXY: (&str, &str) = ("DYN53_TRUSTED_PROXIES", "127.0.0.1/32");

/// A dyndns2 update from `source`, as the trusted proxy on loopback says.
async fn update_from(http: SocketAddr, source: &str, user: &str, pass: &str) -> Response {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let request = format!(
        "GET /nic/update?hostname=home.dyn.test HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\
         Authorization: Basic {basic}\r\nUser-Agent: {AGENT}\r\nX-Forwarded-For: {source}\r\n\r\n"
    );
    raw(http, request.as_bytes()).await.expect("HTTP exchange")
}

/// With no room to wait, password checks beyond the runs going on are answered "try later"
/// at once, in each surface's words, and the server keeps answering.
async fn a_flood_of_password_checks_gets_try_later(backend: Backend) {
    let server = setup_with(backend, &[("DYN53_HASH_QUEUE", "0")]).await;
    let sign_ins: Vec<_> = (0..24)
        .map(|n| {
            let mut v = Visitor::new(&server);
            async move { sign_in(&mut v, &format!("guess{n}@example.com"), "wrong guess!").await }
        })
        .collect();
    let statuses: Vec<u16> = all_at_once(sign_ins)
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert!(
        statuses.iter().all(|s| [401, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "nobody was told to try later: {statuses:?}"
    );

    let updates: Vec<_> = (0..24)
        .map(|n| {
            let http = server.http;
            async move { update_from(http, "192.0.2.1", &format!("u{n}"), "wrong guess!").await }
        })
        .collect();
    let answers: Vec<String> = all_at_once(updates)
        .await
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert!(
        answers.iter().all(|a| a == "badauth" || a == "911"),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|a| a == "911"),
        "nobody got 911: {answers:?}"
    );

    assert_eq!(get(server.http, "/healthz", None, None).await.status, 200);
    // Once the flood is over, the owner is served as ever.
    let r = sign_in(&mut Visitor::new(&server), ALICE, PASS).await;
    assert_eq!(r.status, 303, "{}", r.body);
}

/// Devices of one account that start together with the same password share one argon2id
/// run: even with no room to wait, none of them is told to try later.
async fn devices_sharing_a_password_share_its_check(backend: Backend) {
    let server = setup_with(backend, &[("DYN53_HASH_QUEUE", "0")]).await;
    let updates: Vec<_> = (0..24)
        .map(|_| {
            let http = server.http;
            async move { update_from(http, "192.0.2.1", ALICE, PASS).await }
        })
        .collect();
    let answers: Vec<String> = all_at_once(updates)
        .await
        .into_iter()
        .map(|r| r.body)
        .collect();
    let served = |a: &String| a.starts_with("good") || a.starts_with("nochg");
    assert!(answers.iter().all(served), "{answers:?}");
}

/// Runs the requests at once and gives their answers in order.
async fn all_at_once(
    requests: Vec<impl Future<Output = Response> + Send + 'static>,
) -> Vec<Response> {
    let tasks: Vec<_> = requests.into_iter().map(tokio::spawn).collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("the request task"));
    }
    answers
}

/// Wrong sign-ins are counted per address *and* source: a stranger who guesses locks out
/// the stranger, not the owner signing in from elsewhere. Guessing spread over many
/// sources meets the cap on the address (`DYN53_GUESS_LIMIT`).
async fn a_stranger_cannot_lock_the_owner_out(backend: Backend) {
    let server = setup_with(backend, &[PROXY, ("DYN53_GUESS_LIMIT", "20/900")]).await;
    let mut stranger = Visitor::from_source(&server, "192.0.2.1");
    for _ in 0..10 {
        let r = sign_in(&mut stranger, ALICE, "wrong guess!").await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let r = sign_in(&mut stranger, ALICE, PASS).await;
    assert_eq!(
        r.status, 429,
        "the stranger is held off even with the password"
    );
    let r = sign_in(
        &mut Visitor::from_source(&server, "198.51.100.7"),
        ALICE,
        PASS,
    )
    .await;
    assert_eq!(r.status, 303, "the owner signs in from home: {}", r.body);

    for n in 0..10 {
        let mut v = Visitor::from_source(&server, &format!("203.0.113.{n}"));
        assert_eq!(sign_in(&mut v, ALICE, "wrong guess!").await.status, 401);
    }
    let r = sign_in(
        &mut Visitor::from_source(&server, "198.51.100.8"),
        ALICE,
        PASS,
    )
    .await;
    assert_eq!(r.status, 429, "twenty guesses from anywhere reach the cap");
}

/// Protocol passwords guessed from many sources meet a cap per login; the login's update
/// keys, which cannot be guessed, still work.
async fn protocol_guesses_are_capped_per_login(backend: Backend) {
    let server = setup_with(backend, &[PROXY, ("DYN53_GUESS_LIMIT", "5/900")]).await;
    let key = server.cli_ok(&["key", "create", "--user", ALICE]);
    let key = key.trim();
    let r = update_from(server.http, "198.51.100.7", ALICE, PASS).await;
    assert!(
        r.body.starts_with("good") || r.body.starts_with("nochg"),
        "{}",
        r.body
    );
    for n in 0..5 {
        let r = update_from(
            server.http,
            &format!("203.0.113.{n}"),
            ALICE,
            "wrong guess!",
        )
        .await;
        assert_eq!(r.body, "badauth");
    }
    let r = update_from(server.http, "198.51.100.7", ALICE, PASS).await;
    assert_eq!(
        r.body, "badauth",
        "the password is refused unchecked for a while"
    );
    let r = update_from(server.http, "198.51.100.7", ALICE, key).await;
    assert!(
        r.body.starts_with("nochg"),
        "the key still works: {}",
        r.body
    );
    // Another login is not touched.
    let r = update_from(server.http, "203.0.113.9", "bob@example.com", PASS).await;
    assert_eq!(
        r.body, "nohost",
        "bob's password is checked (home is alice's)"
    );
}

/// With the mail server down, `/forgot` answers the same for a known and an unknown
/// address (it used to fail only for a known one), and an invitation is not a 503.
async fn mail_failures_tell_nothing(backend: Backend) {
    let port = support::fleet::free_port();
    let smtp = format!("smtp://127.0.0.1:{port}");
    let server = setup_with(backend, &[("DYN53_SMTP_URL", &smtp)]).await;
    let forgot = async |email: &str| {
        let mut v = Visitor::new(&server);
        let form = v.get("/forgot").await;
        v.post("/forgot", &[("email", email), ("csrf", &csrf(&form.body))])
            .await
    };
    let (known, unknown) = (forgot(ALICE).await, forgot("nobody@example.com").await);
    assert_eq!((known.status, unknown.status), (200, 200), "{}", known.body);
    assert_eq!(known.body, unknown.body);

    let mut alice = Visitor::new(&server);
    assert_eq!(sign_in(&mut alice, ALICE, PASS).await.status, 303);
    let page = alice.get("/team").await;
    let fields = [
        ("email", "friend@example.com"),
        ("role", "editor"),
        ("csrf", &csrf(&page.body)),
    ];
    let r = alice.post("/team/invite", &fields).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Invitation sent"), "{}", r.body);
}

/// Mail to one address is limited, whoever asks and whether or not it has an account.
async fn mail_is_limited_per_address(backend: Backend) {
    let server = setup_with(backend, &[PROXY]).await;
    let forgot = async |email: &str, source: &str| {
        let mut v = Visitor::from_source(&server, source);
        let form = v.get("/forgot").await;
        v.post("/forgot", &[("email", email), ("csrf", &csrf(&form.body))])
            .await
            .status
    };
    for n in 0..3 {
        assert_eq!(forgot(ALICE, &format!("192.0.2.{n}")).await, 200);
    }
    assert_eq!(forgot(ALICE, "192.0.2.9").await, 429);
    assert_eq!(forgot("nobody@example.com", "192.0.2.9").await, 200);
    assert_eq!(forgot("nobody@example.com", "192.0.2.9").await, 200);
    assert_eq!(forgot("nobody@example.com", "192.0.2.9").await, 200);
    assert_eq!(forgot("nobody@example.com", "192.0.2.9").await, 429);
    assert_eq!(mails_at_least(&server, 3).len(), 3);
    // Nothing more comes for the refused ones.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(mails(&server).len(), 3);
}

on_both_backends!(
    a_flood_of_password_checks_gets_try_later,
    devices_sharing_a_password_share_its_check,
    a_stranger_cannot_lock_the_owner_out,
    protocol_guesses_are_capped_per_login,
    mail_failures_tell_nothing,
    mail_is_limited_per_address,
);
