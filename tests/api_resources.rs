//! The REST API's resources over real HTTP on both backends: zones, hosts (filters, cursor
//! pages, create, change, delete, history), records and ACME DNS-01 challenges read back
//! from the DNS port, groups, keys, the account and its users; every failure code, with
//! nothing changed; tenant isolation and host-limited keys on every endpoint; rate limits.

mod support;

use hickory_server::proto::rr::RecordType;
use serde_json::{Value, json};
use std::time::Duration;

use support::api::{Api, SECRET};
use support::http::update;
use support::tenants::{PASS, assert_nxdomain, assert_serves, assert_txt, setup_with};
use support::{Backend, Server, eventually};

async fn start(backend: Backend) -> Server {
    setup_with(backend, &[("DYN53_JWT_SECRET", SECRET)]).await
}

/// The names of a list of hosts.
fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(|h| h["name"].as_str().map(str::to_owned))
        .collect()
}

/// Every page of `path` (which has a query string), following `next_cursor`.
async fn all_pages(api: &Api, path: &str) -> (Vec<String>, usize) {
    let (mut names_seen, mut pages) = (Vec::new(), 0);
    let mut next = path.to_owned();
    loop {
        let (status, page, _) = api.get(&next).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        names_seen.extend(names(&page["items"]));
        match page["next_cursor"].as_str() {
            Some(cursor) => next = format!("{path}&cursor={cursor}"),
            None => return (names_seen, pages),
        }
    }
}

