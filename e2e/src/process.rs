//! Child processes that stop with their guard.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Why a child process could not be started or waited for.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Spawning failed.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The log file could not be created or read.
    #[error("log file {path}: {source}")]
    Log {
        /// Its path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The process exited while something was awaited.
    #[error("{name} exited ({status}) while waiting for {what}; its log:\n{log}")]
    Exited {
        /// What was awaited.
        what: String,
        /// The process's name.
        name: String,
        /// How it exited.
        status: ExitStatus,
        /// Its combined output.
        log: String,
    },
    /// The process did not do what was awaited in time.
    #[error("{what} not within {timeout:?}; log of {name}:\n{log}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        timeout: Duration,
        /// The process's name.
        name: String,
        /// Its combined output so far.
        log: String,
    },
}

/// A running child process whose stdout and stderr go to a log file. Dropping the guard kills
/// the process (SIGKILL) and reaps it.
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl ChildGuard {
    /// Starts `cmd` with output to `log` (created or truncated) and stdin closed.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<ChildGuard, ProcessError> {
        let file = File::create(log).map_err(|source| ProcessError::Log {
            path: log.to_owned(),
            source,
        })?;
        let err = file.try_clone().map_err(|source| ProcessError::Log {
            path: log.to_owned(),
            source,
        })?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|source| ProcessError::Spawn {
                program: format!("{:?}", cmd.get_program()),
                source,
            })?;
        Ok(ChildGuard {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        })
    }

    /// The OS process id, while running.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The combined output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<(), ProcessError> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return Ok(());
            }
            // A process that died will not print it: say so now, not after the timeout.
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(ProcessError::Exited {
                    what: format!("log line {needle:?}"),
                    name: self.name.clone(),
                    status,
                    log: self.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(self.timeout(format!("log line {needle:?}"), timeout))
    }

    /// Waits until the process exits, and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, ProcessError> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(self.timeout("exit".into(), timeout))
    }

    /// Sends a signal (e.g. `"TERM"`, `"INT"`, `"KILL"`) with the `kill` command.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.id() {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// Kills the process now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn timeout(&self, what: String, timeout: Duration) -> ProcessError {
        ProcessError::Timeout {
            what,
            timeout,
            name: self.name.clone(),
            log: self.log(),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_logged_and_exit_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hello; echo oops >&2; exit 3"]);
        let mut g = ChildGuard::spawn("sh", cmd, &dir.path().join("log")).unwrap();
        let status = g.wait_exit(Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(g.log().contains("hello"));
        assert!(g.log().contains("oops"));
    }

    #[test]
    fn waiting_for_a_line_ends_when_the_process_dies() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'error: cannot listen'; exit 1"]);
        let mut g = ChildGuard::spawn("sh", cmd, &dir.path().join("log")).unwrap();
        let start = Instant::now();
        let err = g
            .wait_for_log("serving", Duration::from_secs(60))
            .unwrap_err();
        assert!(matches!(err, ProcessError::Exited { .. }), "{err}");
        assert!(err.to_string().contains("cannot listen"), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited for the timeout"
        );
    }

    #[test]
    fn drop_kills_and_timeouts_carry_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 600"]);
        let mut g = ChildGuard::spawn("sleeper", cmd, &dir.path().join("log")).unwrap();
        g.wait_for_log("started", Duration::from_secs(10)).unwrap();
        let err = g
            .wait_for_log("never", Duration::from_millis(100))
            .unwrap_err();
        assert!(err.to_string().contains("started"), "{err}");
        let pid = g.id().unwrap();
        drop(g);
        // The process is gone (reaped, so no zombie either).
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
