//! The REST API's first endpoints over real HTTP on both backends: tokens, the caller's
//! hosts, and updates through the same service as the protocols; problems as
//! `application/problem+json` with stable codes; tenant isolation and key scopes.

mod support;

use hickory_server::proto::rr::RecordType;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use support::api::{SECRET, call, problem, token};
use support::tenants::{assert_serves, setup_with};
use support::{Backend, Server};

async fn start(backend: Backend) -> Server {
    setup_with(backend, &[("DYN53_JWT_SECRET", SECRET)]).await
}

async fn tokens_and_hosts(backend: Backend) {
    let server = start(backend).await;
    let http = server.http;
    let wrong = json!({"email": "alice@example.com", "password": "wrong"}).to_string();
    let unknown_field = json!({"email": "a@b.c", "password": "x", "admin": true}).to_string();
    assert_eq!(
        problem(call(http, "POST", "/api/v1/auth/token", None, Some(&wrong)).await),
        (401, "invalid_credentials".into())
    );
    assert_eq!(
        problem(
            call(
                http,
                "POST",
                "/api/v1/auth/token",
                None,
                Some(&unknown_field)
            )
            .await
        ),
        (400, "invalid_body".into())
    );
    let big = format!(
        "{{\"email\": \"{}\", \"password\": \"x\"}}",
        "a".repeat(20_000)
    );
    assert_eq!(
        problem(call(http, "POST", "/api/v1/auth/token", None, Some(&big)).await),
        (413, "body_too_large".into())
    );

    let alice = token(&server, "alice@example.com").await;
    let (status, hosts, _) = call(http, "GET", "/api/v1/hosts", Some(&alice), None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = hosts["items"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|h| h["name"].as_str())
        .collect();
    assert_eq!(names, ["home.dyn.test", "office.dyn.test"]);
    let (status, office, _) = call(
        http,
        "GET",
        "/api/v1/hosts/office.dyn.test",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(
        (status, office["ipv4"].as_str()),
        (200, Some("198.51.100.1"))
    );
    // Another account's host is not found, by any path.
    assert_eq!(
        problem(
            call(
                http,
                "GET",
                "/api/v1/hosts/bob.dyn.test",
                Some(&alice),
                None
            )
            .await
        ),
        (404, "host_not_found".into())
    );
    let set = json!({"ipv4": "192.0.2.1"}).to_string();
    assert_eq!(
        problem(
            call(
                http,
                "POST",
                "/api/v1/hosts/bob.dyn.test/update",
                Some(&alice),
                Some(&set)
            )
            .await
        ),
        (404, "host_not_found".into())
    );
    assert_serves(&server, "bob.dyn.test", RecordType::A, &["198.51.100.9"]).await;

    // Updates: the same results as the protocols, and DNS follows.
    let set = json!({"ipv4": "192.0.2.31", "ipv6": "2001:db8::31"}).to_string();
    let (status, result, _) = call(
        http,
        "POST",
        "/api/v1/hosts/home.dyn.test/update",
        Some(&alice),
        Some(&set),
    )
    .await;
    assert_eq!(
        (status, result),
        (
            200,
            json!({"result": "good", "ipv4": "192.0.2.31", "ipv6": "2001:db8::31"})
        )
    );
    assert_serves(
        &server,
        "home.dyn.test",
        RecordType::AAAA,
        &["2001:db8::31"],
    )
    .await;
    let (_, again, _) = call(
        http,
        "POST",
        "/api/v1/hosts/home.dyn.test/update",
        Some(&alice),
        Some(&set),
    )
    .await;
    assert_eq!(again["result"], "nochg");
    for (body, status, code) in [
        (json!({"ipv4": "192.0.2.999"}), 422, "invalid_ipv4"),
        (json!({"ipv6": "nope"}), 422, "invalid_ipv6"),
        (json!({"ipv4": "192.0.2.32", "ttl": 5}), 400, "invalid_body"),
        (json!({"offline": true}), 403, "not_on_plan"),
    ] {
        let body = body.to_string();
        let got = problem(
            call(
                http,
                "POST",
                "/api/v1/hosts/home.dyn.test/update",
                Some(&alice),
                Some(&body),
            )
            .await,
        );
        assert_eq!(got, (status, code.to_owned()), "{body}");
    }
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.31"]).await;
    let api_history = "SELECT count(*) FROM update_history WHERE protocol = 'api'";
    let counted = support::eventually(std::time::Duration::from_secs(3), async || {
        (server.sql(api_history) == "2").then_some(())
    })
    .await;
    assert!(counted.is_some(), "{}", server.sql(api_history));
    assert_eq!(
        problem(call(http, "GET", "/api/v1/nothing", Some(&alice), None).await),
        (404, "not_found".into())
    );
    // A path the API has, with a method it does not take.
    let wrong_method = call(http, "PUT", "/api/v1/hosts", Some(&alice), None).await;
    assert_eq!(wrong_method.2.header("allow"), Some("GET, POST"));
    assert_eq!(problem(wrong_method), (405, "method_not_allowed".into()));
    let big = format!("{{\"ipv4\": \"{}\"}}", "1".repeat(20_000));
    assert_eq!(
        problem(
            call(
                http,
                "POST",
                "/api/v1/hosts/home.dyn.test/update",
                Some(&alice),
                Some(&big)
            )
            .await
        ),
        (413, "body_too_large".into())
    );
}

/// Tokens that must not work: none, garbage, another algorithm, `none`, expired, another
/// issuer, another secret, another password or none named.
async fn bad_tokens(backend: Backend) {
    let server = start(backend).await;
    let http = server.http;
    let (status, code) = problem(call(http, "GET", "/api/v1/hosts", None, None).await);
    assert_eq!((status, code.as_str()), (401, "unauthenticated"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let sign = |header: Header, claims: Value, secret: &str| {
        encode(
            &header,
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("a token")
    };
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    // The password mark of a real token of alice's: the rest is what these tests vary.
    let real = token(&server, "alice@example.com").await;
    let payload = real.split('.').nth(1).expect("a JWT");
    let issued: Value =
        serde_json::from_slice(&b64.decode(payload).expect("base64")).expect("JSON");
    let (sub, pwd) = (issued["sub"].clone(), issued["pwd"].clone());
    let claims =
        |iss: &str, exp: i64| json!({"sub": sub, "iss": iss, "iat": now, "exp": exp, "pwd": pwd});
    let unsigned = {
        let head = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(claims("dyn53", now + 600).to_string());
        format!("{head}.{body}.")
    };
    let tokens = [
        "garbage".to_owned(),
        unsigned,
        sign(
            Header::new(Algorithm::HS384),
            claims("dyn53", now + 600),
            SECRET,
        ),
        sign(
            Header::new(Algorithm::HS256),
            claims("dyn53", now - 10),
            SECRET,
        ),
        sign(
            Header::new(Algorithm::HS256),
            claims("elsewhere", now + 600),
            SECRET,
        ),
        sign(
            Header::new(Algorithm::HS256),
            claims("dyn53", now + 600),
            "another secret, long enough to sign",
        ),
        sign(
            Header::new(Algorithm::HS256),
            json!({"sub": sub, "iss": "dyn53", "iat": now, "exp": now + 600}),
            SECRET,
        ),
        sign(
            Header::new(Algorithm::HS256),
            json!({"sub": sub, "iss": "dyn53", "iat": now, "exp": now + 600, "pwd": "0011223344556677"}),
            SECRET,
        ),
    ];
    for token in &tokens {
        let got = problem(call(http, "GET", "/api/v1/hosts", Some(token), None).await);
        assert_eq!(got, (401, "invalid_token".into()), "{token}");
    }
    // The right secret, algorithm, issuer and expiry: accepted.
    let good = sign(
        Header::new(Algorithm::HS256),
        claims("dyn53", now + 600),
        SECRET,
    );
    assert_eq!(
        call(http, "GET", "/api/v1/hosts", Some(&good), None)
            .await
            .0,
        200
    );
    // A new password ends every token issued before it, as it ends browser sessions.
    server.sql("UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE email = 'bob@example.com') WHERE email = 'alice@example.com' RETURNING id");
    for token in [&real, &good] {
        let got = problem(call(http, "GET", "/api/v1/hosts", Some(token), None).await);
        assert_eq!(got, (401, "invalid_token".into()));
    }
}

/// Update keys as bearer tokens: only with the API scope, and within their hosts.
async fn api_keys(backend: Backend) {
    let server = start(backend).await;
    let http = server.http;
    let plain = server.cli_ok(&["key", "create", "--user", "alice@example.com"]);
    let limited = server.cli_ok(&[
        "key",
        "create",
        "--user",
        "alice@example.com",
        "--scope",
        "api",
        "--hosts",
        "home.dyn.test",
    ]);
    let (plain, limited) = (plain.trim(), limited.trim());
    assert_eq!(
        problem(call(http, "GET", "/api/v1/hosts", Some(plain), None).await),
        (401, "invalid_credentials".into())
    );
    let (status, hosts, _) = call(http, "GET", "/api/v1/hosts", Some(limited), None).await;
    assert_eq!(status, 200);
    assert_eq!(hosts["items"].as_array().map(Vec::len), Some(1), "{hosts}");
    let set = json!({"ipv4": "192.0.2.41"}).to_string();
    let (status, _, _) = call(
        http,
        "POST",
        "/api/v1/hosts/home.dyn.test/update",
        Some(limited),
        Some(&set),
    )
    .await;
    assert_eq!(status, 200);
    let got = problem(
        call(
            http,
            "POST",
            "/api/v1/hosts/office.dyn.test/update",
            Some(limited),
            Some(&set),
        )
        .await,
    );
    assert_eq!(got, (404, "host_not_found".into()));
    assert_serves(&server, "office.dyn.test", RecordType::A, &["198.51.100.1"]).await;
    // No body: the caller's address.
    let (status, result, _) = call(
        http,
        "POST",
        "/api/v1/hosts/home.dyn.test/update",
        Some(limited),
        None,
    )
    .await;
    assert_eq!((status, result["ipv4"].as_str()), (200, Some("127.0.0.1")));
}

on_both_backends!(tokens_and_hosts, bad_tokens, api_keys);
