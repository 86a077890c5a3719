//! What the consensus loop and the HTTP API share: the store, the pool, the tip, metrics.

use crate::block::{BlockId, RawTx};
use crate::consensus::gate::PeerGate;
use crate::forward::Forwarding;
use crate::genesis::GenesisDoc;
use crate::journal::Journal;
use crate::mempool::{Added, Mempool};
use crate::metrics::Metrics;
use crate::state::{CheckedTx, Registry, StateView, nonce_key};
use crate::store::{Reader, Store};
use crate::tx::{SignedTx, TxBody, TxError, TxId, TxKind};
use crate::verify::Verifier;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tracing::debug;
use yuelu_engine::{ChainId, NodeName, NodeRole};

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
    /// Forwarding of admitted transactions to the peers, and of theirs to this node.
    pub forwarding: Forwarding,
    /// Durable record of acknowledged transactions.
    pub journal: Journal,
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
#[derive(Clone, Debug, thiserror::Error)]
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

    /// Checks a submitted transaction completely, pools it and records it durably (then
    /// forwards it to the peers). Nothing changes on failure. The very transaction already
    /// pending here is accepted again, unchanged. Blocks on the journal's write.
    pub fn submit(&self, tx: &SignedTx) -> Result<TxId, SubmitError> {
        let raw = RawTx::from_signed(tx).map_err(SubmitError::from);
        self.submit_all(vec![raw])
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(SubmitError::Internal("no result for a submission".into())))
    }

    /// [`Shared::submit`] for many transactions (decoded, or refused already), with one read
    /// of the store; the results are in the same order.
    pub fn submit_all(
        &self,
        txs: Vec<Result<RawTx, SubmitError>>,
    ) -> Vec<Result<TxId, SubmitError>> {
        let view = if self.is_validator() {
            self.store
                .read()
                .map_err(|e| SubmitError::Internal(e.to_string()))
        } else {
            Err(SubmitError::NotAValidator)
        };
        let mut forward = Vec::new();
        let mut record = Vec::new();
        let mut results: Vec<Result<TxId, SubmitError>> = txs
            .into_iter()
            .map(|r| {
                let raw = r?;
                let view = view.as_ref().map_err(SubmitError::clone)?;
                let (id, added) = self.admit(view, raw, true)?;
                match added {
                    Admitted::New(tx) => {
                        record.push(tx.raw.clone());
                        forward.push(tx);
                    }
                    // Recorded again: the first submission's write may still be under way.
                    Admitted::Known(raw) => record.push(raw),
                }
                Ok(id)
            })
            .collect();
        // The snapshot is not needed while waiting for the disk.
        drop(view);
        // Acknowledged only once on disk; if that fails, not pooled either.
        if let Err(e) = self.journal.record(record) {
            let ids: Vec<TxId> = forward.iter().map(|t| t.id).collect();
            if let Ok(mut pool) = self.mempool.lock() {
                pool.remove(ids.iter());
                self.metrics.txpool.set(pool.len() as i64);
            }
            for r in &mut results {
                if r.is_ok() {
                    *r = Err(SubmitError::Internal(format!("could not record: {e}")));
                }
            }
            return results;
        }
        let refused = results.iter().filter(|r| r.is_err()).count();
        self.metrics.rejected_txs.inc_by(refused as u64);
        self.forwarding.send(forward);
        results
    }

    /// Pools again, at start, what this node acknowledged before it stopped and has not seen
    /// committed, and forwards it; forgets what can no longer commit (committed meanwhile,
    /// nonce used, certificate expired). Returns how many were pooled.
    pub fn recover_pending(&self) -> Result<usize, SubmitError> {
        let internal = |e: crate::store::StoreError| SubmitError::Internal(e.to_string());
        let pending = self.store.pending().map_err(internal)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let view = self.store.read().map_err(internal)?;
        let mut forward = Vec::new();
        let mut forget = Vec::new();
        for raw in pending {
            let id = raw.id();
            match self.admit(&view, raw, true) {
                Ok((_, Admitted::New(tx))) => forward.push(tx),
                Ok((_, Admitted::Known(_))) => {}
                // Still valid; it stays recorded for the next start.
                Err(SubmitError::Tx(TxError::PoolFull)) => {}
                Err(e) => {
                    debug!(code = e.code(), %e, tx = %id, "recorded transaction dropped");
                    forget.push(id);
                }
            }
        }
        drop(view);
        self.store.drop_pending(forget.iter()).map_err(internal)?;
        let pooled = forward.len();
        self.forwarding.send(forward);
        Ok(pooled)
    }

    /// Checks and pools transactions a peer forwarded, as if a client had submitted them
    /// here; those that do not pass are dropped (their sender answered its client). Returns
    /// how many were pooled now.
    pub fn admit_forwarded(&self, txs: Vec<RawTx>) -> usize {
        // An observer does not propose; a validator that is not one yet has no use for them.
        if !self.is_validator() {
            return 0;
        }
        let Ok(view) = self.store.read() else {
            return 0;
        };
        let mut pooled = 0;
        for raw in txs {
            match self.admit(&view, raw, false) {
                Ok((_, Admitted::New(_))) => pooled += 1,
                Ok((_, Admitted::Known(_))) => {}
                Err(e) => debug!(code = e.code(), %e, "forwarded transaction not pooled"),
            }
        }
        self.metrics.forwarded_txs.inc_by(pooled as u64);
        pooled
    }

    /// Checks a transaction against the committed state `view` and pools it. `local`: a
    /// client submitted it here (rather than a peer forwarding it).
    fn admit(
        &self,
        view: &Reader,
        raw: RawTx,
        local: bool,
    ) -> Result<(TxId, Admitted), SubmitError> {
        if raw.encoded_len() > crate::tx::MAX_TX_BYTES {
            return Err(TxError::Malformed("transaction too large".into()).into());
        }
        let id = raw.id();
        // What is pending or has just committed costs no signature check: peers forward
        // every transaction to every validator, and a copy often arrives after the original.
        {
            let pool = self
                .mempool
                .lock()
                .map_err(|_| SubmitError::Internal("pool lock".into()))?;
            if pool.get(&id).is_some_and(|p| p.tx.raw == raw) {
                return Ok((id, Admitted::Known(raw)));
            }
            if pool.recently_committed(&id) {
                return Err(TxError::Duplicate(id.to_string()).into());
            }
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
        let first = signers
            .first()
            .ok_or_else(|| TxError::Malformed("no signature".into()))?;
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
        let nonce = body.nonce;
        let checked = Arc::new(CheckedTx {
            raw,
            id,
            signers,
            body: Some(Arc::new(body)),
        });
        let mut pool = self
            .mempool
            .lock()
            .map_err(|_| SubmitError::Internal("pool lock".into()))?;
        let added = match pool.add(checked.clone(), nonce, local)? {
            Added::New => Admitted::New(checked),
            Added::Known => Admitted::Known(checked.raw.clone()),
        };
        self.metrics.txpool.set(pool.len() as i64);
        Ok((id, added))
    }
}

