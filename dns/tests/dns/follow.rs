//! `follow()` against an in-test `Feed` (a test double of our own trait), with a server
//! answering from the followed store.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dyn53_dns::feed::{Batch, Feed, FeedError, Revision, Snapshot};
use dyn53_dns::{Store, follow};
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{RData, RecordType};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::support::*;

#[derive(Default)]
struct State {
    snapshot: Snapshot,
    /// The log; `next` returns what is above `after` (or everything, when replaying).
    batches: Vec<Batch>,
    replay_everything: bool,
    fail_snapshots: usize,
    fail_nexts: usize,
    snapshot_calls: usize,
    next_calls: usize,
}

#[derive(Clone, Default)]
struct TestFeed(Arc<Mutex<State>>);

impl TestFeed {
    fn with(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.0.lock().unwrap());
    }

    fn get<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.0.lock().unwrap())
    }
}

impl Feed for TestFeed {
    async fn snapshot(&self) -> Result<Snapshot, FeedError> {
        let mut state = self.0.lock().unwrap();
        state.snapshot_calls += 1;
        if state.fail_snapshots > 0 {
            state.fail_snapshots -= 1;
            return Err(FeedError::Unavailable("snapshot store down".into()));
        }
        Ok(state.snapshot.clone())
    }

    async fn next(&self, after: Revision) -> Result<Vec<Batch>, FeedError> {
        let batches = {
            let mut state = self.0.lock().unwrap();
            state.next_calls += 1;
            if state.fail_nexts > 0 {
                state.fail_nexts -= 1;
                return Err(FeedError::Unavailable("stream down".into()));
            }
            state
                .batches
                .iter()
                .filter(|b| state.replay_everything || b.revision > after)
                .cloned()
                .collect::<Vec<_>>()
        };
        if batches.is_empty() || self.get(|s| s.replay_everything) {
            // A real feed waits for news; don't spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(batches)
    }
}

struct Follower {
    store: Arc<Store>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Follower {
    fn start(feed: TestFeed) -> Self {
        let store = Arc::new(Store::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(follow(store.clone(), feed, async move {
            let _ = stopped.await;
        }));
        Self {
            store,
            stop: Some(stop),
            task,
        }
    }

    async fn wait_for(&self, revision: Revision) {
        timeout(WAIT, self.store.wait_for(revision))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "revision {revision} not reached (at {})",
                    self.store.revision()
                )
            });
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        timeout(WAIT, self.task)
            .await
            .expect("follow stops on shutdown")
            .unwrap();
    }
}

