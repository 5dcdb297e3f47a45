//! Fleet propagation: the time from a dyndns2 `good` answer to the new address being served
//! by ALL the given DNS nodes, under a steady update rate.
//!
//! ```text
//! cargo run --release --example propagation -- --http 127.0.0.1:8080 \
//!     --dns 127.0.0.1:5301,127.0.0.1:5302,127.0.0.1:5303 --login bench@example.com \
//!     --secret dyn53_... --zone bench.test --hosts 1000 --rate 1000 --seconds 30
//! ```
//!
//! Open loop: `--workers` keep-alive HTTP connections share the rate, each sending its next
//! update on its own schedule; host `h(n mod hosts)` gets a new IPv4 address each time, so
//! no two updates of one host are in flight together. After each `good`, a checker polls
//! every node over UDP (one query, then every 200 µs) until all serve the new address.
//! Prints p50/p99/max of the all-nodes time, per-node p99, the HTTP request time, and the
//! achieved rate; exits non-zero if any update is not `good` or never shows up.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hickory_server::proto::op::{Message, Query};
use hickory_server::proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};

const POLL: Duration = Duration::from_micros(200);
const GIVE_UP: Duration = Duration::from_secs(10);

struct Args {
    http: SocketAddr,
    dns: Vec<SocketAddr>,
    login: String,
    secret: String,
    zone: String,
    hosts: u32,
    rate: u32,
    seconds: u64,
    workers: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut get = std::collections::HashMap::new();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        get.insert(flag.trim_start_matches("--").to_owned(), value);
    }
    let take = |name: &str| {
        get.get(name)
            .cloned()
            .ok_or(format!("--{name} is required"))
    };
    let number = |name: &str, default: u64| -> Result<u64, String> {
        get.get(name).map_or(Ok(default), |v| {
            v.parse().map_err(|e| format!("--{name}: {e}"))
        })
    };
    Ok(Args {
        http: take("http")?.parse().map_err(|e| format!("--http: {e}"))?,
        dns: take("dns")?
            .split(',')
            .map(|a| a.parse().map_err(|e| format!("--dns: {e}")))
            .collect::<Result<_, _>>()?,
        login: take("login")?,
        secret: take("secret")?,
        zone: take("zone")?,
        hosts: number("hosts", 1000)? as u32,
        rate: number("rate", 1000)? as u32,
        seconds: number("seconds", 30)?,
        workers: number("workers", 16)? as u32,
    })
}

/// One keep-alive HTTP/1.1 connection.
struct Http {
    stream: BufReader<TcpStream>,
    host: String,
    auth: String,
}

impl Http {
    async fn connect(addr: SocketAddr, login: &str, secret: &str) -> std::io::Result<Http> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{secret}"));
        Ok(Http {
            stream: BufReader::new(TcpStream::connect(addr).await?),
            host: addr.to_string(),
            auth: format!("Basic {token}"),
        })
    }

    async fn get(&mut self, path: &str) -> std::io::Result<String> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\
             User-Agent: dyn53-bench/1.0 bench@example.com\r\n\r\n",
            self.host, self.auth
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// Polls `node` until it answers `name` with exactly `ip`; returns when it did.
async fn served(node: SocketAddr, name: &Name, ip: Ipv4Addr) -> Option<Instant> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    socket.connect(node).await.ok()?;
    let mut query = Message::query();
    query.add_query(Query::query(name.clone(), RecordType::A));
    let deadline = Instant::now() + GIVE_UP;
    let mut buf = [0u8; 512];
    let mut id: u16 = 0;
    while Instant::now() < deadline {
        id = id.wrapping_add(1);
        query.metadata.id = id;
        socket.send(&query.to_vec().ok()?).await.ok()?;
        if let Ok(Ok(len)) =
            tokio::time::timeout(Duration::from_millis(100), socket.recv(&mut buf)).await
            && let Ok(answer) = Message::from_vec(&buf[..len])
            && answer.metadata.id == id
            && answer
                .answers
                .iter()
                .any(|r| matches!(&r.data, RData::A(a) if a.0 == ip))
        {
            return Some(Instant::now());
        }
        tokio::time::sleep(POLL).await;
    }
    None
}

