//! Test harness: starts the real `dyn53` binary on free ports, on SQLite or on a fresh
//! PostgreSQL database, and talks to it over real HTTP and DNS sockets.
#![allow(dead_code)] // each test binary uses a different part of it

pub mod api;
pub mod browser;
pub mod dns;
pub mod fleet;
pub mod hooks;
pub mod http;
pub mod second_factor;
pub mod tenants;
pub mod tls;
pub mod web;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `$name(Backend)` once per database backend: `mod sqlite` and `mod postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() { super::$name($crate::support::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() { super::$name($crate::support::Backend::Postgres).await })*
        }
    };
}

/// The PostgreSQL server tests use: `DYN53_TEST_POSTGRES` or the local default.
pub fn postgres_base() -> String {
    std::env::var("DYN53_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn psql(sql: &str) -> Output {
    let out = Command::new("psql")
        .arg(format!("{}/postgres", postgres_base()))
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Storage for one test: a temporary data directory, plus a fresh PostgreSQL database
/// (dropped afterwards) for the Postgres backend.
pub struct Storage {
    pub data_dir: tempfile::TempDir,
    pub pg_database: Option<String>,
}

impl Storage {
    pub fn new(backend: Backend) -> Storage {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let pg_database = (backend == Backend::Postgres).then(|| {
            let name = format!("dyn53_test_{}_{}", std::process::id(), unique());
            psql(&format!("CREATE DATABASE {name}"));
            name
        });
        Storage {
            data_dir,
            pg_database,
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![(
            "DYN53_DATA_DIR".to_owned(),
            self.data_dir.path().display().to_string(),
        )];
        if let Some(db) = &self.pg_database {
            env.push((
                "DYN53_DATABASE_URL".into(),
                format!("{}/{db}", postgres_base()),
            ));
        }
        env
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.path().join("dyn53.db")
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(db) = &self.pg_database {
            let _ = Command::new("psql")
                .arg(format!("{}/postgres", postgres_base()))
                .args([
                    "-q",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
                ])
                .output();
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (u64::from(nanos) << 16) | NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Makes the database refuse work until the returned guard is dropped.
pub fn break_database(storage: &Storage) -> impl Drop {
    struct Guard(Box<dyn FnMut()>);
    impl Drop for Guard {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    match &storage.pg_database {
        Some(db) => {
            psql(&format!("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS false"));
            psql(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
            ));
            let db = db.clone();
            Guard(Box::new(move || {
                psql(&format!("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS true"));
            }))
        }
        None => {
            // Another process holds SQLite's write lock for longer than a writer waits.
            let script = "import sqlite3,sys,time\nc=sqlite3.connect(sys.argv[1],isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked',flush=True)\ntime.sleep(30)";
            let mut child = std::process::Command::new("python3")
                .args([
                    "-c",
                    script,
                    storage.sqlite_path().to_str().expect("utf-8 path"),
                ])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("python3 runs");
            let mut line = String::new();
            std::io::BufRead::read_line(
                &mut std::io::BufReader::new(child.stdout.take().expect("piped")),
                &mut line,
            )
            .expect("lock taken");
            assert_eq!(line.trim(), "locked");
            Guard(Box::new(move || {
                let _ = child.kill();
                let _ = child.wait();
            }))
        }
    }
}

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_dyn53"))
}

/// `dyn53 serve` on free ports with only its data directory set, as a newcomer runs it.
pub async fn serve_in(data_dir: &Path) -> Process {
    let env = vec![
        ("DYN53_DATA_DIR".to_owned(), data_dir.display().to_string()),
        ("DYN53_HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ("DYN53_DNS_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ("DYN53_MINIUPDATE_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        // README's RFC 2136 section has `serve` started with it.
        ("DYN53_DNS_UPDATE_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
    ];
    tokio::task::spawn_blocking(move || Process::spawn(&["serve"], env, "dyn53 listening"))
        .await
        .expect("server starts")
}

/// A running `dyn53` process whose log is collected.
pub struct Process {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// The log line that said it was ready.
    ready_line: String,
}

impl Process {
    /// Starts `dyn53 ARGS` and waits for a log line containing `ready`.
    pub fn spawn(args: &[&str], env: Vec<(String, String)>, ready: &str) -> Process {
        let mut child = Command::new(binary())
            .args(args)
            .env(
                "RUST_LOG",
                "info,hickory_server=warn,hickory_net=warn,sqlx=warn",
            )
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dyn53 starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        let ready = ready.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(&ready) {
                    let _ = tx.send(line.clone());
                }
                sink.lock().expect("log lock").push(line);
            }
        });
        let ready_line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "dyn53 {args:?} did not start:\n{}",
                    log.lock().expect("log lock").join("\n")
                )
            });
        Process {
            child,
            log,
            ready_line,
        }
    }

    /// The value of `name` in the ready line: `name=value`, or `"name":"value"` when it is
    /// JSON.
    fn ready_value(&self, name: &str) -> &str {
        let line = &self.ready_line;
        let (start, tag) = [format!("{name}="), format!("\"{name}\":\"")]
            .into_iter()
            .find_map(|tag| line.find(&tag).map(|start| (start, tag)))
            .expect("address in the listening line");
        let value = &line[start + tag.len()..];
        let end = value
            .find(|c: char| c.is_whitespace() || c == '"')
            .unwrap_or(value.len());
        &value[..end]
    }

    /// The addresses `name=a,b` in the ready line.
    pub fn addresses(&self, name: &str) -> Vec<SocketAddr> {
        self.ready_value(name)
            .split(',')
            .map(|a| a.parse().expect("socket address"))
            .collect()
    }

    /// The address `name` in the ready line, unless it is `off`.
    pub fn optional_address(&self, name: &str) -> Option<SocketAddr> {
        (self.ready_value(name) != "off").then(|| self.addresses(name)[0])
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "dyn53 did not stop on SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `dyn53 serve`.
pub struct Server {
    pub storage: Storage,
    /// The first HTTP address; `http_all` has every one.
    pub http: SocketAddr,
    pub http_all: Vec<SocketAddr>,
    /// The first HTTPS address, when `DYN53_HTTPS_ADDR` was given.
    pub https: Option<SocketAddr>,
    pub dns: SocketAddr,
    pub miniupdate: SocketAddr,
    /// The metrics port, when `DYN53_METRICS_ADDR` was given.
    pub metrics: Option<SocketAddr>,
    /// The RFC 2136 listener, when `DYN53_DNS_UPDATE_ADDR` was given.
    pub dns_update: Option<SocketAddr>,
    process: Process,
}

impl Server {
    pub async fn start(backend: Backend) -> Server {
        Server::start_with(backend, &[]).await
    }

    /// Starts `dyn53 serve` on free ports with extra environment variables.
    pub async fn start_with(backend: Backend, extra_env: &[(&str, &str)]) -> Server {
        let storage = Storage::new(backend);
        let mut env = storage.env();
        env.extend(
            [
                ("DYN53_HTTP_ADDR", "127.0.0.1:0"),
                ("DYN53_MINIUPDATE_ADDR", "127.0.0.1:0"),
                ("DYN53_DNS_ADDR", "127.0.0.1:0"),
                ("DYN53_ZONES", "dyn.test,other.test"),
                // Tests update hosts far more often than a client may: see `abuse`.
                ("DYN53_ABUSE_LIMIT", "1000000/1"),
                ("DYN53_AUTH_FAILURE_LIMIT", "1000000/1"),
            ]
            .iter()
            .chain(extra_env)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let process =
            tokio::task::spawn_blocking(move || Process::spawn(&["serve"], env, "dyn53 listening"))
                .await
                .expect("server starts");
        let http_all = process.addresses("http");
        let https = process.optional_address("https");
        Server {
            metrics: process.optional_address("metrics"),
            http: http_all[0],
            http_all,
            https,
            dns: process.addresses("dns")[0],
            miniupdate: process.addresses("miniupdate")[0],
            dns_update: process.optional_address("dns_update"),
            storage,
            process,
        }
    }

    /// Runs a `dyn53` operator command against this server's database.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&self.storage, args, None)
    }

    /// Like `cli`, asserting success; returns standard output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        cli_ok(&self.storage, args)
    }

    /// A new update key of `user`'s, made with the CLI: its secret. `options` as `key
    /// create` takes them (`--hosts NAME`, …).
    pub fn new_key(&self, user: &str, options: &[&str]) -> String {
        let args = [&["key", "create", "--user", user], options].concat();
        self.cli_ok(&args).trim().to_owned()
    }

    /// Creates a user with `password`; panics on failure.
    pub fn add_user(&self, email: &str, password: &str) {
        add_user(&self.storage, email, password);
    }

    /// [`Server::add_user`] with more `user add` options (`--plan premium`, `--login ID`,
    /// `--member-of OWNER --role ROLE`).
    pub fn add_user_with(&self, email: &str, password: &str, options: &[&str]) {
        add_user_with(&self.storage, email, password, options);
    }

    /// One value from the server's database, as text; a change (`… RETURNING`) is committed.
    pub fn sql(&self, query: &str) -> String {
        let out = match &self.storage.pg_database {
            Some(db) => std::process::Command::new("psql")
                .arg(format!("{}/{db}", postgres_base()))
                .args(["-qAt", "-c", query])
                .output(),
            None => std::process::Command::new("python3")
                .args([
                    "-c",
                    "import sqlite3,sys; r=sqlite3.connect(sys.argv[1],isolation_level=None).execute(sys.argv[2]).fetchall(); print(r[0][0] if r else '')",
                    self.storage.sqlite_path().to_str().expect("utf-8 path"),
                    query,
                ])
                .output(),
        }
        .expect("the database client runs");
        assert!(
            out.status.success(),
            "{query}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.process.terminate()
    }
}

/// Runs a `dyn53` operator command, asserting success; returns standard output.
pub fn cli_ok(storage: &Storage, args: &[&str]) -> String {
    let out = cli(storage, args, None);
    assert!(
        out.status.success(),
        "dyn53 {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Creates a user with `password`; panics on failure.
pub fn add_user(storage: &Storage, email: &str, password: &str) {
    add_user_with(storage, email, password, &[]);
}

/// `key` with its last character changed: a well-formed key that is not `key`.
pub fn wrong_key(key: &str) -> String {
    let last = if key.ends_with('a') { 'b' } else { 'a' };
    format!("{}{last}", &key[..key.len() - 1])
}

pub fn add_user_with(storage: &Storage, email: &str, password: &str, options: &[&str]) {
    let mut args = vec!["user", "add", email, "--password-stdin"];
    args.extend(options);
    let out = cli(storage, &args, Some(&format!("{password}\n")));
    assert!(
        out.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn cli(storage: &Storage, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(binary())
        .args(args)
        .envs(storage.env())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dyn53 runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("dyn53 finishes")
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T>(
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
