//! Memory and load time of the store, and a server for dnsperf, on generated hosts.
//!
//! `cargo run --release -p dyn53-dns --example store_mem -- mem 1000000 [AAAA %]`
//!   prints resident memory (/proc/self/statm) before and after loading N hosts
//!   (`hN.bench.test`, one A each, and one AAAA for the given share) and the load time.
//! `... -- serve 100000 PORT`: serves the same zone on 127.0.0.1:PORT until killed
//!   (one UDP socket per available core, as `dyn53 serve`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use dyn53_dns::Store;
use dyn53_dns::feed::{HostRecords, Snapshot, ZoneData, ZoneSnapshot};
use hickory_server::proto::rr::{Name, RecordType};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn snapshot(hosts: u32, aaaa_pct: u32) -> Snapshot {
    let zone = "bench.test";
    let hosts = (0..hosts)
        .map(|n| HostRecords {
            name: format!("h{n}.{zone}"),
            ttl: 60,
            a: vec![Ipv4Addr::from(0xc612_0000 + n)],
            aaaa: if n % 100 < aaaa_pct {
                vec![Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(n))]
            } else {
                vec![]
            },
            ..Default::default()
        })
        .collect();
    Snapshot {
        revision: 1,
        zones: vec![ZoneSnapshot {
            zone: ZoneData {
                name: zone.into(),
                ttl: 3600,
                mname: format!("ns1.{zone}"),
                rname: format!("hostmaster.{zone}"),
                refresh: 3600,
                retry: 600,
                expire: 86400,
                minimum: 60,
                ns: vec![format!("ns1.{zone}")],
            },
            hosts,
        }],
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u32| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let hosts = arg(2, 100_000);
    let store = Arc::new(Store::new());
    match args.get(1).map(String::as_str) {
        Some("mem") => {
            let before = rss_bytes();
            let snap = snapshot(hosts, arg(3, 0));
            let with_snapshot = rss_bytes();
            let start = Instant::now();
            store.load(snap);
            let load = start.elapsed();
            let after = rss_bytes();
            let name = Name::from_ascii(format!("h{}.bench.test.", hosts / 2)).expect("name");
            let found = store.lookup(&name, RecordType::A, false).expect("ours");
            assert_eq!(found.answers().len(), 1);
            println!(
                "hosts {hosts}: load {:.2} s; RSS {} MB before, {} MB with the snapshot, \
                 {} MB after load ({:.0} bytes/host)",
                load.as_secs_f64(),
                before >> 20,
                with_snapshot >> 20,
                after >> 20,
                (after - before) as f64 / f64::from(hosts),
            );
            // Exit without freeing: under heaptrack, "leaked" is then the store's live heap.
            std::process::exit(0);
        }
        Some("serve") => {
            let port = arg(3, 5353) as u16;
            store.load(snapshot(hosts, 0));
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let listeners =
                    dyn53_dns::bind(SocketAddr::from(([127, 0, 0, 1], port))).expect("bind");
                eprintln!("serving {hosts} hosts on {}", listeners.local_addr());
                dyn53_dns::serve(store, listeners, std::future::pending::<()>())
                    .await
                    .expect("serve");
            });
        }
        _ => eprintln!("usage: store_mem mem|serve HOSTS [AAAA%|PORT]"),
    }
}
