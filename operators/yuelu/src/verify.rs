//! Who signed a transaction: client certificates checked against the network's trust roots,
//! and their signatures: ECDSA P-256 with SHA-256 (checked with ring) or SM2 with SM3 (国密,
//! checked with the RustCrypto `sm2` crate under the GM/T 0009 default distinguishing ID).
//!
//! Trust roots are per organisation (`config/trust-roots.json`, [`TrustRoots`]): a member's
//! identity is the CA that issued a certificate, never what the certificate says about itself.
//! Any member's CA can write `O=<another member>` into a subject; none can sign under another
//! member's CA key. So a signer belongs to the members whose trust roots hold the CA key that
//! signed its certificate ([`Signer::orgs`]), and the subject's `O` is not read at all.
//!
//! Governance can add CAs to an organisation's trust roots on the chain
//! ([`Verifier::set_chain_roots`]): from the block after, every node accepts the certificates
//! they issue, and execution attributes them from the chain's registry (see
//! [`crate::state::approving_member`]), so all nodes agree at the same height whatever their
//! files say.

use crate::block::RawTx;
use crate::tx::TxError;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use x509_parser::prelude::*;
use yuelu_engine::{OrgName, TrustRoots};

/// A CA the node trusts.
#[derive(Clone, Debug)]
struct TrustedCa {
    /// DER of its subject name, matched against a certificate's issuer.
    subject: Vec<u8>,
    /// Its whole certificate (the SubjectPublicKeyInfo is parsed from it on use).
    der: Vec<u8>,
    /// [`RootCa::key`] of it.
    key: [u8; 32],
    /// The organisation whose trust roots list it; `None` for a CA of a plain CA bundle,
    /// which vouches for certificates without saying for whom.
    org: Option<OrgName>,
}

/// A CA certificate as an organisation's trust root: what the chain's registry records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootCa {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// SHA-256 of its SubjectPublicKeyInfo: what identifies the CA. A CA certificate issued
    /// again for the same key is the same CA: it verifies the same signatures.
    pub key: [u8; 32],
}

impl RootCa {
    /// Checks a DER certificate is a CA certificate (basic constraints `CA:TRUE`) and
    /// fingerprints its key.
    pub fn from_der(der: &[u8]) -> Result<RootCa, BundleError> {
        let (rest, cert) =
            parse_x509_certificate(der).map_err(|e| BundleError::Parse(e.to_string()))?;
        if !rest.is_empty() {
            return Err(BundleError::Parse(
                "trailing bytes after a certificate".into(),
            ));
        }
        if !cert.is_ca() {
            return Err(BundleError::NotACa(cert.subject().to_string()));
        }
        Ok(RootCa {
            der: der.to_vec(),
            key: Sha256::digest(cert.public_key().raw).into(),
        })
    }

    /// The CA certificates of a PEM bundle (other PEM blocks are skipped). At least one.
    pub fn from_pem_bundle(pem: &str) -> Result<Vec<RootCa>, BundleError> {
        let mut out = Vec::new();
        for block in Pem::iter_from_buffer(pem.as_bytes()) {
            let block = block.map_err(|e| BundleError::Parse(e.to_string()))?;
            if block.label == "CERTIFICATE" {
                out.push(RootCa::from_der(&block.contents)?);
            }
        }
        if out.is_empty() {
            return Err(BundleError::Parse("no PEM certificate".into()));
        }
        Ok(out)
    }
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

/// A client certificate issued by a trusted CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// The key's algorithm.
    pub kind: KeyKind,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo: the signer's identity for nonces.
    pub id: [u8; 32],
    /// The public key point (SEC1, uncompressed).
    pub point: Vec<u8>,
    /// [`RootCa::key`] of the trusted CA whose key signed the certificate: who issued it,
    /// whatever its issuer name and subject say. Execution looks it up in the chain's
    /// registry too.
    pub issuer_key: [u8; 32],
    /// The organisations whose trust roots in this node's trust-roots file hold that CA,
    /// sorted: one for a member's certificate; none for a CA only the chain records, or one
    /// from a plain CA bundle; several when members share a CA, and then the certificate is
    /// ambiguous and speaks for none of them. Never taken from the subject.
    pub orgs: Vec<OrgName>,
    /// Whether the subject has an organisational unit (OU) `admin`: an admin of the member
    /// whose CA issued it (that CA decides who its admins are).
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

/// Why trust roots or a CA bundle are unusable.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A PEM block or certificate does not parse.
    #[error("CA bundle: {0}")]
    Parse(String),
    /// A trust root is not a CA certificate: its key could otherwise vouch for anything.
    #[error("trust root {0} is not a CA certificate")]
    NotACa(String),
    /// An organisation's entry in the trust-roots file is unusable.
    #[error("trust roots of {org}: {source}")]
    Organisation {
        /// The organisation.
        org: OrgName,
        /// What is wrong with its bundle.
        source: Box<BundleError>,
    },
}

