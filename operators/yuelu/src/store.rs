//! Durable storage (redb): committed blocks with their commit certificates, the state, the
//! state log's Merkle nodes, proposals seen but not yet decided, and transactions acknowledged
//! but not yet committed.
//!
//! A block and everything it changes are written in one transaction with immediate durability
//! before consensus hears that the block is committed, so a committed block survives kill -9.

use crate::block::{Block, BlockId, RawTx};
use crate::merkle::{self, Frontier, Hash, NodeKey, NodeSource, TreeError};
use crate::state::{
    Executed, KvRecord, NotaryRecord, Receipt, Registry, StateView, TraceRecord, kv_key,
};
use crate::tx::TxId;
use crate::verify::RootCa;
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;
use yuelu_engine::{NodeIdentity, NodeName, OrgName};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const CERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("certificates");
const RECEIPTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("receipts");
const NONCES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("nonces");
const NOTARY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("notary");
const TRACES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("traces");
const TRACE_LENS: TableDefinition<&str, u64> = TableDefinition::new("trace_lens");
const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const NODES: TableDefinition<u64, &[u8]> = TableDefinition::new("merkle_nodes");
const REGISTRY: TableDefinition<&str, &[u8]> = TableDefinition::new("registry");
const REVOKED: TableDefinition<&str, u64> = TableDefinition::new("revoked");
/// Trust roots recorded by governance: organisation → borsh `Vec<Vec<u8>>` of CA DERs.
const TRUST_ROOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("trust_roots");
/// Key prefixes in [`REVOKED`]: a revoked peer id, a revoked node name.
const REVOKED_PEER: &str = "peer:";
const REVOKED_NAME: &str = "name:";
const UNDECIDED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("undecided");
/// Transactions this node acknowledged to its clients and has not seen committed: tx id →
/// the transaction (borsh). See [`crate::journal`].
const PENDING: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pending");

const HEIGHT: &str = "height";
const STATE_SIZE: &str = "state_size";

/// A storage failure. Fatal for the node: it stops rather than diverge.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

fn se<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError(e.to_string())
}

/// The node's database.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

/// What the store knows at open.
#[derive(Clone, Debug)]
pub struct Tip {
    /// Last committed height (0 before the first block).
    pub height: u64,
    /// Its block id (the genesis id at height 0).
    pub block_id: BlockId,
    /// Its time (genesis time at height 0).
    pub time_unix_ms: u64,
    /// The state log.
    pub frontier: Frontier,
}

