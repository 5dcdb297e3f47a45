//! dyn53's authoritative DNS node.
//!
//! - [`store::Store`]: every zone in memory, a compact entry per name, answers built per
//!   query; changed a whole batch at a time.
//! - [`follow()`]: keeps a store in step with a [`feed::Feed`].
//! - [`fleet`]: the feed through Redis (publishing, reading, node reports).
//! - [`run_node()`]: a fleet node (`dyn53 dns`): local copy ([`local_copy`]), Redis feed,
//!   DNS, status port ([`exporter`], with the node's metrics from [`status`]) and reports.
//! - [`server::bind`] / [`server::serve`]: UDP and TCP on one port, hickory-server with our
//!   own request handler (authoritative only, EDNS(0), truncation, counters in [`Stats`]),
//!   with response rate limiting ([`RrlConfig`]) and DNS cookies ([`CookieSecret`]) as
//!   [`DnsOptions`] say.

mod cookies;
pub mod exporter;
pub mod feed;
#[cfg(test)]
mod fixtures;
pub mod fleet;
pub mod follow;
mod handler;
pub mod local_copy;
mod names;
pub mod node;
mod options;
mod rrl;
pub mod server;
mod squash;
mod stats;
pub mod status;
pub mod store;
mod udp;
mod wire;

pub use cookies::CookieSecret;
pub use follow::follow;
pub use handler::MAX_UDP_PAYLOAD;
pub use node::{NodeConfig, run_node};
pub use options::DnsOptions;
pub use rrl::RrlConfig;
pub use server::{LOG_DIRECTIVES, Listeners, bind, bind_with, serve};
pub use stats::{Stats, StatsSnapshot};
pub use store::{Answer, ApplyReport, Store};
pub use udp::UdpResponder;

/// Tells systemd, when it started us as a `Type=notify` unit, that the service is up and
/// listening; does nothing otherwise.
pub fn tell_systemd_ready() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!("telling systemd the service is ready: {e}");
    }
}
