//! SM2 with SM3: certificates, CRLs and CSRs checked by the `openssl` command line (with the
//! GM/T 0009 default distinguishing ID) and by an independent parser (x509-parser).
// Helpers outside #[test] functions unwrap too; clippy exempts only the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;
use yuelu_ca::{
    CaId, CertificateAuthority, CrlNumber, CrlSpec, CryptoSuite, CsrSubject, IssueRequest,
    IssuedCertificate, MasterKey, PrivateKeyPem, Profile, RevocationReason, RevokedCertificate,
    Sm2DistId, VerifiedCsr, build_csr,
};

const SUITE: CryptoSuite = CryptoSuite::Sm2;
const DISTID: &str = "distid:1234567812345678";
const SM2_SM3: &str = "1.2.156.10197.1.501";
const SM2_CURVE: &str = "1.2.156.10197.1.301";

fn enroll(
    ca: &CertificateAuthority,
    cn: &str,
    sans: &[&str],
    profile: Profile,
) -> IssuedCertificate {
    let key = PrivateKeyPem::generate(SUITE).unwrap();
    let subject = CsrSubject {
        common_name: cn.into(),
        organisation: None,
    };
    let csr = build_csr(&key, &subject, &names(sans)).unwrap();
    let csr = VerifiedCsr::parse(&csr.der).unwrap();
    assert_eq!(csr.sm2_distinguishing_id(), Some(Sm2DistId::Default));
    ca.issue(
        &IssueRequest::new(&csr, profile, leaf_validity()),
        &policy(),
    )
    .unwrap()
}

fn verify_link(ossl: &Openssl, issuer: &str, cert: &str) {
    ossl.ok_saying(
        &[
            "verify",
            "-vfyopt",
            DISTID,
            "-partial_chain",
            "-CAfile",
            issuer,
            cert,
        ],
        "OK",
    );
}

fn ski(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
}

fn aki(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
}

fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn root_intermediate_and_every_profile_verify_with_openssl() {
    let ossl = Openssl::new();
    let root = root(SUITE, "Org1", Some(1));
    let inter = intermediate(&root);
    let root_pem = ossl.write("root.pem", root.certificate_pem().unwrap());
    let inter_pem = ossl.write("inter.pem", inter.certificate_pem().unwrap());
    ossl.write("root.der", root.certificate_der());

    assert!(
        ossl.sm2_signature_verifies(&ossl.p("root.der"), &root_pem),
        "root self-signature"
    );
    verify_link(&ossl, &root_pem, &inter_pem);
    let text = ossl.ok(&["x509", "-in", &root_pem, "-noout", "-text"]);
    for e in [
        "SM2-with-SM3",
        "CA:TRUE, pathlen:1",
        "Certificate Sign, CRL Sign",
        "ASN1 OID: SM2",
    ] {
        assert!(text.contains(e), "root lacks {e:?}:\n{text}");
    }

    for profile in Profile::ALL {
        let sans: &[&str] = match profile {
            Profile::NodeTls => &["validator-0.org1.example.com", "127.0.0.1"],
            _ => &[],
        };
        let cert = enroll(&inter, "validator-0", sans, profile);
        let leaf = ossl.write(&format!("{profile}.pem"), cert.pem().unwrap());
        verify_link(&ossl, &inter_pem, &leaf);
        // Control: without the ID OpenSSL 3 uses the empty one and the signature fails, so the
        // line above really checked the default ID.
        ossl.fails_saying(
            &["verify", "-partial_chain", "-CAfile", &inter_pem, &leaf],
            "signature failure",
        );
        let text = ossl.ok(&["x509", "-in", &leaf, "-noout", "-text"]);
        let subject = match profile {
            Profile::MemberAdmin => "Subject: C = CN, O = Org1, OU = admin, CN = validator-0",
            _ => "Subject: C = CN, O = Org1, CN = validator-0",
        };
        assert!(text.contains(subject), "{text}");
        assert!(text.contains("CA:FALSE"), "{text}");
        if profile == Profile::NodeTls {
            assert!(
                text.contains("DNS:validator-0.org1.example.com, IP Address:127.0.0.1"),
                "{text}"
            );
        }
    }
}

