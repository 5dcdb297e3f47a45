//! The dyndns2 protocol end to end: the real binary, real HTTP, real DNS answers, on
//! SQLite and on PostgreSQL.

mod support;

use std::time::Duration;

use base64::Engine as _;
use hickory_server::proto::rr::RecordType;
use support::api::Api;
use support::http::{AGENT, get, raw, update};
use support::tenants::{PASS, assert_serves, setup, setup_with};
use support::{Backend, Server, dns, eventually};

async fn update_then_dns_answers(backend: Backend) {
    let server = setup(backend).await;
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=home.dyn.test&myip=192.0.2.10",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "good 192.0.2.10"));
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    assert_eq!(r.header("content-length"), Some("15"));
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.10"]).await;
    let answer = dns::udp(server.dns, "HOME.dyn.test", RecordType::A).await;
    assert!(answer.metadata.authoritative, "AA must be set");

    let again = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=home.dyn.test&myip=192.0.2.10",
    )
    .await;
    assert_eq!(again.body, "nochg 192.0.2.10");
}

async fn families_are_independent(backend: Backend) {
    let server = setup(backend).await;
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=office.dyn.test&myip=2001:db8::7",
    )
    .await;
    assert_eq!(r.body, "good 2001:db8::7");
    assert_serves(
        &server,
        "office.dyn.test",
        RecordType::AAAA,
        &["2001:db8::7"],
    )
    .await;
    assert_serves(&server, "office.dyn.test", RecordType::A, &["198.51.100.1"]).await;

    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=office.dyn.test&myip=192.0.2.5",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.5");
    assert_serves(
        &server,
        "office.dyn.test",
        RecordType::AAAA,
        &["2001:db8::7"],
    )
    .await;

    // Dual stack in one request, IPv6 first in the request, IPv4 first in the answer.
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=home.dyn.test&myip=2001:db8::1,192.0.2.1",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.1,2001:db8::1");
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=home.dyn.test&myip=192.0.2.1&myipv6=2001:db8::2",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.1,2001:db8::2");
    assert_serves(&server, "home.dyn.test", RecordType::AAAA, &["2001:db8::2"]).await;

    // A host with no IPv6 address has no AAAA record: NODATA, not an empty answer with junk.
    let none = dns::udp(server.dns, "bob.dyn.test", RecordType::AAAA).await;
    assert!(none.answers.is_empty());
}

async fn one_line_per_name_in_request_order(backend: Backend) {
    let server = setup(backend).await;
    // `bad name!` can name neither a host nor a group (see dyndns2_groups.rs for names
    // that could be groups).
    let query = "hostname=office.dyn.test,nothere.dyn.test,bad%20name!,bob.dyn.test,home.dyn.test&myip=192.0.2.44";
    let r = update(server.http, "alice@example.com", PASS, query).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        "good 192.0.2.44\nnohost\nnotfqdn\nnohost\ngood 192.0.2.44"
    );
    // bob's host (another tenant) is untouched and indistinguishable from a missing one.
    assert_serves(&server, "bob.dyn.test", RecordType::A, &["198.51.100.9"]).await;
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.44"]).await;

    let empty = update(server.http, "alice@example.com", PASS, "myip=192.0.2.1").await;
    assert_eq!(empty.body, "notfqdn");
}

async fn authentication(backend: Backend) {
    let server = setup(backend).await;
    let none = get(
        server.http,
        "/nic/update?hostname=home.dyn.test&myip=192.0.2.1",
        None,
        Some(AGENT),
    )
    .await;
    assert_eq!((none.status, none.body.as_str()), (401, "badauth"));
    assert!(
        none.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic"))
    );

    let wrong = update(
        server.http,
        "alice@example.com",
        "not the password",
        "hostname=home.dyn.test&myip=192.0.2.1",
    )
    .await;
    assert_eq!((wrong.status, wrong.body.as_str()), (401, "badauth"));
    assert!(wrong.header("www-authenticate").is_none());
    let unknown = update(
        server.http,
        "carol@example.com",
        PASS,
        "hostname=home.dyn.test&myip=192.0.2.1",
    )
    .await;
    assert_eq!((unknown.status, unknown.body.as_str()), (401, "badauth"));

    // Query-string credentials, e-mail in any case.
    let q = get(
        server.http,
        "/nic/update?hostname=home.dyn.test&myip=192.0.2.2&username=Alice@Example.com&password=correct%20horse%20battery",
        None,
        Some(AGENT),
    )
    .await;
    assert_eq!(q.body, "good 192.0.2.2");

    // A login ID works wherever the e-mail does.
    let out = support::cli(
        &server.storage,
        &[
            "user",
            "add",
            "carol@example.com",
            "--login",
            "carol7",
            "--password-stdin",
        ],
        Some("carols password\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.cli_ok(&[
        "host",
        "add",
        "carol.other.test",
        "--owner",
        "carol@example.com",
    ]);
    let r = update(
        server.http,
        "carol7",
        "carols password",
        "hostname=carol.other.test&myip=192.0.2.70",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.70");
    // The password's trailing newline from stdin was dropped, not kept.
    let r = update(
        server.http,
        "carol7",
        "carols password\n",
        "hostname=carol.other.test&myip=192.0.2.71",
    )
    .await;
    assert_eq!(r.body, "badauth");

    // An update key instead of the password; limited to one host.
    let key = server.cli_ok(&[
        "key",
        "create",
        "--user",
        "alice@example.com",
        "--hosts",
        "home.dyn.test",
    ]);
    let key = key.trim();
    assert!(
        key.starts_with("dyn53_"),
        "the key alone on stdout: {key:?}"
    );
    let r = update(
        server.http,
        "alice@example.com",
        key,
        "hostname=home.dyn.test,office.dyn.test&myip=192.0.2.3",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.3\nnohost");
    // Someone else's key does not work with alice's login.
    let bob_key = server.cli_ok(&["key", "create", "--user", "bob@example.com"]);
    let r = update(
        server.http,
        "alice@example.com",
        bob_key.trim(),
        "hostname=home.dyn.test&myip=192.0.2.4",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (401, "badauth"));
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.3"]).await;
}

async fn request_level_errors(backend: Backend) {
    let server = setup(backend).await;
    let no_agent = get(
        server.http,
        "/nic/update?hostname=home.dyn.test&myip=192.0.2.1",
        Some(("alice@example.com", PASS)),
        None,
    )
    .await;
    assert_eq!(no_agent.body, "badagent");
    let empty_agent = get(
        server.http,
        "/nic/update?hostname=home.dyn.test",
        Some(("alice@example.com", PASS)),
        Some(" "),
    )
    .await;
    assert_eq!(empty_agent.body, "badagent");

    let names = (0..21)
        .map(|i| format!("h{i}.dyn.test"))
        .collect::<Vec<_>>()
        .join(",");
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        &format!("hostname={names}&myip=192.0.2.1"),
    )
    .await;
    assert_eq!(r.body, "numhost");

    for bad in [
        "192.0.2.001",
        "192.0.2.1,192.0.2.2",
        "banana",
        "192.0.2.1/40",
        "fe80::1%25eth0",
    ] {
        let r = update(
            server.http,
            "alice@example.com",
            PASS,
            &format!("hostname=home.dyn.test&myip={bad}"),
        )
        .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(
            r.body.starts_with("bad myip") && !r.body.contains('\n'),
            "{bad}: {}",
            r.body
        );
    }
    // DynDNS's `system` values only.
    for system in ["mx", "dyndns2", "%00"] {
        let query = format!("hostname=home.dyn.test&myip=192.0.2.76&system={system}");
        let r = update(server.http, "alice@example.com", PASS, &query).await;
        assert_eq!((r.status, r.body.as_str()), (200, "badsys"), "{system}");
    }
    // Nothing changed: home never got an address.
    assert_serves(&server, "home.dyn.test", RecordType::A, &[]).await;

    // Trimmed, and a /len suffix stripped; `system=dyndns` as ddclient sends it.
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=home.dyn.test&myip=%20192.0.2.77/24%20&system=dyndns",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.77");
}

