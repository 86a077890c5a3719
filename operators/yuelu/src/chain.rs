//! What the consensus loop and the HTTP API share: the store, the pool, the tip, metrics.

use crate::block::{BlockId, RawTx};
use crate::consensus::gate::PeerGate;
use crate::genesis::GenesisDoc;
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::state::{CheckedTx, Registry, StateView, nonce_key};
use crate::store::Store;
use crate::tx::{SignedTx, TxBody, TxError, TxId, TxKind};
use crate::verify::Verifier;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use yuelu_engine::{NodeName, NodeRole};

/// Now, Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The committed tip as the API shows it.
#[derive(Clone, Debug)]
pub struct TipInfo {
    /// Last committed height.
    pub height: u64,
    /// Its block id.
    pub block_id: BlockId,
    /// Its time.
    pub time_unix_ms: u64,
    /// When it was committed here.
    pub committed_at: Instant,
    /// Current consensus height and round.
    pub consensus: (u64, i64),
    /// The registry after the tip.
    pub registry: Registry,
}

/// Shared node state.
pub struct Shared {
    /// The genesis.
    pub genesis: GenesisDoc,
    /// This node.
    pub node: NodeName,
    /// Its role at start.
    pub role: NodeRole,
    /// Its peer id.
    pub peer_id: String,
    /// Storage.
    pub store: Arc<Store>,
    /// Client certificate and signature checks.
    pub verifier: Verifier,
    /// The pool.
    pub mempool: Mutex<Mempool>,
    /// Peer admission.
    pub gate: Arc<PeerGate>,
    /// Metrics.
    pub metrics: Metrics,
    /// The tip.
    pub tip: RwLock<TipInfo>,
    /// Committed height, for waiters.
    pub committed: watch::Sender<u64>,
    /// When the node started.
    pub started: Instant,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("node", &self.node).finish()
    }
}

/// Why a submission failed: a transaction error, or the node cannot take it.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The transaction is refused.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// This node does not propose blocks.
    #[error("this node is an observer and does not take transactions; submit to a validator")]
    NotAValidator,
    /// Storage failed.
    #[error("{0}")]
    Internal(String),
}

impl SubmitError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            SubmitError::Tx(e) => e.code(),
            SubmitError::NotAValidator => "NOT_A_VALIDATOR",
            SubmitError::Internal(_) => "INTERNAL",
        }
    }
}

impl Shared {
    /// Whether this node is currently a validator.
    pub fn is_validator(&self) -> bool {
        self.tip
            .read()
            .map(|t| t.registry.validators().any(|v| v.node == self.node))
            .unwrap_or(false)
    }

    /// Checks a submitted transaction completely and pools it. Nothing changes on failure.
    pub fn submit(&self, tx: &SignedTx) -> Result<TxId, SubmitError> {
        let r = self.submit_inner(tx);
        if r.is_err() {
            self.metrics.rejected_txs.inc();
        }
        r
    }

    fn submit_inner(&self, tx: &SignedTx) -> Result<TxId, SubmitError> {
        if !self.is_validator() {
            return Err(SubmitError::NotAValidator);
        }
        let raw = RawTx::from_signed(tx)?;
        if raw.encoded_len() > crate::tx::MAX_TX_BYTES {
            return Err(TxError::Malformed("transaction too large".into()).into());
        }
        let body = TxBody::parse(&raw.body, &self.genesis.chain_id)?;
        let signers = self.verifier.verify_tx(&raw)?;
        let now = now_ms();
        for s in &signers {
            if !s.valid_at(now) {
                return Err(TxError::CertificateUntrusted(format!(
                    "certificate of {} is expired or not yet valid",
                    s.subject
                ))
                .into());
            }
        }
        if let TxKind::Governance { .. } = body.kind {
        } else if signers.len() != 1 {
            return Err(TxError::Malformed(
                "ordinary transactions carry exactly one signature".into(),
            )
            .into());
        }
        let id = raw.id();
        let first = signers
            .first()
            .ok_or_else(|| TxError::Malformed("no signature".into()))?;
        let view = self
            .store
            .read()
            .map_err(|e| SubmitError::Internal(e.to_string()))?;
        if view.tx_committed(&id).map_err(SubmitError::Internal)? {
            return Err(TxError::Duplicate(id.to_string()).into());
        }
        if view
            .nonce_used(&nonce_key(&first.id, body.nonce))
            .map_err(SubmitError::Internal)?
        {
            return Err(TxError::NonceReplayed { nonce: body.nonce }.into());
        }
        if let TxKind::Notarize { hash, .. } = &body.kind {
            let bytes = hex::decode(hash).map_err(|e| TxError::Malformed(e.to_string()))?;
            if view.notarized(&bytes).map_err(SubmitError::Internal)? {
                return Err(TxError::AlreadyNotarized(hash.clone()).into());
            }
        }
        let checked = CheckedTx { raw, id, signers };
        let mut pool = self
            .mempool
            .lock()
            .map_err(|_| SubmitError::Internal("pool lock".into()))?;
        pool.add(checked, body.nonce)?;
        self.metrics.txpool.set(pool.len() as i64);
        Ok(id)
    }
}

/// Checks the signatures of a block's transactions. Transactions this node already checked
/// (same id and bytes in its pool) are not checked again. Uses every core: this is the most
/// expensive part of validating a proposal.
pub fn check_block_txs(
    verifier: &Verifier,
    pool: &Mutex<Mempool>,
    txs: &[RawTx],
) -> Result<Vec<CheckedTx>, String> {
    let mut known: Vec<Option<CheckedTx>> = Vec::with_capacity(txs.len());
    if let Ok(p) = pool.lock() {
        for t in txs {
            let id = t.id();
            known.push(
                p.get(&id)
                    .filter(|pooled| pooled.tx.raw == *t)
                    .map(|pooled| pooled.tx.clone()),
            );
        }
    } else {
        known.resize(txs.len(), None);
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = txs.len().div_ceil(threads).max(64);
    let mut out: Vec<Result<Vec<CheckedTx>, String>> = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = txs
            .chunks(chunk)
            .zip(known.chunks(chunk))
            .map(|(ts, ks)| {
                s.spawn(move || {
                    ts.iter()
                        .zip(ks)
                        .map(|(t, k)| match k {
                            Some(c) => Ok(c.clone()),
                            None => verifier
                                .verify_tx(t)
                                .map(|signers| CheckedTx {
                                    raw: t.clone(),
                                    id: t.id(),
                                    signers,
                                })
                                .map_err(|e| format!("transaction {}: {e}", t.id())),
                        })
                        .collect::<Result<Vec<_>, String>>()
                })
            })
            .collect();
        for h in handles {
            out.push(
                h.join()
                    .unwrap_or_else(|_| Err("verifier thread failed".into())),
            );
        }
    });
    let mut all = Vec::with_capacity(txs.len());
    for r in out {
        all.extend(r?);
    }
    Ok(all)
}

/// The peer ids allowed to connect: the nodes of the local config and of the chain's
/// registry, less those removed by governance (by key or by name), and this node.
pub fn allowed_peers(
    config: &[(yuelu_engine::NodeName, String)],
    registry: &Registry,
    me: &str,
) -> HashSet<String> {
    config
        .iter()
        .filter(|(name, _)| !registry.revoked_names.contains(name))
        .map(|(_, p)| p.clone())
        .chain(registry.nodes.values().map(|n| n.peer_id.0.clone()))
        .filter(|p| !registry.revoked.contains(p) && p != me)
        .collect()
}
