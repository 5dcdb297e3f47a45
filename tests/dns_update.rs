//! RFC 2136 dynamic updates with TSIG end to end on both backends: Debian's `nsupdate`
//! signs with a key from `dyn53 key create --tsig`, over UDP and TCP, adds and removes
//! `_acme-challenge` TXT values and changes addresses, read back from the DNS port; a
//! wrong key, another tenant's host, a host beyond the key's limit, a name outside the
//! zone and an unsupported type are refused with their codes, and change nothing; a
//! signature an hour old is `BADTIME`; wrong MACs count against the source. A key made
//! through the REST API works the same and stops with its revocation. `dyn53 web` serves the same listener for its fleet.

mod support;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use hickory_server::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::rdata::TXT;
use hickory_server::proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError, make_tsig_record};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::proto::serialize::binary::BinEncoder;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use support::api::{Api, SECRET};
use support::fleet::{Node, Redis, Web};
use support::tenants::{assert_nxdomain, assert_serves, assert_txt, setup_with};
use support::{Backend, Server, dns, eventually};
use tokio::net::UdpSocket;

const CHALLENGE: &str = "_acme-challenge.home.dyn.test";

async fn start(backend: Backend) -> Server {
    setup_with(backend, &[("DYN53_DNS_UPDATE_ADDR", "127.0.0.1:0")]).await
}

/// A TSIG key of `user`'s, as nsupdate's `-y` takes it, with extra `key create` options.
fn tsig_key(server: &Server, user: &str, options: &[&str]) -> String {
    let mut args = vec!["key", "create", "--user", user, "--tsig"];
    args.extend(options);
    let key = server.cli_ok(&args).trim().to_owned();
    assert!(key.starts_with("hmac-sha256:dyn53-key-"), "{key}");
    key
}

/// How nsupdate reaches the server.
#[derive(Clone, Copy)]
enum Transport {
    Udp,
    Tcp,
}

/// Runs nsupdate with `key` (none: unsigned) and `commands` against the listener at
/// `addr`: whether it succeeded, and what it printed.
async fn nsupdate(
    addr: SocketAddr,
    key: Option<&str>,
    transport: Transport,
    commands: &str,
) -> (bool, String) {
    let script = format!("server {} {}\n{commands}\nsend\n", addr.ip(), addr.port());
    let mut args = vec!["-t".to_owned(), "5".to_owned()];
    if let Transport::Tcp = transport {
        args.push("-v".to_owned());
    }
    if let Some(key) = key {
        args.extend(["-y".to_owned(), key.to_owned()]);
    }
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new("nsupdate")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nsupdate runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("script written");
        let out = child.wait_with_output().expect("nsupdate finishes");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .expect("joined")
}

fn listener(server: &Server) -> SocketAddr {
    server.dns_update.expect("the DNS update listener")
}

/// Runs an update that must succeed.
async fn accepted(server: &Server, key: &str, transport: Transport, commands: &str) {
    let (ok, out) = nsupdate(listener(server), Some(key), transport, commands).await;
    assert!(ok, "nsupdate failed:\n{commands}\n{out}\n{}", server.log());
}

/// Runs an update that must fail with `code` in nsupdate's words (`update failed: CODE`).
async fn refused(server: &Server, key: Option<&str>, commands: &str, code: &str) {
    let (ok, out) = nsupdate(listener(server), key, Transport::Udp, commands).await;
    let said = format!("update failed: {code}\n");
    assert!(
        !ok && out.contains(&said),
        "expected {code}:\n{commands}\n{out}"
    );
}

