//! Rules the database keeps below every surface (pages, API, CLI, update protocols), end to
//! end on both backends: a key's host limit outlives its hosts, an operator's block
//! belongs to the name, a host is never another account's zone, key creation is audited
//! with who made it; and the data directory is private.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hickory_server::proto::rr::RecordType;
use serde_json::json;
use support::api::{Api, SECRET};
use support::http::update;
use support::tenants::{PASS, assert_serves, setup_with};
use support::web::{Visitor, csrf, mails_at_least, sign_in};
use support::{Backend, Server};

const ALICE: &str = "alice@example.com";

async fn start(backend: Backend) -> Server {
    setup_with(backend, &[("DYN53_JWT_SECRET", SECRET)]).await
}

/// A key limited to one host stays limited once the host is gone, and does not reach the
/// host created again under that name: it can do nothing.
async fn a_limited_key_without_hosts_can_do_nothing(backend: Backend) {
    let server = start(backend).await;
    let alice = Api::user(&server, ALICE).await;
    let limited = Api::new_key(&server, ALICE, &["--hosts", "home.dyn.test"]);
    assert_eq!(alice.delete("/api/v1/hosts/home.dyn.test").await.0, 204);

    let check_refused = async || {
        for (method, path, body) in [
            ("GET", "/api/v1/keys", None),
            (
                "POST",
                "/api/v1/keys",
                Some(json!({"name": "escalate", "scope": "api"})),
            ),
            (
                "POST",
                "/api/v1/hosts",
                Some(json!({"name": "more.dyn.test"})),
            ),
            ("GET", "/api/v1/groups", None),
            ("GET", "/api/v1/account/users", None),
        ] {
            let got = limited.refused(method, path, body).await;
            assert_eq!(got, (403, "key_limited".into()), "{method} {path}");
        }
        for (method, path) in [
            ("GET", "/api/v1/hosts/home.dyn.test"),
            ("GET", "/api/v1/hosts/office.dyn.test"),
            ("DELETE", "/api/v1/hosts/office.dyn.test"),
        ] {
            let got = limited.refused(method, path, None).await;
            assert_eq!(got, (404, "host_not_found".into()), "{method} {path}");
        }
        let (status, hosts, _) = limited.get("/api/v1/hosts").await;
        assert_eq!((status, &hosts["items"]), (200, &json!([])));
        let r = update(
            server.http,
            ALICE,
            &limited.bearer,
            "hostname=home.dyn.test,office.dyn.test&myip=192.0.2.61",
        )
        .await;
        assert_eq!(r.body, "nohost\nnohost");
    };
    check_refused().await;
    // Created again under the same name: a new host, which the key was never given.
    let (status, _, _) = alice
        .send("POST", "/api/v1/hosts", json!({"name": "home.dyn.test"}))
        .await;
    assert_eq!(status, 201);
    check_refused().await;

    // The owner sees it as limited, to no host left.
    let (_, keys, _) = alice.get("/api/v1/keys").await;
    let key = keys
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| {
            limited
                .bearer
                .starts_with(k["prefix"].as_str().expect("prefix"))
        })
        .expect("the limited key is listed");
    assert_eq!((&key["limited"], &key["hosts"]), (&json!(true), &json!([])));
    assert_eq!(server.sql("SELECT count(*) FROM update_keys"), "1");
    assert_serves(&server, "office.dyn.test", RecordType::A, &["198.51.100.1"]).await;
}

