//! End-to-end tests with real update clients: the Debian packages of ddclient and inadyn,
//! configured for the dyndns2 protocol against a running `dyn53 serve` (plain HTTP on
//! loopback). For each client:
//!
//! - one host, then two at once: the new address must then be in the DNS answer, and a
//!   forced repeat must be reported as `nochg` (the history saw the first);
//! - IPv4 and IPv6 for one host: neither client can put both in one dyndns2 request in
//!   these versions (see each test), so each sends one request per family, and the host
//!   must then answer both its A and its AAAA;
//! - a wrong password: the client must log the server's `badauth` and exit with its
//!   failure status, and the host must answer as before;
//! - a host the login may not update (one that exists nowhere, one of another account):
//!   the client must log `nohost` and exit with its failure status, and nothing changes;
//! - over dyn53's own HTTPS (`ssl=yes`, `ssl = true`), trusting a certificate authority made
//!   at test time: the update is answered and served.
//!
//! The clients must be installed: `scripts/test` installs them. A missing client fails the
//! test, it never skips it.
//!
//! Versions checked: ddclient 3.10.0, inadyn 2.10.0 (Debian 12).

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hickory_server::proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::tls::TestCa;
use support::{Backend, Server, dns, eventually};

const EMAIL: &str = "router@example.com";
/// A space and a colon: clients must carry both through Basic auth untouched.
const PASSWORD: &str = "s3cret pass:1";
/// The address hosts have before a client updates them.
const BEFORE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Longest a client run may take; it is killed (and the test fails) after that.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// The owner of `NEIGHBOUR`, an account the clients' login has no part in.
const OTHER_EMAIL: &str = "neighbour@example.com";
/// A host of `OTHER_EMAIL`'s account: to the clients' login it is as unknown as a missing one.
const NEIGHBOUR: &str = "neighbour.dyn.test";
/// A name that exists in no account.
const GHOST: &str = "ghost.dyn.test";
/// The exit status of ddclient 3.10 when any update failed (`$result = 'FAILED'`).
const DDCLIENT_FAILED: i32 = 1;
/// inadyn 2.10's exit status for a refused login (`RC_DDNS_RSP_AUTH_FAIL`, on HTTP 401).
const INADYN_AUTH_FAIL: i32 = 50;
/// inadyn 2.10's exit status for an answer it does not count as success (`RC_DDNS_RSP_NOTOK`).
const INADYN_RSP_NOTOK: i32 = 48;

on_both_backends!(
    ddclient_updates_one_host,
    ddclient_updates_two_hosts_in_one_request,
    ddclient_updates_ipv4_and_ipv6,
    ddclient_reports_badauth,
    ddclient_reports_nohost,
    inadyn_updates_one_host,
    inadyn_updates_two_hosts,
    inadyn_updates_ipv4_and_ipv6,
    inadyn_reports_badauth,
    inadyn_reports_nohost,
    ddclient_updates_over_https,
    inadyn_updates_over_https,
);

// ---------------------------------------------------------------------------------------
// ddclient

/// ddclient sends `hostname=NAME&myip=IP`; a repeat without a change is skipped from its
/// cache, `-force` sends it anyway and shows the server's `nochg`; a new address in its
/// configuration is sent without `-force`.
async fn ddclient_updates_one_host(backend: Backend) {
    let server = Server::start(backend).await;
    server.add_user(EMAIL, PASSWORD);
    add_host(&server, "router.dyn.test");
    let dir = tempfile::tempdir().expect("temp dir");
    let ddclient = Ddclient {
        server: server.http,
        dir: dir.path(),
        login: EMAIL,
        secret: PASSWORD,
        tls_ca: None,
    };

    let out = ddclient
        .run("192.0.2.11", &["router.dyn.test"], false)
        .await;
    assert_contains(
        &out,
        "SUCCESS:  updating router.dyn.test: good: IP address set to 192.0.2.11",
        &server,
    );
    assert_answers(&server, "router.dyn.test", [192, 0, 2, 11]).await;

    let out = ddclient
        .run("192.0.2.11", &["router.dyn.test"], false)
        .await;
    assert_contains(
        &out,
        "router.dyn.test: skipped: IP address was already set to 192.0.2.11",
        &server,
    );

    let out = ddclient.run("192.0.2.11", &["router.dyn.test"], true).await;
    assert_contains(&out, "RECEIVE:  nochg 192.0.2.11", &server);
    // ddclient reports `nochg` as a warning (a client should not repeat unchanged updates).
    assert_contains(
        &out,
        "updating router.dyn.test: nochg: No update required",
        &server,
    );

    let out = ddclient
        .run("192.0.2.12", &["router.dyn.test"], false)
        .await;
    assert_contains(
        &out,
        "SUCCESS:  updating router.dyn.test: good: IP address set to 192.0.2.12",
        &server,
    );
    assert_answers(&server, "router.dyn.test", [192, 0, 2, 12]).await;
}

