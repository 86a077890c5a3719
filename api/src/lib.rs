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
use yuelu_engine::EngineRegistry;

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
    /// The master key is missing, unreadable or malformed.
    #[error("master key: {0}")]
    MasterKey(String),
}

/// The GraphQL schema in SDL.
pub fn schema_sdl() -> String {
    graphql::sdl()
}

/// Runs the whole platform on this machine: the API and console, with embedded defaults (a
/// master key generated into the data dir when none is given).
pub async fn up(args: ServeArgs, engines: EngineRegistry) -> Result<(), ServeError> {
    run(args, engines, true).await
}

/// Runs the platform API server until SIGINT or SIGTERM, then stops gracefully. `engines` are
/// the chain engines this build offers. A master key must be given.
pub async fn serve(args: ServeArgs, engines: EngineRegistry) -> Result<(), ServeError> {
    run(args, engines, false).await
}

async fn run(args: ServeArgs, engines: EngineRegistry, embedded: bool) -> Result<(), ServeError> {
    let _lock = lock_data_dir(&args.data_dir)?;
    let master = master_key(&args, embedded)?;
    let db = database::Database::connect(&args.database_url()).await?;
    if let Some(admin) = service::account::ensure_platform_admin(&db).await? {
        // Printed once, to stdout, for the person starting the platform; only the hash is kept.
        println!("Platform admin created. Sign in with these credentials (shown only this once):");
        println!("  user:     {}", admin.username);
        println!("  password: {}", admin.password);
    }
    let metrics = Arc::new(metrics::Metrics::new()?);
    let authorities = service::ca::Authorities::start(&db, master, metrics.clone()).await?;
    tokio::spawn(upkeep(db.clone(), authorities.clone()));
    let state = http::AppState {
        schema: graphql::build(
            db.clone(),
            Arc::new(engines),
            authorities.clone(),
            metrics.clone(),
        ),
        authorities,
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

/// Periodic work: CRLs re-signed before they go stale, the expiring-certificates gauge.
async fn upkeep(db: database::Database, authorities: Arc<service::ca::Authorities>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        tick.tick().await;
        if let Err(e) = service::ca::refresh_crls(&db, &authorities).await {
            tracing::warn!(error = %e, "refreshing CRLs");
        }
        if let Err(e) = authorities.count_expiring(&db).await {
            tracing::warn!(error = %e, "counting expiring certificates");
        }
    }
}

/// The master key: from the environment, a file, or (embedded mode only) generated once into
/// the data dir with a warning.
fn master_key(args: &ServeArgs, embedded: bool) -> Result<yuelu_ca::MasterKey, ServeError> {
    let bad = |e: yuelu_ca::CaError| ServeError::MasterKey(e.to_string());
    if let Some(v) = &args.master_key {
        return yuelu_ca::MasterKey::from_env_value(v).map_err(bad);
    }
    if let Some(path) = &args.master_key_file {
        return yuelu_ca::MasterKey::from_file(path).map_err(bad);
    }
    if !embedded {
        return Err(ServeError::MasterKey(
            "none given: set --master-key-file (YUELU_MASTER_KEY_FILE) or YUELU_MASTER_KEY".into(),
        ));
    }
    let path = args.data_dir.join("master.key");
    if path.exists() {
        return yuelu_ca::MasterKey::from_file(&path).map_err(bad);
    }
    let key = yuelu_ca::MasterKey::generate().map_err(bad)?;
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = File::options();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(&path).map_err(|source| ServeError::DataDir {
        path: path.clone(),
        source,
    })?;
    f.write_all(format!("{}\n", key.to_base64().as_str()).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|source| ServeError::DataDir {
            path: path.clone(),
            source,
        })?;
    tracing::warn!(
        path = %path.display(),
        "generated a master key for CA private keys in the data dir; production must supply \
         its own with --master-key-file and keep it apart from the database"
    );
    Ok(key)
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
