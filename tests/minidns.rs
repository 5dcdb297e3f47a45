//! miniDNS's two protocols end to end on both backends: `areg.php` over HTTP and the
//! `miniupdate` TCP protocol, every answer checked byte for byte, and nothing changed when
//! a command fails.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use hickory_server::proto::rr::RecordType;
use md5::{Digest, Md5};
use support::http::get;
use support::tenants::{PASS, assert_serves, setup};
use support::{Backend, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn minidns_areg(backend: Backend) {
    let server = setup(backend).await;
    let areg = async |query: &str| {
        let r = get(server.http, &format!("/areg.php?{query}"), None, None).await;
        (r.status, r.body)
    };
    let auth = "username=alice@example.com&password=correct%20horse%20battery";
    assert_eq!(
        areg(&format!(
            "opcode=ADD&host=Office.dyn.test&{auth}&ip=192.0.2.60"
        ))
        .await,
        (200, "okay. office.dyn.test mapped to 192.0.2.60.".into())
    );
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.60"]).await;
    // No `ip`: the caller's address.
    assert_eq!(
        areg(&format!("opcode=add&host=home.dyn.test&{auth}")).await,
        (200, "okay. home.dyn.test mapped to 127.0.0.1.".into())
    );
    let failures = [
        (format!("opcode=DEL&host=home.dyn.test&{auth}"), 400),
        (format!("opcode=ADD&{auth}"), 400),
        (
            "opcode=ADD&host=home.dyn.test&username=alice@example.com".to_owned(),
            400,
        ),
        (
            format!("opcode=ADD&host=home.dyn.test&{auth}&ip=192.0.2.999"),
            400,
        ),
        (
            format!("opcode=ADD&host=-bad-.dyn.test&{auth}&ip=192.0.2.61"),
            400,
        ),
        (
            format!("opcode=ADD&host=bob.dyn.test&{auth}&ip=192.0.2.61"),
            404,
        ),
        (
            "opcode=ADD&host=home.dyn.test&username=alice@example.com&password=x&ip=192.0.2.61"
                .to_owned(),
            401,
        ),
    ];
    for (query, status) in failures {
        let (got, body) = areg(&query).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(
            body.starts_with("error. ") && !body.contains('\n'),
            "{query}: {body}"
        );
    }
    assert_serves(&server, "home.dyn.test", RecordType::A, &["127.0.0.1"]).await;
    assert_serves(&server, "bob.dyn.test", RecordType::A, &["198.51.100.9"]).await;
}

/// A miniupdate client speaking line by line.
struct Session {
    stream: BufReader<TcpStream>,
}

impl Session {
    /// Connects and returns the greeting too.
    async fn open(addr: SocketAddr) -> (Session, String) {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut session = Session {
            stream: BufReader::new(stream),
        };
        let greeting = session.read().await.expect("a greeting");
        (session, greeting)
    }

    /// The next line without its `\r\n`; `None` once the server closed the connection.
    async fn read(&mut self) -> Option<String> {
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(40), self.stream.read_line(&mut line))
            .await
            .expect("an answer in time")
            .expect("read");
        if read == 0 {
            return None;
        }
        assert!(line.ends_with("\r\n"), "{line:?}");
        Some(line.trim_end().to_owned())
    }

    /// Sends `line` and returns the answer.
    async fn send(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\n").as_bytes()).await;
        self.read().await.expect("an answer")
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.expect("send");
    }

    /// AGENT, LOGIN and RESPONSE for `secret`: the last answer.
    async fn login(&mut self, login: &str, secret: &str) -> String {
        assert_eq!(self.send("AGENT dyn53-test/1.0").await, "OK Agent accepted");
        let challenge = self.send(&format!("LOGIN {login} digest-md5-text")).await;
        let challenge = challenge.strip_prefix("CHALLENGE ").expect("a challenge");
        assert!(challenge.len() == 32 && challenge.bytes().all(|b| b.is_ascii_hexdigit()));
        self.send(&format!("RESPONSE {}", response(secret, challenge)))
            .await
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// miniDNS's response: MD5 hex of (MD5 hex of the secret, then the challenge).
fn response(secret: &str, challenge: &str) -> String {
    let inner = hex(&Md5::digest(secret.as_bytes()));
    hex(&Md5::digest(format!("{inner}{challenge}").as_bytes()))
}

/// The answer to a login without a key made for miniupdate.
const NO_MINIUPDATE_KEY: &str = "ERR authentication failed: this login has no key made for \
     miniupdate (dyn53 key create --miniupdate, or \"miniupdate\" on the keys page)";

/// A miniupdate key of `user`'s.
fn miniupdate_key(server: &Server, user: &str) -> String {
    let key = server.cli_ok(&["key", "create", "--user", user, "--miniupdate"]);
    key.trim().to_owned()
}

async fn miniupdate_session(backend: Backend) {
    let server = setup(backend).await;
    let key = miniupdate_key(&server, "alice@example.com");
    let (mut s, greeting) = Session::open(server.miniupdate).await;
    assert_eq!(
        greeting,
        format!("dyn53 Update Server {}", env!("CARGO_PKG_VERSION"))
    );
    // Nothing but EXIT before AGENT.
    assert_eq!(s.send("VERSION").await, "ERR send AGENT first");
    assert_eq!(s.send("agent dyn53-test/1.0").await, "OK Agent accepted");
    assert_eq!(
        s.send("VERSION").await,
        format!("OK {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        s.send("A_UPDATE online home.dyn.test 192.0.2.80").await,
        "ERR not authenticated"
    );
    let challenge = s.send("LOGIN alice@example.com digest-md5-text").await;
    let challenge = challenge.strip_prefix("CHALLENGE ").expect("challenge");
    // Uppercase hex is the same answer.
    let answer = response(&key, challenge).to_uppercase();
    assert_eq!(
        s.send(&format!("RESPONSE {answer}")).await,
        "OK Authenticated"
    );
    assert_eq!(
        s.send("A_UPDATE online Home.dyn.test 192.0.2.80").await,
        "OK HOME.DYN.TEST mapped to 192.0.2.80"
    );
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.80"]).await;
    // No address: the caller's; IPv6 sets AAAA.
    assert_eq!(
        s.send("A_UPDATE online office.dyn.test").await,
        "OK OFFICE.DYN.TEST mapped to 127.0.0.1"
    );
    assert_eq!(
        s.send("A_UPDATE online home.dyn.test 2001:db8::80").await,
        "OK HOME.DYN.TEST mapped to 2001:db8::80"
    );
    assert_serves(
        &server,
        "home.dyn.test",
        RecordType::AAAA,
        &["2001:db8::80"],
    )
    .await;
    assert_eq!(s.send("EXIT").await, "OK Bye!");
    assert_eq!(s.read().await, None, "EXIT closes the connection");

    // Failures change nothing.
    server.cli_ok(&["host", "block", "office.dyn.test"]);
    let (mut s, _) = Session::open(server.miniupdate).await;
    assert_eq!(s.login("alice@example.com", &key).await, "OK Authenticated");
    for (command, answer) in [
        (
            "A_UPDATE online bob.dyn.test 192.0.2.81",
            "ERR no such host of yours",
        ),
        (
            "A_UPDATE online nothere.dyn.test 192.0.2.81",
            "ERR no such host of yours",
        ),
        (
            "A_UPDATE online bad_name.dyn.test 192.0.2.81",
            "ERR not a host name",
        ),
        (
            "A_UPDATE online home.dyn.test 192.0.2.999",
            "ERR not an IP address",
        ),
        (
            "A_UPDATE online office.dyn.test 192.0.2.81",
            "ERR updates of this host are refused for now (abuse)",
        ),
        (
            "A_UPDATE sideways home.dyn.test",
            "ERR the mode is online or offline",
        ),
        // Offline is a premium feature; alice is on the free plan.
        (
            "A_UPDATE offline home.dyn.test",
            "ERR offline is not on your plan",
        ),
    ] {
        assert_eq!(s.send(command).await, answer, "{command}");
    }
    assert_serves(&server, "home.dyn.test", RecordType::A, &["192.0.2.80"]).await;
    assert_serves(&server, "office.dyn.test", RecordType::A, &["127.0.0.1"]).await;
    assert_serves(&server, "bob.dyn.test", RecordType::A, &["198.51.100.9"]).await;
    let history = "SELECT count(*) FROM update_history WHERE protocol = 'miniupdate' \
                   AND agent = 'dyn53-test/1.0'";
    assert_eq!(server.sql(history), "3");
}

async fn miniupdate_refuses_other_secrets(backend: Backend) {
    let server = setup(backend).await;
    // A key not created for miniupdate, and the account password: the server keeps no
    // MD5 of either, so neither can answer a challenge. While the login has no key made
    // for miniupdate, the answer says so.
    let plain = server.cli_ok(&["key", "create", "--user", "alice@example.com"]);
    let (mut s, _) = Session::open(server.miniupdate).await;
    assert_eq!(
        s.login("alice@example.com", plain.trim()).await,
        NO_MINIUPDATE_KEY
    );
    let flagged = miniupdate_key(&server, "alice@example.com");
    for secret in [plain.trim(), PASS, "wrong"] {
        let (mut s, _) = Session::open(server.miniupdate).await;
        assert_eq!(
            s.login("alice@example.com", secret).await,
            "ERR authentication failed"
        );
        // A challenge is good for one try; updates stay refused.
        assert_eq!(
            s.send("RESPONSE 0123456789abcdef0123456789abcdef").await,
            "ERR send LOGIN first"
        );
        assert_eq!(
            s.send("A_UPDATE online home.dyn.test 192.0.2.82").await,
            "ERR not authenticated"
        );
    }
    // Another user's key (bob has none made for miniupdate).
    let (mut s, _) = Session::open(server.miniupdate).await;
    assert_eq!(
        s.login("bob@example.com", &flagged).await,
        NO_MINIUPDATE_KEY
    );
    for (command, answer) in [
        (
            "LOGIN alice@example.com plain-text",
            "ERR the only method is digest-md5-text",
        ),
        (
            "LOGIN alice@example.com",
            "ERR usage: LOGIN <login> digest-md5-text",
        ),
        ("RESPONSE", "ERR usage: RESPONSE <32 hex digits>"),
        (
            "A_UPDATE online",
            "ERR usage: A_UPDATE online|offline <host> [ip]",
        ),
        ("HELLO", "ERR unknown command"),
    ] {
        assert_eq!(s.send(command).await, answer, "{command}");
    }

    // A viewer may not change DNS; a suspended account cannot log in.
    server.add_user_with(
        "vera@example.com",
        PASS,
        &["--member-of", "alice@example.com", "--role", "viewer"],
    );
    let vera = miniupdate_key(&server, "vera@example.com");
    let (mut s, _) = Session::open(server.miniupdate).await;
    assert_eq!(s.login("vera@example.com", &vera).await, "OK Authenticated");
    assert_eq!(
        s.send("A_UPDATE online home.dyn.test 192.0.2.83").await,
        "ERR this user may not change DNS"
    );
    server.cli_ok(&["account", "suspend", "alice@example.com"]);
    let (mut s, _) = Session::open(server.miniupdate).await;
    assert_eq!(
        s.login("alice@example.com", &flagged).await,
        "ERR the account is not active"
    );
    assert_serves(&server, "home.dyn.test", RecordType::A, &[]).await;
}

async fn miniupdate_offline_on_premium(backend: Backend) {
    let server = setup(backend).await;
    server.add_user_with("pat@example.com", PASS, &["--plan", "premium"]);
    server.cli_ok(&[
        "host",
        "add",
        "shop.dyn.test",
        "--owner",
        "pat@example.com",
        "--ipv4",
        "192.0.2.90",
    ]);
    let key = miniupdate_key(&server, "pat@example.com");
    let (mut s, _) = Session::open(server.miniupdate).await;
    assert_eq!(s.login("pat@example.com", &key).await, "OK Authenticated");
    // The address is ignored when going offline.
    assert_eq!(
        s.send("A_UPDATE offline shop.dyn.test 192.0.2.91").await,
        "OK SHOP.DYN.TEST offline"
    );
    assert_serves(&server, "shop.dyn.test", RecordType::A, &[]).await;
    assert_eq!(
        s.send("A_UPDATE online shop.dyn.test 192.0.2.90").await,
        "OK SHOP.DYN.TEST mapped to 192.0.2.90"
    );
    assert_serves(&server, "shop.dyn.test", RecordType::A, &["192.0.2.90"]).await;
}

/// Ten commands a session, lines of at most 512 bytes, four sessions per source address,
/// 30 seconds of silence: each ends the session with an `ERR` line.
async fn miniupdate_limits(backend: Backend) {
    let server = setup(backend).await;
    let (mut s, _) = Session::open(server.miniupdate).await;
    assert_eq!(s.send("AGENT dyn53-test/1.0").await, "OK Agent accepted");
    for _ in 0..9 {
        assert_eq!(
            s.send("VERSION").await,
            format!("OK {}", env!("CARGO_PKG_VERSION"))
        );
    }
    assert_eq!(s.send("VERSION").await, "ERR too many commands");
    assert_eq!(s.read().await, None);

    let (mut s, _) = Session::open(server.miniupdate).await;
    s.send_raw(format!("AGENT {}\n", "x".repeat(600)).as_bytes())
        .await;
    assert_eq!(s.read().await.as_deref(), Some("ERR line too long"));
    assert_eq!(s.read().await, None);

    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(Session::open(server.miniupdate).await);
    }
    let (mut fifth, refused) = Session::open(server.miniupdate).await;
    assert_eq!(refused, "ERR too many connections from your address");
    assert_eq!(fifth.read().await, None);
    // A session that ends gives its place back.
    let (mut first, _) = open.remove(0);
    assert_eq!(first.send("EXIT").await, "OK Bye!");
    assert_eq!(first.read().await, None);
    let (mut again, greeting) = Session::open(server.miniupdate).await;
    assert!(greeting.starts_with("dyn53 Update Server"), "{greeting}");

    assert_eq!(again.read().await.as_deref(), Some("ERR idle for too long"));
    assert_eq!(again.read().await, None);
}

/// With the database down, both protocols say "try later" and DNS keeps its data.
async fn database_down_is_try_later(backend: Backend) {
    let server = setup(backend).await;
    let key = miniupdate_key(&server, "alice@example.com");
    let (mut s, _) = Session::open(server.miniupdate).await;
    assert_eq!(s.login("alice@example.com", &key).await, "OK Authenticated");
    {
        let _broken = support::break_database(&server.storage);
        assert_eq!(
            s.send("A_UPDATE online office.dyn.test 192.0.2.85").await,
            "ERR server busy; try later"
        );
        let query = format!(
            "/areg.php?opcode=ADD&host=office.dyn.test&username=alice@example.com&password={key}&ip=192.0.2.86"
        );
        let r = get(server.http, &query, None, None).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (503, "error. try again later.")
        );
        assert!(r.header("retry-after").is_some());
        assert_serves(&server, "office.dyn.test", RecordType::A, &["198.51.100.1"]).await;
    }
}

on_both_backends!(
    database_down_is_try_later,
    minidns_areg,
    miniupdate_session,
    miniupdate_refuses_other_secrets,
    miniupdate_offline_on_premium,
    miniupdate_limits,
);
