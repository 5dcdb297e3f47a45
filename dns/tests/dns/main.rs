//! Black-box tests of the DNS node: a real server on a loopback port, real UDP and TCP
//! sockets, messages built and parsed with hickory's `Message`.

#![allow(clippy::unwrap_used)]

mod answers;
mod changes;
mod conformance;
mod follow;
mod limits;
mod protocol;
mod robustness;
mod support;
