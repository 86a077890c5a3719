//! The replicated state and the deterministic execution of a block's transactions.
//!
//! Every accepted state change appends one leaf to the state log; the log's RFC 6962 root is
//! the block's state root. A notarization's inclusion proof is its leaf's audit path.

use crate::block::RawTx;
use crate::merkle::{self, Frontier, Hash, NodeKey};
use crate::tx::{TxBody, TxError, TxId, TxKind, admin_quorum};
use crate::verify::{RootCa, Signer};
use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use yuelu_engine::{ChainId, NodeIdentity, NodeName, NodeRole, OrgName, TrustRoots};

/// What happened to a committed transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Receipt {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// `OK`, or the stable error code of why it changed nothing.
    pub code: String,
    /// Human-readable detail for failures.
    pub message: String,
    /// The state-log leaf it appended, if it changed state.
    pub leaf: Option<u64>,
    /// The transaction's kind.
    pub kind: String,
}

/// A notarization.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NotaryRecord {
    /// The notarizing transaction.
    pub tx_id: [u8; 32],
    /// Block height.
    pub height: u64,
    /// State-log leaf index.
    pub leaf: u64,
    /// Who notarized (certificate subject).
    pub signer: String,
    /// SHA-256 of the signer's public key info.
    pub signer_id: [u8; 32],
    /// Metadata, JSON text.
    pub metadata: String,
    /// Block time, Unix ms.
    pub time_unix_ms: u64,
}

/// One event in an item's history.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TraceRecord {
    /// The transaction.
    pub tx_id: [u8; 32],
    /// Block height.
    pub height: u64,
    /// State-log leaf index.
    pub leaf: u64,
    /// Position in the item's history, from 0.
    pub seq: u64,
    /// The event, JSON text.
    pub event: String,
    /// Who appended it.
    pub signer: String,
    /// Block time, Unix ms.
    pub time_unix_ms: u64,
}

/// A key's current value.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct KvRecord {
    /// The value.
    pub value: String,
    /// The transaction that set it.
    pub tx_id: [u8; 32],
    /// Block height.
    pub height: u64,
    /// How many times the key was set.
    pub version: u64,
}

/// Leaf data of a notarization. Public so that anyone can recompute the leaf of a proof:
/// `"yuelu/notarize/v1" 0x00 | len(hash) as u8 | hash | tx id (32) | signer id (32)`.
pub fn notarize_leaf(hash: &[u8], tx_id: &[u8; 32], signer_id: &[u8; 32]) -> Vec<u8> {
    let mut d = b"yuelu/notarize/v1\0".to_vec();
    d.push(hash.len() as u8);
    d.extend_from_slice(hash);
    d.extend_from_slice(tx_id);
    d.extend_from_slice(signer_id);
    d
}

fn trace_leaf(item: &str, seq: u64, tx_id: &[u8; 32], event: &str) -> Vec<u8> {
    let mut d = b"yuelu/trace/v1\0".to_vec();
    d.extend_from_slice(&(item.len() as u32).to_be_bytes());
    d.extend_from_slice(item.as_bytes());
    d.extend_from_slice(&seq.to_be_bytes());
    d.extend_from_slice(tx_id);
    d.extend_from_slice(&Sha256::digest(event.as_bytes()));
    d
}

fn put_leaf(ns: &str, key: &str, value: &str, tx_id: &[u8; 32]) -> Vec<u8> {
    let mut d = b"yuelu/put/v1\0".to_vec();
    for part in [ns, key] {
        d.extend_from_slice(&(part.len() as u32).to_be_bytes());
        d.extend_from_slice(part.as_bytes());
    }
    d.extend_from_slice(&Sha256::digest(value.as_bytes()));
    d.extend_from_slice(tx_id);
    d
}

fn governance_leaf(tx_id: &[u8; 32]) -> Vec<u8> {
    let mut d = b"yuelu/governance/v1\0".to_vec();
    d.extend_from_slice(tx_id);
    d
}

/// The key of a (signer, nonce) pair in the nonce table.
pub fn nonce_key(signer: &[u8; 32], nonce: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(signer);
    k[32..].copy_from_slice(&nonce.to_be_bytes());
    k
}

/// The key of a (namespace, key) pair in the key-value table.
pub fn kv_key(ns: &str, key: &str) -> Vec<u8> {
    let mut k = ns.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The registered nodes: who may connect, and who votes. Part of the replicated state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    /// Registered nodes by name.
    pub nodes: BTreeMap<NodeName, NodeIdentity>,
    /// Peer ids removed by governance: refused even if a local config still lists them.
    pub revoked: BTreeSet<String>,
    /// Names removed by governance. Observers are registered by the plan (each node's
    /// config), not at genesis, so removing one revokes its name there.
    pub revoked_names: BTreeSet<NodeName>,
    /// CA certificates governance recorded as organisations' trust roots, in addition to
    /// those of the nodes' trust-roots files (which cover the founding members): how an
    /// organisation that joins later gets its CAs trusted by every node at the same height.
    pub trust_roots: BTreeMap<OrgName, Vec<RootCa>>,
}