impl BundleError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::Parse(_) => "TRUST_ROOTS_UNPARSABLE",
            BundleError::NotACa(_) => "TRUST_ROOT_NOT_A_CA",
            BundleError::Organisation { source, .. } => source.code(),
        }
    }
}

/// The trusted CAs, with a cache of client certificates already checked.
#[derive(Clone, Debug, Default)]
pub struct Verifier {
    /// From this node's files (trust roots, or a plain CA bundle): fixed for the process.
    file: Arc<Vec<TrustedCa>>,
    /// Recorded on the chain by governance: replaced when a committed block changes them.
    chain: Arc<RwLock<Arc<Vec<TrustedCa>>>>,
    /// Bumped on every change of `chain`: refusals cached before it are stale.
    generation: Arc<AtomicU64>,
    cache: Arc<Mutex<SignerCache>>,
}

const CACHE_LIMIT: usize = 100_000;

/// Checked certificates by the SHA-256 of their DER, with the generation of the chain's
/// trust roots they were checked under. An accepted certificate stays accepted (trust roots
/// are only ever added, and what it says is fixed); a refusal may not be after an addition.
type SignerCache = HashMap<[u8; 32], (u64, Result<Arc<Signer>, TxError>)>;

impl Verifier {
    fn with_file(file: Vec<TrustedCa>) -> Verifier {
        Verifier {
            file: Arc::new(file),
            ..Verifier::default()
        }
    }

    /// A verifier trusting per-organisation trust roots (the `config/trust-roots.json` of a
    /// plan). Every certificate in them must parse and be a CA.
    pub fn from_trust_roots(roots: &TrustRoots) -> Result<Verifier, BundleError> {
        let mut file = Vec::new();
        for (org, pem) in &roots.0 {
            let cas = RootCa::from_pem_bundle(pem).map_err(|e| BundleError::Organisation {
                org: org.clone(),
                source: Box::new(e),
            })?;
            for ca in cas {
                file.push(trusted(&ca, Some(org.clone()))?);
            }
        }
        Ok(Verifier::with_file(file))
    }

    /// A verifier trusting the certificates of a plain PEM bundle (may be empty: then no
    /// client transaction is accepted), for nodes started without trust roots. Its
    /// certificates belong to no organisation, so they sign ordinary transactions but never
    /// count as a member's governance approval.
    pub fn from_pem(pem: &[u8]) -> Result<Verifier, BundleError> {
        let mut file = Vec::new();
        for block in Pem::iter_from_buffer(pem) {
            let block = block.map_err(|e| BundleError::Parse(e.to_string()))?;
            if block.label != "CERTIFICATE" {
                continue;
            }
            let (_, cert) = parse_x509_certificate(&block.contents)
                .map_err(|e| BundleError::Parse(e.to_string()))?;
            file.push(TrustedCa {
                subject: cert.subject().as_raw().to_vec(),
                der: block.contents.clone(),
                key: Sha256::digest(cert.public_key().raw).into(),
                org: None,
            });
        }
        Ok(Verifier::with_file(file))
    }

    /// How many CAs this node's files make it trust.
    pub fn ca_count(&self) -> usize {
        self.file.len()
    }

    /// The organisations this node's files give trust roots to.
    pub fn organisations(&self) -> BTreeSet<OrgName> {
        self.file.iter().filter_map(|c| c.org.clone()).collect()
    }