/// ddclient groups hosts that share an address into one `hostname=a,b` request and reads
/// our answer line by line, in order; here it authenticates with an update key.
async fn ddclient_updates_two_hosts_in_one_request(backend: Backend) {
    let server = Server::start(backend).await;
    server.add_user(EMAIL, PASSWORD);
    add_host(&server, "nas.dyn.test");
    add_host(&server, "cam.other.test");
    let key = server.cli_ok(&[
        "key",
        "create",
        "--user",
        EMAIL,
        "--hosts",
        "nas.dyn.test,cam.other.test",
    ]);
    let key = key.trim();
    let dir = tempfile::tempdir().expect("temp dir");
    let ddclient = Ddclient {
        server: server.http,
        dir: dir.path(),
        login: EMAIL,
        secret: key,
        tls_ca: None,
    };
    let hosts = ["nas.dyn.test", "cam.other.test"];

    let out = ddclient.run("192.0.2.21", &hosts, false).await;
    // ddclient sorts the names it puts in one request.
    let request = "GET /nic/update?system=dyndns&hostname=cam.other.test,nas.dyn.test&myip=192.0.2.21 HTTP/1.1";
    assert_contains(&out, request, &server);
    assert_eq!(
        out.matches("GET /nic/update").count(),
        1,
        "one request for both names:\n{out}"
    );
    assert_contains(
        &out,
        "SUCCESS:  updating nas.dyn.test: good: IP address set to 192.0.2.21",
        &server,
    );
    assert_contains(
        &out,
        "SUCCESS:  updating cam.other.test: good: IP address set to 192.0.2.21",
        &server,
    );
    assert_answers(&server, "nas.dyn.test", [192, 0, 2, 21]).await;
    assert_answers(&server, "cam.other.test", [192, 0, 2, 21]).await;

    let out = ddclient.run("192.0.2.21", &hosts, true).await;
    assert_contains(
        &out,
        "RECEIVE:  nochg 192.0.2.21\nRECEIVE:  nochg 192.0.2.21",
        &server,
    );
    assert_contains(
        &out,
        "updating nas.dyn.test: nochg: No update required",
        &server,
    );
    assert_contains(
        &out,
        "updating cam.other.test: nochg: No update required",
        &server,
    );

    let out = ddclient.run("192.0.2.22", &hosts, false).await;
    assert_contains(
        &out,
        "SUCCESS:  updating nas.dyn.test: good: IP address set to 192.0.2.22",
        &server,
    );
    assert_contains(
        &out,
        "SUCCESS:  updating cam.other.test: good: IP address set to 192.0.2.22",
        &server,
    );
    assert_answers(&server, "nas.dyn.test", [192, 0, 2, 22]).await;
    assert_answers(&server, "cam.other.test", [192, 0, 2, 22]).await;
}

/// ddclient 3.10's dyndns2 sends one address per request: `myip=` carries the address its
/// `use=` strategy found, IPv4 or IPv6, and nothing else. Its `usev4=`/`usev6=` strategies
/// fill `wantipv4`/`wantipv6`, which `nic_dyndns2_update` never reads (it builds the URL
/// from `wantip` alone, /usr/bin/ddclient), and `ip=` accepts one address (`T_IP`). The
/// closest honest equivalent is two configurations for the same host, one per family, each
/// with its own cache (ddclient caches one address per host, so a shared cache would make
/// each run send its family again): the IPv6 one sends `myip=2001:db8::51`, which the
/// server takes as the IPv6 address alone, leaving the A record to the IPv4 one. Both must
/// log `good`, the host must answer both, and a repeat of each is skipped from its cache.
async fn ddclient_updates_ipv4_and_ipv6(backend: Backend) {
    let server = Server::start(backend).await;
    server.add_user(EMAIL, PASSWORD);
    add_host(&server, "dual.dyn.test");
    let (dir_v4, dir_v6) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    let ddclient_v4 = Ddclient {
        server: server.http,
        dir: dir_v4.path(),
        login: EMAIL,
        secret: PASSWORD,
        tls_ca: None,
    };
    let ddclient_v6 = Ddclient {
        dir: dir_v6.path(),
        ..ddclient_v4
    };
    let host = ["dual.dyn.test"];

    let out = ddclient_v4.run("192.0.2.51", &host, false).await;
    assert_contains(
        &out,
        "SUCCESS:  updating dual.dyn.test: good: IP address set to 192.0.2.51",
        &server,
    );
    let out = ddclient_v6.run("2001:db8::51", &host, false).await;
    assert_contains(
        &out,
        "GET /nic/update?system=dyndns&hostname=dual.dyn.test&myip=2001:db8::51 HTTP/1.1",
        &server,
    );
    assert_contains(&out, "RECEIVE:  good 2001:db8::51", &server);
    assert_contains(
        &out,
        "SUCCESS:  updating dual.dyn.test: good: IP address set to 2001:db8::51",
        &server,
    );
    assert_answers(&server, "dual.dyn.test", [192, 0, 2, 51]).await;
    assert_answers(&server, "dual.dyn.test", ipv6("2001:db8::51")).await;

    for (ddclient, ip) in [(&ddclient_v4, "192.0.2.51"), (&ddclient_v6, "2001:db8::51")] {
        let out = ddclient.run(ip, &host, false).await;
        assert_contains(
            &out,
            &format!("dual.dyn.test: skipped: IP address was already set to {ip}"),
            &server,
        );
    }
}

