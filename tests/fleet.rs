//! The fleet end to end: `dyn53 web` on PostgreSQL publishing through Redis to several
//! `dyn53 dns` nodes, with faults. Every test ends with every node answering exactly what
//! the database holds, and every acknowledged update in the database.

mod support;

use std::time::Duration;

use hickory_server::proto::rr::RecordType;
use support::fleet::{
    Burst, Node, PASSWORD, Redis, Web, assert_nodes_match_database, assert_nothing_lost,
};
use support::{dns, eventually, http};

const USER: &str = "alice@example.com";
const HOSTS: usize = 20;

async fn answers(node: &Node, name: &str) -> Vec<std::net::IpAddr> {
    dns::lookup(node.dns, name, RecordType::A).await
}

/// `dyn53 web` with `HOSTS` hosts of `USER` (the update key returned), and two nodes that
/// serve them.
async fn deployment(redis: &Redis) -> (Web, String, [Node; 2]) {
    let web = Web::start(redis, &[]).await;
    let key = web.setup_hosts(USER, HOSTS);
    let nodes = [Node::start(redis, "a").await, Node::start(redis, "b").await];
    assert_nodes_match_database(&web, &nodes.iter().collect::<Vec<_>>()).await;
    (web, key, nodes)
}

/// Lets a burst run for a while.
async fn run_for(duration: Duration) {
    tokio::time::sleep(duration).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_node_answers_every_update() {
    let redis = Redis::shared();
    let web = Web::start(&redis, &[]).await;
    let key = web.setup_hosts(USER, HOSTS);
    let nodes = [
        Node::start(&redis, "node-a").await,
        Node::start(&redis, "node-b").await,
        Node::start(&redis, "node-c").await,
    ];
    let all: Vec<&Node> = nodes.iter().collect();
    assert_nodes_match_database(&web, &all).await;

    for i in 0..HOSTS {
        let r = http::update(
            web.http,
            USER,
            &key,
            &format!("hostname=h{i}.dyn.test&myip=198.51.100.{i}"),
        )
        .await;
        assert_eq!(r.body, format!("good 198.51.100.{i}"));
        // deSEC's practice: the new address on every nameserver, not just one.
        for node in &nodes {
            let expected: Vec<std::net::IpAddr> =
                vec![format!("198.51.100.{i}").parse().expect("address")];
            let served = eventually(Duration::from_secs(3), async || {
                (answers(node, &format!("h{i}.dyn.test")).await == expected).then_some(())
            })
            .await;
            assert!(served.is_some(), "{} did not serve update {i}", node.id);
        }
    }
    assert_nodes_match_database(&web, &all).await;

    // Operations: health, readiness, the node list and the status port.
    assert_eq!(
        http::get(web.http, "/healthz", None, None).await.body,
        "ok\n"
    );
    let ready = http::get(web.http, "/readyz", None, None).await;
    assert_eq!(ready.status, 200);
    assert!(ready.body.contains("publisher yes"), "{}", ready.body);
    assert!(ready.body.contains("redis reachable yes"), "{}", ready.body);
    let listed = eventually(Duration::from_secs(5), async || {
        let out = web.run_ok(&["fleet"]);
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("node-")).collect();
        (lines.len() == 3 && lines.iter().all(|l| l.split('\t').nth(3) == Some("0"))).then_some(out)
    })
    .await;
    assert!(listed.is_some(), "{}", web.run_ok(&["fleet"]));
    let node = &nodes[0];
    assert!(node.metric("dyn53_node_revision").await.unwrap_or(0) > 0);
    assert_eq!(node.metric("dyn53_node_ready").await, Some(1));
    assert!(
        node.metric("dyn53_dns_responses_total{rcode=\"noerror\"}")
            .await
            .unwrap_or(0)
            > 0
    );
    assert_eq!(
        http::get(node.status, "/readyz", None, None).await.status,
        200
    );
    assert_eq!(
        http::get(node.status, "/nothing", None, None).await.status,
        404
    );

    // Both services stop cleanly on SIGTERM.
    let (mut nodes, mut web) = (nodes, web);
    assert!(nodes[0].terminate().success(), "{}", nodes[0].log());
    assert!(web.terminate().success(), "{}", web.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_stopped_during_a_burst() {
    let mut redis = Redis::private();
    let (web, key, mut nodes) = deployment(&redis).await;

    let burst = Burst::start(web.http, USER, &key, HOSTS);
    run_for(Duration::from_millis(500)).await;
    redis.stop();
    run_for(Duration::from_secs(2)).await;
    // Updates are still accepted while Redis is down, and nodes keep serving.
    let during = burst.finish().await;
    assert!(during.good > 0 && during.unavailable == 0, "{during:?}");
    let ready = http::get(web.http, "/readyz", None, None).await;
    assert_eq!(ready.status, 200);
    assert!(ready.body.contains("redis reachable no"), "{}", ready.body);
    assert!(!answers(&nodes[0], "h1.dyn.test").await.is_empty());
    // A node restarted while Redis is down serves its local copy at once.
    nodes[1].kill();
    nodes[1].restart().await;
    assert!(!answers(&nodes[1], "h1.dyn.test").await.is_empty());
    let ready = http::get(nodes[1].status, "/readyz", None, None).await;
    assert_eq!(ready.status, 200);

    // Redis comes back empty (no persistence): the publisher refills it.
    redis.start();
    let burst = Burst::start(web.http, USER, &key, HOSTS);
    run_for(Duration::from_millis(500)).await;
    // Acknowledged before or after: the later answer for a host is the one that stands.
    let mut acknowledged = during;
    acknowledged
        .acknowledged
        .extend(burst.finish().await.acknowledged);
    assert_nodes_match_database(&web, &nodes.iter().collect::<Vec<_>>()).await;
    assert_nothing_lost(&web, &acknowledged);
}

#[tokio::test(flavor = "multi_thread")]
async fn node_killed_and_restarted_during_a_burst() {
    let redis = Redis::shared();
    let (web, key, mut nodes) = deployment(&redis).await;

    let burst = Burst::start(web.http, USER, &key, HOSTS);
    run_for(Duration::from_millis(500)).await;
    nodes[0].kill();
    run_for(Duration::from_millis(500)).await;
    nodes[0].restart().await;
    // It serves its local copy at once, before catching up.
    assert!(!answers(&nodes[0], "h1.dyn.test").await.is_empty());
    run_for(Duration::from_millis(500)).await;
    let result = burst.finish().await;
    assert_nodes_match_database(&web, &nodes.iter().collect::<Vec<_>>()).await;
    assert_nothing_lost(&web, &result);
    assert!(
        !nodes[0].log().contains("snapshot loaded"),
        "a restarted node continues from its local copy: {}",
        nodes[0].log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn node_restarted_after_the_log_was_trimmed_past_it() {
    let redis = Redis::shared();
    // `MAXLEN ~` trims whole stream nodes (100 entries by default): 300 updates leave a log
    // that starts well after the stopped node's revision.
    let web = Web::start(&redis, &[("DYN53_REDIS_LOG_LENGTH", "10")]).await;
    let key = web.setup_hosts(USER, HOSTS);
    let mut node = Node::start(&redis, "late").await;
    assert_nodes_match_database(&web, &[&node]).await;
    node.kill();
    for i in 0..300u32 {
        let ip = std::net::Ipv4Addr::from(0x0B00_0000 + i);
        let r = http::update(
            web.http,
            USER,
            &key,
            &format!("hostname=h{}.dyn.test&myip={ip}", i as usize % HOSTS),
        )
        .await;
        assert!(r.body.starts_with("good"), "{r:?}");
    }
    node.restart().await;
    assert_nodes_match_database(&web, &[&node]).await;
    assert!(
        node.log().contains("reloading the snapshot"),
        "{}",
        node.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_flushed_then_republished() {
    let redis = Redis::private();
    let (web, key, nodes) = deployment(&redis).await;
    let all: Vec<&Node> = nodes.iter().collect();

    redis.cli(&["FLUSHALL"]);
    // Nodes keep what they serve; the operator's lever rewrites the copy at once.
    assert!(!answers(&nodes[0], "h1.dyn.test").await.is_empty());
    let out = web.run(&["republish"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = http::update(
        web.http,
        USER,
        &key,
        "hostname=h1.dyn.test&myip=203.0.113.7",
    )
    .await;
    assert_eq!(r.body, "good 203.0.113.7");
    assert_nodes_match_database(&web, &all).await;

    // Without the lever, the publisher notices the empty Redis by itself.
    redis.cli(&["FLUSHALL"]);
    let refilled = eventually(Duration::from_secs(5), async || {
        (redis.cli(&["EXISTS", "dyn53:meta"]) == "1").then_some(())
    })
    .await;
    assert!(refilled.is_some(), "{}", web.log());
    let r = http::update(
        web.http,
        USER,
        &key,
        "hostname=h2.dyn.test&myip=203.0.113.8",
    )
    .await;
    assert_eq!(r.body, "good 203.0.113.8");
    assert_nodes_match_database(&web, &all).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_unreachable() {
    let redis = Redis::shared();
    let (web, key, nodes) = deployment(&redis).await;
    let all: Vec<&Node> = nodes.iter().collect();
    let r = http::update(
        web.http,
        USER,
        &key,
        "hostname=h3.dyn.test&myip=203.0.113.30",
    )
    .await;
    assert_eq!(r.body, "good 203.0.113.30");
    assert_nodes_match_database(&web, &all).await;
    {
        let _broken = support::break_database(&web.storage);
        let r = http::update(
            web.http,
            USER,
            &key,
            "hostname=h3.dyn.test&myip=203.0.113.31",
        )
        .await;
        assert_eq!((r.status, r.body.as_str()), (503, "911"), "{r:?}");
        assert_eq!(http::get(web.http, "/readyz", None, None).await.status, 503);
        for node in &nodes {
            assert_eq!(
                answers(node, "h3.dyn.test").await,
                vec!["203.0.113.30".parse::<std::net::IpAddr>().expect("address")]
            );
        }
    }
    let recovered = eventually(Duration::from_secs(10), async || {
        let r = http::update(
            web.http,
            USER,
            &key,
            "hostname=h3.dyn.test&myip=203.0.113.32",
        )
        .await;
        (r.status == 200).then_some(r.body)
    })
    .await;
    assert_eq!(
        recovered.as_deref(),
        Some("good 203.0.113.32"),
        "{}",
        web.log()
    );
    assert_nodes_match_database(&web, &all).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_publisher_among_replicas_and_a_standby_takes_over() {
    let redis = Redis::shared();
    let mut first = Web::start(&redis, &[]).await;
    let key = first.setup_hosts(USER, HOSTS);
    let second = first.replica(&redis).await;
    let node = Node::start(&redis, "a").await;
    let publishers = async |webs: &[&Web]| {
        let mut count = 0;
        for web in webs {
            let ready = http::get(web.http, "/readyz", None, None).await;
            count += usize::from(ready.body.contains("publisher yes"));
        }
        count
    };
    let one = eventually(Duration::from_secs(5), async || {
        (publishers(&[&first, &second]).await == 1).then_some(())
    })
    .await;
    assert!(one.is_some(), "exactly one replica publishes");

    // Updates through either replica reach the node.
    for (i, web) in [&first, &second].into_iter().enumerate() {
        let r = http::update(
            web.http,
            USER,
            &key,
            &format!("hostname=h{i}.dyn.test&myip=203.0.113.{i}"),
        )
        .await;
        assert!(r.body.starts_with("good"), "{r:?}");
    }
    assert_nodes_match_database(&first, &[&node]).await;

    // The leader dies: the standby takes over.
    let leader_was_first = publishers(&[&first]).await == 1;
    let survivor = if leader_was_first {
        first.kill();
        &second
    } else {
        drop(second);
        &first
    };
    let took_over = eventually(Duration::from_secs(10), async || {
        (publishers(&[survivor]).await == 1).then_some(())
    })
    .await;
    assert!(took_over.is_some(), "{}", survivor.log());
    let r = http::update(
        survivor.http,
        USER,
        &key,
        "hostname=h5.dyn.test&myip=203.0.113.55",
    )
    .await;
    assert_eq!(r.body, "good 203.0.113.55");
    assert_nodes_match_database(survivor, &[&node]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_import_reaches_the_nodes_as_a_new_copy() {
    let redis = Redis::shared();
    let web = Web::start(&redis, &[]).await;
    web.setup_hosts(USER, 1);
    let node = Node::start(&redis, "a").await;
    assert_nodes_match_database(&web, &[&node]).await;
    // More changes in one batch than the log takes: published as a new copy.
    let lines: String = (0..10_001)
        .map(|i| format!("bulk{i}.dyn.test {USER} 198.18.{}.{}\n", i / 256, i % 256))
        .collect();
    let file = web.storage.data_dir.path().join("bulk.txt");
    std::fs::write(&file, lines).expect("write hosts");
    web.run_ok(&["host", "import", file.to_str().expect("utf-8 path")]);
    assert_nodes_match_database(&web, &[&node]).await;
    assert_eq!(
        node.log().matches("snapshot loaded").count(),
        2,
        "{}",
        node.log()
    );
    let epoch = redis.cli(&["HGET", &format!("{}meta", redis.prefix), "epoch"]);
    let log = format!("{}{epoch}:log", redis.prefix);
    assert_eq!(
        redis.cli(&["XLEN", &log]),
        "0",
        "the new copy's log is empty"
    );
}

/// An ACME DNS-01 challenge set through the API on `web` is answered by every node, by a
/// node that starts afterwards from Redis's copy and after a republish; its removal too.
#[tokio::test(flavor = "multi_thread")]
async fn an_acme_challenge_reaches_every_node() {
    let redis = Redis::private();
    let (web, _, nodes) = deployment(&redis).await;
    let key = web.run_ok(&["key", "create", "--user", USER, "--scope", "api"]);
    let records = "/api/v1/hosts/h3.dyn.test/records";
    let challenge = "_acme-challenge.h3.dyn.test";
    let body = format!(r#"{{"type": "TXT", "name": "{challenge}", "value": "token"}}"#);
    let (status, _, _) =
        support::api::call(web.http, "POST", records, Some(key.trim()), Some(&body)).await;
    assert_eq!(status, 201);
    let serves = async |node: &Node, expected: &[&str]| {
        let got = eventually(Duration::from_secs(3), async || {
            (dns::txt(node.dns, challenge).await == expected).then_some(())
        })
        .await;
        assert!(got.is_some(), "{} serves {expected:?}", node.id);
    };
    for node in &nodes {
        serves(node, &["token"]).await;
    }
    let late = Node::start(&redis, "late").await;
    serves(&late, &["token"]).await;
    let out = web.run(&["republish"]);
    assert!(out.status.success());
    serves(&late, &["token"]).await;

    let remove = format!("{records}?type=TXT&name={challenge}&value=token");
    let (status, _, _) =
        support::api::call(web.http, "DELETE", &remove, Some(key.trim()), None).await;
    assert_eq!(status, 204);
    for node in nodes.iter().chain([&late]) {
        serves(node, &[]).await;
    }
    assert_nodes_match_database(&web, &nodes.iter().chain([&late]).collect::<Vec<_>>()).await;
}

/// The abuse limit and the API rate are counted in Redis: two replicas allow the configured
/// number of updates of a host (and of API calls) in total, a replica started again remembers them, and while Redis is
/// down each replica counts for itself (updates go on) and `/readyz` says so.
#[tokio::test(flavor = "multi_thread")]
async fn replicas_share_the_abuse_limit() {
    let mut redis = Redis::private();
    let limit = [
        ("DYN53_ABUSE_LIMIT", "3/600"),
        ("DYN53_API_RATE_LIMIT", "4/600"),
        ("DYN53_AUTH_FAILURE_LIMIT", "3/600"),
    ];
    let mut a = Web::start(&redis, &limit).await;
    let key = a.setup_hosts(USER, 1);
    let b = a.replica_with(&redis, &limit).await;
    // The REST API's rate too: two calls on each replica, then 429 on either.
    let api_key = a.run_ok(&["key", "create", "--user", USER, "--scope", "api"]);
    let api_key = api_key.trim();
    let mut statuses = Vec::new();
    for web in [&a, &b, &a, &b, &a, &b] {
        let (status, _, r) =
            support::api::call(web.http, "GET", "/api/v1/zones", Some(api_key), None).await;
        statuses.push((status, r.header("retry-after").is_some()));
    }
    let (ok, limited) = ((200, false), (429, true));
    assert_eq!(statuses, [ok, ok, ok, ok, limited, limited]);

    // Failed sign-ins too: ten wrong passwords from one source over both replicas, then the
    // right one is refused on either.
    let sign_in = async |web: &Web, password: &str| {
        let body = serde_json::json!({"email": USER, "password": password}).to_string();
        let path = "/api/v1/auth/token";
        support::api::call(web.http, "POST", path, None, Some(&body))
            .await
            .0
    };
    assert_eq!(sign_in(&b, PASSWORD).await, 200);
    for web in [&a, &b].repeat(5) {
        assert_eq!(sign_in(web, "wrong password").await, 401);
    }
    assert_eq!(sign_in(&a, PASSWORD).await, 429);
    assert_eq!(sign_in(&b, PASSWORD).await, 429);

    let update = async |web: &Web, last: u8| {
        let query = format!("hostname=h0.dyn.test&myip=192.0.2.{last}");
        http::update(web.http, USER, &key, &query).await.body
    };
    let mut answers = Vec::new();
    for (i, web) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        answers.push(update(web, 10 + i as u8).await);
    }
    assert_eq!(
        answers,
        [
            "good 192.0.2.10",
            "good 192.0.2.11",
            "good 192.0.2.12",
            "abuse",
            "abuse"
        ]
    );
    let ready = http::get(b.http, "/readyz", None, None).await;
    assert!(
        ready.body.contains("limits shared in redis"),
        "{}",
        ready.body
    );

    a.terminate();
    let c = b.replica_with(&redis, &limit).await;
    assert_eq!(
        update(&c, 20).await,
        "abuse",
        "a new replica knows the count"
    );
    assert_eq!(sign_in(&c, PASSWORD).await, 429, "and the failed sign-ins");

    // Redis gone: counted per replica, which has counted nothing itself.
    redis.stop();
    assert_eq!(update(&c, 21).await, "good 192.0.2.21");
    let ready = http::get(c.http, "/readyz", None, None).await;
    assert_eq!(ready.status, 200);
    assert!(
        ready
            .body
            .contains("limits per process (redis unreachable)"),
        "{}",
        ready.body
    );
    // Back (empty): shared again once Redis is tried anew.
    redis.start();
    let mut tries = 0u32;
    eventually(Duration::from_secs(20), async || {
        tries += 1;
        update(&c, 30 + (tries % 200) as u8).await;
        let ready = http::get(c.http, "/readyz", None, None).await;
        ready.body.contains("limits shared in redis").then_some(())
    })
    .await
    .expect("limits shared again");

    // Wrong keys from one source fill its count in Redis; then its right key is refused
    // too, whatever its host's budget.
    let wrong_key = support::wrong_key(&key);
    for _ in 0..3 {
        let r = http::update(
            c.http,
            USER,
            &wrong_key,
            "hostname=h0.dyn.test&myip=192.0.2.40",
        )
        .await;
        assert_eq!(r.body, "badauth");
    }
    assert_eq!(update(&c, 41).await, "badauth");
}

/// Updates of one host sent all at once to two replicas: their limit calls share runs of
/// the Redis script, in which one key may come several times, and still exactly the limit
/// is admitted.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_updates_over_replicas_admit_exactly_the_limit() {
    let redis = Redis::private();
    let limit = [("DYN53_ABUSE_LIMIT", "5/600")];
    let a = Web::start(&redis, &limit).await;
    let key = a.setup_hosts(USER, 1);
    let b = a.replica_with(&redis, &limit).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (web, key) = (if i % 2 == 0 { a.http } else { b.http }, key.clone());
            tokio::spawn(async move {
                let query = "hostname=h0.dyn.test&myip=192.0.2.1";
                http::update(web, USER, &key, query).await.body
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    let admitted = answers.iter().filter(|a| *a == "nochg 192.0.2.1").count();
    let abuse = answers.iter().filter(|a| *a == "abuse").count();
    assert_eq!((admitted, abuse), (5, 35), "{answers:?}");
}

/// A database restored from a backup, which has since moved past the fleet's copy with
/// other changes: the publisher taking over finds that the copy's last batch is not the
/// database's batch of that revision, writes a new copy, and the nodes serve the database.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_restored_from_a_backup_gets_a_new_copy() {
    let redis = Redis::private();
    let (mut web, key, nodes) = deployment(&redis).await;
    let nodes: Vec<&Node> = nodes.iter().collect();
    let database = web.storage.pg_database.clone().expect("PostgreSQL");
    let backup = format!("{database}_backup");
    web.terminate();
    support::psql(&format!("CREATE DATABASE {backup} TEMPLATE {database}"));

    // After the backup: updates, published and served.
    let mut web = web.replica(&redis).await;
    for i in 0..3 {
        let query = format!("hostname=h{i}.dyn.test&myip=198.51.100.{i}");
        let answer = http::update(web.http, USER, &key, &query).await.body;
        assert_eq!(answer, format!("good 198.51.100.{i}"));
    }
    assert_nodes_match_database(&web, &nodes).await;
    web.terminate();

    // The restore, then the operator's changes while no publisher runs: the database's
    // revision passes the copy's, with other batches under the same revisions.
    support::psql(&format!("DROP DATABASE {database} WITH (FORCE)"));
    support::psql(&format!("CREATE DATABASE {database} TEMPLATE {backup}"));
    support::psql(&format!("DROP DATABASE {backup}"));
    for i in 0..4 {
        web.run_ok(&["host", "add", &format!("new{i}.dyn.test"), "--owner", USER]);
    }
    let web = web.replica(&redis).await;
    assert_nodes_match_database(&web, &nodes).await;
    assert!(
        web.log().contains("restored from a backup?"),
        "{}",
        web.log()
    );
}
