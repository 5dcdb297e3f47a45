//! A DNS node serving a synthetic zone, for load tests (see `dns/bench/dnsperf.sh`).
//!
//! `bench_server [ADDR] [HOSTS] [UDP_SOCKETS] [WORKER_THREADS]`, defaults
//! `127.0.0.1:5399 100000 1 2`. Hosts are `h<i>.bench.test` with one A record; every tenth
//! host also has an AAAA. Stops on Ctrl-C or SIGTERM.

use std::net::Ipv4Addr;
use std::sync::Arc;

use dyn53_dns::feed::{HostRecords, Snapshot, ZoneData, ZoneSnapshot};
use dyn53_dns::{Store, bind_with, serve};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5399".into());
    let number = |arg: Option<String>, default: usize| {
        arg.and_then(|a| a.parse().ok()).unwrap_or(default)
    };
    let hosts = number(args.next(), 100_000);
    let udp_sockets = number(args.next(), 1);
    let workers = number(args.next(), 2);

    let store = Arc::new(Store::new());
    store.load(snapshot(hosts));
    let listeners = bind_with(addr.parse().map_err(std::io::Error::other)?, udp_sockets)?;
    eprintln!(
        "serving {hosts} hosts on {} ({udp_sockets} UDP sockets, {workers} workers)",
        listeners.local_addr()
    );
    let stats = listeners.stats();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    runtime.block_on(serve(store, listeners, async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }))?;
    eprintln!("{:?}", stats.snapshot());
    Ok(())
}

fn snapshot(hosts: usize) -> Snapshot {
    let name = "bench.test".to_string();
    Snapshot {
        revision: 1,
        zones: vec![ZoneSnapshot {
            zone: ZoneData {
                ttl: 3600,
                mname: format!("ns1.{name}"),
                rname: format!("hostmaster.{name}"),
                refresh: 7200,
                retry: 900,
                expire: 1_209_600,
                minimum: 60,
                ns: vec![format!("ns1.{name}")],
                name,
            },
            hosts: (0..hosts)
                .map(|i| HostRecords {
                    name: format!("h{i}.bench.test"),
                    ttl: 60,
                    a: vec![Ipv4Addr::from(0x0a00_0000 + i as u32)],
                    aaaa: if i % 10 == 0 {
                        vec![std::net::Ipv6Addr::from(0x2001_0db8_u128 << 96 | i as u128)]
                    } else {
                        vec![]
                    },
                    ..Default::default()
                })
                .collect(),
        }],
    }
}