/// With a wrong password ddclient sends its usual request; the server answers HTTP 401 with
/// `badauth`. ddclient checks the status line before the body, so it logs its HTTP-level
/// "authorization failed" with the reply (ending in our `badauth`) and exits 1; the host
/// keeps its address.
async fn ddclient_reports_badauth(backend: Backend) {
    let server = Server::start(backend).await;
    server.add_user(EMAIL, PASSWORD);
    add_host(&server, "router.dyn.test");
    let dir = tempfile::tempdir().expect("temp dir");
    let ddclient = Ddclient {
        server: server.http,
        dir: dir.path(),
        login: EMAIL,
        secret: "not the password",
        tls_ca: None,
    };

    let out = ddclient
        .run_expecting("192.0.2.61", &["router.dyn.test"], DDCLIENT_FAILED)
        .await;
    assert_contains(&out, "RECEIVE:  HTTP/1.1 401 Unauthorized", &server);
    assert_contains(&out, "RECEIVE:  badauth", &server);
    assert_contains(
        &out,
        "FAILED:   updating router.dyn.test: authorization failed (HTTP/1.1 401 Unauthorized",
        &server,
    );
    assert_contains(&out, "FAILED:   badauth)", &server);
    assert!(!out.contains("SUCCESS:"), "ddclient claims success:\n{out}");
    assert_answers(&server, "router.dyn.test", BEFORE).await;
}

/// ddclient sends both names in one request (`hostname=ghost.dyn.test,neighbour.dyn.test`):
/// one exists nowhere, the other is another account's. The server answers `nohost` for each,
/// one line per name; ddclient logs its `nohost` failure for each and exits 1, and the other
/// account's host keeps its address.
async fn ddclient_reports_nohost(backend: Backend) {
    let server = Server::start(backend).await;
    server.add_user(EMAIL, PASSWORD);
    add_neighbour(&server);
    let dir = tempfile::tempdir().expect("temp dir");
    let ddclient = Ddclient {
        server: server.http,
        dir: dir.path(),
        login: EMAIL,
        secret: PASSWORD,
        tls_ca: None,
    };

    let out = ddclient
        .run_expecting("192.0.2.71", &[GHOST, NEIGHBOUR], DDCLIENT_FAILED)
        .await;
    assert_contains(
        &out,
        "GET /nic/update?system=dyndns&hostname=ghost.dyn.test,neighbour.dyn.test&myip=192.0.2.71 HTTP/1.1",
        &server,
    );
    assert_contains(&out, "RECEIVE:  nohost\nRECEIVE:  nohost", &server);
    for host in [GHOST, NEIGHBOUR] {
        assert_contains(
            &out,
            &format!(
                "FAILED:   updating {host}: nohost: The hostname specified does not exist in the database"
            ),
            &server,
        );
    }
    assert!(!out.contains("SUCCESS:"), "ddclient claims success:\n{out}");
    assert_no_address(&server, GHOST).await;
    assert_answers(&server, NEIGHBOUR, BEFORE).await;
}

struct Ddclient<'a> {
    server: SocketAddr,
    dir: &'a Path,
    login: &'a str,
    secret: &'a str,
    /// HTTPS, trusting this CA's certificate; `None`: plain HTTP.
    tls_ca: Option<&'a Path>,
}