async fn hosts(backend: Backend) {
    let server = start(backend).await;
    let alice = Api::user(&server, "alice@example.com").await;

    let (status, zones, _) = alice.get("/api/v1/zones").await;
    assert_eq!(status, 200);
    assert_eq!(zones[0]["name"], "dyn.test");
    assert_eq!(zones[0]["own"], false);

    // Create: 201, its URL, and DNS serves it.
    let new = json!({"name": "new.dyn.test", "ipv4": "192.0.2.50"});
    let (status, host, r) = alice.send("POST", "/api/v1/hosts", new).await;
    assert_eq!(status, 201, "{host}");
    assert_eq!(r.header("location"), Some("/api/v1/hosts/new.dyn.test"));
    assert_eq!(
        (host["ipv4"].as_str(), host["ttl_override"].is_null()),
        (Some("192.0.2.50"), true)
    );
    assert_serves(&server, "new.dyn.test", RecordType::A, &["192.0.2.50"]).await;

    // Names that cannot be created, and nothing is.
    let count = "SELECT count(*) FROM hosts";
    assert_eq!(server.sql(count), "4");
    for (body, expected) in [
        (json!({"name": "new.dyn.test"}), (409, "name_taken")),
        (json!({"name": "bob.dyn.test"}), (409, "name_taken")),
        (json!({"name": "www.dyn.test"}), (422, "invalid_name")),
        (json!({"name": "a.b.dyn.test"}), (422, "invalid_name")),
        (json!({"name": "x.elsewhere.test"}), (422, "invalid_name")),
        (json!({"name": "dyn.test"}), (422, "invalid_name")),
        (json!({"name": "bad_name.dyn.test"}), (422, "invalid_name")),
        (
            json!({"name": "ok.dyn.test", "ipv4": "300.1.1.1"}),
            (422, "invalid_ipv4"),
        ),
        (
            json!({"name": "ok.dyn.test", "ipv6": "192.0.2.1"}),
            (422, "invalid_ipv6"),
        ),
        (
            json!({"name": "ok.dyn.test", "owner": "bob"}),
            (400, "invalid_body"),
        ),
        (json!({"label": "ok"}), (400, "invalid_body")),
    ] {
        let got = alice
            .refused("POST", "/api/v1/hosts", Some(body.clone()))
            .await;
        assert_eq!(got, (expected.0, expected.1.to_owned()), "{body}");
    }
    assert_eq!(server.sql(count), "4");
    // The free plan's five hosts.
    for name in ["p1.dyn.test", "p2.dyn.test"] {
        let (status, _, _) = alice
            .send("POST", "/api/v1/hosts", json!({"name": name}))
            .await;
        assert_eq!(status, 201);
    }
    let full = alice
        .refused(
            "POST",
            "/api/v1/hosts",
            Some(json!({"name": "p3.dyn.test"})),
        )
        .await;
    assert_eq!(full, (403, "plan_limit".into()));

    // Lists: filters and cursor pages.
    let mine = ["home", "new", "office", "p1", "p2"].map(|l| format!("{l}.dyn.test"));
    let (listed, pages) = all_pages(&alice, "/api/v1/hosts?limit=2").await;
    assert_eq!((listed, pages), (mine.to_vec(), 3));
    for (query, expected) in [
        ("name_contains=p", vec!["p1.dyn.test", "p2.dyn.test"]),
        (
            "zone=dyn.test&limit=200",
            mine.iter().map(String::as_str).collect(),
        ),
        ("zone=nowhere.test", vec![]),
        ("offline=true", vec![]),
    ] {
        let (status, page, _) = alice.get(&format!("/api/v1/hosts?{query}")).await;
        assert_eq!(
            (status, names(&page["items"])),
            (200, expected.iter().map(|s| s.to_string()).collect()),
            "{query}"
        );
    }
    let bad_cursor = alice
        .refused("GET", "/api/v1/hosts?cursor=%21%21", None)
        .await;
    assert_eq!(bad_cursor, (422, "invalid_cursor".into()));
    for query in [
        "limit=0",
        "limit=201",
        "limit=many",
        "sort=name",
        "offline=maybe",
    ] {
        let got = alice
            .refused("GET", &format!("/api/v1/hosts?{query}"), None)
            .await;
        assert_eq!(got, (400, "invalid_query".into()), "{query}");
    }

    // Changes: settings as DNS serves them.
    let path = "/api/v1/hosts/new.dyn.test";
    let change =
        json!({"ttl": 120, "mx": "mail.example.com", "txt": ["v=spf1 -all"], "wildcard": true});
    let (status, host, _) = alice.send("PATCH", path, change).await;
    assert_eq!(status, 200, "{host}");
    assert_eq!(
        (host["ttl"].as_u64(), host["mx"].as_str()),
        (Some(120), Some("mail.example.com"))
    );
    assert_txt(&server, "new.dyn.test", &["v=spf1 -all"]).await;
    assert_serves(&server, "any.new.dyn.test", RecordType::A, &["192.0.2.50"]).await;
    for (body, expected) in [
        (json!({"ttl": 5}), (422, "invalid_ttl")),
        (json!({"ttl": "long"}), (400, "invalid_body")),
        (json!({"ttl": 120.5}), (422, "invalid_ttl")),
        (json!({"ttl": -1}), (422, "invalid_ttl")),
        (json!({"mx": "not a name"}), (422, "invalid_mx")),
        (json!({"alias": "new.dyn.test"}), (422, "invalid_alias")),
        (json!({"txt": [""]}), (422, "invalid_txt")),
        (json!({"txt": vec!["x"; 11]}), (422, "invalid_txt")),
        (json!({"ipv6": "nope", "ttl": 300}), (422, "invalid_ipv6")),
        (json!({"colour": "red"}), (400, "invalid_body")),
        (json!({"offline": true}), (403, "not_on_plan")),
    ] {
        let got = alice.refused("PATCH", path, Some(body.clone())).await;
        assert_eq!(got, (expected.0, expected.1.to_owned()), "{body}");
    }
    // An alias loop is refused when it is written, however long its way round.
    let office = "/api/v1/hosts/office.dyn.test";
    let (status, _, _) = alice
        .send("PATCH", office, json!({"alias": "new.dyn.test"}))
        .await;
    assert_eq!(status, 200);
    let got = alice
        .refused("PATCH", path, Some(json!({"alias": "office.dyn.test"})))
        .await;
    assert_eq!(got, (422, "invalid_alias".to_owned()));
    let (status, _, _) = alice.send("PATCH", office, json!({"alias": null})).await;
    assert_eq!(status, 200);
    let (_, host, _) = alice.get(path).await;
    assert_eq!(
        (host["ttl"].as_u64(), host["offline"].as_bool()),
        (Some(120), Some(false))
    );
    // `null` removes; absent fields stay.
    let (status, host, _) = alice
        .send("PATCH", path, json!({"ttl": null, "mx": null}))
        .await;
    assert_eq!(status, 200);
    assert!(
        host["ttl_override"].is_null() && host["mx"].is_null(),
        "{host}"
    );
    assert_eq!(host["txt"], json!(["v=spf1 -all"]));
    let (_, host, _) = alice
        .send("PATCH", path, json!({"ipv4": "192.0.2.51"}))
        .await;
    assert_eq!(
        (host["ipv4"].as_str(), host["wildcard"].as_bool()),
        (Some("192.0.2.51"), Some(true))
    );
    assert_serves(&server, "new.dyn.test", RecordType::A, &["192.0.2.51"]).await;

    // History: one line per change, newest first, in cursor pages.
    let (status, page, _) = alice.get(&format!("{path}/history?limit=2")).await;
    assert_eq!(status, 200, "{page}");
    let first = page["items"].as_array().expect("lines").clone();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0]["ipv4"], "192.0.2.51");
    assert!(
        first
            .iter()
            .all(|l| l["protocol"] == "api" && l["result"] == "good"),
        "{page}"
    );
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, rest, _) = alice
        .get(&format!("{path}/history?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(
        (
            rest["items"].as_array().map(Vec::len),
            rest["next_cursor"].is_null()
        ),
        (Some(1), true)
    );
    let bad = alice
        .refused("GET", &format!("{path}/history?cursor=eA"), None)
        .await;
    assert_eq!(bad, (422, "invalid_cursor".into()));

    // Delete: gone from DNS, then not found; its history goes with it.
    let lines = "SELECT count(*) FROM update_history l JOIN hosts h ON h.id = l.host_id \
                 WHERE h.name = 'new.dyn.test'";
    let orphans = "SELECT count(*) FROM update_history WHERE host_id NOT IN (SELECT id FROM hosts)";
    assert_eq!(
        (server.sql(lines), server.sql(orphans)),
        ("3".into(), "0".into())
    );
    // Check-ins of it and of another host, written in the background in one batch, most
    // likely after the delete: the other's is written all the same, and none of its.
    for (host, ip) in [
        ("new.dyn.test", "192.0.2.51"),
        ("office.dyn.test", "198.51.100.1"),
    ] {
        let query = format!("hostname={host}&myip={ip}");
        let r = update(server.http, "alice@example.com", PASS, &query).await;
        assert_eq!(r.body, format!("nochg {ip}"));
    }
    let (status, _, _) = alice.delete(path).await;
    assert_eq!(status, 204);
    let checked_in = eventually(Duration::from_secs(5), async || {
        let n = server.sql("SELECT count(*) FROM update_history WHERE result = 'nochg'");
        (n == "1").then_some(())
    })
    .await;
    assert!(checked_in.is_some(), "{}", server.log());
    assert_serves(&server, "new.dyn.test", RecordType::A, &[]).await;
    for method in ["GET", "DELETE"] {
        assert_eq!(
            alice.refused(method, path, None).await,
            (404, "host_not_found".into())
        );
    }
    assert_eq!(
        server.sql("SELECT count(*) FROM hosts WHERE name = 'new.dyn.test'"),
        "0"
    );
    assert_eq!(server.sql(orphans), "0");
}

