//! Bad input gets a specific error code, never a certificate and never a panic.
// Helpers outside #[test] functions unwrap too; clippy exempts only the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use yuelu_ca::{
    CaError, CaId, CaSpec, CertificateAuthority, CryptoSuite, CsrSubject, IssueRequest, MasterKey,
    NamePolicy, PrivateKeyPem, Profile, SealedKey, Validity, VerifiedCsr, build_csr,
};

fn code<T: std::fmt::Debug>(result: Result<T, CaError>) -> &'static str {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => {
            // Every error explains itself.
            assert!(!e.to_string().is_empty());
            e.code()
        }
    }
}

fn csr_der(suite: CryptoSuite, cn: &str, sans: &[&str]) -> Vec<u8> {
    let key = PrivateKeyPem::generate(suite).unwrap();
    let subject = CsrSubject {
        common_name: cn.into(),
        organisation: None,
    };
    build_csr(&key, &subject, &names(sans)).unwrap().der
}

const BOTH: [CryptoSuite; 2] = [CryptoSuite::EcdsaP256, CryptoSuite::Sm2];

#[test]
fn malformed_csrs() {
    for input in [
        &b""[..],
        b"hello",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n",
        &[0x30, 0x82, 0xff, 0xff, 0x00],
    ] {
        assert_eq!(
            code(VerifiedCsr::parse(input)),
            "CSR_MALFORMED",
            "{input:?}"
        );
    }
    for suite in BOTH {
        let der = csr_der(suite, "node", &["n.org1.example.com"]);
        // Truncated anywhere: malformed, not a panic.
        for cut in [1, der.len() / 3, der.len() / 2, der.len() - 1] {
            assert_eq!(
                code(VerifiedCsr::parse(&der[..cut])),
                "CSR_MALFORMED",
                "{suite} cut at {cut}"
            );
        }
        // A certificate where a CSR is expected.
        let ca = root(suite, "Org1", None);
        assert_eq!(
            code(VerifiedCsr::parse(ca.certificate_pem().unwrap().as_bytes())),
            "CSR_MALFORMED"
        );
    }
}

#[test]
fn tampered_csr_signatures() {
    for suite in BOTH {
        let der = csr_der(suite, "node-a", &["n.org1.example.com"]);
        VerifiedCsr::parse(&der).unwrap();
        // Change the requested name inside the signed part: "node-a" -> "node-b".
        let at = der.windows(6).position(|w| w == b"node-a").unwrap() + 5;
        let mut renamed = der.clone();
        renamed[at] = b'b';
        assert_eq!(
            code(VerifiedCsr::parse(&renamed)),
            "CSR_SIGNATURE_INVALID",
            "{suite}"
        );
        // Flip a bit in the signature value (last byte of the DER signature's s).
        let mut flipped = der.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        assert_eq!(
            code(VerifiedCsr::parse(&flipped)),
            "CSR_SIGNATURE_INVALID",
            "{suite}"
        );
    }
}

#[test]
fn key_type_must_match_the_ca() {
    let p256_ca = root(CryptoSuite::EcdsaP256, "Org1", None);
    let sm2_ca = root(CryptoSuite::Sm2, "Org1", None);
    for (ca, csr_suite) in [
        (&sm2_ca, CryptoSuite::EcdsaP256),
        (&p256_ca, CryptoSuite::Sm2),
    ] {
        let csr = VerifiedCsr::parse(&csr_der(csr_suite, "node", &["n.org1.example.com"])).unwrap();
        let err = ca
            .issue(
                &IssueRequest::new(&csr, Profile::NodeTls, leaf_validity()),
                &policy(),
            )
            .unwrap_err();
        assert_eq!(err.code(), "KEY_TYPE_MISMATCH");
        assert!(
            matches!(err, CaError::KeyTypeMismatch { expected, found } if expected == ca.suite() && found == csr_suite)
        );
    }
}