async fn missing_myip_uses_the_source_address(backend: Backend) {
    let server = setup(backend).await;
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=home.dyn.test",
    )
    .await;
    assert_eq!(r.body, "good 127.0.0.1");
    assert_serves(&server, "home.dyn.test", RecordType::A, &["127.0.0.1"]).await;
}

async fn checkip_and_forwarded_for(backend: Backend) {
    let server = setup(backend).await;
    let r = get(server.http, "/checkip", None, None).await;
    assert_eq!(
        r.body,
        "<html><head><title>Current IP Check</title></head><body>Current IP Address: 127.0.0.1</body></html>"
    );
    let spoofed = raw(
        server.http,
        b"GET /checkip HTTP/1.0\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n",
    )
    .await
    .expect("answer");
    assert!(
        spoofed
            .body
            .ends_with("Current IP Address: 127.0.0.1</body></html>"),
        "untrusted peer: {}",
        spoofed.body
    );

    let proxied = Server::start_with(backend, &[("DYN53_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let r = raw(
        proxied.http,
        b"GET /checkip HTTP/1.0\r\nX-Forwarded-For: 203.0.113.7, 127.0.0.5\r\n\r\n",
    )
    .await
    .expect("answer");
    assert!(
        r.body
            .ends_with("Current IP Address: 203.0.113.7</body></html>"),
        "{}",
        r.body
    );
}

/// Behind a trusted proxy (loopback here), forwarding headers are read from the right: a
/// client that writes its own hops, with a bad one between, cannot choose its address; a
/// bad hop the proxies wrote ends at the nearest proxy. History and the default `myip` show
/// the address so found.
async fn forwarded_chains_are_read_from_the_right(backend: Backend) {
    let server = setup_with(backend, &[("DYN53_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("alice@example.com:{PASS}"));
    let proxied = async |header: &str| {
        let request = format!(
            "GET /nic/update?hostname=home.dyn.test HTTP/1.1\r\nHost: x\r\n\
             Authorization: Basic {auth}\r\nUser-Agent: {AGENT}\r\n{header}\r\n\
             Connection: close\r\n\r\n"
        );
        let r = raw(server.http, request.as_bytes()).await.expect("answer");
        let source = "SELECT source FROM update_history ORDER BY id DESC LIMIT 1";
        (r.body, server.sql(source))
    };
    let good = |ip: &str| (format!("good {ip}"), ip.to_owned());
    // The proxy appended the real client, 198.51.100.20, to what the client sent.
    assert_eq!(
        proxied("X-Forwarded-For: 203.0.113.5, x, 198.51.100.20").await,
        good("198.51.100.20")
    );
    assert_eq!(
        proxied("X-Forwarded-For: 203.0.113.5, 198.51.100.21:4711").await,
        good("127.0.0.1")
    );
    assert_eq!(
        proxied("Forwarded: for=203.0.113.5, for=\"[2001:db8::22]:4711\"").await,
        good("2001:db8::22")
    );
    let reset = "hostname=home.dyn.test&myip=192.0.2.9";
    update(server.http, "alice@example.com", PASS, reset).await;
    assert_eq!(
        proxied("Forwarded: for=203.0.113.5, for=unknown").await,
        good("127.0.0.1")
    );
    assert_serves(&server, "home.dyn.test", RecordType::A, &["127.0.0.1"]).await;
    assert_serves(
        &server,
        "home.dyn.test",
        RecordType::AAAA,
        &["2001:db8::22"],
    )
    .await;
}

/// Like No-IP's port 8245 beside 80: every configured address serves the same protocol.
async fn listens_on_every_http_address(backend: Backend) {
    let server =
        Server::start_with(backend, &[("DYN53_HTTP_ADDR", "127.0.0.1:0,127.0.0.1:0")]).await;
    assert_eq!(server.http_all.len(), 2);
    assert_ne!(server.http_all[0], server.http_all[1]);
    server.add_user("alice@example.com", PASS);
    server.cli_ok(&[
        "host",
        "add",
        "home.dyn.test",
        "--owner",
        "alice@example.com",
    ]);
    for (i, addr) in server.http_all.iter().enumerate() {
        let r = update(
            *addr,
            "alice@example.com",
            PASS,
            &format!("hostname=home.dyn.test&myip=::ffff:192.0.2.{i}"),
        )
        .await;
        assert_eq!(
            r.body,
            format!("good 192.0.2.{i}"),
            "an IPv4-mapped address is IPv4"
        );
    }
}

async fn fragile_clients(backend: Backend) {
    let server = setup(backend).await;
    use base64::Engine as _;
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("alice@example.com:{PASS}"));
    // HTTP/1.0, no Host header, raw '@' ',' ':' in the query.
    let request = format!(
        "GET /nic/update?hostname=home.dyn.test,office.dyn.test&myip=2001:db8::5&x=a@b HTTP/1.0\r\nAuthorization: Basic {token}\r\nUser-Agent: {AGENT}\r\n\r\n"
    );
    let r = raw(server.http, request.as_bytes())
        .await
        .expect("HTTP/1.0 answer");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "good 2001:db8::5\ngood 2001:db8::5")
    );
    assert_eq!(r.header("content-length"), Some("33"));
    assert!(r.header("transfer-encoding").is_none());

    // The aliases of the update path.
    for path in ["/nic/update/default.aspx", "/v3/update"] {
        let r = get(
            server.http,
            &format!("{path}?hostname=home.dyn.test&myip=192.0.2.8"),
            Some(("alice@example.com", PASS)),
            Some(AGENT),
        )
        .await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.body.ends_with("192.0.2.8"), "{path}: {}", r.body);
    }

    // Garbage in the query string: invalid escapes, non-UTF-8, unknown parameters.
    let headers = format!(
        "Host: dyn.test\r\nConnection: close\r\nAuthorization: Basic {token}\r\nUser-Agent: {AGENT}\r\n\r\n"
    );
    let request = format!(
        "GET /nic/update?hostname=home.dyn.test%ZZ%&myip=192.0.2.9&%FF%FE=%c3%28&wildcard=ON HTTP/1.1\r\n{headers}"
    );
    let r = raw(server.http, request.as_bytes()).await.expect("answer");
    assert_eq!((r.status, r.body.as_str()), (200, "notfqdn"));
    // Raw bytes that HTTP does not allow in a request line: a plain 400, never a 500.
    let mut request = b"GET /nic/update?hostname=\xff\xfe.dyn.test HTTP/1.1\r\n".to_vec();
    request.extend_from_slice(headers.as_bytes());
    let r = raw(server.http, &request).await.expect("answer");
    assert_eq!(r.status, 400, "{r:?}");

    // A 1 MB header is refused with 431 (or the connection is cut), and the server lives on.
    let huge = format!(
        "GET /nic/update HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    if let Ok(r) = raw(server.http, huge.as_bytes()).await {
        assert_eq!(r.status, 431);
    }
    let overlong = format!("hostname={}.dyn.test&myip=192.0.2.1", "a".repeat(300));
    let r = update(server.http, "alice@example.com", PASS, &overlong).await;
    assert_eq!(r.body, "notfqdn");
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=home.dyn.test&myip=192.0.2.10",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.10");
}