async fn acme_challenge(backend: Backend) {
    let server = start(backend).await;
    let alice = Api::user(&server, "alice@example.com").await;
    let records = "/api/v1/hosts/home.dyn.test/records";
    let challenge = "_acme-challenge.home.dyn.test";
    let txt = |name: &str, value: &str| json!({"type": "TXT", "name": name, "value": value});

    // What an ACME client does: set the value, wait for DNS, remove it.
    let (status, record, _) = alice
        .send("POST", records, txt(challenge, "token-one"))
        .await;
    assert_eq!(status, 201, "{record}");
    assert_eq!(record["name"], challenge);
    assert_txt(&server, challenge, &["token-one"]).await;
    // A wildcard certificate's second challenge at the same name; the first stays.
    let (status, _, _) = alice
        .send("POST", records, txt(&format!("{challenge}."), "token-two"))
        .await;
    assert_eq!(status, 201);
    let (status, _, _) = alice
        .send("POST", records, txt(challenge, "token-two"))
        .await;
    assert_eq!(status, 200, "already there");
    assert_txt(&server, challenge, &["token-one", "token-two"]).await;
    assert_txt(&server, "home.dyn.test", &[]).await;
    let (_, listed, _) = alice.get(records).await;
    let challenge_values: Vec<&str> = listed
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["name"] == challenge && r["type"] == "TXT")
        .filter_map(|r| r["data"].as_str())
        .collect();
    assert_eq!(challenge_values, ["token-one", "token-two"]);

    // Refused, and nothing changes.
    for (body, expected) in [
        (
            json!({"type": "A", "name": challenge, "value": "192.0.2.1"}),
            (422, "unsupported_record_type"),
        ),
        (
            txt("_acme-challenge.office.dyn.test", "x"),
            (422, "invalid_record_name"),
        ),
        (
            txt("_acme-challenge.x.home.dyn.test", "x"),
            (422, "invalid_record_name"),
        ),
        (txt(challenge, ""), (422, "invalid_txt")),
        (txt(challenge, &"x".repeat(256)), (422, "invalid_txt")),
        (txt(challenge, "two\nlines"), (422, "invalid_txt")),
        (
            json!({"type": "TXT", "name": challenge}),
            (400, "invalid_body"),
        ),
        (
            json!({"type": "TXT", "name": challenge, "value": "x", "ttl": 1}),
            (400, "invalid_body"),
        ),
    ] {
        let got = alice.refused("POST", records, Some(body.clone())).await;
        assert_eq!(got, (expected.0, expected.1.to_owned()), "{body}");
    }
    for n in 3..=10 {
        let (status, _, _) = alice
            .send("POST", records, txt(challenge, &format!("token-{n}")))
            .await;
        assert_eq!(status, 201);
    }
    let full = alice
        .refused("POST", records, Some(txt(challenge, "token-11")))
        .await;
    assert_eq!(full, (422, "too_many_records".into()));
    for n in 3..=10 {
        let query = format!("{records}?type=TXT&name={challenge}&value=token-{n}");
        assert_eq!(alice.delete(&query).await.0, 204);
    }
    assert_txt(&server, challenge, &["token-one", "token-two"]).await;

    // The host's own TXT records, through the same endpoint.
    let (status, _, _) = alice
        .send("POST", records, txt("home.dyn.test", "hello"))
        .await;
    assert_eq!(status, 201);
    assert_txt(&server, "home.dyn.test", &["hello"]).await;

    // Removing: one value, then the last, and the name is gone.
    let remove = |value: &str| format!("{records}?type=TXT&name={challenge}&value={value}");
    assert_eq!(alice.delete(&remove("token-one")).await.0, 204);
    assert_txt(&server, challenge, &["token-two"]).await;
    let absent = alice.refused("DELETE", &remove("token-one"), None).await;
    assert_eq!(absent, (404, "record_not_found".into()));
    let bad = alice
        .refused(
            "DELETE",
            &format!("{records}?type=TXT&name={challenge}"),
            None,
        )
        .await;
    assert_eq!(bad, (400, "invalid_query".into()));
    assert_eq!(alice.delete(&remove("token-two")).await.0, 204);
    assert_nxdomain(&server, challenge).await;
    assert_txt(&server, "home.dyn.test", &["hello"]).await;

    // A host deleted with a challenge takes it along.
    alice
        .send("POST", records, txt(challenge, "token-three"))
        .await;
    assert_txt(&server, challenge, &["token-three"]).await;
    assert_eq!(alice.delete("/api/v1/hosts/home.dyn.test").await.0, 204);
    assert_nxdomain(&server, challenge).await;
}