fn host_batch(revision: u64, name: &str, last: u8) -> Batch {
    batch(
        revision,
        vec![upsert(ZONE, a_host(name, Ipv4Addr::new(10, 0, 0, last)))],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_the_snapshot_then_applies_batches_in_order_and_serves_them() {
    let feed = TestFeed::default();
    feed.with(|s| {
        s.snapshot = fixture(10);
        s.batches = vec![
            host_batch(11, "f.dyn.example", 11),
            host_batch(12, "f.dyn.example", 12),
        ];
    });
    let follower = Follower::start(feed.clone());
    timeout(WAIT, follower.store.ready()).await.expect("ready");
    follower.wait_for(12).await;

    let server = TestServer::start_with(follower.store.clone()).await;
    let msg = server.udp("f.dyn.example.", RecordType::A).await;
    assert!(matches!(&msg.answers[0].data, RData::A(a) if a.0 == Ipv4Addr::new(10, 0, 0, 12)));

    // A batch published later shows up in answers.
    feed.with(|s| s.batches.push(host_batch(13, "g.dyn.example", 13)));
    follower.wait_for(13).await;
    let msg = server.udp("g.dyn.example.", RecordType::A).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert_eq!(feed.get(|s| s.snapshot_calls), 1);
    follower.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_in_the_feed_reloads_the_snapshot() {
    let feed = TestFeed::default();
    feed.with(|s| s.snapshot = fixture(10));
    let follower = Follower::start(feed.clone());
    follower.wait_for(10).await;

    // The log was trimmed: it starts at 14, the node is at 10.
    let mut newer = fixture(15);
    newer.zones[0].hosts.push(a_host(
        "from-snapshot.dyn.example",
        Ipv4Addr::new(10, 1, 1, 1),
    ));
    feed.with(|s| {
        s.snapshot = newer;
        s.batches = vec![
            host_batch(14, "from-batch14.dyn.example", 14),
            host_batch(15, "from-batch15.dyn.example", 15),
            host_batch(16, "from-batch16.dyn.example", 16),
        ];
    });
    follower.wait_for(16).await;
    assert_eq!(feed.get(|s| s.snapshot_calls), 2);
    let server = TestServer::start_with(follower.store.clone()).await;
    let ok = |msg: &hickory_server::proto::op::Message| msg.metadata.response_code;
    assert_eq!(
        ok(&server
            .udp("from-snapshot.dyn.example.", RecordType::A)
            .await),
        ResponseCode::NoError
    );
    assert_eq!(
        ok(&server.udp("from-batch16.dyn.example.", RecordType::A).await),
        ResponseCode::NoError
    );
    // 14 and 15 came with the snapshot (whose data does not have them): never applied.
    assert_eq!(
        ok(&server.udp("from-batch14.dyn.example.", RecordType::A).await),
        ResponseCode::NXDomain
    );
    assert_eq!(follower.store.serial(ZONE), Some(16));
    follower.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_older_than_the_log_is_retried_with_backoff() {
    let feed = TestFeed::default();
    feed.with(|s| {
        s.snapshot = fixture(10);
        s.batches = vec![host_batch(14, "late.dyn.example", 14)];
    });
    let follower = Follower::start(feed.clone());
    follower.wait_for(10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loads = feed.get(|s| s.snapshot_calls);
    assert!((2..10).contains(&loads), "{loads} snapshot loads in 500 ms");
    // Meanwhile the node serves the snapshot.
    let server = TestServer::start_with(follower.store.clone()).await;
    let www = server.udp("www.dyn.example.", RecordType::A).await;
    assert_eq!(www.metadata.response_code, ResponseCode::NoError);
    // Once the snapshot catches up, the node follows again.
    feed.with(|s| {
        s.snapshot = fixture(14);
        s.batches.push(host_batch(15, "late.dyn.example", 15));
    });
    follower.wait_for(15).await;
    follower.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_batches_are_skipped() {
    let feed = TestFeed::default();
    feed.with(|s| {
        s.snapshot = fixture(10);
        s.batches = vec![
            host_batch(9, "old.dyn.example", 9),
            host_batch(10, "old.dyn.example", 10),
            host_batch(11, "d.dyn.example", 11),
            host_batch(12, "d.dyn.example", 12),
        ];
        s.replay_everything = true;
    });
    let follower = Follower::start(feed.clone());
    follower.wait_for(12).await;
    // Let the feed deliver the whole log again several times.
    let calls = feed.get(|s| s.next_calls);
    timeout(WAIT, async {
        while feed.get(|s| s.next_calls) < calls + 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    // Applying a batch again would have moved the serial past the revision.
    assert_eq!(follower.store.revision(), 12);
    assert_eq!(follower.store.serial(ZONE), Some(12));
    // Batches at or below the snapshot's revision were never applied.
    let server = TestServer::start_with(follower.store.clone()).await;
    let old = server.udp("old.dyn.example.", RecordType::A).await;
    assert_eq!(old.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(feed.get(|s| s.snapshot_calls), 1);
    follower.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_errors_are_retried_and_the_data_kept_meanwhile() {
    let feed = TestFeed::default();
    feed.with(|s| {
        s.snapshot = fixture(10);
        s.fail_snapshots = 2;
    });
    let follower = Follower::start(feed.clone());
    assert!(!follower.store.is_loaded());
    follower.wait_for(10).await;
    assert_eq!(feed.get(|s| s.snapshot_calls), 3);

    let server = TestServer::start_with(follower.store.clone()).await;
    // The stream fails for a while: the node keeps answering from what it has.
    feed.with(|s| {
        s.fail_nexts = 3;
        s.batches = vec![host_batch(11, "later.dyn.example", 11)];
    });
    let www = server.udp("www.dyn.example.", RecordType::A).await;
    assert_eq!(www.metadata.response_code, ResponseCode::NoError);
    follower.wait_for(11).await;
    let later = server.udp("later.dyn.example.", RecordType::A).await;
    assert_eq!(later.metadata.response_code, ResponseCode::NoError);
    assert_eq!(feed.get(|s| s.fail_nexts), 0);
    follower.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_a_retrying_follower() {
    let feed = TestFeed::default();
    feed.with(|s| s.fail_snapshots = usize::MAX);
    let follower = Follower::start(feed.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!follower.store.is_loaded());
    let calls = feed.get(|s| s.snapshot_calls);
    assert!(calls >= 2, "retried ({calls} calls)");
    // Capped backoff: far fewer calls than a busy loop would make.
    assert!(calls < 20, "backoff ({calls} calls)");
    follower.stop().await;
}
