//! ECDSA P-256: everything the CA signs is checked by the `openssl` command line.
// Helpers outside #[test] functions unwrap too; clippy exempts only the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::SystemTime;

use common::*;
use yuelu_ca::{
    CaId, CertificateAuthority, CertificateInfo, CrlNumber, CrlSpec, CryptoSuite, CsrSubject,
    IssueRequest, IssuedCertificate, MasterKey, PrivateKeyPem, Profile, RevocationReason,
    RevokedCertificate, Sm2DistId, VerifiedCsr, build_csr,
};

const SUITE: CryptoSuite = CryptoSuite::EcdsaP256;

/// A node or user asks `ca` for a certificate the way the runtimes do: own key, CSR, issue.
fn enroll(
    ca: &CertificateAuthority,
    cn: &str,
    sans: &[&str],
    profile: Profile,
) -> IssuedCertificate {
    let key = PrivateKeyPem::generate(SUITE).unwrap();
    let subject = CsrSubject {
        common_name: cn.into(),
        organisation: Some("Org1".into()),
    };
    let csr = build_csr(&key, &subject, &names(sans)).unwrap();
    let csr = VerifiedCsr::parse(csr.pem().unwrap().as_bytes()).unwrap();
    assert_eq!(csr.sm2_distinguishing_id(), None::<Sm2DistId>);
    ca.issue(
        &IssueRequest::new(&csr, profile, leaf_validity()),
        &policy(),
    )
    .unwrap()
}

#[test]
fn root_intermediate_and_every_profile_verify_with_openssl() {
    let ossl = Openssl::new();
    let root = root(SUITE, "Org1", Some(1));
    let inter = intermediate(&root);
    let root_pem = ossl.write("root.pem", root.certificate_pem().unwrap());
    let inter_pem = ossl.write("inter.pem", inter.certificate_pem().unwrap());

    ossl.ok_saying(
        &["verify", "-CAfile", &root_pem, "-check_ss_sig", &root_pem],
        "OK",
    );
    ossl.ok_saying(
        &["verify", "-CAfile", &root_pem, &inter_pem],
        "inter.pem: OK",
    );
    let text = ossl.ok(&["x509", "-in", &root_pem, "-noout", "-text"]);
    for expected in [
        "CA:TRUE, pathlen:1",
        "Certificate Sign, CRL Sign",
        "Subject Key Identifier",
        "Subject: C = CN, O = Org1, CN = Org1 Root CA",
        "ecdsa-with-SHA256",
        "prime256v1",
    ] {
        assert!(text.contains(expected), "root lacks {expected:?}:\n{text}");
    }
    let text = ossl.ok(&["x509", "-in", &inter_pem, "-noout", "-text"]);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(
        text.contains("Issuer: C = CN, O = Org1, CN = Org1 Root CA"),
        "{text}"
    );

    let cases: [(Profile, &[&str], &[&str]); 4] = [
        (
            Profile::NodeTls,
            &["peer0.org1.example.com", "127.0.0.1", "::1"],
            &[
                "TLS Web Server Authentication, TLS Web Client Authentication",
                "DNS:peer0.org1.example.com",
                "IP Address:127.0.0.1",
                "IP Address:0:0:0:0:0:0:0:1",
                "Digital Signature",
                "Subject: C = CN, O = Org1, CN = subject-1",
            ],
        ),
        (
            Profile::NodeSigning,
            &[],
            &[
                "Digital Signature, Non Repudiation",
                "Subject: C = CN, O = Org1, CN = subject-1",
            ],
        ),
        (
            Profile::User,
            &["alice.org1.example.com"],
            &[
                "TLS Web Client Authentication",
                "Digital Signature",
                "DNS:alice.org1.example.com",
                "Subject: C = CN, O = Org1, CN = subject-1",
            ],
        ),
        (
            Profile::MemberAdmin,
            &[],
            &[
                "TLS Web Client Authentication",
                "Digital Signature, Non Repudiation",
                "Subject: C = CN, O = Org1, OU = admin, CN = subject-1",
            ],
        ),
    ];
    for (profile, sans, expected) in cases {
        let cert = enroll(&inter, "subject-1", sans, profile);
        let leaf = ossl.write(&format!("{profile}.pem"), cert.pem().unwrap());
        ossl.ok_saying(
            &[
                "verify",
                "-CAfile",
                &root_pem,
                "-untrusted",
                &inter_pem,
                &leaf,
            ],
            &format!("{profile}.pem: OK"),
        );
        let text = ossl.ok(&["x509", "-in", &leaf, "-noout", "-text"]);
        for e in expected.iter().chain(&[
            "CA:FALSE",
            "Issuer: C = CN, O = Org1, CN = Org1 Issuing CA",
            "Authority Key Identifier",
            "Subject Key Identifier",
        ]) {
            assert!(text.contains(e), "{profile} lacks {e:?}:\n{text}");
        }
        let serial = ossl.ok(&["x509", "-in", &leaf, "-noout", "-serial"]);
        assert_eq!(
            serial
                .trim()
                .trim_start_matches("serial=")
                .to_ascii_lowercase(),
            cert.serial.to_hex(),
        );
        match profile {
            Profile::NodeTls => {
                ossl.ok_saying(
                    &[
                        "verify",
                        "-purpose",
                        "sslserver",
                        "-CAfile",
                        &root_pem,
                        "-untrusted",
                        &inter_pem,
                        &leaf,
                    ],
                    "OK",
                );
                ossl.ok_saying(
                    &[
                        "verify",
                        "-purpose",
                        "sslclient",
                        "-CAfile",
                        &root_pem,
                        "-untrusted",
                        &inter_pem,
                        &leaf,
                    ],
                    "OK",
                );
            }
            Profile::User | Profile::MemberAdmin => {
                ossl.ok_saying(
                    &[
                        "verify",
                        "-purpose",
                        "sslclient",
                        "-CAfile",
                        &root_pem,
                        "-untrusted",
                        &inter_pem,
                        &leaf,
                    ],
                    "OK",
                );
                ossl.fails_saying(
                    &[
                        "verify",
                        "-purpose",
                        "sslserver",
                        "-CAfile",
                        &root_pem,
                        "-untrusted",
                        &inter_pem,
                        &leaf,
                    ],
                    "unsuitable certificate purpose",
                );
            }
            Profile::NodeSigning => {}
        }
    }
    // A leaf straight from the root verifies too.
    let direct = enroll(
        &root,
        "direct",
        &["direct.org1.example.com"],
        Profile::NodeTls,
    );
    let direct = ossl.write("direct.pem", direct.pem().unwrap());
    ossl.ok_saying(&["verify", "-CAfile", &root_pem, &direct], "direct.pem: OK");
    // Control: the leaf does not verify against an unrelated root of the same name.
    let impostor = ossl.write(
        "impostor.pem",
        common::root(SUITE, "Org1", Some(1))
            .certificate_pem()
            .unwrap(),
    );
    ossl.fails_saying(&["verify", "-CAfile", &impostor, &direct], "error");
}

