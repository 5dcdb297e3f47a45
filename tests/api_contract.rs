//! The REST API against its own OpenAPI document, on both backends: every documented
//! operation is served, and schemathesis (`st`, a property-based API tester) finds no answer
//! that the document does not describe: no server errors, no undocumented status codes,
//! content types, headers or bodies, and no valid request refused or invalid one accepted.
//! Its settings are in `tests/api_contract/schemathesis.toml`; `scripts/test` installs it.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::{Value, json};
use support::api::SECRET;
use support::tenants::{PASS, setup_with};
use support::{Backend, Server};

/// The schemathesis release `scripts/test` installs; the configuration is written for it.
const SCHEMATHESIS: &str = "4.32.5";

/// Test cases per operation and phase: one run takes about ten seconds alone, twice that
/// with both backends at once on two cores.
const MAX_EXAMPLES: &str = "100";

/// The same requests on every run (the configuration keeps no examples between runs).
const SEED: &str = "53";

/// Every check that looks at single responses: no 5xx; status codes, content types,
/// headers and bodies as documented; invalid requests refused and valid ones accepted
/// (`positive_data_acceptance` takes 422 as acceptance: see the configuration file); 405
/// with a correct `Allow` for methods the document does not have on a path; and no
/// operation that works without the token.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
    response_schema_conformance,response_headers_conformance,negative_data_rejection,\
    positive_data_acceptance,missing_required_header,unsupported_method,\
    allow_header_conformance,ignored_auth";

/// Examples from the document, the coverage phase's boundary and type-violating values,
/// random (fuzzed) requests, and sequences of calls along the links schemathesis infers from
/// the answers (`Location`, ids), which name their targets by `operationId`.
const PHASES: &str = "examples,coverage,fuzzing,stateful";

/// One API call: status and JSON body (`Null` when the body is not JSON).
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let body = body.map(Value::to_string);
    let (status, value, _) = support::api::call(addr, method, path, bearer, body.as_deref()).await;
    (status, value)
}

/// The server with alice's data (hosts home.dyn.test and office.dyn.test, group cameras,
/// notification subscription 1) and a token of hers.
async fn start(backend: Backend) -> (Server, String) {
    let server = setup_with(
        backend,
        &[
            ("DYN53_JWT_SECRET", SECRET),
            // Thousands of calls in a few seconds, far over the default.
            ("DYN53_API_RATE_LIMIT", "100000/60"),
        ],
    )
    .await;
    let token = support::api::token(&server, "alice@example.com").await;
    let group = json!({"name": "cameras", "hosts": ["home.dyn.test"]});
    let (status, body) = call(
        server.http,
        "POST",
        "/api/v1/groups",
        Some(&token),
        Some(&group),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let subscription = json!({"email": "alice@example.com", "events": ["host.stale"]});
    let (status, body) = call(
        server.http,
        "POST",
        "/api/v1/notifications",
        Some(&token),
        Some(&subscription),
    )
    .await;
    assert_eq!(
        (status, &body["subscription"]["id"]),
        (201, &json!(1)),
        "{body}"
    );
    (server, token)
}

/// The document as served.
async fn document(server: &Server) -> Value {
    let (status, doc) = call(server.http, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200, "{doc}");
    doc
}

/// A value for a path parameter that names one of alice's objects, or for an id, one that
/// names nothing (only deletions take ids: a 404 of theirs is not the catch-all's).
fn path_value(parameter: &str) -> &'static str {
    match parameter {
        "fqdn" => "home.dyn.test",
        "name" => "cameras",
        "subscription" => "1",
        "id" => "999999",
        other => panic!("no value for the path parameter {{{other}}}: add one to path_value"),
    }
}