#[derive(Default)]
struct Samples {
    all: Vec<Duration>,
    per_node: Vec<Vec<Duration>>,
    http: Vec<Duration>,
    failures: Vec<String>,
}

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => Arc::new(args),
        Err(e) => {
            eprintln!("propagation: {e}");
            std::process::exit(2);
        }
    };
    let samples = Arc::new(Mutex::new(Samples {
        per_node: vec![Vec::new(); args.dns.len()],
        ..Samples::default()
    }));
    let started = Instant::now();
    let end = started + Duration::from_secs(args.seconds);
    let interval = Duration::from_secs_f64(f64::from(args.workers) / f64::from(args.rate));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..args.workers {
        let (args, samples) = (args.clone(), samples.clone());
        workers.spawn(async move {
            let mut http = Http::connect(args.http, &args.login, &args.secret)
                .await
                .expect("HTTP connection");
            let mut checkers = tokio::task::JoinSet::new();
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + interval * worker / args.workers,
                interval,
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = worker;
            while Instant::now() < end {
                tick.tick().await;
                let host = format!("h{}.{}", n % args.hosts, args.zone);
                let ip = Ipv4Addr::from(0x0A00_0000 + n);
                n += args.workers;
                let sent = Instant::now();
                let body = match http
                    .get(&format!("/nic/update?hostname={host}&myip={ip}"))
                    .await
                {
                    Ok(body) => body,
                    Err(e) => {
                        samples
                            .lock()
                            .expect("lock")
                            .failures
                            .push(format!("{host}: {e}"));
                        http = Http::connect(args.http, &args.login, &args.secret)
                            .await
                            .expect("HTTP reconnection");
                        continue;
                    }
                };
                let good = Instant::now();
                if body != format!("good {ip}") {
                    samples
                        .lock()
                        .expect("lock")
                        .failures
                        .push(format!("{host}: {body}"));
                    continue;
                }
                samples.lock().expect("lock").http.push(good - sent);
                let (args, samples) = (args.clone(), samples.clone());
                checkers.spawn(async move {
                    let name = Name::from_ascii(&host).expect("host name");
                    let mut latest = good;
                    for (i, node) in args.dns.iter().enumerate() {
                        let Some(at) = served(*node, &name, ip).await else {
                            samples
                                .lock()
                                .expect("lock")
                                .failures
                                .push(format!("{host} {ip} never served by {node}"));
                            return;
                        };
                        samples.lock().expect("lock").per_node[i].push(at - good);
                        latest = latest.max(at);
                    }
                    samples.lock().expect("lock").all.push(latest - good);
                });
            }
            while checkers.join_next().await.is_some() {}
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let mut s = samples.lock().expect("lock");
    let updates = s.http.len();
    println!(
        "updates: {updates} good in {:.1} s = {:.0}/s (asked {}/s), {} nodes",
        elapsed.as_secs_f64(),
        updates as f64 / elapsed.as_secs_f64(),
        args.rate,
        args.dns.len()
    );
    let line = |label: &str, v: &mut Vec<Duration>| {
        let max = v.iter().max().copied().unwrap_or_default();
        println!(
            "{label}: p50 {} ms  p99 {} ms  max {} ms",
            ms(percentile(v, 50.0)),
            ms(percentile(v, 99.0)),
            ms(max)
        );
    };
    line("served by ALL nodes after good", &mut s.all);
    for (i, node) in args.dns.clone().iter().enumerate() {
        line(&format!("  served by {node}"), &mut s.per_node[i]);
    }
    line("HTTP request to good", &mut s.http);
    if updates == 0 {
        eprintln!("no update was answered `good`");
        std::process::exit(1);
    }
    if !s.failures.is_empty() {
        eprintln!(
            "{} failures, first: {:?}",
            s.failures.len(),
            &s.failures[..s.failures.len().min(5)]
        );
        std::process::exit(1);
    }
}