    /// Replaces the trust roots recorded on the chain (the registry after a committed block):
    /// certificates their CAs issued are accepted from now on. Cached refusals are forgotten.
    pub fn set_chain_roots(&self, roots: &BTreeMap<OrgName, Vec<RootCa>>) {
        let mut cas = Vec::new();
        for (org, list) in roots {
            for ca in list {
                // The registry only holds roots that parsed when they were recorded.
                if let Ok(t) = trusted(ca, Some(org.clone())) {
                    cas.push(t);
                }
            }
        }
        if let Ok(mut chain) = self.chain.write() {
            *chain = Arc::new(cas);
        }
        // After the swap: a check that read the old roots caches under the old generation.
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Checks a client certificate (cached by its hash): it is issued and signed by a trusted
    /// CA, is not a CA itself, and holds a P-256 or SM2 key. Validity times are left to the
    /// caller, which checks them against the time that matters (now, or the block's time).
    pub fn signer(&self, der: &[u8]) -> Result<Arc<Signer>, TxError> {
        let key: [u8; 32] = Sha256::digest(der).into();
        let generation = self.generation.load(Ordering::SeqCst);
        if let Ok(cache) = self.cache.lock()
            && let Some((at, hit)) = cache.get(&key)
            && (hit.is_ok() || *at == generation)
        {
            return hit.clone();
        }
        let result = self.check(der).map(Arc::new);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, (generation, result.clone()));
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
        let chain = self
            .chain
            .read()
            .map(|c| Arc::clone(&c))
            .unwrap_or_default();
        let mut issuer_key = None;
        for ca in self
            .file
            .iter()
            .chain(chain.iter())
            .filter(|ca| ca.subject == issuer)
        {
            let Ok((_, ca_cert)) = parse_x509_certificate(&ca.der) else {
                continue;
            };
            if certificate_signed_by(&cert, &ca_cert) {
                issuer_key = Some(ca.key);
                break;
            }
        }
        let Some(issuer_key) = issuer_key else {
            return Err(untrusted(
                "not issued by a CA among the network's trust roots (or its signature is wrong)",
            ));
        };
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
        // Every organisation whose roots hold the issuing CA's key, not only the entry that
        // matched first: a CA listed for two members must show up as ambiguous.
        let orgs: BTreeSet<OrgName> = self
            .file
            .iter()
            .filter(|ca| ca.key == issuer_key)
            .filter_map(|ca| ca.org.clone())
            .collect();
        let subject = cert.subject();
        let text = |a: &AttributeTypeAndValue<'_>| a.as_str().ok().map(str::to_string);
        let admin = subject
            .iter_organizational_unit()
            .filter_map(text)
            .any(|ou| ou.eq_ignore_ascii_case("admin"));
        Ok(Signer {
            kind,
            id: Sha256::digest(spki.raw).into(),
            point: spki.subject_public_key.data.to_vec(),
            issuer_key,
            orgs: orgs.into_iter().collect(),
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

/// A trusted CA entry for a root.
fn trusted(ca: &RootCa, org: Option<OrgName>) -> Result<TrustedCa, BundleError> {
    let (_, cert) =
        parse_x509_certificate(&ca.der).map_err(|e| BundleError::Parse(e.to_string()))?;
    Ok(TrustedCa {
        subject: cert.subject().as_raw().to_vec(),
        der: ca.der.clone(),
        key: ca.key,
        org,
    })
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
        ca_named("test CA")
    }

    fn ca_params(cn: &str) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        p
    }

    fn ca_named(cn: &str) -> (Issuer<'static, KeyPair>, String) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let p = ca_params(cn);
        let pem = p.self_signed(&key).unwrap().pem();
        (Issuer::new(p, key), pem)
    }

    fn client(issuer: &Issuer<'static, KeyPair>, admin: bool) -> (Vec<u8>, EcdsaKeyPair) {
        client_claiming(issuer, "org-a", admin)
    }

    /// A client whose subject claims organisation `o` (O=...), whatever CA issues it.
    fn client_claiming(
        issuer: &Issuer<'static, KeyPair>,
        o: &str,
        admin: bool,
    ) -> (Vec<u8>, EcdsaKeyPair) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, "alice");
        p.distinguished_name.push(DnType::OrganizationName, o);
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

    fn org(s: &str) -> OrgName {
        OrgName::new(s).unwrap()
    }

    fn roots(pairs: &[(&str, &str)]) -> TrustRoots {
        TrustRoots(
            pairs
                .iter()
                .map(|(o, pem)| (org(o), pem.to_string()))
                .collect(),
        )
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
        // A plain CA bundle vouches for the certificate but for no organisation: its subject
        // says O=org-a, which is not read.
        assert!(signers[0].orgs.is_empty());
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

    #[test]
    fn the_issuing_ca_names_the_organisation_not_the_subject() {
        let (ca_a, pem_a) = ca_named("org-a CA");
        let (ca_b, pem_b) = ca_named("org-b CA");
        let v =
            Verifier::from_trust_roots(&roots(&[("org-a", &pem_a), ("org-b", &pem_b)])).unwrap();
        assert_eq!(v.ca_count(), 2);
        assert_eq!(
            v.organisations(),
            BTreeSet::from([org("org-a"), org("org-b")])
        );
        // Org A's CA writes O=org-b into an admin certificate: it is still org A's.
        let (forged, kp) = client_claiming(&ca_a, "org-b", true);
        let s = &v.verify_tx(&signed("{}", &forged, &kp)).unwrap()[0];
        assert_eq!(s.orgs, [org("org-a")]);
        assert!(s.admin);
        // Org B's CA with a display name as O (as the platform CA writes it) is org B's.
        let (real, kp) = client_claiming(&ca_b, "长沙链上科技有限公司", true);
        let s = &v.verify_tx(&signed("{}", &real, &kp)).unwrap()[0];
        assert_eq!(s.orgs, [org("org-b")]);
        // A CA of no member's roots, even with a member CA's name, vouches for nothing.
        let (imposter, _) = ca_named("org-a CA");
        let (der, kp) = client_claiming(&imposter, "org-a", true);
        assert_eq!(
            v.verify_tx(&signed("{}", &der, &kp)).unwrap_err().code(),
            "CERTIFICATE_UNTRUSTED"
        );
    }

    #[test]
    fn a_ca_in_two_organisations_roots_is_ambiguous() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key_pem = key.serialize_pem();
        let params = ca_params("shared CA");
        let pem = params.self_signed(&key).unwrap().pem();
        // The same CA key under another certificate (a later serial): still the same CA.
        let again = KeyPair::from_pem(&key_pem).unwrap();
        let reissued = ca_params("shared CA").self_signed(&again).unwrap().pem();
        assert_ne!(pem, reissued);
        let issuer = Issuer::new(params, key);
        let (der, kp) = client_claiming(&issuer, "org-a", true);
        for (a, b) in [(&pem, &pem), (&pem, &reissued)] {
            let v = Verifier::from_trust_roots(&roots(&[("org-a", a), ("org-b", b)])).unwrap();
            // Ordinary transactions still verify; for governance the certificate is both
            // organisations' at once, which execution refuses to count for either.
            let s = &v.verify_tx(&signed("{}", &der, &kp)).unwrap()[0];
            assert_eq!(s.orgs, [org("org-a"), org("org-b")]);
        }
    }

    #[test]
    fn trust_roots_must_be_parsable_ca_certificates() {
        let (ca_a, pem_a) = ca_named("org-a CA");
        let leaf = {
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(DnType::CommonName, "not a CA");
            p.signed_by(&key, &ca_a).unwrap().pem()
        };
        let err =
            Verifier::from_trust_roots(&roots(&[("org-a", &pem_a), ("org-b", &leaf)])).unwrap_err();
        assert_eq!(err.code(), "TRUST_ROOT_NOT_A_CA");
        assert!(err.to_string().contains("org-b"), "{err}");
        for junk in [
            "",
            "no pem here",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let err = Verifier::from_trust_roots(&roots(&[("org-b", junk)])).unwrap_err();
            assert_eq!(err.code(), "TRUST_ROOTS_UNPARSABLE", "{junk:?}");
        }
        assert!(RootCa::from_pem_bundle(&leaf).is_err());
        let root = &RootCa::from_pem_bundle(&pem_a).unwrap()[0];
        assert_eq!(RootCa::from_der(&root.der).unwrap(), *root);
    }

    #[test]
    fn roots_recorded_on_chain_are_trusted_from_when_they_are_set() {
        let (_, pem_a) = ca_named("org-a CA");
        let (ca_c, pem_c) = ca_named("org-c CA");
        let v = Verifier::from_trust_roots(&roots(&[("org-a", &pem_a)])).unwrap();
        let (der, kp) = client_claiming(&ca_c, "org-c", true);
        let tx = signed("{}", &der, &kp);
        // Refused, and the refusal is cached...
        assert_eq!(
            v.verify_tx(&tx).unwrap_err().code(),
            "CERTIFICATE_UNTRUSTED"
        );
        assert_eq!(
            v.verify_tx(&tx).unwrap_err().code(),
            "CERTIFICATE_UNTRUSTED"
        );
        // ...until the chain records org C's CA.
        let c = RootCa::from_pem_bundle(&pem_c).unwrap();
        v.set_chain_roots(&BTreeMap::from([(org("org-c"), c.clone())]));
        let s = &v.verify_tx(&tx).unwrap()[0];
        // Who issued it is the chain's business at execution; the files name no one.
        assert_eq!(s.issuer_key, c[0].key);
        assert!(s.orgs.is_empty());
        assert_eq!(v.ca_count(), 1);
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
