//! Peer admission: only registered identities take part.
//!
//! Malachite's network accepts any inbound libp2p peer (persistent-peers-only does not refuse
//! strangers). This gate sits between Malachite's network actor and its subscribers
//! (consensus, sync): every event from a peer whose id is not derived from a registered,
//! unrevoked node key is dropped, and the peer is disconnected at once, through the network's
//! own "invalid validator proof" path. Peers are recognised by libp2p peer id, which the noise
//! handshake authenticates with the peer's key.

use super::context::ChainContext;
use async_trait::async_trait;
use malachitebft_app_channel::app::engine::network::{Msg, NetworkEvent, NetworkRef, Subscriber};
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_network::Channel;
use malachitebft_network::validator_proof::ProofVerificationResult;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tracing::{info, warn};

type Net = Msg<ChainContext>;
type Event = NetworkEvent<ChainContext>;

/// Who may connect, who is connected, and what they last said their height was.
#[derive(Debug, Default)]
pub struct PeerGate {
    allowed: RwLock<HashSet<String>>,
    connected: Mutex<HashMap<String, Peer>>,
    refused: AtomicU64,
    network: OnceLock<NetworkRef<ChainContext>>,
}

/// A connected registered peer.
#[derive(Debug)]
struct Peer {
    id: PeerId,
    /// The height it last announced.
    height: u64,
    /// The consensus channels it subscribed to ([`CONSENSUS`] and [`PROPOSALS`] bits): a
    /// message published before a peer subscribes never reaches it.
    channels: u8,
}

const CONSENSUS: u8 = 1;
const PROPOSALS: u8 = 2;

impl PeerGate {
    /// A gate letting in exactly these peer ids (base58).
    pub fn new(allowed: HashSet<String>) -> Arc<PeerGate> {
        Arc::new(PeerGate {
            allowed: RwLock::new(allowed),
            ..PeerGate::default()
        })
    }

    /// Whether a peer may take part.
    pub fn allows(&self, peer: &str) -> bool {
        self.allowed
            .read()
            .map(|a| a.contains(peer))
            .unwrap_or(false)
    }

    /// Replaces the allowed set (after a governance change) and disconnects peers no longer
    /// in it.
    pub fn set_allowed(&self, allowed: HashSet<String>) {
        let gone: Vec<(String, PeerId)> = match self.connected.lock() {
            Ok(c) => c
                .iter()
                .filter(|(p, _)| !allowed.contains(*p))
                .map(|(p, peer)| (p.clone(), peer.id))
                .collect(),
            Err(_) => vec![],
        };
        if let Ok(mut a) = self.allowed.write() {
            *a = allowed;
        }
        for (p, id) in gone {
            warn!(peer = %p, "disconnecting a peer whose identity was revoked");
            if let Ok(mut c) = self.connected.lock() {
                c.remove(&p);
            }
            self.kick(id);
        }
    }

