//! `yuelu node`: one node of a built-in chain.

use crate::block::BlockId;
use crate::chain::{Shared, TipInfo, allowed_peers};
use crate::config::NodeConfig;
use crate::consensus::app::{App, AppError, Timing};
use crate::consensus::codec::ChainCodec;
use crate::consensus::context::ChainContext;
use crate::consensus::gate::{self, PeerGate};
use crate::consensus::signing::Keys;
use crate::forward::Forwarding;
use crate::genesis::{GENESIS_PATH, GenesisDoc};
use crate::journal::Journal;
use crate::keys::NodeKey;
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::state::Registry;
use crate::store::Store;
use crate::verify::Verifier;
use malachitebft_app_channel::app::config::{
    ConsensusConfig, DiscoveryConfig, NodeConfig as EngineNodeConfig, P2pConfig, PubSubProtocol,
    ValueSyncConfig,
};
use malachitebft_app_channel::app::metrics::SharedRegistry;
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::{
    ConsensusContext, EngineBuilder, NetworkIdentity, RequestContext, Signer, SyncContext,
    WalContext,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{error, info, warn};
use yuelu_engine::{Genesis, OrgName, RelPath, TrustRoots};

/// Flags of `yuelu node`. Relative paths resolve against the working directory (the node's
/// home in a plan).
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// The node config written by the engine plugin (identity, ports, registered members).
    #[arg(long, env = "YUELU_NODE_CONFIG", default_value = "config/node.json")]
    pub config: PathBuf,
    /// The network's genesis file; its hash must be the one the config names.
    #[arg(long, env = "YUELU_NODE_GENESIS", default_value = "genesis.json")]
    pub genesis: PathBuf,
    /// The node's private key (PKCS#8 PEM, ECDSA P-256); must match the config's identity.
    #[arg(long, env = "YUELU_NODE_KEY", default_value = "config/node.key")]
    pub key: PathBuf,
    /// The node's certificate for its key, issued by its organisation's CA. Checked at start
    /// when present (it must certify the node key and be issued by a CA of the node's own
    /// organisation's trust roots).
    #[arg(
        long,
        env = "YUELU_NODE_CERTIFICATE",
        default_value = "config/node-cert.pem"
    )]
    pub certificate: PathBuf,
    /// The network's trust roots per organisation: a JSON object of organisation name to the
    /// PEM bundle of that member's CA certificates. Client certificates must be issued by one
    /// of them, and the issuing CA (never the certificate's subject) says which member a
    /// signer is an admin of for governance. Without this file the node falls back to
    /// --ca-bundle.
    #[arg(
        long,
        env = "YUELU_NODE_TRUST_ROOTS",
        default_value = "config/trust-roots.json"
    )]
    pub trust_roots: PathBuf,
    /// A plain PEM bundle of trusted CA certificates, read only when the --trust-roots file
    /// does not exist (homes planned before trust roots): its certificates sign ordinary
    /// transactions but belong to no organisation, so no governance approval counts.
    #[arg(
        long,
        env = "YUELU_NODE_CA_BUNDLE",
        default_value = "config/ca-bundle.pem"
    )]
    pub ca_bundle: PathBuf,
    /// Directory of durable state (blocks, state, consensus WAL).
    #[arg(long, env = "YUELU_NODE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Stop when the parent process goes away (a supervisor that died cannot restart us).
    #[arg(
        long,
        env = "YUELU_NODE_EXIT_WITH_PARENT",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub exit_with_parent: bool,
    /// Most transactions waiting in the pool.
    #[arg(long, env = "YUELU_NODE_TXPOOL_SIZE", default_value_t = 200_000)]
    pub txpool_size: usize,
}

