//! The platform service: GraphQL API, console routes, accounts; later tenancy, CA, audit and
//! the local runtime.
//!
//! Layout follows sea-orm's GraphQL example: `entity` (tables) → `migration` → `service`
//! (business logic, one module per domain concept) → `graphql` and `http` (thin adapters).

pub mod config;
pub mod database;
pub mod entity;
pub mod error;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod migration;
pub mod service;

pub use config::ServeArgs;
pub use error::ApiError;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory cannot be created or written.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another process serves from the same data directory.
    #[error("data directory {0} is in use by another yuelu process")]
    DataDirInUse(PathBuf),
    /// The database cannot be opened or migrated.
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// Setting up accounts failed.
    #[error("accounts: {0}")]
    Accounts(#[from] ApiError),
    /// The console templates are broken (a build defect).
    #[error("console: {0}")]
    Console(#[from] yuelu_web::WebError),
    /// Metrics could not be registered (a build defect).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("http server: {0}")]
    Http(std::io::Error),
}

/// The GraphQL schema in SDL.
pub fn schema_sdl() -> String {
    graphql::sdl()
}

/// Runs the whole platform on this machine: the API and console, with embedded defaults.
pub async fn up(args: ServeArgs) -> Result<(), ServeError> {
    serve(args).await
}

/// Runs the platform API server until SIGINT or SIGTERM, then stops gracefully.
pub async fn serve(args: ServeArgs) -> Result<(), ServeError> {
    let _lock = lock_data_dir(&args.data_dir)?;
    let db = database::connect(&args.database_url()).await?;
    if let Some(admin) = service::account::ensure_platform_admin(&db).await? {
        // Printed once, to stdout, for the person starting the platform; only the hash is kept.
        println!("Platform admin created. Sign in with these credentials (shown only this once):");
        println!("  user:     {}", admin.username);
        println!("  password: {}", admin.password);
    }
    let metrics = Arc::new(metrics::Metrics::new()?);
    let state = http::AppState {
        schema: graphql::build(db.clone(), metrics.clone()),
        db: db.clone(),
        console: Arc::new(yuelu_web::Console::new()?),
        metrics,
        secure_cookies: args.secure_cookies(),
    };
    let bound =
        http::bind(state, args.listen, args.workers).map_err(|source| ServeError::Bind {
            addr: args.listen,
            source,
        })?;
    tracing::info!(
        "serving on http://{addr}: console /, GraphQL /graphql, /healthz, /readyz, /metrics",
        addr = bound.addr
    );
    let handle = bound.handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping");
        handle.stop(true).await;
    });
    bound.run().await.map_err(ServeError::Http)?;
    db.close().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Creates the data directory and takes an exclusive lock on it for the life of the process.
fn lock_data_dir(dir: &Path) -> Result<File, ServeError> {
    let io = |source| ServeError::DataDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("yuelu.lock"))
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServeError::DataDirInUse(dir.to_owned())),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