async fn groups_keys_account(backend: Backend) {
    let server = start(backend).await;
    server.add_user_with(
        "carol@example.com",
        PASS,
        &["--member-of", "alice@example.com", "--role", "editor"],
    );
    server.add_user_with(
        "dave@example.com",
        PASS,
        &["--member-of", "alice@example.com", "--role", "viewer"],
    );
    let alice = Api::user(&server, "alice@example.com").await;

    // Groups.
    let cameras = json!({"name": "cameras", "hosts": ["home.dyn.test"]});
    let (status, group, r) = alice.send("POST", "/api/v1/groups", cameras.clone()).await;
    assert_eq!(
        (status, r.header("location")),
        (201, Some("/api/v1/groups/cameras")),
        "{group}"
    );
    for (body, expected) in [
        (cameras, (409, "name_taken")),
        (
            json!({"name": "theirs", "hosts": ["bob.dyn.test"]}),
            (422, "unknown_host"),
        ),
        (
            json!({"name": "bad name!", "hosts": []}),
            (422, "invalid_name"),
        ),
        (json!({"name": "x"}), (400, "invalid_body")),
    ] {
        let got = alice
            .refused("POST", "/api/v1/groups", Some(body.clone()))
            .await;
        assert_eq!(got, (expected.0, expected.1.to_owned()), "{body}");
    }
    let renamed = json!({"name": "cams", "hosts": ["office.dyn.test", "home.dyn.test"]});
    let (status, group, _) = alice.send("PUT", "/api/v1/groups/cameras", renamed).await;
    assert_eq!(
        (status, group),
        (
            200,
            json!({"name": "cams", "hosts": ["home.dyn.test", "office.dyn.test"]})
        )
    );
    let (_, listed, _) = alice.get("/api/v1/groups").await;
    assert_eq!(names(&listed), ["cams"]);
    assert_eq!(
        alice.refused("GET", "/api/v1/groups/cameras", None).await,
        (404, "group_not_found".into())
    );
    assert_eq!(
        alice.get("/api/v1/groups/CAMS").await.0,
        200,
        "names are case-insensitive"
    );
    assert_eq!(alice.delete("/api/v1/groups/cams").await.0, 204);
    assert_eq!(
        alice.refused("DELETE", "/api/v1/groups/cams", None).await,
        (404, "group_not_found".into())
    );

    // Keys: the secret once, usable at once, revoked at once.
    let new_key = json!({"name": "router", "scope": "api", "hosts": ["home.dyn.test"]});
    let (status, created, _) = alice.send("POST", "/api/v1/keys", new_key).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().expect("the secret").to_owned();
    let id = created["key"]["id"].as_i64().expect("an id");
    let router = Api::key(&server, &secret);
    let (status, visible, _) = router.get("/api/v1/hosts").await;
    assert_eq!(
        (status, names(&visible["items"])),
        (200, vec!["home.dyn.test".to_owned()])
    );
    let (_, keys, _) = alice.get("/api/v1/keys").await;
    assert_eq!(keys[0]["name"], "router");
    assert_eq!(keys[0]["owner"], "alice@example.com");
    assert_eq!(keys[0]["hosts"], json!(["home.dyn.test"]));
    assert!(
        !keys.to_string().contains(&secret),
        "a key's secret is never listed"
    );
    for (body, expected) in [
        (json!({"name": ""}), (422, "invalid_name")),
        (
            json!({"name": "k", "scope": "root"}),
            (422, "invalid_scope"),
        ),
        (
            json!({"name": "k", "hosts": ["bob.dyn.test"]}),
            (422, "unknown_host"),
        ),
        (
            json!({"name": "k", "secret": "mine"}),
            (400, "invalid_body"),
        ),
    ] {
        let got = alice
            .refused("POST", "/api/v1/keys", Some(body.clone()))
            .await;
        assert_eq!(got, (expected.0, expected.1.to_owned()), "{body}");
    }
    let (status, update_only, _) = alice
        .send("POST", "/api/v1/keys", json!({"name": "cam"}))
        .await;
    assert_eq!(
        (status, update_only["key"]["scope"].as_str()),
        (201, Some("update"))
    );
    assert_eq!(update_only["key"]["hosts"], json!([]));
    let cam = Api::key(&server, update_only["secret"].as_str().expect("secret"));
    assert_eq!(
        cam.refused("GET", "/api/v1/hosts", None).await,
        (401, "invalid_credentials".into())
    );
    assert_eq!(alice.delete(&format!("/api/v1/keys/{id}")).await.0, 204);
    assert_eq!(
        router.refused("GET", "/api/v1/hosts", None).await,
        (401, "invalid_credentials".into())
    );
    for path in [format!("/api/v1/keys/{id}"), "/api/v1/keys/abc".into()] {
        assert_eq!(
            alice.refused("DELETE", &path, None).await,
            (404, "key_not_found".into())
        );
    }

    // The account and its users, by role.
    let (status, account, _) = alice.get("/api/v1/account").await;
    assert_eq!(status, 200);
    assert_eq!(
        account,
        json!({"plan": "free", "status": "active", "host_limit": 5, "host_count": 2,
               "email": "alice@example.com", "role": "owner", "ipv6_prefix": null})
    );
    let (_, users, _) = alice.get("/api/v1/account/users").await;
    let emails: Vec<&str> = users
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(
        emails,
        ["alice@example.com", "carol@example.com", "dave@example.com"]
    );
    let id_of = |email: &str| {
        users
            .as_array()
            .expect("users")
            .iter()
            .find(|u| u["email"] == email)
            .and_then(|u| u["id"].as_i64())
            .expect("a user")
    };
    let carol = Api::user(&server, "carol@example.com").await;
    let dave = Api::user(&server, "dave@example.com").await;
    let dave_path = format!("/api/v1/account/users/{}", id_of("dave@example.com"));
    assert_eq!(
        carol.refused("DELETE", &dave_path, None).await,
        (403, "role".into())
    );
    let (status, _, _) = carol
        .send("PATCH", "/api/v1/hosts/home.dyn.test", json!({"ttl": 120}))
        .await;
    assert_eq!(status, 200, "an editor changes DNS");
    for (method, path, body) in [
        ("POST", "/api/v1/hosts", Some(json!({"name": "v.dyn.test"}))),
        (
            "PATCH",
            "/api/v1/hosts/home.dyn.test",
            Some(json!({"ttl": 300})),
        ),
        (
            "POST",
            "/api/v1/hosts/home.dyn.test/update",
            Some(json!({"ipv4": "192.0.2.9"})),
        ),
        (
            "POST",
            "/api/v1/hosts/home.dyn.test/records",
            Some(json!({"type": "TXT", "name": "home.dyn.test", "value": "v"})),
        ),
        ("DELETE", "/api/v1/hosts/home.dyn.test", None),
        (
            "POST",
            "/api/v1/groups",
            Some(json!({"name": "v", "hosts": []})),
        ),
    ] {
        let got = dave.refused(method, path, body).await;
        assert_eq!(got, (403, "read_only".into()), "a viewer: {method} {path}");
    }
    assert_eq!(
        dave.get("/api/v1/hosts/home.dyn.test").await.0,
        200,
        "a viewer reads"
    );
    let owner = format!("/api/v1/account/users/{}", id_of("alice@example.com"));
    assert_eq!(
        alice.refused("DELETE", &owner, None).await,
        (404, "user_not_found".into())
    );
    assert_eq!(alice.delete(&dave_path).await.0, 204);
    assert_eq!(
        dave.refused("GET", "/api/v1/hosts", None).await,
        (401, "invalid_token".into())
    );
}

