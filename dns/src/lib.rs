//! dyn53's authoritative DNS node.
//!
//! - [`store::Store`]: every zone in memory, a compact entry per name, answers built per
//!   query; changed a whole batch at a time.
//! - [`follow()`]: keeps a store in step with a [`feed::Feed`].
//! - [`server::bind`] / [`server::serve`]: UDP and TCP on one port, hickory-server with our
//!   own request handler (authoritative only, EDNS(0), truncation, counters in [`Stats`]).

pub mod feed;
pub mod follow;
mod handler;
mod names;
pub mod server;
mod stats;
pub mod store;
mod udp;

pub use follow::follow;
pub use handler::MAX_UDP_PAYLOAD;
pub use server::{LOG_DIRECTIVES, Listeners, bind, bind_with, serve};
pub use stats::{Stats, StatsSnapshot};
pub use store::{Answer, ApplyReport, Store};
