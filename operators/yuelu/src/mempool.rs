//! The transaction pool: verified transactions waiting to be proposed.
//!
//! A validator pools what its own clients submit and what its peers forwarded to it (each
//! checked here before it is pooled), so whichever validator proposes next includes it: a
//! transaction waits about one height, not for the turn of the node it was submitted to.
//! Committed transactions leave every pool; the ids of those that took effect are remembered
//! for a while, so that a copy forwarded late is not pooled (and proposed) again.

use crate::state::{CheckedTx, nonce_key};
use crate::tx::{TxError, TxId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// How many committed transaction ids the pool remembers (several seconds of blocks at the
/// highest rates this node sustains): a forwarded copy arriving after its transaction
/// committed is refused without a store lookup racing the commit.
const RECENT_COMMITTED: usize = 200_000;

/// A pooled transaction.
#[derive(Clone, Debug)]
pub struct Pooled {
    /// The checked transaction.
    pub tx: Arc<CheckedTx>,
    /// Its nonce key, to refuse a second transaction with the same one.
    pub nonce_key: [u8; 40],
    /// When it was pooled here, for the commit-latency histogram.
    pub submitted: Instant,
    /// Its encoded size.
    pub size: usize,
    /// Whether a client submitted it here (rather than a peer forwarding it): only those
    /// count in this node's submit-to-commit latency.
    pub local: bool,
}

/// What [`Mempool::add`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// Pooled now.
    New,
    /// The very same transaction (same id and bytes) was already pooled.
    Known,
}

/// The pool.
#[derive(Debug)]
pub struct Mempool {
    order: VecDeque<TxId>,
    txs: HashMap<TxId, Pooled>,
    nonces: HashSet<[u8; 40]>,
    capacity: usize,
    recent: HashSet<TxId>,
    recent_order: VecDeque<TxId>,
}

impl Mempool {
    /// An empty pool holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> Mempool {
        Mempool {
            order: VecDeque::new(),
            txs: HashMap::new(),
            nonces: HashSet::new(),
            capacity,
            recent: HashSet::new(),
            recent_order: VecDeque::new(),
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

    /// Whether a transaction with this id took effect in a recent block.
    pub fn recently_committed(&self, id: &TxId) -> bool {
        self.recent.contains(id)
    }

    /// Adds a verified transaction (the caller checked the committed state). The same
    /// transaction again is [`Added::Known`]; another one with its id (other signatures) or
    /// its signer's nonce is refused.
    pub fn add(&mut self, tx: Arc<CheckedTx>, nonce: u64, local: bool) -> Result<Added, TxError> {
        if let Some(p) = self.txs.get(&tx.id) {
            if p.tx.raw == tx.raw {
                return Ok(Added::Known);
            }
            return Err(TxError::Duplicate(tx.id.to_string()));
        }
        if self.recent.contains(&tx.id) {
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
                local,
            },
        );
        Ok(Added::New)
    }

    /// Up to `max_txs` transactions and `max_bytes` bytes, oldest first.
    pub fn take_candidates(&self, max_txs: usize, max_bytes: usize) -> Vec<Arc<CheckedTx>> {
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

    /// Removes the transactions of a committed block; returns those that were pooled.
    /// `took_effect` are the ids that succeeded: they are remembered, so that a late
    /// forwarded copy is not pooled again (a failed one may come back, e.g. governance with
    /// more approvals).
    pub fn remove_committed<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a TxId>,
        took_effect: impl IntoIterator<Item = &'a TxId>,
    ) -> Vec<Pooled> {
        for id in took_effect {
            if self.recent.insert(*id) {
                self.recent_order.push_back(*id);
            }
        }
        while self.recent_order.len() > RECENT_COMMITTED {
            if let Some(old) = self.recent_order.pop_front() {
                self.recent.remove(&old);
            }
        }
        self.remove(ids)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::RawTx;
    use crate::verify::{KeyKind, Signer};

    fn tx(body: &str, signer: u8) -> Arc<CheckedTx> {
        let raw = RawTx {
            body: body.into(),
            signatures: vec![(vec![signer], vec![])],
        };
        let signer = Arc::new(Signer {
            kind: KeyKind::P256,
            id: [signer; 32],
            point: vec![],
            issuer_key: [0; 32],
            orgs: vec![],
            admin: false,
            subject: "CN=s".into(),
            not_before: 0,
            not_after: i64::MAX,
        });
        Arc::new(CheckedTx {
            id: raw.id(),
            raw,
            signers: vec![signer],
            body: None,
        })
    }

    #[test]
    fn the_same_transaction_twice_is_known_and_a_committed_one_stays_out() {
        let mut pool = Mempool::new(10);
        let a = tx("a", 1);
        assert_eq!(pool.add(a.clone(), 1, true), Ok(Added::New));
        // Forwarded by a peer after a client submitted it here: nothing changes.
        assert_eq!(pool.add(a.clone(), 1, false), Ok(Added::Known));
        assert_eq!(pool.len(), 1);
        assert!(pool.get(&a.id).unwrap().local);
        // Same id, other signatures: refused.
        let mut other = (*a).clone();
        other.raw.signatures = vec![(vec![1], vec![9])];
        assert_eq!(
            pool.add(Arc::new(other), 1, false).unwrap_err().code(),
            "TX_DUPLICATE"
        );
        // Another transaction with the same signer and nonce: refused.
        assert_eq!(
            pool.add(tx("b", 1), 1, false).unwrap_err().code(),
            "NONCE_REPLAYED"
        );
        let b = tx("b", 2);
        pool.add(b.clone(), 1, false).unwrap();
        assert_eq!(pool.take_candidates(10, 1 << 20).len(), 2);

        // `a` took effect, `b` failed: a late copy of `a` is refused, `b` may come back.
        let gone = pool.remove_committed([&a.id, &b.id], [&a.id]);
        assert_eq!(gone.len(), 2);
        assert!(pool.is_empty());
        assert!(pool.recently_committed(&a.id));
        assert_eq!(
            pool.add(a.clone(), 1, false).unwrap_err().code(),
            "TX_DUPLICATE"
        );
        assert_eq!(pool.add(b, 1, true), Ok(Added::New));
    }

    #[test]
    fn a_full_pool_refuses() {
        let mut pool = Mempool::new(1);
        pool.add(tx("a", 1), 1, true).unwrap();
        assert_eq!(
            pool.add(tx("b", 2), 1, true).unwrap_err().code(),
            "TXPOOL_FULL"
        );
    }
}
