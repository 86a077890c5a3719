//! Who signed a transaction: client certificates checked against the network's CA bundle, and
//! their signatures: ECDSA P-256 with SHA-256 (checked with ring) or SM2 with SM3 (国密, checked
//! with the RustCrypto `sm2` crate under the GM/T 0009 default distinguishing ID).

use crate::block::RawTx;
use crate::tx::TxError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use x509_parser::prelude::*;

/// A CA the network trusts.
#[derive(Clone, Debug)]
struct TrustedCa {
    /// DER of its subject name, matched against a certificate's issuer.
    subject: Vec<u8>,
    /// Its whole certificate (the SubjectPublicKeyInfo is parsed from it on use).
    der: Vec<u8>,
}

/// The GM/T 0009 default SM2 distinguishing ID, which the platform CA and gmssl use.
pub const SM2_DISTINGUISHING_ID: &str = "1234567812345678";
const OID_SM2_CURVE: &str = "1.2.156.10197.1.301";
const OID_SM2_WITH_SM3: &str = "1.2.156.10197.1.501";

/// The signature algorithm of a client key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA over P-256 with SHA-256.
    P256,
    /// SM2 with SM3.
    Sm2,
}

/// A client certificate that chains to the bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// The key's algorithm.
    pub kind: KeyKind,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo: the signer's identity for nonces.
    pub id: [u8; 32],
    /// The public key point (SEC1, uncompressed).
    pub point: Vec<u8>,
    /// Subject organisation (O), if any: the member organisation for governance.
    pub org: Option<String>,
    /// Whether the subject has an organisational unit (OU) `admin`: a member admin.
    pub admin: bool,
    /// Subject, for receipts and logs.
    pub subject: String,
    /// Validity, Unix seconds.
    pub not_before: i64,
    /// Validity, Unix seconds.
    pub not_after: i64,
}

impl Signer {
    /// Whether the certificate is valid at `unix_ms`.
    pub fn valid_at(&self, unix_ms: u64) -> bool {
        let t = i64::try_from(unix_ms / 1000).unwrap_or(i64::MAX);
        self.not_before <= t && t <= self.not_after
    }
}

/// Why the CA bundle is unusable.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A PEM block or certificate in it does not parse.
    #[error("CA bundle: {0}")]
    Parse(String),
}

/// The trusted CAs, with a cache of client certificates already checked.
#[derive(Clone, Debug, Default)]
pub struct Verifier {
    cas: Arc<Vec<TrustedCa>>,
    cache: Arc<Mutex<SignerCache>>,
}

const CACHE_LIMIT: usize = 100_000;

/// Checked certificates by the SHA-256 of their DER.
type SignerCache = HashMap<[u8; 32], Result<Arc<Signer>, TxError>>;

impl Verifier {
    /// A verifier trusting the certificates of a PEM bundle (may be empty: then no client
    /// transaction is accepted).
    pub fn from_pem(pem: &[u8]) -> Result<Verifier, BundleError> {
        let mut cas = Vec::new();
        for block in Pem::iter_from_buffer(pem) {
            let block = block.map_err(|e| BundleError::Parse(e.to_string()))?;
            if block.label != "CERTIFICATE" {
                continue;
            }
            let (_, cert) = parse_x509_certificate(&block.contents)
                .map_err(|e| BundleError::Parse(e.to_string()))?;
            cas.push(TrustedCa {
                subject: cert.subject().as_raw().to_vec(),
                der: block.contents.clone(),
            });
        }
        Ok(Verifier {
            cas: Arc::new(cas),
            cache: Arc::default(),
        })
    }

    /// How many CAs are trusted.
    pub fn ca_count(&self) -> usize {
        self.cas.len()
    }