impl Ddclient<'_> {
    /// One foreground run of ddclient reporting `ip` (IPv4 or IPv6) for `hosts`, with a cache
    /// kept in `dir` between runs; it must succeed. ddclient 3.10's `usev4=ipv4` also runs the
    /// deprecated default `use=ip` (and warns that it found no address): `use=ip, ip=…` is the
    /// clean way there.
    async fn run(&self, ip: &str, hosts: &[&str], force: bool) -> String {
        self.run_with(ip, hosts, force, 0).await
    }

    /// A first run (no `-force`) that must exit with `status`.
    async fn run_expecting(&self, ip: &str, hosts: &[&str], status: i32) -> String {
        self.run_with(ip, hosts, false, status).await
    }

    async fn run_with(&self, ip: &str, hosts: &[&str], force: bool, status: i32) -> String {
        let conf = self.dir.join("ddclient.conf");
        let text = format!(
            "daemon=0\nmin-interval=0\n{ssl}protocol=dyndns2\nserver={server}\nlogin={login}\npassword='{secret}'\nuse=ip, ip={ip}\n{hosts}\n",
            ssl = match self.tls_ca {
                Some(ca) => format!("ssl=yes\nssl_ca_file={}\n", ca.display()),
                None => "ssl=no\n".to_owned(),
            },
            server = self.server,
            login = self.login,
            secret = self.secret,
            hosts = hosts.join(","),
        );
        write_private(&conf, &text);
        let mut args = vec![
            "-daemon=0",
            "-foreground",
            "-verbose",
            "-noquiet",
            "-timeout",
            "20",
        ];
        if force {
            args.push("-force");
        }
        let conf = conf.display().to_string();
        let cache = self.dir.join("ddclient.cache").display().to_string();
        args.extend(["-file", &conf, "-cache", &cache]);
        run_client("ddclient", &args, self.dir, status).await
    }
}

/// `ssl=yes`: ddclient (IO::Socket::SSL) checks our certificate against the CA it is told
/// to trust and the address it connects to.
async fn ddclient_updates_over_https(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, ca) = start_with_https(backend, dir.path()).await;
    server.add_user(EMAIL, PASSWORD);
    add_host(&server, "router.dyn.test");
    let ddclient = Ddclient {
        server: server.https.expect("HTTPS"),
        dir: dir.path(),
        login: EMAIL,
        secret: PASSWORD,
        tls_ca: Some(&ca.cert_file),
    };
    let out = ddclient
        .run("192.0.2.91", &["router.dyn.test"], false)
        .await;
    assert_contains(&out, "CONNECTED:  using SSL", &server);
    assert_contains(
        &out,
        "SUCCESS:  updating router.dyn.test: good: IP address set to 192.0.2.91",
        &server,
    );
    assert_answers(&server, "router.dyn.test", [192, 0, 2, 91]).await;
}

/// The server with HTTPS on a free port, its certificate from a CA made now (returned,
/// for the clients to trust).
async fn start_with_https(backend: Backend, dir: &Path) -> (Server, TestCa) {
    let (ca, env) = https_env(dir);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (Server::start_with(backend, &env).await, ca)
}

