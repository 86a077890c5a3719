//! The `openssl` command line: the peer no one here wrote, which checks our certificates.

use std::path::Path;
use std::process::Command;

/// Runs `openssl` with `args` in `dir`: whether it succeeded, and stdout + stderr.
///
/// Some subcommands (`crl -verify`, `req -verify`) exit 0 even when verification fails:
/// callers check the printed text, not only the status.
pub fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Like [`openssl`], failing the test unless it succeeds; returns the output.
pub fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, text) = openssl(dir, args);
    assert!(ok, "openssl {args:?} failed:\n{text}");
    text
}
