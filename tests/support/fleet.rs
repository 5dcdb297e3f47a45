//! A fleet for tests: `dyn53 web` on a fresh PostgreSQL database, `dyn53 dns` nodes, and
//! Redis: the machine's shared one under a prefix of the test's own, or a private
//! `redis-server` that the test may stop, start again (empty) or flush.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hickory_server::proto::rr::RecordType;

use super::{Backend, Process, Storage, dns, eventually, http, postgres_base, unique};

pub struct Redis {
    pub url: String,
    pub prefix: String,
    /// A private server: its port and process (`None` while stopped).
    private: Option<(u16, Option<Child>)>,
}

impl Redis {
    /// The machine's Redis (`DYN53_TEST_REDIS`, default `redis://127.0.0.1:6379`), under a
    /// prefix no other test uses.
    pub fn shared() -> Redis {
        Redis {
            url: std::env::var("DYN53_TEST_REDIS")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            prefix: format!("dyn53test{}:", unique()),
            private: None,
        }
    }

    /// A `redis-server` of this test's own, without persistence.
    pub fn private() -> Redis {
        let port = free_port();
        let mut redis = Redis {
            url: format!("redis://127.0.0.1:{port}"),
            prefix: "dyn53:".into(),
            private: Some((port, None)),
        };
        redis.start();
        redis
    }

