//! The access model, end to end on both backends: every change action of the pages and of
//! the REST API (notification subscriptions included) tried by an owner, an admin, an editor, a viewer, a suspended account's owner
//! and a host-limited key, each allowed or refused exactly as the table below says, and
//! nothing changed when refused.

mod support;

use serde_json::json;
use support::api::Api;
use support::tenants::PASS;
use support::web::{Visitor, csrf, sign_in};
use support::{Backend, Server};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Owner,
    Admin,
    Editor,
    Viewer,
    /// The owner of an account suspended after they signed in.
    Suspended,
    /// An API key of the owner's, limited to one host (the one `ChangeHost` changes).
    LimitedKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    CreateHost,
    ChangeHost,
    DeleteHost,
    CreateGroup,
    DeleteGroup,
    CreateKey,
    RevokeKey,
    RemoveUser,
    /// Pages only: the API has no invitations.
    Invite,
    /// A webhook subscription to notifications.
    Subscribe,
}

const ACTS: [Act; 10] = [
    Act::CreateHost,
    Act::ChangeHost,
    Act::DeleteHost,
    Act::CreateGroup,
    Act::DeleteGroup,
    Act::CreateKey,
    Act::RevokeKey,
    Act::RemoveUser,
    Act::Invite,
    Act::Subscribe,
];