async fn concurrent_updates_of_one_host(backend: Backend) {
    let server = setup(backend).await;
    let http = server.http;
    let tasks: Vec<_> = (1..=16)
        .map(|i| {
            tokio::spawn(async move {
                update(
                    http,
                    "alice@example.com",
                    PASS,
                    &format!("hostname=home.dyn.test&myip=192.0.2.{i}"),
                )
                .await
            })
        })
        .collect();
    let mut bodies = Vec::new();
    for task in tasks {
        let r = task.await.expect("task");
        assert_eq!(r.status, 200, "{r:?}");
        bodies.push(r.body);
    }
    assert!(
        bodies.iter().all(|b| b.starts_with("good 192.0.2.")),
        "{bodies:?}"
    );
    // Whatever order they committed in, DNS ends up serving the last committed one, which
    // a follow-up identical update confirms as unchanged.
    let served = dns::lookup(server.dns, "home.dyn.test", RecordType::A).await;
    let settled = eventually(Duration::from_secs(3), async || {
        let now = dns::lookup(server.dns, "home.dyn.test", RecordType::A).await;
        let r = update(
            http,
            "alice@example.com",
            PASS,
            &format!("hostname=home.dyn.test&myip={}", now.first()?),
        )
        .await;
        r.body.starts_with("nochg").then_some(now)
    })
    .await;
    assert!(
        settled.is_some(),
        "DNS and database disagree after concurrent updates (served {served:?})"
    );
}

/// Many updates at once, of every kind of credentials, each answered for its own caller: on
/// PostgreSQL their reads share queries (a request's rows are told apart by its index).
async fn concurrent_callers_each_get_their_own_answer(backend: Backend) {
    let limits = [
        ("DYN53_ABUSE_LIMIT", "1000/600"),
        ("DYN53_AUTH_FAILURE_LIMIT", "1000/600"),
        ("DYN53_GUESS_LIMIT", "1000/600"),
    ];
    let server = setup_with(backend, &limits).await;
    let alice_key = server.new_key("alice@example.com", &[]);
    let bob_key = server.new_key("bob@example.com", &[]);
    let home_key = server.new_key("alice@example.com", &["--hosts", "home.dyn.test"]);
    let both = "hostname=home.dyn.test,office.dyn.test&myip=192.0.2.50";
    let r = update(server.http, "alice@example.com", PASS, both).await;
    assert_eq!(r.body, "good 192.0.2.50\ngood 192.0.2.50");

    // (user, secret, query, status, answer): a password, an account's key, a per-host key
    // (read by the key alone), another account's host, a wrong password.
    let calls = [
        (
            "alice@example.com",
            PASS,
            both,
            200,
            "nochg 192.0.2.50\nnochg 192.0.2.50",
        ),
        (
            "bob@example.com",
            bob_key.as_str(),
            "hostname=bob.dyn.test&myip=198.51.100.9",
            200,
            "nochg 198.51.100.9",
        ),
        (
            "home.dyn.test",
            home_key.as_str(),
            "myip=192.0.2.50",
            200,
            "nochg 192.0.2.50",
        ),
        (
            "alice@example.com",
            alice_key.as_str(),
            "hostname=bob.dyn.test&myip=192.0.2.1",
            200,
            "nohost",
        ),
        (
            "bob@example.com",
            "not-bobs-password",
            "hostname=bob.dyn.test",
            401,
            "badauth",
        ),
    ];
    let http = server.http;
    let tasks: Vec<_> = (0..40)
        .flat_map(|_| calls)
        .map(|(user, secret, query, status, answer)| {
            let (user, secret, query) = (user.to_owned(), secret.to_owned(), query.to_owned());
            tokio::spawn(async move {
                let r = update(http, &user, &secret, &query).await;
                ((r.status, r.body), (status, answer, user))
            })
        })
        .collect();
    for task in tasks {
        let ((status, body), (want_status, want, user)) = task.await.expect("task");
        assert_eq!((status, body.as_str()), (want_status, want), "{user}");
    }
    assert_serves(&server, "bob.dyn.test", RecordType::A, &["198.51.100.9"]).await;
}