/// A blocked host deleted and created again, through the API or the CLI, is still blocked;
/// a name can be blocked before anyone has it; `unblock` lifts it.
async fn blocks_belong_to_the_name(backend: Backend) {
    let server = start(backend).await;
    let alice = Api::user(&server, ALICE).await;
    let office = async |ip: &str| {
        let query = format!("hostname=office.dyn.test&myip={ip}");
        update(server.http, ALICE, PASS, &query).await.body
    };
    server.cli_ok(&["host", "block", "office.dyn.test", "--reason", "spam"]);
    assert_eq!(alice.delete("/api/v1/hosts/office.dyn.test").await.0, 204);
    let (status, _, _) = alice
        .send("POST", "/api/v1/hosts", json!({"name": "office.dyn.test"}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(office("192.0.2.70").await, "abuse");
    assert_serves(&server, "office.dyn.test", RecordType::A, &[]).await;

    // Before anyone registers it.
    server.cli_ok(&["host", "block", "later.dyn.test"]);
    server.cli_ok(&[
        "host",
        "add",
        "later.dyn.test",
        "--owner",
        "bob@example.com",
    ]);
    let r = update(
        server.http,
        "bob@example.com",
        PASS,
        "hostname=later.dyn.test,bob.dyn.test&myip=192.0.2.71",
    )
    .await;
    assert_eq!(r.body, "abuse\ngood 192.0.2.71");

    server.cli_ok(&["host", "unblock", "office.dyn.test"]);
    assert_eq!(office("192.0.2.72").await, "good 192.0.2.72");
    assert_eq!(alice.delete("/api/v1/hosts/office.dyn.test").await.0, 204);
    server.cli_ok(&["host", "add", "office.dyn.test", "--owner", ALICE]);
    assert_eq!(office("192.0.2.73").await, "good 192.0.2.73");
    let out = server.cli(&["host", "unblock", "office.dyn.test"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing changed"));
    assert_eq!(
        server.sql("SELECT name FROM blocked_names"),
        "later.dyn.test"
    );
}

/// Bob's own zone `lab.dyn.test` sits inside the shared `dyn.test`: alice may name a host
/// neither after it nor inside it, on any surface; bob may inside it.
async fn hosts_stay_out_of_other_accounts_zones(backend: Backend) {
    let server = start(backend).await;
    server.cli_ok(&["zone", "add", "lab.dyn.test", "--owner", "bob@example.com"]);
    let alice = Api::user(&server, ALICE).await;
    for name in ["lab.dyn.test", "x.lab.dyn.test"] {
        let (status, _) = alice
            .refused("POST", "/api/v1/hosts", Some(json!({ "name": name })))
            .await;
        assert!([409, 422].contains(&status), "{name}: {status}");
        let out = server.cli(&["host", "add", name, "--owner", ALICE]);
        assert!(!out.status.success(), "{name} from the CLI");
    }
    let out = server.cli(&["host", "add", "lab.dyn.test", "--owner", "bob@example.com"]);
    assert!(
        !out.status.success(),
        "an apex is no host, even the owner's"
    );
    server.cli_ok(&[
        "host",
        "add",
        "x.lab.dyn.test",
        "--owner",
        "bob@example.com",
    ]);
    let owned = "SELECT count(*) FROM hosts WHERE name LIKE '%lab.dyn.test'";
    assert_eq!(server.sql(owned), "1");
    // Nor the other way round: a zone is not added over a host.
    for zone in ["home.dyn.test", "test"] {
        let out = server.cli(&["zone", "add", zone, "--owner", "bob@example.com"]);
        assert!(!out.status.success(), "zone {zone} over alice's hosts");
    }
    server.cli_ok(&["zone", "add", "dyn.test"]);
    assert_eq!(server.sql("SELECT count(*) FROM zones"), "3");
}

/// The audit log names who made a key: the signed-in user in the pages and the API, `cli`
/// for the operator.
async fn key_creation_is_audited_with_its_actor(backend: Backend) {
    let server = start(backend).await;
    let mut pages = Visitor::new(&server);
    sign_in(&mut pages, "bob@example.com", PASS).await;
    let keys = pages.get("/keys").await;
    let r = pages
        .post("/keys", &[("name", "nas"), ("csrf", &csrf(&keys.body))])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let alice = Api::user(&server, ALICE).await;
    let (status, _, _) = alice
        .send("POST", "/api/v1/keys", json!({"name": "router"}))
        .await;
    assert_eq!(status, 201);
    server.cli_ok(&["key", "create", "--user", "bob@example.com"]);
    let actors = "SELECT string_agg(actor, ',') FROM (SELECT actor FROM audit_log \
                  WHERE action = 'key.create' ORDER BY id) AS a";
    let actors = match backend {
        Backend::Postgres => actors.to_owned(),
        Backend::Sqlite => actors.replace("string_agg", "group_concat"),
    };
    assert_eq!(server.sql(&actors), format!("bob@example.com,{ALICE},cli"));
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The database, its WAL files and mail with live links are the service user's alone,
/// whatever the umask; files an older version left readable are tightened at start.
async fn the_data_directory_is_private(backend: Backend) {
    let server = start(backend).await;
    let mail_dir = server.storage.data_dir.path().join("mail");
    server.add_user("new@example.com", PASS);
    let mut visitor = Visitor::new(&server);
    let form = visitor.get("/forgot").await;
    visitor
        .post(
            "/forgot",
            &[("email", "new@example.com"), ("csrf", &csrf(&form.body))],
        )
        .await;
    mails_at_least(&server, 1);
    let data = server.storage.data_dir.path().to_owned();
    let mut files = vec![data.clone(), mail_dir.clone()];
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&mail_dir), 0o700);
    for entry in std::fs::read_dir(&mail_dir).expect("mail dir") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files.push(path);
    }
    if backend == Backend::Sqlite {
        for suffix in ["", "-wal", "-shm"] {
            let path = Path::new(&format!(
                "{}{suffix}",
                server.storage.sqlite_path().display()
            ))
            .to_owned();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            files.push(path);
        }
    }

    // Loosened as an older version left them, then started again: tightened.
    let storage_env = server.storage.env();
    for path in &files {
        let loose = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(loose)).expect("chmod");
    }
    let again = support::Process::spawn(
        &["serve"],
        [
            ("DYN53_HTTP_ADDR", "127.0.0.1:0"),
            ("DYN53_MINIUPDATE_ADDR", "127.0.0.1:0"),
            ("DYN53_DNS_ADDR", "127.0.0.1:0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain(storage_env)
        .collect(),
        "dyn53 listening",
    );
    for path in &files {
        let tight = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(path), tight, "{}", path.display());
    }
    drop(again);
}

on_both_backends!(
    a_limited_key_without_hosts_can_do_nothing,
    blocks_belong_to_the_name,
    hosts_stay_out_of_other_accounts_zones,
    key_creation_is_audited_with_its_actor,
    the_data_directory_is_private,
);