fn trace_key(item: &str, seq: u64) -> Vec<u8> {
    let mut k = item.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn undecided_key(height: u64, round: u32, id: &BlockId) -> Vec<u8> {
    let mut k = height.to_be_bytes().to_vec();
    k.extend_from_slice(&round.to_be_bytes());
    k.extend_from_slice(&id.0);
    k
}

impl Store {
    /// Opens (or creates) the database in `dir`, seeding the registry from the genesis
    /// validators on first open.
    pub fn open(dir: &Path, genesis_validators: &[NodeIdentity]) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(se)?;
        let db = Database::create(dir.join("chain.redb")).map_err(se)?;
        let w = db.begin_write().map_err(se)?;
        {
            let mut meta = w.open_table(META).map_err(se)?;
            let fresh = meta.get(HEIGHT).map_err(se)?.is_none();
            if fresh {
                meta.insert(HEIGHT, 0).map_err(se)?;
                meta.insert(STATE_SIZE, 0).map_err(se)?;
                let mut reg = w.open_table(REGISTRY).map_err(se)?;
                for v in genesis_validators {
                    let json = serde_json::to_vec(v).map_err(se)?;
                    reg.insert(v.node.as_str(), json.as_slice()).map_err(se)?;
                }
            }
            // Create every table so that readers never meet a missing one.
            w.open_table(BLOCKS).map_err(se)?;
            w.open_table(CERTS).map_err(se)?;
            w.open_table(RECEIPTS).map_err(se)?;
            w.open_table(NONCES).map_err(se)?;
            w.open_table(NOTARY).map_err(se)?;
            w.open_table(TRACES).map_err(se)?;
            w.open_table(TRACE_LENS).map_err(se)?;
            w.open_table(KV).map_err(se)?;
            w.open_table(NODES).map_err(se)?;
            w.open_table(REGISTRY).map_err(se)?;
            w.open_table(REVOKED).map_err(se)?;
            w.open_table(TRUST_ROOTS).map_err(se)?;
            w.open_table(UNDECIDED).map_err(se)?;
            w.open_table(PENDING).map_err(se)?;
        }
        w.commit().map_err(se)?;
        Ok(Store { db })
    }

    /// A consistent read snapshot.
    pub fn read(&self) -> Result<Reader, StoreError> {
        Ok(Reader {
            tx: self.db.begin_read().map_err(se)?,
        })
    }

    /// Commits a decided block, its certificate and its execution, durably, in one
    /// transaction; drops undecided proposals up to its height.
    pub fn commit(
        &self,
        block: &Block,
        certificate: &[u8],
        ex: &Executed,
    ) -> Result<(), StoreError> {
        let h = block.header.height;
        let w = self.db.begin_write().map_err(se)?;
        {
            let mut meta = w.open_table(META).map_err(se)?;
            let current = meta
                .get(HEIGHT)
                .map_err(se)?
                .map(|g| g.value())
                .unwrap_or(0);
            if current + 1 != h {
                return Err(StoreError(format!(
                    "commit of height {h} on top of height {current}"
                )));
            }
            meta.insert(HEIGHT, h).map_err(se)?;
            meta.insert(STATE_SIZE, ex.frontier.size()).map_err(se)?;
            w.open_table(BLOCKS)
                .map_err(se)?
                .insert(h, block.encode().as_slice())
                .map_err(se)?;
            w.open_table(CERTS)
                .map_err(se)?
                .insert(h, certificate)
                .map_err(se)?;
            let mut receipts = w.open_table(RECEIPTS).map_err(se)?;
            for (id, r) in &ex.receipts {
                // The same transaction submitted to two validators can land in two blocks:
                // the second copy fails as a duplicate and must not hide the first's success.
                if r.code != "OK" {
                    let took_effect = match receipts.get(id.0.as_slice()).map_err(se)? {
                        Some(g) => borsh::from_slice::<Receipt>(g.value())
                            .map(|old| old.code == "OK")
                            .unwrap_or(false),
                        None => false,
                    };
                    if took_effect {
                        continue;
                    }
                }
                let v = borsh::to_vec(r).map_err(se)?;
                receipts.insert(id.0.as_slice(), v.as_slice()).map_err(se)?;
            }
            let mut nonces = w.open_table(NONCES).map_err(se)?;
            for (k, id) in &ex.nonces {
                nonces.insert(k.as_slice(), id.0.as_slice()).map_err(se)?;
            }
            let mut notary = w.open_table(NOTARY).map_err(se)?;
            for (hash, rec) in &ex.notary {
                let v = borsh::to_vec(rec).map_err(se)?;
                notary.insert(hash.as_slice(), v.as_slice()).map_err(se)?;
            }
            let mut traces = w.open_table(TRACES).map_err(se)?;
            for (item, rec) in &ex.traces {
                let v = borsh::to_vec(rec).map_err(se)?;
                traces
                    .insert(trace_key(item, rec.seq).as_slice(), v.as_slice())
                    .map_err(se)?;
            }
            let mut lens = w.open_table(TRACE_LENS).map_err(se)?;
            for (item, n) in &ex.trace_lens {
                lens.insert(item.as_str(), *n).map_err(se)?;
            }
            let mut kv = w.open_table(KV).map_err(se)?;
            for (k, rec) in &ex.kv {
                let v = borsh::to_vec(rec).map_err(se)?;
                kv.insert(k.as_slice(), v.as_slice()).map_err(se)?;
            }
            let mut nodes = w.open_table(NODES).map_err(se)?;
            for (k, hash) in &ex.nodes {
                nodes.insert(k.packed(), hash.as_slice()).map_err(se)?;
            }
            if let Some(reg) = &ex.registry {
                let mut t = w.open_table(REGISTRY).map_err(se)?;
                let old: Vec<String> = t
                    .iter()
                    .map_err(se)?
                    .filter_map(|e| e.ok().map(|(k, _)| k.value().to_string()))
                    .collect();
                for k in old {
                    t.remove(k.as_str()).map_err(se)?;
                }
                for (name, id) in &reg.nodes {
                    let json = serde_json::to_vec(id).map_err(se)?;
                    t.insert(name.as_str(), json.as_slice()).map_err(se)?;
                }
                let mut rv = w.open_table(REVOKED).map_err(se)?;
                let keys = reg
                    .revoked
                    .iter()
                    .map(|p| format!("{REVOKED_PEER}{p}"))
                    .chain(
                        reg.revoked_names
                            .iter()
                            .map(|n| format!("{REVOKED_NAME}{n}")),
                    );
                for k in keys {
                    if rv.get(k.as_str()).map_err(se)?.is_none() {
                        rv.insert(k.as_str(), h).map_err(se)?;
                    }
                }
                let stale: Vec<String> = rv
                    .iter()
                    .map_err(se)?
                    .filter_map(|e| e.ok().map(|(k, _)| k.value().to_string()))
                    .filter(|k| match k.strip_prefix(REVOKED_NAME) {
                        Some(n) => !reg.revoked_names.iter().any(|r| r.as_str() == n),
                        None => false,
                    })
                    .collect();
                for k in stale {
                    rv.remove(k.as_str()).map_err(se)?;
                }
                // Rewritten whole, as the nodes are: a handful of organisations at most.
                let mut tr = w.open_table(TRUST_ROOTS).map_err(se)?;
                let old: Vec<String> = tr
                    .iter()
                    .map_err(se)?
                    .filter_map(|e| e.ok().map(|(k, _)| k.value().to_string()))
                    .collect();
                for k in old {
                    tr.remove(k.as_str()).map_err(se)?;
                }
                for (org, cas) in &reg.trust_roots {
                    let ders: Vec<&Vec<u8>> = cas.iter().map(|c| &c.der).collect();
                    let v = borsh::to_vec(&ders).map_err(se)?;
                    tr.insert(org.as_str(), v.as_slice()).map_err(se)?;
                }
            }
            // Committed (or failed for good): no longer this node's to keep.
            let mut pending = w.open_table(PENDING).map_err(se)?;
            for (id, _) in &ex.receipts {
                pending.remove(id.0.as_slice()).map_err(se)?;
            }
            let mut und = w.open_table(UNDECIDED).map_err(se)?;
            let upto = (h + 1).to_be_bytes();
            let stale: Vec<Vec<u8>> = und
                .range::<&[u8]>(..upto.as_slice())
                .map_err(se)?
                .filter_map(|e| e.ok().map(|(k, _)| k.value().to_vec()))
                .collect();
            for k in stale {
                und.remove(k.as_slice()).map_err(se)?;
            }
        }
        w.commit().map_err(se)
    }

    /// Records acknowledged transactions, durably, in one transaction (see
    /// [`crate::journal`]). Writing one again is harmless.
    pub fn put_pending<'a>(
        &self,
        txs: impl IntoIterator<Item = &'a RawTx>,
    ) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(se)?;
        {
            let mut t = w.open_table(PENDING).map_err(se)?;
            for tx in txs {
                let v = borsh::to_vec(tx).map_err(se)?;
                t.insert(tx.id().0.as_slice(), v.as_slice()).map_err(se)?;
            }
        }
        w.commit().map_err(se)
    }

    /// Forgets recorded transactions that will never commit from here.
    pub fn drop_pending<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a TxId>,
    ) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(se)?;
        {
            let mut t = w.open_table(PENDING).map_err(se)?;
            for id in ids {
                t.remove(id.0.as_slice()).map_err(se)?;
            }
        }
        w.commit().map_err(se)
    }

    /// The recorded transactions, as written.
    pub fn pending(&self) -> Result<Vec<RawTx>, StoreError> {
        let r = self.db.begin_read().map_err(se)?;
        let t = r.open_table(PENDING).map_err(se)?;
        let mut out = Vec::new();
        for e in t.iter().map_err(se)? {
            let (_, v) = e.map_err(se)?;
            out.push(borsh::from_slice::<RawTx>(v.value()).map_err(se)?);
        }
        Ok(out)
    }

    /// Keeps a proposal (complete and validated, or built by us), durably, before consensus
    /// hears of it. Our own: proposing another block for the same round after a crash would
    /// be equivocation. Others': Malachite's WAL remembers the value id, and after a crash a
    /// commit certificate from sync decides it without handing the block over again.
    /// `entry` is opaque here (the consensus layer encodes it).
    pub fn put_undecided(
        &self,
        height: u64,
        round: u32,
        id: &BlockId,
        entry: &[u8],
    ) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(se)?;
        w.open_table(UNDECIDED)
            .map_err(se)?
            .insert(undecided_key(height, round, id).as_slice(), entry)
            .map_err(se)?;
        w.commit().map_err(se)
    }
}

