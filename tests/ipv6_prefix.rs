//! IPv6 hosts that follow the router's prefix, end to end on both backends: a Fritz!Box-style
//! update moves every following host in DNS in one revision; the interface identifiers are
//! set in the pages and the API; a bad prefix or identifier is refused and changes nothing;
//! a host-limited key and another account move only what they may.

mod support;

use hickory_server::proto::rr::RecordType;
use serde_json::json;
use support::api::Api;
use support::http::update;
use support::tenants::{PASS, assert_serves, setup};
use support::web::{Visitor, csrf, sign_in};
use support::{Backend, Server, dns};

const ALICE: &str = "alice@example.com";

/// Alice's three machines behind her router, following her prefix: two through the API,
/// one through the host page. `home.dyn.test` stays a plain host (the router itself).
async fn followers(server: &Server) {
    for name in ["nas", "cam", "printer"] {
        let host = format!("{name}.dyn.test");
        server.cli_ok(&["host", "add", &host, "--owner", ALICE]);
    }
    let api = Api::user(server, ALICE).await;
    for (name, id) in [("nas", "::1:2:3:4"), ("cam", "::a:b:c:d")] {
        let (status, body, _) = api
            .send(
                "PATCH",
                &format!("/api/v1/hosts/{name}.dyn.test"),
                json!({ "ipv6_interface_id": id }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ipv6_interface_id"], id);
        // No prefix known yet: no address.
        assert_eq!(body["ipv6"], serde_json::Value::Null);
    }
    // Subnet 5 of the /56, from the host page's settings form.
    let id = server.sql("SELECT id FROM hosts WHERE name = 'printer.dyn.test'");
    let mut v = Visitor::new(server);
    assert_eq!(sign_in(&mut v, ALICE, PASS).await.status, 303);
    let page = v.get(&format!("/hosts/{id}")).await;
    assert!(page.body.contains("none yet"), "{}", page.body);
    let r = v
        .post(
            &format!("/hosts/{id}/settings"),
            &[
                ("csrf", &csrf(&page.body)),
                ("ttl", ""),
                ("mx", ""),
                ("txt", ""),
                ("alias", ""),
                ("offline_ipv4", ""),
                ("offline_ipv6", ""),
                ("ipv6_interface_id", "::5:0:0:0:9"),
            ],
        )
        .await;
    assert!(r.body.contains("Saved"), "{}", r.body);
}

/// [`followers`] after the router sent its first prefix, `2001:db8:1:200::/56`.
async fn behind_a_prefix(backend: Backend) -> Server {
    let server = setup(backend).await;
    followers(&server).await;
    let ok = "hostname=home.dyn.test&myip=192.0.2.1&ip6lanprefix=2001:db8:1:200::/56";
    assert_eq!(
        update(server.http, ALICE, PASS, ok).await.body,
        "good 192.0.2.1"
    );
    for (name, address) in [
        ("nas.dyn.test", "2001:db8:1:200:1:2:3:4"),
        ("cam.dyn.test", "2001:db8:1:200:a:b:c:d"),
    ] {
        assert_serves(&server, name, RecordType::AAAA, &[address]).await;
    }
    server
}

async fn serial(server: &Server) -> u32 {
    dns::soa_serial(server.dns, "dyn.test")
        .await
        .expect("the zone's SOA")
}

/// A Fritz!Box's update (`myip=<ipaddr>,<ip6addr>&ip6lanprefix=<ip6lanprefix>`) moves the
/// three followers at once; the same prefix again is `nochg`; a new one moves them again.
async fn a_router_update_moves_every_follower_at_once(backend: Backend) {
    let server = setup(backend).await;
    followers(&server).await;
    assert_serves(&server, "bob.dyn.test", RecordType::A, &["198.51.100.9"]).await;
    let before = serial(&server).await;

    let fritz = "hostname=home.dyn.test&myip=192.0.2.1,2001:db8:ffff::1\
                 &ip6lanprefix=2001:db8:1:200::/56";
    let r = update(server.http, ALICE, PASS, fritz).await;
    assert_eq!(r.body, "good 192.0.2.1,2001:db8:ffff::1");
    assert_serves(
        &server,
        "nas.dyn.test",
        RecordType::AAAA,
        &["2001:db8:1:200:1:2:3:4"],
    )
    .await;
    assert_serves(
        &server,
        "cam.dyn.test",
        RecordType::AAAA,
        &["2001:db8:1:200:a:b:c:d"],
    )
    .await;
    assert_serves(
        &server,
        "printer.dyn.test",
        RecordType::AAAA,
        &["2001:db8:1:205::9"],
    )
    .await;
    // The router keeps its own address; the others are untouched.
    assert_serves(
        &server,
        "home.dyn.test",
        RecordType::AAAA,
        &["2001:db8:ffff::1"],
    )
    .await;
    assert_serves(&server, "office.dyn.test", RecordType::AAAA, &[]).await;
    // One update, one revision: the SOA serial is the revision.
    assert_eq!(serial(&server).await, before + 1);
    let moved = "SELECT count(*) FROM update_history h JOIN hosts ON hosts.id = h.host_id \
                 WHERE h.protocol = 'dyndns2' \
                 AND hosts.name IN ('nas.dyn.test', 'cam.dyn.test', 'printer.dyn.test')";
    assert_eq!(server.sql(moved), "3");

    let r = update(server.http, ALICE, PASS, fritz).await;
    assert_eq!(r.body, "nochg 192.0.2.1,2001:db8:ffff::1");
    assert_eq!(serial(&server).await, before + 1);

    // The prefix as myipv6, the form other routers send; the router's IPv6 stays.
    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=home.dyn.test&myip=192.0.2.1&myipv6=2001:db8:2:300::/56",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.1");
    assert_serves(
        &server,
        "nas.dyn.test",
        RecordType::AAAA,
        &["2001:db8:2:300:1:2:3:4"],
    )
    .await;
    assert_serves(
        &server,
        "printer.dyn.test",
        RecordType::AAAA,
        &["2001:db8:2:305::9"],
    )
    .await;
    assert_serves(
        &server,
        "home.dyn.test",
        RecordType::AAAA,
        &["2001:db8:ffff::1"],
    )
    .await;
    assert_eq!(serial(&server).await, before + 2);

    // A follower named in an update reports its own address; a plain IPv6 address sent
    // for it (the router's) does not replace it.
    let r = update(
        server.http,
        ALICE,
        PASS,
        "hostname=nas.dyn.test&myip=192.0.2.7&myipv6=2001:db8:ffff::99",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.7,2001:db8:2:300:1:2:3:4");
    assert_serves(
        &server,
        "nas.dyn.test",
        RecordType::AAAA,
        &["2001:db8:2:300:1:2:3:4"],
    )
    .await;

    // The account keeps the prefix: a host made to follow later takes it at once, and the
    // page shows it.
    let api = Api::user(&server, ALICE).await;
    let (_, account, _) = api.get("/api/v1/account").await;
    assert_eq!(account["ipv6_prefix"], "2001:db8:2:300::/56");
    let (status, body, _) = api
        .send(
            "PATCH",
            "/api/v1/hosts/office.dyn.test",
            json!({ "ipv6_interface_id": "::77" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ipv6"], "2001:db8:2:300::77");
    // Following no longer: the address stays, and the next prefix leaves it.
    let (status, body, _) = api
        .send(
            "PATCH",
            "/api/v1/hosts/office.dyn.test",
            json!({ "ipv6_interface_id": null }),
        )
        .await;
    assert_eq!((status, &body["ipv6"]), (200, &json!("2001:db8:2:300::77")));
    // The REST API's update takes the prefix too.
    let (status, body, _) = api
        .send(
            "POST",
            "/api/v1/hosts/home.dyn.test/update",
            json!({ "ipv4": "192.0.2.1", "ipv6_prefix": "2001:db8:3:400::/56" }),
        )
        .await;
    assert_eq!((status, &body["result"]), (200, &json!("good")), "{body}");
    assert_serves(
        &server,
        "cam.dyn.test",
        RecordType::AAAA,
        &["2001:db8:3:400:a:b:c:d"],
    )
    .await;
    assert_serves(
        &server,
        "office.dyn.test",
        RecordType::AAAA,
        &["2001:db8:2:300::77"],
    )
    .await;
}

/// A bad prefix or interface identifier is refused, saying why, and nothing changes.
async fn bad_prefixes_and_identifiers_change_nothing(backend: Backend) {
    let server = behind_a_prefix(backend).await;
    let before = serial(&server).await;
    let history = server.sql("SELECT count(*) FROM update_history");

    for (query, says) in [
        (
            "ip6lanprefix=2001:db8::/80",
            "bad ip6lanprefix: an IPv6 prefix is /64 or shorter",
        ),
        ("ip6lanprefix=192.0.2.0/24", "bad ip6lanprefix"),
        (
            "ip6lanprefix=2001:db8:9::/48&myipv6=2001:db8:8::/48",
            "names another prefix",
        ),
        ("myipv6=2001:db8::/x", "bad myipv6"),
    ] {
        let r = update(
            server.http,
            ALICE,
            PASS,
            &format!("hostname=home.dyn.test&myip=192.0.2.2&{query}"),
        )
        .await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert!(r.body.contains(says), "{query}: {}", r.body);
    }
    let api = Api::user(&server, ALICE).await;
    for id in ["::", "::5:0:0:0:0", "nas", "192.0.2.1"] {
        let refused = api
            .refused(
                "PATCH",
                "/api/v1/hosts/cam.dyn.test",
                Some(json!({ "ipv6_interface_id": id })),
            )
            .await;
        assert_eq!(refused, (422, "invalid_interface_id".into()), "{id}");
    }
    let refused = api
        .refused(
            "POST",
            "/api/v1/hosts/home.dyn.test/update",
            Some(json!({ "ipv6_prefix": "2001:db8::/96" })),
        )
        .await;
    assert_eq!(refused, (422, "invalid_ipv6_prefix".into()));
    // The page says why, and keeps the host as it was.
    let id = server.sql("SELECT id FROM hosts WHERE name = 'cam.dyn.test'");
    let mut v = Visitor::new(&server);
    sign_in(&mut v, ALICE, PASS).await;
    let page = v.get(&format!("/hosts/{id}")).await;
    assert!(page.body.contains("2001:db8:1:200::/56"), "{}", page.body);
    let r = v
        .post(
            &format!("/hosts/{id}/settings"),
            &[("csrf", &csrf(&page.body)), ("ipv6_interface_id", "::")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("cannot all be zero"), "{}", r.body);

    assert_eq!(serial(&server).await, before);
    assert_eq!(server.sql("SELECT count(*) FROM update_history"), history);
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.1"]).await;
    assert_serves(
        &server,
        "cam.dyn.test",
        RecordType::AAAA,
        &["2001:db8:1:200:a:b:c:d"],
    )
    .await;
}

/// A key limited to some hosts moves only those, and leaves the account's prefix; another
/// account's prefix moves none of alice's hosts.
async fn limited_keys_and_other_accounts_move_only_their_own(backend: Backend) {
    let server = behind_a_prefix(backend).await;

    let key = server.cli_ok(&["key", "create", "--user", ALICE, "--hosts", "cam.dyn.test"]);
    let r = update(
        server.http,
        ALICE,
        key.trim(),
        "hostname=cam.dyn.test&myip=192.0.2.5&ip6lanprefix=2001:db8:7:700::/56",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.5,2001:db8:7:700:a:b:c:d");
    assert_serves(
        &server,
        "cam.dyn.test",
        RecordType::AAAA,
        &["2001:db8:7:700:a:b:c:d"],
    )
    .await;
    assert_serves(
        &server,
        "nas.dyn.test",
        RecordType::AAAA,
        &["2001:db8:1:200:1:2:3:4"],
    )
    .await;
    let (_, account, _) = Api::user(&server, ALICE).await.get("/api/v1/account").await;
    assert_eq!(account["ipv6_prefix"], "2001:db8:1:200::/56");

    // Bob's router: his account's prefix, none of alice's followers.
    let r = update(
        server.http,
        "bob@example.com",
        PASS,
        "hostname=bob.dyn.test&myip=198.51.100.9&ip6lanprefix=2001:db8:b0b::/48",
    )
    .await;
    assert_eq!(r.body, "nochg 198.51.100.9");
    let (_, account, _) = Api::user(&server, "bob@example.com")
        .await
        .get("/api/v1/account")
        .await;
    assert_eq!(account["ipv6_prefix"], "2001:db8:b0b::/48");
    assert_serves(
        &server,
        "nas.dyn.test",
        RecordType::AAAA,
        &["2001:db8:1:200:1:2:3:4"],
    )
    .await;
    assert_serves(
        &server,
        "printer.dyn.test",
        RecordType::AAAA,
        &["2001:db8:1:205::9"],
    )
    .await;
}

on_both_backends!(
    a_router_update_moves_every_follower_at_once,
    bad_prefixes_and_identifiers_change_nothing,
    limited_keys_and_other_accounts_move_only_their_own,
);
