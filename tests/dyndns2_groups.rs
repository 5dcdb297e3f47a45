//! No-IP's groups in dyndns2's `hostname` list, end to end on both backends: a group
//! updates all its hosts and is answered on one line, in request order.

mod support;

use hickory_server::proto::rr::RecordType;
use support::Backend;
use support::http::update;
use support::tenants::{PASS, assert_serves, setup};

const ALICE: &str = "alice@example.com";

async fn a_group_updates_its_hosts_on_one_line(backend: Backend) {
    let server = setup(backend).await;
    // A group's name may look like a host name.
    server.cli_ok(&[
        "group",
        "add",
        "Home.Net",
        "--owner",
        ALICE,
        "--hosts",
        "home.dyn.test,office.dyn.test",
    ]);
    server.cli_ok(&["group", "add", "empty", "--owner", ALICE]);
    server.cli_ok(&[
        "group",
        "add",
        "bobs",
        "--owner",
        "bob@example.com",
        "--hosts",
        "bob.dyn.test",
    ]);

    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=home.net,bobs,empty,no_such_group,bad%20name!,office.dyn.test&myip=192.0.2.20",
    )
    .await;
    assert_eq!(r.status, 200);
    // The group changed both; office, named again, is then unchanged. An empty group has
    // no host to update: `nohost`. Another account's group, an unknown one and a name that
    // can be neither a host nor a group are not host names of this account: `notfqdn`, as
    // dyndns2 answers a name that is not fully qualified.
    assert_eq!(
        r.body,
        "good 192.0.2.20\nnotfqdn\nnohost\nnotfqdn\nnotfqdn\nnochg 192.0.2.20"
    );
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.20"]).await;
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.20"]).await;
    assert_serves(&server, "bob.dyn.test", RecordType::A, &["198.51.100.9"]).await;

    // Group names are not case-sensitive; all hosts unchanged: `nochg`.
    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=HOME.NET&myip=192.0.2.20",
    )
    .await;
    assert_eq!(r.body, "nochg 192.0.2.20");
    // One member changes, one does not: the group's line says `good`.
    server.cli_ok(&[
        "group",
        "add",
        "mixed",
        "--owner",
        ALICE,
        "--hosts",
        "home.dyn.test",
    ]);
    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=office.dyn.test,home.net&myip=192.0.2.21",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.21\ngood 192.0.2.21");

    // A key limited to home: the group's line is `nohost` (office is out of the key's
    // reach and unchanged); home, within it, is updated.
    let key = server.cli_ok(&["key", "create", "--user", ALICE, "--hosts", "home.dyn.test"]);
    let r = update(
        server.http,
        ALICE,
        key.trim(),
        "hostname=home.net&myip=192.0.2.22",
    )
    .await;
    assert_eq!(r.body, "nohost");
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.22"]).await;
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.21"]).await;
    let r = update(
        server.http,
        ALICE,
        key.trim(),
        "hostname=mixed&myip=192.0.2.23",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.23");

    // Bob cannot update alice's group, and an unknown group changes nothing.
    let r = update(
        server.http,
        "bob@example.com",
        PASS,
        "hostname=home.net&myip=192.0.2.99",
    )
    .await;
    assert_eq!(r.body, "nohost");
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.23"]).await;
    let history = server.sql("SELECT count(*) FROM update_history WHERE ipv4 = '192.0.2.99'");
    assert_eq!(history, "0");
}

on_both_backends!(a_group_updates_its_hosts_on_one_line);