#[test]
fn independent_parser_agrees_with_what_we_issued() {
    let root = root(SUITE, "Org1", Some(1));
    let inter = intermediate(&root);
    let cert = enroll(
        &inter,
        "peer0",
        &["peer0.org1.example.com", "::1"],
        Profile::NodeTls,
    );

    let (rest, root_x) = X509Certificate::from_der(root.certificate_der()).unwrap();
    assert!(rest.is_empty());
    let (_, inter_x) = X509Certificate::from_der(inter.certificate_der()).unwrap();
    let (rest, leaf) = X509Certificate::from_der(&cert.der).unwrap();
    assert!(rest.is_empty());

    assert_eq!(leaf.signature_algorithm.algorithm.to_id_string(), SM2_SM3);
    assert_eq!(
        leaf.tbs_certificate.signature.algorithm.to_id_string(),
        SM2_SM3
    );
    assert!(leaf.signature_algorithm.parameters.is_none());
    let spki = leaf.public_key();
    assert_eq!(spki.algorithm.algorithm.to_id_string(), "1.2.840.10045.2.1");
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .unwrap()
        .as_oid()
        .unwrap();
    assert_eq!(curve.to_id_string(), SM2_CURVE);
    assert_eq!(spki.subject_public_key.data.len(), 65);

    assert_eq!(leaf.serial.to_bytes_be(), cert.serial.as_bytes());
    assert_eq!(leaf.version().0, 2);
    assert_eq!(leaf.subject().to_string(), "C=CN, O=Org1, CN=peer0");
    assert_eq!(
        leaf.issuer().to_string(),
        "C=CN, O=Org1, CN=Org1 Issuing CA"
    );
    assert_eq!(
        leaf.validity().not_before.timestamp(),
        secs(cert.not_before)
    );
    assert_eq!(leaf.validity().not_after.timestamp(), secs(cert.not_after));

    let sans = leaf.subject_alternative_name().unwrap().unwrap();
    assert!(!sans.critical);
    let mut got: Vec<String> = sans
        .value
        .general_names
        .iter()
        .map(|g| match g {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(ip) => match ip.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(*ip).unwrap()).to_string(),
                _ => IpAddr::from(<[u8; 16]>::try_from(*ip).unwrap()).to_string(),
            },
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    got.sort();
    assert_eq!(got, ["::1", "peer0.org1.example.com"]);

    let ku = leaf.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.digital_signature() && !ku.value.key_cert_sign());
    let eku = leaf.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.server_auth && eku.value.client_auth && !eku.value.code_signing);
    let bc = leaf.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && !bc.value.ca);

    let root_bc = root_x.basic_constraints().unwrap().unwrap().value;
    assert!(root_bc.ca && root_bc.path_len_constraint == Some(1));
    let inter_bc = inter_x.basic_constraints().unwrap().unwrap().value;
    assert!(inter_bc.ca && inter_bc.path_len_constraint == Some(0));
    let inter_ku = inter_x.key_usage().unwrap().unwrap().value;
    assert!(inter_ku.key_cert_sign() && inter_ku.crl_sign() && !inter_ku.digital_signature());

    // Key identifiers chain: leaf AKI = intermediate SKI, intermediate AKI = root SKI = root AKI.
    assert_eq!(aki(&leaf), ski(&inter_x));
    assert_eq!(aki(&inter_x), ski(&root_x));
    assert_eq!(aki(&root_x), ski(&root_x));
    assert!(ski(&leaf).is_some_and(|k| k.len() == 20));
    assert_ne!(ski(&leaf), ski(&inter_x));
}

