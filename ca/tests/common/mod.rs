//! Shared helpers for the integration tests: the `openssl` command line as an independent
//! verifier, and CA fixtures.

#![allow(dead_code)]
// each test binary uses a different subset
// Test helpers: failing loudly is their job (clippy only exempts #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;
use yuelu_ca::{CaSpec, CertificateAuthority, CryptoSuite, NamePolicy, SubjectAltName, Validity};

pub const DAY: Duration = Duration::from_secs(86_400);

/// A scratch directory plus `openssl` runs inside it, with output captured and shown on
/// failure.
pub struct Openssl {
    dir: TempDir,
}

pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub describe: String,
}

impl Run {
    /// stdout and stderr together (OpenSSL prints verdicts on either).
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Openssl {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write test file");
        path.display().to_string()
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read test file")
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("the openssl command line must be installed");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let describe = format!(
            "openssl {}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            args.join(" "),
            out.status,
            stdout,
            stderr
        );
        Run {
            success: out.status.success(),
            stdout,
            stderr,
            describe,
        }
    }

    /// Runs and requires exit status 0; returns stdout+stderr.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert!(run.success, "openssl failed:\n{}", run.describe);
        run.text()
    }

    /// Runs, requires exit status 0 AND `expected` in the output (several OpenSSL commands
    /// exit 0 when verification fails).
    pub fn ok_saying(&self, args: &[&str], expected: &str) -> String {
        let run = self.run(args);
        assert!(
            run.success && run.text().contains(expected),
            "expected {expected:?} from openssl:\n{}",
            run.describe
        );
        run.text()
    }

    /// Runs and requires failure whose output mentions `expected`.
    pub fn fails_saying(&self, args: &[&str], expected: &str) -> String {
        let run = self.run(args);
        assert!(
            !run.success && run.text().contains(expected),
            "expected failure mentioning {expected:?}:\n{}",
            run.describe
        );
        run.text()
    }

    /// Verifies the signature of a DER certificate or CRL (`signed`) made with SM2 under the
    /// default distinguishing ID, by the holder of the certificate `signer_cert` (PEM): cut
    /// TBS and signature out with asn1parse, then `dgst -sm3 -verify` (what the notes
    /// describe; `openssl crl -verify` cannot pass the ID).
    pub fn sm2_signature_verifies(&self, signed: &str, signer_cert: &str) -> bool {
        let listing = self.ok(&["asn1parse", "-inform", "DER", "-in", signed]);
        let offsets: Vec<&str> = listing
            .lines()
            .filter(|l| l.contains("d=1"))
            .filter_map(|l| l.split(':').next())
            .map(str::trim)
            .collect();
        assert!(offsets.len() == 3, "not a SIGNED{{}} structure:\n{listing}");
        let stem = Path::new(signed)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
            .to_string();
        let tbs = self.p(&format!("{stem}.tbs"));
        let sig = self.p(&format!("{stem}.sig"));
        let public = self.p(&format!("{stem}.signer.pub.pem"));
        self.ok(&[
            "asn1parse",
            "-inform",
            "DER",
            "-in",
            signed,
            "-strparse",
            offsets[0],
            "-noout",
            "-out",
            &tbs,
        ]);
        self.ok(&[
            "asn1parse",
            "-inform",
            "DER",
            "-in",
            signed,
            "-strparse",
            offsets[2],
            "-noout",
            "-out",
            &sig,
        ]);
        self.ok(&[
            "x509",
            "-in",
            signer_cert,
            "-pubkey",
            "-noout",
            "-out",
            &public,
        ]);
        let run = self.run(&[
            "dgst",
            "-sm3",
            "-verify",
            &public,
            "-sigopt",
            "distid:1234567812345678",
            "-signature",
            &sig,
            &tbs,
        ]);
        run.success && run.text().contains("Verified OK")
    }
}

/// A root CA valid for ten years.
pub fn root(suite: CryptoSuite, organisation: &str, path_len: Option<u8>) -> CertificateAuthority {
    let spec = CaSpec {
        common_name: format!("{organisation} Root CA"),
        validity: Validity::from_now(3650 * DAY).unwrap(),
        path_len,
    };
    CertificateAuthority::create_root(suite, organisation, &spec).unwrap()
}

/// An intermediate CA under `root`, valid for five years.
pub fn intermediate(root: &CertificateAuthority) -> CertificateAuthority {
    let spec = CaSpec {
        common_name: format!("{} Issuing CA", root.organisation()),
        validity: Validity::from_now(1825 * DAY).unwrap(),
        path_len: Some(0),
    };
    root.create_intermediate(&spec).unwrap()
}

/// The tenant policy used throughout: its domain plus loopback.
pub fn policy() -> NamePolicy {
    NamePolicy::from_domains(["org1.example.com"])
        .unwrap()
        .with_ip_networks(["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()])
}

pub fn names(list: &[&str]) -> Vec<SubjectAltName> {
    list.iter()
        .map(|n| SubjectAltName::parse(n).unwrap())
        .collect()
}

pub fn leaf_validity() -> Validity {
    Validity::from_now(90 * DAY).unwrap()
}