/// A CA made now, and the server's HTTPS settings with a certificate it signed.
fn https_env(dir: &Path) -> (TestCa, [(&'static str, String); 3]) {
    let ca = TestCa::new(dir, "test-ca");
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    ca.install_server_cert(&cert, &key);
    let env = [
        ("DYN53_HTTPS_ADDR", "127.0.0.1:0".to_owned()),
        ("DYN53_TLS_CERT", cert.display().to_string()),
        ("DYN53_TLS_KEY", key.display().to_string()),
    ];
    (ca, env)
}

// ---------------------------------------------------------------------------------------
// inadyn

/// inadyn learns the address from our `/checkip`, sends `hostname=NAME&myip=IP`, and keeps
/// a cache: a second `-1` run does not update; `--force` does, and the server says `nochg`.
async fn inadyn_updates_one_host(backend: Backend) {
    let (server, checkip) = start_for_inadyn(backend, [192, 0, 2, 31]).await;
    server.add_user(EMAIL, PASSWORD);
    add_host(&server, "office.dyn.test");
    let dir = tempfile::tempdir().expect("temp dir");
    let inadyn = Inadyn {
        server: server.http,
        checkip,
        checkip_v6: None,
        dir: dir.path(),
        login: EMAIL,
        secret: PASSWORD,
        tls_ca: None,
    };

    let out = inadyn.run(&["office.dyn.test"], false).await;
    assert_contains(&out, "Current IP# 192.0.2.31 at custom", &server);
    assert_contains(
        &out,
        "GET /nic/update?hostname=office.dyn.test&myip=192.0.2.31 HTTP/1.0",
        &server,
    );
    assert_contains(&out, "good 192.0.2.31", &server);
    assert_contains(
        &out,
        "Successful alias table update for office.dyn.test => new IP# 192.0.2.31",
        &server,
    );
    assert_answers(&server, "office.dyn.test", [192, 0, 2, 31]).await;

    let out = inadyn.run(&["office.dyn.test"], false).await;
    assert_contains(
        &out,
        "No IP# change detected for custom, still at 192.0.2.31",
        &server,
    );
    assert!(
        !out.contains("/nic/update"),
        "inadyn updated although nothing changed:\n{out}"
    );

    let out = inadyn.run(&["office.dyn.test"], true).await;
    assert_contains(&out, "nochg 192.0.2.31", &server);
    assert_contains(
        &out,
        "Successful alias table update for office.dyn.test => new IP# 192.0.2.31",
        &server,
    );
}

/// `ssl = true`: inadyn (GnuTLS) sends the update over HTTPS, trusting the CA of
/// `ca-trust-file`; the port speaks nothing but TLS, so its `good` came over TLS.
async fn inadyn_updates_over_https(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, env) = https_env(dir.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (server, checkip) = start_for_inadyn_with(backend, [192, 0, 2, 92], &env).await;
    server.add_user(EMAIL, PASSWORD);
    add_host(&server, "office.dyn.test");
    let inadyn = Inadyn {
        server: server.https.expect("HTTPS"),
        checkip,
        checkip_v6: None,
        dir: dir.path(),
        login: EMAIL,
        secret: PASSWORD,
        tls_ca: Some(&ca.cert_file),
    };
    let out = inadyn.run(&["office.dyn.test"], false).await;
    assert_contains(&out, "good 192.0.2.92", &server);
    assert_contains(
        &out,
        "Successful alias table update for office.dyn.test => new IP# 192.0.2.92",
        &server,
    );
    assert_answers(&server, "office.dyn.test", [192, 0, 2, 92]).await;
}

/// inadyn's custom provider sends one request per name; here it uses an update key.
async fn inadyn_updates_two_hosts(backend: Backend) {
    let (server, checkip) = start_for_inadyn(backend, [192, 0, 2, 41]).await;
    server.add_user(EMAIL, PASSWORD);
    add_host(&server, "shop.dyn.test");
    add_host(&server, "shop.other.test");
    let key = server.cli_ok(&[
        "key",
        "create",
        "--user",
        EMAIL,
        "--hosts",
        "shop.dyn.test,shop.other.test",
    ]);
    let key = key.trim();
    let dir = tempfile::tempdir().expect("temp dir");
    let inadyn = Inadyn {
        server: server.http,
        checkip,
        checkip_v6: None,
        dir: dir.path(),
        login: EMAIL,
        secret: key,
        tls_ca: None,
    };
    let hosts = ["shop.dyn.test", "shop.other.test"];

    let out = inadyn.run(&hosts, false).await;
    for host in hosts {
        assert_contains(
            &out,
            &format!("GET /nic/update?hostname={host}&myip=192.0.2.41 HTTP/1.0"),
            &server,
        );
        assert_contains(
            &out,
            &format!("Successful alias table update for {host} => new IP# 192.0.2.41"),
            &server,
        );
        assert_answers(&server, host, [192, 0, 2, 41]).await;
    }
    assert_eq!(
        out.matches("good 192.0.2.41").count(),
        2,
        "two `good` answers:\n{out}"
    );

    let out = inadyn.run(&hosts, true).await;
    assert_eq!(
        out.matches("nochg 192.0.2.41").count(),
        2,
        "two `nochg` answers:\n{out}\n{}",
        server.log()
    );
    for host in hosts {
        assert_contains(
            &out,
            &format!("Successful alias table update for {host} => new IP# 192.0.2.41"),
            &server,
        );
    }
}

/// inadyn 2.10 sends one address per provider section (the one address its check-IP step
/// finds; `%i` is that address, plugins/generic.c); updating both families of one provider
/// came in 2.11.0 (its ChangeLog: "Initial support for updating both ipv4 and ipv6 address
/// for the same provider"). The closest honest equivalent is one run with two `custom`
/// sections for the same host and `allow-ipv6 = true`: one learns IPv4 from our `/checkip`,
/// the other IPv6 (through a proxy that forwards `2001:db8::61`); each sends
/// `hostname=NAME&myip=IP` (inadyn escapes the IPv6 colons as `%3a`) and must log success,
/// and the host must answer both. inadyn keys its cache by host name alone (`NAME.cache`,
/// src/cache.c), so the two sections share one file: the next start finds the other
/// family's address there and sends that section's update again, which the server answers
/// `nochg` (here the IPv6 one: inadyn runs the sections last first, so IPv4 wrote last).
async fn inadyn_updates_ipv4_and_ipv6(backend: Backend) {
    let (server, checkip) = start_for_inadyn(backend, [192, 0, 2, 61]).await;
    let checkip_v6 = forwarding_proxy(server.http, ipv6("2001:db8::61").into()).await;
    server.add_user(EMAIL, PASSWORD);
    add_host(&server, "dual.dyn.test");
    let dir = tempfile::tempdir().expect("temp dir");
    let inadyn = Inadyn {
        server: server.http,
        checkip,
        checkip_v6: Some(checkip_v6),
        dir: dir.path(),
        login: EMAIL,
        secret: PASSWORD,
        tls_ca: None,
    };

    let out = inadyn.run(&["dual.dyn.test"], false).await;
    for (ip, sent) in [
        ("192.0.2.61", "192.0.2.61"),
        ("2001:db8::61", "2001%3adb8%3a%3a61"),
    ] {
        assert_contains(&out, &format!("Current IP# {ip} at custom"), &server);
        assert_contains(
            &out,
            &format!("GET /nic/update?hostname=dual.dyn.test&myip={sent} HTTP/1.0"),
            &server,
        );
        assert_contains(&out, &format!("good {ip}"), &server);
        assert_contains(
            &out,
            &format!("Successful alias table update for dual.dyn.test => new IP# {ip}"),
            &server,
        );
    }
    assert_answers(&server, "dual.dyn.test", [192, 0, 2, 61]).await;
    assert_answers(&server, "dual.dyn.test", ipv6("2001:db8::61")).await;

    let out = inadyn.run(&["dual.dyn.test"], false).await;
    assert_eq!(
        out.matches("GET /nic/update").count(),
        1,
        "one section sends again after a restart:\n{out}"
    );
    assert_contains(
        &out,
        "No IP# change detected for custom, still at 192.0.2.61",
        &server,
    );
    assert_contains(&out, "nochg 2001:db8::61", &server);
}

/// With a wrong password inadyn sends its usual request; the server answers HTTP 401 with
/// `badauth`, which inadyn logs as a fatal error with the status and body, then exits with
/// its authentication failure (50); the host keeps its address.
async fn inadyn_reports_badauth(backend: Backend) {
    let (server, checkip) = start_for_inadyn(backend, [192, 0, 2, 62]).await;
    server.add_user(EMAIL, PASSWORD);
    add_host(&server, "office.dyn.test");
    let dir = tempfile::tempdir().expect("temp dir");
    let inadyn = Inadyn {
        server: server.http,
        checkip,
        checkip_v6: None,
        dir: dir.path(),
        login: EMAIL,
        secret: "not the password",
        tls_ca: None,
    };

    let out = inadyn
        .run_expecting(&["office.dyn.test"], INADYN_AUTH_FAIL)
        .await;
    assert_contains(
        &out,
        "GET /nic/update?hostname=office.dyn.test&myip=192.0.2.62 HTTP/1.0",
        &server,
    );
    assert_contains(&out, "Fatal error in DDNS server response:", &server);
    assert_contains(&out, "[401 Unauthorized] badauth", &server);
    assert_contains(&out, "Error code 50: Authentication failure", &server);
    assert!(
        !out.contains("Successful alias table update"),
        "inadyn claims success:\n{out}"
    );
    assert_answers(&server, "office.dyn.test", BEFORE).await;
}

/// inadyn is set up for a name that exists nowhere and one of another account, in that
/// order; it sends `hostname=ghost.dyn.test&myip=IP`, logs the server's `nohost` as a fatal
/// error and exits with 48, without sending the second name (in its default `compat` mode
/// a provider's first failure ends its round, src/ddns.c `update_alias_table`). Nothing
/// changes.
async fn inadyn_reports_nohost(backend: Backend) {
    let (server, checkip) = start_for_inadyn(backend, [192, 0, 2, 63]).await;
    server.add_user(EMAIL, PASSWORD);
    add_neighbour(&server);
    let dir = tempfile::tempdir().expect("temp dir");
    let inadyn = Inadyn {
        server: server.http,
        checkip,
        checkip_v6: None,
        dir: dir.path(),
        login: EMAIL,
        secret: PASSWORD,
        tls_ca: None,
    };

    let out = inadyn
        .run_expecting(&[GHOST, NEIGHBOUR], INADYN_RSP_NOTOK)
        .await;
    assert_contains(
        &out,
        "GET /nic/update?hostname=ghost.dyn.test&myip=192.0.2.63 HTTP/1.0",
        &server,
    );
    assert_contains(&out, "Fatal error in DDNS server response:", &server);
    assert_contains(&out, "[200 OK] nohost", &server);
    assert_contains(&out, "Error code 48: DDNS server response not OK", &server);
    assert_eq!(
        out.matches("GET /nic/update").count(),
        1,
        "inadyn stops at the first failure:\n{out}"
    );
    assert!(
        !out.contains("Successful alias table update"),
        "inadyn claims success:\n{out}"
    );
    assert_no_address(&server, GHOST).await;
    assert_answers(&server, NEIGHBOUR, BEFORE).await;
}

struct Inadyn<'a> {
    server: SocketAddr,
    checkip: SocketAddr,
    /// A second check-IP server, answering an IPv6 address: adds a second provider section
    /// for the same hosts, and `allow-ipv6 = true`.
    checkip_v6: Option<SocketAddr>,
    dir: &'a Path,
    login: &'a str,
    secret: &'a str,
    /// HTTPS for the updates, trusting this CA's certificate; `None`: plain HTTP.
    tls_ca: Option<&'a Path>,
}

impl Inadyn<'_> {
    /// One run (`-1`) in the foreground with debug logging, which shows the HTTP exchanges;
    /// it must succeed.
    async fn run(&self, hosts: &[&str], force: bool) -> String {
        self.run_with(hosts, force, 0).await
    }

    /// A run (no `--force`) that must exit with `status`.
    async fn run_expecting(&self, hosts: &[&str], status: i32) -> String {
        self.run_with(hosts, false, status).await
    }

    async fn run_with(&self, hosts: &[&str], force: bool, status: i32) -> String {
        let conf = self.dir.join("inadyn.conf");
        let names = hosts
            .iter()
            .map(|h| format!("\"{h}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let section = |name: &str, checkip: SocketAddr| {
            format!(
                r#"custom {name} {{
    ssl            = {ssl}
    username       = "{login}"
    password       = "{secret}"
    checkip-server = "{checkip}"
    checkip-path   = "/checkip"
    checkip-ssl    = false
    ddns-server    = "{server}"
    ddns-path      = "/nic/update?hostname=%h&myip=%i"
    hostname       = {{ {names} }}
}}
"#,
                ssl = self.tls_ca.is_some(),
                login = self.login,
                secret = self.secret,
                server = self.server,
            )
        };
        let allow_ipv6 = match self.checkip_v6 {
            Some(_) => "allow-ipv6 = true\n",
            None => "",
        };
        let trust = match self.tls_ca {
            Some(ca) => format!("ca-trust-file = \"{}\"\n", ca.display()),
            None => String::new(),
        };
        let mut text = format!(
            "period = 60\n{allow_ipv6}{trust}{}",
            section("dyn53", self.checkip)
        );
        if let Some(checkip_v6) = self.checkip_v6 {
            text += &section("dyn53v6", checkip_v6);
        }
        write_private(&conf, &text);
        let cache = self.dir.join("cache");
        std::fs::create_dir_all(&cache).expect("cache dir");
        let (conf, cache) = (
            conf.display().to_string(),
            format!("--cache-dir={}", cache.display()),
        );
        let mut args = vec![
            "-1",
            "--foreground",
            "--no-pidfile",
            "-l",
            "debug",
            "-f",
            &conf,
            &cache,
        ];
        if force {
            args.push("--force");
        }
        run_client("inadyn", &args, self.dir, status).await
    }
}

