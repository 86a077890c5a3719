//! Flags of `yuelu up` and `yuelu api`.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where and how the platform service runs.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Directory for the SQLite database, keys and local chain data. Created if missing.
    #[arg(long, env = "YUELU_DATA_DIR", default_value = ".yuelu")]
    pub data_dir: PathBuf,

    /// Address to serve HTTP on (console, GraphQL, health, metrics).
    #[arg(long, env = "YUELU_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Database URL: `postgres://user:pass@host/db` for PostgreSQL. Unset: SQLite in the data dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// The URL users reach the console at. Cookies are marked Secure when it is https.
    /// Unset: http://<listen>.
    #[arg(long, env = "YUELU_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// File holding the 32-byte master key that seals CA private keys (raw or base64).
    /// `yuelu up` generates `<data dir>/master.key` when neither this nor YUELU_MASTER_KEY is
    /// set; production must supply its own, kept apart from the database.
    #[arg(long, env = "YUELU_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,

    /// The master key itself, base64 (prefer --master-key-file: environments leak).
    #[arg(
        long = "master-key",
        env = "YUELU_MASTER_KEY",
        hide_env_values = true,
        hide = true
    )]
    pub master_key: Option<String>,

    /// HTTP worker threads.
    #[arg(long, env = "YUELU_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,
}

impl ServeArgs {
    /// The database URL to use: the flag, or SQLite in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => crate::database::sqlite_url(&self.data_dir.join("yuelu.db")),
        }
    }

    /// Whether session cookies must be marked Secure.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"))
    }
}
