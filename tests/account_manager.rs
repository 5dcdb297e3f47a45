//! The account manager over HTTP on both backends: the journey from sign-up to a host
//! updated by a key, its failure paths, and tenant isolation (another account's objects
//! answer 404 and stay as they were).

mod support;

use hickory_server::proto::rr::RecordType;
use support::http::update;
use support::tenants::assert_serves;
use support::web::{Visitor, csrf, link, mail_where, mails, mails_at_least, sign_in};
use support::{Backend, Server};

const PASSWORD: &str = "a long secret phrase";

/// Signs `email` up and follows the e-mailed link, entering the password: the visitor,
/// signed in by that.
async fn signed_up(server: &Server, email: &str) -> Visitor {
    let mut v = Visitor::new(server);
    let form = v.get("/signup").await;
    let before = mails(server).len();
    let r = v
        .post(
            "/signup",
            &[
                ("email", email),
                ("password", PASSWORD),
                ("csrf", &csrf(&form.body)),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Check your inbox"), "{}", r.body);
    let mail = mails_at_least(server, before + 1).pop().expect("a mail");
    assert_eq!(mails(server).len(), before + 1);
    assert!(mail.contains(&format!("To: {email}")), "{mail}");
    let r = confirm(&mut v, &mail, PASSWORD).await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/hosts")),
        "{}",
        r.body
    );
    v
}

/// Follows the verification link of `mail` and sends its form with `password`.
async fn confirm(v: &mut Visitor, mail: &str, password: &str) -> support::http::Response {
    let url = link(mail, "/verify?token=").expect("a verification link");
    let form = v.get(&url[url.find("/verify").expect("path")..]).await;
    assert!(form.body.contains("Confirm your address"), "{}", form.body);
    let token = support::web::field(&form.body, "token").expect("the link's token");
    v.post(
        "/verify",
        &[
            ("token", &token),
            ("password", password),
            ("csrf", &csrf(&form.body)),
        ],
    )
    .await
}

/// Creates host `label` under dyn.test: its id.
async fn add_host(v: &mut Visitor, label: &str) -> String {
    let page = v.get("/hosts").await;
    let r = v
        .post(
            "/hosts",
            &[
                ("label", label),
                ("zone", "dyn.test"),
                ("csrf", &csrf(&page.body)),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let location = r.header("location").expect("a redirect").to_owned();
    location.trim_start_matches("/hosts/").to_owned()
}

async fn journey(backend: Backend) {
    let server = Server::start(backend).await;
    let mut v = signed_up(&server, "pat@example.com").await;
    assert!(v.has_cookie("dyn53_session"));
    let id = add_host(&mut v, "Home").await;
    let page = v.get(&format!("/hosts/{id}")).await;
    assert!(
        page.body.contains("<h1>home.dyn.test</h1>"),
        "{}",
        page.body
    );

    // Addresses set in the page go through the update service to DNS and into history.
    let r = v
        .post(
            &format!("/hosts/{id}/addresses"),
            &[
                ("ipv4", "192.0.2.70"),
                ("ipv6", ""),
                ("csrf", &csrf(&page.body)),
            ],
        )
        .await;
    assert!(
        r.body.contains("Saved: DNS answers with it now."),
        "{}",
        r.body
    );
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.70"]).await;

    // A key limited to the host, shown once, updates it over dyndns2.
    let keys = v.get("/keys").await;
    let r = v
        .post(
            "/keys",
            &[
                ("name", "router"),
                ("hosts", "home.dyn.test"),
                ("csrf", &csrf(&keys.body)),
            ],
        )
        .await;
    let start = r.body.find("value=\"dyn53_").expect("the new key, shown") + 7;
    let key = r.body[start..]
        .split('"')
        .next()
        .expect("the key")
        .to_owned();
    assert!(key.starts_with("dyn53_"), "{key}");
    let u = update(server.http, "home.dyn.test", &key, "myip=192.0.2.71").await;
    assert_eq!(u.body, "good 192.0.2.71");
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.71"]).await;
    let page = v.get(&format!("/hosts/{id}")).await;
    assert!(page.body.contains("<td>192.0.2.71</td>") || page.body.contains(">192.0.2.71<"));
    assert!(page.body.contains("<td>dyndns2</td>"), "{}", page.body);
    assert!(page.body.contains("<td>web</td>"), "{}", page.body);
    assert!(
        page.body.contains("<svg class=\"timeline\""),
        "{}",
        page.body
    );
    // History is paged, newest first: 20 lines a page.
    for i in 0..25 {
        let query = format!("myip=192.0.2.{}", 100 + i);
        let u = update(server.http, "home.dyn.test", &key, &query).await;
        assert!(u.body.starts_with("good"), "{}", u.body);
    }
    let first = v.get(&format!("/hosts/{id}")).await;
    assert!(
        first.body.contains("<td>192.0.2.124 </td>"),
        "{}",
        first.body
    );
    assert!(
        first
            .body
            .contains(&format!("href=\"/hosts/{id}?page=1\">Older"))
    );
    let second = v.get(&format!("/hosts/{id}?page=1")).await;
    assert!(
        second.body.contains("<td>192.0.2.104 </td>"),
        "{}",
        second.body
    );
    assert!(!second.body.contains("<td>192.0.2.124 </td>"));
    assert!(
        second
            .body
            .contains(&format!("href=\"/hosts/{id}?page=0\">Newer"))
    );
    // The key list shows it, without its secret, and when it was last used.
    let keys = v.get("/keys").await;
    assert!(
        keys.body
            .contains("<td>router (update; only home.dyn.test)</td>"),
        "{}",
        keys.body
    );
    assert!(!keys.body.contains(&key));
    assert!(!keys.body.contains(">never<"), "{}", keys.body);
    // A key for RFC 2136 too: its TSIG key is shown once beside it, its name in the list.
    let r = v
        .post(
            "/keys",
            &[
                ("name", "certbot"),
                ("tsig", "1"),
                ("csrf", &csrf(&keys.body)),
            ],
        )
        .await;
    let start = r
        .body
        .find("value=\"hmac-sha256:")
        .expect("the TSIG key, shown")
        + 7;
    let tsig = r.body[start..].split('"').next().expect("the TSIG key");
    let name = tsig.split(':').nth(1).expect("its name");
    assert!(name.starts_with("dyn53-key-"), "{tsig}");
    let keys = v.get("/keys").await;
    assert!(
        keys.body
            .contains(&format!("certbot (update, TSIG <code>{name}</code>)")),
        "{}",
        keys.body
    );
    assert!(!keys.body.contains(tsig));

    // Security headers on pages; the session cookie is HttpOnly and SameSite.
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(page.header(name), Some(value), "{name}");
    }
    assert!(
        page.header("content-security-policy")
            .is_some_and(|c| c.contains("frame-ancestors 'none'"))
    );

    // Delete, then sign out: the pages want a session again.
    let r = v
        .post(
            &format!("/hosts/{id}/delete"),
            &[("csrf", &csrf(&page.body))],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_serves(&server, "home.dyn.test", RecordType::A, &[]).await;
    let hosts = v.get("/hosts").await;
    let r = v.post("/logout", &[("csrf", &csrf(&hosts.body))]).await;
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    assert!(!v.has_cookie("dyn53_session"));
    let r = v.get("/hosts").await;
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
}

async fn failure_paths(backend: Backend) {
    let server = Server::start(backend).await;
    let mut v = Visitor::new(&server);
    let form = v.get("/signup").await;
    let token = csrf(&form.body);
    // No CSRF field, or another one: refused, nothing created, no mail.
    for bad in ["", "x"] {
        let r = v
            .post(
                "/signup",
                &[
                    ("email", "eve@example.com"),
                    ("password", PASSWORD),
                    ("csrf", bad),
                ],
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    assert!(mails(&server).is_empty());
    // Weak passwords and bad addresses, said plainly.
    for (email, password, says) in [
        ("eve@example.com", "short", "use at least 10 characters"),
        ("eve@example.com", "Password123", "among the most common"),
        ("not-an-address", PASSWORD, "not an e-mail address"),
    ] {
        let r = v
            .post(
                "/signup",
                &[("email", email), ("password", password), ("csrf", &token)],
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains(says), "{says}: {}", r.body);
    }
    assert!(mails(&server).is_empty());

    // An unconfirmed address does not sign in, even with the right password.
    let r = v
        .post(
            "/signup",
            &[
                ("email", "eve@example.com"),
                ("password", PASSWORD),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = sign_in(&mut v, "eve@example.com", PASSWORD).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("Confirm your address first"), "{}", r.body);
    assert!(!v.has_cookie("dyn53_session"));

    // Signing up again with a known address says the same, and mails the owner.
    let mut other = Visitor::new(&server);
    signed_up(&server, "pat@example.com").await;
    let form = other.get("/signup").await;
    let r = other
        .post(
            "/signup",
            &[
                ("email", "pat@example.com"),
                ("password", "another long one"),
                ("csrf", &csrf(&form.body)),
            ],
        )
        .await;
    assert!(r.body.contains("Check your inbox"), "{}", r.body);
    let mail = mail_where(&server, "mail to the owner", |m| {
        m.contains("has an account already")
    });
    assert!(link(&mail, "/verify").is_none());

    // A wrong password and an unknown address get the same answer; then throttling.
    let wrong = sign_in(&mut other, "pat@example.com", "wrong password!").await;
    let unknown = sign_in(&mut other, "nobody@example.com", "wrong password!").await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert!(wrong.body.contains("Wrong e-mail address or password."));
    assert!(unknown.body.contains("Wrong e-mail address or password."));
    for _ in 0..9 {
        sign_in(&mut other, "pat@example.com", "wrong password!").await;
    }
    let r = sign_in(&mut other, "pat@example.com", PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.body);

    // Names: reserved, malformed, taken; the plan's limit.
    let mut v = signed_up(&server, "sam@example.com").await;
    let page = v.get("/hosts").await;
    let token = csrf(&page.body);
    for (label, status, says) in [
        ("www", 400, "that name is reserved"),
        ("-bad", 400, "a name has 1 to 63 letters"),
        ("a.b", 400, "a name has 1 to 63 letters"),
    ] {
        let r = v
            .post(
                "/hosts",
                &[("label", label), ("zone", "dyn.test"), ("csrf", &token)],
            )
            .await;
        assert_eq!(r.status, status, "{label}: {}", r.body);
        assert!(r.body.contains(says), "{label}: {}", r.body);
    }
    let r = v
        .post(
            "/hosts",
            &[("label", "x"), ("zone", "elsewhere.test"), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, 400);
    for i in 0..5 {
        add_host(&mut v, &format!("h{i}")).await;
    }
    let r = v
        .post(
            "/hosts",
            &[("label", "h5"), ("zone", "dyn.test"), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("Your plan allows 5 host names."));
    // Bad addresses change nothing.
    let id = {
        let list = v.get("/hosts").await;
        let start = list.body.find("href=\"/hosts/").expect("a host link") + 13;
        list.body[start..].split('"').next().expect("id").to_owned()
    };
    for (ipv4, ipv6) in [("192.0.2.999", ""), ("", "nope"), ("", "")] {
        let r = v
            .post(
                &format!("/hosts/{id}/addresses"),
                &[("ipv4", ipv4), ("ipv6", ipv6), ("csrf", &token)],
            )
            .await;
        assert_eq!(r.status, 400, "{ipv4} {ipv6}: {}", r.body);
    }
    let history = format!("SELECT count(*) FROM update_history WHERE host_id = {id}");
    assert_eq!(server.sql(&history), "0");

    // A taken name.
    let mut w = signed_up(&server, "tom@example.com").await;
    let page = w.get("/hosts").await;
    let r = w
        .post(
            "/hosts",
            &[
                ("label", "h0"),
                ("zone", "dyn.test"),
                ("csrf", &csrf(&page.body)),
            ],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("h0.dyn.test is taken"));
}

/// Another account's host and key, by id in every URL and form: 404, and nothing changes.
async fn tenants_are_isolated(backend: Backend) {
    let server = Server::start(backend).await;
    let mut alice = signed_up(&server, "alice@example.com").await;
    let host = add_host(&mut alice, "alice").await;
    let page = alice.get(&format!("/hosts/{host}")).await;
    alice
        .post(
            &format!("/hosts/{host}/addresses"),
            &[
                ("ipv4", "192.0.2.80"),
                ("ipv6", ""),
                ("csrf", &csrf(&page.body)),
            ],
        )
        .await;
    let keys = alice.get("/keys").await;
    alice
        .post(
            "/keys",
            &[("name", "alice key"), ("csrf", &csrf(&keys.body))],
        )
        .await;
    let key_id = server.sql("SELECT id FROM update_keys");

    let mut mallory = signed_up(&server, "mallory@example.com").await;
    let page = mallory.get("/hosts").await;
    let token = csrf(&page.body);
    assert!(!page.body.contains("alice.dyn.test"));
    let r = mallory.get(&format!("/hosts/{host}")).await;
    assert_eq!(r.status, 404);
    assert!(!r.body.contains("alice.dyn.test"));
    for (path, fields) in [
        (
            format!("/hosts/{host}/addresses"),
            vec![
                ("ipv4", "192.0.2.66"),
                ("ipv6", ""),
                ("csrf", token.as_str()),
            ],
        ),
        (
            format!("/hosts/{host}/delete"),
            vec![("csrf", token.as_str())],
        ),
        (
            format!("/keys/{key_id}/revoke"),
            vec![("csrf", token.as_str())],
        ),
    ] {
        let r = mallory.post(&path, &fields).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    for path in ["/hosts/abc", "/hosts/999999", "/hosts/-1"] {
        assert_eq!(mallory.get(path).await.status, 404, "{path}");
    }
    // A key limited to another account's host cannot be made.
    let keys = mallory.get("/keys").await;
    assert!(!keys.body.contains("alice key"));
    let r = mallory
        .post(
            "/keys",
            &[
                ("name", "k"),
                ("hosts", "alice.dyn.test"),
                ("csrf", &csrf(&keys.body)),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_serves(&server, "alice.dyn.test", RecordType::A, &["192.0.2.80"]).await;
    assert_eq!(
        server.sql("SELECT count(*) FROM update_keys WHERE revoked_at IS NULL"),
        "1"
    );
    // Without a session, nothing at all.
    let mut stranger = Visitor::new(&server);
    let r = stranger
        .post(&format!("/hosts/{host}/delete"), &[("csrf", "x")])
        .await;
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    assert_eq!(server.sql("SELECT count(*) FROM hosts"), "1");
}

/// The host settings form: what DNS serves after each save, and bad values refused.
async fn host_settings(backend: Backend) {
    use hickory_server::proto::rr::RData;
    let server = Server::start(backend).await;
    let mut v = signed_up(&server, "pat@example.com").await;
    let id = add_host(&mut v, "shop").await;
    let path = format!("/hosts/{id}/settings");
    let page = v.get(&format!("/hosts/{id}")).await;
    let token = csrf(&page.body);
    assert!(page.body.contains("Set up a client"));
    assert!(page.body.contains("login=shop.dyn.test"), "{}", page.body);
    let form = |ttl: &'static str, alias: &'static str, offline: bool| {
        let mut fields = vec![
            ("ttl", ttl),
            ("mx", "mail.example.com"),
            ("wildcard", "1"),
            ("txt", "v=spf1 -all\nhello world"),
            ("alias", alias),
            ("offline_ipv4", ""),
            ("offline_ipv6", ""),
        ];
        if offline {
            fields.push(("offline", "1"));
        }
        fields
    };
    let send = async |v: &mut Visitor, fields: Vec<(&str, &str)>| {
        let mut fields = fields;
        fields.push(("csrf", &token));
        v.post(&path, &fields).await
    };
    // Outside the zone's bounds (30 to 86400 s here), and an offline host on the free plan.
    let r = send(&mut v, form("5", "", false)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body
            .contains("The TTL must be between 30 and 86400 seconds"),
        "{}",
        r.body
    );
    let r = send(&mut v, form("120", "", true)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("premium plan"));
    let r = send(&mut v, form("120", "shop.dyn.test", false)).await;
    assert_eq!(r.status, 400);
    assert_eq!(server.sql("SELECT count(*) FROM update_history"), "0");

    let r = send(&mut v, form("120", "", false)).await;
    assert!(
        r.body.contains("Saved: DNS answers with it now."),
        "{}",
        r.body
    );
    let settled = support::eventually(std::time::Duration::from_secs(3), async || {
        let txt = support::dns::udp(server.dns, "shop.dyn.test", RecordType::TXT).await;
        let texts: Vec<String> = txt
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(t.to_string()),
                _ => None,
            })
            .collect();
        (texts.len() == 2 && txt.answers.iter().all(|r| r.ttl == 120)).then_some(texts)
    })
    .await;
    assert!(settled.is_some(), "TXT records with TTL 120");
    let mx = support::dns::udp(server.dns, "shop.dyn.test", RecordType::MX).await;
    assert!(
        matches!(&mx.answers[0].data, RData::MX(m) if m.exchange.to_string() == "mail.example.com.")
    );
    let wild = support::dns::udp(server.dns, "any.shop.dyn.test", RecordType::TXT).await;
    assert_eq!(
        wild.answers.len(),
        2,
        "the wildcard answers for names below"
    );

    // An alias serves a CNAME instead of addresses.
    let r = send(&mut v, form("120", "target.example.net", false)).await;
    assert!(r.body.contains("Saved"), "{}", r.body);
    let settled = support::eventually(std::time::Duration::from_secs(3), async || {
        let a = support::dns::udp(server.dns, "shop.dyn.test", RecordType::A).await;
        a.answers
            .iter()
            .any(|r| matches!(&r.data, RData::CNAME(c) if c.to_string() == "target.example.net."))
            .then_some(())
    })
    .await;
    assert!(settled.is_some(), "a CNAME to the alias target");
}

/// Groups made in the page are what a dyndns2 `hostname=GROUP` updates; another account's
/// group answers 404.
async fn groups(backend: Backend) {
    let server = Server::start(backend).await;
    let mut v = signed_up(&server, "pat@example.com").await;
    add_host(&mut v, "a").await;
    add_host(&mut v, "b").await;
    let page = v.get("/groups").await;
    let token = csrf(&page.body);
    let r = v
        .post(
            "/groups",
            &[
                ("name", "Home"),
                ("hosts", "a.dyn.test"),
                ("hosts", "b.dyn.test"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/groups")),
        "{}",
        r.body
    );
    let r = v
        .post("/groups", &[("name", "home"), ("csrf", &token)])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("a group home exists already"), "{}", r.body);
    let r = v
        .post("/groups", &[("name", "bad name"), ("csrf", &token)])
        .await;
    assert_eq!(r.status, 400);

    let keys = v.get("/keys").await;
    let r = v
        .post("/keys", &[("name", "all"), ("csrf", &csrf(&keys.body))])
        .await;
    let start = r.body.find("value=\"dyn53_").expect("a key") + 7;
    let key = r.body[start..].split('"').next().expect("key").to_owned();
    let u = update(
        server.http,
        "pat@example.com",
        &key,
        "hostname=home&myip=192.0.2.90",
    )
    .await;
    assert_eq!(u.body, "good 192.0.2.90");
    assert_serves(&server, "b.dyn.test", RecordType::A, &["192.0.2.90"]).await;

    // Rename and drop b; the old name no longer updates anything.
    let id = server.sql("SELECT id FROM groups");
    let r = v
        .post(
            &format!("/groups/{id}"),
            &[("name", "house"), ("hosts", "a.dyn.test"), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let u = update(
        server.http,
        "pat@example.com",
        &key,
        "hostname=house,home&myip=192.0.2.91",
    )
    .await;
    // The old name is no group now, nor a host name: `notfqdn`.
    assert_eq!(u.body, "good 192.0.2.91\nnotfqdn");
    assert_serves(&server, "b.dyn.test", RecordType::A, &["192.0.2.90"]).await;
    let page = v.get("/groups").await;
    assert!(page.body.contains("<h2 id=\"group-"), "{}", page.body);

    let mut other = signed_up(&server, "sam@example.com").await;
    let page = other.get("/groups").await;
    assert!(!page.body.contains("house"));
    let token2 = csrf(&page.body);
    let r = other
        .post(
            &format!("/groups/{id}"),
            &[("name", "mine"), ("csrf", &token2)],
        )
        .await;
    assert_eq!(r.status, 404);
    let r = other
        .post(&format!("/groups/{id}/delete"), &[("csrf", &token2)])
        .await;
    assert_eq!(r.status, 404);
    // Another account's host, by name in the form, cannot join a group.
    let fields = [
        ("name", "stolen"),
        ("hosts", "a.dyn.test"),
        ("csrf", token2.as_str()),
    ];
    let r = other.post("/groups", &fields).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(server.sql("SELECT count(*) FROM groups"), "1");
    assert_eq!(server.sql("SELECT name FROM groups"), "house");

    let r = v
        .post(&format!("/groups/{id}/delete"), &[("csrf", &token)])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(server.sql("SELECT count(*) FROM groups"), "0");
    assert_eq!(server.sql("SELECT count(*) FROM hosts"), "2");
}

/// A forgotten password, a changed password and a changed address; single-use links, and
/// no answer that tells which addresses have accounts.
async fn passwords_and_addresses(backend: Backend) {
    let server = Server::start(backend).await;
    let mut pat = signed_up(&server, "pat@example.com").await;
    let mut v = Visitor::new(&server);
    let forgot = async |v: &mut Visitor, email: &str| {
        let form = v.get("/forgot").await;
        v.post("/forgot", &[("email", email), ("csrf", &csrf(&form.body))])
            .await
    };
    let before = mails(&server).len();
    let unknown = forgot(&mut v, "nobody@example.com").await;
    let known = forgot(&mut v, "pat@example.com").await;
    assert_eq!((unknown.status, known.status), (200, 200));
    assert!(unknown.body.contains("If that address has an account"));
    assert!(known.body.contains("If that address has an account"));
    mails_at_least(&server, before + 1);
    assert_eq!(
        mails(&server).len(),
        before + 1,
        "only the known address gets mail"
    );
    let mail = mails(&server).pop().expect("the reset mail");
    let url = link(&mail, "/reset?token=").expect("a reset link");
    let token = url.split("token=").nth(1).expect("token").to_owned();
    let form = v.get(&url[url.find("/reset").expect("path")..]).await;
    let form_csrf = csrf(&form.body);
    let reset = async |v: &mut Visitor, password: &str| {
        v.post(
            "/reset",
            &[
                ("token", &token),
                ("password", password),
                ("csrf", &form_csrf),
            ],
        )
        .await
    };
    let r = reset(&mut v, "short").await;
    assert_eq!(r.status, 400);
    let r = reset(&mut v, "a brand new passphrase").await;
    assert!(r.body.contains("Password changed"), "{}", r.body);
    let r = reset(&mut v, "yet another passphrase").await;
    assert_eq!(r.status, 400, "a reset link works once");
    // The old session ended with the old password; the new one signs in.
    assert_eq!(pat.get("/hosts").await.status, 303);
    assert_eq!(
        sign_in(&mut pat, "pat@example.com", PASSWORD).await.status,
        401
    );
    let r = sign_in(&mut pat, "pat@example.com", "a brand new passphrase").await;
    assert_eq!(r.status, 303);

    // Change the password from the account page: the current one is required.
    let page = pat.get("/account").await;
    assert!(page.body.contains("<h1>Your account</h1>"));
    let token = csrf(&page.body);
    let change = async |v: &mut Visitor, current: &str| {
        let fields = [
            ("current", current),
            ("password", "third passphrase ok"),
            ("csrf", &token),
        ];
        v.post("/account/password", &fields).await
    };
    assert_eq!(change(&mut pat, "wrong one here").await.status, 403);
    let r = change(&mut pat, "a brand new passphrase").await;
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    let r = sign_in(&mut pat, "pat@example.com", "third passphrase ok").await;
    assert_eq!(r.status, 303);

    // Change the address: it changes only once the link sent to the new one is followed.
    let page = pat.get("/account").await;
    let fields = [
        ("email", "patricia@example.com"),
        ("current", "third passphrase ok"),
        ("csrf", &csrf(&page.body)),
    ];
    let r = pat.post("/account/email", &fields).await;
    assert!(
        r.body.contains("We sent a link to patricia@example.com"),
        "{}",
        r.body
    );
    assert_eq!(server.sql("SELECT email FROM users"), "pat@example.com");
    let mail = mail_where(&server, "confirmation mail", |m| {
        m.contains("To: patricia@example.com")
    });
    let url = link(&mail, "/confirm-email?token=").expect("a link");
    let r = pat
        .get(&url[url.find("/confirm-email").expect("path")..])
        .await;
    assert!(r.body.contains("Address changed"), "{}", r.body);
    assert_eq!(
        server.sql("SELECT email FROM users"),
        "patricia@example.com"
    );
    let r = sign_in(&mut pat, "patricia@example.com", "third passphrase ok").await;
    assert_eq!(r.status, 303);
}

/// Invitations with roles: a viewer looks but cannot change DNS; an editor can, but cannot
/// invite; the owner removes users; links work once.
async fn team(backend: Backend) {
    let server = Server::start(backend).await;
    let mut owner = signed_up(&server, "owner@example.com").await;
    let id = add_host(&mut owner, "office").await;
    let invite = async |v: &mut Visitor, email: &str, role: &str| {
        let page = v.get("/team").await;
        let fields = [
            ("email", email),
            ("role", role),
            ("csrf", &csrf(&page.body)),
        ];
        v.post("/team/invite", &fields).await
    };
    let join = async |server: &Server, email: &str| {
        let mail = mail_where(server, "invitation", |m| {
            m.contains(&format!("To: {email}"))
        });
        let url = link(&mail, "/join?token=").expect("a join link");
        let token = url.split("token=").nth(1).expect("token").to_owned();
        let mut v = Visitor::new(server);
        let form = v.get(&url[url.find("/join").expect("path")..]).await;
        let fields = [
            ("token", token.as_str()),
            ("password", PASSWORD),
            ("csrf", &csrf(&form.body)),
        ];
        let r = v.post("/join", &fields).await;
        (v, r, token)
    };
    let r = invite(&mut owner, "vera@example.com", "viewer").await;
    assert!(
        r.body.contains("Invitation sent to vera@example.com"),
        "{}",
        r.body
    );
    assert_eq!(
        invite(&mut owner, "x@example.com", "owner").await.status,
        400
    );
    let (mut vera, r, token) = join(&server, "vera@example.com").await;
    assert!(r.body.contains("You joined the account"), "{}", r.body);
    let again = vera
        .post(
            "/join",
            &[("token", &token), ("password", PASSWORD), ("csrf", "x")],
        )
        .await;
    assert_eq!(again.status, 403);
    assert_eq!(
        sign_in(&mut vera, "vera@example.com", PASSWORD)
            .await
            .status,
        303
    );
    // The viewer sees the account's host but may not change it.
    let page = vera.get(&format!("/hosts/{id}")).await;
    assert_eq!(page.status, 200);
    let r = vera
        .post(
            &format!("/hosts/{id}/addresses"),
            &[
                ("ipv4", "192.0.2.99"),
                ("ipv6", ""),
                ("csrf", &csrf(&page.body)),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Your role may not change DNS."));
    assert_eq!(
        invite(&mut vera, "y@example.com", "editor").await.status,
        403
    );

    invite(&mut owner, "ed@example.com", "editor").await;
    let (mut ed, _, _) = join(&server, "ed@example.com").await;
    sign_in(&mut ed, "ed@example.com", PASSWORD).await;
    let page = ed.get(&format!("/hosts/{id}")).await;
    let r = ed
        .post(
            &format!("/hosts/{id}/addresses"),
            &[
                ("ipv4", "192.0.2.98"),
                ("ipv6", ""),
                ("csrf", &csrf(&page.body)),
            ],
        )
        .await;
    assert!(r.body.contains("Saved"), "{}", r.body);
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.98"]).await;

    // Removing the viewer signs them out; another account cannot remove anyone here.
    let vera_id = server.sql("SELECT id FROM users WHERE email = 'vera@example.com'");
    let mut other = signed_up(&server, "other@example.com").await;
    let page = other.get("/team").await;
    assert!(!page.body.contains("vera@example.com"));
    let r = other
        .post(
            &format!("/team/{vera_id}/remove"),
            &[("csrf", &csrf(&page.body))],
        )
        .await;
    assert_eq!(r.status, 404);
    let page = owner.get("/team").await;
    assert!(page.body.contains("vera@example.com"));
    let r = owner
        .post(
            &format!("/team/{vera_id}/remove"),
            &[("csrf", &csrf(&page.body))],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        vera.get("/hosts").await.status,
        303,
        "the removed user is signed out"
    );
}

/// With `DYN53_SMTP_URL`, mail goes to a real SMTP server (a Python sink here, speaking
/// plain SMTP on loopback) instead of files.
async fn mail_over_smtp(backend: Backend) {
    let sink = tempfile::tempdir().expect("temp dir");
    let port = support::fleet::free_port();
    let script = "import smtpd, asyncore, sys, os, itertools\n\
        n = itertools.count()\n\
        class Sink(smtpd.SMTPServer):\n\
        \x20   def process_message(self, peer, sender, rcpt, data, **kw):\n\
        \x20       open(os.path.join(sys.argv[2], f'{next(n)}.eml'), 'wb').write(data)\n\
        Sink(('127.0.0.1', int(sys.argv[1])), None, decode_data=False)\n\
        print('ready', flush=True)\n\
        asyncore.loop()\n";
    let mut child = std::process::Command::new("python3")
        .args(["-W", "ignore", "-c", script, &port.to_string()])
        .arg(sink.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("piped")),
        &mut line,
    )
    .expect("the sink starts");
    assert_eq!(line.trim(), "ready");
    let url = format!("smtp://127.0.0.1:{port}");
    let server = Server::start_with(backend, &[("DYN53_SMTP_URL", &url)]).await;
    let mut v = Visitor::new(&server);
    let form = v.get("/signup").await;
    let fields = [
        ("email", "pat@example.com"),
        ("password", PASSWORD),
        ("csrf", &csrf(&form.body)),
    ];
    let r = v.post("/signup", &fields).await;
    assert!(r.body.contains("Check your inbox"), "{}", r.body);
    // Sent after the answer, in the background.
    let sent = sink.path().join("0.eml");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !sent.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let _ = child.kill();
    let _ = child.wait();
    let mail = std::fs::read_to_string(&sent).expect("a mail in the sink");
    assert!(mail.contains("To: pat@example.com"), "{mail}");
    assert!(mails(&server).is_empty(), "no files when SMTP is set");
    let r = confirm(&mut v, &mail, PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
}

/// Someone signs up with another person's address: until that person confirms it with a
/// password of their own, the address signs in nowhere (pages, API token, keys), and the
/// earlier registration's password is gone once they do.
async fn pre_account_hijacking(backend: Backend) {
    let server = Server::start_with(backend, &[("DYN53_JWT_SECRET", support::api::SECRET)]).await;
    let victim = "victim@example.com";
    let attacker_password = "the attacker's own phrase";
    let mut attacker = Visitor::new(&server);
    let form = attacker.get("/signup").await;
    let fields = [
        ("email", victim),
        ("password", attacker_password),
        ("csrf", &csrf(&form.body)),
    ];
    assert_eq!(attacker.post("/signup", &fields).await.status, 200);
    let attackers_mail = mails_at_least(&server, 1)
        .pop()
        .expect("a mail to the victim");

    // The attacker knows the password but not the mailbox: no session, no token.
    let r = sign_in(&mut attacker, victim, attacker_password).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!attacker.has_cookie("dyn53_session"));
    let body = serde_json::json!({"email": victim, "password": attacker_password}).to_string();
    let (status, value, _) =
        support::api::call(server.http, "POST", "/api/v1/auth/token", None, Some(&body)).await;
    assert_eq!((status, value["code"].as_str()), (403, Some("unverified")));

    // The victim has the mailbox but not the password: the attacker's link does not confirm.
    let mut owner = Visitor::new(&server);
    let r = confirm(&mut owner, &attackers_mail, PASSWORD).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.body.contains("not the password chosen at sign-up"),
        "{}",
        r.body
    );

    // Signing up again replaces the attacker's password; the victim confirms with theirs.
    let mut owner = signed_up(&server, victim).await;
    assert!(owner.has_cookie("dyn53_session"));
    let hosts = owner.get("/hosts").await;
    assert_eq!(hosts.status, 200);
    let r = sign_in(&mut attacker, victim, attacker_password).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Nor does the attacker's old link confirm anything now.
    let r = confirm(&mut attacker, &attackers_mail, attacker_password).await;
    assert_ne!(r.status, 303, "{}", r.body);
}

/// Unknown URLs get the site's own page; `GET /logout` a page, not an empty 404.
async fn site_pages(backend: Backend) {
    let server = Server::start(backend).await;
    let mut v = Visitor::new(&server);
    let r = v.get("/no/such/page").await;
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("There is no page at /no/such/page."),
        "{}",
        r.body
    );
    let r = v.get("/logout").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Sign out"), "{}", r.body);
    let r = v.get("/").await;
    assert!(r.body.contains("href=\"/signup\"") && r.body.contains("href=\"/login\""));
}

on_both_backends!(
    mail_over_smtp,
    team,
    journey,
    failure_paths,
    tenants_are_isolated,
    host_settings,
    groups,
    passwords_and_addresses,
    pre_account_hijacking,
    site_pages,
);
