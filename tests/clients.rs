//! End-to-end tests with real update clients: the Debian packages of ddclient and inadyn,
//! configured for the dyndns2 protocol against a running `dyn53 serve` (plain HTTP on
//! loopback), update one host and then two at once; the new address must then be in the
//! DNS answer, and a forced repeat must be reported as `nochg` (the history saw the first).
//!
//! The clients must be installed: `scripts/test` installs them. A missing client fails the
//! test, it never skips it.
//!
//! Versions checked: ddclient 3.10.0, inadyn 2.10.0 (Debian 12).

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hickory_server::proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::{Backend, Server, dns, eventually};

const EMAIL: &str = "router@example.com";
/// A space and a colon: clients must carry both through Basic auth untouched.
const PASSWORD: &str = "s3cret pass:1";
/// The address hosts have before a client updates them.
const BEFORE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Longest a client run may take; it is killed (and the test fails) after that.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

on_both_backends!(
    ddclient_updates_one_host,
    ddclient_updates_two_hosts_in_one_request,
    inadyn_updates_one_host,
    inadyn_updates_two_hosts,
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

struct Ddclient<'a> {
    server: SocketAddr,
    dir: &'a Path,
    login: &'a str,
    secret: &'a str,
}

impl Ddclient<'_> {
    /// One foreground run of ddclient reporting `ip` for `hosts`, with a cache kept in `dir`
    /// between runs. ddclient 3.10's `usev4=ipv4` also runs the deprecated default `use=ip`
    /// (and warns that it found no address): `use=ip, ip=…` is the clean way there.
    async fn run(&self, ip: &str, hosts: &[&str], force: bool) -> String {
        let conf = self.dir.join("ddclient.conf");
        let text = format!(
            "daemon=0\nmin-interval=0\nssl=no\nprotocol=dyndns2\nserver={server}\nlogin={login}\npassword='{secret}'\nuse=ip, ip={ip}\n{hosts}\n",
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
        run_client("ddclient", &args, self.dir).await
    }
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
        dir: dir.path(),
        login: EMAIL,
        secret: PASSWORD,
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
        dir: dir.path(),
        login: EMAIL,
        secret: key,
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

struct Inadyn<'a> {
    server: SocketAddr,
    checkip: SocketAddr,
    dir: &'a Path,
    login: &'a str,
    secret: &'a str,
}

impl Inadyn<'_> {
    /// One run (`-1`) in the foreground with debug logging, which shows the HTTP exchanges.
    async fn run(&self, hosts: &[&str], force: bool) -> String {
        let conf = self.dir.join("inadyn.conf");
        let names = hosts
            .iter()
            .map(|h| format!("\"{h}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            r#"period = 60
custom dyn53 {{
    ssl            = false
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
            login = self.login,
            secret = self.secret,
            checkip = self.checkip,
            server = self.server,
        );
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
        run_client("inadyn", &args, self.dir).await
    }
}

/// inadyn refuses a loopback answer from its check-IP server ("is not a valid Internet
/// address"), so it reaches our `/checkip` through a reverse proxy that adds
/// `X-Forwarded-For: client`, and the server trusts loopback as a proxy. Returns the server
/// and the proxy's address (which inadyn uses as its `checkip-server`).
async fn start_for_inadyn(backend: Backend, client: [u8; 4]) -> (Server, SocketAddr) {
    let server = Server::start_with(backend, &[("DYN53_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let proxy = forwarding_proxy(server.http, Ipv4Addr::from(client)).await;
    (server, proxy)
}

/// A minimal HTTP reverse proxy: adds `X-Forwarded-For: client` to each request's head and
/// relays bytes both ways until either side closes.
async fn forwarding_proxy(upstream: SocketAddr, client: Ipv4Addr) -> SocketAddr {
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

/// Waits (up to 5 s) for `name`'s A answer on the DNS port to be exactly `ip`.
async fn assert_answers(server: &Server, name: &str, ip: [u8; 4]) {
    let want = vec![std::net::IpAddr::from(ip)];
    let mut last = Vec::new();
    let seen = eventually(Duration::from_secs(5), async || {
        last = dns::lookup(server.dns, name, RecordType::A).await;
        (last == want).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "{name} A answers {last:?}, expected {want:?}\nserver log:\n{}",
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

/// Runs a client to completion (killed after `CLIENT_TIMEOUT`) and returns its standard
/// output and error, interleaved as written.
async fn run_client(name: &str, args: &[&str], dir: &Path) -> String {
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
        // Both clients exit non-zero when the server refuses an update (ddclient 1, inadyn
        // 48 for `badauth`); callers also check the output for what the server said.
        assert!(
            status.success(),
            "{command_line} exited with {status}:\n{out}"
        );
        out
    })
    .await
    .expect("client run")
}
