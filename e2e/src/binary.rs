//! The `yuelu` binary under test.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Path to the `yuelu` binary, built (once per test process) with the same cargo that runs the
/// tests, so tests always exercise the current source. `YUELU_BIN` overrides it.
pub fn yuelu_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("YUELU_BIN") {
            return PathBuf::from(p);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default();
        let out = Command::new(cargo)
            .current_dir(&root)
            .args([
                "build",
                "--quiet",
                "--package",
                "yuelu",
                "--bin",
                "yuelu",
                "--message-format=json-render-diagnostics",
            ])
            .output()
            .unwrap_or_else(|e| panic!("cannot run cargo to build yuelu: {e}"));
        assert!(
            out.status.success(),
            "building yuelu failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "yuelu")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| panic!("cargo built no yuelu executable"))
    })
    .clone()
}