async fn acme_challenge_and_addresses(backend: Backend) {
    let server = start(backend).await;
    let key = tsig_key(&server, "alice@example.com", &[]);

    // What an ACME client's RFC 2136 plugin does: add a value, then remove it.
    let add = |value: &str| format!("zone dyn.test\nupdate add {CHALLENGE}. 60 TXT \"{value}\"");
    accepted(&server, &key, Transport::Udp, &add("token-one")).await;
    assert_txt(&server, CHALLENGE, &["token-one"]).await;
    accepted(&server, &key, Transport::Tcp, &add("token-two")).await;
    assert_txt(&server, CHALLENGE, &["token-one", "token-two"]).await;
    accepted(
        &server,
        &key,
        Transport::Udp,
        &format!("zone dyn.test\nupdate delete {CHALLENGE}. TXT \"token-one\""),
    )
    .await;
    assert_txt(&server, CHALLENGE, &["token-two"]).await;
    // The whole RRset, as acme.sh removes it.
    accepted(
        &server,
        &key,
        Transport::Tcp,
        &format!("zone dyn.test\nupdate delete {CHALLENGE}. TXT"),
    )
    .await;
    assert_nxdomain(&server, CHALLENGE).await;
    // Only while the challenge name is unused; then no more.
    let first = format!(
        "zone dyn.test\n\
         prereq nxdomain {CHALLENGE}.\n\
         update add {CHALLENGE}. 60 TXT \"token-three\""
    );
    accepted(&server, &key, Transport::Udp, &first).await;
    assert_txt(&server, CHALLENGE, &["token-three"]).await;
    refused(&server, Some(&key), &first, "YXDOMAIN").await;

    // An address changed under a prerequisite, in one message: delete, then add.
    let change = "zone dyn.test\n\
                  prereq yxrrset office.dyn.test. A 198.51.100.1\n\
                  update delete office.dyn.test. A\n\
                  update add office.dyn.test. 60 A 192.0.2.7";
    accepted(&server, &key, Transport::Udp, change).await;
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.7"]).await;
    // The prerequisite no longer holds: nothing changes.
    refused(&server, Some(&key), change, "NXRRSET").await;
    refused(
        &server,
        Some(&key),
        "zone dyn.test\nprereq nxrrset office.dyn.test. A\nupdate add office.dyn.test. 60 A 192.0.2.8",
        "YXRRSET",
    )
    .await;
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.7"]).await;
    // IPv6 beside it, and the host's own TXT.
    accepted(
        &server,
        &key,
        Transport::Tcp,
        "zone dyn.test\n\
         prereq yxdomain office.dyn.test.\n\
         update add office.dyn.test. 60 AAAA 2001:db8::7\n\
         update add office.dyn.test. 60 TXT \"hello\"",
    )
    .await;
    assert_serves(
        &server,
        "office.dyn.test",
        RecordType::AAAA,
        &["2001:db8::7"],
    )
    .await;
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.7"]).await;
    assert_txt(&server, "office.dyn.test", &["hello"]).await;
    // Removing one address leaves the other family alone.
    accepted(
        &server,
        &key,
        Transport::Udp,
        "zone dyn.test\nupdate delete office.dyn.test. AAAA 2001:db8::7",
    )
    .await;
    assert_serves(&server, "office.dyn.test", RecordType::AAAA, &[]).await;
    assert_serves(&server, "office.dyn.test", RecordType::A, &["192.0.2.7"]).await;
    // The history names the protocol.
    let history = server.sql("SELECT count(*) FROM update_history WHERE protocol = 'rfc2136'");
    assert_ne!(history.trim(), "0", "{history}");

    // Without a `zone` line, nsupdate finds it with a signed SOA query first, as certbot's
    // RFC 2136 plugin does at the zone's apex.
    accepted(
        &server,
        &key,
        Transport::Tcp,
        "update add home.dyn.test. 60 TXT \"no-zone-line\"",
    )
    .await;
    assert_txt(&server, "home.dyn.test", &["no-zone-line"]).await;
    let apex = dig_soa(listener(&server), &key, "dyn.test").await;
    assert!(
        apex.contains("status: NOERROR") && apex.contains("flags: qr aa;"),
        "{apex}"
    );
    assert!(apex.contains("ANSWER: 1, AUTHORITY: 0"), "{apex}");
    let elsewhere = dig_soa(listener(&server), &key, "example.com").await;
    assert!(elsewhere.contains("status: REFUSED"), "{elsewhere}");
}

