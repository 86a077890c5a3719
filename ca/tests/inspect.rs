//! Certificate inspection, as the API's certificate listings use it.
// Helpers outside #[test] functions unwrap too; clippy exempts only the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use yuelu_ca::{
    CertificateInfo, CryptoSuite, CsrSubject, IssueRequest, PrivateKeyPem, Profile, VerifiedCsr,
    build_csr,
};

#[test]
fn issued_certificates_read_back() {
    for suite in [CryptoSuite::EcdsaP256, CryptoSuite::Sm2] {
        let root = root(suite, "Org1", Some(1));
        let ca = intermediate(&root);
        let key = PrivateKeyPem::generate(suite).unwrap();
        let sans = names(&["peer0.org1.example.com", "127.0.0.1"]);
        let csr = build_csr(
            &key,
            &CsrSubject {
                common_name: "peer0".into(),
                organisation: None,
            },
            &sans,
        )
        .unwrap();
        let csr = VerifiedCsr::parse(&csr.der).unwrap();
        let cert = ca
            .issue(
                &IssueRequest::new(&csr, Profile::NodeTls, leaf_validity()),
                &policy(),
            )
            .unwrap();

        for input in [cert.der.clone(), cert.pem().unwrap().into_bytes()] {
            let info = CertificateInfo::parse(&input).unwrap();
            assert_eq!(info.serial, cert.serial);
            assert_eq!(info.subject, "CN=peer0,O=Org1,C=CN");
            assert_eq!(info.issuer, "CN=Org1 Issuing CA,O=Org1,C=CN");
            assert_eq!(info.common_name.as_deref(), Some("peer0"));
            assert_eq!(info.organisation.as_deref(), Some("Org1"));
            assert_eq!(info.not_before, cert.not_before);
            assert_eq!(info.not_after, cert.not_after);
            let mut expected = sans.clone();
            expected.sort();
            assert_eq!(info.names, expected);
            assert_eq!(info.suite, suite);
            assert!(!info.is_ca);
            assert_eq!(info.profile, Some(Profile::NodeTls));
            assert_eq!(info.authority_key_identifier, ca.info().key_identifier);
            assert!(!info.is_expired_at(cert.not_after));
            assert!(info.is_expired_at(cert.not_after + Duration::from_secs(1)));
            assert!(info.expires_within(cert.not_before, 100 * DAY));
            assert!(!info.expires_within(cert.not_before, 30 * DAY));
        }
        let ca_info = ca.info();
        assert!(ca_info.is_ca);
        assert_eq!(ca_info.path_len, Some(0));
        assert_eq!(ca_info.profile, None);
        assert_eq!(ca_info.authority_key_identifier, root.info().key_identifier);
    }
}

#[test]
fn foreign_certificates_are_read_or_refused_clearly() {
    let ossl = Openssl::new();
    let key = ossl.p("ec.key");
    ossl.ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &key,
    ]);
    let cert = ossl.p("ec.pem");
    ossl.ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &key,
        "-subj",
        "/CN=foreign",
        "-days",
        "2",
        "-addext",
        "subjectAltName=DNS:Foreign.Example.com,email:a@b.c",
        "-out",
        &cert,
    ]);
    // Listing a foreign certificate must not fail on a name form this CA never issues.
    let info = CertificateInfo::parse(&ossl.read("ec.pem")).unwrap();
    assert_eq!(info.suite, CryptoSuite::EcdsaP256);
    assert_eq!(info.names, names(&["foreign.example.com"]));
    let serial = ossl.ok(&["x509", "-in", &cert, "-noout", "-serial"]);
    assert_eq!(
        serial
            .trim()
            .trim_start_matches("serial=")
            .to_ascii_lowercase(),
        info.serial.to_hex()
    );

    let rsa = ossl.p("rsa.key");
    ossl.ok(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &rsa,
    ]);
    let rsa_cert = ossl.p("rsa.pem");
    ossl.ok(&[
        "req", "-x509", "-new", "-key", &rsa, "-subj", "/CN=rsa", "-days", "2", "-out", &rsa_cert,
    ]);
    assert_eq!(
        CertificateInfo::parse(&ossl.read("rsa.pem"))
            .unwrap_err()
            .code(),
        "ALGORITHM_UNSUPPORTED"
    );
    assert_eq!(
        CertificateInfo::parse(b"not a certificate")
            .unwrap_err()
            .code(),
        "CERTIFICATE_MALFORMED"
    );
}

#[test]
fn a_start_before_the_ca_is_moved_up_to_it() {
    use std::time::SystemTime;
    use yuelu_ca::Validity;
    for suite in [CryptoSuite::EcdsaP256, CryptoSuite::Sm2] {
        let ca = root(suite, "Org1", None);
        let key = PrivateKeyPem::generate(suite).unwrap();
        let csr = build_csr(
            &key,
            &CsrSubject {
                common_name: "n".into(),
                organisation: None,
            },
            &[],
        )
        .unwrap();
        let csr = VerifiedCsr::parse(&csr.der).unwrap();
        let early = Validity::new(SystemTime::now() - 30 * DAY, SystemTime::now() + DAY).unwrap();
        let cert = ca
            .issue(&IssueRequest::new(&csr, Profile::User, early), &policy())
            .unwrap();
        assert_eq!(cert.not_before, ca.validity().not_before());
        let info = CertificateInfo::parse(&cert.der).unwrap();
        assert_eq!(info.not_before, ca.validity().not_before());
        assert_eq!(info.not_after, early.not_after());
    }
}