/// A read snapshot of the store.
pub struct Reader {
    tx: ReadTransaction,
}

impl Reader {
    fn meta(&self, key: &str) -> Result<u64, StoreError> {
        Ok(self
            .tx
            .open_table(META)
            .map_err(se)?
            .get(key)
            .map_err(se)?
            .map(|g| g.value())
            .unwrap_or(0))
    }

    /// Last committed height.
    pub fn height(&self) -> Result<u64, StoreError> {
        self.meta(HEIGHT)
    }

    /// State-log size.
    pub fn state_size(&self) -> Result<u64, StoreError> {
        self.meta(STATE_SIZE)
    }

    /// The block at a height.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        let t = self.tx.open_table(BLOCKS).map_err(se)?;
        match t.get(height).map_err(se)? {
            Some(g) => Ok(Some(Block::decode(g.value()).map_err(se)?)),
            None => Ok(None),
        }
    }

    /// The encoded commit certificate of a height.
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.tx.open_table(CERTS).map_err(se)?;
        Ok(t.get(height).map_err(se)?.map(|g| g.value().to_vec()))
    }

    /// A transaction's receipt.
    pub fn receipt(&self, id: &TxId) -> Result<Option<Receipt>, StoreError> {
        let t = self.tx.open_table(RECEIPTS).map_err(se)?;
        match t.get(id.0.as_slice()).map_err(se)? {
            Some(g) => Ok(Some(borsh::from_slice(g.value()).map_err(se)?)),
            None => Ok(None),
        }
    }

    /// A notarization.
    pub fn notary(&self, hash: &[u8]) -> Result<Option<NotaryRecord>, StoreError> {
        let t = self.tx.open_table(NOTARY).map_err(se)?;
        match t.get(hash).map_err(se)? {
            Some(g) => Ok(Some(borsh::from_slice(g.value()).map_err(se)?)),
            None => Ok(None),
        }
    }

    /// An item's history, oldest first, at most `limit` events from `from`.
    pub fn history(
        &self,
        item: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<TraceRecord>, StoreError> {
        let t = self.tx.open_table(TRACES).map_err(se)?;
        let start = trace_key(item, from);
        let end = trace_key(item, u64::MAX);
        let mut out = Vec::new();
        for e in t
            .range::<&[u8]>(start.as_slice()..=end.as_slice())
            .map_err(se)?
        {
            let (_, v) = e.map_err(se)?;
            out.push(borsh::from_slice(v.value()).map_err(se)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// A key's current value.
    pub fn kv(&self, ns: &str, key: &str) -> Result<Option<KvRecord>, StoreError> {
        let t = self.tx.open_table(KV).map_err(se)?;
        match t.get(kv_key(ns, key).as_slice()).map_err(se)? {
            Some(g) => Ok(Some(borsh::from_slice(g.value()).map_err(se)?)),
            None => Ok(None),
        }
    }

    /// The registry (registered nodes, revoked peer ids and names, trust roots).
    pub fn registry(&self) -> Result<Registry, StoreError> {
        let mut reg = Registry::default();
        for e in self
            .tx
            .open_table(REGISTRY)
            .map_err(se)?
            .iter()
            .map_err(se)?
        {
            let (k, v) = e.map_err(se)?;
            let id: NodeIdentity = serde_json::from_slice(v.value()).map_err(se)?;
            let name = NodeName::new(k.value()).map_err(se)?;
            reg.nodes.insert(name, id);
        }
        for e in self
            .tx
            .open_table(REVOKED)
            .map_err(se)?
            .iter()
            .map_err(se)?
        {
            let (k, _) = e.map_err(se)?;
            let k = k.value();
            // Keys carry their kind: a peer id read back with its prefix would never match
            // a connecting peer, and a restarted node would hold another registry than its
            // peers.
            if let Some(peer) = k.strip_prefix(REVOKED_PEER) {
                reg.revoked.insert(peer.to_string());
            } else if let Some(name) = k.strip_prefix(REVOKED_NAME) {
                reg.revoked_names.insert(NodeName::new(name).map_err(se)?);
            } else {
                return Err(StoreError(format!("unknown revocation key {k:?}")));
            }
        }
        for e in self
            .tx
            .open_table(TRUST_ROOTS)
            .map_err(se)?
            .iter()
            .map_err(se)?
        {
            let (k, v) = e.map_err(se)?;
            let org = OrgName::new(k.value()).map_err(se)?;
            let ders: Vec<Vec<u8>> = borsh::from_slice(v.value()).map_err(se)?;
            let cas = ders
                .iter()
                .map(|d| RootCa::from_der(d))
                .collect::<Result<Vec<_>, _>>()
                .map_err(se)?;
            reg.trust_roots.insert(org, cas);
        }
        Ok(reg)
    }

    /// Undecided proposals kept for a height (all rounds), with their round.
    pub fn undecided(&self, height: u64) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
        let t = self.tx.open_table(UNDECIDED).map_err(se)?;
        let start = height.to_be_bytes();
        let end = height.saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for e in t
            .range::<&[u8]>(start.as_slice()..end.as_slice())
            .map_err(se)?
        {
            let (k, v) = e.map_err(se)?;
            let k = k.value();
            let mut r = [0u8; 4];
            if let Some(b) = k.get(8..12) {
                r.copy_from_slice(b);
            }
            out.push((u32::from_be_bytes(r), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The state log at the current size.
    pub fn frontier(&self) -> Result<Frontier, StoreError> {
        let size = self.state_size()?;
        Frontier::load(self, size).map_err(tree_err)
    }

    /// The state root over the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        merkle::root_at(self, size).map_err(tree_err)
    }

    /// The audit path of a leaf in the tree of the first `size` leaves.
    pub fn audit_path(&self, leaf: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        merkle::audit_path(self, leaf, size).map_err(tree_err)
    }

    /// The tip: last height, block id and time, and the state log.
    pub fn tip(&self, genesis_id: BlockId, genesis_time: u64) -> Result<Tip, StoreError> {
        let height = self.height()?;
        let (block_id, time_unix_ms) = if height == 0 {
            (genesis_id, genesis_time)
        } else {
            let b = self
                .block(height)?
                .ok_or_else(|| StoreError(format!("block {height} missing")))?;
            (b.id(), b.header.time_unix_ms)
        };
        Ok(Tip {
            height,
            block_id,
            time_unix_ms,
            frontier: self.frontier()?,
        })
    }
}

fn tree_err(e: TreeError<StoreError>) -> StoreError {
    match e {
        TreeError::Store(s) => s,
        other => StoreError(other.to_string()),
    }
}

impl NodeSource for Reader {
    type Error = StoreError;
    fn node(&self, key: NodeKey) -> Result<Option<Hash>, StoreError> {
        let t = self.tx.open_table(NODES).map_err(se)?;
        Ok(t.get(key.packed()).map_err(se)?.and_then(|g| {
            let v = g.value();
            let mut h = [0u8; 32];
            (v.len() == 32).then(|| {
                h.copy_from_slice(v);
                h
            })
        }))
    }
}

impl StateView for Reader {
    fn tx_committed(&self, id: &TxId) -> Result<bool, String> {
        // Only a transaction that took effect blocks a resubmission: a governance change
        // refused for want of approvals can come back with more signatures.
        let t = self.tx.open_table(RECEIPTS).map_err(|e| e.to_string())?;
        match t.get(id.0.as_slice()).map_err(|e| e.to_string())? {
            Some(g) => {
                let r: Receipt = borsh::from_slice(g.value()).map_err(|e| e.to_string())?;
                Ok(r.code == "OK")
            }
            None => Ok(false),
        }
    }
    fn nonce_used(&self, key: &[u8; 40]) -> Result<bool, String> {
        let t = self.tx.open_table(NONCES).map_err(|e| e.to_string())?;
        Ok(t.get(key.as_slice()).map_err(|e| e.to_string())?.is_some())
    }
    fn notarized(&self, hash: &[u8]) -> Result<bool, String> {
        let t = self.tx.open_table(NOTARY).map_err(|e| e.to_string())?;
        Ok(t.get(hash).map_err(|e| e.to_string())?.is_some())
    }
    fn trace_len(&self, item: &str) -> Result<u64, String> {
        let t = self.tx.open_table(TRACE_LENS).map_err(|e| e.to_string())?;
        Ok(t.get(item)
            .map_err(|e| e.to_string())?
            .map(|g| g.value())
            .unwrap_or(0))
    }
    fn kv_version(&self, key: &[u8]) -> Result<u64, String> {
        let t = self.tx.open_table(KV).map_err(|e| e.to_string())?;
        match t.get(key).map_err(|e| e.to_string())? {
            Some(g) => {
                let r: KvRecord = borsh::from_slice(g.value()).map_err(|e| e.to_string())?;
                Ok(r.version)
            }
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockHeader, RawTx};
    use crate::state::{CheckedTx, execute};
    use crate::verify::Signer;
    use std::sync::Arc;
    use yuelu_engine::ChainId;

    #[test]
    fn commits_survive_reopening_and_heights_follow_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let chain = ChainId::new("c").unwrap();
        let signer = Arc::new(Signer {
            kind: crate::verify::KeyKind::P256,
            id: [7; 32],
            point: vec![],
            issuer_key: [1; 32],
            orgs: vec![],
            admin: false,
            subject: "CN=a".into(),
            not_before: 0,
            not_after: i64::MAX,
        });
        let body = format!(
            r#"{{"chainId":"c","nonce":1,"kind":"notarize","hash":"{}"}}"#,
            "ab".repeat(32)
        );
        let raw = RawTx {
            body,
            signatures: vec![(vec![], vec![])],
        };
        let tx = CheckedTx {
            id: raw.id(),
            raw: raw.clone(),
            signers: vec![signer],
            body: None,
        };
        let other = RawTx {
            body: raw.body.replace("\"nonce\":1", "\"nonce\":2"),
            signatures: vec![(vec![], vec![])],
        };
        let root;
        {
            let store = Store::open(dir.path(), &[]).unwrap();
            let r = store.read().unwrap();
            let ex = execute(
                &r,
                &chain,
                &r.registry().unwrap(),
                &r.frontier().unwrap(),
                1,
                5,
                std::slice::from_ref(&tx),
            )
            .unwrap();
            drop(r);
            root = ex.state_root();
            let block = Block {
                header: BlockHeader {
                    chain_id: "c".into(),
                    height: 1,
                    time_unix_ms: 5,
                    proposer: [0; 20],
                    parent: [0; 32],
                    txs_root: Block::compute_txs_root(std::slice::from_ref(&raw)),
                    state_root: root,
                    state_size: ex.frontier.size(),
                    tx_count: 1,
                },
                txs: vec![raw.clone()],
            };
            store.put_undecided(1, 0, &block.id(), b"x").unwrap();
            // Acknowledged: it, and another still waiting.
            store.put_pending([&raw, &other, &raw]).unwrap();
            assert_eq!(store.pending().unwrap().len(), 2);
            store.commit(&block, b"cert", &ex).unwrap();
            // Not twice, and not out of order.
            assert!(store.commit(&block, b"cert", &ex).is_err());
        }
        let store = Store::open(dir.path(), &[]).unwrap();
        // The committed one left the pending record with its block; the other is kept.
        assert_eq!(store.pending().unwrap(), vec![other.clone()]);
        store.drop_pending([&other.id()]).unwrap();
        assert!(store.pending().unwrap().is_empty());
        let r = store.read().unwrap();
        assert_eq!(r.height().unwrap(), 1);
        assert_eq!(r.block(1).unwrap().unwrap().txs, vec![raw]);
        assert_eq!(r.certificate(1).unwrap().unwrap(), b"cert");
        assert_eq!(r.frontier().unwrap().root(), root);
        assert_eq!(r.root_at(1).unwrap(), root);
        assert!(r.tx_committed(&tx.id).unwrap());
        assert!(r.notarized(&[0xab; 32]).unwrap());
        assert_eq!(r.notary(&[0xab; 32]).unwrap().unwrap().leaf, 0);
        assert!(
            r.undecided(1).unwrap().is_empty(),
            "undecided kept past commit"
        );
        // Executing the same transaction again fails without changing anything, and its
        // failed receipt does not replace the first one.
        let again = execute(
            &r,
            &chain,
            &r.registry().unwrap(),
            &r.frontier().unwrap(),
            2,
            6,
            std::slice::from_ref(&tx),
        )
        .unwrap();
        assert_eq!(again.receipts[0].1.code, "TX_DUPLICATE");
        assert_eq!(again.state_root(), root);
        drop(r);
        let first = store.read().unwrap().block(1).unwrap().unwrap();
        let second = Block {
            header: BlockHeader {
                height: 2,
                parent: first.id().0,
                ..first.header.clone()
            },
            txs: first.txs.clone(),
        };
        store.commit(&second, b"cert2", &again).unwrap();
        let r = store.read().unwrap();
        let receipt = r.receipt(&tx.id).unwrap().unwrap();
        assert_eq!((receipt.code.as_str(), receipt.height), ("OK", 1));
    }

    #[test]
    fn the_registry_reads_back_as_it_was_committed() {
        use crate::state::Registry;
        use crate::verify::RootCa;
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = RootCa::from_der(p.self_signed(&key).unwrap().der()).unwrap();
        let node = crate::keys::NodeKey::generate();
        let v0 = NodeIdentity {
            node: NodeName::new("v0").unwrap(),
            org: OrgName::new("org-a").unwrap(),
            role: yuelu_engine::NodeRole::Validator,
            consensus_key: node.public_key(),
            peer_id: node.peer_id().unwrap(),
            voting_power: 1,
        };
        let store = Store::open(dir.path(), std::slice::from_ref(&v0)).unwrap();
        let mut reg = Registry::from_genesis(std::slice::from_ref(&v0));
        reg.revoked.insert("12D3KooWgone".into());
        reg.revoked_names
            .insert(NodeName::new("observer-1").unwrap());
        reg.trust_roots
            .insert(OrgName::new("org-c").unwrap(), vec![ca]);
        let ex = Executed {
            registry: Some(reg.clone()),
            ..Executed::default()
        };
        let block = Block {
            header: BlockHeader {
                chain_id: "c".into(),
                height: 1,
                time_unix_ms: 5,
                proposer: [0; 20],
                parent: [0; 32],
                txs_root: Block::compute_txs_root(&[]),
                state_root: ex.state_root(),
                state_size: 0,
                tx_count: 0,
            },
            txs: vec![],
        };
        store.commit(&block, b"cert", &ex).unwrap();
        drop(store);
        // After a restart the node holds the very registry its peers hold in memory: revoked
        // peers and names as they were, trust roots recorded by governance.
        let store = Store::open(dir.path(), std::slice::from_ref(&v0)).unwrap();
        assert_eq!(store.read().unwrap().registry().unwrap(), reg);
    }
}