    /// Registered peers connected now.
    pub fn connected(&self) -> usize {
        self.connected.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Ids of registered peers that hear this node's votes and proposals now: connected and
    /// subscribed to both consensus channels.
    pub fn listening_ids(&self) -> HashSet<String> {
        self.connected
            .lock()
            .map(|c| {
                c.iter()
                    .filter(|(_, peer)| peer.channels == CONSENSUS | PROPOSALS)
                    .map(|(p, _)| p.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The highest height a connected peer announced.
    pub fn best_peer_height(&self) -> u64 {
        self.connected
            .lock()
            .map(|c| c.values().map(|peer| peer.height).max().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Connection attempts refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn kick(&self, peer_id: PeerId) {
        if let Some(net) = self.network.get() {
            let _ = net.cast(Msg::ValidatorProofVerified {
                peer_id,
                result: ProofVerificationResult::Invalid,
                public_key: None,
            });
        }
    }
}

fn peer_of(ev: &Event) -> Option<(PeerId, String)> {
    use NetworkEvent as E;
    let p = match ev {
        E::Listening(_) => return None,
        E::PeerConnected(p)
        | E::PeerDisconnected(p)
        | E::PeerSubscribed(p, _)
        | E::Vote(p, _)
        | E::Proposal(p, _)
        | E::ProposalPart(p, _, _)
        | E::PolkaCertificate(p, _)
        | E::RoundCertificate(p, _)
        | E::ValidatorProofReceived { peer_id: p, .. }
        | E::Status(p, _)
        | E::SyncRequest(_, p, _)
        | E::SyncResponse(_, p, _)
        | E::SyncRequestFailed(_, p, _)
        | E::SyncInboundRequestFailed(_, p) => p,
    };
    Some((*p, p.to_string()))
}

/// The network actor consensus and sync talk to: forwards everything to Malachite's network
/// actor, and subscribes each subscriber through a filtering relay.
struct Gate;

struct GateState {
    inner: NetworkRef<ChainContext>,
    gate: Arc<PeerGate>,
    relays: usize,
}

#[async_trait]
impl Actor for Gate {
    type Msg = Net;
    type State = GateState;
    type Arguments = GateState;

    async fn pre_start(
        &self,
        _myself: ActorRef<Net>,
        args: GateState,
    ) -> Result<GateState, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Net>,
        msg: Net,
        state: &mut GateState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Subscribe(subscriber) => {
                // The first relay keeps the books (connected peers, refusals); the others only
                // filter, so nothing is counted twice.
                let primary = state.relays == 0;
                state.relays += 1;
                let (relay, _) = Actor::spawn(
                    None,
                    Relay,
                    RelayState {
                        subscriber,
                        gate: state.gate.clone(),
                        primary,
                    },
                )
                .await?;
                state.inner.cast(Msg::Subscribe(Box::new(relay)))?;
            }
            other => state.inner.cast(other)?,
        }
        Ok(())
    }
}

/// Spawns the gate in front of Malachite's network actor.
pub async fn spawn(
    inner: NetworkRef<ChainContext>,
    gate: Arc<PeerGate>,
) -> Result<NetworkRef<ChainContext>, ActorProcessingErr> {
    let _ = gate.network.set(inner.clone());
    let (r, _) = Actor::spawn(
        None,
        Gate,
        GateState {
            inner,
            gate,
            relays: 0,
        },
    )
    .await?;
    Ok(r)
}

/// A network event on its way to one subscriber.
#[derive(Clone)]
pub struct Relayed(Event);

impl From<Event> for Relayed {
    fn from(e: Event) -> Self {
        Relayed(e)
    }
}

struct Relay;

struct RelayState {
    subscriber: Box<dyn Subscriber<Event>>,
    gate: Arc<PeerGate>,
    primary: bool,
}

#[async_trait]
impl Actor for Relay {
    type Msg = Relayed;
    type State = RelayState;
    type Arguments = RelayState;

    async fn pre_start(
        &self,
        _myself: ActorRef<Relayed>,
        args: RelayState,
    ) -> Result<RelayState, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Relayed>,
        Relayed(ev): Relayed,
        state: &mut RelayState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((pid, peer)) = peer_of(&ev) else {
            state.subscriber.send(ev);
            return Ok(());
        };
        let gate = &state.gate;
        if !gate.allows(&peer) {
            if state.primary && matches!(ev, NetworkEvent::PeerConnected(_)) {
                gate.refused.fetch_add(1, Ordering::Relaxed);
                warn!(%peer, "refused an unregistered peer");
                gate.kick(pid);
            }
            return Ok(());
        }
        if state.primary
            && let Ok(mut c) = gate.connected.lock()
        {
            let new = || Peer {
                id: pid,
                height: 0,
                channels: 0,
            };
            match &ev {
                NetworkEvent::PeerConnected(_) => {
                    info!(%peer, "registered peer connected");
                    c.entry(peer).or_insert_with(new);
                }
                NetworkEvent::PeerSubscribed(_, channel) => {
                    c.entry(peer).or_insert_with(new).channels |= match channel {
                        Channel::Consensus => CONSENSUS,
                        Channel::ProposalParts => PROPOSALS,
                        Channel::Liveness | Channel::Sync => 0,
                    };
                }
                NetworkEvent::Status(_, status) => {
                    c.entry(peer).or_insert_with(new).height = status.tip_height.0;
                }
                NetworkEvent::PeerDisconnected(_) => {
                    c.remove(&peer);
                }
                _ => {}
            }
        }
        state.subscriber.send(ev);
        Ok(())
    }
}
