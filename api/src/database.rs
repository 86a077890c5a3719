//! Connecting to the database, migrating it, and serializing writers where the database needs it.

use crate::migration::Migrator;
use sea_orm::{
    ConnectOptions, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The sqlx URL of a SQLite file, created if missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// The platform's database: a connection pool, plus a writer lock on SQLite.
///
/// SQLite allows one writer at a time, and a transaction that reads before it writes can fail
/// with `SQLITE_BUSY` when another writer commits in between. Only one process ever opens the
/// file (the data-dir lock sees to that), so one in-process lock serializes writers and removes
/// the failure. PostgreSQL runs writers concurrently; the few places that need order (the
/// audit chain, quota checks) lock there explicitly.
#[derive(Clone, Debug)]
pub struct Database {
    conn: DatabaseConnection,
    writer: Option<Arc<Mutex<()>>>,
}

impl Database {
    /// Connects and runs pending migrations.
    ///
    /// SQLite runs in WAL mode with `synchronous=FULL`: an acknowledged write survives a crash
    /// or a power cut, which is what "nothing acknowledged is lost" asks for.
    pub async fn connect(url: &str) -> Result<Database, DbErr> {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30));
        let sqlite = url.starts_with("sqlite:");
        if sqlite {
            opts.max_connections(8).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
            });
        } else {
            opts.max_connections(16);
        }
        let conn = sea_orm::Database::connect(opts).await?;
        Migrator::up(&conn, None).await?;
        Ok(Database {
            conn,
            writer: sqlite.then(|| Arc::new(Mutex::new(()))),
        })
    }

    /// The pool, for reads.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Which database this is.
    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    /// Begins a write transaction (waiting for the writer lock on SQLite).
    pub async fn write(&self) -> Result<WriteTxn, DbErr> {
        let guard = match &self.writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let txn = self.conn.begin().await?;
        Ok(WriteTxn { txn, _guard: guard })
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<(), DbErr> {
        self.conn.close().await
    }
}

/// A write transaction. Dropping it without [`WriteTxn::commit`] rolls back.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    /// Commits.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    /// Rolls back.
    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}
