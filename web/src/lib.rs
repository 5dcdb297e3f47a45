//! dyn53's control plane: domain types, storage, the update service, the access model, the
//! legacy protocols, the account manager, the REST API, the in-process feed that drives the
//! embedded DNS node, and the publisher of the fleet feed.

pub mod access;
pub mod admin;
pub mod api;
pub mod app;
pub mod blocklists;
pub mod client_ip;
pub mod config;
pub mod db;
pub mod domain;
pub mod feed;
pub mod hashing;
pub mod http;
pub mod limits;
pub mod mail;
pub mod miniupdate;
pub mod nodes;
pub mod notify;
pub mod ops;
pub mod pages;
mod private_files;
pub mod publish;
pub mod request_id;
pub mod rfc2136;
pub mod scrape;
pub mod serve;
pub mod shared_limits;
pub mod state;
pub mod subscription_input;
pub mod tls;
mod together;
pub mod tokens;
pub mod ui;
pub mod update;