impl Registry {
    /// The registry at genesis.
    pub fn from_genesis(validators: &[NodeIdentity]) -> Registry {
        Registry {
            nodes: validators
                .iter()
                .map(|v| (v.node.clone(), v.clone()))
                .collect(),
            ..Registry::default()
        }
    }

    /// Validators, sorted by name.
    pub fn validators(&self) -> impl Iterator<Item = &NodeIdentity> {
        self.nodes
            .values()
            .filter(|n| n.role == NodeRole::Validator && n.voting_power > 0)
    }

    /// Whether `me` and the validators among `peers` (peer ids) hold more than two thirds of
    /// the voting power; with the reachable and the total power.
    pub fn quorum_with(&self, me: &NodeName, peers: &HashSet<String>) -> (bool, u64, u64) {
        let (mut total, mut reachable) = (0u64, 0u64);
        for v in self.validators() {
            total += v.voting_power;
            if &v.node == me || peers.contains(&v.peer_id.0) {
                reachable += v.voting_power;
            }
        }
        (total > 0 && reachable * 3 > total * 2, reachable, total)
    }

    /// Organisations running validators: the members whose admins govern.
    pub fn member_orgs(&self) -> BTreeSet<OrgName> {
        self.validators().map(|n| n.org.clone()).collect()
    }

    /// The organisations whose trust roots on the chain hold the CA key `issuer_key`.
    pub fn orgs_trusting<'a>(
        &'a self,
        issuer_key: &'a [u8; 32],
    ) -> impl Iterator<Item = &'a OrgName> + 'a {
        self.trust_roots
            .iter()
            .filter(move |(_, cas)| cas.iter().any(|c| &c.key == issuer_key))
            .map(|(org, _)| org)
    }

    /// Applies a governance change, or explains why it cannot apply.
    fn apply(
        &mut self,
        add: &[NodeIdentity],
        remove: &[NodeName],
        trust_roots: &TrustRoots,
    ) -> Result<(), TxError> {
        let mut next = self.clone();
        for (org, pem) in &trust_roots.0 {
            let cas = RootCa::from_pem_bundle(pem)
                .map_err(|e| TxError::Governance(format!("trust roots of {org}: {e}")))?;
            for ca in cas {
                // One CA for two organisations would make every certificate it issued speak
                // for neither: refused rather than recorded.
                if let Some(other) = next.orgs_trusting(&ca.key).find(|o| *o != org) {
                    return Err(TxError::Governance(format!(
                        "a CA in the trust roots of {org} is already a trust root of {other}"
                    )));
                }
                let list = next.trust_roots.entry(org.clone()).or_default();
                if !list.iter().any(|c| c.key == ca.key) {
                    list.push(ca);
                }
            }
        }
        for r in remove {
            if next.revoked_names.contains(r) {
                return Err(TxError::Governance(format!("{r} is already removed")));
            }
            if let Some(gone) = next.nodes.remove(r) {
                next.revoked.insert(gone.peer_id.0.clone());
            }
            next.revoked_names.insert(r.clone());
        }
        for a in add {
            if next.nodes.contains_key(&a.node) {
                return Err(TxError::Governance(format!(
                    "{} is already registered",
                    a.node
                )));
            }
            if next.revoked.contains(&a.peer_id.0) {
                return Err(TxError::Governance(format!(
                    "{} uses a revoked key; register a new key",
                    a.node
                )));
            }
            next.revoked_names.remove(&a.node);
            next.nodes.insert(a.node.clone(), a.clone());
        }
        let all: Vec<NodeIdentity> = next.nodes.values().cloned().collect();
        crate::genesis::check_identities(&all, false)
            .map_err(|e| TxError::Governance(e.to_string()))?;
        if next.validators().next().is_none() {
            return Err(TxError::Governance(
                "the last validator cannot be removed".into(),
            ));
        }
        *self = next;
        Ok(())
    }
}

/// Read access to the committed state that execution needs.
pub trait StateView {
    /// Whether a transaction with this id took effect (a failed one may be submitted again).
    fn tx_committed(&self, id: &TxId) -> Result<bool, String>;
    /// Whether a (signer, nonce) pair is used.
    fn nonce_used(&self, key: &[u8; 40]) -> Result<bool, String>;
    /// Whether a hash is notarized.
    fn notarized(&self, hash: &[u8]) -> Result<bool, String>;
    /// Length of an item's history.
    fn trace_len(&self, item: &str) -> Result<u64, String>;
    /// Current version of a key (0 if never set).
    fn kv_version(&self, key: &[u8]) -> Result<u64, String>;
}

