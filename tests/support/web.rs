//! A visitor of the account manager over the raw HTTP client: keeps cookies like a
//! browser, sends forms, and reads the mail the server wrote to its data directory.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::Server;
use super::http::{Response, raw};

pub struct Visitor {
    addr: SocketAddr,
    cookies: HashMap<String, String>,
    /// Said in `X-Forwarded-For`, for a server that trusts loopback as its proxy.
    source: Option<std::net::IpAddr>,
}

impl Visitor {
    pub fn new(server: &Server) -> Visitor {
        Visitor::at(server.http)
    }

    /// A visitor of the server at `addr` (a fleet's `dyn53 web` replica).
    pub fn at(addr: SocketAddr) -> Visitor {
        Visitor {
            addr,
            cookies: HashMap::new(),
            source: None,
        }
    }

    /// A visitor from `source`, as a proxy on loopback tells the server
    /// (`DYN53_TRUSTED_PROXIES=127.0.0.1/32`).
    pub fn from_source(server: &Server, source: &str) -> Visitor {
        Visitor {
            source: Some(source.parse().expect("an IP address")),
            ..Visitor::new(server)
        }
    }

    pub async fn get(&mut self, path: &str) -> Response {
        self.send("GET", path, None).await
    }

    /// Posts a form (URL-encoded).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send("POST", path, Some(body)).await
    }

    async fn send(&mut self, method: &str, path: &str, body: Option<String>) -> Response {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(source) = self.source {
            request.push_str(&format!("X-Forwarded-For: {source}\r\n"));
        }
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
        }
        if let Some(body) = &body {
            request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        request.push_str(body.as_deref().unwrap_or(""));
        let response = raw(self.addr, request.as_bytes())
            .await
            .expect("HTTP exchange");
        for (name, value) in &response.headers {
            if name != "set-cookie" {
                continue;
            }
            let pair = value.split(';').next().unwrap_or("");
            let Some((key, val)) = pair.split_once('=') else {
                continue;
            };
            let removed = val.is_empty() || value.to_ascii_lowercase().contains("max-age=0");
            if removed {
                self.cookies.remove(key.trim());
            } else {
                self.cookies
                    .insert(key.trim().to_owned(), val.trim().to_owned());
            }
        }
        response
    }

    /// Whether the browser holds this cookie.
    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
    }
}

/// Signs in through the login form.
pub async fn sign_in(v: &mut Visitor, email: &str, password: &str) -> Response {
    let form = v.get("/login").await;
    v.post(
        "/login",
        &[
            ("email", email),
            ("password", password),
            ("csrf", &csrf(&form.body)),
        ],
    )
    .await
}

/// The value of the first CSRF field in a page.
pub fn csrf(page: &str) -> String {
    field(page, "csrf").expect("a CSRF field")
}

/// The value of the input named `name` in `page`.
pub fn field(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('"').next()?.to_owned())
}

/// The messages in the server's mail directory now, oldest first. The server sends mail in
/// the background, after its answer: to see a mail a request caused, wait for it with
/// [`mails_at_least`] or [`mail_where`].
pub fn mails(server: &Server) -> Vec<String> {
    let dir = server.storage.data_dir.path().join("mail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|mail| decode(&mail))
        .collect()
}

/// The messages once there are at least `count` (waiting up to 10 s for the background
/// sender), oldest first.
pub fn mails_at_least(server: &Server, count: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mails = mails(server);
        if mails.len() >= count {
            return mails;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} mails, not {count}, after 10 s",
            mails.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The newest mail that `wanted` accepts, waiting up to 10 s for it; `what` names it when
/// none comes.
pub fn mail_where(server: &Server, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(mail) = mails(server).into_iter().rev().find(|m| wanted(m)) {
            return mail;
        }
        assert!(std::time::Instant::now() < deadline, "no {what} after 10 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The message as a mail client shows it: a quoted-printable body decoded (long lines, such
/// as links under a long address, are sent so).
fn decode(mail: &str) -> String {
    let Some((head, body)) = mail.split_once("\r\n\r\n") else {
        return mail.to_owned();
    };
    if !head.contains("Content-Transfer-Encoding: quoted-printable") {
        return mail.to_owned();
    }
    let body = body.replace("=\r\n", "");
    let mut bytes = Vec::with_capacity(body.len());
    let mut rest = body.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        let hex = tail.get(..2).and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(decoded) if b == b'=' => {
                bytes.push(decoded);
                rest = &tail[2..];
            }
            _ => {
                bytes.push(b);
                rest = tail;
            }
        }
    }
    format!("{head}\r\n\r\n{}", String::from_utf8_lossy(&bytes))
}

/// The first link in `mail` that contains `path`.
pub fn link(mail: &str, path: &str) -> Option<String> {
    mail.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(path))
        .map(str::to_owned)
}
