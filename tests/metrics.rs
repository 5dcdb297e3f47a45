//! Metrics on every process. After a short burst (a dyndns2 update that changes, one that
//! does not, a wrong password, an API update, a password reset's mail, DNS queries, and for
//! `dyn53 serve` a UDP flood over its rate limit), each metrics port is scraped and read
//! with a Prometheus text parser: every metric that ARCHITECTURE.md lists is there, with
//! its labels and plausible values. `dyn53 serve` (both backends) shows its control plane
//! and its DNS node on one port; in a fleet, `dyn53 web` (PostgreSQL) and a `dyn53 dns`
//! node (through Redis) each show their own.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use hickory_server::proto::rr::RecordType;
use prometheus_parse::{HistogramCount, Sample, Scrape, Value};
use serde_json::json;
use support::fleet::{Node, Redis, Web};
use support::web::{Visitor, csrf};
use support::{Backend, Server, Storage, add_user, cli_ok, dns, eventually, http};

const USER: &str = "metrics@example.com";
const PASS: &str = "a password for metrics";
const HOST: &str = "metrics.dyn.test";
const METRICS_PORT: (&str, &str) = ("DYN53_METRICS_ADDR", "127.0.0.1:0");

/// One scrape, parsed.
struct Metrics(Vec<Sample>);

impl Metrics {
    async fn scrape(addr: SocketAddr) -> Metrics {
        let r = http::get(addr, "/metrics", None, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
            "{:?}",
            r.header("content-type")
        );
        let lines = r.body.lines().map(|l| Ok(l.to_owned()));
        Metrics(Scrape::parse(lines).expect("Prometheus text").samples)
    }

    fn sample(&self, name: &str, labels: &[(&str, &str)]) -> &Sample {
        self.0
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .unwrap_or_else(|| panic!("no {name}{labels:?} in {:#?}", self.names()))
    }