#[test]
fn crl_verifies_with_openssl_and_parses_independently() {
    let ossl = Openssl::new();
    let root = root(SUITE, "Org1", Some(1));
    let inter = intermediate(&root);
    let inter_pem = ossl.write("inter.pem", inter.certificate_pem().unwrap());
    let a = enroll(&inter, "a", &[], Profile::User);
    let b = enroll(&inter, "b", &[], Profile::NodeSigning);
    let now = SystemTime::now();
    let crl = inter
        .crl(&CrlSpec {
            number: CrlNumber::new(42),
            this_update: now,
            next_update: now + 7 * DAY,
            revoked: vec![
                RevokedCertificate {
                    serial: a.serial.clone(),
                    revoked_at: now,
                    reason: RevocationReason::Superseded,
                },
                RevokedCertificate {
                    serial: b.serial.clone(),
                    revoked_at: now,
                    reason: RevocationReason::CessationOfOperation,
                },
            ],
        })
        .unwrap();
    let der = ossl.write("inter.crl", &crl.der);
    let pem = ossl.write("inter.crl.pem", crl.pem().unwrap());
    assert!(
        ossl.sm2_signature_verifies(&der, &inter_pem),
        "CRL signature"
    );
    // Control: a CRL with one flipped byte in the TBS does not verify.
    let mut tampered = crl.der.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    let tampered = ossl.write("tampered.crl", tampered);
    assert!(
        !ossl.sm2_signature_verifies(&tampered, &inter_pem),
        "tampered CRL verified"
    );
    // Control: the root's key does not verify the intermediate's CRL.
    let root_pem = ossl.write("root.pem", root.certificate_pem().unwrap());
    assert!(
        !ossl.sm2_signature_verifies(&der, &root_pem),
        "CRL verified by the wrong key"
    );

    let text = ossl.ok(&["crl", "-in", &pem, "-noout", "-text"]);
    assert!(
        text.contains(&a.serial.to_hex().to_ascii_uppercase()),
        "{text}"
    );
    assert!(
        text.contains("Superseded") && text.contains("Cessation Of Operation"),
        "{text}"
    );
    assert!(text.contains("SM2-with-SM3"), "{text}");

    let (rest, parsed) = CertificateRevocationList::from_der(&crl.der).unwrap();
    assert!(rest.is_empty());
    assert_eq!(
        parsed.crl_number().map(|n| n.to_string()),
        Some("42".to_string())
    );
    assert_eq!(
        parsed.issuer().to_string(),
        "C=CN, O=Org1, CN=Org1 Issuing CA"
    );
    assert_eq!(
        parsed.next_update().map(|t| t.timestamp()),
        Some(secs(crl.next_update))
    );
    let entries: Vec<(Vec<u8>, Option<u8>)> = parsed
        .iter_revoked_certificates()
        .map(|r| (r.serial().to_bytes_be(), r.reason_code().map(|(_, c)| c.0)))
        .collect();
    assert_eq!(
        entries,
        vec![
            (a.serial.as_bytes().to_vec(), Some(4)),
            (b.serial.as_bytes().to_vec(), Some(5))
        ]
    );
    let (_, inter_x) = X509Certificate::from_der(inter.certificate_der()).unwrap();
    let crl_aki = parsed
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        });
    assert_eq!(
        crl_aki,
        ski(&inter_x),
        "CRL AKI must name the intermediate, not the root"
    );
}