/// A transaction with its checked signers, ready to execute.
#[derive(Clone, Debug)]
pub struct CheckedTx {
    /// The transaction.
    pub raw: RawTx,
    /// Its id.
    pub id: TxId,
    /// Signers, in signature order (already verified).
    pub signers: Vec<Arc<Signer>>,
    /// The body as parsed for this chain when the signatures were checked, if it parsed:
    /// execution then does not parse it again. `None` makes execution parse it (and record
    /// why it does not parse). Parsing is deterministic, so either way executes alike.
    pub body: Option<Arc<TxBody>>,
}

impl CheckedTx {
    /// A checked transaction, its body parsed for `chain` if it parses.
    pub fn new(raw: RawTx, id: TxId, signers: Vec<Arc<Signer>>, chain: &ChainId) -> CheckedTx {
        let body = TxBody::parse(&raw.body, chain).ok().map(Arc::new);
        CheckedTx {
            raw,
            id,
            signers,
            body,
        }
    }
}

/// The result of executing a block: everything to write when it commits.
#[derive(Clone, Debug, Default)]
pub struct Executed {
    /// Receipts, in block order.
    pub receipts: Vec<(TxId, Receipt)>,
    /// Used nonces.
    pub nonces: Vec<([u8; 40], TxId)>,
    /// New notarizations by hash.
    pub notary: Vec<(Vec<u8>, NotaryRecord)>,
    /// New trace events by (item, seq).
    pub traces: Vec<(String, TraceRecord)>,
    /// New item history lengths.
    pub trace_lens: HashMap<String, u64>,
    /// Key-value writes.
    pub kv: Vec<(Vec<u8>, KvRecord)>,
    /// New Merkle nodes.
    pub nodes: Vec<(NodeKey, Hash)>,
    /// The state log after the block.
    pub frontier: Frontier,
    /// The registry after the block, if governance changed it.
    pub registry: Option<Registry>,
}

impl Executed {
    /// The state root after the block.
    pub fn state_root(&self) -> Hash {
        self.frontier.root()
    }
}