async fn unchanged_updates_are_recorded_in_the_background(backend: Backend) {
    let server = setup(backend).await;
    let key = server.cli_ok(&["key", "create", "--user", "alice@example.com"]);
    for _ in 0..3 {
        let r = update(
            server.http,
            "alice@example.com",
            key.trim(),
            "hostname=office.dyn.test&myip=198.51.100.1",
        )
        .await;
        assert_eq!(r.body, "nochg 198.51.100.1");
    }
    // Answered before they were written: the check-ins land within a flush or two.
    let recorded = eventually(Duration::from_secs(3), async || {
        let n = server.sql("SELECT count(*) FROM update_history WHERE result = 'nochg'");
        (n == "3").then_some(())
    })
    .await;
    assert!(recorded.is_some(), "{}", server.log());
    let seen = "SELECT count(*) FROM hosts WHERE name = 'office.dyn.test' \
                AND updated_at IS NOT NULL AND last_agent IS NOT NULL";
    assert_eq!(server.sql(seen), "1");
    let used = "SELECT count(*) FROM update_keys WHERE last_used_at IS NOT NULL";
    assert_eq!(server.sql(used), "1");
    if backend == Backend::Postgres {
        // Room on the hosts' pages, so that a check-in updates its row in place of an entry
        // in each of the table's indexes (m0017).
        let options =
            "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'hosts'";
        assert_eq!(server.sql(options), "fillfactor=70");
    }
}

/// A host deleted while its check-in waits to be written gets no history line: no line is
/// left of a host that is gone, and the check-ins written with it are not lost.
async fn a_check_in_of_a_host_deleted_meanwhile_is_dropped_alone(backend: Backend) {
    let server = setup(backend).await;
    let key = server.cli_ok(&["key", "create", "--user", "alice@example.com"]);
    let api = Api::new_key(&server, "alice@example.com", &[]);
    let send = async |host: &str, ip: &str| {
        let query = format!("hostname={host}&myip={ip}");
        update(server.http, "alice@example.com", key.trim(), &query)
            .await
            .body
    };
    assert_eq!(
        send("home.dyn.test", "198.51.100.2").await,
        "good 198.51.100.2"
    );
    let office = server.sql("SELECT id FROM hosts WHERE name = 'office.dyn.test'");
    assert_eq!(
        send("office.dyn.test", "198.51.100.1").await,
        "nochg 198.51.100.1"
    );
    assert_eq!(
        send("home.dyn.test", "198.51.100.2").await,
        "nochg 198.51.100.2"
    );
    // Deleted within the writer's half second of gathering, as a person would.
    let (status, body, _) = api.delete("/api/v1/hosts/office.dyn.test").await;
    assert_eq!(status, 204, "{body}");
    let written = eventually(Duration::from_secs(3), async || {
        let n = server.sql("SELECT count(*) FROM update_history WHERE result = 'nochg'");
        (n == "1").then_some(())
    })
    .await;
    assert!(
        written.is_some(),
        "home's check-in is written: {}",
        server.log()
    );
    let lines = format!("SELECT count(*) FROM update_history WHERE host_id = {office}");
    assert_eq!(server.sql(&lines), "0");
    assert!(!server.log().contains("check-ins lost"), "{}", server.log());
}

/// A device checking in from the client its host's row names already adds a history line,
/// and rewrites the row only once it is an hour old; what the API shows is exact all the
/// same. Its key's "last used" is rewritten hourly too while it comes from one address.
async fn a_steady_client_rewrites_its_host_and_key_rows_hourly(backend: Backend) {
    let server = setup(backend).await;
    let key = server.cli_ok(&["key", "create", "--user", "alice@example.com"]);
    let api = Api::new_key(&server, "alice@example.com", &[]);
    let lines = std::cell::Cell::new(0);
    let check_in = async |agent: &str| {
        let query = "/nic/update?hostname=office.dyn.test&myip=198.51.100.1";
        let auth = Some(("alice@example.com", key.trim()));
        assert_eq!(
            get(server.http, query, auth, Some(agent)).await.body,
            "nochg 198.51.100.1"
        );
        lines.set(lines.get() + 1);
        let want = lines.get().to_string();
        let written = eventually(Duration::from_secs(3), async || {
            let n = server.sql("SELECT count(*) FROM update_history WHERE result = 'nochg'");
            (n == want).then_some(())
        })
        .await;
        assert!(written.is_some(), "{}", server.log());
    };
    let row = "SELECT last_agent || ' ' || updated_at FROM hosts WHERE name = 'office.dyn.test'";
    let key_row = "SELECT last_used_from || ' ' || last_used_at FROM update_keys \
                   WHERE scope = 'update'";
    let shown = async || {
        let (status, host, _) = api.get("/api/v1/hosts/office.dyn.test").await;
        assert_eq!(status, 200, "{host}");
        let at = host["updated_at"].as_str().expect("a time").to_owned();
        let at = chrono::DateTime::parse_from_rfc3339(&at).expect("RFC 3339");
        (at, host["last_client"].clone())
    };

    check_in(AGENT).await;
    let first = server.sql(row);
    assert!(first.starts_with(AGENT), "{first}");
    let first_use = server.sql(key_row);
    assert!(first_use.starts_with("127.0.0.1 "), "{first_use}");
    let (first_shown, client) = shown().await;
    assert_eq!(client, format!("dyndns2 ({AGENT})"));

    // The same client again: its row as it was, the API at the new check-in.
    tokio::time::sleep(Duration::from_millis(20)).await;
    check_in(AGENT).await;
    assert_eq!(server.sql(row), first);
    assert_eq!(server.sql(key_row), first_use);
    let (second_shown, _) = shown().await;
    assert!(
        second_shown > first_shown,
        "{second_shown} after {first_shown}"
    );

    // Another client: the row names it at once, as the console's search by agent needs.
    check_in("ddclient/3.11.2").await;
    assert!(server.sql(row).starts_with("ddclient/3.11.2 "));
    assert_eq!(shown().await.1, "dyndns2 (ddclient/3.11.2)");
    let by_agent = "SELECT count(*) FROM hosts WHERE last_agent = 'ddclient/3.11.2'";
    assert_eq!(server.sql(by_agent), "1");

    // The same client an hour after the row's time: rewritten.
    let old = if backend == Backend::Postgres {
        "now() - interval '61 minutes'"
    } else {
        "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-61 minutes')"
    };
    server.sql(&format!(
        "UPDATE hosts SET updated_at = {old} WHERE name = 'office.dyn.test' RETURNING id"
    ));
    server.sql(&format!(
        "UPDATE update_keys SET last_used_at = {old} WHERE scope = 'update' RETURNING id"
    ));
    let (backdated, backdated_use) = (server.sql(row), server.sql(key_row));
    check_in("ddclient/3.11.2").await;
    let rewritten = server.sql(row);
    assert!(rewritten.starts_with("ddclient/3.11.2 "), "{rewritten}");
    assert_ne!(rewritten, backdated);
    let used = server.sql(key_row);
    assert!(used.starts_with("127.0.0.1 "), "{used}");
    assert_ne!(used, backdated_use);
}