/// What admission did with a transaction.
enum Admitted {
    /// Pooled now.
    New(Arc<CheckedTx>),
    /// Already pending here (the transaction, as submitted).
    Known(RawTx),
}

/// Checks the signatures of a block's transactions. Transactions this node already checked
/// (same id and bytes in its pool: submitted here, or forwarded by a peer) are not checked
/// again. The others are checked on every core: that is the expensive part of validating a
/// proposal.
pub fn check_block_txs(
    verifier: &Verifier,
    pool: &Mutex<Mempool>,
    chain: &ChainId,
    txs: &[RawTx],
) -> Result<Vec<Arc<CheckedTx>>, String> {
    let mut known: Vec<Option<Arc<CheckedTx>>> = Vec::with_capacity(txs.len());
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
    let unknown = known.iter().filter(|k| k.is_none()).count();
    if unknown == 0 {
        return Ok(known.into_iter().flatten().collect());
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = txs.len().div_ceil(threads).max(64);
    let check = |(t, k): (&RawTx, &Option<Arc<CheckedTx>>)| match k {
        Some(c) => Ok(c.clone()),
        None => {
            let id = t.id();
            verifier
                .verify_tx(t)
                .map(|signers| Arc::new(CheckedTx::new(t.clone(), id, signers, chain)))
                .map_err(|e| format!("transaction {id}: {e}"))
        }
    };
    if unknown <= 64 {
        // Not worth threads.
        return txs.iter().zip(&known).map(check).collect();
    }
    let mut out: Vec<Result<Vec<Arc<CheckedTx>>, String>> = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = txs
            .chunks(chunk)
            .zip(known.chunks(chunk))
            .map(|(ts, ks)| s.spawn(move || ts.iter().zip(ks).map(check).collect()))
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