/// inadyn refuses a loopback answer from its check-IP server ("is not a valid Internet
/// address"), so it reaches our `/checkip` through a reverse proxy that adds
/// `X-Forwarded-For: client`, and the server trusts loopback as a proxy. Returns the server
/// and the proxy's address (which inadyn uses as its `checkip-server`).
async fn start_for_inadyn(backend: Backend, client: [u8; 4]) -> (Server, SocketAddr) {
    start_for_inadyn_with(backend, client, &[]).await
}

async fn start_for_inadyn_with(
    backend: Backend,
    client: [u8; 4],
    env: &[(&str, &str)],
) -> (Server, SocketAddr) {
    let mut env = env.to_vec();
    env.push(("DYN53_TRUSTED_PROXIES", "127.0.0.1/32"));
    let server = Server::start_with(backend, &env).await;
    let proxy = forwarding_proxy(server.http, IpAddr::from(client)).await;
    (server, proxy)
}

/// A minimal HTTP reverse proxy: adds `X-Forwarded-For: client` to each request's head and
/// relays bytes both ways until either side closes.
async fn forwarding_proxy(upstream: SocketAddr, client: IpAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    tokio::spawn(async move {
        while let Ok((mut downstream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                let end = loop {
                    if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        break end;
                    }
                    match downstream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                };
                let first_line = head.windows(2).position(|w| w == b"\r\n").unwrap_or(end);
                let mut request = head[..first_line + 2].to_vec();
                request.extend_from_slice(format!("X-Forwarded-For: {client}\r\n").as_bytes());
                request.extend_from_slice(&head[first_line + 2..]);
                let Ok(mut up) = TcpStream::connect(upstream).await else {
                    return;
                };
                if up.write_all(&request).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut downstream, &mut up).await;
                }
            });
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------
// shared

