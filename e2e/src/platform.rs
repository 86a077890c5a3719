//! `yuelu up` as a child process on a free loopback port.

use crate::{ChildGuard, ProcessError, yuelu_bin};
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
        let mut cmd = Command::new(yuelu_bin());
        // Port 0: the server binds a port the kernel picks and logs it, so no other process
        // can take the port between choosing it and binding it.
        cmd.arg("up")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(extra_args)
            .env("YUELU_LOG", "info")
            .env_remove("DATABASE_URL")
            .envs(envs.iter().copied());
        let mut child = ChildGuard::spawn("yuelu up", cmd, log)?;
        child.wait_for_log("serving on http://", Duration::from_secs(60))?;
        let url = child
            .log()
            .lines()
            .find_map(|l| {
                let rest = &l[l.find("serving on http://")? + "serving on http://".len()..];
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c))
                    .collect();
                Some(format!("http://{}", addr.trim_end_matches(':')))
            })
            .unwrap_or_default();
        let admin_password = child.log().lines().find_map(|l| {
            l.trim()
                .strip_prefix("password:")
                .map(|p| p.trim().to_owned())
        });
        Ok(Platform {
            child,
            data_dir: data_dir.to_owned(),
            url,
            admin_password,
        })
    }
}
