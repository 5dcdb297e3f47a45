//! DynDNS's host settings in dyndns2 (`wildcard`, `mx`, `backmx`) and the operator's abuse
//! blocks, end to end on both backends: what each answers, and what DNS then serves.

mod support;

use hickory_server::proto::rr::{RData, RecordType};
use support::http::update;
use support::tenants::{PASS, assert_serves, setup};
use support::{Backend, Server, dns, eventually};

const ALICE: &str = "alice@example.com";

/// The MX records `name` serves, as `preference exchange`.
async fn mx(server: &Server, name: &str) -> Vec<String> {
    let answer = dns::udp(server.dns, name, RecordType::MX).await;
    answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some(format!("{} {}", mx.preference, mx.exchange)),
            _ => None,
        })
        .collect()
}

/// Waits until `name` serves exactly `expected` MX records.
async fn assert_mx(server: &Server, name: &str, expected: &[&str]) {
    let settled = eventually(std::time::Duration::from_secs(3), async || {
        (mx(server, name).await == expected).then_some(())
    })
    .await;
    assert!(
        settled.is_some(),
        "{name} MX should be {expected:?}, is {:?}",
        mx(server, name).await
    );
}

async fn wildcard_mx_and_backmx(backend: Backend) {
    let server = setup(backend).await;
    let alice = async |query: &str| {
        let r = update(
            server.http,
            ALICE,
            PASS,
            &format!("hostname=home.dyn.test&{query}"),
        )
        .await;
        (r.status, r.body)
    };
    // Every plan has them (alice is on the free plan).
    assert_eq!(
        alice("myip=192.0.2.30&wildcard=ON&mx=Mail.Example.com&backmx=NO").await,
        (200, "good 192.0.2.30".into())
    );
    assert_serves(
        &server,
        "any.thing.home.dyn.test",
        RecordType::A,
        &["192.0.2.30"],
    )
    .await;
    assert_mx(&server, "home.dyn.test", &["10 mail.example.com."]).await;
    assert_eq!(
        alice("myip=192.0.2.30&wildcard=on&mx=mail.example.com&backmx=no").await,
        (200, "nochg 192.0.2.30".into())
    );

    // A setting alone is a change. backmx: the host itself first, the MX as a backup.
    assert_eq!(
        alice("myip=192.0.2.30&backmx=YES").await,
        (200, "good 192.0.2.30".into())
    );
    assert_mx(
        &server,
        "home.dyn.test",
        &["10 home.dyn.test.", "20 mail.example.com."],
    )
    .await;

    // NOCHG, empty or absent: as it is.
    assert_eq!(
        alice("myip=192.0.2.30&wildcard=NOCHG&mx=NOCHG&backmx=NOCHG").await,
        (200, "nochg 192.0.2.30".into())
    );
    assert_eq!(
        alice("myip=192.0.2.30&wildcard=&mx=&backmx=").await,
        (200, "nochg 192.0.2.30".into())
    );

    // Malformed values are refused, saying why, and change nothing.
    for (query, why) in [
        (
            "wildcard=maybe",
            "bad wildcard: \"maybe\" is not ON, OFF, YES, NO or NOCHG",
        ),
        (
            "backmx=2",
            "bad backmx: \"2\" is not ON, OFF, YES, NO or NOCHG",
        ),
        (
            "mx=bad_host.example",
            "bad mx: a label has a character other than letters, digits and inner hyphens",
        ),
        ("mx=localhost", "bad mx: the name is not fully qualified"),
    ] {
        let (status, body) = alice(&format!("myip=192.0.2.31&wildcard=OFF&{query}")).await;
        assert_eq!((status, body.as_str()), (400, why), "{query}");
    }
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.30"]).await;
    assert_serves(&server, "x.home.dyn.test", RecordType::A, &["192.0.2.30"]).await;

    // OFF, and `mx=NO` removes the MX.
    assert_eq!(
        alice("myip=192.0.2.30&wildcard=OFF&mx=NO").await,
        (200, "good 192.0.2.30".into())
    );
    assert_mx(&server, "home.dyn.test", &[]).await;
    let gone = eventually(std::time::Duration::from_secs(3), async || {
        let answer = dns::udp(server.dns, "x.home.dyn.test", RecordType::A).await;
        (answer.metadata.response_code == hickory_server::proto::op::ResponseCode::NXDomain)
            .then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "a name under home must not exist once wildcard is OFF"
    );
    // backmx was kept: a new MX is again the backup.
    assert_eq!(
        alice("myip=192.0.2.30&mx=mx2.example.com").await,
        (200, "good 192.0.2.30".into())
    );
    assert_mx(
        &server,
        "home.dyn.test",
        &["10 home.dyn.test.", "20 mx2.example.com."],
    )
    .await;
}

async fn blocked_hosts_and_accounts_answer_abuse(backend: Backend) {
    let server = setup(backend).await;
    let alice = async |password: &str| {
        let query = "hostname=office.dyn.test,home.dyn.test&myip=192.0.2.50";
        let r = update(server.http, ALICE, password, query).await;
        (r.status, r.body)
    };
    server.cli_ok(&["host", "block", "office.dyn.test"]);
    assert_eq!(alice(PASS).await, (200, "abuse\ngood 192.0.2.50".into()));
    assert_serves(&server, "office.dyn.test", RecordType::A, &["198.51.100.1"]).await;
    server.cli_ok(&["host", "unblock", "office.dyn.test"]);
    assert_eq!(
        alice(PASS).await,
        (200, "good 192.0.2.50\nnochg 192.0.2.50".into())
    );

    // A blocked account: every host is `abuse`, nothing changes; credentials still count.
    server.cli_ok(&["account", "block", ALICE]);
    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=office.dyn.test,home.dyn.test&myip=192.0.2.51",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "abuse\nabuse"));
    assert_eq!(alice("wrong password").await, (401, "badauth".into()));
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.50"]).await;
    // Bob's account is not affected.
    let r = update(
        server.http,
        "bob@example.com",
        PASS,
        "hostname=bob.dyn.test&myip=192.0.2.52",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.52");

    server.cli_ok(&[
        "account",
        "activate",
        ALICE,
        "--reason",
        "ticket 42: cleaned up",
    ]);
    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=office.dyn.test&myip=192.0.2.51",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.51");
    // The operator's actions are in the audit log.
    let audited = "SELECT count(*) FROM audit_log WHERE action IN \
                   ('host.block', 'host.unblock', 'account.block', 'account.reactivate')";
    assert_eq!(server.sql(audited), "4");
    assert_eq!(
        server.sql(
            "SELECT actor || '|' || detail FROM audit_log WHERE action = 'account.reactivate'"
        ),
        "cli|ticket 42: cleaned up"
    );
}

on_both_backends!(
    wildcard_mx_and_backmx,
    blocked_hosts_and_accounts_answer_abuse
);