fn add_host(server: &Server, fqdn: &str) {
    server.cli_ok(&[
        "host",
        "add",
        fqdn,
        "--owner",
        EMAIL,
        "--ipv4",
        &BEFORE.to_string(),
    ]);
}

/// Another account with its host `NEIGHBOUR` (at `BEFORE`), which the clients' login may
/// not update.
fn add_neighbour(server: &Server) {
    server.add_user(OTHER_EMAIL, "the neighbour's password");
    server.cli_ok(&[
        "host",
        "add",
        NEIGHBOUR,
        "--owner",
        OTHER_EMAIL,
        "--ipv4",
        &BEFORE.to_string(),
    ]);
}

fn ipv6(text: &str) -> Ipv6Addr {
    text.parse().expect("IPv6 address")
}

/// Waits (up to 5 s) for `name`'s answer on the DNS port to be exactly `ip`: its A answer
/// for an IPv4 address, its AAAA answer for an IPv6 one. After a refused update this checks
/// that the address stayed: a refusal writes nothing, so no change can still be on its way.
async fn assert_answers(server: &Server, name: &str, ip: impl Into<IpAddr>) {
    let ip = ip.into();
    let rtype = if ip.is_ipv4() {
        RecordType::A
    } else {
        RecordType::AAAA
    };
    assert_lookup(server, name, rtype, vec![ip]).await;
}

