//! The REST API over real HTTP: one call at a time, with a bearer credential, and the
//! checks every API test makes on problem responses.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::Server;
use super::http::{Response, raw};
use super::tenants::PASS;

/// The JWT secret the API tests start the server with.
pub const SECRET: &str = "a test secret that is long enough for HS256";

/// One API call: (status, JSON body or `Null`) and the response.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> (u16, Value, Response) {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = bearer {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    match body {
        Some(body) => request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => request.push_str("Content-Length: 0\r\n\r\n"),
    }
    let r = raw(addr, request.as_bytes()).await.expect("HTTP exchange");
    let value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    (r.status, value, r)
}

/// A problem's status and code, checked to be `application/problem+json`.
pub fn problem((status, body, r): (u16, Value, Response)) -> (u16, String) {
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{status} {}",
        r.body
    );
    assert_eq!(body["status"], json!(status));
    (status, body["code"].as_str().unwrap_or("").to_owned())
}

/// A token for `email` (whose password is [`PASS`]).
pub async fn token(server: &Server, email: &str) -> String {
    let body = json!({"email": email, "password": PASS}).to_string();
    let (status, value, _) =
        call(server.http, "POST", "/api/v1/auth/token", None, Some(&body)).await;
    assert_eq!(status, 200, "{value}");
    assert_eq!(value["token_type"], "Bearer");
    value["access_token"].as_str().expect("a token").to_owned()
}

/// A caller with one bearer credential (a token or an API key).
pub struct Api {
    pub addr: SocketAddr,
    pub bearer: String,
}

impl Api {
    /// `email`'s token.
    pub async fn user(server: &Server, email: &str) -> Api {
        Api::key(server, &token(server, email).await)
    }

    /// A new API-scope key of `email`'s, made with the CLI; `options` as `key create` takes
    /// them (`--hosts`, …).
    pub fn new_key(server: &Server, email: &str, options: &[&str]) -> Api {
        let args = [
            &["key", "create", "--user", email, "--scope", "api"],
            options,
        ]
        .concat();
        Api::key(server, server.cli_ok(&args).trim())
    }

    /// A key, or any bearer string.
    pub fn key(server: &Server, bearer: &str) -> Api {
        Api {
            addr: server.http,
            bearer: bearer.to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value, Response) {
        call(self.addr, "GET", path, Some(&self.bearer), None).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value, Response) {
        call(self.addr, "DELETE", path, Some(&self.bearer), None).await
    }

    /// A call with a JSON body.
    pub async fn send(&self, method: &str, path: &str, body: Value) -> (u16, Value, Response) {
        let body = body.to_string();
        call(self.addr, method, path, Some(&self.bearer), Some(&body)).await
    }

    /// A call that must fail: its status and problem code.
    pub async fn refused(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let body = body.map(|b| b.to_string());
        problem(call(self.addr, method, path, Some(&self.bearer), body.as_deref()).await)
    }
}