#[test]
fn foreign_key_algorithms_are_unsupported() {
    let ossl = Openssl::new();
    let key = ossl.p("rsa.key");
    ossl.ok(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &key,
    ]);
    let csr = ossl.p("rsa.csr");
    ossl.ok(&[
        "req", "-new", "-key", &key, "-subj", "/CN=rsa", "-out", &csr,
    ]);
    assert_eq!(
        code(VerifiedCsr::parse(&ossl.read("rsa.csr"))),
        "ALGORITHM_UNSUPPORTED"
    );
    let pem = PrivateKeyPem::new(String::from_utf8(ossl.read("rsa.key")).unwrap());
    assert_eq!(code(pem.suite()), "ALGORITHM_UNSUPPORTED");

    let key = ossl.p("p384.key");
    ossl.ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-out",
        &key,
    ]);
    let csr = ossl.p("p384.csr");
    ossl.ok(&[
        "req", "-new", "-key", &key, "-subj", "/CN=p384", "-out", &csr,
    ]);
    assert_eq!(
        code(VerifiedCsr::parse(&ossl.read("p384.csr"))),
        "ALGORITHM_UNSUPPORTED"
    );
}

#[test]
fn names_outside_the_tenant_policy() {
    for suite in BOTH {
        let ca = root(suite, "Org1", None);
        let issue = |sans: &[&str], profile: Profile, policy: &NamePolicy| {
            let csr = VerifiedCsr::parse(&csr_der(suite, "node", sans)).unwrap();
            ca.issue(&IssueRequest::new(&csr, profile, leaf_validity()), policy)
        };
        let p = policy();
        for sans in [
            &["peer0.org2.example.com"][..],
            &["example.com"],
            &["org1.example.com.evil.cn"],
            &["peer0.org1.example.com", "www.bank.com"],
            &["*.org1.example.com"],
            &["10.0.0.1"],
        ] {
            assert_eq!(
                code(issue(sans, Profile::NodeTls, &p)),
                "NAME_NOT_ALLOWED",
                "{suite} {sans:?}"
            );
        }
        // Overriding the CSR's names does not get around the policy either.
        let csr = VerifiedCsr::parse(&csr_der(suite, "node", &["peer0.org1.example.com"])).unwrap();
        let req = IssueRequest::new(&csr, Profile::NodeTls, leaf_validity())
            .with_names(names(&["evil.com"]));
        assert_eq!(code(ca.issue(&req, &p)), "NAME_NOT_ALLOWED");
        // A tenant without domains cannot get any DNS name.
        let none = NamePolicy::default();
        assert_eq!(
            code(issue(&["peer0.org1.example.com"], Profile::User, &none)),
            "NAME_NOT_ALLOWED"
        );
        // TLS certificates need names.
        assert_eq!(code(issue(&[], Profile::NodeTls, &p)), "NAMES_REQUIRED");
        // Allowed names pass.
        issue(
            &["peer0.org1.example.com", "127.0.0.1"],
            Profile::NodeTls,
            &p,
        )
        .unwrap();
    }
}

#[test]
fn bad_common_names_and_validity() {
    for suite in BOTH {
        let ca = root(suite, "Org1", None);
        let csr = VerifiedCsr::parse(&csr_der(suite, "node", &[])).unwrap();
        let req = IssueRequest::new(&csr, Profile::User, leaf_validity())
            .with_common_name("x".repeat(65));
        assert_eq!(code(ca.issue(&req, &policy())), "NAME_INVALID");
        let req = IssueRequest::new(&csr, Profile::User, leaf_validity()).with_common_name("a\nb");
        assert_eq!(code(ca.issue(&req, &policy())), "NAME_INVALID");
        let too_long = Validity::from_now(20 * 3650 * DAY).unwrap();
        let req = IssueRequest::new(&csr, Profile::User, too_long);
        assert_eq!(code(ca.issue(&req, &policy())), "VALIDITY_INVALID");
    }
}

