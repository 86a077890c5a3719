//! The built-in chain engine: its [`yuelu_engine::Engine`] plugin ([`YueluEngine`]) and its node
//! (`yuelu node`, in [`node`]).
//!
//! Without the default `node` feature the crate is only the plugin (with the file formats it
//! writes and the transaction format), light enough for crates that plan networks without
//! running them.

pub mod config;
pub mod genesis;
pub mod keys;
pub mod plugin;
pub mod tx;

#[cfg(feature = "node")]
pub mod api;
#[cfg(feature = "node")]
pub mod block;
#[cfg(feature = "node")]
pub mod chain;
#[cfg(feature = "node")]
pub mod consensus;
#[cfg(feature = "node")]
pub mod forward;
#[cfg(feature = "node")]
pub mod journal;
#[cfg(feature = "node")]
pub mod mempool;
#[cfg(feature = "node")]
pub mod merkle;
#[cfg(feature = "node")]
pub mod metrics;
#[cfg(feature = "node")]
pub mod node;
#[cfg(feature = "node")]
pub mod state;
#[cfg(feature = "node")]
pub mod store;
#[cfg(feature = "node")]
pub mod verify;

pub use plugin::YueluEngine;