/// Another account's objects answer 404 at every endpoint, and a host-limited key reaches
/// its hosts only; nothing changes.
async fn isolation(backend: Backend) {
    let server = start(backend).await;
    let alice = Api::user(&server, "alice@example.com").await;
    let bob = Api::user(&server, "bob@example.com").await;
    let (status, _, _) = bob
        .send(
            "POST",
            "/api/v1/groups",
            json!({"name": "bobs", "hosts": ["bob.dyn.test"]}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, key, _) = bob
        .send(
            "POST",
            "/api/v1/keys",
            json!({"name": "bob's", "scope": "api"}),
        )
        .await;
    let bob_key = key["key"]["id"].as_i64().expect("a key");
    let (_, users, _) = bob.get("/api/v1/account/users").await;
    let bob_id = users[0]["id"].as_i64().expect("bob");
    let txt = json!({"type": "TXT", "name": "_acme-challenge.bob.dyn.test", "value": "x"});
    let group = json!({"name": "bobs", "hosts": []});
    let host = "/api/v1/hosts/bob.dyn.test";
    let cases: Vec<(&str, String, Option<Value>, &str)> = vec![
        ("GET", host.into(), None, "host_not_found"),
        (
            "PATCH",
            host.into(),
            Some(json!({"ttl": 120})),
            "host_not_found",
        ),
        ("DELETE", host.into(), None, "host_not_found"),
        (
            "POST",
            format!("{host}/update"),
            Some(json!({"ipv4": "192.0.2.66"})),
            "host_not_found",
        ),
        ("GET", format!("{host}/history"), None, "host_not_found"),
        ("GET", format!("{host}/records"), None, "host_not_found"),
        (
            "POST",
            format!("{host}/records"),
            Some(txt),
            "host_not_found",
        ),
        (
            "DELETE",
            format!("{host}/records?type=TXT&name=bob.dyn.test&value=x"),
            None,
            "host_not_found",
        ),
        ("GET", "/api/v1/groups/bobs".into(), None, "group_not_found"),
        (
            "PUT",
            "/api/v1/groups/bobs".into(),
            Some(group),
            "group_not_found",
        ),
        (
            "DELETE",
            "/api/v1/groups/bobs".into(),
            None,
            "group_not_found",
        ),
        (
            "DELETE",
            format!("/api/v1/keys/{bob_key}"),
            None,
            "key_not_found",
        ),
        (
            "DELETE",
            format!("/api/v1/account/users/{bob_id}"),
            None,
            "user_not_found",
        ),
    ];
    for (method, path, body, code) in &cases {
        let got = alice.refused(method, path, body.clone()).await;
        assert_eq!(got, (404, (*code).to_owned()), "{method} {path}");
    }
    // Bob's things are as they were.
    let (_, bobs, _) = bob.get(host).await;
    assert_eq!(
        (bobs["ipv4"].as_str(), bobs["ttl_override"].is_null()),
        (Some("198.51.100.9"), true)
    );
    assert_serves(&server, "bob.dyn.test", RecordType::A, &["198.51.100.9"]).await;
    assert_eq!(bob.get("/api/v1/groups/bobs").await.0, 200);
    assert_eq!(
        Api::key(&server, key["secret"].as_str().expect("secret"))
            .get("/api/v1/hosts")
            .await
            .0,
        200
    );
    assert_eq!(bob.get("/api/v1/account").await.0, 200);

    // A key limited to home: office is not found, the account's other data is forbidden.
    let limited = Api::new_key(&server, "alice@example.com", &["--hosts", "home.dyn.test"]);
    let office = "/api/v1/hosts/office.dyn.test";
    for (method, path, body) in [
        ("GET", office.to_owned(), None),
        ("PATCH", office.to_owned(), Some(json!({"ttl": 120}))),
        (
            "POST",
            format!("{office}/update"),
            Some(json!({"ipv4": "192.0.2.67"})),
        ),
        ("GET", format!("{office}/history"), None),
        ("GET", format!("{office}/records"), None),
        (
            "POST",
            format!("{office}/records"),
            Some(json!({"type": "TXT", "name": "office.dyn.test", "value": "x"})),
        ),
    ] {
        let got = limited.refused(method, &path, body).await;
        assert_eq!(got, (404, "host_not_found".into()), "{method} {path}");
    }
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/hosts",
            Some(json!({"name": "more.dyn.test"})),
        ),
        ("DELETE", "/api/v1/hosts/home.dyn.test", None),
        ("GET", "/api/v1/groups", None),
        (
            "POST",
            "/api/v1/groups",
            Some(json!({"name": "g", "hosts": []})),
        ),
        ("GET", "/api/v1/keys", None),
        (
            "POST",
            "/api/v1/keys",
            Some(json!({"name": "escalate", "scope": "api"})),
        ),
        ("DELETE", "/api/v1/keys/1", None),
        ("GET", "/api/v1/account", None),
        ("GET", "/api/v1/account/users", None),
    ] {
        let got = limited.refused(method, path, body).await;
        assert_eq!(got, (403, "key_limited".into()), "{method} {path}");
    }
    let (status, _, _) = limited
        .send(
            "POST",
            "/api/v1/hosts/home.dyn.test/records",
            json!({"type": "TXT", "name": "_acme-challenge.home.dyn.test", "value": "ok"}),
        )
        .await;
    assert_eq!(status, 201, "its own host's challenge");
    assert_eq!(limited.get("/api/v1/zones").await.0, 200);
    assert_serves(&server, "office.dyn.test", RecordType::A, &["198.51.100.1"]).await;
    assert_eq!(server.sql("SELECT count(*) FROM hosts"), "3");
}