async fn operator_changes_reach_dns_while_serving(backend: Backend) {
    let server = setup(backend).await;
    let started = std::time::Instant::now();
    server.cli_ok(&[
        "host",
        "add",
        "late.other.test",
        "--owner",
        "bob@example.com",
        "--ipv4",
        "192.0.2.200",
        "--ipv6",
        "2001:db8::200",
    ]);
    assert_serves(&server, "late.other.test", RecordType::A, &["192.0.2.200"]).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a CLI change took {:?} to reach DNS",
        started.elapsed()
    );
    assert_serves(
        &server,
        "late.other.test",
        RecordType::AAAA,
        &["2001:db8::200"],
    )
    .await;

    let lines: String = (0..500)
        .map(|i| {
            format!(
                "bulk{i}.other.test bob@example.com 10.0.{}.{}\n",
                i / 256,
                i % 256
            )
        })
        .collect();
    let file = server.storage.data_dir.path().join("import.txt");
    std::fs::write(&file, lines).expect("write import file");
    server.cli_ok(&["host", "import", file.to_str().expect("utf-8 path")]);
    assert_serves(
        &server,
        "bulk499.other.test",
        RecordType::A,
        &["10.0.1.243"],
    )
    .await;

    // A bad import (one name outside every zone) changes nothing.
    std::fs::write(
        &file,
        "fine1.other.test bob@example.com\nelsewhere.example bob@example.com\n",
    )
    .expect("write");
    let out = server.cli(&["host", "import", file.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let nx = dns::udp(server.dns, "fine1.other.test", RecordType::A).await;
    assert_eq!(
        nx.metadata.response_code,
        hickory_server::proto::op::ResponseCode::NXDomain
    );

    // A zone of the operator's own, with its name servers and default TTL.
    server.cli_ok(&[
        "zone",
        "add",
        "Custom.Test.",
        "--ns",
        "ns1.example.net,ns2.example.net",
        "--ttl",
        "120",
    ]);
    server.cli_ok(&[
        "host",
        "add",
        "h.custom.test",
        "--owner",
        "bob@example.com",
        "--ipv4",
        "192.0.2.120",
    ]);
    assert_serves(&server, "h.custom.test", RecordType::A, &["192.0.2.120"]).await;
    let answer = dns::udp(server.dns, "h.custom.test", RecordType::A).await;
    assert_eq!(answer.answers[0].ttl, 120);
    let ns = dns::udp(server.dns, "custom.test", RecordType::NS).await;
    let mut names: Vec<String> = ns.answers.iter().map(|r| r.data.to_string()).collect();
    names.sort();
    assert_eq!(names, ["ns1.example.net.", "ns2.example.net."]);
    let listed = server.cli_ok(&["zone", "list"]);
    assert!(
        listed.contains("custom.test\tshared\tttl=120\tns=ns1.example.net,ns2.example.net"),
        "{listed}"
    );
    for args in [
        ["zone", "add", "bad.test", "--ttl", "0"].as_slice(),
        &["zone", "add", "bad.test", "--ns", "not a name"],
        &["zone", "add", "bad.test", "--ns", "bad.test"],
        &["zone", "add", "localhost"],
    ] {
        let out = server.cli(args);
        assert!(!out.status.success(), "{args:?} should fail");
    }

    // Idempotent operator commands, and clear refusals.

    let out = server.cli(&["zone", "add", "dyn.test"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stderr).contains("exists"));
    let out = server.cli(&[
        "host",
        "add",
        "home.dyn.test",
        "--owner",
        "alice@example.com",
    ]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stderr).contains("exists"));
    for args in [
        ["host", "add", "home.dyn.test", "--owner", "bob@example.com"].as_slice(),
        &["host", "add", "dyn.test", "--owner", "bob@example.com"],
        &[
            "host",
            "add",
            "nowhere.example",
            "--owner",
            "bob@example.com",
        ],
        &[
            "host",
            "add",
            "slow.dyn.test",
            "--owner",
            "bob@example.com",
            "--ttl",
            "999999",
        ],
        &[
            "host",
            "add",
            "bad_name.dyn.test",
            "--owner",
            "bob@example.com",
        ],
        &["host", "add", "x.dyn.test", "--owner", "nobody@example.com"],
        &[
            "host",
            "add",
            "x.dyn.test",
            "--owner",
            "bob@example.com",
            "--ipv4",
            "10.0.0.01",
        ],
    ] {
        let out = server.cli(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            !String::from_utf8_lossy(&out.stderr).is_empty(),
            "{args:?} should say why"
        );
    }
}

async fn landing_page_and_clean_shutdown(backend: Backend) {
    let server = setup(backend).await;
    let r = get(server.http, "/", None, None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("dynamic DNS") && r.body.contains("dyn.test"));
    let css = get(server.http, "/static/dyn53.css", None, None).await;
    assert_eq!(css.status, 200);
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
}

