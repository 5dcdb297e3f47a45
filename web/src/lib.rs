//! dyn53's control plane: domain types, storage, the update service, the legacy protocols,
//! the in-process feed that drives the embedded DNS node, and the publisher of the fleet
//! feed.

pub mod api;
pub mod config;
pub mod db;
pub mod domain;
pub mod feed;
pub mod http;
pub mod mail;
pub mod miniupdate;
pub mod ops;
mod private_files;
pub mod publish;
pub mod serve;
pub mod ui;
pub mod update;