async fn rate_limited(backend: Backend) {
    let server = setup_with(
        backend,
        &[
            ("DYN53_JWT_SECRET", SECRET),
            ("DYN53_API_RATE_LIMIT", "3/60"),
        ],
    )
    .await;
    let alice = Api::user(&server, "alice@example.com").await;
    for _ in 0..3 {
        assert_eq!(alice.get("/api/v1/hosts").await.0, 200);
    }
    let (status, body, r) = alice.get("/api/v1/zones").await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    let wait: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    // Another caller has a window of its own.
    let bob = Api::user(&server, "bob@example.com").await;
    assert_eq!(bob.get("/api/v1/hosts").await.0, 200);
    // A key has one window for every endpoint, updates included.
    let key = Api::new_key(&server, "bob@example.com", &[]);
    assert_eq!(key.get("/api/v1/hosts").await.0, 200);
    let update = json!({"ipv4": "192.0.2.99"});
    for _ in 0..2 {
        let (status, _, _) = key
            .send("POST", "/api/v1/hosts/bob.dyn.test/update", update.clone())
            .await;
        assert_eq!(status, 200);
    }
    let refused = key
        .refused("POST", "/api/v1/hosts/bob.dyn.test/update", Some(update))
        .await;
    assert_eq!(refused, (429, "rate_limited".into()));
    assert_eq!(
        key.refused("GET", "/api/v1/zones", None).await,
        (429, "rate_limited".into())
    );
}