    /// Starts the private server again: empty, as after a restart without persistence.
    pub fn start(&mut self) {
        let Some((port, child)) = &mut self.private else {
            panic!("only a private Redis can be started");
        };
        let port = port.to_string();
        *child = Some(
            Command::new("redis-server")
                .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
                .args(["--appendonly", "no", "--logfile", ""])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server runs"),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.try_cli(&["PING"]).as_deref() != Some("PONG") {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the private server.
    pub fn stop(&mut self) {
        if let Some((_, Some(mut child))) = self.private.as_mut().map(|(p, c)| (*p, c.take())) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn try_cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-u", &self.url])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Runs a Redis command; returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args).expect("redis-cli runs")
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DYN53_REDIS_URL".into(), self.url.clone()),
            ("DYN53_REDIS_PREFIX".into(), self.prefix.clone()),
        ]
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if self.private.is_some() {
            self.stop();
        } else if let Some(keys) =
            self.try_cli(&["--scan", "--pattern", &format!("{}*", self.prefix)])
        {
            for key in keys.lines().filter(|k| !k.is_empty()) {
                let _ = self.try_cli(&["DEL", key]);
            }
        }
    }
}

/// A port free now, drawn below Linux's ephemeral ports (32768 and up): a port the kernel
/// picks for `127.0.0.1:0` is one it may give next to an outgoing connection (the tests
/// make many), which then holds it when the server comes to bind it (seen in `readme.rs`).
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    for _ in 0..1000 {
        let port = 20_000 + (RandomState::new().hash_one(unique()) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port from 20000 to 31999");
}

/// The password of the users `Web::setup_hosts` creates.
pub const PASSWORD: &str = "fleet-password-1";

/// A running `dyn53 web` on PostgreSQL.
pub struct Web {
    /// Shared by the replicas of one deployment.
    pub storage: Arc<Storage>,
    pub http: SocketAddr,
    /// The metrics port, when `DYN53_METRICS_ADDR` was given.
    pub metrics: Option<SocketAddr>,
    /// The RFC 2136 listener, when `DYN53_DNS_UPDATE_ADDR` was given.
    pub dns_update: Option<SocketAddr>,
    redis_env: Vec<(String, String)>,
    process: Process,
}

impl Web {
    pub async fn start(redis: &Redis, extra_env: &[(&str, &str)]) -> Web {
        Web::start_on(Arc::new(Storage::new(Backend::Postgres)), redis, extra_env).await
    }

    /// Another replica of this deployment: same database, same Redis.
    pub async fn replica(&self, redis: &Redis) -> Web {
        self.replica_with(redis, &[]).await
    }

    /// Another replica, with extra environment variables.
    pub async fn replica_with(&self, redis: &Redis, extra_env: &[(&str, &str)]) -> Web {
        Web::start_on(self.storage.clone(), redis, extra_env).await
    }

    async fn start_on(storage: Arc<Storage>, redis: &Redis, extra_env: &[(&str, &str)]) -> Web {
        let redis_env = redis.env();
        let mut env = storage.env();
        env.extend(redis_env.iter().cloned());
        env.push(("DYN53_HTTP_ADDR".into(), "127.0.0.1:0".into()));
        env.push(("DYN53_MINIUPDATE_ADDR".into(), "127.0.0.1:0".into()));
        env.push(("DYN53_ZONES".into(), "dyn.test".into()));
        // Bursts update hosts far more often than a client may.
        env.push(("DYN53_ABUSE_LIMIT".into(), "1000000/1".into()));
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let process = tokio::task::spawn_blocking(move || {
            Process::spawn(&["web"], env, "dyn53 web listening")
        })
        .await
        .expect("web starts");
        Web {
            http: process.addresses("http")[0],
            metrics: process.optional_address("metrics"),
            dns_update: process.optional_address("dns_update"),
            storage,
            redis_env,
            process,
        }
    }

    /// Runs `dyn53 ARGS` with this deployment's database and Redis.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(super::binary())
            .args(args)
            .envs(self.storage.env())
            .envs(self.redis_env.clone())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("dyn53 runs")
    }

    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "dyn53 {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Creates `user` (password [`PASSWORD`]) with hosts `h0.dyn.test`… at 192.0.2.1 and
    /// returns an update key.
    pub fn setup_hosts(&self, user: &str, count: usize) -> String {
        super::add_user(&self.storage, user, PASSWORD);
        let lines: String = (0..count)
            .map(|i| format!("h{i}.dyn.test {user} 192.0.2.1\n"))
            .collect();
        let file = self.storage.data_dir.path().join("hosts.txt");
        std::fs::write(&file, lines).expect("write hosts");
        self.run_ok(&["host", "import", file.to_str().expect("utf-8 path")]);
        self.run_ok(&["key", "create", "--user", user])
            .trim()
            .to_owned()
    }

    /// Every host's addresses in the database, by name.
    pub fn hosts_in_database(&self) -> HashMap<String, (Vec<IpAddr>, Vec<IpAddr>)> {
        let db = self.storage.pg_database.as_ref().expect("PostgreSQL");
        let out = Command::new("psql")
            .arg(format!("{}/{db}", postgres_base()))
            .args(["-At", "-F", " ", "-c"])
            .arg("SELECT name, coalesce(ipv4, '-'), coalesce(ipv6, '-') FROM hosts")
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parse = |s: &str| -> Vec<IpAddr> { s.parse().into_iter().collect() };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.split(' ');
                Some((f.next()?.to_owned(), (parse(f.next()?), parse(f.next()?))))
            })
            .collect()
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM; the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.process.terminate()
    }
}

/// A running `dyn53 dns`, with a data directory that outlives restarts.
pub struct Node {
    pub id: String,
    pub dns: SocketAddr,
    pub status: SocketAddr,
    data_dir: tempfile::TempDir,
    redis_env: Vec<(String, String)>,
    process: Option<Process>,
}

impl Node {
    pub async fn start(redis: &Redis, id: &str) -> Node {
        let mut node = Node {
            id: id.to_owned(),
            dns: "127.0.0.1:0".parse().expect("address"),
            status: "127.0.0.1:0".parse().expect("address"),
            data_dir: tempfile::tempdir().expect("temp dir"),
            redis_env: redis.env(),
            process: None,
        };
        node.restart().await;
        node
    }