    /// Checks a client certificate (cached by its hash): it is issued and signed by a trusted
    /// CA, is not a CA itself, and holds a P-256 key. Validity times are left to the caller,
    /// which checks them against the time that matters (now, or the block's time).
    pub fn signer(&self, der: &[u8]) -> Result<Arc<Signer>, TxError> {
        let key: [u8; 32] = Sha256::digest(der).into();
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(&key)
        {
            return hit.clone();
        }
        let result = self.check(der).map(Arc::new);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, result.clone());
        }
        result
    }

    fn check(&self, der: &[u8]) -> Result<Signer, TxError> {
        let untrusted = |m: &str| TxError::CertificateUntrusted(m.to_string());
        let (rest, cert) =
            parse_x509_certificate(der).map_err(|e| untrusted(&format!("does not parse: {e}")))?;
        if !rest.is_empty() {
            return Err(untrusted("trailing bytes after the certificate"));
        }
        if cert.is_ca() {
            return Err(untrusted("a CA certificate cannot sign transactions"));
        }
        let issuer = cert.issuer().as_raw();
        let mut signed_by_trusted = false;
        for ca in self.cas.iter().filter(|ca| ca.subject == issuer) {
            let Ok((_, ca_cert)) = parse_x509_certificate(&ca.der) else {
                continue;
            };
            if certificate_signed_by(&cert, &ca_cert) {
                signed_by_trusted = true;
                break;
            }
        }
        if !signed_by_trusted {
            return Err(untrusted(
                "not issued by a CA in the network's CA bundle (or its signature is wrong)",
            ));
        }
        if let Ok(Some(ku)) = cert.key_usage()
            && !ku.value.digital_signature()
        {
            return Err(untrusted("key usage does not allow digital signatures"));
        }
        let spki = cert.public_key();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|oid| oid.to_id_string());
        let is_ec =
            spki.algorithm.algorithm == x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY;
        let kind = match curve.as_deref() {
            Some(c) if is_ec && c == x509_parser::oid_registry::OID_EC_P256.to_id_string() => {
                KeyKind::P256
            }
            Some(OID_SM2_CURVE) if is_ec => KeyKind::Sm2,
            _ => {
                return Err(untrusted(
                    "the certificate's key is neither ECDSA P-256 nor SM2",
                ));
            }
        };
        let subject = cert.subject();
        let text = |a: &AttributeTypeAndValue<'_>| a.as_str().ok().map(str::to_string);
        let org = subject.iter_organization().find_map(text);
        let admin = subject
            .iter_organizational_unit()
            .filter_map(text)
            .any(|ou| ou.eq_ignore_ascii_case("admin"));
        Ok(Signer {
            kind,
            id: Sha256::digest(spki.raw).into(),
            point: spki.subject_public_key.data.to_vec(),
            org,
            admin,
            subject: subject.to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// Checks every signature of a transaction; returns the signers in order. Times are not
    /// checked here (see [`Signer::valid_at`]).
    pub fn verify_tx(&self, tx: &RawTx) -> Result<Vec<Arc<Signer>>, TxError> {
        if tx.signatures.is_empty() {
            return Err(TxError::Malformed("no signature".into()));
        }
        let mut out = Vec::with_capacity(tx.signatures.len());
        for (cert, sig) in &tx.signatures {
            let signer = self.signer(cert)?;
            let ok = match signer.kind {
                KeyKind::P256 => ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_ASN1,
                    &signer.point,
                )
                .verify(tx.body.as_bytes(), sig)
                .is_ok(),
                KeyKind::Sm2 => sm2_verify(&signer.point, tx.body.as_bytes(), sig),
            };
            if !ok {
                return Err(TxError::SignatureInvalid(format!(
                    "signature by {} does not match the body",
                    signer.subject
                )));
            }
            out.push(signer);
        }
        Ok(out)
    }
}

/// Whether `cert` carries a valid signature by `ca`'s key (SM2-with-SM3 or what ring checks).
fn certificate_signed_by(cert: &X509Certificate<'_>, ca: &X509Certificate<'_>) -> bool {
    if cert.signature_algorithm.algorithm.to_id_string() == OID_SM2_WITH_SM3 {
        let point = &ca.public_key().subject_public_key.data;
        let tbs: &[u8] = cert.tbs_certificate.as_ref();
        // Certificates from our CA use the default ID; OpenSSL 3 signs with an empty one
        // unless told otherwise. The ID binds the signer's identity into the hash; the CA key
        // still has to have signed.
        [SM2_DISTINGUISHING_ID, ""]
            .into_iter()
            .any(|id| sm2_verify_with(id, point, tbs, &cert.signature_value.data))
    } else {
        cert.verify_signature(Some(ca.public_key())).is_ok()
    }
}

/// Checks an SM2-with-SM3 DER signature under the default distinguishing ID.
fn sm2_verify(point: &[u8], msg: &[u8], sig_der: &[u8]) -> bool {
    sm2_verify_with(SM2_DISTINGUISHING_ID, point, msg, sig_der)
}