    /// A counter's or a gauge's value.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match &self.sample(name, labels).value {
            Value::Counter(v) | Value::Gauge(v) => *v,
            other => panic!("{name} is not a counter or gauge: {other:?}"),
        }
    }

    /// A histogram's observations: the count of its `+Inf` bucket, after checking that it has
    /// buckets in increasing order.
    fn observations(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let Value::Histogram(buckets) = &self.sample(name, labels).value else {
            panic!("{name} is not a histogram");
        };
        assert!(buckets.len() > 2, "{name}: {buckets:?}");
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].less_than < w[1].less_than && w[0].count <= w[1].count),
            "{name}: {buckets:?}"
        );
        let last: &HistogramCount = buckets.last().expect("buckets");
        assert!(last.less_than.is_infinite(), "{name}: {buckets:?}");
        last.count
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.iter().map(|s| s.metric.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// The user and the host the burst updates, made with the CLI.
fn prepare(storage: &Storage) {
    add_user(storage, USER, PASS);
    cli_ok(storage, &["host", "add", HOST, "--owner", USER]);
}

/// Traffic of every kind the control plane counts.
async fn burst(http: SocketAddr) {
    let good = http::update(
        http,
        USER,
        PASS,
        &format!("hostname={HOST}&myip=192.0.2.10"),
    )
    .await;
    assert_eq!(good.body, "good 192.0.2.10");
    let nochg = http::update(
        http,
        USER,
        PASS,
        &format!("hostname={HOST}&myip=192.0.2.10"),
    )
    .await;
    assert_eq!(nochg.body, "nochg 192.0.2.10");
    let badauth = http::update(http, USER, "wrong", &format!("hostname={HOST}")).await;
    assert_eq!(badauth.body, "badauth");

    let credentials = json!({"email": USER, "password": PASS}).to_string();
    let (status, token, _) =
        support::api::call(http, "POST", "/api/v1/auth/token", None, Some(&credentials)).await;
    assert_eq!(status, 200, "{token}");
    let token = token["access_token"].as_str().expect("a token");
    let body = json!({"ipv4": "192.0.2.20"}).to_string();
    let path = format!("/api/v1/hosts/{HOST}/update");
    let (status, answer, _) =
        support::api::call(http, "POST", &path, Some(token), Some(&body)).await;
    assert_eq!(
        (status, &answer["result"]),
        (200, &json!("good")),
        "{answer}"
    );

    let mut visitor = Visitor::at(http);
    let form = visitor.get("/forgot").await;
    let sent = visitor
        .post("/forgot", &[("email", USER), ("csrf", &csrf(&form.body))])
        .await;
    assert!(sent.status < 400, "{}", sent.body);
}

/// Scrapes until the mail the burst sent in the background is counted.
async fn control_plane_after_burst(addr: SocketAddr) -> Metrics {
    let mailed = eventually(Duration::from_secs(10), async || {
        let metrics = Metrics::scrape(addr).await;
        (metrics.value("dyn53_mail_sent_total", &[]) >= 1.0).then_some(metrics)
    })
    .await;
    mailed.expect("the reset mail is counted as sent")
}

/// Every metric of the control plane, with what the burst must have left in them.
fn assert_control_plane(m: &Metrics, pool_max: f64) {
    let updates = |protocol, result| {
        m.value(
            "dyn53_updates_total",
            &[("protocol", protocol), ("result", result)],
        )
    };
    assert!(updates("dyndns2", "good") >= 1.0);
    assert!(updates("dyndns2", "nochg") >= 1.0);
    assert!(updates("dyndns2", "badauth") >= 1.0);
    assert!(updates("api", "good") >= 1.0);
    // Present from the start, at zero.
    assert_eq!(updates("rexx", "911"), 0.0);
    assert!(m.observations("dyn53_update_duration_seconds", &[("protocol", "dyndns2")]) >= 3.0);
    assert!(m.observations("dyn53_update_duration_seconds", &[("protocol", "api")]) >= 1.0);
    assert_eq!(
        m.observations("dyn53_update_duration_seconds", &[("protocol", "minidns")]),
        0.0
    );
    // The two changing updates were committed, each in a batch of one (or together).
    assert!(m.observations("dyn53_update_commit_batch_size", &[]) >= 1.0);

    assert!(m.value("dyn53_outbox_revision", &[]) >= 2.0);
    assert!(m.value("dyn53_outbox_backlog_revisions", &[]) >= 0.0);
    assert_eq!(m.value("dyn53_publisher_leader", &[]), 1.0);

    let in_use = m.value("dyn53_db_connections", &[("state", "in_use")]);
    let idle = m.value("dyn53_db_connections", &[("state", "idle")]);
    assert_eq!(m.value("dyn53_db_connections_max", &[]), pool_max);
    assert!(in_use + idle >= 1.0 && in_use + idle <= pool_max);

    assert_eq!(m.value("dyn53_password_hash_waiting", &[]), 0.0);
    assert!(m.value("dyn53_password_hash_running", &[]) >= 0.0);
    assert_eq!(m.value("dyn53_password_hash_busy_total", &[]), 0.0);

    assert!(m.value("dyn53_mail_sent_total", &[]) >= 1.0);
    assert_eq!(m.value("dyn53_mail_failed_total", &[]), 0.0);
    // Present from the start, at zero: nothing subscribed.
    let notifications = |channel, outcome| {
        m.value(
            "dyn53_notifications_total",
            &[("channel", channel), ("outcome", outcome)],
        )
    };
    assert_eq!(notifications("webhook", "delivered"), 0.0);
    assert_eq!(notifications("email", "failed"), 0.0);
}

/// Every metric a DNS node shows (`dyn53 dns` adds the feed's), after it answered `HOST`
/// over TCP.
fn assert_node(m: &Metrics) {
    assert!(m.value("dyn53_node_revision", &[]) >= 2.0);
    assert_eq!(m.value("dyn53_node_ready", &[]), 1.0);
    assert!(m.value("dyn53_node_zones", &[]) >= 1.0);
    assert!(m.value("dyn53_node_names", &[]) >= 2.0);
    assert!(m.value("dyn53_dns_responses_total", &[("rcode", "noerror")]) >= 1.0);
    for rcode in [
        "nodata", "nxdomain", "refused", "formerr", "notimp", "servfail", "other",
    ] {
        m.value("dyn53_dns_responses_total", &[("rcode", rcode)]);
    }
    m.value("dyn53_dns_truncated_total", &[]);
    assert!(m.value("dyn53_dns_tcp_queries_total", &[]) >= 1.0);
    for action in ["dropped", "slipped", "logged"] {
        m.value("dyn53_dns_rrl_limited_total", &[("action", action)]);
    }
    for server_cookie in ["valid", "new"] {
        m.value(
            "dyn53_dns_cookies_total",
            &[("server_cookie", server_cookie)],
        );
    }
}

/// `/healthz` and `/readyz` on a metrics port, and no metrics on the update port.
async fn assert_ports(metrics: SocketAddr, http: SocketAddr) {
    assert_eq!(
        http::get(metrics, "/healthz", None, None).await.body,
        "ok\n"
    );
    let ready = http::get(metrics, "/readyz", None, None).await;
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));
    assert_eq!(http::get(http, "/metrics", None, None).await.status, 404);
}

/// Waits until `dns` answers `HOST` with the API's address (asking it over TCP, which is
/// never rate limited, so that the answers count).
async fn served(dns: SocketAddr) {
    let expected: Vec<std::net::IpAddr> = vec!["192.0.2.20".parse().expect("address")];
    let answered = eventually(Duration::from_secs(10), async || {
        let answer = dns::tcp(dns, &format!("{HOST}."), RecordType::A).await;
        (dns::addresses(&answer) == expected).then_some(())
    })
    .await;
    assert!(answered.is_some(), "{dns} does not serve {HOST}'s update");
}

/// Sends `count` UDP queries for `HOST` at once, and waits for what comes back.
async fn flood(dns: SocketAddr, count: usize) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let query = dns::query_message(&format!("{HOST}."), RecordType::A)
        .to_vec()
        .expect("encode");
    for _ in 0..count {
        socket.send_to(&query, dns).await.expect("send");
    }
    let mut buf = vec![0u8; 65_535];
    let wait = Duration::from_millis(300);
    while let Ok(Ok(_)) = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {}
}