async fn database_down_answers_911_and_changes_nothing(backend: Backend) {
    let server = setup(backend).await;
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=office.dyn.test&myip=192.0.2.50",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.50");
    {
        let _broken = support::break_database(&server.storage);
        let started = std::time::Instant::now();
        let r = update(
            server.http,
            "alice@example.com",
            PASS,
            "hostname=office.dyn.test&myip=192.0.2.51",
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "911 took {:?}",
            started.elapsed()
        );
        assert_eq!((r.status, r.body.as_str()), (503, "911"), "{r:?}");
        assert!(r.header("retry-after").is_some());
        // DNS keeps serving the last committed data.
        assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.50"]).await;
    }
    let recovered = eventually(Duration::from_secs(10), async || {
        let r = update(
            server.http,
            "alice@example.com",
            PASS,
            "hostname=office.dyn.test&myip=192.0.2.52",
        )
        .await;
        (r.status == 200).then_some(r.body)
    })
    .await;
    assert_eq!(
        recovered.as_deref(),
        Some("good 192.0.2.52"),
        "{}",
        server.log()
    );
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.52"]).await;
}

/// PostgreSQL closes every connection (a restart, a failover, an operator's
/// `pg_terminate_backend`) while the server is idle: the next `nochg` updates, which only
/// read, are answered as if nothing happened, not `911`. That read runs on connections kept
/// out of the pool (`db/kept.rs`), which a broken one must not poison.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_connections_cut_by_the_server_cost_no_update() {
    let server = setup(Backend::Postgres).await;
    let query = "hostname=office.dyn.test&myip=192.0.2.60";
    update(server.http, "alice@example.com", PASS, query).await;
    let db = server.storage.pg_database.as_ref().expect("PostgreSQL");
    support::psql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ));
    for _ in 0..3 {
        let query = "hostname=office.dyn.test&myip=192.0.2.60";
        let r = update(server.http, "alice@example.com", PASS, query).await;
        assert_eq!(r.body, "nochg 192.0.2.60", "{}", server.log());
    }
}

