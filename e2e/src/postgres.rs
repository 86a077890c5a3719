//! A throwaway PostgreSQL cluster from the machine's binaries (initdb, pg_ctl), on a free
//! loopback port in a temporary directory. Stopped and deleted when dropped.

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian puts PostgreSQL 15's server binaries; `YUELU_PG_BIN` overrides.
fn bin_dir() -> PathBuf {
    std::env::var_os("YUELU_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

fn is_root() -> bool {
    // `id -u` rather than libc: the harness stays free of unsafe code.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A running PostgreSQL cluster.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PgCluster {
    /// Initialises and starts a cluster. Trust authentication on loopback, fsync off (tests
    /// only), superuser `postgres`.
    pub fn start() -> PgCluster {
        let bin = bin_dir();
        assert!(
            bin.join("initdb").exists(),
            "PostgreSQL binaries not found in {} (run scripts/prepare)",
            bin.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("yuelu-pg-")
            .tempdir()
            .expect("temp dir");
        // initdb refuses to run as root: run the server as the `postgres` system user then.
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let data = dir.path().join("data");
        let port = free_port();
        let pg = |tool: &str| -> Command {
            if as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
                c
            } else {
                Command::new(bin.join(tool))
            }
        };
        run(pg("initdb").arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-N",
            "-E",
            "UTF8",
            "--locale=C",
        ]));
        run(pg("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200",
                dir.path().display()
            ))
            .args(["-w", "start"]));
        PgCluster {
            dir,
            port,
            as_postgres,
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for a database in this cluster (created by [`PgCluster::create_db`]).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a database and returns its URL.
    pub fn create_db(&self, name: &str) -> String {
        let psql = Path::new("/usr/bin/psql");
        run(Command::new(psql)
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-p",
                &self.port.to_string(),
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
            .arg(format!("CREATE DATABASE \"{name}\"")));
        self.url(name)
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(bin_dir().join("pg_ctl"));
            c
        } else {
            Command::new(bin_dir().join("pg_ctl"))
        };
        let _ = c
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_serves_and_goes() {
        let pg = PgCluster::start();
        let url = pg.create_db("probe");
        assert!(url.ends_with("/probe"));
        let out = Command::new("psql")
            .arg(&url)
            .args(["-tAc", "select 40 + 2"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "42",
            "{}",
            pg.log()
        );
        let port = pg.port();
        drop(pg);
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