#[test]
fn crls_verify_with_openssl_and_revoke() {
    let ossl = Openssl::new();
    let root = root(SUITE, "Org1", Some(1));
    let inter = intermediate(&root);
    let root_pem = ossl.write("root.pem", root.certificate_pem().unwrap());
    let inter_pem = ossl.write("inter.pem", inter.certificate_pem().unwrap());
    let revoked = enroll(&inter, "revoked", &["r.org1.example.com"], Profile::NodeTls);
    let kept = enroll(&inter, "kept", &["k.org1.example.com"], Profile::NodeTls);
    let superseded = enroll(&inter, "old", &[], Profile::User);
    let revoked_pem = ossl.write("revoked.pem", revoked.pem().unwrap());
    let kept_pem = ossl.write("kept.pem", kept.pem().unwrap());

    let now = SystemTime::now();
    let crl = inter
        .crl(&CrlSpec {
            number: CrlNumber::new(7),
            this_update: now,
            next_update: now + 7 * DAY,
            revoked: vec![
                RevokedCertificate {
                    serial: revoked.serial.clone(),
                    revoked_at: now,
                    reason: RevocationReason::KeyCompromise,
                },
                RevokedCertificate {
                    serial: superseded.serial.clone(),
                    revoked_at: now,
                    reason: RevocationReason::Unspecified,
                },
            ],
        })
        .unwrap();
    assert_eq!(crl.number, CrlNumber::new(7));
    let crl_pem = ossl.write("inter.crl.pem", crl.pem().unwrap());
    ossl.write("inter.crl.der", &crl.der);

    ossl.ok_saying(
        &[
            "crl", "-in", &crl_pem, "-CAfile", &inter_pem, "-noout", "-verify",
        ],
        "verify OK",
    );
    ossl.ok_saying(
        &[
            "crl",
            "-in",
            &ossl.p("inter.crl.der"),
            "-inform",
            "DER",
            "-CAfile",
            &inter_pem,
            "-noout",
            "-verify",
        ],
        "verify OK",
    );
    let text = ossl.ok(&["crl", "-in", &crl_pem, "-noout", "-text"]);
    let revoked_hex = revoked.serial.to_hex().to_ascii_uppercase();
    assert!(
        text.contains(&format!("Serial Number: {revoked_hex}")),
        "{revoked_hex} not listed:\n{text}"
    );
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(
        text.contains(&superseded.serial.to_hex().to_ascii_uppercase()),
        "{text}"
    );
    assert!(
        !text.contains(&kept.serial.to_hex().to_ascii_uppercase()),
        "{text}"
    );
    assert!(
        text.contains("X509v3 CRL Number: \n                7"),
        "{text}"
    );
    assert!(
        text.contains("Issuer: C = CN, O = Org1, CN = Org1 Issuing CA"),
        "{text}"
    );
    assert!(text.contains("Next Update"), "{text}");
    // Unspecified is written as no reason code (RFC 5280 5.3.1): one reason line only.
    assert_eq!(text.matches("CRL Reason Code").count(), 1, "{text}");

    // Path validation with the CRL: the revoked leaf fails, the other passes.
    let chain = [
        "verify",
        "-crl_check",
        "-CAfile",
        &root_pem,
        "-untrusted",
        &inter_pem,
        "-CRLfile",
        &crl_pem,
    ];
    ossl.fails_saying(
        &[&chain[..], &[&revoked_pem]].concat(),
        "certificate revoked",
    );
    ossl.ok_saying(&[&chain[..], &[&kept_pem]].concat(), "kept.pem: OK");

    // An empty CRL from the root.
    let empty = root
        .crl(&CrlSpec {
            number: CrlNumber::new(1),
            this_update: now,
            next_update: now + DAY,
            revoked: vec![],
        })
        .unwrap();
    let empty_pem = ossl.write("root.crl.pem", empty.pem().unwrap());
    ossl.ok_saying(
        &[
            "crl", "-in", &empty_pem, "-CAfile", &root_pem, "-noout", "-verify",
        ],
        "verify OK",
    );
    let text = ossl.ok(&["crl", "-in", &empty_pem, "-noout", "-text"]);
    assert!(text.contains("No Revoked Certificates"), "{text}");

    // Control: the text check is meaningful. A CRL signed by another CA of the same name
    // makes `openssl crl -verify` print a failure (it still exits 0).
    let impostor = common::root(SUITE, "Org1", Some(1));
    let forged = impostor
        .crl(&CrlSpec {
            number: CrlNumber::new(2),
            this_update: now,
            next_update: now + DAY,
            revoked: vec![],
        })
        .unwrap();
    let forged_pem = ossl.write("forged.crl.pem", forged.pem().unwrap());
    let run = ossl.run(&[
        "crl",
        "-in",
        &forged_pem,
        "-CAfile",
        &root_pem,
        "-noout",
        "-verify",
    ]);
    assert!(
        !run.text().contains("verify OK"),
        "forged CRL accepted:\n{}",
        run.describe
    );
}