/// Why the node stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A file named by a flag is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The config, genesis or key do not fit together.
    #[error("invalid setup: {0}")]
    Setup(String),
    /// The node certificate is not acceptable.
    #[error("node certificate: {0}")]
    Certificate(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The consensus engine failed to start.
    #[error("consensus engine: {0}")]
    Engine(String),
    /// The HTTP server failed.
    #[error("http: {0}")]
    Http(#[from] std::io::Error),
    /// The consensus loop stopped.
    #[error("consensus: {0}")]
    Consensus(#[from] AppError),
}

impl NodeError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            NodeError::Read { .. } => "FILE_UNREADABLE",
            NodeError::Setup(_) => "SETUP_INVALID",
            NodeError::Certificate(_) => "NODE_CERTIFICATE_INVALID",
            NodeError::Store(_) => "STORE_FAILED",
            NodeError::Engine(_) => "ENGINE_FAILED",
            NodeError::Http(_) => "HTTP_FAILED",
            NodeError::Consensus(_) => "CONSENSUS_FAILED",
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, NodeError> {
    std::fs::read(path).map_err(|source| NodeError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Malachite's view of our config.
#[derive(Clone, Debug)]
struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl EngineNodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

fn multiaddr(host: &str, port: u16) -> Result<Multiaddr, NodeError> {
    let proto = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => "ip4",
        Ok(std::net::IpAddr::V6(_)) => "ip6",
        Err(_) => "dns",
    };
    format!("/{proto}/{host}/tcp/{port}")
        .parse()
        .map_err(|e| NodeError::Setup(format!("address {host}:{port}: {e}")))
}

/// The client-certificate verifier from the trust-roots file, or (without one) the plain CA
/// bundle. Returns whether trust roots were read: only then do certificates name members.
fn load_verifier(args: &NodeArgs) -> Result<(Verifier, bool), NodeError> {
    match std::fs::read(&args.trust_roots) {
        Ok(bytes) => {
            let setup = |e: String| {
                NodeError::Setup(format!("trust roots {}: {e}", args.trust_roots.display()))
            };
            let roots = TrustRoots::from_bytes(&bytes).map_err(|e| setup(e.to_string()))?;
            let verifier = Verifier::from_trust_roots(&roots).map_err(|e| setup(e.to_string()))?;
            let orgs: Vec<String> = verifier
                .organisations()
                .iter()
                .map(ToString::to_string)
                .collect();
            info!(
                organisations = %orgs.join(","),
                cas = verifier.ca_count(),
                "trust roots loaded"
            );
            if args.ca_bundle.exists() {
                info!(path = %args.ca_bundle.display(), "CA bundle ignored: the trust roots say whom to trust");
            }
            Ok((verifier, true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            warn!(
                path = %args.trust_roots.display(),
                "no trust roots: certificates belong to no organisation and no governance approval counts"
            );
            let verifier = match std::fs::read(&args.ca_bundle) {
                Ok(pem) => Verifier::from_pem(&pem).map_err(|e| NodeError::Setup(e.to_string()))?,
                Err(e) => {
                    warn!(path = %args.ca_bundle.display(), %e, "no CA bundle either: no client transaction will be accepted");
                    Verifier::default()
                }
            };
            Ok((verifier, false))
        }
        Err(source) => Err(NodeError::Read {
            path: args.trust_roots.clone(),
            source,
        }),
    }
}

/// Checks the node certificate: it certifies the node key and is issued by a trusted CA; with
/// trust roots, by one of the node's own organisation (from its file or from the chain).
fn check_certificate(
    verifier: &Verifier,
    pem: &[u8],
    key: &NodeKey,
    own_org: Option<(&OrgName, &Registry)>,
) -> Result<(), NodeError> {
    use x509_parser::prelude::Pem;
    let block = Pem::iter_from_buffer(pem)
        .next()
        .ok_or_else(|| NodeError::Certificate("no PEM certificate in the file".into()))?
        .map_err(|e| NodeError::Certificate(e.to_string()))?;
    let signer = verifier
        .signer(&block.contents)
        .map_err(|e| NodeError::Certificate(e.to_string()))?;
    let point = key
        .signing_key()
        .verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    if signer.point != point {
        return Err(NodeError::Certificate(
            "it certifies another key than the node key".into(),
        ));
    }
    if !signer.valid_at(crate::chain::now_ms()) {
        return Err(NodeError::Certificate("expired or not yet valid".into()));
    }
    if let Some((org, registry)) = own_org {
        let ours = signer.orgs.contains(org)
            || registry.orgs_trusting(&signer.issuer_key).any(|o| o == org);
        if !ours {
            return Err(NodeError::Certificate(format!(
                "not issued by a CA in the trust roots of its organisation {org}"
            )));
        }
    }
    Ok(())
}

/// Runs a node until it is told to stop (SIGTERM, SIGINT, or its parent going away).
pub async fn run(args: NodeArgs) -> Result<(), NodeError> {
    // Files.
    let config = NodeConfig::from_bytes(&read(&args.config)?)
        .map_err(|e| NodeError::Setup(e.to_string()))?;
    let genesis_bytes = read(&args.genesis)?;
    let genesis_hash = Genesis::from_files(BTreeMap::from([(
        RelPath::new(GENESIS_PATH).map_err(|e| NodeError::Setup(e.to_string()))?,
        genesis_bytes.clone(),
    )]))
    .hash;
    if genesis_hash != config.genesis_hash {
        return Err(NodeError::Setup(format!(
            "genesis hash {genesis_hash} is not the config's {}",
            config.genesis_hash
        )));
    }
    let genesis =
        GenesisDoc::from_bytes(&genesis_bytes).map_err(|e| NodeError::Setup(e.to_string()))?;
    if genesis.chain_id != config.chain_id {
        return Err(NodeError::Setup(
            "genesis and config name different chains".into(),
        ));
    }
    let key_pem = String::from_utf8(read(&args.key)?)
        .map_err(|_| NodeError::Setup("node key is not PEM text".into()))?;
    let key = NodeKey::from_pkcs8_pem(&key_pem).map_err(|e| NodeError::Setup(e.to_string()))?;
    let me = config
        .me()
        .map_err(|e| NodeError::Setup(e.to_string()))?
        .clone();
    if me.identity.consensus_key.hex != key.public_key().hex {
        return Err(NodeError::Setup(
            "the node key is not the key registered for this node".into(),
        ));
    }
    let peer_id = key.peer_id().map_err(|e| NodeError::Setup(e.to_string()))?;
    let (verifier, per_org) = load_verifier(&args)?;

    // State.
    let store = Arc::new(Store::open(&args.data_dir, &genesis.validators)?);
    let reader = store.read()?;
    let registry = reader.registry()?;
    // Trust roots governance recorded up to the tip: trusted as by every other node.
    verifier.set_chain_roots(&registry.trust_roots);
    match std::fs::read(&args.certificate) {
        Ok(pem) => {
            let own = per_org.then_some((&me.identity.org, &registry));
            check_certificate(&verifier, &pem, &key, own)?;
            info!("node certificate checked");
        }
        Err(_) => warn!(
            path = %args.certificate.display(),
            "no node certificate; the node runs on its registered key alone"
        ),
    }
    let genesis_id = BlockId(
        hex::decode(&genesis_hash.0)
            .ok()
            .and_then(|b| b.try_into().ok())
            .unwrap_or_default(),
    );
    let tip = reader.tip(genesis_id, genesis.genesis_time_unix_ms)?;
    drop(reader);
    let config_peers: Vec<(yuelu_engine::NodeName, String)> = config
        .members
        .iter()
        .map(|m| (m.identity.node.clone(), m.identity.peer_id.0.clone()))
        .collect();
    let gate = PeerGate::new(allowed_peers(&config_peers, &registry, &peer_id.0));
    let metrics = Metrics::new().map_err(|e| NodeError::Setup(e.to_string()))?;
    metrics
        .height
        .set(i64::try_from(tip.height).unwrap_or(i64::MAX));
    let (committed, _) = watch::channel(tip.height);
    let (forwarding, forward_queues) = Forwarding::new();
    let shared = Arc::new(Shared {
        genesis: genesis.clone(),
        node: config.node.clone(),
        role: me.identity.role,
        peer_id: peer_id.0.clone(),
        store: store.clone(),
        verifier,
        mempool: Mutex::new(Mempool::new(args.txpool_size)),
        forwarding,
        journal: Journal::start(store.clone())
            .map_err(|e| NodeError::Setup(format!("journal thread: {e}")))?,
        gate: gate.clone(),
        metrics,
        tip: RwLock::new(TipInfo {
            height: tip.height,
            block_id: tip.block_id,
            time_unix_ms: tip.time_unix_ms,
            committed_at: Instant::now(),
            consensus: (tip.height + 1, 0),
            registry: registry.clone(),
        }),
        committed,
        started: Instant::now(),
    });

    // What this node acknowledged before it stopped and has not seen committed.
    match shared.recover_pending() {
        Ok(0) => {}
        Ok(n) => info!(
            transactions = n,
            "pooled again the transactions acknowledged before the restart"
        ),
        Err(e) => return Err(NodeError::Setup(format!("recorded transactions: {e}"))),
    }

    // HTTP first: probes answer (not ready) while consensus starts.
    let http = crate::api::serve(shared.clone(), &config.bind, config.rpc_port)?;
    let http_handle = http.handle();
    let http_task = tokio::spawn(http);
    info!(bind = %config.bind, port = config.rpc_port, "HTTP API listening");

    // Consensus.
    let keys = Keys::new(key.signing_key().clone());
    let timing = Timing::for_interval(genesis.block.interval_ms);
    let app = App::new(
        shared.clone(),
        keys.clone(),
        timing,
        config_peers,
        tip,
        registry.clone(),
    );
    let address = app.address();
    let persistent_peers = config
        .members
        .iter()
        .filter(|m| m.identity.node != config.node)
        .map(|m| multiaddr(&m.host, m.p2p_port))
        .collect::<Result<Vec<_>, _>>()?;
    let engine_config = EngineConfig {
        moniker: config.node.to_string(),
        consensus: ConsensusConfig {
            p2p: P2pConfig {
                listen_addr: multiaddr(&config.bind, config.p2p_port)?,
                persistent_peers,
                // Malachite's own persistent-peers-only mode forgets a restarted peer's id and
                // then refuses its reconnection both ways; the gate refuses strangers instead.
                persistent_peers_only: false,
                discovery: DiscoveryConfig {
                    enabled: false,
                    ..DiscoveryConfig::default()
                },
                // Every member dials every other (no discovery), so messages go straight to
                // each peer; GossipSub would relay each one again through the mesh and sign
                // and check each copy with the libp2p key (P-256, in software), which cost
                // more CPU than checking the transactions themselves. Connections are
                // authenticated by the noise handshake, and the gate admits registered peers
                // only, so the per-message signature added nothing.
                protocol: PubSubProtocol::Broadcast,
                ..P2pConfig::default()
            },
            ..ConsensusConfig::default()
        },
        value_sync: ValueSyncConfig {
            enabled: true,
            status_update_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            ..ValueSyncConfig::default()
        },
    };
    let libp2p_key = key
        .libp2p_keypair()
        .map_err(|e| NodeError::Setup(e.to_string()))?;
    let is_validator = registry.validators().any(|v| v.node == config.node);
    // Every node gets its signer and announces its validator proof, observers too: Malachite
    // decides per height from the validator set whether a node votes, so an observer promoted
    // by governance starts voting at the height its promotion takes effect, without a restart.
    let proof = keys
        .sign_validator_proof(
            keys.public().to_sec1(),
            libp2p_key.public().to_peer_id().to_bytes(),
        )
        .await
        .map_err(|e| NodeError::Engine(e.to_string()))?;
    let proof = ChainCodec
        .encode(&proof)
        .map_err(|e| NodeError::Engine(e.to_string()))?;
    let identity = NetworkIdentity::new_validator(
        config.node.to_string(),
        libp2p_key,
        address.to_string(),
        proof,
    );
    let registry_metrics = SharedRegistry::global().with_moniker(config.node.as_str());
    let (inner, tx_network) = malachitebft_app_channel::spawn::spawn_network_actor(
        identity,
        &engine_config.consensus,
        &engine_config.value_sync,
        &registry_metrics,
        ChainCodec,
    )
    .await
    .map_err(|e| NodeError::Engine(e.to_string()))?;
    let gated = gate::spawn(inner, gate.clone())
        .await
        .map_err(|e| NodeError::Engine(e.to_string()))?;
    let consensus_ctx =
        ConsensusContext::new_validator(address, Box::new(keys.clone()), Box::new(keys));
    let wal = args.data_dir.join("wal").join("consensus.wal");
    let (channels, _engine) = EngineBuilder::new(ChainContext, engine_config)
        .with_default_wal(WalContext::new(wal, ChainCodec))
        .with_custom_network(gated, tx_network)
        .with_default_sync(SyncContext::new(ChainCodec))
        .with_default_consensus(consensus_ctx)
        .with_default_request(RequestContext::new(100))
        .build()
        .await
        .map_err(|e| NodeError::Engine(e.to_string()))?;
    info!(
        node = %config.node,
        chain = %genesis.chain_id,
        peer_id = %peer_id,
        validator = is_validator,
        p2p = config.p2p_port,
        "node started"
    );
    Forwarding::start(forward_queues, shared.clone(), channels.network.clone())?;
    let mut app_task = tokio::spawn(app.run(channels));

    let parent = std::os::unix::process::parent_id();
    let orphaned = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if args.exit_with_parent && std::os::unix::process::parent_id() != parent {
                return;
            }
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let result = tokio::select! {
        r = &mut app_task => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                error!(%e, "consensus stopped");
                Err(NodeError::Consensus(e))
            }
            Err(e) => Err(NodeError::Engine(e.to_string())),
        },
        r = http_task => match r {
            Ok(Ok(())) => Err(NodeError::Engine("HTTP server stopped".into())),
            Ok(Err(e)) => Err(NodeError::Http(e)),
            Err(e) => Err(NodeError::Engine(e.to_string())),
        },
        _ = tokio::signal::ctrl_c() => {
            info!("interrupted; stopping");
            Ok(())
        }
        _ = term => {
            info!("terminated; stopping");
            Ok(())
        }
        _ = orphaned => {
            warn!("parent process went away; stopping");
            Ok(())
        }
    };
    // Every committed block is already durable; nothing else needs flushing.
    http_handle.stop(false).await;
    app_task.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiaddrs_follow_the_host_kind() {
        assert_eq!(
            multiaddr("127.0.0.1", 7).unwrap().to_string(),
            "/ip4/127.0.0.1/tcp/7"
        );
        assert_eq!(
            multiaddr("n0.demo.svc", 7).unwrap().to_string(),
            "/dns/n0.demo.svc/tcp/7"
        );
        assert_eq!(multiaddr("::1", 7).unwrap().to_string(), "/ip6/::1/tcp/7");
    }

    #[test]
    fn trust_roots_come_first_and_a_broken_file_stops_the_node() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            node: NodeArgs,
        }
        let dir = tempfile::tempdir().unwrap();
        let (roots, bundle) = (dir.path().join("roots.json"), dir.path().join("ca.pem"));
        let args = <Cli as clap::Parser>::try_parse_from([
            "node",
            "--trust-roots",
            roots.to_str().unwrap(),
            "--ca-bundle",
            bundle.to_str().unwrap(),
        ])
        .unwrap()
        .node;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = p.self_signed(&key).unwrap().pem();

        // Neither file: nothing is trusted, and nobody is any member.
        let (v, per_org) = load_verifier(&args).unwrap();
        assert_eq!((v.ca_count(), per_org), (0, false));
        // A plain bundle only: trusted, for no organisation.
        std::fs::write(&bundle, &ca).unwrap();
        let (v, per_org) = load_verifier(&args).unwrap();
        assert_eq!((v.ca_count(), per_org), (1, false));
        assert!(v.organisations().is_empty());
        // Trust roots win over the bundle.
        let file = TrustRoots(BTreeMap::from([(OrgName::new("org-a").unwrap(), ca)]));
        std::fs::write(&roots, file.to_bytes().unwrap()).unwrap();
        let (v, per_org) = load_verifier(&args).unwrap();
        assert!(per_org);
        assert_eq!(
            v.organisations().into_iter().collect::<Vec<_>>(),
            [OrgName::new("org-a").unwrap()]
        );
        // A broken trust-roots file is an error, not a silent fallback to the bundle.
        for broken in ["{", r#"{"org-a": "no certificate"}"#] {
            std::fs::write(&roots, broken).unwrap();
            let err = load_verifier(&args).unwrap_err();
            assert_eq!(err.code(), "SETUP_INVALID", "{broken}: {err}");
            assert!(err.to_string().contains("trust roots"), "{err}");
        }
    }

    #[test]
    fn error_codes_are_stable() {
        assert_eq!(NodeError::Setup("x".into()).code(), "SETUP_INVALID");
    }
}
