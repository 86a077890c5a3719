//! Headless Chromium (Debian's `chromium`, installed by `scripts/prepare`) for the console's
//! pages: it runs their scripts as a user's browser would.

use crate::{ChildGuard, ProcessError};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Loads `url`, lets its scripts run for `script_ms` of virtual time (requests they make are
/// real), and returns the document as it is then. `scratch` holds the browser's profile and
/// log. The browser exits by itself; it is killed if it has not after a minute.
pub fn dump_dom(url: &str, scratch: &Path, script_ms: u32) -> Result<String, ProcessError> {
    let profile = scratch.join("chromium-profile");
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        // Tests run as root in CI containers, where Chromium's sandbox cannot start.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--virtual-time-budget={script_ms}"))
    .arg("--dump-dom")
    .arg(url);
    let mut browser = ChildGuard::spawn("chromium", cmd, &scratch.join("chromium.log"))?;
    browser.wait_exit(Duration::from_secs(60))?;
    Ok(browser.log())
}
