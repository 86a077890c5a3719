//! Consensus: Malachite (Tendermint) driven through its app-channel interface.

pub mod app;
pub mod codec;
pub mod context;
pub mod gate;
pub mod signing;
