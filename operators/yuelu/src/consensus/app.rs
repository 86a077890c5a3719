//! The application side of Malachite: builds and checks blocks, commits decisions, serves
//! decided blocks to syncing peers. Every request from consensus is answered, or consensus
//! would stall.

use super::codec::{decode_certificate, encode_certificate};
use super::context::{
    Address, ChainContext, Height, ProposalPart, PublicKey, Validator, ValidatorSet, proposer_of,
};
use super::signing::Keys;
use crate::block::{Block, BlockHeader, BlockId};
use crate::chain::{Shared, TipInfo, allowed_peers, check_block_txs, now_ms};
use crate::keys;
use crate::state::{Executed, Registry, execute};
use crate::store::Tip;
use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, ExtendedCommitCertificate, LinearTimeouts, Round, Validity, VoteExtensions,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// Chunk size of streamed proposals: well under Malachite's 4 MiB pub-sub limit.
const PART_BYTES: usize = 256 * 1024;
/// Most blocks returned to one sync request.
const SYNC_BATCH: u64 = 50;

/// Why the consensus loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Storage failed: the node stops rather than diverge.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// Consensus went away.
    #[error("consensus channel closed")]
    Closed,
    /// A decided block is unknown here (should not happen: consensus only decides blocks
    /// this node was given).
    #[error("decided block {0} is unknown")]
    UnknownDecision(BlockId),
    /// Anything else fatal.
    #[error("{0}")]
    Fatal(String),
}

/// A proposal kept across restarts.
#[derive(BorshSerialize, BorshDeserialize)]
struct Undecided {
    proposer: Address,
    valid_round: Round,
    block: Block,
}

struct Stream {
    parts: BTreeMap<u64, ProposalPart>,
    fin_at: Option<u64>,
    started: Instant,
}

/// Timing of consensus.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Minimum time per height (the block interval).
    pub target: Duration,
    /// Round timeouts.
    pub timeouts: LinearTimeouts,
}

impl Timing {
    /// Timing for a block interval: timeouts stay well above the interval so that a busy
    /// machine does not skip rounds, and short enough that a crashed proposer costs about a
    /// second.
    pub fn for_interval(interval_ms: u32) -> Timing {
        let i = u64::from(interval_ms);
        let propose = Duration::from_millis((1000 + 2 * i).min(30_000));
        let vote = Duration::from_millis((400 + i).min(10_000));
        Timing {
            target: Duration::from_millis(i),
            timeouts: LinearTimeouts {
                propose,
                propose_delta: Duration::from_millis(500),
                prevote: vote,
                prevote_delta: Duration::from_millis(250),
                precommit: vote,
                precommit_delta: Duration::from_millis(250),
                rebroadcast: propose + vote + vote,
                max_timeout: Duration::from_secs(30),
            },
        }
    }
}

/// The consensus-side state of the node.
pub struct App {
    shared: Arc<Shared>,
    keys: Keys,
    address: Address,
    timing: Timing,
    config_peers: Vec<(yuelu_engine::NodeName, String)>,
    tip: Tip,
    registry: Registry,
    /// The validator set of `registry`, kept: decoding its keys costs a square root each.
    set: ValidatorSet,
    /// Blocks seen or built for the next height, by id, with their execution once checked.
    blocks: HashMap<BlockId, (Block, Option<Executed>)>,
    /// Blocks we built, by (height, round).
    built: HashMap<(u64, i64), BlockId>,
    /// Complete proposals for heights above the next one (we are behind).
    future: Vec<(u64, ProposalPart, Block)>,
    streams: HashMap<(String, Bytes), Stream>,
    stream_counter: u64,
    round: (u64, i64),
}

impl App {
    /// A new loop state from what the store holds.
    pub fn new(
        shared: Arc<Shared>,
        keys: Keys,
        timing: Timing,
        config_peers: Vec<(yuelu_engine::NodeName, String)>,
        tip: Tip,
        registry: Registry,
    ) -> App {
        let address = Address(keys::address_of(&keys.public().0));
        let set = validator_set_of(&registry);
        App {
            shared,
            keys,
            address,
            timing,
            config_peers,
            tip,
            registry,
            set,
            blocks: HashMap::new(),
            built: HashMap::new(),
            future: Vec::new(),
            streams: HashMap::new(),
            stream_counter: 0,
            round: (0, -1),
        }
    }

