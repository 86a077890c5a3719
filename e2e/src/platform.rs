//! `yuelu up` as a child process on a free loopback port.

use crate::{ChildGuard, ProcessError, free_port, yuelu_bin};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A running `yuelu up`.
#[derive(Debug)]
pub struct Platform {
    /// The process.
    pub child: ChildGuard,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The admin password it printed, if this start created the admin.
    pub admin_password: Option<String>,
}

impl Platform {
    /// Starts `yuelu up` on `data_dir` and waits until it serves. `log` names the log file.
    pub fn start(
        data_dir: &Path,
        log: &Path,
        extra_args: &[&str],
    ) -> Result<Platform, ProcessError> {
        Platform::start_with(data_dir, log, extra_args, &[])
    }

    /// Like [`Platform::start`], with extra environment (e.g. `DATABASE_URL`).
    pub fn start_with(
        data_dir: &Path,
        log: &Path,
        extra_args: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<Platform, ProcessError> {
        let port = free_port();
        let mut cmd = Command::new(yuelu_bin());
        cmd.arg("up")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(extra_args)
            .env("YUELU_LOG", "info")
            .env_remove("DATABASE_URL")
            .envs(envs.iter().copied());
        let child = ChildGuard::spawn("yuelu up", cmd, log)?;
        child.wait_for_log("serving on http://", Duration::from_secs(60))?;
        let admin_password = child.log().lines().find_map(|l| {
            l.trim()
                .strip_prefix("password:")
                .map(|p| p.trim().to_owned())
        });
        Ok(Platform {
            child,
            data_dir: data_dir.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
            admin_password,
        })
    }
}
