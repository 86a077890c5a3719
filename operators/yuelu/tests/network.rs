//! Real networks of `yuelu node` processes on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Client, Net, exclusive, tail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

const LIVE: Duration = Duration::from_secs(60);

fn h(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).unwrap();
    out
}

/// RFC 9162 section 2.1.3.2, written here again so that the node's own code is not trusted.
fn verify_inclusion(
    leaf: &[u8],
    index: u64,
    size: u64,
    path: &[[u8; 32]],
    root: &[u8; 32],
) -> bool {
    let node = |l: &[u8; 32], r: &[u8; 32]| -> [u8; 32] {
        let mut d = Sha256::new();
        d.update([1u8]);
        d.update(l);
        d.update(r);
        d.finalize().into()
    };
    let mut d = Sha256::new();
    d.update([0u8]);
    d.update(leaf);
    let mut r: [u8; 32] = d.finalize().into();
    if index >= size {
        return false;
    }
    let (mut fnn, mut sn) = (index, size - 1);
    for p in path {
        if sn == 0 {
            return false;
        }
        if fnn % 2 == 1 || fnn == sn {
            r = node(p, &r);
            while fnn % 2 == 0 && fnn != 0 {
                fnn >>= 1;
                sn >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        fnn >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == root
}

fn wait_all(net: &Net, nodes: &[usize], height: u64) {
    for &i in nodes {
        net.wait_height(i, height, LIVE);
    }
}

fn assert_same_chain(net: &Net, nodes: &[usize], upto: u64) {
    for height in 1..=upto {
        let ids: Vec<Option<String>> = nodes.iter().map(|&i| net.block_id(i, height)).collect();
        assert!(
            ids[0].is_some(),
            "height {height} missing on node {}",
            nodes[0]
        );
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "fork at height {height}: {ids:?}"
        );
    }
}

#[test]
fn four_validators_commit_prove_and_refuse_bad_transactions() {
    let _lock = exclusive();
    // Four validators and an observer.
    let mut net = Net::new(4, 1, 100);
    net.start_all();
    wait_all(&net, &[0, 1, 2, 3, 4], 3);

    let alice = net.ca("org-a").client("alice", "org-a", false);
    let chain = net.chain.clone();
    let doc = hex::encode(Sha256::digest(b"contract v1"));
    let notarize = alice.tx(
        &chain,
        json!({"kind": "notarize", "hash": doc, "metadata": {"title": "contract"}}),
    );
    let (s, v) = net.post(0, "/v1/txs", &notarize);
    assert_eq!(s, 202, "{v}");
    let tx_id = v["txId"].as_str().unwrap().to_string();
    let t1 = alice.tx(
        &chain,
        json!({"kind": "trace", "item": "lot-7", "event": {"step": "harvested"}}),
    );
    let t2 = alice.tx(
        &chain,
        json!({"kind": "trace", "item": "lot-7", "event": {"step": "shipped"}}),
    );
    let put = alice.tx(
        &chain,
        json!({"kind": "put", "namespace": "prices", "key": "rice", "value": "4.2"}),
    );
    let mut ids = vec![];
    for (node, tx) in [(1, &t1), (2, &put)] {
        let (s, v) = net.post(node, "/v1/txs", tx);
        assert_eq!(s, 202, "{v}");
        ids.push((node, v["txId"].as_str().unwrap().to_string()));
    }
    // The second trace event after the first is committed, so the order is known.
    let st = net.wait_tx(1, &ids[0].1, LIVE);
    assert_eq!(st["status"], "committed", "{st}");
    let (s, v) = net.post(3, "/v1/txs", &t2);
    assert_eq!(s, 202, "{v}");
    ids.push((3, v["txId"].as_str().unwrap().to_string()));
    let mut last = 0;
    for (node, id) in &ids {
        let st = net.wait_tx(*node, id, LIVE);
        assert_eq!(st["status"], "committed", "{st}");
        last = last.max(st["receipt"]["height"].as_u64().unwrap());
    }
    let st = net.wait_tx(0, &tx_id, LIVE);
    assert_eq!(st["status"], "committed", "{st}");
    let height = st["receipt"]["height"].as_u64().unwrap();
    // Every validator has every one of them.
    wait_all(&net, &[0, 1, 2, 3], last.max(height));

    // The notarization, with a proof checked here against the block header of another node.
    net.wait_height(2, height, LIVE);
    let (s, n) = net.get(2, &format!("/v1/notarizations/{doc}")).unwrap();
    assert_eq!(s, 200, "{n}");
    assert_eq!(n["txId"], tx_id);
    assert_eq!(n["metadata"]["title"], "contract");
    let proof = &n["proof"];
    let leaf = hex::decode(proof["leaf"].as_str().unwrap()).unwrap();
    // The leaf commits to the hash, the transaction and the signer.
    let mut expected_leaf = b"yuelu/notarize/v1\0".to_vec();
    expected_leaf.push(32);
    expected_leaf.extend_from_slice(&h(&doc));
    expected_leaf.extend_from_slice(&h(&tx_id));
    expected_leaf.extend_from_slice(&h(n["signerId"].as_str().unwrap()));
    assert_eq!(leaf, expected_leaf);
    let (_, block) = net.get(3, &format!("/v1/blocks/{height}")).unwrap();
    let root = h(block["header"]["stateRoot"].as_str().unwrap());
    assert_eq!(proof["root"].as_str().unwrap(), hex::encode(root));
    let path: Vec<[u8; 32]> = proof["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| h(p.as_str().unwrap()))
        .collect();
    let index = proof["leafIndex"].as_u64().unwrap();
    let size = proof["treeSize"].as_u64().unwrap();
    assert_eq!(size, block["header"]["stateSize"].as_u64().unwrap());
    assert!(
        verify_inclusion(&leaf, index, size, &path, &root),
        "{proof}"
    );
    let mut tampered = leaf.clone();
    tampered[20] ^= 1;
    assert!(!verify_inclusion(&tampered, index, size, &path, &root));

    let (_, hist) = net.get(1, "/v1/items/lot-7/history").unwrap();
    let steps: Vec<&str> = hist["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["harvested", "shipped"]);
    let (s, kv) = net.get(2, "/v1/kv/prices/rice").unwrap();
    assert_eq!((s, kv["value"].as_str()), (200, Some("4.2")));

    // Bad transactions: each a clear error, none changes anything.
    let tip_before = net.height(0).unwrap();
    let forged = {
        let mut t = alice.tx(
            &chain,
            json!({"kind": "put", "namespace": "prices", "key": "rice", "value": "0"}),
        );
        let other = alice.tx(
            &chain,
            json!({"kind": "put", "namespace": "prices", "key": "rice", "value": "1"}),
        );
        t["signatures"] = other["signatures"].clone();
        t
    };
    let (s, v) = net.post(0, "/v1/txs", &forged);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("SIGNATURE_INVALID")),
        "{v}"
    );
    let replay = alice.tx(
        &chain,
        json!({"kind": "put", "namespace": "prices", "key": "rice", "value": "9", "nonce": 1}),
    );
    let (s, v) = net.post(1, "/v1/txs", &replay);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("NONCE_REPLAYED")),
        "{v}"
    );
    let (s, v) = net.post(2, "/v1/txs", &notarize);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("TX_DUPLICATE")),
        "{v}"
    );
    let again = alice.tx(&chain, json!({"kind": "notarize", "hash": doc}));
    let (s, v) = net.post(2, "/v1/txs", &again);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("ALREADY_NOTARIZED")),
        "{v}"
    );
    for bad in [
        "{not json",
        r#"{"body": "{\"chainId\":\"testchain\"}", "signatures": []}"#,
        r#"{"body": "nope", "signatures": [{"certificate": "AA==", "signature": "AA=="}]}"#,
    ] {
        let (s, v) = net.post_raw(3, "/v1/txs", bad);
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("TX_MALFORMED")),
            "{bad}: {v}"
        );
    }
    let stranger = common::Ca::new("elsewhere").client("mallory", "org-a", false);
    let (s, v) = net.post(
        0,
        "/v1/txs",
        &stranger.tx(
            &chain,
            json!({"kind": "put", "namespace": "prices", "key": "rice", "value": "0"}),
        ),
    );
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("CERTIFICATE_UNTRUSTED")),
        "{v}"
    );
    let (s, v) = net.post(
        4,
        "/v1/txs",
        &alice.tx(
            &chain,
            json!({"kind": "put", "namespace": "x", "key": "y", "value": "z"}),
        ),
    );
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (421, Some("NOT_A_VALIDATOR")),
        "{v}"
    );
    // A few blocks later nothing of it shows.
    wait_all(&net, &[0, 1, 2, 3], tip_before + 3);
    let (_, kv) = net.get(0, "/v1/kv/prices/rice").unwrap();
    assert_eq!(
        (kv["value"].as_str(), kv["version"].as_u64()),
        (Some("4.2"), Some(1))
    );
    let (_, status) = net.get(0, "/v1/status").unwrap();
    assert_eq!(status["txpool"], 0, "{status}");

    // Observers follow the same chain; probes and metrics answer.
    let top = net.height(4).unwrap();
    wait_all(&net, &[0, 1, 2, 3], top);
    assert_same_chain(&net, &[0, 1, 2, 3, 4], top);
    for i in 0..5 {
        let (s, v) = net.get(i, "/readyz").unwrap();
        assert_eq!(s, 200, "node {i}: {v}");
        assert_eq!(net.get(i, "/healthz").unwrap().0, 200);
    }
    let metrics = net
        .http
        .get(net.nodes[0].url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for name in [
        "yuelu_chain_height",
        "yuelu_p2p_peers 4",
        "yuelu_txpool_size",
        "yuelu_committed_txs_total",
        "yuelu_tx_commit_latency_seconds_bucket",
        "yuelu_consensus_round",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
}

/// Heights of the running nodes among `nodes`.
fn heights(net: &Net, nodes: &[usize]) -> Vec<u64> {
    nodes.iter().map(|&i| net.height(i).unwrap_or(0)).collect()
}

#[test]
fn tolerates_one_crash_halts_safely_at_two_and_recovers() {
    let _lock = exclusive();
    let mut net = Net::new(4, 0, 100);
    net.start_all();
    wait_all(&net, &[0, 1, 2, 3], 3);
    let client = net.ca("org-b").client("bob", "org-b", false);
    let chain = net.chain.clone();

    // kill -9 one validator: the other three keep committing, transactions included.
    net.nodes[3].kill();
    let h = heights(&net, &[0, 1, 2]).into_iter().max().unwrap();
    let before_kill: Vec<Option<String>> = (1..=h).map(|x| net.block_id(0, x)).collect();
    let (s, v) = net.post(
        1,
        "/v1/txs",
        &client.tx(
            &chain,
            json!({"kind": "put", "namespace": "n", "key": "k", "value": "1"}),
        ),
    );
    assert_eq!(s, 202, "{v}");
    let id1 = v["txId"].as_str().unwrap().to_string();
    wait_all(&net, &[0, 1, 2], h + 5);
    assert_eq!(net.wait_tx(1, &id1, LIVE)["status"], "committed");

    // Two of four down: no quorum. The chain halts, and halts safely.
    net.nodes[2].kill();
    std::thread::sleep(Duration::from_secs(2));
    let stalled = heights(&net, &[0, 1]);
    std::thread::sleep(Duration::from_secs(4));
    let later = heights(&net, &[0, 1]);
    assert_eq!(stalled, later, "committed without a quorum");
    let (s, v) = net.get(0, "/readyz").unwrap();
    assert_eq!(s, 503, "{v}");
    let (s, v) = net.post(
        0,
        "/v1/txs",
        &client.tx(
            &chain,
            json!({"kind": "put", "namespace": "n", "key": "k", "value": "2"}),
        ),
    );
    assert_eq!(s, 202, "{v}");
    let id2 = v["txId"].as_str().unwrap().to_string();
    // Acknowledged means kept: kill -9 every node that holds it (node 0 took it, node 1 has
    // the forwarded copy in memory) before it can commit.
    let deadline = Instant::now() + LIVE;
    while forwarded(&net, 1) == 0 {
        assert!(Instant::now() < deadline, "node 1 never pooled the copy");
        std::thread::sleep(Duration::from_millis(20));
    }
    net.nodes[0].kill();
    net.nodes[1].kill();
    net.nodes[0].start();
    net.nodes[1].start();

    // One returns: quorum again, the acknowledged transaction commits.
    net.nodes[2].start();
    let top = later.into_iter().max().unwrap();
    wait_all(&net, &[0, 1, 2], top + 3);
    assert_eq!(net.wait_tx(0, &id2, LIVE)["status"], "committed");
    assert!(
        net.nodes[0].log().contains("pooled again"),
        "{}",
        tail(&net.nodes[0].log(), 30)
    );

    // The node killed first catches up; nothing committed before its crash is lost or changed.
    net.nodes[3].start();
    let top = heights(&net, &[0, 1, 2]).into_iter().max().unwrap();
    net.wait_height(3, top, LIVE);
    let after: Vec<Option<String>> = (1..=h).map(|x| net.block_id(3, x)).collect();
    assert_eq!(before_kill, after, "blocks changed across kill -9");
    assert_same_chain(&net, &[0, 1, 2, 3], top);
    let (_, kv) = net.get(3, "/v1/kv/n/k").unwrap();
    assert_eq!(kv["value"], "2", "{kv}");
    // And it takes part again: with node 0 down, 1-3 still commit.
    net.nodes[0].kill();
    let top = heights(&net, &[1, 2, 3]).into_iter().max().unwrap();
    wait_all(&net, &[1, 2, 3], top + 3);
}

#[test]
fn seven_validators_tolerate_two_crashes() {
    let _lock = exclusive();
    let mut net = Net::new(7, 0, 100);
    net.start_all();
    let all: Vec<usize> = (0..7).collect();
    wait_all(&net, &all, 3);
    let dave = net.ca("org-b").client("dave", "org-b", false);

    // f = 2 of 7: with two killed the other five keep committing, transactions included.
    net.nodes[5].kill();
    net.nodes[6].kill();
    let live: Vec<usize> = (0..5).collect();
    let top = heights(&net, &live).into_iter().max().unwrap();
    let (s, v) = net.post(
        4,
        "/v1/txs",
        &dave.tx(
            &net.chain,
            json!({"kind": "put", "namespace": "n", "key": "seven", "value": "5 of 7"}),
        ),
    );
    assert_eq!(s, 202, "{v}");
    let id = v["txId"].as_str().unwrap().to_string();
    wait_all(&net, &live, top + 5);
    assert_eq!(net.wait_tx(0, &id, LIVE)["status"], "committed");

    // Back, both catch up to the same chain.
    net.nodes[5].start();
    net.nodes[6].start();
    let top = heights(&net, &live).into_iter().max().unwrap();
    wait_all(&net, &all, top);
    assert_same_chain(&net, &all, top);
    let (_, kv) = net.get(6, "/v1/kv/n/seven").unwrap();
    assert_eq!(kv["value"], "5 of 7", "{kv}");
}

/// `yuelu_tx_forwarded_total` on `node`: transactions peers forwarded that it pooled.
fn forwarded(net: &Net, node: usize) -> u64 {
    net.http
        .get(net.nodes[node].url("/metrics"))
        .send()
        .and_then(|r| r.text())
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("yuelu_tx_forwarded_total "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .map_or(0, |v| v as u64)
}

fn signal(net: &Net, node: usize, sig: &str) {
    let pid = net.nodes[node].pid().expect("node running");
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[test]
fn a_validator_forwards_what_it_admits_so_it_commits_while_that_validator_is_frozen() {
    let _lock = exclusive();
    // Slow blocks, so that the transaction is pooled everywhere well before the next one.
    let mut net = Net::new(4, 0, 1000);
    net.start_all();
    wait_all(&net, &[0, 1, 2, 3], 2);
    let carol = net.ca("org-a").client("carol", "org-a", false);
    let tx = carol.tx(
        &net.chain,
        json!({"kind": "put", "namespace": "n", "key": "forwarded", "value": "yes"}),
    );
    let before: Vec<u64> = (1..4).map(|i| forwarded(&net, i)).collect();
    let (s, v) = net.post(0, "/v1/txs", &tx);
    assert_eq!(s, 202, "{v}");
    let id = v["txId"].as_str().unwrap().to_string();

    // The peers check and pool the copy node 0 forwards them.
    let deadline = Instant::now() + LIVE;
    while (1..4).all(|i| forwarded(&net, i) <= before[i - 1]) {
        assert!(
            Instant::now() < deadline,
            "no peer pooled the forwarded transaction; node 0 log:\n{}",
            tail(&net.nodes[0].log(), 40)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Freeze the node that admitted it (SIGSTOP: its pool is there but unreachable).
    signal(&net, 0, "-STOP");
    let st = net.wait_tx(1, &id, LIVE);
    assert_eq!(st["status"], "committed", "{st}");
    let height = st["receipt"]["height"].as_u64().unwrap();
    wait_all(&net, &[1, 2, 3], height + 1);
    let (_, kv) = net.get(2, "/v1/kv/n/forwarded").unwrap();
    assert_eq!(kv["value"], "yes", "{kv}");

    // Thawed, node 0 catches up to the same chain, the transaction in it once.
    signal(&net, 0, "-CONT");
    let top = heights(&net, &[1, 2, 3]).into_iter().max().unwrap();
    net.wait_height(0, top, LIVE);
    assert_same_chain(&net, &[0, 1, 2, 3], top);
    let st = net.wait_tx(0, &id, LIVE);
    assert_eq!(st["receipt"]["height"].as_u64(), Some(height), "{st}");
}

#[test]
fn unregistered_peers_are_refused_and_revoked_ones_cut_off() {
    let _lock = exclusive();
    // A development network: one validator, one registered observer, one stranger.
    let mut net = Net::with_strangers(1, 1, 1, 100);
    net.start_all();
    net.wait_height(0, 3, LIVE);
    net.wait_height(1, 3, LIVE);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        assert_eq!(net.height(2).unwrap_or(0), 0, "the stranger synced blocks");
        std::thread::sleep(Duration::from_millis(250));
    }
    let (_, st) = net.get(0, "/v1/status").unwrap();
    assert!(st["refusedPeers"].as_u64().unwrap() >= 1, "{st}");
    assert_eq!(st["peers"], 1, "only the observer counts: {st}");
    assert!(net.nodes[0].log().contains("refused an unregistered peer"));

    // Governance: the member admin removes the observer; it is cut off and stops following.
    let admin = net.ca("org-a").client("admin", "org-a", true);
    let plain = net.ca("org-a").client("carol", "org-a", false);
    let change = json!({"kind": "governance", "remove": ["node1"]});
    let (s, v) = net.post(0, "/v1/txs", &plain.tx(&net.chain, change.clone()));
    assert_eq!(s, 202, "{v}");
    let refused = net.wait_tx(0, v["txId"].as_str().unwrap(), LIVE);
    assert_eq!(
        refused["receipt"]["code"], "GOVERNANCE_REJECTED",
        "{refused}"
    );
    let (s, v) = net.post(0, "/v1/txs", &admin.tx(&net.chain, change));
    assert_eq!(s, 202, "{v}");
    let done = net.wait_tx(0, v["txId"].as_str().unwrap(), LIVE);
    assert_eq!(done["status"], "committed", "{done}");
    let at = done["receipt"]["height"].as_u64().unwrap();
    net.wait_height(0, at + 10, LIVE);
    std::thread::sleep(Duration::from_secs(1));
    let observer = net.height(1).unwrap();
    assert!(
        observer <= at + 2,
        "revoked observer still follows: {observer} vs {at}"
    );
    let (_, st) = net.get(0, "/v1/status").unwrap();
    assert_eq!(st["peers"], 0, "{st}");
}

/// A governance transaction signed by each of `by` (the first signer's nonce).
fn governance(net: &Net, nonce: u64, change: Value, by: &[&Client]) -> Value {
    let mut body = change;
    body["kind"] = json!("governance");
    body["chainId"] = json!(net.chain);
    body["nonce"] = json!(nonce);
    let text = body.to_string();
    let signatures: Vec<Value> = by.iter().map(|c| c.signature(&text)).collect();
    json!({"body": text, "signatures": signatures})
}

/// Submits to `node` and waits for the receipt.
fn submit_and_wait(net: &Net, node: usize, tx: &Value) -> Value {
    let (s, v) = net.post(node, "/v1/txs", tx);
    assert_eq!(s, 202, "{v}");
    net.wait_tx(node, v["txId"].as_str().unwrap(), LIVE)
}

#[test]
fn members_are_their_cas_and_later_ones_bring_theirs_on_chain() {
    let _lock = exclusive();
    // Two members, one validator each: both admins must approve.
    let mut net = Net::new(2, 0, 100);
    net.start_all();
    wait_all(&net, &[0, 1], 2);
    let (ca_a, ca_b) = (net.ca("org-a"), net.ca("org-b"));
    // A third organisation the nodes' files know nothing of.
    let ca_c = common::Ca::new("org-c test");
    let carol = ca_c.client("carol", "org-c", false);
    let put = |c: &Client, v: &str| {
        c.tx(
            &net.chain,
            json!({"kind": "put", "namespace": "c", "key": "k", "value": v}),
        )
    };
    let (s, v) = net.post(0, "/v1/txs", &put(&carol, "early"));
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("CERTIFICATE_UNTRUSTED")),
        "{v}"
    );

    // Org C joins: an observer of its own, and its CA as its trust root.
    let engine = yuelu_chain::YueluEngine;
    let late = yuelu_engine::Engine::generate_node_keys(
        &engine,
        &common::spec(&net.chain, 100),
        &yuelu_engine::NodeName::new("org-c-observer").unwrap(),
        &yuelu_engine::OrgName::new("org-c").unwrap(),
        yuelu_engine::NodeRole::Observer,
    )
    .unwrap()
    .identity;
    let change = json!({"add": [late], "trustRoots": {"org-c": ca_c.pem}});

    // Org A's CA mints an admin certificate that claims to be org B's: it counts as org A's.
    let admin_a = ca_a.client("admin-a", "org-a", true);
    let forged_b = ca_a.client("admin-b", "org-b", true);
    let refused = submit_and_wait(
        &net,
        0,
        &governance(&net, 1, change.clone(), &[&admin_a, &forged_b]),
    );
    let receipt = &refused["receipt"];
    assert_eq!(receipt["code"], "GOVERNANCE_REJECTED", "{refused}");
    assert!(
        receipt["message"]
            .as_str()
            .unwrap()
            .contains("1 member organisations [org-a], 2 needed"),
        "{refused}"
    );
    let (s, v) = net.post(1, "/v1/txs", &put(&carol, "still not"));
    assert_eq!(s, 403, "{v}");

    // Org B's real admin, whose subject names the tenant as the platform CA writes it.
    let admin_b = ca_b.client("admin-b", "长沙链上科技有限公司", true);
    let done = submit_and_wait(&net, 1, &governance(&net, 2, change, &[&admin_a, &admin_b]));
    assert_eq!(done["status"], "committed", "{done}");
    assert_eq!(done["receipt"]["code"], "OK", "{done}");
    let at = done["receipt"]["height"].as_u64().unwrap();
    wait_all(&net, &[0, 1], at);

    // From the next block on both nodes trust org C's CA: its client's transactions commit.
    let st = submit_and_wait(&net, 0, &put(&carol, "joined"));
    assert_eq!(st["status"], "committed", "{st}");
    let h = st["receipt"]["height"].as_u64().unwrap();
    wait_all(&net, &[0, 1], h);
    for i in 0..2 {
        let (_, kv) = net.get(i, "/v1/kv/c/k").unwrap();
        assert_eq!(kv["value"], "joined", "node {i}: {kv}");
    }

    // A restarted node reads the recorded trust roots back from its store.
    net.nodes[1].kill();
    net.nodes[1].start();
    let top = net.height(0).unwrap();
    wait_all(&net, &[0, 1], top + 2);
    let st = submit_and_wait(&net, 1, &put(&carol, "after restart"));
    assert_eq!(st["status"], "committed", "{st}");
    let h = st["receipt"]["height"].as_u64().unwrap();
    wait_all(&net, &[0, 1], h);
    assert_same_chain(&net, &[0, 1], h);
}