/// `name` answers no address of either family.
async fn assert_no_address(server: &Server, name: &str) {
    assert_lookup(server, name, RecordType::A, Vec::new()).await;
    assert_lookup(server, name, RecordType::AAAA, Vec::new()).await;
}

async fn assert_lookup(server: &Server, name: &str, rtype: RecordType, want: Vec<IpAddr>) {
    let mut last = Vec::new();
    let seen = eventually(Duration::from_secs(5), async || {
        last = dns::lookup(server.dns, name, rtype).await;
        (last == want).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "{name} {rtype} answers {last:?}, expected {want:?}\nserver log:\n{}",
        server.log()
    );
}

#[track_caller]
fn assert_contains(output: &str, needle: &str, server: &Server) {
    assert!(
        output.contains(needle),
        "client output lacks {needle:?}\n--- client output ---\n{output}\n--- server log ---\n{}",
        server.log()
    );
}

/// Client configurations hold secrets, and ddclient complains about readable ones.
fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write client configuration");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// The installed client, or a failure that says how to install it.
fn client_binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed, so the real-client tests cannot run: run scripts/test, \
                 which installs ddclient and inadyn (or `apt-get install ddclient inadyn`)"
            )
        })
}

/// Runs a client to completion (killed after `CLIENT_TIMEOUT`), asserts that it exited with
/// `expected` (0: success), and returns its standard output and error, as written to one file
/// (each stream keeps its order; ddclient's buffered stdout may land after its stderr).
async fn run_client(name: &str, args: &[&str], dir: &Path, expected: i32) -> String {
    let binary = client_binary(name);
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let log_path = dir.join(format!("{name}.out"));
    let command_line = format!("{} {}", binary.display(), args.join(" "));
    tokio::task::spawn_blocking(move || {
        let log = std::fs::File::create(&log_path).expect("client log");
        let mut child = Command::new(&binary)
            .args(&args)
            .current_dir(log_path.parent().expect("log dir"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command_line}: {e}"));
        let deadline = Instant::now() + CLIENT_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for client") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let out = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("{command_line} did not finish within {CLIENT_TIMEOUT:?}:\n{out}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = std::fs::read_to_string(&log_path).expect("read client log");
        // Both clients exit non-zero when the server refuses an update (ddclient 1; inadyn 50
        // for `badauth`, 48 for `nohost`); callers also check the output for what was said.
        assert_eq!(
            status.code(),
            Some(expected),
            "{command_line} exited with {status}:\n{out}"
        );
        out
    })
    .await
    .expect("client run")
}