/// The table, written out here on its own so that a change to the server's shows.
fn allowed(caller: Caller, act: Act) -> bool {
    use Act::*;
    match caller {
        Caller::Owner | Caller::Admin => true,
        Caller::Editor => matches!(
            act,
            CreateHost | ChangeHost | DeleteHost | CreateGroup | DeleteGroup
        ),
        Caller::Viewer | Caller::Suspended => false,
        Caller::LimitedKey => act == ChangeHost,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Surface {
    Pages,
    Api,
}

/// The names of the objects one (surface, caller) acts on.
struct Targets {
    prefix: String,
}

impl Targets {
    fn new(surface: Surface, caller: Caller) -> Targets {
        let s = match surface {
            Surface::Pages => "p",
            Surface::Api => "a",
        };
        Targets {
            prefix: format!("{s}-{}", format!("{caller:?}").to_lowercase()),
        }
    }
    fn label(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }
    fn host(&self, what: &str) -> String {
        format!("{}.dyn.test", self.label(what))
    }
    fn email(&self) -> String {
        format!("{}-member@example.com", self.prefix)
    }
    fn invited(&self) -> String {
        format!("{}-invited@example.com", self.prefix)
    }
    fn webhook(&self) -> String {
        format!("https://hooks.example.com/{}", self.prefix)
    }
}

/// The account owner whose data `caller` acts on.
fn owner_of(caller: Caller) -> &'static str {
    match caller {
        Caller::Suspended => "closed@example.com",
        _ => "owner@example.com",
    }
}

/// The objects `caller` will act on through `surface`, made by the operator.
fn make_targets(server: &Server, surface: Surface, caller: Caller) {
    let t = Targets::new(surface, caller);
    let owner = owner_of(caller);
    for what in ["chg", "del", "grouped"] {
        server.cli_ok(&["host", "add", &t.host(what), "--owner", owner]);
    }
    let group = t.label("oldgroup");
    let grouped = t.host("grouped");
    server.cli_ok(&[
        "group", "add", &group, "--owner", owner, "--hosts", &grouped,
    ]);
    server.cli_ok(&[
        "key",
        "create",
        "--user",
        owner,
        "--name",
        &t.label("oldkey"),
    ]);
    let member = t.email();
    server.add_user_with(&member, PASS, &["--member-of", owner, "--role", "editor"]);
}

/// Whether `act`'s change is in the database: a row that is there, or gone.
fn done(server: &Server, t: &Targets, act: Act) -> bool {
    let name = |column: &str, value: String| format!("{column} = '{value}'");
    let (table, condition, there) = match act {
        Act::CreateHost => ("hosts", name("name", t.host("new")), true),
        Act::ChangeHost => (
            "hosts",
            name("name", t.host("chg")) + " AND ttl = 120",
            true,
        ),
        Act::DeleteHost => ("hosts", name("name", t.host("del")), false),
        Act::CreateGroup => ("groups", name("name", t.label("newgroup")), true),
        Act::DeleteGroup => ("groups", name("name", t.label("oldgroup")), false),
        Act::CreateKey => ("update_keys", name("name", t.label("newkey")), true),
        Act::RevokeKey => (
            "update_keys",
            name("name", t.label("oldkey")) + " AND revoked_at IS NOT NULL",
            true,
        ),
        Act::RemoveUser => ("users", name("email", t.email()), false),
        Act::Invite => (
            "tokens",
            name("email", t.invited()) + " AND purpose = 'invite'",
            true,
        ),
        Act::Subscribe => (
            "notification_subscriptions",
            name("target", t.webhook()),
            true,
        ),
    };
    let count = server.sql(&format!("SELECT count(*) FROM {table} WHERE {condition}"));
    (count != "0") == there
}

/// What the accounts hold, to show a refused action changed nothing.
fn snapshot(server: &Server) -> String {
    server.sql(
        "SELECT (SELECT count(*) FROM hosts) || ',' || (SELECT coalesce(sum(ttl), 0) FROM hosts) \
         || ',' || (SELECT count(*) FROM groups) || ',' || (SELECT count(*) FROM update_keys \
         WHERE revoked_at IS NULL) || ',' || (SELECT count(*) FROM users) || ',' || \
         (SELECT count(*) FROM tokens WHERE purpose = 'invite') || ',' || \
         (SELECT count(*) FROM notification_subscriptions)",
    )
}

fn id_of(server: &Server, table: &str, column: &str, value: &str) -> String {
    server.sql(&format!(
        "SELECT id FROM {table} WHERE {column} = '{value}'"
    ))
}

/// Tries `act` in the pages: the status.
async fn page_act(server: &Server, v: &mut Visitor, token: &str, t: &Targets, act: Act) -> u16 {
    let host_id = |what: &str| id_of(server, "hosts", "name", &t.host(what));
    let (path, fields): (String, Vec<(&str, String)>) = match act {
        Act::CreateHost => (
            "/hosts".into(),
            vec![("label", t.label("new")), ("zone", "dyn.test".into())],
        ),
        Act::ChangeHost => (
            format!("/hosts/{}/settings", host_id("chg")),
            vec![("ttl", "120".into())],
        ),
        Act::DeleteHost => (format!("/hosts/{}/delete", host_id("del")), vec![]),
        Act::CreateGroup => ("/groups".into(), vec![("name", t.label("newgroup"))]),
        Act::DeleteGroup => (
            format!(
                "/groups/{}/delete",
                id_of(server, "groups", "name", &t.label("oldgroup"))
            ),
            vec![],
        ),
        Act::CreateKey => ("/keys".into(), vec![("name", t.label("newkey"))]),
        Act::RevokeKey => (
            format!(
                "/keys/{}/revoke",
                id_of(server, "update_keys", "name", &t.label("oldkey"))
            ),
            vec![],
        ),
        Act::RemoveUser => (
            format!(
                "/team/{}/remove",
                id_of(server, "users", "email", &t.email())
            ),
            vec![],
        ),
        Act::Invite => (
            "/team/invite".into(),
            vec![("email", t.invited()), ("role", "viewer".into())],
        ),
        Act::Subscribe => (
            "/notifications".into(),
            vec![
                ("channel", "webhook".into()),
                ("url", t.webhook()),
                ("events", "address.changed".into()),
                ("stale_days", "7".into()),
            ],
        ),
    };
    let mut fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    fields.push(("csrf", token));
    v.post(&path, &fields).await.status
}

/// Tries `act` through the API: the status, or `None` for an act the API does not have.
async fn api_act(server: &Server, api: &Api, t: &Targets, act: Act) -> Option<u16> {
    let (status, _, _) = match act {
        Act::CreateHost => {
            api.send("POST", "/api/v1/hosts", json!({"name": t.host("new")}))
                .await
        }
        Act::ChangeHost => {
            let path = format!("/api/v1/hosts/{}", t.host("chg"));
            api.send("PATCH", &path, json!({"ttl": 120})).await
        }
        Act::DeleteHost => {
            api.delete(&format!("/api/v1/hosts/{}", t.host("del")))
                .await
        }
        Act::CreateGroup => {
            let body = json!({"name": t.label("newgroup"), "hosts": []});
            api.send("POST", "/api/v1/groups", body).await
        }
        Act::DeleteGroup => {
            api.delete(&format!("/api/v1/groups/{}", t.label("oldgroup")))
                .await
        }
        Act::CreateKey => {
            api.send("POST", "/api/v1/keys", json!({"name": t.label("newkey")}))
                .await
        }
        Act::RevokeKey => {
            let id = id_of(server, "update_keys", "name", &t.label("oldkey"));
            api.delete(&format!("/api/v1/keys/{id}")).await
        }
        Act::RemoveUser => {
            let id = id_of(server, "users", "email", &t.email());
            api.delete(&format!("/api/v1/account/users/{id}")).await
        }
        Act::Invite => return None,
        Act::Subscribe => {
            let body = json!({"url": t.webhook(), "events": ["address.changed"]});
            api.send("POST", "/api/v1/notifications", body).await
        }
    };
    Some(status)
}

async fn signed_in(server: &Server, email: &str) -> (Visitor, String) {
    let mut v = Visitor::new(server);
    let r = sign_in(&mut v, email, PASS).await;
    assert_eq!(r.status, 303, "{email} signs in: {}", r.body);
    let page = v.get("/hosts").await;
    (v, csrf(&page.body))
}

async fn every_role_and_action(backend: Backend) {
    let server = Server::start_with(backend, &[("DYN53_JWT_SECRET", support::api::SECRET)]).await;
    for owner in ["owner@example.com", "closed@example.com"] {
        server.add_user_with(owner, PASS, &["--plan", "premium"]);
    }
    for (email, role) in [
        ("admin@example.com", "admin"),
        ("editor@example.com", "editor"),
        ("viewer@example.com", "viewer"),
    ] {
        server.add_user_with(
            email,
            PASS,
            &["--member-of", "owner@example.com", "--role", role],
        );
    }
    let people = [
        (Caller::Owner, "owner@example.com"),
        (Caller::Admin, "admin@example.com"),
        (Caller::Editor, "editor@example.com"),
        (Caller::Viewer, "viewer@example.com"),
        (Caller::Suspended, "closed@example.com"),
    ];
    for surface in [Surface::Pages, Surface::Api] {
        for (caller, _) in people {
            make_targets(&server, surface, caller);
        }
    }
    make_targets(&server, Surface::Api, Caller::LimitedKey);
    let limited_host = Targets::new(Surface::Api, Caller::LimitedKey).host("chg");
    let limited = Api::new_key(&server, "owner@example.com", &["--hosts", &limited_host]);

    // Signed in, with tokens, before the suspension.
    let mut callers = Vec::new();
    for (caller, email) in people {
        let page = signed_in(&server, email).await;
        callers.push((caller, Some(page), Api::user(&server, email).await));
    }
    callers.push((Caller::LimitedKey, None, limited));
    server.cli_ok(&["account", "suspend", "closed@example.com"]);

    let mut wrong = Vec::new();
    for (caller, page, api) in &mut callers {
        for act in ACTS {
            for surface in [Surface::Pages, Surface::Api] {
                let t = Targets::new(surface, *caller);
                let before = snapshot(&server);
                let status = match (surface, page.as_mut()) {
                    (Surface::Pages, Some((v, token))) => {
                        Some(page_act(&server, v, token, &t, act).await)
                    }
                    (Surface::Pages, None) => None,
                    (Surface::Api, _) => api_act(&server, api, &t, act).await,
                };
                let Some(status) = status else { continue };
                let expected = allowed(*caller, act);
                let ok = if expected {
                    status < 400 && done(&server, &t, act)
                } else {
                    matches!(status, 403 | 404) && snapshot(&server) == before
                };
                if !ok {
                    wrong.push(format!(
                        "{caller:?} {act:?} in the {surface:?}: {status}, expected {}",
                        if expected { "allowed" } else { "refused" }
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // The suspended account cannot sign in again, and is told why.
    let r = sign_in(&mut Visitor::new(&server), "closed@example.com", PASS).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("This account is suspended"), "{}", r.body);
}

on_both_backends!(every_role_and_action);