#[test]
fn openssl_made_csr_round_trips() {
    let ossl = Openssl::new();
    let ca = root(SUITE, "Org1", Some(0));
    let ca_pem = ossl.write("ca.pem", ca.certificate_pem().unwrap());
    let key = ossl.p("node.key");
    ossl.ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &key,
    ]);
    let csr_path = ossl.p("node.csr");
    ossl.ok(&[
        "req",
        "-new",
        "-key",
        &key,
        "-subj",
        "/O=Org1/CN=peer0",
        "-addext",
        "subjectAltName=DNS:peer0.org1.example.com,DNS:PEER0.org1.example.com,IP:127.0.0.1",
        "-out",
        &csr_path,
    ]);
    let csr = VerifiedCsr::parse(&ossl.read("node.csr")).unwrap();
    assert_eq!(csr.suite(), SUITE);
    assert_eq!(csr.common_name(), Some("peer0"));
    assert_eq!(csr.organisation(), Some("Org1"));
    // Case-folded and de-duplicated.
    assert_eq!(
        csr.names(),
        names(&["peer0.org1.example.com", "127.0.0.1"]).as_slice()
    );
    let cert = ca
        .issue(
            &IssueRequest::new(&csr, Profile::NodeTls, leaf_validity()),
            &policy(),
        )
        .unwrap();
    let leaf = ossl.write("node.pem", cert.pem().unwrap());
    ossl.ok_saying(
        &["verify", "-purpose", "sslserver", "-CAfile", &ca_pem, &leaf],
        "node.pem: OK",
    );
    // The certificate certifies the key openssl generated.
    let from_key = ossl.ok(&["pkey", "-in", &key, "-pubout"]);
    let from_cert = ossl.ok(&["x509", "-in", &leaf, "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert);

    // DER input works as well.
    let der = ossl.p("node.csr.der");
    ossl.ok(&["req", "-in", &csr_path, "-outform", "DER", "-out", &der]);
    assert_eq!(
        VerifiedCsr::parse(&ossl.read("node.csr.der"))
            .unwrap()
            .names(),
        csr.names()
    );

    // Our CSR builder with an openssl key; openssl checks the signature.
    let ours = build_csr(
        &PrivateKeyPem::new(String::from_utf8(ossl.read("node.key")).unwrap()),
        &CsrSubject {
            common_name: "peer1".into(),
            organisation: None,
        },
        &names(&["peer1.org1.example.com"]),
    )
    .unwrap();
    let ours = ossl.write("ours.csr", ours.pem().unwrap());
    ossl.ok_saying(&["req", "-in", &ours, "-noout", "-verify"], "verify OK");
    let text = ossl.ok(&["req", "-in", &ours, "-noout", "-text"]);
    assert!(
        text.contains("DNS:peer1.org1.example.com") && text.contains("CN = peer1"),
        "{text}"
    );
}

#[test]
fn generated_keys_are_pkcs8_openssl_reads() {
    let ossl = Openssl::new();
    let key = ossl.write("k.pem", PrivateKeyPem::generate(SUITE).unwrap().as_str());
    let text = ossl.ok(&["pkey", "-in", &key, "-noout", "-text"]);
    assert!(text.contains("prime256v1"), "{text}");
}

#[test]
fn renewal_keeps_key_subject_and_names() {
    let ossl = Openssl::new();
    let ca = root(SUITE, "Org1", Some(0));
    let ca_pem = ossl.write("ca.pem", ca.certificate_pem().unwrap());
    let old = enroll(
        &ca,
        "peer0",
        &["peer0.org1.example.com", "127.0.0.1"],
        Profile::NodeTls,
    );
    let new = ca.renew(&old.der, leaf_validity(), &policy()).unwrap();
    assert_ne!(new.serial, old.serial);
    assert_eq!(new.profile, Profile::NodeTls);
    assert_eq!(new.names, old.names);
    let old_pem = ossl.write("old.pem", old.pem().unwrap());
    let new_pem = ossl.write("new.pem", new.pem().unwrap());
    ossl.ok_saying(
        &[
            "verify",
            "-purpose",
            "sslserver",
            "-CAfile",
            &ca_pem,
            &new_pem,
        ],
        "new.pem: OK",
    );
    for what in [
        "-pubkey",
        "-subject",
        "-ext=subjectAltName,keyUsage,extendedKeyUsage",
    ] {
        let args = |f: &str| -> Vec<String> {
            let mut a = vec!["x509".to_string(), "-in".into(), f.into(), "-noout".into()];
            match what.split_once('=') {
                Some((flag, value)) => a.extend([flag.to_string(), value.to_string()]),
                None => a.push(what.to_string()),
            }
            a
        };
        let run = |f: &str| {
            let a = args(f);
            ossl.ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
        };
        assert_eq!(run(&old_pem), run(&new_pem), "{what} differs after renewal");
    }
    let info = CertificateInfo::parse(new.pem().unwrap().as_bytes()).unwrap();
    assert_eq!(info.serial, new.serial);
    assert_eq!(info.profile, Some(Profile::NodeTls));
}

#[test]
fn sealed_ca_reloads_and_issues_into_the_same_chain() {
    let ossl = Openssl::new();
    let master = MasterKey::generate().unwrap();
    let id = CaId::new("0b7c6f9e-ca-ecdsa");
    let root = root(SUITE, "某某科技有限公司", Some(1));
    let inter = intermediate(&root);
    let sealed = inter.seal_key(&master, &id).unwrap();
    let reloaded = CertificateAuthority::load(
        inter.certificate_pem().unwrap().as_bytes(),
        &sealed,
        &master,
        &id,
    )
    .unwrap();
    assert_eq!(reloaded.organisation(), "某某科技有限公司");
    let root_pem = ossl.write("root.pem", root.certificate_pem().unwrap());
    let inter_pem = ossl.write("inter.pem", inter.certificate_pem().unwrap());
    let leaf = enroll(
        &reloaded,
        "peer0",
        &["peer0.org1.example.com"],
        Profile::NodeTls,
    );
    let leaf_pem = ossl.write("leaf.pem", leaf.pem().unwrap());
    ossl.ok_saying(
        &[
            "verify",
            "-CAfile",
            &root_pem,
            "-untrusted",
            &inter_pem,
            &leaf_pem,
        ],
        "leaf.pem: OK",
    );
    let subject = ossl.ok(&[
        "x509",
        "-in",
        &leaf_pem,
        "-noout",
        "-subject",
        "-nameopt",
        "utf8,sep_comma_plus_space",
    ]);
    assert!(subject.contains("O=某某科技有限公司"), "{subject}");
}