    /// This node's consensus address.
    pub fn address(&self) -> Address {
        self.address
    }

    fn validator_set(&self) -> ValidatorSet {
        self.set.clone()
    }

    fn params(&self) -> HeightParams<ChainContext> {
        HeightParams::new(
            self.validator_set(),
            self.timing.timeouts,
            Some(self.timing.target),
        )
    }

    /// Whether this node and the peers that hear its votes and proposals (connected and
    /// subscribed) hold more than two thirds of the voting power.
    fn quorum_connected(&self) -> bool {
        self.registry
            .quorum_with(&self.shared.node, &self.shared.gate.listening_ids())
            .0
    }

    fn next_height(&self) -> u64 {
        self.tip.height + 1
    }

    /// Runs until consensus stops or storage fails.
    pub async fn run(mut self, mut channels: Channels<ChainContext>) -> Result<(), AppError> {
        while let Some(msg) = channels.consensus.recv().await {
            self.handle(msg, &channels).await?;
        }
        Err(AppError::Closed)
    }

    async fn handle(
        &mut self,
        msg: AppMsg<ChainContext>,
        channels: &Channels<ChainContext>,
    ) -> Result<(), AppError> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                // Start the first height once connected to a quorum (or after a while): a
                // proposal gossiped before the peers are connected is lost, and costs a whole
                // propose timeout.
                let deadline = Instant::now() + Duration::from_secs(3);
                while Instant::now() < deadline && !self.quorum_connected() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                info!(height = self.next_height(), "consensus ready");
                let _ = reply.send((Height(self.next_height()), self.params()));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                role,
                reply_value,
            } => {
                debug!(%height, %round, %proposer, ?role, "started round");
                self.round = (height.0, round.as_i64());
                self.shared.metrics.round.set(round.as_i64());
                if let Ok(mut t) = self.shared.tip.write() {
                    t.consensus = self.round;
                }
                let values = self.values_for(height.0, round).await?;
                let _ = reply_value.send(values);
            }
            AppMsg::GetValue {
                height,
                round,
                timeout: _,
                reply,
            } => {
                let block = self.build(height.0, round).await?;
                let id = block.id();
                let _ = reply.send(LocallyProposedValue::new(height, round, id));
                self.stream(&block, height, round, Round::Nil, channels)
                    .await;
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions {
                extensions, reply, ..
            } => {
                let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
            }
            AppMsg::RestreamProposal {
                height,
                round,
                valid_round,
                address: _,
                value_id,
            } => {
                let block = match self.blocks.get(&value_id) {
                    Some((b, _)) => Some(b.clone()),
                    None => self.stored_block(height.0, &value_id)?,
                };
                match block {
                    Some(b) => self.stream(&b, height, round, valid_round, channels).await,
                    None => warn!(%height, %round, %value_id, "asked to restream an unknown block"),
                }
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::ReceivedProposalPart {
                from,
                published_by,
                part,
                reply,
            } => {
                let value = self.received_part(from, published_by, part).await?;
                let _ = reply.send(value);
            }
            AppMsg::Decided {
                certificate,
                extensions,
                reply,
            } => {
                self.commit(certificate, extensions).await?;
                let _ = reply.send(());
            }
            AppMsg::Finalized { reply, .. } => {
                let _ = reply.send(Next::Start(Height(self.next_height()), self.params()));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let values = self.decided_values(range.start().0, range.end().0)?;
                let _ = reply.send(values);
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let outcome = self.synced(height, round, proposer, value_bytes).await;
                let _ = reply.send(outcome);
            }
        }
        Ok(())
    }

    /// Values already seen for (height, round): kept proposals (after a restart) and proposals
    /// that arrived while this node was behind.
    async fn values_for(
        &mut self,
        height: u64,
        round: Round,
    ) -> Result<Vec<ProposedValue<ChainContext>>, AppError> {
        let mut out = Vec::new();
        if height != self.next_height() {
            return Ok(out);
        }
        let r = round.as_u32().unwrap_or(0);
        let kept = self.shared.store.read()?.undecided(height)?;
        for (kept_round, bytes) in kept {
            let Ok(u) = borsh::from_slice::<Undecided>(&bytes) else {
                continue;
            };
            let id = u.block.id();
            self.blocks.entry(id).or_insert((u.block, None));
            if kept_round == r {
                out.push(ProposedValue {
                    height: Height(height),
                    round,
                    valid_round: u.valid_round,
                    proposer: u.proposer,
                    value: id,
                    validity: Validity::Valid,
                });
            }
        }
        let future = std::mem::take(&mut self.future);
        for (h, init, block) in future {
            let ProposalPart::Init {
                round: pr,
                pol_round,
                proposer,
                ..
            } = init
            else {
                continue;
            };
            if h > height {
                self.future.push((h, init, block));
                continue;
            }
            if h < height || pr != round {
                continue;
            }
            let validity = self.check(&block).await;
            let id = block.id();
            if validity.is_valid() {
                self.keep(height, round, pol_round, proposer, &block)?;
            }
            out.push(ProposedValue {
                height: Height(height),
                round,
                valid_round: pol_round,
                proposer,
                value: id,
                validity,
            });
        }
        Ok(out)
    }

    fn keep(
        &self,
        height: u64,
        round: Round,
        valid_round: Round,
        proposer: Address,
        block: &Block,
    ) -> Result<(), AppError> {
        let entry = Undecided {
            proposer,
            valid_round,
            block: block.clone(),
        };
        let bytes = borsh::to_vec(&entry).map_err(|e| AppError::Fatal(e.to_string()))?;
        self.shared.store.put_undecided(
            height,
            round.as_u32().unwrap_or(0),
            &block.id(),
            &bytes,
        )?;
        Ok(())
    }

    fn stored_block(&self, height: u64, id: &BlockId) -> Result<Option<Block>, AppError> {
        for (_, bytes) in self.shared.store.read()?.undecided(height)? {
            if let Ok(u) = borsh::from_slice::<Undecided>(&bytes)
                && u.block.id() == *id
            {
                return Ok(Some(u.block));
            }
        }
        Ok(None)
    }

    /// Builds (or rebuilds, identically) this node's block for (height, round).
    async fn build(&mut self, height: u64, round: Round) -> Result<Block, AppError> {
        if let Some(id) = self.built.get(&(height, round.as_i64()))
            && let Some((b, _)) = self.blocks.get(id)
        {
            return Ok(b.clone());
        }
        // After a restart, the block built before the crash (if any) must be proposed again.
        for (r, bytes) in self.shared.store.read()?.undecided(height)? {
            if Some(r) == round.as_u32()
                && let Ok(u) = borsh::from_slice::<Undecided>(&bytes)
                && u.proposer == self.address
                && u.valid_round == Round::Nil
            {
                let id = u.block.id();
                self.built.insert((height, round.as_i64()), id);
                self.blocks.insert(id, (u.block.clone(), None));
                return Ok(u.block);
            }
        }
        let genesis = &self.shared.genesis;
        let max_txs = genesis.block.max_txs as usize;
        let max_bytes = genesis.block.max_bytes as usize;
        let candidates = match self.shared.mempool.lock() {
            Ok(p) => p.take_candidates(max_txs, max_bytes.saturating_sub(4096)),
            Err(_) => Vec::new(),
        };
        let time = now_ms().max(self.tip.time_unix_ms);
        let reader = self.shared.store.read()?;
        let executed = execute(
            &reader,
            &genesis.chain_id,
            &self.registry,
            &self.tip.frontier,
            height,
            time,
            &candidates,
        )
        .map_err(AppError::Fatal)?;
        drop(reader);
        let txs: Vec<_> = candidates.iter().map(|c| c.raw.clone()).collect();
        let header = BlockHeader {
            chain_id: genesis.chain_id.to_string(),
            height,
            time_unix_ms: time,
            proposer: self.address.0,
            parent: self.tip.block_id.0,
            txs_root: Block::compute_txs_root(&txs),
            state_root: executed.state_root(),
            state_size: executed.frontier.size(),
            tx_count: u32::try_from(txs.len()).unwrap_or(u32::MAX),
        };
        let block = Block { header, txs };
        let id = block.id();
        self.keep(height, round, Round::Nil, self.address, &block)?;
        info!(height, round = %round, txs = block.txs.len(), block = %id, "proposing");
        self.built.insert((height, round.as_i64()), id);
        self.blocks.insert(id, (block.clone(), Some(executed)));
        Ok(block)
    }

    async fn stream(
        &mut self,
        block: &Block,
        height: Height,
        round: Round,
        pol_round: Round,
        channels: &Channels<ChainContext>,
    ) {
        self.stream_counter += 1;
        let mut sid = height.0.to_be_bytes().to_vec();
        sid.extend_from_slice(&round.as_i64().to_be_bytes());
        sid.extend_from_slice(&self.stream_counter.to_be_bytes());
        let stream_id = StreamId::new(Bytes::from(sid));
        let mut parts = vec![ProposalPart::Init {
            height,
            round,
            pol_round,
            proposer: self.address,
        }];
        let bytes = block.encode();
        parts.extend(
            bytes
                .chunks(PART_BYTES)
                .map(|c| ProposalPart::Data(c.to_vec())),
        );
        parts.push(ProposalPart::Fin(self.keys.sign(&block.id().0)));
        let mut seq = 0u64;
        for p in parts {
            let msg = StreamMessage::new(stream_id.clone(), seq, StreamContent::Data(p));
            seq += 1;
            if channels
                .network
                .send(NetworkMsg::PublishProposalPart(msg))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = channels
            .network
            .send(NetworkMsg::PublishProposalPart(StreamMessage::new(
                stream_id,
                seq,
                StreamContent::Fin,
            )))
            .await;
    }

    async fn received_part(
        &mut self,
        from: PeerId,
        published_by: Option<PeerId>,
        part: StreamMessage<ProposalPart>,
    ) -> Result<Option<ProposedValue<ChainContext>>, AppError> {
        // Transactions a peer forwarded: checked and pooled off this loop.
        if let StreamContent::Data(ProposalPart::Txs(txs)) = part.content {
            self.shared.forwarding.received(txs);
            return Ok(None);
        }
        let key = (
            published_by.unwrap_or(from).to_string(),
            part.stream_id.to_bytes(),
        );
        // Drop half-received streams that went quiet.
        self.streams
            .retain(|_, s| s.started.elapsed() < Duration::from_secs(60));
        let s = self.streams.entry(key.clone()).or_insert_with(|| Stream {
            parts: BTreeMap::new(),
            fin_at: None,
            started: Instant::now(),
        });
        match part.content {
            StreamContent::Data(p) => {
                s.parts.insert(part.sequence, p);
            }
            StreamContent::Fin => s.fin_at = Some(part.sequence),
        }
        let complete = s
            .fin_at
            .is_some_and(|n| s.parts.len() as u64 == n && s.parts.keys().all(|k| *k < n));
        if !complete {
            return Ok(None);
        }
        let Some(s) = self.streams.remove(&key) else {
            return Ok(None);
        };
        let mut parts = s.parts.into_values();
        let Some(init @ ProposalPart::Init { .. }) = parts.next() else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        let mut fin = None;
        for p in parts {
            match p {
                ProposalPart::Data(d) => bytes.extend_from_slice(&d),
                ProposalPart::Fin(sig) => fin = Some(sig),
                ProposalPart::Init { .. } | ProposalPart::Txs(_) => return Ok(None),
            }
        }
        let ProposalPart::Init {
            height,
            round,
            pol_round,
            proposer,
        } = init
        else {
            return Ok(None);
        };
        let (Some(sig), Ok(block)) = (fin, Block::decode(&bytes)) else {
            warn!(%height, %round, "malformed proposal stream");
            return Ok(None);
        };
        let id = block.id();
        if height.0 > self.next_height() {
            // Cannot be checked before its parent commits; kept for StartedRound.
            if self.future.len() < 64 {
                self.future.push((height.0, init, block));
            }
            return Ok(None);
        }
        if height.0 < self.next_height() {
            return Ok(None);
        }
        // The streamer must be a validator of this height and have signed the block id.
        let set = self.validator_set();
        let signed = set
            .validators
            .iter()
            .find(|v| v.address == proposer)
            .is_some_and(|v| v.public_key.verify(&id.0, &sig));
        let validity = if signed {
            self.check(&block).await
        } else {
            warn!(%height, %round, %proposer, "proposal stream not signed by its proposer");
            Validity::Invalid
        };
        if validity.is_valid() {
            self.keep(height.0, round, pol_round, proposer, &block)?;
        }
        Ok(Some(ProposedValue {
            height,
            round,
            valid_round: pol_round,
            proposer,
            value: id,
            validity,
        }))
    }

    /// Checks a block for the next height and keeps its execution. Invalid blocks are voted
    /// against; they never reach the store.
    async fn check(&mut self, block: &Block) -> Validity {
        let id = block.id();
        if let Some((_, Some(_))) = self.blocks.get(&id) {
            return Validity::Valid;
        }
        match self.validate(block).await {
            Ok(executed) => {
                self.blocks.insert(id, (block.clone(), Some(executed)));
                Validity::Valid
            }
            Err(reason) => {
                warn!(height = block.header.height, block = %id, %reason, "invalid block");
                Validity::Invalid
            }
        }
    }

    async fn validate(&self, block: &Block) -> Result<Executed, String> {
        let h = &block.header;
        let g = &self.shared.genesis;
        if h.chain_id != g.chain_id.as_str() {
            return Err("wrong chain".into());
        }
        if h.height != self.next_height() {
            return Err(format!("height {} is not {}", h.height, self.next_height()));
        }
        if h.parent != self.tip.block_id.0 {
            return Err("wrong parent".into());
        }
        if h.time_unix_ms < self.tip.time_unix_ms {
            return Err("time goes backwards".into());
        }
        if h.time_unix_ms > now_ms() + 30_000 {
            return Err("time is more than 30 s ahead of this node's clock".into());
        }
        if !self
            .validator_set()
            .validators
            .iter()
            .any(|v| v.address.0 == h.proposer)
        {
            return Err("proposer is not a validator".into());
        }
        if h.tx_count as usize != block.txs.len() || block.txs.len() > g.block.max_txs as usize {
            return Err("transaction count".into());
        }
        let size: usize = block.txs.iter().map(|t| t.encoded_len()).sum();
        if size > g.block.max_bytes as usize {
            return Err("block too large".into());
        }
        if block
            .txs
            .iter()
            .any(|t| t.encoded_len() > crate::tx::MAX_TX_BYTES)
        {
            return Err("transaction too large".into());
        }
        if Block::compute_txs_root(&block.txs) != h.txs_root {
            return Err("transactions root mismatch".into());
        }
        let shared = self.shared.clone();
        let txs = block.txs.clone();
        let checked = tokio::task::spawn_blocking(move || {
            check_block_txs(
                &shared.verifier,
                &shared.mempool,
                &shared.genesis.chain_id,
                &txs,
            )
        })
        .await
        .map_err(|e| e.to_string())??;
        let reader = self.shared.store.read().map_err(|e| e.to_string())?;
        let ex = execute(
            &reader,
            &g.chain_id,
            &self.registry,
            &self.tip.frontier,
            h.height,
            h.time_unix_ms,
            &checked,
        )?;
        if ex.state_root() != h.state_root || ex.frontier.size() != h.state_size {
            return Err("state root mismatch".into());
        }
        Ok(ex)
    }

    async fn commit(
        &mut self,
        certificate: CommitCertificate<ChainContext>,
        extensions: VoteExtensions<ChainContext>,
    ) -> Result<(), AppError> {
        let height = certificate.height.0;
        let id = certificate.value_id;
        if height != self.next_height() {
            return Err(AppError::Fatal(format!(
                "decided height {height}, expected {}",
                self.next_height()
            )));
        }
        let (block, executed) = match self.blocks.remove(&id) {
            Some((b, Some(ex))) => (b, ex),
            Some((b, None)) => {
                let ex = self.validate(&b).await.map_err(|e| {
                    AppError::Fatal(format!("decided block {id} does not execute here: {e}"))
                })?;
                (b, ex)
            }
            None => match self.stored_block(height, &id)? {
                Some(b) => {
                    let ex = self.validate(&b).await.map_err(AppError::Fatal)?;
                    (b, ex)
                }
                None => return Err(AppError::UnknownDecision(id)),
            },
        };
        let cert = ExtendedCommitCertificate::from_commit_certificate_and_extensions(
            certificate,
            extensions,
        );
        let cert_bytes = encode_certificate(&cert);
        let store = self.shared.store.clone();
        // Moved to the blocking pool and back: a block's execution can be large, and copying it
        // would cost the consensus loop.
        let (block, executed) = tokio::task::spawn_blocking(move || {
            store
                .commit(&block, &cert_bytes, &executed)
                .map(|()| (block, executed))
        })
        .await
        .map_err(|e| AppError::Fatal(e.to_string()))??;

        // Durable: now update memory.
        self.tip = Tip {
            height,
            block_id: id,
            time_unix_ms: block.header.time_unix_ms,
            frontier: executed.frontier.clone(),
        };
        if let Some(reg) = executed.registry.clone() {
            info!(height, "registered nodes changed by governance");
            if reg.trust_roots != self.registry.trust_roots {
                // Before the next height is proposed or validated here (this loop does one
                // thing at a time), so every node trusts the new CAs from the same height.
                info!(height, "trust roots changed by governance");
                self.shared.verifier.set_chain_roots(&reg.trust_roots);
            }
            self.registry = reg;
            self.set = validator_set_of(&self.registry);
            self.shared.gate.set_allowed(allowed_peers(
                &self.config_peers,
                &self.registry,
                &self.shared.peer_id,
            ));
        }
        self.blocks.clear();
        self.built.retain(|(h, _), _| *h > height);
        self.future.retain(|(h, _, _)| *h > height);
        let ids: Vec<_> = executed.receipts.iter().map(|(id, _)| *id).collect();
        let took_effect = executed
            .receipts
            .iter()
            .filter(|(_, r)| r.code == "OK")
            .map(|(id, _)| id);
        let m = &self.shared.metrics;
        if let Ok(mut pool) = self.shared.mempool.lock() {
            for p in pool.remove_committed(ids.iter(), took_effect) {
                // Submit-to-commit as this node's clients see it; a forwarded copy's clock
                // started when it arrived here.
                if p.local {
                    m.commit_latency
                        .observe(p.submitted.elapsed().as_secs_f64());
                }
            }
            m.txpool.set(pool.len() as i64);
        }
        m.committed_txs.inc_by(ids.len() as u64);
        m.height.set(i64::try_from(height).unwrap_or(i64::MAX));
        if let Ok(mut t) = self.shared.tip.write() {
            *t = TipInfo {
                height,
                block_id: id,
                time_unix_ms: block.header.time_unix_ms,
                committed_at: Instant::now(),
                consensus: t.consensus,
                registry: self.registry.clone(),
            };
        }
        self.shared.committed.send_replace(height);
        info!(height, txs = ids.len(), block = %id, "committed");
        Ok(())
    }

    fn decided_values(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<RawDecidedValue<ChainContext>>, AppError> {
        let r = self.shared.store.read()?;
        let to = to
            .min(self.tip.height)
            .min(from.saturating_add(SYNC_BATCH - 1));
        let mut out = Vec::new();
        for h in from.max(1)..=to {
            let (Some(block), Some(cert)) = (r.block(h)?, r.certificate(h)?) else {
                break;
            };
            let Ok(cert) = decode_certificate(&cert) else {
                error!(height = h, "stored certificate does not decode");
                break;
            };
            out.push(RawDecidedValue::new(Bytes::from(block.encode()), cert));
        }
        Ok(out)
    }

    async fn synced(
        &mut self,
        height: Height,
        round: Round,
        proposer: Address,
        value_bytes: Bytes,
    ) -> SyncedValueOutcome<ChainContext> {
        let Ok(block) = Block::decode(&value_bytes) else {
            return SyncedValueOutcome::PeerFault;
        };
        if height.0 != self.next_height() {
            return SyncedValueOutcome::LocalTransientError;
        }
        let validity = self.check(&block).await;
        if validity.is_valid()
            && let Err(e) = self.keep(height.0, round, Round::Nil, proposer, &block)
        {
            error!(%e, "cannot keep a synced block");
            return SyncedValueOutcome::LocalTransientError;
        }
        SyncedValueOutcome::Verdict(ProposedValue {
            height,
            round,
            valid_round: Round::Nil,
            proposer,
            value: block.id(),
            validity,
        })
    }
}

/// The validator set of a registry.
pub fn validator_set_of(reg: &Registry) -> ValidatorSet {
    ValidatorSet::new(
        reg.validators()
            .filter_map(|n| {
                let vk = keys::decode_public_key(&n.consensus_key).ok()?;
                Some(Validator {
                    address: Address(keys::address_of(&vk)),
                    public_key: PublicKey(vk),
                    voting_power: n.voting_power,
                })
            })
            .collect(),
    )
}

/// The proposer of (height, round) under a registry (for tests and status).
pub fn proposer_address(reg: &Registry, height: u64, round: u32) -> Address {
    proposer_of(&validator_set_of(reg), Height(height), Round::new(round)).address
}
