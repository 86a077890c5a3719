//! The transaction pool: verified transactions waiting for this node's turn to propose.
//!
//! Transactions are not gossiped: each validator proposes what its own clients submitted, and
//! the proposer rotates every height, so a transaction waits at most one rotation. This keeps
//! signature checks to one per node per transaction.

use crate::state::{CheckedTx, nonce_key};
use crate::tx::{TxError, TxId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

/// A pooled transaction.
#[derive(Clone, Debug)]
pub struct Pooled {
    /// The checked transaction.
    pub tx: CheckedTx,
    /// Its nonce key, to refuse a second transaction with the same one.
    pub nonce_key: [u8; 40],
    /// When it was submitted here, for the commit-latency histogram.
    pub submitted: Instant,
    /// Its encoded size.
    pub size: usize,
}

/// The pool.
#[derive(Debug)]
pub struct Mempool {
    order: VecDeque<TxId>,
    txs: HashMap<TxId, Pooled>,
    nonces: HashSet<[u8; 40]>,
    capacity: usize,
}

impl Mempool {
    /// An empty pool holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> Mempool {
        Mempool {
            order: VecDeque::new(),
            txs: HashMap::new(),
            nonces: HashSet::new(),
            capacity,
        }
    }

    /// Transactions waiting.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Whether a transaction waits here.
    pub fn contains(&self, id: &TxId) -> bool {
        self.txs.contains_key(id)
    }

    /// The pooled transaction with this id.
    pub fn get(&self, id: &TxId) -> Option<&Pooled> {
        self.txs.get(id)
    }

    /// Adds a verified transaction (the caller checked the committed state).
    pub fn add(&mut self, tx: CheckedTx, nonce: u64) -> Result<(), TxError> {
        if self.txs.contains_key(&tx.id) {
            return Err(TxError::Duplicate(tx.id.to_string()));
        }
        let signer = tx
            .signers
            .first()
            .ok_or_else(|| TxError::Malformed("no signature".into()))?;
        let nk = nonce_key(&signer.id, nonce);
        if self.nonces.contains(&nk) {
            return Err(TxError::NonceReplayed { nonce });
        }
        if self.txs.len() >= self.capacity {
            return Err(TxError::PoolFull);
        }
        let size = tx.raw.encoded_len();
        self.nonces.insert(nk);
        self.order.push_back(tx.id);
        self.txs.insert(
            tx.id,
            Pooled {
                tx,
                nonce_key: nk,
                submitted: Instant::now(),
                size,
            },
        );
        Ok(())
    }

    /// Up to `max_txs` transactions and `max_bytes` bytes, oldest first.
    pub fn take_candidates(&self, max_txs: usize, max_bytes: usize) -> Vec<CheckedTx> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for id in &self.order {
            let Some(p) = self.txs.get(id) else { continue };
            if out.len() >= max_txs || bytes + p.size > max_bytes {
                break;
            }
            bytes += p.size;
            out.push(p.tx.clone());
        }
        out
    }

    /// Removes transactions (committed, or found invalid); returns those that were pooled.
    pub fn remove<'a>(&mut self, ids: impl IntoIterator<Item = &'a TxId>) -> Vec<Pooled> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(p) = self.txs.remove(id) {
                self.nonces.remove(&p.nonce_key);
                out.push(p);
            }
        }
        if !out.is_empty() {
            let txs = &self.txs;
            self.order.retain(|id| txs.contains_key(id));
        }
        out
    }
}