async fn team_members_and_suspended_accounts(backend: Backend) {
    let server = setup(backend).await;
    let add_member = |email: &str, role: &str| {
        support::cli(
            &server.storage,
            &[
                "user",
                "add",
                email,
                "--password-stdin",
                "--member-of",
                "alice@example.com",
                "--role",
                role,
            ],
            Some(&format!("{PASS}\n")),
        )
    };
    assert!(add_member("carol@example.com", "editor").status.success());
    assert!(add_member("dave@example.com", "viewer").status.success());
    let office = "hostname=office.dyn.test&myip=192.0.2.70";

    // An editor changes the account's hosts; a viewer may not: `nohost`, nothing changes.
    let r = update(server.http, "carol@example.com", PASS, office).await;
    assert_eq!(r.body, "good 192.0.2.70");
    let r = update(
        server.http,
        "dave@example.com",
        PASS,
        "hostname=office.dyn.test&myip=192.0.2.71",
    )
    .await;
    assert_eq!(r.body, "nohost");
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.70"]).await;
    // A member sees only the account it belongs to.
    let r = update(
        server.http,
        "carol@example.com",
        PASS,
        "hostname=bob.dyn.test&myip=192.0.2.72",
    )
    .await;
    assert_eq!(r.body, "nohost");

    // Suspended: no user of the account may update, and nothing changes.
    let out = server.cli(&["account", "suspend", "carol@example.com"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("now suspended"));
    let again = server.cli(&["account", "suspend", "alice@example.com"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("suspended already"));
    for user in ["alice@example.com", "carol@example.com"] {
        let r = update(
            server.http,
            user,
            PASS,
            "hostname=office.dyn.test&myip=192.0.2.73",
        )
        .await;
        assert_eq!(r.body, "badauth", "{user}");
    }
    // Bob's account is another one.
    let r = update(
        server.http,
        "bob@example.com",
        PASS,
        "hostname=bob.dyn.test&myip=192.0.2.74",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.74");
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.70"]).await;

    server.cli_ok(&["account", "activate", "alice@example.com"]);
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=office.dyn.test&myip=192.0.2.75",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.75");

    // Refused operator commands change nothing.
    let out = server.cli(&[
        "user",
        "add",
        "erin@example.com",
        "--member-of",
        "nobody@example.com",
        "--role",
        "admin",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user nobody@example.com"));
    let out = server.cli(&["user", "add", "erin@example.com", "--role", "admin"]);
    assert!(!out.status.success());
    let out = server.cli(&["account", "suspend", "nobody@example.com"]);
    assert!(!out.status.success());
    let r = update(server.http, "erin@example.com", PASS, office).await;
    assert_eq!(r.body, "badauth");
}

async fn mintdns_calls(backend: Backend) {
    let server = setup(backend).await;
    let key = server
        .cli_ok(&[
            "key",
            "create",
            "--user",
            "alice@example.com",
            "--hosts",
            "office.dyn.test",
        ])
        .trim()
        .to_owned();
    let call = async |path: &str, auth: Option<(&str, &str)>| {
        let r = get(server.http, path, auth, Some(AGENT)).await;
        (r.status, r.body)
    };
    let alice = Some(("alice@example.com", PASS));
    assert_eq!(
        call("/client/usercheck.aspx", alice).await,
        (200, "okuser".into())
    );
    assert_eq!(
        call("/client/usercheck.aspx", Some(("alice@example.com", &key))).await,
        (200, "okuser".into())
    );
    for wrong in [
        Some(("alice@example.com", "wrong")),
        Some(("nobody@example.com", PASS)),
        None,
    ] {
        assert_eq!(
            call("/client/usercheck.aspx", wrong).await,
            (401, "nouser".into())
        );
        assert_eq!(
            call("/client/domlook.aspx", wrong).await,
            (401, "nouser".into())
        );
    }
    let xml = |names: &[&str]| {
        let domains: String = names
            .iter()
            .map(|n| format!("<domain>{n}</domain>"))
            .collect();
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><domains>{domains}</domains>")
    };
    let r = get(server.http, "/client/domlook.aspx", alice, Some(AGENT)).await;
    assert_eq!(r.body, xml(&["home.dyn.test", "office.dyn.test"]));
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/xml"))
    );
    // A key limited to one host lists that host; another tenant lists its own only.
    assert_eq!(
        call("/client/domlook.aspx", Some(("alice@example.com", &key)))
            .await
            .1,
        xml(&["office.dyn.test"])
    );
    assert_eq!(
        call("/client/domlook.aspx", Some(("bob@example.com", PASS)))
            .await
            .1,
        xml(&["bob.dyn.test"])
    );
    assert_eq!(call("/ipcheck.aspx", None).await, (200, "127.0.0.1".into()));
    assert_eq!(call("/checkip.cgi", None).await, (200, "127.0.0.1".into()));

    server.cli_ok(&["account", "suspend", "alice@example.com"]);
    assert_eq!(
        call("/client/usercheck.aspx", alice).await,
        (401, "nouser".into())
    );
    server.cli_ok(&["account", "activate", "alice@example.com"]);
    // (SQLite's stand-in for a broken database is a held write lock, which reads pass.)
    if backend == Backend::Postgres {
        let _broken = support::break_database(&server.storage);
        assert_eq!(
            call("/client/usercheck.aspx", alice).await,
            (503, "911".into())
        );
    }
}

async fn blocked_agents_methods_and_extra_paths(backend: Backend) {
    let server = setup_with(
        backend,
        &[
            ("DYN53_BLOCKED_AGENTS", "BadRouter, curl/7.1"),
            ("DYN53_UPDATE_PATHS", "/cgi-bin/ddns.cgi,/update.php"),
        ],
    )
    .await;
    let auth = Some(("alice@example.com", PASS));
    let query = "hostname=home.dyn.test&myip=192.0.2.80";
    for agent in ["badrouter 2.0", "Mozilla (BADROUTER)", "curl/7.1.0"] {
        let r = get(
            server.http,
            &format!("/nic/update?{query}"),
            auth,
            Some(agent),
        )
        .await;
        assert_eq!(r.body, "badagent", "{agent}");
    }
    // Methods clients do not use.
    for method in ["PUT", "DELETE", "PATCH"] {
        let request = format!(
            "{method} /nic/update?{query} HTTP/1.1\r\nHost: x\r\nUser-Agent: {AGENT}\r\nConnection: close\r\n\r\n"
        );
        let r = raw(server.http, request.as_bytes())
            .await
            .expect("HTTP exchange");
        assert_eq!(r.body, "badagent", "{method}");
    }
    assert!(
        dns::lookup(server.dns, "home.dyn.test", RecordType::A)
            .await
            .is_empty()
    );
    // The operator's extra paths, and POST, are the update.
    let r = get(
        server.http,
        &format!("/cgi-bin/ddns.cgi?{query}"),
        auth,
        Some(AGENT),
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.80");
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("alice@example.com:{PASS}"));
    let post = format!(
        "POST /update.php?hostname=home.dyn.test&myip=192.0.2.81 HTTP/1.1\r\nHost: x\r\nUser-Agent: {AGENT}\r\nAuthorization: Basic {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let r = raw(server.http, post.as_bytes())
        .await
        .expect("HTTP exchange");
    assert_eq!(r.body, "good 192.0.2.81");
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.81"]).await;
    assert_eq!(
        get(server.http, "/cgi-bin/other.cgi", auth, Some(AGENT))
            .await
            .status,
        404
    );
}

async fn per_host_keys_log_in_as_their_host(backend: Backend) {
    let server = setup(backend).await;
    let home_key = server.new_key("alice@example.com", &["--hosts", "home.dyn.test"]);
    let account_key = server.new_key("alice@example.com", &[]);
    // The host's name as user name, `hostname` omitted.
    let r = update(server.http, "home.dyn.test", &home_key, "myip=192.0.2.90").await;
    assert_eq!(r.body, "good 192.0.2.90");
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.90"]).await;
    let r = update(
        server.http,
        "home.dyn.test",
        &home_key,
        "hostname=home.dyn.test&myip=192.0.2.91",
    )
    .await;
    assert_eq!(r.body, "good 192.0.2.91");
    // Only a key limited to that host, and only for its own hosts.
    for (user, secret) in [
        ("office.dyn.test", home_key.as_str()),
        ("home.dyn.test", account_key.as_str()),
        ("home.dyn.test", PASS),
        ("bob.dyn.test", home_key.as_str()),
    ] {
        let r = update(server.http, user, secret, "myip=192.0.2.92").await;
        assert_eq!((r.status, r.body.as_str()), (401, "badauth"), "{user}");
    }
    let r = update(
        server.http,
        "home.dyn.test",
        &home_key,
        "hostname=office.dyn.test&myip=192.0.2.93",
    )
    .await;
    assert_eq!(r.body, "nohost");
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.91"]).await;
    assert_serves(&server, "office.dyn.test", RecordType::A, &["198.51.100.1"]).await;
}

async fn too_many_updates_of_a_host_are_abuse(backend: Backend) {
    let server = setup_with(backend, &[("DYN53_ABUSE_LIMIT", "3/2")]).await;
    let set = async |query: &str| {
        update(server.http, "alice@example.com", PASS, query)
            .await
            .body
    };
    // `good` and `nochg` both count.
    assert_eq!(
        set("hostname=home.dyn.test&myip=192.0.2.1").await,
        "good 192.0.2.1"
    );
    assert_eq!(
        set("hostname=home.dyn.test&myip=192.0.2.1").await,
        "nochg 192.0.2.1"
    );
    assert_eq!(
        set("hostname=home.dyn.test&myip=192.0.2.2").await,
        "good 192.0.2.2"
    );
    // The fourth in the window is refused and changes nothing; other hosts are not affected.
    assert_eq!(
        set("hostname=home.dyn.test,office.dyn.test&myip=192.0.2.3").await,
        "abuse\ngood 192.0.2.3"
    );
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.2"]).await;
    // Once the window has passed, the host may update again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        set("hostname=home.dyn.test&myip=192.0.2.4").await,
        "good 192.0.2.4"
    );
    // A limit that does not parse stops the server from starting.
    let out = std::process::Command::new(support::binary())
        .args(["serve"])
        .env("DYN53_ABUSE_LIMIT", "ten")
        .env("DYN53_DATA_DIR", server.storage.data_dir.path())
        .output()
        .expect("dyn53 runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("COUNT/SECONDS"));
}

async fn a_source_that_keeps_guessing_is_refused_for_a_while(backend: Backend) {
    let server = setup_with(
        backend,
        &[
            ("DYN53_AUTH_FAILURE_LIMIT", "3/2"),
            ("DYN53_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    )
    .await;
    let from = async |source: &str, password: &str, ip: &str| {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("alice@example.com:{password}"));
        let request = format!(
            "GET /nic/update?hostname=home.dyn.test&myip={ip} HTTP/1.1\r\nHost: x\r\n\
             User-Agent: {AGENT}\r\nAuthorization: Basic {token}\r\n\
             X-Forwarded-For: {source}\r\nConnection: close\r\n\r\n"
        );
        raw(server.http, request.as_bytes())
            .await
            .expect("HTTP exchange")
            .body
    };
    for _ in 0..3 {
        assert_eq!(from("198.51.100.7", "guess", "192.0.2.1").await, "badauth");
    }
    // Even the right password is refused from there, for now; the account's other clients
    // are not.
    assert_eq!(from("198.51.100.7", PASS, "192.0.2.1").await, "badauth");
    assert_eq!(
        from("198.51.100.8", PASS, "192.0.2.2").await,
        "good 192.0.2.2"
    );
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.2"]).await;
    // Update keys the same: after wrong keys, the right key from that source is refused
    // too, and the host is left alone.
    let key = server.cli_ok(&["key", "create", "--user", "alice@example.com"]);
    let key = key.trim();
    let wrong_key = support::wrong_key(key);
    for _ in 0..3 {
        assert_eq!(
            from("198.51.100.9", &wrong_key, "192.0.2.5").await,
            "badauth"
        );
    }
    assert_eq!(from("198.51.100.9", key, "192.0.2.5").await, "badauth");
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.2"]).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        from("198.51.100.7", PASS, "192.0.2.3").await,
        "good 192.0.2.3"
    );
    assert_eq!(
        from("198.51.100.9", key, "192.0.2.6").await,
        "good 192.0.2.6"
    );
}

async fn preserve_keeps_a_family(backend: Backend) {
    let server = setup(backend).await;
    let set = async |query: &str| {
        let query = format!("hostname=office.dyn.test&{query}");
        update(server.http, "alice@example.com", PASS, &query)
            .await
            .body
    };
    assert_eq!(
        set("myip=preserve&myipv6=2001:db8::2").await,
        "good 198.51.100.1,2001:db8::2"
    );
    assert_eq!(set("myip=preserve").await, "nochg 198.51.100.1");
    assert_eq!(
        set("myip=192.0.2.9,preserve").await,
        "good 192.0.2.9,2001:db8::2"
    );
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.9"]).await;
    assert_serves(
        &server,
        "office.dyn.test",
        RecordType::AAAA,
        &["2001:db8::2"],
    )
    .await;
    // A preserved family the host does not have: nothing to report, nothing set.
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=home.dyn.test&myip=preserve",
    )
    .await;
    assert_eq!(r.body, "nochg");
    assert_serves(&server, "home.dyn.test", RecordType::A, &[]).await;
}

async fn offline_is_a_premium_feature(backend: Backend) {
    let server = setup(backend).await;
    // alice's account is on the free plan: `!donator`, and nothing changes.
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=office.dyn.test&offline=YES",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "!donator"));
    assert_serves(&server, "office.dyn.test", RecordType::A, &["198.51.100.1"]).await;
    let r = update(
        server.http,
        "alice@example.com",
        PASS,
        "hostname=office.dyn.test&offline=maybe",
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");

    server.add_user_with("pat@example.com", PASS, &["--plan", "premium"]);
    server.cli_ok(&[
        "host",
        "add",
        "shop.dyn.test",
        "--owner",
        "pat@example.com",
        "--ipv4",
        "192.0.2.40",
    ]);
    let pat = async |query: &str| {
        let query = format!("hostname=shop.dyn.test&{query}");
        update(server.http, "pat@example.com", PASS, &query)
            .await
            .body
    };
    // Offline answers with the stored address (a myip is not applied) and serves none.
    assert_eq!(pat("offline=yes&myip=192.0.2.41").await, "good 192.0.2.40");
    assert_serves(&server, "shop.dyn.test", RecordType::A, &[]).await;
    assert_eq!(pat("offline=YES").await, "nochg 192.0.2.40");
    // offline=NO, or any update without it, brings the host back.
    assert_eq!(pat("offline=NO&myip=192.0.2.40").await, "good 192.0.2.40");
    assert_serves(&server, "shop.dyn.test", RecordType::A, &["192.0.2.40"]).await;
    assert_eq!(pat("offline=YES").await, "good 192.0.2.40");
    assert_eq!(pat("myip=192.0.2.42").await, "good 192.0.2.42");
    assert_serves(&server, "shop.dyn.test", RecordType::A, &["192.0.2.42"]).await;

    // The owner's alternative addresses are served while offline, and only then.
    server.cli_ok(&[
        "host",
        "offline-addresses",
        "shop.dyn.test",
        "--ipv4",
        "192.0.2.200",
        "--ipv6",
        "2001:db8::200",
    ]);
    assert_serves(&server, "shop.dyn.test", RecordType::A, &["192.0.2.42"]).await;
    assert_serves(&server, "shop.dyn.test", RecordType::AAAA, &[]).await;
    assert_eq!(pat("offline=YES").await, "good 192.0.2.42");
    assert_serves(&server, "shop.dyn.test", RecordType::A, &["192.0.2.200"]).await;
    assert_serves(
        &server,
        "shop.dyn.test",
        RecordType::AAAA,
        &["2001:db8::200"],
    )
    .await;
    assert_eq!(pat("offline=NO").await, "good 127.0.0.1");
    assert_serves(&server, "shop.dyn.test", RecordType::A, &["127.0.0.1"]).await;
    assert_serves(&server, "shop.dyn.test", RecordType::AAAA, &[]).await;
}

on_both_backends!(
    offline_is_a_premium_feature,
    preserve_keeps_a_family,
    a_source_that_keeps_guessing_is_refused_for_a_while,
    too_many_updates_of_a_host_are_abuse,
    per_host_keys_log_in_as_their_host,
    blocked_agents_methods_and_extra_paths,
    mintdns_calls,
    team_members_and_suspended_accounts,
    database_down_answers_911_and_changes_nothing,
    update_then_dns_answers,
    families_are_independent,
    one_line_per_name_in_request_order,
    authentication,
    request_level_errors,
    missing_myip_uses_the_source_address,
    checkip_and_forwarded_for,
    forwarded_chains_are_read_from_the_right,
    listens_on_every_http_address,
    fragile_clients,
    concurrent_updates_of_one_host,
    concurrent_callers_each_get_their_own_answer,
    unchanged_updates_are_recorded_in_the_background,
    a_check_in_of_a_host_deleted_meanwhile_is_dropped_alone,
    a_steady_client_rewrites_its_host_and_key_rows_hourly,
    operator_changes_reach_dns_while_serving,
    landing_page_and_clean_shutdown,
);
