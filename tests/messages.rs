//! The messages a newcomer meets when something is wrong, provoked through the real binary:
//! each is one line that says what failed and where, with the likely fix, and never a
//! password.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::api::{SECRET, call, token};
use support::http::update;
use support::tenants::{PASS, setup_with};
use support::web::Visitor;
use support::{Backend, Server, binary, postgres_base, serve_in};

/// The tour's second command.
const ADD_HOST: &[&str] = &[
    "host",
    "add",
    "home.dyn.localhost",
    "--owner",
    "me@example.com",
];

/// Runs `dyn53 ARGS` in `dir` with only `env` of dyn53's settings.
fn dyn53_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary());
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("DYN53_")) {
        command.env_remove(name);
    }
    command
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .expect("dyn53 runs")
}

/// The one line a failed command printed.
fn one_error_line(out: &Output) -> String {
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, not {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

#[test]
fn an_operator_command_in_the_wrong_directory_says_where_it_looked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dyn53_in(dir.path(), ADD_HOST, &[]);
    let line = one_error_line(&out);
    let expected = dir.path().join("dyn53-data").join("dyn53.db");
    assert!(
        line.contains(&format!("no dyn53 database at {}", expected.display())),
        "{line}"
    );
    assert!(line.contains("DYN53_DATA_DIR"), "{line}");
    // Nothing was made where it looked: a new empty database would only hide the mistake.
    assert!(!dir.path().join("dyn53-data").exists());

    // Where there is a database, what is missing is named with the database it is missing from.
    assert!(dyn53_in(dir.path(), &["migrate"], &[]).status.success());
    let out = dyn53_in(dir.path(), ADD_HOST, &[]);
    assert_eq!(
        one_error_line(&out),
        format!(
            "error: no user me@example.com (in the SQLite database {})",
            expected.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_commands_find_the_servers_data_through_its_log_or_a_settings_file() {
    let server_dir = tempfile::tempdir().expect("temp dir");
    let data = server_dir.path().join("data");
    let server = serve_in(&data).await;
    // The server says where its data is, and how to reach it from elsewhere.
    assert!(
        server.log().contains(&format!(
            "data in {dir}: run operator commands here, or with DYN53_DATA_DIR={dir}",
            dir = data.display()
        )),
        "{}",
        server.log()
    );

    // From another directory, a settings file named by DYN53_CONFIG leads there...
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let settings = server_dir.path().join("dyn53.env");
    std::fs::write(
        &settings,
        format!(
            "# where the server keeps its data\nDYN53_DATA_DIR={}\n",
            data.display()
        ),
    )
    .expect("settings written");
    let config = settings.display().to_string();
    let out = dyn53_in(
        elsewhere.path(),
        &["user", "add", "me@example.com"],
        &[("DYN53_CONFIG", &config)],
    );
    assert!(out.status.success(), "{out:?}");
    // ... and so does ./dyn53.env in the directory a command runs from.
    std::fs::copy(&settings, elsewhere.path().join("dyn53.env")).expect("copied");
    let out = dyn53_in(elsewhere.path(), ADD_HOST, &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(!elsewhere.path().join("dyn53-data").exists());

    // The environment wins over the file.
    let out = dyn53_in(
        elsewhere.path(),
        &["zone", "list"],
        &[("DYN53_DATA_DIR", "/nonexistent/dyn53")],
    );
    assert!(one_error_line(&out).contains("/nonexistent/dyn53/dyn53.db"));

    // A settings file that cannot be read stops every command, saying which file.
    let out = dyn53_in(
        elsewhere.path(),
        &["zone", "list"],
        &[("DYN53_CONFIG", "/nonexistent/dyn53.env")],
    );
    let line = one_error_line(&out);
    assert!(
        line.starts_with("error: reading the settings file /nonexistent/dyn53.env: "),
        "{line}"
    );
}

#[test]
fn an_unreachable_postgresql_is_named_with_the_fix_and_without_the_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A port nothing listens on: bound and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("postgres://dyn53:s3cret-pw@127.0.0.1:{port}/dyn53");
    let out = dyn53_in(
        dir.path(),
        &["zone", "list"],
        &[("DYN53_DATABASE_URL", &url)],
    );
    assert_eq!(
        one_error_line(&out),
        format!(
            "error: cannot open the PostgreSQL database \"dyn53\" at 127.0.0.1:{port}: nothing \
             listens there (is PostgreSQL running? check the host and port)"
        )
    );

    // A server that is there, without the database.
    let base = url::Url::parse(&postgres_base()).expect("DYN53_TEST_POSTGRES is a URL");
    let (host, port) = (
        base.host_str().unwrap_or("localhost").to_owned(),
        base.port().unwrap_or(5432),
    );
    let user = match base.username() {
        "" => "postgres",
        user => user,
    };
    let url = format!("postgres://{user}:s3cret-pw@{host}:{port}/dyn53_never_created");
    let out = dyn53_in(dir.path(), &["serve"], &[("DYN53_DATABASE_URL", &url)]);
    let line = one_error_line(&out);
    assert_eq!(
        line,
        format!(
            "error: cannot open the PostgreSQL database \"dyn53_never_created\" at {host}:{port}: \
             it does not exist; create it with `createdb -h {host} -p {port} -U {user} \
             dyn53_never_created`"
        )
    );
    assert!(!line.contains("s3cret"));
}

async fn the_protocols_and_the_api_say_what_is_wrong(backend: Backend) {
    let server: Server = setup_with(backend, &[("DYN53_JWT_SECRET", SECRET)]).await;
    // dyndns2: a name that is not fully qualified, nor a group of the account.
    for name in ["not_a_name", "home", "a..b.dyn.test"] {
        let r = update(
            server.http,
            "alice@example.com",
            PASS,
            &format!("hostname={name}&myip=192.0.2.1"),
        )
        .await;
        assert_eq!((r.status, r.body.as_str()), (200, "notfqdn"), "{name}");
    }

    // The API names the field a body fails at, in words rather than the parser's.
    let bearer = token(&server, "alice@example.com").await;
    let detail = async |path: &str, body: &str| {
        let method = if path.ends_with("/update") || path == "/api/v1/groups" {
            "POST"
        } else {
            "PATCH"
        };
        let (status, value, _) = call(server.http, method, path, Some(&bearer), Some(body)).await;
        assert_eq!(
            (status, &value["code"]),
            (400, &Value::from("invalid_body"))
        );
        value["detail"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(
        detail("/api/v1/hosts/home.dyn.test", r#"{"ttl": "sixty"}"#).await,
        "The body is not valid: `ttl`: invalid type: string \"sixty\", expected a JSON number"
    );
    assert_eq!(
        detail(
            "/api/v1/groups",
            r#"{"name": "g", "hosts": ["home.dyn.test", 7]}"#
        )
        .await,
        "The body is not valid: `hosts[1]`: invalid type: integer `7`, expected a string"
    );
    assert_eq!(
        detail(
            "/api/v1/hosts/home.dyn.test/update",
            r#"{"ipv4": "192.0.2.1""#
        )
        .await,
        "The body is not valid: not JSON (EOF while parsing an object)"
    );
    assert_eq!(
        detail("/api/v1/hosts/home.dyn.test", r#"{"tll": 60}"#).await,
        "The body is not valid: `tll`: unknown field `tll`, expected one of `ipv4`, `ipv6`, \
         `offline`, `ttl`, `wildcard`, `mx`, `backmx`, `alias`, `txt`, `offline_ipv4`, \
         `offline_ipv6`, `ipv6_interface_id`"
    );

    // The pages: a form without its token, an unknown page, a typed /logout.
    let mut visitor = Visitor::new(&server);
    let r = visitor
        .post(
            "/login",
            &[("email", "alice@example.com"), ("password", PASS)],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("This form has expired"), "{}", r.body);
    assert!(!r.body.contains("Parse error"), "{}", r.body);
    let r = visitor.get("/no/such/page").await;
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("There is no page at /no/such/page"),
        "{}",
        r.body
    );
    let r = visitor.get("/logout").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Sign out"), "{}", r.body);
}

on_both_backends!(the_protocols_and_the_api_say_what_is_wrong);
