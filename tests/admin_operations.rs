//! The console's zones and registration pages, end to end on both backends: a zone added in
//! the console is audited and answers SOA on the DNS port, a bad one changes nothing; the
//! registration switch governs `/signup` and team invitations at once, and is audited.
//! Neither page exists for anyone but staff.

mod support;

use std::time::Duration;

use support::second_factor::signed_in_with_second_factor;
use support::web::{Visitor, csrf, link, mail_where, sign_in};
use support::{Backend, Server, dns, eventually};

const PASS: &str = "correct horse battery staple";
const STAFF: &str = "staff@example.net";
/// A password the sign-up and join forms accept (not among the common ones).
const NEW_PASS: &str = "quiet-Otter-91-lantern";

async fn staff_visitor(server: &Server) -> Visitor {
    server.add_user_with(STAFF, PASS, &["--staff"]);
    signed_in_with_second_factor(server.http, STAFF, PASS).await
}

/// The SOA serial `server`'s DNS port answers for `zone`.
async fn soa_serial(server: &Server, zone: &str) -> Option<u32> {
    dns::soa_serial(server.dns, zone).await
}

async fn zones_are_listed_and_added(backend: Backend) {
    let server = Server::start(backend).await;
    let mut staff = staff_visitor(&server).await;
    server.add_user("owner@example.net", PASS);

    let listed = staff.get("/admin/zones").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    for shown in [
        "dyn.test",
        "other.test",
        "ns1.dyn.test",
        "hostmaster.dyn.test",
    ] {
        assert!(
            listed.body.contains(shown),
            "{shown} missing: {}",
            listed.body
        );
    }
    // The embedded node's serial of each zone, as it answers it on the DNS port (the node
    // reports once a second).
    let serial = soa_serial(&server, "dyn.test")
        .await
        .expect("dyn.test served");
    let shown = eventually(Duration::from_secs(5), async || {
        let page = staff.get("/admin/zones").await;
        page.body
            .contains(&format!("embedded: {serial}"))
            .then_some(())
    })
    .await;
    assert!(
        shown.is_some(),
        "serial {serial} not shown: {}",
        listed.body
    );
    let token = csrf(&listed.body);

    // A bad name, and a bad TTL: a clear error, nothing changed.
    let zones_before = server.sql("SELECT count(*) FROM zones");
    let bad = staff
        .post(
            "/admin/zones",
            &[("csrf", &token), ("name", "bad_name!.test"), ("ttl", "60")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("is not a zone name"), "{}", bad.body);
    assert!(
        bad.body.contains("bad_name!.test"),
        "typed name kept: {}",
        bad.body
    );
    let bad_ttl = staff
        .post(
            "/admin/zones",
            &[("csrf", &token), ("name", "new.test"), ("ttl", "0")],
        )
        .await;
    assert_eq!(bad_ttl.status, 400, "{}", bad_ttl.body);
    assert!(
        bad_ttl.body.contains("TTL is 1 to 86400"),
        "{}",
        bad_ttl.body
    );
    let exists = staff
        .post(
            "/admin/zones",
            &[("csrf", &token), ("name", "dyn.test"), ("ttl", "60")],
        )
        .await;
    assert_eq!(exists.status, 409, "{}", exists.body);
    assert!(exists.body.contains("exists already"), "{}", exists.body);
    assert_eq!(server.sql("SELECT count(*) FROM zones"), zones_before);
    assert_eq!(
        server.sql(
            "SELECT count(*) FROM audit_log WHERE action = 'zone.create' AND actor LIKE 'staff:%'"
        ),
        "0"
    );
    assert_eq!(
        soa_serial(&server, "new.test").await,
        None,
        "not served before"
    );

    // A good zone: created, audited with the staff actor, served on the DNS port.
    let added = staff
        .post(
            "/admin/zones",
            &[
                ("csrf", &token),
                ("name", "New.Test."),
                ("nameservers", "ns-a.example.org, ns-b.example.org"),
                ("ttl", "120"),
            ],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(added.body.contains("Zone new.test added"), "{}", added.body);
    assert!(
        added.body.contains("ns-a.example.org, ns-b.example.org"),
        "{}",
        added.body
    );
    assert_eq!(
        server.sql(
            "SELECT actor FROM audit_log WHERE action = 'zone.create' AND detail = 'new.test'"
        ),
        format!("staff:{STAFF}")
    );
    assert_eq!(
        server.sql("SELECT account_id IS NULL FROM zones WHERE name = 'new.test'"),
        match backend {
            Backend::Sqlite => "1",
            Backend::Postgres => "t",
        }
    );
    let served = eventually(Duration::from_secs(5), async || {
        soa_serial(&server, "new.test").await
    })
    .await;
    let serial = served.expect("the new zone answers SOA on the DNS port");
    let relisted = eventually(Duration::from_secs(5), async || {
        let page = staff.get("/admin/zones").await;
        page.body
            .contains(&format!("embedded: {serial}"))
            .then_some(page)
    })
    .await;
    assert!(
        relisted.is_some(),
        "the zone's served serial {serial} is listed"
    );

    // Not for a tenant's user.
    let mut owner = Visitor::new(&server);
    assert_eq!(
        sign_in(&mut owner, "owner@example.net", PASS).await.status,
        303
    );
    for path in ["/admin/zones", "/admin/fleet", "/admin/registration"] {
        assert_eq!(owner.get(path).await.status, 404, "GET {path}");
        assert_eq!(
            owner.post(path, &[("csrf", "x")]).await.status,
            404,
            "POST {path}"
        );
    }
}

async fn sign_up(server: &Server, email: &str) -> support::http::Response {
    let mut v = Visitor::new(server);
    // The sign-in form carries the visitor's token even while sign-ups are refused.
    let form = v.get("/login").await;
    v.post(
        "/signup",
        &[
            ("email", email),
            ("password", NEW_PASS),
            ("csrf", &csrf(&form.body)),
        ],
    )
    .await
}

async fn set_registration(
    staff: &mut Visitor,
    mode: &str,
    reason: &str,
) -> support::http::Response {
    let form = staff.get("/admin/registration").await;
    assert_eq!(form.status, 200, "{}", form.body);
    staff
        .post(
            "/admin/registration",
            &[
                ("csrf", &csrf(&form.body)),
                ("mode", mode),
                ("reason", reason),
            ],
        )
        .await
}

async fn registration_switch(backend: Backend) {
    let server = Server::start(backend).await;
    let mut staff = staff_visitor(&server).await;
    server.add_user("owner@example.net", PASS);
    let mut owner = Visitor::new(&server);
    assert_eq!(
        sign_in(&mut owner, "owner@example.net", PASS).await.status,
        303
    );
    let users = || server.sql("SELECT count(*) FROM users");

    // Open by default.
    let page = staff.get("/admin/registration").await;
    assert!(
        page.body.contains("Open: anyone may sign up"),
        "{}",
        page.body
    );
    let r = sign_up(&server, "first@example.org").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let count = users();

    // A mode the form does not offer: refused, nothing changed.
    let bad = set_registration(&mut staff, "sometimes", "").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(
        server.sql("SELECT count(*) FROM audit_log WHERE action = 'registration.set'"),
        "0"
    );

    // Invitation only: /signup refuses, invitations still make users.
    let r = set_registration(&mut staff, "invitation", "spam wave").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Invitation only"), "{}", r.body);
    let form = Visitor::new(&server).get("/signup").await;
    assert!(form.body.contains("by invitation only"), "{}", form.body);
    assert!(
        !form.body.contains(r#"name="password""#),
        "no form: {}",
        form.body
    );
    let r = sign_up(&server, "second@example.org").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(users(), count, "no user made by a refused sign-up");
    let team = owner.get("/team").await;
    let r = owner
        .post(
            "/team/invite",
            &[
                ("csrf", &csrf(&team.body)),
                ("email", "vera@example.org"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert!(r.body.contains("Invitation sent"), "{}", r.body);
    let mail = mail_where(&server, "invitation", |m| {
        m.contains("To: vera@example.org")
    });
    let url = link(&mail, "/join?token=").expect("a join link");
    let token = url.split("token=").nth(1).expect("token").to_owned();
    let join = async |token: &str| {
        let mut v = Visitor::new(&server);
        let form = v.get(&url[url.find("/join").expect("path")..]).await;
        v.post(
            "/join",
            &[
                ("token", token),
                ("password", NEW_PASS),
                ("csrf", &csrf(&form.body)),
            ],
        )
        .await
    };

    // Closed: no sign-up, no invitation, not even an earlier one.
    let r = set_registration(&mut staff, "closed", "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let form = Visitor::new(&server).get("/signup").await;
    assert!(
        form.body.contains("Sign-ups are closed just now"),
        "{}",
        form.body
    );
    assert_eq!(sign_up(&server, "third@example.org").await.status, 403);
    let r = join(&token).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("no new users"), "{}", r.body);
    let team = owner.get("/team").await;
    let r = owner
        .post(
            "/team/invite",
            &[
                ("csrf", &csrf(&team.body)),
                ("email", "walt@example.org"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(users(), count);
    // The operator's CLI is not refused.
    server.add_user("operator-made@example.org", PASS);
    assert_eq!(
        users(),
        (count.parse::<u32>().expect("a count") + 1).to_string()
    );

    // Invitation only again: the earlier link works (it was not used up).
    set_registration(&mut staff, "invitation", "").await;
    let r = join(&token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("You joined the account"), "{}", r.body);

    // Every change audited with the staff actor, the reason in the detail.
    assert_eq!(
        server.sql(
            "SELECT count(*) FROM audit_log WHERE action = 'registration.set' \
             AND actor = 'staff:staff@example.net'"
        ),
        "3"
    );
    assert_eq!(
        server.sql(
            "SELECT detail FROM audit_log WHERE action = 'registration.set' ORDER BY id LIMIT 1"
        ),
        "invitation: spam wave"
    );
    let page = staff.get("/admin/registration").await;
    assert!(
        page.body.contains("set by staff:staff@example.net"),
        "{}",
        page.body
    );
}

on_both_backends!(zones_are_listed_and_added, registration_switch);