async fn serve_shows_control_plane_and_node(backend: Backend) {
    let server = Server::start_with(backend, &[METRICS_PORT, ("DYN53_RRL_RATE", "5")]).await;
    let metrics = server.metrics.expect("a metrics port");
    prepare(&server.storage);
    burst(server.http).await;
    served(server.dns).await;
    flood(server.dns, 40).await;

    let m = control_plane_after_burst(metrics).await;
    let pool_max = if backend == Backend::Postgres {
        16.0
    } else {
        4.0
    };
    assert_control_plane(&m, pool_max);
    assert_node(&m);
    // 5 answers a second (and a second's burst): most of the 40 were limited, every second
    // one slipped (sent truncated), the others dropped.
    let limited = |action| m.value("dyn53_dns_rrl_limited_total", &[("action", action)]);
    assert!(limited("slipped") >= 10.0 && limited("dropped") >= 10.0);
    assert!(m.value("dyn53_dns_truncated_total", &[]) >= limited("slipped"));
    // Without Redis, the fleet's figures are not there.
    assert!(!m.names().iter().any(|n| n.starts_with("dyn53_node_feed")));
    assert_ports(metrics, server.http).await;
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn web_and_node_show_their_own() {
    let redis = Redis::shared();
    // Before the control plane has published anything, the node has nothing to serve.
    let node = Node::start(&redis, "metrics").await;
    let unready = http::get(node.status, "/readyz", None, None).await;
    assert_eq!(
        (unready.status, unready.body.as_str()),
        (503, "no data yet\n")
    );
    let mut web = Web::start(&redis, &[METRICS_PORT]).await;
    prepare(&web.storage);
    burst(web.http).await;
    served(node.dns).await;

    let m = control_plane_after_burst(web.metrics.expect("a metrics port")).await;
    assert_control_plane(&m, 16.0);
    assert_eq!(m.value("dyn53_publisher_redis_reachable", &[]), 1.0);
    assert!(!m.names().iter().any(|n| n.starts_with("dyn53_node_")));

    // The node reads the feed's revision from Redis about once a second.
    let n = eventually(Duration::from_secs(5), async || {
        let n = Metrics::scrape(node.status).await;
        let caught_up =
            n.value("dyn53_node_feed_revision", &[]) >= n.value("dyn53_node_revision", &[]);
        caught_up.then_some(n)
    })
    .await
    .expect("the node reads the feed's revision");
    assert_node(&n);
    assert_eq!(n.value("dyn53_node_feed_reachable", &[]), 1.0);
    assert_eq!(n.value("dyn53_node_lag_revisions", &[]), 0.0);
    assert!(!n.names().iter().any(|n| n.starts_with("dyn53_update")));

    assert_ports(web.metrics.expect("a metrics port"), web.http).await;
    assert!(web.terminate().success(), "{}", web.log());
}

/// With no room to wait for password hashing and a mail server that is not there, the
/// refusals (`911`) and the failed mail are counted.
async fn refusals_and_failures_are_counted(backend: Backend) {
    let smtp = format!("smtp://127.0.0.1:{}", support::fleet::free_port());
    let env = [
        METRICS_PORT,
        ("DYN53_HASH_QUEUE", "0"),
        ("DYN53_SMTP_URL", &smtp),
    ];
    let server = Server::start_with(backend, &env).await;
    let metrics = server.metrics.expect("a metrics port");
    prepare(&server.storage);
    let guesses: Vec<_> = (0..24)
        .map(|n| {
            let http = server.http;
            tokio::spawn(async move {
                http::update(
                    http,
                    &format!("u{n}"),
                    "wrong guess!",
                    "hostname=x.dyn.test",
                )
                .await
            })
        })
        .collect();
    for guess in guesses {
        let answer = guess.await.expect("the update task").body;
        assert!(["badauth", "911"].contains(&answer.as_str()), "{answer}");
    }
    let mut visitor = Visitor::at(server.http);
    let form = visitor.get("/forgot").await;
    let fields = [("email", USER), ("csrf", &csrf(&form.body))];
    assert_eq!(visitor.post("/forgot", &fields).await.status, 200);

    let m = eventually(Duration::from_secs(10), async || {
        let m = Metrics::scrape(metrics).await;
        (m.value("dyn53_mail_failed_total", &[]) >= 1.0).then_some(m)
    })
    .await
    .expect("the failed mail is counted");
    assert_eq!(m.value("dyn53_mail_sent_total", &[]), 0.0);
    let busy = m.value("dyn53_password_hash_busy_total", &[]);
    let try_later = m.value(
        "dyn53_updates_total",
        &[("protocol", "dyndns2"), ("result", "911")],
    );
    assert!(
        busy >= 1.0 && try_later >= 1.0,
        "{busy} busy, {try_later} 911"
    );
    assert!(server.terminate().success());
}

on_both_backends!(
    serve_shows_control_plane_and_node,
    refusals_and_failures_are_counted
);