/// `template` with its `{parameters}` filled in.
fn fill(template: &str) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').expect("a closed parameter") + open;
        path.push_str(&rest[..open]);
        path.push_str(path_value(&rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    path + rest
}

/// Whether an answer is the one every unregistered path under `/api/v1` gets.
fn is_catch_all((status, body): &(u16, Value)) -> bool {
    *status == 404 && body["code"] == "not_found"
}

async fn every_documented_operation_is_served(backend: Backend) {
    let (server, token) = start(backend).await;
    let doc = document(&server).await;
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1"), "OpenAPI version {version:?}");

    // What an unregistered path under /api/v1 gets, and no documented operation may.
    let unknown = call(
        server.http,
        "GET",
        "/api/v1/no-such-thing",
        Some(&token),
        None,
    )
    .await;
    assert!(is_catch_all(&unknown), "{unknown:?}");

    let mut operations: Vec<(String, String, bool)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let has_body = !operation["requestBody"].is_null();
            operations.push((method.to_uppercase(), path.clone(), has_body));
        }
    }
    assert!(operations.len() > 10, "{operations:?}");
    // Deletions last, so that every other operation finds alice's objects.
    operations.sort_by_key(|(method, _, _)| method == "DELETE");
    for (method, template, has_body) in &operations {
        let path = fill(template);
        // An empty object: valid for some operations, a 400 or 422 for others, which is
        // just as good; what matters is that a handler answered.
        let body = has_body.then(|| json!({}));
        let answer = call(server.http, method, &path, Some(&token), body.as_ref()).await;
        let (status, value) = &answer;
        eprintln!("{method} {path}: {status} {}", value["code"]);
        assert!(
            !is_catch_all(&answer) && *status != 405 && *status < 500,
            "{method} {template} is documented but not served: {method} {path} answered \
             {status} {value}\n{}",
            server.log()
        );
        // Reads of alice's own objects succeed: the token and the path values are good.
        if method == "GET" {
            assert_eq!(*status, 200, "{method} {path}: {value}");
        }
    }
}

/// `st ARGS` in `dir`, failing (not skipping) the test when schemathesis is not installed.
fn schemathesis(dir: &Path, args: &[&str]) -> Output {
    Command::new("st")
        .args(args)
        .current_dir(dir)
        // The configuration's `${DYN53_CONTRACT_PASSWORD}`: alice's sign-in.
        .env("DYN53_CONTRACT_PASSWORD", PASS)
        .env_remove("SCHEMATHESIS_HOOKS")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "schemathesis (`st`) does not run ({e}): scripts/test installs it, or \
                 `python3 -m pip install schemathesis=={SCHEMATHESIS}`"
            )
        })
}

async fn schemathesis_finds_nothing_undocumented(backend: Backend) {
    let version = schemathesis(Path::new("."), &["--version"]);
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    assert!(
        version.ends_with(&format!(" {SCHEMATHESIS}")),
        "tests/api_contract/schemathesis.toml is written for schemathesis {SCHEMATHESIS}; \
         `st --version` says {version:?}: `python3 -m pip install schemathesis=={SCHEMATHESIS}`"
    );
    let (server, token) = start(backend).await;
    // The record the configuration's deletions name.
    let record = json!({
        "type": "TXT",
        "name": "_acme-challenge.home.dyn.test",
        "value": "contract-test",
    });
    let (status, body) = call(
        server.http,
        "POST",
        "/api/v1/hosts/home.dyn.test/records",
        Some(&token),
        Some(&record),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api_contract/schemathesis.toml");
    let url = format!("http://{}/api/v1/openapi.json", server.http);
    let bearer = format!("Authorization: Bearer {token}");
    // Its own directory, for anything it writes (reports, caches).
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config.to_str().expect("utf-8 path").to_owned();
    let work = dir.path().to_owned();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        schemathesis(
            &work,
            &[
                "--config-file",
                &config,
                "--no-color",
                "run",
                &url,
                "--header",
                &bearer,
                "--checks",
                CHECKS,
                "--phases",
                PHASES,
                "--max-examples",
                MAX_EXAMPLES,
                "--seed",
                SEED,
                "--workers",
                "1",
                "--request-timeout",
                "10",
            ],
        )
    })
    .await
    .expect("schemathesis finishes");
    let took = started.elapsed();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis failed ({}, after {took:?}): the failures below are answers the OpenAPI \
         document does not describe\n{report}\nserver log:\n{}",
        out.status,
        server.log()
    );
    eprintln!("schemathesis ({backend:?}) took {took:?}");
}

on_both_backends!(
    every_documented_operation_is_served,
    schemathesis_finds_nothing_undocumented
);