#[test]
fn openssl_made_csrs_with_default_and_empty_id_round_trip() {
    let ossl = Openssl::new();
    let ca = root(SUITE, "Org1", Some(0));
    let ca_pem = ossl.write("ca.pem", ca.certificate_pem().unwrap());
    let key = ossl.p("node.key");
    ossl.ok(&["genpkey", "-algorithm", "SM2", "-out", &key]);
    for (file, sigopt, expected) in [
        ("default.csr", Some(DISTID), Sm2DistId::Default),
        ("empty.csr", None, Sm2DistId::Empty),
    ] {
        let out = ossl.p(file);
        let mut args = vec![
            "req",
            "-new",
            "-key",
            &key,
            "-sm3",
            "-subj",
            "/CN=validator-1/O=Org1",
            "-addext",
            "subjectAltName=DNS:validator-1.org1.example.com",
            "-out",
            &out,
        ];
        if let Some(opt) = sigopt {
            args.extend(["-sigopt", opt]);
        }
        ossl.ok(&args);
        let csr = VerifiedCsr::parse(&ossl.read(file)).unwrap();
        assert_eq!(csr.suite(), SUITE);
        assert_eq!(csr.sm2_distinguishing_id(), Some(expected), "{file}");
        assert_eq!(
            csr.names(),
            names(&["validator-1.org1.example.com"]).as_slice()
        );
        let cert = ca
            .issue(
                &IssueRequest::new(&csr, Profile::NodeTls, leaf_validity()),
                &policy(),
            )
            .unwrap();
        let leaf = ossl.write(&format!("{file}.pem"), cert.pem().unwrap());
        verify_link(&ossl, &ca_pem, &leaf);
        let from_key = ossl.ok(&["pkey", "-in", &key, "-pubout"]);
        let from_cert = ossl.ok(&["x509", "-in", &leaf, "-noout", "-pubkey"]);
        assert_eq!(from_key, from_cert);
    }

    // Our builder with the openssl key: openssl verifies it under the default ID.
    let ours = build_csr(
        &PrivateKeyPem::new(String::from_utf8(ossl.read("node.key")).unwrap()),
        &CsrSubject {
            common_name: "validator-2".into(),
            organisation: Some("Org1".into()),
        },
        &names(&["validator-2.org1.example.com", "127.0.0.2"]),
    )
    .unwrap();
    let ours = ossl.write("ours.csr", ours.pem().unwrap());
    ossl.ok_saying(
        &["req", "-in", &ours, "-noout", "-verify", "-vfyopt", DISTID],
        "verify OK",
    );
    let run = ossl.run(&["req", "-in", &ours, "-noout", "-verify"]);
    assert!(
        !run.text().contains("verify OK"),
        "empty ID must not verify:\n{}",
        run.describe
    );
    let text = ossl.ok(&["req", "-in", &ours, "-noout", "-text"]);
    assert!(
        text.contains("DNS:validator-2.org1.example.com, IP Address:127.0.0.2"),
        "{text}"
    );
}

#[test]
fn generated_keys_are_pkcs8_openssl_reads() {
    let ossl = Openssl::new();
    let key = ossl.write("k.pem", PrivateKeyPem::generate(SUITE).unwrap().as_str());
    let text = ossl.ok(&["pkey", "-in", &key, "-noout", "-text"]);
    assert!(text.contains("ASN1 OID: SM2"), "{text}");
}

#[test]
fn sealed_ca_reloads_renews_and_stays_in_chain() {
    let ossl = Openssl::new();
    let master = MasterKey::generate().unwrap();
    let id = CaId::new("ca-sm2-1");
    let ca = root(SUITE, "长沙市某某有限公司", Some(0));
    let sealed = ca.seal_key(&master, &id).unwrap();
    let reloaded = CertificateAuthority::load(ca.certificate_der(), &sealed, &master, &id).unwrap();
    let ca_pem = ossl.write("ca.pem", ca.certificate_pem().unwrap());
    let old = enroll(&reloaded, "用户一", &[], Profile::User);
    let new = ca.renew(&old.der, leaf_validity(), &policy()).unwrap();
    assert_ne!(old.serial, new.serial);
    for (name, cert) in [("old.pem", &old), ("new.pem", &new)] {
        let path = ossl.write(name, cert.pem().unwrap());
        verify_link(&ossl, &ca_pem, &path);
    }
    let (_, a) = X509Certificate::from_der(&old.der).unwrap();
    let (_, b) = X509Certificate::from_der(&new.der).unwrap();
    assert_eq!(a.public_key().raw, b.public_key().raw);
    assert_eq!(a.subject().to_string(), b.subject().to_string());
    assert_eq!(
        b.subject().to_string(),
        "C=CN, O=长沙市某某有限公司, CN=用户一"
    );
}