/// A suspended account answers 403 to its tokens and keys; a blocked one reads, but its
/// updates answer `abuse` and it may not make other changes.
async fn suspended_and_blocked(backend: Backend) {
    let server = start(backend).await;
    let alice = Api::user(&server, "alice@example.com").await;
    let key = Api::new_key(&server, "alice@example.com", &[]);
    server.cli_ok(&["account", "block", "alice@example.com"]);
    for api in [&alice, &key] {
        assert_eq!(api.get("/api/v1/hosts/home.dyn.test").await.0, 200);
        let update = Some(json!({"ipv4": "192.0.2.88"}));
        let got = api
            .refused("POST", "/api/v1/hosts/home.dyn.test/update", update)
            .await;
        assert_eq!(got, (429, "abuse".into()));
        let create = Some(json!({"name": "more.dyn.test"}));
        assert_eq!(
            api.refused("POST", "/api/v1/hosts", create).await,
            (403, "account_inactive".into())
        );
    }
    server.cli_ok(&["account", "suspend", "alice@example.com"]);
    for api in [&alice, &key] {
        let got = api.refused("GET", "/api/v1/hosts", None).await;
        assert_eq!(got, (403, "account_inactive".into()));
    }
    server.cli_ok(&["account", "activate", "alice@example.com"]);
    assert_eq!(key.get("/api/v1/hosts").await.0, 200);
    assert_serves(&server, "office.dyn.test", RecordType::A, &["198.51.100.1"]).await;
}

