//! A real server on 127.0.0.1 port 0, and a UDP/TCP client that speaks wire format.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use dyn53_dns::feed::{Batch, Change, HostRecords, Mx, Snapshot, ZoneData, ZoneSnapshot};
use dyn53_dns::{DnsOptions, Stats, Store, bind, serve};
use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_server::proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

pub const ZONE: &str = "dyn.example";
pub const WAIT: Duration = Duration::from_secs(3);

pub fn zone(name: &str) -> ZoneData {
    ZoneData {
        name: name.into(),
        ttl: 3600,
        mname: format!("ns1.{name}"),
        rname: format!("hostmaster.{name}"),
        refresh: 7200,
        retry: 900,
        expire: 1_209_600,
        minimum: 30,
        ns: vec![format!("ns1.{name}"), format!("ns2.{name}")],
    }
}

pub fn a_host(name: &str, ip: Ipv4Addr) -> HostRecords {
    HostRecords {
        name: name.into(),
        ttl: 60,
        a: vec![ip],
        ..Default::default()
    }
}

pub fn alias(name: &str, target: &str) -> HostRecords {
    HostRecords {
        name: name.into(),
        ttl: 120,
        cname: Some(target.into()),
        ..Default::default()
    }
}

/// Strings of 40 bytes: 60 of them make a TXT RRset of ~2.9 KB.
pub fn big_txt() -> Vec<String> {
    (0..60)
        .map(|i| format!("{i:02}-{}", "t".repeat(37)))
        .collect()
}

/// The data most tests query.
pub fn fixture(revision: u64) -> Snapshot {
    Snapshot {
        revision,
        zones: vec![
            ZoneSnapshot {
                zone: zone(ZONE),
                hosts: vec![
                    HostRecords {
                        name: "www.dyn.example".into(),
                        ttl: 60,
                        a: vec![Ipv4Addr::new(192, 0, 2, 1)],
                        aaaa: vec!["2001:db8::1".parse::<Ipv6Addr>().expect("v6")],
                        mx: vec![Mx {
                            preference: 10,
                            exchange: "mx.dyn.example".into(),
                        }],
                        txt: vec!["hello world".into()],
                        ..Default::default()
                    },
                    a_host("mx.dyn.example", Ipv4Addr::new(192, 0, 2, 25)),
                    a_host("a.b.dyn.example", Ipv4Addr::new(192, 0, 2, 2)),
                    HostRecords {
                        wildcard: true,
                        ..a_host("wild.dyn.example", Ipv4Addr::new(192, 0, 2, 50))
                    },
                    a_host("exists.wild.dyn.example", Ipv4Addr::new(192, 0, 2, 51)),
                    alias("alias.dyn.example", "www.dyn.example"),
                    alias("ext.dyn.example", "www.elsewhere.test"),
                    alias("dangling.dyn.example", "missing.dyn.example"),
                    alias("cross.dyn.example", "host.other.example"),
                    HostRecords {
                        name: "big.dyn.example".into(),
                        ttl: 60,
                        txt: big_txt(),
                        ..Default::default()
                    },
                ],
            },
            ZoneSnapshot {
                zone: zone("other.example"),
                hosts: vec![a_host("host.other.example", Ipv4Addr::new(198, 51, 100, 7))],
            },
        ],
    }
}

pub fn upsert(zone: &str, host: HostRecords) -> Change {
    Change::HostUpsert {
        zone: zone.into(),
        host,
    }
}

pub fn batch(revision: u64, changes: Vec<Change>) -> Batch {
    Batch { revision, changes }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<Store>,
    pub stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(snapshot: Snapshot) -> Self {
        let store = Arc::new(Store::new());
        store.load(snapshot);
        Self::start_with(store).await
    }

    pub async fn start_with(store: Arc<Store>) -> Self {
        Self::start_full(store, DnsOptions::default()).await
    }

    /// With rate limiting or a cookie secret of the test's choosing.
    pub async fn start_options(snapshot: Snapshot, options: DnsOptions) -> Self {
        let store = Arc::new(Store::new());
        store.load(snapshot);
        Self::start_full(store, options).await
    }

    async fn start_full(store: Arc<Store>, options: DnsOptions) -> Self {
        let listeners = bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind")
            .with_options(options);
        let addr = listeners.local_addr();
        let stats = listeners.stats();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(store.clone(), listeners, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            store,
            stats,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has returned.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("running");
        timeout(WAIT, task)
            .await
            .expect("server stops in time")
            .expect("server task")
    }

    pub async fn udp(&self, name: &str, qtype: RecordType) -> Message {
        self.udp_msg(&query(name, qtype)).await
    }

    pub async fn tcp(&self, name: &str, qtype: RecordType) -> Message {
        self.tcp_msg(&query(name, qtype)).await
    }

    pub async fn udp_msg(&self, msg: &Message) -> Message {
        let bytes = self
            .udp_raw(&msg.to_vec().expect("encode"))
            .await
            .expect("a UDP answer");
        let response = Message::from_vec(&bytes).expect("decodable answer");
        assert_eq!(response.metadata.id, msg.metadata.id);
        response
    }

    pub async fn tcp_msg(&self, msg: &Message) -> Message {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        let bytes = tcp_exchange(&mut stream, &msg.to_vec().expect("encode"))
            .await
            .expect("a TCP answer");
        let response = Message::from_vec(&bytes).expect("decodable answer");
        assert_eq!(response.metadata.id, msg.metadata.id);
        response
    }

    /// Sends raw bytes over UDP; `None` when no answer comes within a short while.
    pub async fn udp_raw(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.udp_raw_wait(bytes, WAIT).await
    }

    pub async fn udp_raw_wait(&self, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("client socket");
        socket.send_to(bytes, self.addr).await.expect("send");
        let mut buf = vec![0u8; 65_535];
        let (len, _) = timeout(wait, socket.recv_from(&mut buf)).await.ok()?.ok()?;
        buf.truncate(len);
        Some(buf)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One length-prefixed exchange on a TCP stream.
pub async fn tcp_exchange(stream: &mut TcpStream, bytes: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(bytes.len()).expect("fits");
    stream.write_all(&len.to_be_bytes()).await.ok()?;
    stream.write_all(bytes).await.ok()?;
    let mut len = [0u8; 2];
    timeout(WAIT, stream.read_exact(&mut len))
        .await
        .ok()?
        .ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    timeout(WAIT, stream.read_exact(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(buf)
}

static NEXT_ID: AtomicU16 = AtomicU16::new(1);

pub fn query(name: &str, qtype: RecordType) -> Message {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    msg
}

pub fn with_edns(mut msg: Message, max_payload: u16) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(max_payload);
    msg.set_edns(edns);
    msg
}
