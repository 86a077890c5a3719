//! A real network on loopback: keys, genesis and plans from the plugin, certificates from one
//! test CA per organisation (rcgen), nodes as `yuelu node` child processes, and a blocking
//! HTTP client.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use yuelu_chain::YueluEngine;
use yuelu_e2e::{ChildGuard, free_port, yuelu_bin};
use yuelu_engine::{
    BlockParams, ChainId, Consensus, CryptoSuite, Engine, EngineKind, FileContent, GeneratedNode,
    GenesisInput, NetworkSpec, NodeEndpoint, NodeIdentity, NodeName, NodePlan, NodeRole, OrgName,
    PortName, Topology, TrustRoots,
};

/// Serialises the tests that start whole networks: two cores cannot run several at once
/// without starving consensus timeouts.
pub fn exclusive() -> std::fs::File {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("yuelu-chain-network.lock");
    let f = std::fs::File::create(path).unwrap();
    f.lock().unwrap();
    f
}

/// A certificate authority for tests.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

impl Ca {
    pub fn new(org: &str) -> Ca {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{org} CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// A certificate for a node key (PKCS#8 PEM).
    pub fn node_cert(&self, key_pem: &str, ip: &str) -> String {
        let key = KeyPair::from_pem(key_pem).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "node");
        params.subject_alt_names = vec![SanType::IpAddress(ip.parse().unwrap())];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.signed_by(&key, &self.issuer).unwrap().pem()
    }

    /// A client with a fresh key; `org` is what its subject's O claims (nodes do not read it:
    /// the CA that issued it says whose it is), `admin` puts OU=admin in its subject.
    pub fn client(&self, cn: &str, org: &str, admin: bool) -> Client {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
        if admin {
            params
                .distinguished_name
                .push(DnType::OrganizationalUnitName, "admin");
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let signing = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &key.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        Client {
            cert_der: cert.der().to_vec(),
            key: signing,
            nonce: AtomicU64::new(1),
        }
    }
}

/// A client holding a certificate and its key.
pub struct Client {
    pub cert_der: Vec<u8>,
    key: EcdsaKeyPair,
    nonce: AtomicU64,
}

impl Client {
    pub fn next_nonce(&self) -> u64 {
        self.nonce.fetch_add(1, Ordering::Relaxed)
    }

    pub fn signature(&self, body: &str) -> Value {
        let sig = self
            .key
            .sign(&ring::rand::SystemRandom::new(), body.as_bytes())
            .unwrap();
        json!({"certificate": B64.encode(&self.cert_der), "signature": B64.encode(sig.as_ref())})
    }

    /// Signs a body (its `chainId` and `nonce` are filled in when absent).
    pub fn tx(&self, chain: &str, mut body: Value) -> Value {
        body["chainId"] = json!(chain);
        if body.get("nonce").is_none() {
            body["nonce"] = json!(self.next_nonce());
        }
        let text = body.to_string();
        json!({"body": text, "signatures": [self.signature(&text)]})
    }
}

/// One node of the network.
pub struct Node {
    pub name: String,
    pub home: PathBuf,
    pub rpc: u16,
    pub p2p: u16,
    pub plan: NodePlan,
    pub identity: NodeIdentity,
    guard: Option<ChildGuard>,
    starts: u32,
    /// The node binary; `yuelu` (built by the e2e harness) unless set.
    pub bin: Option<PathBuf>,
    /// Log filter.
    pub log_filter: String,
}

impl Node {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.rpc, path)
    }

    pub fn start(&mut self) {
        let bin = self.bin.clone().unwrap_or_else(yuelu_bin);
        let mut cmd = Command::new(bin);
        cmd.args(&self.plan.command.args)
            .current_dir(&self.home)
            .env("YUELU_LOG", &self.log_filter);
        self.starts += 1;
        let log = self.home.join(format!("node-{}.log", self.starts));
        self.guard = Some(ChildGuard::spawn(&self.name, cmd, &log).unwrap());
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(g) = self.guard.as_mut() {
            g.kill();
        }
        self.guard = None;
    }

    pub fn log(&self) -> String {
        self.guard.as_ref().map(|g| g.log()).unwrap_or_default()
    }

    pub fn running(&self) -> bool {
        self.guard.is_some()
    }

    /// The OS process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.guard.as_ref().and_then(|g| g.id())
    }
}