fn sm2_verify_with(id: &str, point: &[u8], msg: &[u8], sig_der: &[u8]) -> bool {
    use sm2::dsa::signature::Verifier as _;
    let Ok(key) = sm2::dsa::VerifyingKey::from_sec1_bytes(id, point) else {
        return false;
    };
    let Ok(sig) = sm2::dsa::Signature::from_der(sig_der) else {
        return false;
    };
    key.verify(msg, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

    fn ca() -> (Issuer<'static, KeyPair>, String) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, "test CA");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let pem = p.self_signed(&key).unwrap().pem();
        (Issuer::new(p, key), pem)
    }

    fn client(issuer: &Issuer<'static, KeyPair>, admin: bool) -> (Vec<u8>, EcdsaKeyPair) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, "alice");
        p.distinguished_name.push(DnType::OrganizationName, "org-a");
        if admin {
            p.distinguished_name
                .push(DnType::OrganizationalUnitName, "admin");
        }
        let der = p.signed_by(&key, issuer).unwrap().der().to_vec();
        let kp = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &key.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        (der, kp)
    }

    fn signed(body: &str, der: &[u8], kp: &EcdsaKeyPair) -> RawTx {
        let sig = kp
            .sign(&ring::rand::SystemRandom::new(), body.as_bytes())
            .unwrap();
        RawTx {
            body: body.into(),
            signatures: vec![(der.to_vec(), sig.as_ref().to_vec())],
        }
    }

    #[test]
    fn certificates_must_chain_and_signatures_must_match() {
        let (issuer, pem) = ca();
        let v = Verifier::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(v.ca_count(), 1);
        let (der, kp) = client(&issuer, true);
        let tx = signed("{}", &der, &kp);
        let signers = v.verify_tx(&tx).unwrap();
        assert_eq!(signers[0].org.as_deref(), Some("org-a"));
        assert!(signers[0].admin);
        assert!(signers[0].valid_at(crate::chain::now_ms()));
        assert!(!signers[0].valid_at(0));
        // Cached: the same answer again.
        assert_eq!(v.verify_tx(&tx).unwrap()[0], signers[0]);

        let mut forged = tx.clone();
        forged.body = "{ }".into();
        assert_eq!(
            v.verify_tx(&forged).unwrap_err().code(),
            "SIGNATURE_INVALID"
        );

        let (other_issuer, _) = ca();
        let (stranger, skp) = client(&other_issuer, false);
        let err = v.verify_tx(&signed("{}", &stranger, &skp)).unwrap_err();
        assert_eq!(err.code(), "CERTIFICATE_UNTRUSTED");
        let err = v.verify_tx(&signed("{}", b"junk", &kp)).unwrap_err();
        assert_eq!(err.code(), "CERTIFICATE_UNTRUSTED");
        // The CA's own certificate cannot sign transactions.
        let ca_der = Pem::iter_from_buffer(pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .contents;
        assert_eq!(
            v.signer(&ca_der).unwrap_err().code(),
            "CERTIFICATE_UNTRUSTED"
        );
        // An empty bundle trusts nobody.
        let none = Verifier::from_pem(b"").unwrap();
        assert_eq!(
            none.verify_tx(&tx).unwrap_err().code(),
            "CERTIFICATE_UNTRUSTED"
        );
    }

    /// SM2 certificates and signatures made by OpenSSL, a peer no one here wrote.
    #[test]
    fn sm2_certificates_and_signatures_from_openssl_verify() {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &str| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("openssl {args}"))
                .current_dir(dir.path())
                .output()
                .expect("openssl runs");
            assert!(
                out.status.success(),
                "openssl {args}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let id = "-sigopt distid:1234567812345678";
        run("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2 -out ca.key");
        run(&format!(
            "req -new -x509 -key ca.key -sm3 {id} -subj /O=org-a/CN=ca -days 10 -out ca.pem \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign"
        ));
        run("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2 -out u.key");
        run(&format!(
            "req -new -key u.key -sm3 {id} -subj /O=org-a/OU=admin/CN=alice -out u.csr"
        ));
        std::fs::write(
            dir.path().join("ext"),
            "keyUsage=digitalSignature\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        run(&format!(
            "x509 -req -in u.csr -CA ca.pem -CAkey ca.key -sm3 {id} -vfyopt distid:1234567812345678 \
             -days 5 -extfile ext -out u.pem"
        ));
        run("x509 -in u.pem -outform DER -out u.der");
        std::fs::write(dir.path().join("body"), "{\"a\":1}").unwrap();
        run(&format!("dgst -sm3 -sign u.key {id} -out sig body"));
        let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
        let v = Verifier::from_pem(&read("ca.pem")).unwrap();
        let tx = RawTx {
            body: "{\"a\":1}".into(),
            signatures: vec![(read("u.der"), read("sig"))],
        };
        let signers = v.verify_tx(&tx).unwrap();
        assert_eq!(signers[0].kind, KeyKind::Sm2);
        assert!(signers[0].admin);
        let mut forged = tx.clone();
        forged.body = "{\"a\":2}".into();
        assert_eq!(
            v.verify_tx(&forged).unwrap_err().code(),
            "SIGNATURE_INVALID"
        );
        // Another SM2 CA does not vouch for it.
        run(&format!(
            "req -new -x509 -key u.key -sm3 {id} -subj /O=org-a/CN=other -days 10 -out other.pem"
        ));
        let other = Verifier::from_pem(&read("other.pem")).unwrap();
        assert_eq!(
            other.verify_tx(&tx).unwrap_err().code(),
            "CERTIFICATE_UNTRUSTED"
        );
    }
}
