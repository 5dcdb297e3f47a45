//! Binding the DNS port (UDP and TCP) and serving it: our own receive loops for UDP,
//! hickory's `Server` for TCP, one request handler for both.
//!
//! Logging: hickory-server logs two INFO lines per query it serves (TCP here). Whoever
//! installs the tracing subscriber must filter them out, e.g. with [`LOG_DIRECTIVES`] added
//! to the `EnvFilter`; nothing in this crate logs per query above DEBUG.

use crate::options::DnsOptions;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::task::JoinSet;
use tracing::{debug, info};

use crate::handler::Handler;
use crate::rrl::RateLimiter;
use crate::stats::Stats;
use crate::store::Store;
use crate::udp::{self, UdpResponder};

/// Directives for a `tracing_subscriber::EnvFilter` that silence hickory's per-query INFO
/// lines (and its chatter about individual bad packets) while keeping its warnings.
pub const LOG_DIRECTIVES: &str = "hickory_server=warn,hickory_net=warn,hickory_proto=warn";

/// A TCP connection that sends nothing for this long is closed.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;
/// Tries at finding a port free for both UDP and TCP when port 0 is asked.
const PORT_ATTEMPTS: usize = 16;
/// Kernel receive buffer asked for each UDP socket, to ride out bursts (best effort: the
/// kernel caps it at `net.core.rmem_max`).
const UDP_RECV_BUFFER: usize = 4 << 20;

/// The bound sockets of a DNS node, ready for [`serve`].
#[derive(Debug)]
pub struct Listeners {
    udp: Vec<UdpSocket>,
    tcp: TcpListener,
    addr: SocketAddr,
    stats: Arc<Stats>,
    options: DnsOptions,
}

impl Listeners {
    /// Serves with `options` instead of the defaults.
    pub fn with_options(self, options: DnsOptions) -> Self {
        Self { options, ..self }
    }

    /// The address bound, with the actual port when port 0 was asked (same for UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters of the server that will run on these sockets.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }
}

/// Binds UDP and TCP on `addr`, with one UDP socket per available core (see [`bind_with`]).
///
/// Each UDP socket gets its own receive loop, so the count is the number of cores that can
/// answer UDP at once; `available_parallelism` honours CPU affinity and cgroup quotas, like
/// tokio's default worker count. Measured with dnsperf on a 100k-name zone on the 2-core
/// development machine: two sockets answered ~50 % more queries for less CPU per query than
/// one; pinned to one core, one socket and one worker did best (~6.4 µs per query, NSD ~5.4).
pub fn bind(addr: SocketAddr) -> io::Result<Listeners> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    bind_with(addr, cores)
}

/// Binds TCP and `udp_sockets` UDP sockets on `addr`. With more than one, the UDP sockets
/// share the port through `SO_REUSEPORT` and the kernel spreads queries across them by
/// source address and port (one receive loop each).
///
/// TCP is bound first and without `SO_REUSEPORT`, so a second node on the same port fails
/// here instead of silently sharing the UDP traffic. With port 0, a port free for both
/// protocols is searched.
pub fn bind_with(addr: SocketAddr, udp_sockets: usize) -> io::Result<Listeners> {
    let udp_sockets = udp_sockets.max(1);
    let attempts = if addr.port() == 0 { PORT_ATTEMPTS } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let tcp = bind_tcp(addr)?;
        let bound = tcp.local_addr()?;
        match bind_udp_group(bound, udp_sockets) {
            Ok(udp) => {
                debug!(%bound, udp_sockets, "DNS sockets bound");
                return Ok(Listeners {
                    udp,
                    tcp,
                    addr: bound,
                    stats: Arc::new(Stats::new()),
                    options: DnsOptions::default(),
                });
            }
            // Port 0: the TCP port we got is taken for UDP; drop it and try another.
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Restart without waiting for TIME_WAIT; Linux still refuses a second listener.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn bind_udp_group(addr: SocketAddr, count: usize) -> io::Result<Vec<UdpSocket>> {
    (0..count)
        .map(|_| {
            let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            if count > 1 {
                socket.set_reuse_port(true)?;
            }
            let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
            socket.set_nonblocking(true)?;
            socket.bind(&addr.into())?;
            Ok(socket.into())
        })
        .collect()
}

/// Serves DNS from `store` on `listeners` until `shutdown` completes (then stops accepting
/// and returns once every task has ended). Errors only when a socket fails.
///
/// UDP is answered by our own receive loop (one per socket, see `crate::udp`), TCP by
/// hickory's `Server`; both use the same handler. Only UDP is rate limited: a TCP client
/// cannot forge its address. See the module documentation about
/// hickory's per-query log lines.
pub async fn serve(
    store: Arc<Store>,
    listeners: Listeners,
    shutdown: impl Future,
) -> io::Result<()> {
    let Listeners {
        udp,
        tcp,
        addr,
        stats,
        options,
    } = listeners;
    let handler = Handler::new(store, stats.clone(), options.cookie_secret);
    let rrl = options.rrl.map(Arc::new);
    let mut server = Server::new(handler.clone());
    server.register_listener(
        tokio::net::TcpListener::from_std(tcp)?,
        TCP_IDLE_TIMEOUT,
        TCP_RESPONSE_BUFFER,
    );
    // hickory's shutdown token stops our UDP loops too.
    let token = server.shutdown_token().clone();
    let mut udp_loops = JoinSet::new();
    for socket in udp {
        let token = token.clone();
        let limiter = rrl
            .as_ref()
            .map(|config| RateLimiter::new(config.clone(), stats.clone()));
        udp_loops.spawn(udp::serve_udp(
            socket,
            UdpResponder::with(handler.clone(), limiter),
            async move { token.cancelled().await },
        ));
    }
    info!(%addr, "DNS server listening (UDP and TCP)");
    let result = tokio::select! {
        result = server.block_until_done() => result.map_err(io::Error::other),
        Some(joined) = udp_loops.join_next() => flatten(joined),
        _ = shutdown => Ok(()),
    };
    let tcp_result = server.shutdown_gracefully().await.map_err(io::Error::other);
    let mut udp_result = Ok(());
    while let Some(joined) = udp_loops.join_next().await {
        udp_result = udp_result.and(flatten(joined));
    }
    info!(%addr, "DNS server stopped");
    result.and(tcp_result).and(udp_result)
}

fn flatten(joined: Result<io::Result<()>, tokio::task::JoinError>) -> io::Result<()> {
    joined.map_err(io::Error::other)?
}
