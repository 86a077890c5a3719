//! Forwarding admitted transactions to the other validators.
//!
//! Without it a validator proposes only what its own clients submitted, and a transaction
//! waits for its node's turn (up to one rotation of the validators). So every transaction a
//! client submits here is, once checked and pooled, forwarded to the peers over the consensus
//! network (as a [`ProposalPart::Txs`] on the proposal-parts channel, which the peer gate
//! already restricts to registered nodes). Each peer checks it as it would a client's
//! submission (one signature check per node, off the critical path) and pools it; the next
//! proposer, whoever it is, includes it, and checking that proposal finds every transaction
//! already checked in the pool.
//!
//! A transaction is included once: every pool drops a block's transactions when it commits,
//! and remembers those that took effect, so a copy arriving late is not pooled again.
//! Execution refuses a second effect anyway (transaction ids and signer nonces take effect
//! once). Forwarding is best effort: a copy lost (queue full, peer down) still commits from
//! the pool of the node that admitted it.

use crate::block::RawTx;
use crate::chain::Shared;
use crate::consensus::context::{ChainContext, ProposalPart};
use crate::state::CheckedTx;
use bytes::Bytes;
use malachitebft_app_channel::NetworkMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// Most bytes of transactions in one forwarded message: well under the 4 MiB pub-sub limit.
pub const FORWARD_BYTES: usize = 1024 * 1024;
/// Batches of client transactions waiting to be forwarded. When full, new ones are not
/// forwarded (they commit from this node's pool instead).
const OUTBOX_BATCHES: usize = 1024;
/// Batches forwarded by peers waiting to be checked here. When full, new ones are dropped
/// (they commit from their sender's pool).
const INBOX_BATCHES: usize = 1024;
/// Stream ids of forwarded transactions start with this, so that they never look like a
/// proposal's (height, round, counter).
const STREAM_TAG: &[u8] = b"yuelu/txs/v1";

/// Both ends of forwarding, as the API and the consensus loop see them.
#[derive(Debug)]
pub struct Forwarding {
    outbox: mpsc::Sender<Vec<Arc<CheckedTx>>>,
    inbox: std_mpsc::SyncSender<Vec<RawTx>>,
}

/// The receiving ends, for [`Forwarding::start`].
#[derive(Debug)]
pub struct Queues {
    outbox: mpsc::Receiver<Vec<Arc<CheckedTx>>>,
    inbox: std_mpsc::Receiver<Vec<RawTx>>,
}

impl Forwarding {
    /// The queues, not yet served.
    pub fn new() -> (Forwarding, Queues) {
        let (out_tx, out_rx) = mpsc::channel(OUTBOX_BATCHES);
        let (in_tx, in_rx) = std_mpsc::sync_channel(INBOX_BATCHES);
        (
            Forwarding {
                outbox: out_tx,
                inbox: in_tx,
            },
            Queues {
                outbox: out_rx,
                inbox: in_rx,
            },
        )
    }

    /// Queues transactions just admitted from clients for the peers.
    pub fn send(&self, txs: Vec<Arc<CheckedTx>>) {
        if txs.is_empty() {
            return;
        }
        if let Err(e) = self.outbox.try_send(txs) {
            debug!(%e, "not forwarding transactions: the outbox is full");
        }
    }

    /// Queues transactions a peer forwarded, to be checked and pooled off the consensus
    /// loop.
    pub fn received(&self, txs: Vec<RawTx>) {
        if let Err(e) = self.inbox.try_send(txs) {
            debug!(%e, "dropping forwarded transactions: the inbox is full");
        }
    }

    /// Serves the queues: a task that publishes the outbox on the network, and a thread that
    /// checks what peers forwarded (signature checks are CPU work; they stay off the async
    /// runtime that runs consensus).
    pub fn start(
        queues: Queues,
        shared: Arc<Shared>,
        network: mpsc::Sender<NetworkMsg<ChainContext>>,
    ) -> std::io::Result<()> {
        let Queues { outbox, inbox } = queues;
        std::thread::Builder::new()
            .name("tx-inbox".into())
            .spawn(move || {
                while let Ok(batch) = inbox.recv() {
                    shared.admit_forwarded(batch);
                }
            })?;
        tokio::spawn(publish(outbox, network));
        Ok(())
    }
}

/// Publishes queued batches, merged up to [`FORWARD_BYTES`] per message.
async fn publish(
    mut outbox: mpsc::Receiver<Vec<Arc<CheckedTx>>>,
    network: mpsc::Sender<NetworkMsg<ChainContext>>,
) {
    let mut counter = 0u64;
    let mut pending: Vec<Arc<CheckedTx>> = Vec::new();
    while let Some(batch) = outbox.recv().await {
        pending.extend(batch);
        // Whatever queued meanwhile goes in the same messages.
        while let Ok(more) = outbox.try_recv() {
            pending.extend(more);
        }
        for part in chunks(std::mem::take(&mut pending)) {
            counter += 1;
            let mut id = STREAM_TAG.to_vec();
            id.extend_from_slice(&counter.to_be_bytes());
            let msg = StreamMessage::new(
                StreamId::new(Bytes::from(id)),
                0,
                StreamContent::Data(ProposalPart::Txs(part)),
            );
            if network
                .send(NetworkMsg::PublishProposalPart(msg))
                .await
                .is_err()
            {
                warn!("network gone; no more forwarding");
                return;
            }
        }
    }
}

/// Splits transactions into messages of at most [`FORWARD_BYTES`] (a larger transaction goes
/// alone).
fn chunks(txs: Vec<Arc<CheckedTx>>) -> Vec<Vec<RawTx>> {
    let mut out: Vec<Vec<RawTx>> = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0usize;
    for t in txs {
        let size = t.raw.encoded_len();
        if !current.is_empty() && bytes + size > FORWARD_BYTES {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(t.raw.clone());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::TxId;

    fn tx(n: usize) -> Arc<CheckedTx> {
        let raw = RawTx {
            body: "x".repeat(n),
            signatures: vec![],
        };
        Arc::new(CheckedTx {
            id: TxId::of_body(raw.body.as_bytes()),
            raw,
            signers: vec![],
            body: None,
        })
    }

    #[test]
    fn messages_stay_under_the_limit_and_keep_the_order() {
        let half = FORWARD_BYTES / 2;
        let txs = vec![tx(10), tx(half), tx(half), tx(FORWARD_BYTES * 2), tx(10)];
        let parts = chunks(txs.clone());
        let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 1, 1, 1]);
        let flat: Vec<&RawTx> = parts.iter().flatten().collect();
        assert_eq!(flat.len(), txs.len());
        assert!(flat.iter().zip(&txs).all(|(a, b)| **a == b.raw));
        assert!(chunks(vec![]).is_empty());
    }
}