/// The organisations of a test network: nodes alternate between them.
pub const ORGS: [&str; 2] = ["org-a", "org-b"];

/// A network.
pub struct Net {
    pub dir: tempfile::TempDir,
    pub chain: String,
    /// Each organisation's CA, by organisation: the network's trust roots.
    pub cas: BTreeMap<String, Ca>,
    pub nodes: Vec<Node>,
    pub http: reqwest::blocking::Client,
}

pub fn spec(chain: &str, interval_ms: u32) -> NetworkSpec {
    NetworkSpec {
        chain_id: ChainId::new(chain).unwrap(),
        engine: EngineKind::Yuelu,
        version: "0.1".into(),
        consensus: Consensus::Tendermint,
        crypto: CryptoSuite::EcdsaP256,
        block: BlockParams {
            interval_ms,
            ..BlockParams::default()
        },
    }
}

impl Net {
    /// Plans `validators` + `observers` nodes (orgs alternate org-a / org-b, each with its own
    /// CA), and writes their homes. Nodes are not started.
    pub fn new(validators: usize, observers: usize, interval_ms: u32) -> Net {
        Net::with_strangers(validators, observers, 0, interval_ms)
    }

    /// Like [`Net::new`] with explicit block parameters.
    pub fn with_block(validators: usize, block: BlockParams) -> Net {
        Net::build(validators, 0, 0, block)
    }

    /// Like [`Net::new`], plus `strangers` nodes whose keys are not registered with the others
    /// (their own config lists the network, so they try to join).
    pub fn with_strangers(
        validators: usize,
        observers: usize,
        strangers: usize,
        interval_ms: u32,
    ) -> Net {
        let block = BlockParams {
            interval_ms,
            ..BlockParams::default()
        };
        Net::build(validators, observers, strangers, block)
    }

