//! The pool's journal: a transaction is written durably before its client hears 202.
//!
//! A node answers a submission once the transaction is checked, pooled and recorded in the
//! store's `pending` table, so an acknowledged transaction survives kill -9 of the node that
//! took it even if no peer holds a copy yet. Committing a block removes its transactions from
//! the table in the same store transaction; at start the node checks what is left again, pools
//! what still can commit, forwards it, and forgets the rest (committed meanwhile, nonce used).
//!
//! Writes are grouped: one thread takes every request queued while the previous write was
//! syncing and writes them in one store transaction, so concurrent clients share an fsync
//! instead of queueing for one each.

use crate::block::RawTx;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::sync::mpsc;
use tracing::warn;

type Reply = mpsc::SyncSender<Result<(), String>>;

/// The writer's queue.
#[derive(Debug)]
pub struct Journal {
    queue: mpsc::Sender<(Vec<RawTx>, Reply)>,
}

impl Journal {
    /// Starts the writer thread over `store`.
    pub fn start(store: Arc<Store>) -> std::io::Result<Journal> {
        let (queue, requests) = mpsc::channel::<(Vec<RawTx>, Reply)>();
        std::thread::Builder::new()
            .name("tx-journal".into())
            .spawn(move || {
                while let Ok(first) = requests.recv() {
                    let mut group = vec![first];
                    group.extend(requests.try_iter());
                    let result = store
                        .put_pending(group.iter().flat_map(|(txs, _)| txs))
                        .map_err(|e: StoreError| e.to_string());
                    if let Err(e) = &result {
                        warn!(%e, "could not record acknowledged transactions");
                    }
                    for (_, reply) in group {
                        // A caller that went away no longer waits for the answer.
                        let _ = reply.send(result.clone());
                    }
                }
            })?;
        Ok(Journal { queue })
    }

    /// Records `txs` durably; returns when they are on disk (or the write failed). Blocks the
    /// calling thread: call it off the async runtime.
    pub fn record(&self, txs: Vec<RawTx>) -> Result<(), String> {
        if txs.is_empty() {
            return Ok(());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.queue
            .send((txs, reply))
            .map_err(|_| "the journal writer stopped".to_string())?;
        answer
            .recv()
            .map_err(|_| "the journal writer stopped".to_string())?
    }
}