/// With the database down (SQLite: locked, so reads still work): changes answer
/// `503 unavailable` with `Retry-After`, and DNS keeps its data.
async fn database_down(backend: Backend) {
    let server = start(backend).await;
    let alice = Api::user(&server, "alice@example.com").await;
    let key = Api::new_key(&server, "alice@example.com", &[]);
    let _broken = support::break_database(&server.storage);
    let txt = json!({"type": "TXT", "name": "_acme-challenge.office.dyn.test", "value": "x"});
    for api in [&alice, &key] {
        for (method, path, body) in [
            (
                "POST",
                "/api/v1/hosts/office.dyn.test/update",
                Some(json!({"ipv4": "192.0.2.77"})),
            ),
            (
                "POST",
                "/api/v1/hosts/office.dyn.test/records",
                Some(txt.clone()),
            ),
            (
                "POST",
                "/api/v1/groups",
                Some(json!({"name": "g", "hosts": []})),
            ),
        ] {
            let body = body.map(|b| b.to_string());
            let (status, problem, r) = support::api::call(
                server.http,
                method,
                path,
                Some(&api.bearer),
                body.as_deref(),
            )
            .await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (503, Some("unavailable")),
                "{method} {path}"
            );
            assert_eq!(r.header("retry-after"), Some("60"));
        }
    }
    assert_serves(&server, "office.dyn.test", RecordType::A, &["198.51.100.1"]).await;
}

on_both_backends!(
    hosts,
    acme_challenge,
    groups_keys_account,
    isolation,
    rate_limited,
    database_down,
    suspended_and_blocked
);