/// Executes a block's transactions on top of the committed state. Deterministic: the same
/// state, block time and transactions give the same result on every node. A transaction that
/// cannot apply (replayed nonce, hash already notarized, expired certificate...) gets a failed
/// receipt and changes nothing.
pub fn execute<V: StateView, T: std::borrow::Borrow<CheckedTx>>(
    view: &V,
    chain: &ChainId,
    registry: &Registry,
    frontier: &Frontier,
    height: u64,
    time_unix_ms: u64,
    txs: &[T],
) -> Result<Executed, String> {
    let mut out = Executed {
        frontier: frontier.clone(),
        ..Executed::default()
    };
    let mut seen_ids = HashSet::new();
    let mut seen_nonces = HashSet::new();
    let mut seen_hashes = HashSet::new();
    let mut kv_versions: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut reg = registry.clone();
    let mut reg_changed = false;
    for (index, tx) in txs.iter().enumerate() {
        let tx: &CheckedTx = tx.borrow();
        let index = u32::try_from(index).map_err(|e| e.to_string())?;
        let parsed;
        let body = match &tx.body {
            Some(b) => Ok(&**b),
            None => {
                parsed = TxBody::parse(&tx.raw.body, chain);
                parsed.as_ref().map_err(Clone::clone)
            }
        };
        let kind = body
            .as_ref()
            .map(|b| b.kind.name().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let result = apply_one(
            view,
            body,
            &mut reg,
            &mut out,
            &mut seen_ids,
            &mut seen_nonces,
            &mut seen_hashes,
            &mut kv_versions,
            height,
            time_unix_ms,
            tx,
        )?;
        let receipt = match result {
            Ok((leaf_data, governance)) => {
                reg_changed |= governance;
                let leaf = out.frontier.size();
                out.nodes
                    .extend(out.frontier.push(merkle::leaf_hash(&leaf_data)));
                Receipt {
                    height,
                    index,
                    code: "OK".into(),
                    message: String::new(),
                    leaf: Some(leaf),
                    kind,
                }
            }
            Err(e) => Receipt {
                height,
                index,
                code: e.code().into(),
                message: e.to_string(),
                leaf: None,
                kind,
            },
        };
        // A duplicate within the block has no receipt of its own: the first one's stands.
        if seen_ids.insert(tx.id) {
            out.receipts.push((tx.id, receipt));
        }
    }
    if reg_changed {
        out.registry = Some(reg);
    }
    Ok(out)
}

type Applied = Result<(Vec<u8>, bool), TxError>;

#[allow(clippy::too_many_arguments)]
fn apply_one<V: StateView>(
    view: &V,
    body: Result<&TxBody, TxError>,
    reg: &mut Registry,
    out: &mut Executed,
    seen_ids: &mut HashSet<TxId>,
    seen_nonces: &mut HashSet<[u8; 40]>,
    seen_hashes: &mut HashSet<Vec<u8>>,
    kv_versions: &mut HashMap<Vec<u8>, u64>,
    height: u64,
    time: u64,
    tx: &CheckedTx,
) -> Result<Applied, String> {
    let body = match body {
        Ok(b) => b,
        Err(e) => return Ok(Err(e)),
    };
    if seen_ids.contains(&tx.id) || view.tx_committed(&tx.id)? {
        return Ok(Err(TxError::Duplicate(tx.id.to_string())));
    }
    let Some(first) = tx.signers.first() else {
        return Ok(Err(TxError::Malformed("no signature".into())));
    };
    for s in &tx.signers {
        if !s.valid_at(time) {
            return Ok(Err(TxError::CertificateUntrusted(format!(
                "certificate of {} is not valid at the block time",
                s.subject
            ))));
        }
    }
    let nk = nonce_key(&first.id, body.nonce);
    if seen_nonces.contains(&nk) || view.nonce_used(&nk)? {
        return Ok(Err(TxError::NonceReplayed { nonce: body.nonce }));
    }
    let tx_id = tx.id.0;
    let (leaf, governance) = match &body.kind {
        TxKind::Governance { .. } if tx.signers.len() > 1 || first.admin => {
            match governance(reg, &body.kind, &tx.signers) {
                Ok(()) => (governance_leaf(&tx_id), true),
                Err(e) => return Ok(Err(e)),
            }
        }
        TxKind::Governance { .. } => {
            return Ok(Err(TxError::Governance(
                "must be signed by member admins".into(),
            )));
        }
        _ if tx.signers.len() != 1 => {
            return Ok(Err(TxError::Malformed(
                "ordinary transactions carry exactly one signature".into(),
            )));
        }
        TxKind::Notarize { hash, metadata } => {
            let bytes = hex::decode(hash).map_err(|e| e.to_string())?;
            if seen_hashes.contains(&bytes) || view.notarized(&bytes)? {
                return Ok(Err(TxError::AlreadyNotarized(hash.clone())));
            }
            let leaf = out.frontier.size();
            out.notary.push((
                bytes.clone(),
                NotaryRecord {
                    tx_id,
                    height,
                    leaf,
                    signer: first.subject.clone(),
                    signer_id: first.id,
                    // The same text as `Value::Object(metadata).to_string()`, without a copy.
                    metadata: serde_json::to_string(metadata).map_err(|e| e.to_string())?,
                    time_unix_ms: time,
                },
            ));
            seen_hashes.insert(bytes.clone());
            (notarize_leaf(&bytes, &tx_id, &first.id), false)
        }
        TxKind::Trace { item, event } => {
            let seq = match out.trace_lens.get(item) {
                Some(n) => *n,
                None => view.trace_len(item)?,
            };
            let event = event.to_string();
            out.traces.push((
                item.clone(),
                TraceRecord {
                    tx_id,
                    height,
                    leaf: out.frontier.size(),
                    seq,
                    event: event.clone(),
                    signer: first.subject.clone(),
                    time_unix_ms: time,
                },
            ));
            out.trace_lens.insert(item.clone(), seq + 1);
            (trace_leaf(item, seq, &tx_id, &event), false)
        }
        TxKind::Put {
            namespace,
            key,
            value,
        } => {
            let k = kv_key(namespace, key);
            let version = match kv_versions.get(&k) {
                Some(v) => *v,
                None => view.kv_version(&k)?,
            } + 1;
            kv_versions.insert(k.clone(), version);
            out.kv.push((
                k,
                KvRecord {
                    value: value.clone(),
                    tx_id,
                    height,
                    version,
                },
            ));
            (put_leaf(namespace, key, value, &tx_id), false)
        }
    };
    seen_nonces.insert(nk);
    out.nonces.push((nk, tx.id));
    Ok(Ok((leaf, governance)))
}

/// The member organisation an admin signer approves for, or why it counts for none.
///
/// A signer belongs to the organisations whose trust roots hold the CA key that signed its
/// certificate: those of this node's trust-roots file (already in [`Signer::orgs`]) and those
/// recorded on the chain. Never to what its subject claims: any member's CA can write any
/// subject. A CA in two organisations' roots makes its certificates speak for neither.
pub fn approving_member(signer: &Signer, reg: &Registry) -> Result<OrgName, String> {
    if !signer.admin {
        return Err(format!("{} is not an admin (no OU=admin)", signer.subject));
    }
    let mut orgs: BTreeSet<&OrgName> = signer.orgs.iter().collect();
    orgs.extend(reg.orgs_trusting(&signer.issuer_key));
    let mut it = orgs.into_iter();
    match (it.next(), it.next()) {
        (None, _) => Err(format!(
            "{} is issued by a CA in no organisation's trust roots",
            signer.subject
        )),
        (Some(org), None) => {
            if reg.member_orgs().contains(org) {
                Ok(org.clone())
            } else {
                Err(format!(
                    "{} is an admin of {org}, which runs no validator",
                    signer.subject
                ))
            }
        }
        (Some(a), Some(b)) => {
            let all: Vec<String> = [a, b]
                .into_iter()
                .chain(it)
                .map(|o| o.to_string())
                .collect();
            Err(format!(
                "{} is ambiguous: its CA is a trust root of {}, so it approves for none of them",
                signer.subject,
                all.join(" and ")
            ))
        }
    }
}

/// Checks approvals and applies a governance change to `reg`.
fn governance(reg: &mut Registry, kind: &TxKind, signers: &[Arc<Signer>]) -> Result<(), TxError> {
    let TxKind::Governance {
        add,
        remove,
        trust_roots,
    } = kind
    else {
        return Err(TxError::Governance("not a governance transaction".into()));
    };
    let members = reg.member_orgs();
    let mut approving: BTreeSet<OrgName> = BTreeSet::new();
    let mut not_counted: Vec<String> = Vec::new();
    for s in signers {
        match approving_member(s, reg) {
            Ok(org) => {
                approving.insert(org);
            }
            Err(why) => not_counted.push(why),
        }
    }
    let need = admin_quorum(members.len());
    if approving.len() < need {
        let names: Vec<&str> = approving.iter().map(OrgName::as_str).collect();
        let mut message = format!(
            "approved by admins of {} member organisations [{}], {need} needed",
            approving.len(),
            names.join(", ")
        );
        if !not_counted.is_empty() {
            message.push_str("; not counted: ");
            message.push_str(&not_counted.join("; "));
        }
        return Err(TxError::Governance(message));
    }
    reg.apply(add, remove, trust_roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::NodeKey;
    use yuelu_engine::OrgName;

    #[derive(Default)]
    struct Empty;
    impl StateView for Empty {
        fn tx_committed(&self, _: &TxId) -> Result<bool, String> {
            Ok(false)
        }
        fn nonce_used(&self, _: &[u8; 40]) -> Result<bool, String> {
            Ok(false)
        }
        fn notarized(&self, _: &[u8]) -> Result<bool, String> {
            Ok(false)
        }
        fn trace_len(&self, _: &str) -> Result<u64, String> {
            Ok(0)
        }
        fn kv_version(&self, _: &[u8]) -> Result<u64, String> {
            Ok(0)
        }
    }

    /// A signer as the verifier reports one whose certificate `org`'s CA issued (the subject
    /// claims the same organisation, which nothing reads).
    fn signer(n: u8, org: &str, admin: bool) -> Arc<Signer> {
        signer_of(n, &[org], admin)
    }

    fn signer_of(n: u8, orgs: &[&str], admin: bool) -> Arc<Signer> {
        Arc::new(Signer {
            kind: crate::verify::KeyKind::P256,
            id: [n; 32],
            point: vec![],
            issuer_key: Sha256::digest(orgs.join("+")).into(),
            orgs: orgs.iter().map(|o| OrgName::new(*o).unwrap()).collect(),
            admin,
            subject: format!("CN=s{n},O={}", orgs.join("+")),
            not_before: 0,
            not_after: i64::MAX,
        })
    }

    fn tx(body: &str, signers: Vec<Arc<Signer>>) -> CheckedTx {
        let raw = RawTx {
            body: body.into(),
            signatures: signers.iter().map(|_| (vec![], vec![])).collect(),
        };
        CheckedTx {
            id: raw.id(),
            raw,
            signers,
            body: None,
        }
    }

    fn identity(name: &str, org: &str, role: NodeRole) -> NodeIdentity {
        let k = NodeKey::generate();
        NodeIdentity {
            node: NodeName::new(name).unwrap(),
            org: OrgName::new(org).unwrap(),
            role,
            consensus_key: k.public_key(),
            peer_id: k.peer_id().unwrap(),
            voting_power: if role == NodeRole::Validator { 1 } else { 0 },
        }
    }

    const H: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn replays_and_double_notarizations_fail_without_changing_state() {
        let chain = ChainId::new("c").unwrap();
        let a = signer(1, "org-a", false);
        let notarize = |nonce: u64| {
            format!(r#"{{"chainId":"c","nonce":{nonce},"kind":"notarize","hash":"{H}"}}"#)
        };
        let put = r#"{"chainId":"c","nonce":1,"kind":"put","namespace":"n","key":"k","value":"v"}"#;
        let txs = vec![
            tx(&notarize(1), vec![a.clone()]),
            tx(put, vec![a.clone()]), // same signer and nonce: replay
            tx(&notarize(2), vec![a.clone()]), // same hash again
            tx(&notarize(1), vec![a.clone()]), // exact duplicate
            tx(
                r#"{"chainId":"c","nonce":3,"kind":"trace","item":"i","event":{"e":1}}"#,
                vec![a.clone()],
            ),
            tx(
                r#"{"chainId":"c","nonce":4,"kind":"trace","item":"i","event":{"e":2}}"#,
                vec![a.clone()],
            ),
        ];
        let ex = execute(
            &Empty,
            &chain,
            &Registry::default(),
            &Frontier::default(),
            1,
            0,
            &txs,
        )
        .unwrap();
        let codes: Vec<&str> = ex.receipts.iter().map(|(_, r)| r.code.as_str()).collect();
        assert_eq!(
            codes,
            ["OK", "NONCE_REPLAYED", "ALREADY_NOTARIZED", "OK", "OK"]
        );
        assert_eq!(ex.frontier.size(), 3);
        assert_eq!(ex.notary.len(), 1);
        assert_eq!(
            ex.traces.iter().map(|(_, t)| t.seq).collect::<Vec<_>>(),
            [0, 1]
        );
        assert!(ex.kv.is_empty());
        // Deterministic.
        let again = execute(
            &Empty,
            &chain,
            &Registry::default(),
            &Frontier::default(),
            1,
            0,
            &txs,
        )
        .unwrap();
        assert_eq!(again.state_root(), ex.state_root());
        assert_eq!(ex.notary[0].1.leaf, 0);
        // Bodies parsed beforehand (as the pool keeps them) execute exactly alike.
        let parsed: Vec<CheckedTx> = txs
            .iter()
            .map(|t| CheckedTx::new(t.raw.clone(), t.id, t.signers.clone(), &chain))
            .collect();
        assert!(parsed.iter().all(|t| t.body.is_some()));
        let pre = execute(
            &Empty,
            &chain,
            &Registry::default(),
            &Frontier::default(),
            1,
            0,
            &parsed,
        )
        .unwrap();
        assert_eq!(pre.state_root(), ex.state_root());
        assert_eq!(pre.receipts, ex.receipts);
        assert_eq!(pre.notary, ex.notary);
        assert_eq!(pre.traces, ex.traces);
    }

    #[test]
    fn governance_needs_a_quorum_of_member_admins() {
        let chain = ChainId::new("c").unwrap();
        let reg = Registry::from_genesis(&[
            identity("v0", "org-a", NodeRole::Validator),
            identity("v1", "org-b", NodeRole::Validator),
            identity("v2", "org-c", NodeRole::Validator),
        ]);
        let newcomer = identity("v3", "org-c", NodeRole::Validator);
        let body = serde_json::json!({
            "chainId": "c", "nonce": 7, "kind": "governance",
            "add": [newcomer], "remove": ["v0"],
        })
        .to_string();
        let run = |signers: Vec<Arc<Signer>>| {
            execute(
                &Empty,
                &chain,
                &reg,
                &Frontier::default(),
                1,
                0,
                &[tx(&body, signers)],
            )
            .unwrap()
        };
        // Three member orgs: three approvals needed (more than two thirds).
        let two = run(vec![signer(1, "org-a", true), signer(2, "org-b", true)]);
        assert_eq!(two.receipts[0].1.code, "GOVERNANCE_REJECTED");
        assert!(two.registry.is_none());
        // Admins of the same org, or non-admins, or strangers do not count twice.
        let padded = run(vec![
            signer(1, "org-a", true),
            signer(2, "org-b", true),
            signer(3, "org-b", true),
            signer(4, "org-c", false),
            signer(5, "org-x", true),
        ]);
        assert_eq!(padded.receipts[0].1.code, "GOVERNANCE_REJECTED");
        let ok = run(vec![
            signer(1, "org-a", true),
            signer(2, "org-b", true),
            signer(3, "org-c", true),
        ]);
        assert_eq!(ok.receipts[0].1.code, "OK");
        let after = ok.registry.unwrap();
        let names: Vec<_> = after.validators().map(|v| v.node.as_str()).collect();
        assert_eq!(names, ["v1", "v2", "v3"]);
        assert_eq!(after.revoked.len(), 1);
        assert!(after.revoked_names.iter().any(|n| n.as_str() == "v0"));
        // A certificate whose CA is in two organisations' roots approves for neither.
        let shared = run(vec![
            signer(1, "org-a", true),
            signer(2, "org-b", true),
            signer_of(3, &["org-b", "org-c"], true),
        ]);
        let r = &shared.receipts[0].1;
        assert_eq!(r.code, "GOVERNANCE_REJECTED");
        assert!(r.message.contains("ambiguous"), "{}", r.message);
        assert!(r.message.contains("org-b and org-c"), "{}", r.message);
        // Removing twice is refused.
        let twice = execute(
            &Empty,
            &chain,
            &after,
            &Frontier::default(),
            2,
            0,
            &[tx(
                &body,
                vec![
                    signer(1, "org-a", true),
                    signer(2, "org-b", true),
                    signer(3, "org-c", true),
                ],
            )],
        )
        .unwrap();
        assert_eq!(twice.receipts[0].1.code, "GOVERNANCE_REJECTED");
    }

    /// Real certificates through the real verifier: what a member's CA can and cannot do.
    mod certificates {
        use super::*;
        use crate::verify::Verifier;
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
        use yuelu_engine::TrustRoots;

        pub struct Ca {
            issuer: Issuer<'static, KeyPair>,
            pub pem: String,
        }

        impl Ca {
            pub fn new(cn: &str) -> Ca {
                let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
                let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
                p.distinguished_name.push(DnType::CommonName, cn);
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
                let pem = p.self_signed(&key).unwrap().pem();
                Ca {
                    issuer: Issuer::new(p, key),
                    pem,
                }
            }

            /// An admin certificate (`OU=admin`) whose subject claims organisation `o`.
            pub fn admin(&self, o: &str) -> (Vec<u8>, EcdsaKeyPair) {
                let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
                let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
                p.distinguished_name.push(DnType::CountryName, "CN");
                p.distinguished_name.push(DnType::OrganizationName, o);
                p.distinguished_name
                    .push(DnType::OrganizationalUnitName, "admin");
                p.distinguished_name.push(DnType::CommonName, "admin");
                p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                let der = p.signed_by(&key, &self.issuer).unwrap().der().to_vec();
                let kp = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_ASN1_SIGNING,
                    &key.serialize_der(),
                    &ring::rand::SystemRandom::new(),
                )
                .unwrap();
                (der, kp)
            }
        }

        fn roots(pairs: &[(&str, &Ca)]) -> TrustRoots {
            TrustRoots(
                pairs
                    .iter()
                    .map(|(o, ca)| (OrgName::new(*o).unwrap(), ca.pem.clone()))
                    .collect(),
            )
        }

        /// A transaction signed by each of `by`, checked by `v` as a node checks blocks.
        fn signed(v: &Verifier, body: &str, by: &[&(Vec<u8>, EcdsaKeyPair)]) -> CheckedTx {
            let rng = ring::rand::SystemRandom::new();
            let raw = RawTx {
                body: body.into(),
                signatures: by
                    .iter()
                    .map(|(der, kp)| {
                        let sig = kp.sign(&rng, body.as_bytes()).unwrap();
                        (der.clone(), sig.as_ref().to_vec())
                    })
                    .collect(),
            };
            CheckedTx {
                id: raw.id(),
                signers: v.verify_tx(&raw).unwrap(),
                raw,
                body: None,
            }
        }

        fn run(reg: &Registry, tx: CheckedTx) -> Executed {
            let chain = ChainId::new("c").unwrap();
            // A block of now: the certificates are valid from their issuance on.
            let now = crate::chain::now_ms();
            execute(&Empty, &chain, reg, &Frontier::default(), 1, now, &[tx]).unwrap()
        }

        fn body(nonce: u64, change: serde_json::Value) -> String {
            let mut b = serde_json::json!({"chainId": "c", "nonce": nonce, "kind": "governance"});
            for (k, v) in change.as_object().unwrap() {
                b[k] = v.clone();
            }
            b.to_string()
        }

        #[test]
        fn one_members_ca_cannot_approve_for_another() {
            let (a, b, c) = (
                Ca::new("org-a CA"),
                Ca::new("org-b CA"),
                Ca::new("org-c CA"),
            );
            let v =
                Verifier::from_trust_roots(&roots(&[("org-a", &a), ("org-b", &b), ("org-c", &c)]))
                    .unwrap();
            let reg = Registry::from_genesis(&[
                identity("v0", "org-a", NodeRole::Validator),
                identity("v1", "org-b", NodeRole::Validator),
                identity("v2", "org-c", NodeRole::Validator),
            ]);
            // Three members: all three must approve.
            let change = body(1, serde_json::json!({"remove": ["v0"]}));
            let admin_a = a.admin("org-a");
            // Org A's CA mints admins that claim to be org B's and org C's.
            let forged_b = a.admin("org-b");
            let forged_c = a.admin("org-c");
            let ex = run(&reg, signed(&v, &change, &[&admin_a, &forged_b, &forged_c]));
            let r = &ex.receipts[0].1;
            assert_eq!(r.code, "GOVERNANCE_REJECTED", "{}", r.message);
            assert!(
                r.message
                    .contains("1 member organisations [org-a], 3 needed"),
                "{}",
                r.message
            );
            assert!(ex.registry.is_none());
            // Admins from each organisation's own CA pass, whatever their subject's O says
            // (the platform CA writes the tenant's display name there).
            let admin_b = b.admin("长沙链上科技有限公司");
            let admin_c = c.admin("org-a");
            let ex = run(&reg, signed(&v, &change, &[&admin_a, &admin_b, &admin_c]));
            assert_eq!(ex.receipts[0].1.code, "OK", "{}", ex.receipts[0].1.message);
            let after = ex.registry.unwrap();
            assert!(after.revoked_names.iter().any(|n| n.as_str() == "v0"));
        }

        #[test]
        fn organisations_that_join_later_bring_their_cas_on_chain() {
            let (a, b, c) = (
                Ca::new("org-a CA"),
                Ca::new("org-b CA"),
                Ca::new("org-c CA"),
            );
            // The nodes' files know the founders only.
            let v = Verifier::from_trust_roots(&roots(&[("org-a", &a), ("org-b", &b)])).unwrap();
            let reg = Registry::from_genesis(&[
                identity("v0", "org-a", NodeRole::Validator),
                identity("v1", "org-b", NodeRole::Validator),
            ]);
            let (admin_a, admin_b, admin_c) = (a.admin("a"), b.admin("b"), c.admin("c"));
            let join = body(
                1,
                serde_json::json!({
                    "add": [identity("v2", "org-c", NodeRole::Validator)],
                    "trustRoots": {"org-c": c.pem},
                }),
            );
            // The founders admit org C with its CA.
            let ex = run(&reg, signed(&v, &join, &[&admin_a, &admin_b]));
            assert_eq!(ex.receipts[0].1.code, "OK", "{}", ex.receipts[0].1.message);
            let reg = ex.registry.unwrap();
            let c_root = &reg.trust_roots[&OrgName::new("org-c").unwrap()];
            assert_eq!(c_root.len(), 1);
            // From the next block on, every node trusts org C's CA and counts its admins.
            v.set_chain_roots(&reg.trust_roots);
            let change = body(2, serde_json::json!({"remove": ["v0"]}));
            let ex = run(&reg, signed(&v, &change, &[&admin_a, &admin_b]));
            let r = &ex.receipts[0].1;
            assert_eq!(r.code, "GOVERNANCE_REJECTED", "{}", r.message);
            assert!(r.message.contains("3 needed"), "{}", r.message);
            let tx = signed(&v, &change, &[&admin_a, &admin_b, &admin_c]);
            assert!(tx.signers[2].orgs.is_empty(), "the files do not know org C");
            let ex = run(&reg, tx);
            assert_eq!(ex.receipts[0].1.code, "OK", "{}", ex.receipts[0].1.message);

            // A CA recorded for one organisation cannot be claimed by another...
            let steal = body(
                3,
                serde_json::json!({
                    "add": [identity("v3", "org-d", NodeRole::Observer)],
                    "trustRoots": {"org-d": c.pem},
                }),
            );
            let ex = run(&reg, signed(&v, &steal, &[&admin_a, &admin_b, &admin_c]));
            let r = &ex.receipts[0].1;
            assert_eq!(r.code, "GOVERNANCE_REJECTED", "{}", r.message);
            assert!(
                r.message.contains("already a trust root of org-c"),
                "{}",
                r.message
            );
            // ...and what is not a CA certificate is not recorded.
            let leaf = Ca::new("x").admin("x").0;
            let leaf_pem = format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, leaf)
            );
            let junk = body(4, serde_json::json!({"trustRoots": {"org-d": leaf_pem}}));
            let ex = run(&reg, signed(&v, &junk, &[&admin_a, &admin_b, &admin_c]));
            let r = &ex.receipts[0].1;
            assert_eq!(r.code, "GOVERNANCE_REJECTED", "{}", r.message);
            assert!(r.message.contains("not a CA"), "{}", r.message);
        }
    }
}