#[test]
fn ca_constraints() {
    let ca = root(CryptoSuite::Sm2, "Org1", Some(0));
    let spec = CaSpec {
        common_name: "Sub".into(),
        validity: leaf_validity(),
        path_len: None,
    };
    assert_eq!(
        code(ca.create_intermediate(&spec)),
        "CA_CONSTRAINT_VIOLATED"
    );
    let ca = root(CryptoSuite::EcdsaP256, "Org1", Some(1));
    assert_eq!(
        code(ca.create_intermediate(&spec)),
        "CA_CONSTRAINT_VIOLATED"
    );
    let spec = CaSpec {
        path_len: Some(1),
        ..spec
    };
    assert_eq!(
        code(ca.create_intermediate(&spec)),
        "CA_CONSTRAINT_VIOLATED"
    );
    let spec = CaSpec {
        path_len: Some(0),
        validity: Validity::from_now(40 * 365 * DAY).unwrap(),
        ..spec
    };
    assert_eq!(code(ca.create_intermediate(&spec)), "VALIDITY_INVALID");
}

#[test]
fn sealed_keys_refuse_wrong_master_key_tampering_and_other_cas() {
    for suite in BOTH {
        let ca = root(suite, "Org1", None);
        let cert = ca.certificate_pem().unwrap();
        let master = MasterKey::generate().unwrap();
        let id = CaId::new("ca-1");
        let sealed = ca.seal_key(&master, &id).unwrap();
        CertificateAuthority::load(cert.as_bytes(), &sealed, &master, &id).unwrap();

        let wrong = MasterKey::generate().unwrap();
        assert_eq!(
            code(CertificateAuthority::load(
                cert.as_bytes(),
                &sealed,
                &wrong,
                &id
            )),
            "MASTER_KEY_MISMATCH"
        );

        let mut bytes = sealed.as_bytes().to_vec();
        let mid = bytes.len() / 2 + 10;
        bytes[mid] ^= 0x80;
        let tampered = SealedKey::from_bytes(bytes);
        assert_eq!(
            code(CertificateAuthority::load(
                cert.as_bytes(),
                &tampered,
                &master,
                &id
            )),
            "SEALED_KEY_INVALID"
        );

        let other = CaId::new("ca-2");
        assert_eq!(
            code(CertificateAuthority::load(
                cert.as_bytes(),
                &sealed,
                &master,
                &other
            )),
            "SEALED_KEY_INVALID"
        );

        // Another CA's key under this certificate.
        let stranger = root(suite, "Org1", None);
        let stranger_sealed = stranger.seal_key(&master, &id).unwrap();
        assert_eq!(
            code(CertificateAuthority::load(
                cert.as_bytes(),
                &stranger_sealed,
                &master,
                &id
            )),
            "CA_CERTIFICATE_INVALID"
        );
    }
    // An SM2 key under a P-256 certificate.
    let master = MasterKey::generate().unwrap();
    let id = CaId::new("ca-1");
    let p256 = root(CryptoSuite::EcdsaP256, "Org1", None);
    let sm2_sealed = root(CryptoSuite::Sm2, "Org1", None)
        .seal_key(&master, &id)
        .unwrap();
    assert_eq!(
        code(CertificateAuthority::load(
            p256.certificate_der(),
            &sm2_sealed,
            &master,
            &id
        )),
        "KEY_TYPE_MISMATCH"
    );
}

#[test]
fn leaves_are_not_cas_and_renewal_checks_the_issuer() {
    for suite in BOTH {
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
        let leaf = ca
            .issue(
                &IssueRequest::new(&csr, Profile::User, leaf_validity()),
                &policy(),
            )
            .unwrap();
        assert_eq!(
            code(CertificateAuthority::from_certificate_and_key(
                &leaf.der, &key
            )),
            "CA_CERTIFICATE_INVALID"
        );
        // Same name, different key: not ours.
        let impostor = root(suite, "Org1", None);
        assert_eq!(
            code(impostor.renew(&leaf.der, leaf_validity(), &policy())),
            "CERTIFICATE_NOT_ISSUED_BY_CA"
        );
        assert_eq!(
            code(impostor.check_issued(&leaf.der)),
            "CERTIFICATE_NOT_ISSUED_BY_CA"
        );
        ca.check_issued(&leaf.der).unwrap();
        // A CA certificate is not renewable as a leaf.
        assert_eq!(
            code(ca.renew(ca.certificate_der(), leaf_validity(), &policy())),
            "CERTIFICATE_PROFILE_UNKNOWN"
        );
        // Garbage.
        assert_eq!(
            code(ca.renew(b"junk", leaf_validity(), &policy())),
            "CERTIFICATE_MALFORMED"
        );
        let mut cut = leaf.der.clone();
        cut.truncate(cut.len() - 5);
        assert_eq!(
            code(ca.renew(&cut, leaf_validity(), &policy())),
            "CERTIFICATE_MALFORMED"
        );
    }
}

