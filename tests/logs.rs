//! Logs for a log collector (`DYN53_LOG_FORMAT=json`): one JSON object per line, each line
//! written while an HTTP request is handled carrying the request's id, which the response
//! echoes; and never a password.

mod support;

use serde_json::Value;
use support::http::{AGENT, raw};
use support::{Backend, Server};

const PASSWORD: &str = "logs-password-1";

/// The log's lines, each parsed; any line that is not a JSON object fails the test.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

/// The request id of a log line: the field of its `request` span.
fn request_id(line: &Value) -> Option<&str> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|span| span["name"] == "request")?["request_id"]
        .as_str()
}

async fn logs_are_json_with_request_ids(backend: Backend) {
    let server = Server::start_with(
        backend,
        &[
            ("DYN53_LOG_FORMAT", "json"),
            ("RUST_LOG", "info,dyn53_web::request_id=debug,sqlx=warn"),
        ],
    )
    .await;
    server.add_user("me@example.com", PASSWORD);
    let update = async |request_id: &str| {
        let auth = base64_credentials("me@example.com", PASSWORD);
        let request = format!(
            "GET /nic/update?hostname=nothere.dyn.test&myip=192.0.2.1 HTTP/1.1\r\n\
             Host: x\r\nUser-Agent: {AGENT}\r\nAuthorization: Basic {auth}\r\n\
             {request_id}Connection: close\r\n\r\n"
        );
        raw(server.http, request.as_bytes()).await.expect("HTTP")
    };
    // A proxy's id is kept and echoed; a missing or unfit one is replaced by a new one.
    let kept = update("X-Request-Id: lb-7f3a.42\r\n").await;
    assert_eq!(kept.body, "nohost");
    assert_eq!(kept.header("x-request-id"), Some("lb-7f3a.42"));
    let mut made = Vec::new();
    for header in ["", "X-Request-Id: two words\r\n"] {
        let response = update(header).await;
        let id = response.header("x-request-id").expect("an id").to_owned();
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        made.push(id);
    }
    assert_ne!(made[0], made[1]);

    let lines = support::eventually(std::time::Duration::from_secs(5), async || {
        let lines = json_lines(&server.log());
        let answered = |id: &str| {
            lines.iter().any(|line| {
                request_id(line) == Some(id)
                    && line["fields"]["message"] == "answered"
                    && line["fields"]["status"] == 200
            })
        };
        (answered("lb-7f3a.42") && made.iter().all(|id| answered(id))).then_some(lines)
    })
    .await
    .unwrap_or_else(|| panic!("no answered line for each request:\n{}", server.log()));
    let ready = lines
        .iter()
        .find(|line| line["fields"]["message"] == "dyn53 listening")
        .expect("the ready line");
    assert_eq!(ready["level"], "INFO");
    assert!(request_id(ready).is_none());
    assert!(!server.log().contains(PASSWORD));
}

fn base64_credentials(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

on_both_backends!(logs_are_json_with_request_ids);

#[test]
fn an_unknown_log_format_is_refused() {
    let out = std::process::Command::new(support::binary())
        .arg("serve")
        .env("DYN53_LOG_FORMAT", "yaml")
        .output()
        .expect("dyn53 runs");
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        r#"error: DYN53_LOG_FORMAT="yaml": text or json"#
    );
}