    /// Starts the node (again) with its data directory, on new ports.
    pub async fn restart(&mut self) {
        let mut env = self.redis_env.clone();
        env.extend([
            (
                "DYN53_DATA_DIR".into(),
                self.data_dir.path().display().to_string(),
            ),
            ("DYN53_DNS_ADDR".into(), "127.0.0.1:0".into()),
            ("DYN53_NODE_STATUS_ADDR".into(), "127.0.0.1:0".into()),
            ("DYN53_NODE_ID".into(), self.id.clone()),
            // The checks ask for thousands of names from loopback as fast as answers come
            // (first NXDOMAIN, charged to one bucket per zone): a trusted client, exempt
            // from response rate limiting like a monitoring probe.
            ("DYN53_RRL_EXEMPT".into(), "127.0.0.0/8".into()),
        ]);
        let process = tokio::task::spawn_blocking(move || {
            Process::spawn(&["dns"], env, "dyn53 node listening")
        })
        .await
        .expect("node starts");
        self.dns = process.addresses("dns")[0];
        self.status = process.addresses("status")[0];
        self.process = Some(process);
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    pub fn log(&self) -> String {
        self.process.as_ref().map(Process::log).unwrap_or_default()
    }

    /// SIGTERM; the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.process.as_mut().expect("running").terminate()
    }

    /// A value of the status port's `/metrics`.
    pub async fn metric(&self, name: &str) -> Option<u64> {
        let r = http::get(self.status, "/metrics", None, None).await;
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }
}

/// What `nodes` answer for every host of the database: `None` when all agree with it.
pub async fn differences(web: &Web, nodes: &[&Node]) -> Option<String> {
    let hosts = web.hosts_in_database();
    for node in nodes {
        for (name, (v4, v6)) in &hosts {
            let a = dns::lookup(node.dns, name, RecordType::A).await;
            let aaaa = dns::lookup(node.dns, name, RecordType::AAAA).await;
            if (&a, &aaaa) != (v4, v6) {
                return Some(format!(
                    "{} answers {name} with {a:?} {aaaa:?}; the database has {v4:?} {v6:?}",
                    node.id
                ));
            }
        }
    }
    None
}

/// Waits until every node answers exactly what the database holds.
pub async fn assert_nodes_match_database(web: &Web, nodes: &[&Node]) {
    let mut last = None;
    let matched = eventually(Duration::from_secs(20), async || {
        last = differences(web, nodes).await;
        last.is_none().then_some(())
    })
    .await;
    if matched.is_none() {
        let logs: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}:\n{}", n.id, n.log()))
            .collect();
        panic!(
            "nodes differ from the database: {}\nweb:\n{}\n{}",
            last.unwrap_or_default(),
            web.log(),
            logs.join("\n")
        );
    }
}

/// A client updating hosts one request at a time, as fast as answers come, remembering the
/// last address each host was acknowledged (`good` or `nochg`) with.
pub struct Burst {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<BurstResult>,
}

#[derive(Debug, Default)]
pub struct BurstResult {
    pub acknowledged: HashMap<String, Ipv4Addr>,
    pub good: usize,
    pub unavailable: usize,
}

impl Burst {
    pub fn start(http: SocketAddr, user: &str, key: &str, hosts: usize) -> Burst {
        let stop = Arc::new(AtomicBool::new(false));
        let (user, key, flag) = (user.to_owned(), key.to_owned(), stop.clone());
        let task = tokio::spawn(async move {
            let mut result = BurstResult::default();
            let mut n: u32 = 0;
            while !flag.load(Ordering::Relaxed) {
                n += 1;
                let host = format!("h{}.dyn.test", n as usize % hosts);
                let ip = Ipv4Addr::from(0x0A00_0000 + n);
                let query = format!("hostname={host}&myip={ip}");
                let r = http::update(http, &user, &key, &query).await;
                if r.body.starts_with("good") || r.body.starts_with("nochg") {
                    result.good += 1;
                    result.acknowledged.insert(host, ip);
                } else {
                    assert_eq!(r.body, "911", "unexpected answer {r:?}");
                    result.unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            result
        });
        Burst { stop, task }
    }

    pub async fn finish(self) -> BurstResult {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("burst task")
    }
}

/// Asserts that the database holds every acknowledged address.
pub fn assert_nothing_lost(web: &Web, burst: &BurstResult) {
    let hosts = web.hosts_in_database();
    for (host, ip) in &burst.acknowledged {
        assert_eq!(
            hosts.get(host).map(|(v4, _)| v4.clone()),
            Some(vec![IpAddr::V4(*ip)]),
            "{host} was acknowledged with {ip}"
        );
    }
}