#[test]
fn renewal_rechecks_the_policy() {
    let ca = root(CryptoSuite::EcdsaP256, "Org1", None);
    let csr = VerifiedCsr::parse(&csr_der(
        CryptoSuite::EcdsaP256,
        "n",
        &["n.org1.example.com"],
    ))
    .unwrap();
    let leaf = ca
        .issue(
            &IssueRequest::new(&csr, Profile::NodeTls, leaf_validity()),
            &policy(),
        )
        .unwrap();
    let shrunk = NamePolicy::from_domains(["org9.example.com"]).unwrap();
    assert_eq!(
        code(ca.renew(&leaf.der, leaf_validity(), &shrunk)),
        "NAME_NOT_ALLOWED"
    );
}

#[test]
fn csr_name_forms_we_do_not_issue_are_refused() {
    let ossl = Openssl::new();
    let key = ossl.p("k.pem");
    ossl.ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &key,
    ]);
    let csr = ossl.p("r.csr");
    ossl.ok(&[
        "req",
        "-new",
        "-key",
        &key,
        "-subj",
        "/CN=n",
        "-addext",
        "subjectAltName=DNS:n.org1.example.com,email:n@org1.example.com",
        "-out",
        &csr,
    ]);
    assert_eq!(
        code(VerifiedCsr::parse(&ossl.read("r.csr"))),
        "NAME_NOT_ALLOWED"
    );
    ossl.ok(&[
        "req",
        "-new",
        "-key",
        &key,
        "-subj",
        "/CN=n",
        "-addext",
        "subjectAltName=DNS:bad_name.org1.example.com",
        "-out",
        &csr,
    ]);
    assert_eq!(
        code(VerifiedCsr::parse(&ossl.read("r.csr"))),
        "NAME_INVALID"
    );
}

/// Every truncation and many single-byte corruptions of real inputs give an error or a
/// (still verified) value, never a panic.
#[test]
fn corrupted_inputs_never_panic() {
    for suite in BOTH {
        let ca = root(suite, "Org1", Some(0));
        let csr = csr_der(suite, "node", &["n.org1.example.com", "127.0.0.1"]);
        let parsed = VerifiedCsr::parse(&csr).unwrap();
        let cert = ca
            .issue(
                &IssueRequest::new(&parsed, Profile::NodeTls, leaf_validity()),
                &policy(),
            )
            .unwrap()
            .der;
        for cut in 0..cert.len() {
            assert!(yuelu_ca::CertificateInfo::parse(&cert[..cut]).is_err());
            assert!(ca.renew(&cert[..cut], leaf_validity(), &policy()).is_err());
        }
        for cut in 0..csr.len() {
            assert!(VerifiedCsr::parse(&csr[..cut]).is_err());
        }
        for i in 0..cert.len() {
            let mut bad = cert.clone();
            bad[i] ^= 0xff;
            let _ = yuelu_ca::CertificateInfo::parse(&bad);
            let _ = CertificateAuthority::from_certificate_and_key(&bad, &PrivateKeyPem::new(""));
        }
        for i in (0..csr.len()).step_by(5) {
            let mut bad = csr.clone();
            bad[i] ^= 0xff;
            // A corrupted CSR may only pass if the corruption is outside the signed bytes
            // and the signature (e.g. an unused-bits octet): then it still verifies.
            if let Ok(v) = VerifiedCsr::parse(&bad) {
                assert_eq!(
                    v.public_key_der().unwrap(),
                    parsed.public_key_der().unwrap()
                );
            }
        }
        let master = MasterKey::generate().unwrap();
        let id = CaId::new("x");
        let sealed = ca.seal_key(&master, &id).unwrap();
        for cut in 0..sealed.as_bytes().len() {
            let blob = SealedKey::from_bytes(sealed.as_bytes()[..cut].to_vec());
            assert!(CertificateAuthority::load(ca.certificate_der(), &blob, &master, &id).is_err());
        }
    }
}