    fn build(validators: usize, observers: usize, strangers: usize, block: BlockParams) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let chain = "testchain";
        let mut spec = spec(chain, block.interval_ms);
        spec.block = block;
        let engine = YueluEngine;
        let cas: BTreeMap<String, Ca> = ORGS
            .iter()
            .map(|o| (o.to_string(), Ca::new(&format!("{o} test"))))
            .collect();
        let trust_roots = TrustRoots(
            cas.iter()
                .map(|(o, ca)| (OrgName::new(o.as_str()).unwrap(), ca.pem.clone()))
                .collect(),
        )
        .to_bytes()
        .unwrap();
        let bundle: String = cas.values().map(|ca| ca.pem.as_str()).collect();
        let total = validators + observers + strangers;
        let generated: Vec<GeneratedNode> = (0..total)
            .map(|i| {
                let role = if i < validators {
                    NodeRole::Validator
                } else {
                    NodeRole::Observer
                };
                engine
                    .generate_node_keys(
                        &spec,
                        &NodeName::new(format!("node{i}")).unwrap(),
                        &OrgName::new(ORGS[i % 2]).unwrap(),
                        role,
                    )
                    .unwrap()
            })
            .collect();
        let identities: Vec<NodeIdentity> = generated.iter().map(|g| g.identity.clone()).collect();
        let genesis = engine
            .genesis(&GenesisInput {
                spec: &spec,
                validators: &identities[..validators],
                time_unix_ms: 1_700_000_000_000,
            })
            .unwrap();
        let topology = Topology(
            identities
                .iter()
                .map(|n| {
                    (
                        n.node.clone(),
                        NodeEndpoint {
                            host: "127.0.0.1".into(),
                            bind: "127.0.0.1".into(),
                            ports: BTreeMap::from([
                                (PortName::new("p2p"), free_port()),
                                (PortName::new("rpc"), free_port()),
                            ]),
                        },
                    )
                })
                .collect(),
        );
        let registered = &identities[..validators + observers];
        let mut nodes = Vec::new();
        for (i, g) in generated.iter().enumerate() {
            // A stranger's own plan lists the network and itself; nobody else lists it.
            let known: Vec<NodeIdentity> = if i < validators + observers {
                registered.to_vec()
            } else {
                let mut v = registered.to_vec();
                v.push(g.identity.clone());
                v
            };
            let plan = engine
                .plan_node(&spec, &genesis, &known, &g.identity.node, &topology)
                .unwrap();
            let home = dir.path().join(g.identity.node.as_str());
            std::fs::create_dir_all(&home).unwrap();
            let key_pem =
                String::from_utf8(g.secrets.0.values().next().expect("node key").clone()).unwrap();
            let own_ca = &cas[g.identity.org.as_str()];
            for f in &plan.files {
                let bytes = match &f.content {
                    FileContent::Inline(b) => b.clone(),
                    FileContent::Secret(name) => g.secrets.0[name].clone(),
                    FileContent::Certificate(_) => {
                        own_ca.node_cert(&key_pem, "127.0.0.1").into_bytes()
                    }
                    FileContent::CaBundle => bundle.clone().into_bytes(),
                    FileContent::TrustRoots => trust_roots.clone(),
                };
                let path = home.join(f.path.as_str());
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
            let port = |n: &str| {
                plan.ports
                    .iter()
                    .find(|(s, _)| s.name.0 == n)
                    .map(|(_, p)| *p)
                    .unwrap()
            };
            nodes.push(Node {
                name: g.identity.node.to_string(),
                home,
                rpc: port("rpc"),
                p2p: port("p2p"),
                identity: g.identity.clone(),
                plan,
                guard: None,
                starts: 0,
                bin: None,
                log_filter: "info,libp2p=warn,libp2p_gossipsub=error,arc_malachitebft_network=warn"
                    .into(),
            });
        }
        // The workspace turns reqwest's TLS on, and reqwest then wants a crypto provider.
        yuelu_e2e::install_crypto_provider();
        Net {
            dir,
            chain: chain.into(),
            cas,
            nodes,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    /// The CA of an organisation of the network.
    pub fn ca(&self, org: &str) -> &Ca {
        &self.cas[org]
    }

    pub fn start_all(&mut self) {
        for n in &mut self.nodes {
            n.start();
        }
    }

    pub fn get(&self, node: usize, path: &str) -> Option<(u16, Value)> {
        let r = self.http.get(self.nodes[node].url(path)).send().ok()?;
        let status = r.status().as_u16();
        Some((status, r.json().unwrap_or(Value::Null)))
    }

    pub fn post(&self, node: usize, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.nodes[node].url(path))
            .json(body)
            .send()
            .unwrap_or_else(|e| panic!("POST {path} to node {node}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn post_raw(&self, node: usize, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.nodes[node].url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn height(&self, node: usize) -> Option<u64> {
        let (s, v) = self.get(node, "/v1/status")?;
        (s == 200).then(|| v["height"].as_u64()).flatten()
    }

    /// Waits until `node` has committed `height`.
    pub fn wait_height(&self, node: usize, height: u64, timeout: Duration) {
        let start = Instant::now();
        loop {
            if self.height(node).is_some_and(|h| h >= height) {
                return;
            }
            if start.elapsed() > timeout {
                panic!(
                    "{} did not reach height {height} within {timeout:?} (at {:?}); logs:\n{}",
                    self.nodes[node].name,
                    self.height(node),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until a transaction is committed (or failed) on `node`; returns its status.
    pub fn wait_tx(&self, node: usize, id: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            if let Some((200, v)) = self.get(node, &format!("/v1/txs/{id}"))
                && v["status"] != "pending"
            {
                return v;
            }
            if start.elapsed() > timeout {
                panic!(
                    "tx {id} not committed on {} within {timeout:?}; log:\n{}",
                    self.nodes[node].name,
                    tail(&self.nodes[node].log(), 60)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The id of the block at `height` on `node`.
    pub fn block_id(&self, node: usize, height: u64) -> Option<String> {
        let (s, v) = self.get(node, &format!("/v1/blocks/{height}"))?;
        (s == 200)
            .then(|| v["id"].as_str().map(String::from))
            .flatten()
    }
}

impl Net {
    /// The end of every node's current log, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let interesting: String = n
                    .log()
                    .lines()
                    .filter(|l| {
                        !l.contains("Active connections")
                            && !l.contains(" voting power")
                            && !l.contains("Number of validators")
                            && !l.contains("Total weight")
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                format!(
                    "===== {} (running: {})\n{}",
                    n.name,
                    n.running(),
                    tail(&interesting, 25)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}
