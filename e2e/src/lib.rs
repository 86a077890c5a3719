//! Harness for tests against real parts: the `yuelu` binary as a child process, free loopback
//! ports, and (in their own modules) a real kube-apiserver with etcd and a throwaway PostgreSQL
//! cluster.
//!
//! Everything started here listens on 127.0.0.1 only and is stopped when its guard drops, so a
//! failing test leaves nothing running.

// A test harness fails loudly: a panic here is a failed test with its reason, not a user error.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod binary;
pub mod browser;
pub mod console;
pub mod graphql;
pub mod kube;
pub mod openssl;
pub mod platform;
pub mod port;
pub mod postgres;
pub mod process;

pub use binary::yuelu_bin;
pub use graphql::Gql;
pub use openssl::{openssl, openssl_ok};
pub use platform::Platform;
pub use port::free_port;
pub use postgres::PgCluster;
pub use process::{ChildGuard, ProcessError};

/// Installs rustls's ring crypto provider for this process, as `yuelu`'s `main` does. Call it
/// before building an HTTP client: the controller turns on reqwest's TLS for the whole
/// workspace, and reqwest then insists on an installed provider. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