/// What `dig -y KEY` prints for the SOA of `name` asked of the listener at `addr`.
async fn dig_soa(addr: SocketAddr, key: &str, name: &str) -> String {
    let args = [
        "-y".to_owned(),
        key.to_owned(),
        format!("@{}", addr.ip()),
        "-p".to_owned(),
        addr.port().to_string(),
        name.to_owned(),
        "SOA".to_owned(),
        "+norec".to_owned(),
    ];
    tokio::task::spawn_blocking(move || {
        let out = Command::new("dig").args(&args).output().expect("dig runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .expect("joined")
}

async fn refusals_change_nothing(backend: Backend) {
    let server = start(backend).await;
    let key = tsig_key(&server, "alice@example.com", &[]);
    let limited = tsig_key(&server, "alice@example.com", &["--hosts", "home.dyn.test"]);
    let add_challenge = format!("zone dyn.test\nupdate add {CHALLENGE}. 60 TXT \"token\"");

    // Unsigned.
    refused(&server, None, &add_challenge, "REFUSED").await;
    // The right name with another key's secret: BADSIG; a key that does not exist: BADKEY.
    let (name, _) = key.rsplit_once(':').expect("name:secret");
    let (_, other_secret) = limited.rsplit_once(':').expect("name:secret");
    let wrong_secret = format!("{name}:{other_secret}");
    refused(
        &server,
        Some(&wrong_secret),
        &add_challenge,
        "NOTAUTH(BADSIG)",
    )
    .await;
    let unknown = format!("hmac-sha256:dyn53-key-999999:{other_secret}");
    refused(&server, Some(&unknown), &add_challenge, "NOTAUTH(BADKEY)").await;
    // Another algorithm with the right name and secret.
    let sha1 = key.replacen("hmac-sha256:", "hmac-sha1:", 1);
    refused(&server, Some(&sha1), &add_challenge, "NOTAUTH(BADKEY)").await;
    // Another tenant's host, and a host beyond the key's limit.
    refused(
        &server,
        Some(&key),
        "zone dyn.test\nupdate add bob.dyn.test. 60 A 192.0.2.66",
        "REFUSED",
    )
    .await;
    refused(
        &server,
        Some(&limited),
        "zone dyn.test\nupdate add office.dyn.test. 60 A 192.0.2.66",
        "REFUSED",
    )
    .await;
    // A name outside the zone named, and a zone that is not ours.
    refused(
        &server,
        Some(&key),
        "zone dyn.test\nupdate add home.other.test. 60 A 192.0.2.66",
        "NOTZONE",
    )
    .await;
    refused(
        &server,
        Some(&key),
        "zone example.com\nupdate add home.example.com. 60 A 192.0.2.66",
        "NOTAUTH",
    )
    .await;
    // Types this protocol does not change, and a message that would be two requests.
    for record in ["MX 10 mail.example.com.", "CNAME bob.dyn.test."] {
        refused(
            &server,
            Some(&key),
            &format!("zone dyn.test\nupdate add home.dyn.test. 60 {record}"),
            "REFUSED",
        )
        .await;
    }
    refused(
        &server,
        Some(&key),
        "zone dyn.test\n\
         update add home.dyn.test. 60 TXT \"one\"\n\
         update add office.dyn.test. 60 A 192.0.2.66",
        "REFUSED",
    )
    .await;

    assert_nxdomain(&server, CHALLENGE).await;
    assert_txt(&server, "home.dyn.test", &[]).await;
    assert_serves(&server, "office.dyn.test", RecordType::A, &["198.51.100.1"]).await;
    assert_serves(&server, "bob.dyn.test", RecordType::A, &["198.51.100.9"]).await;
    // The limited key does what it may.
    accepted(&server, &limited, Transport::Udp, &add_challenge).await;
    assert_txt(&server, CHALLENGE, &["token"]).await;
}

/// An update signed by `key` (`hmac-sha256:NAME:SECRET`) with a clock `skew` seconds off,
/// built and signed here rather than by nsupdate: the answer over UDP.
async fn signed_update(addr: SocketAddr, key: &str, skew: i64, value: &str) -> Message {
    let [_, name, secret] = key.splitn(3, ':').collect::<Vec<_>>()[..] else {
        panic!("not a TSIG key: {key}");
    };
    let key_name = Name::from_str(name).expect("key name");
    let mut message = Message::new(0x2136, MessageType::Query, OpCode::Update);
    message.add_query(Query::query(
        Name::from_str("dyn.test.").expect("zone"),
        RecordType::SOA,
    ));
    message.add_authority(Record::from_rdata(
        Name::from_str(&format!("{CHALLENGE}.")).expect("name"),
        60,
        RData::TXT(TXT::new(vec![value.to_owned()])),
    ));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    let time = now.as_secs().saturating_add_signed(skew);
    let tsig = TSIG::new(
        TsigAlgorithm::HmacSha256,
        time,
        300,
        Vec::new(),
        0x2136,
        None,
        Vec::new(),
    );
    let mut variables = Vec::new();
    tsig.emit_tsig_for_mac(&mut BinEncoder::new(&mut variables), &key_name)
        .expect("TSIG variables");
    let secret = BASE64_STANDARD.decode(secret).expect("base64 secret");
    let mut hmac = Hmac::<Sha256>::new_from_slice(&secret).expect("HMAC key");
    hmac.update(&message.to_vec().expect("encode"));
    hmac.update(&variables);
    let mac = hmac.finalize().into_bytes().to_vec();
    message.signature = Some(Box::new(make_tsig_record(key_name, tsig.set_mac(mac))));

    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let bytes = message.to_vec().expect("encode");
    socket.send_to(&bytes, addr).await.expect("send");
    let mut buf = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an answer within 5 s")
        .expect("recv");
    Message::from_vec(&buf[..len]).expect("decode")
}

/// The TSIG record of an answer (last in its additional section).
fn answer_tsig(answer: &Message) -> &TSIG {
    match answer.additionals.last().map(|r| &r.data) {
        Some(RData::TSIG(tsig)) => tsig,
        other => panic!("no TSIG record in the answer: {other:?}"),
    }
}

async fn clocks_too_far_apart(backend: Backend) {
    let server = start(backend).await;
    let key = tsig_key(&server, "alice@example.com", &[]);
    let addr = listener(&server);
    // A client's own signature, in time: accepted, and answered signed.
    let answer = signed_update(addr, &key, 0, "in-time").await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answer_tsig(&answer).error, None);
    assert_eq!(answer_tsig(&answer).mac.len(), 32);
    assert_txt(&server, CHALLENGE, &["in-time"]).await;
    // An hour off: BADTIME, signed, with the server's time; nothing changes.
    let answer = signed_update(addr, &key, -3600, "late").await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NotAuth);
    let tsig = answer_tsig(&answer);
    assert_eq!(tsig.error, Some(TsigError::BadTime));
    assert_eq!((tsig.mac.len(), tsig.other.len()), (32, 6));
    assert_txt(&server, CHALLENGE, &["in-time"]).await;
}

/// Wrong MACs count as wrong credentials from their source: past the limit, even the right
/// key is refused unheard.
async fn wrong_macs_are_counted(backend: Backend) {
    let server = setup_with(
        backend,
        &[
            ("DYN53_DNS_UPDATE_ADDR", "127.0.0.1:0"),
            ("DYN53_AUTH_FAILURE_LIMIT", "2/600"),
        ],
    )
    .await;
    let key = tsig_key(&server, "alice@example.com", &[]);
    let (name, _) = key.rsplit_once(':').expect("name:secret");
    let guess = format!("{name}:{}", BASE64_STANDARD.encode([7u8; 32]));
    let add = format!("zone dyn.test\nupdate add {CHALLENGE}. 60 TXT \"token\"");
    for _ in 0..2 {
        refused(&server, Some(&guess), &add, "NOTAUTH(BADSIG)").await;
    }
    refused(&server, Some(&key), &add, "REFUSED").await;
    assert_nxdomain(&server, CHALLENGE).await;
}

/// A TSIG key made through the REST API works at once, is audited under its update key,
/// and stops working when that key is revoked.
async fn keys_from_the_api(backend: Backend) {
    let server = setup_with(
        backend,
        &[
            ("DYN53_DNS_UPDATE_ADDR", "127.0.0.1:0"),
            ("DYN53_JWT_SECRET", SECRET),
        ],
    )
    .await;
    let alice = Api::user(&server, "alice@example.com").await;
    let new_key = json!({"name": "certbot", "tsig": true, "hosts": ["home.dyn.test"]});
    let (status, created, _) = alice.send("POST", "/api/v1/keys", new_key).await;
    assert_eq!(status, 201, "{created}");
    let key = created["tsig_key"].as_str().expect("a TSIG key").to_owned();
    let id = created["key"]["id"].as_i64().expect("an id");
    let name = format!("dyn53-key-{id}");
    assert!(key.starts_with(&format!("hmac-sha256:{name}:")), "{key}");
    assert_eq!(created["key"]["tsig_name"], json!(name));
    let (_, plain, _) = alice
        .send("POST", "/api/v1/keys", json!({"name": "router"}))
        .await;
    assert_eq!(
        (&plain["tsig_key"], &plain["key"]["tsig_name"]),
        (&json!(null), &json!(null))
    );

    let add = format!("zone dyn.test\nupdate add {CHALLENGE}. 60 TXT \"from-api\"");
    accepted(&server, &key, Transport::Udp, &add).await;
    assert_txt(&server, CHALLENGE, &["from-api"]).await;
    let prefix = created["key"]["prefix"].as_str().expect("a prefix");
    let audited = server.sql(&format!(
        "SELECT count(*) FROM audit_log WHERE action = 'host.change' AND actor = 'key:{prefix}'"
    ));
    assert_eq!(audited.trim(), "1", "{audited}");

    assert_eq!(alice.delete(&format!("/api/v1/keys/{id}")).await.0, 204);
    let remove = format!("zone dyn.test\nupdate delete {CHALLENGE}. TXT");
    refused(&server, Some(&key), &remove, "NOTAUTH(BADKEY)").await;
    assert_txt(&server, CHALLENGE, &["from-api"]).await;
}

on_both_backends!(
    acme_challenge_and_addresses,
    keys_from_the_api,
    refusals_change_nothing,
    clocks_too_far_apart,
    wrong_macs_are_counted
);

/// `dyn53 web` serves updates too; its DNS nodes serve what they changed.
#[tokio::test(flavor = "multi_thread")]
async fn web_takes_updates_for_the_fleet() {
    let redis = Redis::shared();
    let web = Web::start(&redis, &[("DYN53_DNS_UPDATE_ADDR", "127.0.0.1:0")]).await;
    let node = Node::start(&redis, "rfc2136").await;
    web.setup_hosts("carol@example.com", 1);
    let key = web.run_ok(&["key", "create", "--user", "carol@example.com", "--tsig"]);
    let addr = web.dns_update.expect("the DNS update listener");
    let commands = "zone dyn.test\n\
                    update add _acme-challenge.h0.dyn.test. 60 TXT \"fleet-token\"\n\
                    update add h0.dyn.test. 60 A 192.0.2.77";
    let (ok, out) = nsupdate(addr, Some(key.trim()), Transport::Tcp, commands).await;
    assert!(ok, "{out}\n{}", web.log());
    let served = eventually(Duration::from_secs(5), async || {
        let txt = dns::txt(node.dns, "_acme-challenge.h0.dyn.test").await;
        let a = dns::lookup(node.dns, "h0.dyn.test", RecordType::A).await;
        (txt == ["fleet-token"] && a == ["192.0.2.77".parse::<IpAddr>().expect("address")])
            .then_some(())
    })
    .await;
    assert!(served.is_some(), "the node did not serve the update");
}
