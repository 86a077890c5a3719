//! Throughput and latency of a 4-validator network on this machine, at rising load.
//!
//! Run with `cargo bench -p yuelu-chain`. Nodes are the optimized `yuelu-chain-node` binary
//! (the same code as `yuelu node`). Clients sign every transaction beforehand (ECDSA P-256, a
//! certificate from a test CA), then submit in batches of up to 500 over HTTP, spread evenly
//! over the four nodes, at a fixed rate per step. A follower long-polls blocks on node 0;
//! a transaction's latency is from just before its batch was sent to when node 0 returned the
//! block holding it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::Net;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use yuelu_engine::BlockParams;

const STEP: Duration = Duration::from_secs(6);
const TICK: Duration = Duration::from_millis(50);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Step {
    offered: u64,
    sent: usize,
    rejected: usize,
    committed: usize,
    tps: f64,
    p50: f64,
    p99: f64,
}

fn main() {
    // The workspace turns reqwest's TLS on; its clients then need a rustls crypto provider.
    yuelu_e2e::install_crypto_provider();
    // YUELU_BENCH_NODE_BIN runs another build of the node (a profiling build with frame
    // pointers, say) under the same load.
    let bin = std::env::var_os("YUELU_BENCH_NODE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_yuelu-chain-node")));
    let rates: Vec<u64> = std::env::var("YUELU_BENCH_RATES")
        .ok()
        .map(|s| s.split(',').filter_map(|r| r.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![500, 1000, 2500, 5000, 7500, 10000]);
    let mut net = Net::with_block(
        4,
        BlockParams {
            interval_ms: 100,
            max_txs: 20_000,
            max_bytes: 32 * 1024 * 1024,
        },
    );
    for n in &mut net.nodes {
        n.bin = Some(bin.clone());
        n.log_filter = "warn".into();
    }

    // Start to first block.
    let start = Instant::now();
    net.start_all();
    loop {
        if (0..4).all(|i| net.height(i).is_some_and(|h| h >= 1)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no first block in 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let first_block = start.elapsed();

    // Pre-signed transactions, by step.
    let clients: Vec<_> = (0..16)
        .map(|i| {
            net.ca("org-a")
                .client(&format!("bench-{i}"), "org-a", false)
        })
        .collect();
    let chain = net.chain.clone();
    let mut n = 0u64;
    let mut make = |count: usize| -> Vec<(String, Value)> {
        (0..count)
            .map(|_| {
                n += 1;
                let c = &clients[(n as usize) % clients.len()];
                let hash = format!("{:064x}", n);
                let tx = c.tx(
                    &chain,
                    json!({"kind": "notarize", "hash": hash, "metadata": {"n": n}}),
                );
                let body = tx["body"].as_str().unwrap();
                let id = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
                (id, tx)
            })
            .collect()
    };

    // Follower: when node 0 returns each block, note the time per transaction.
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = {
        let seen = seen.clone();
        let stop = stop.clone();
        let url = net.nodes[0].url("");
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut h = 1u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(r) = http.get(format!("{url}/v1/blocks/{h}?waitMs=1000")).send() else {
                    continue;
                };
                if r.status().as_u16() != 200 {
                    continue;
                }
                let now = Instant::now();
                let b: Value = r.json().unwrap_or(Value::Null);
                let mut s = seen.lock().unwrap();
                for t in b["txs"].as_array().into_iter().flatten() {
                    if let Some(id) = t["txId"].as_str() {
                        s.insert(id.to_string(), now);
                    }
                }
                h += 1;
            }
        })
    };

    let mut steps = Vec::new();
    for &rate in &rates {
        let total = (rate as f64 * STEP.as_secs_f64()) as usize;
        let txs = make(total);
        let per_tick = ((rate as f64) * TICK.as_secs_f64()).ceil() as usize;
        let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let rejected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // One sender thread per node, each with a quarter of every tick.
        let chunks: Vec<Vec<(String, Value)>> = {
            let mut c = vec![Vec::new(), Vec::new(), Vec::new(), Vec::new()];
            for (i, t) in txs.into_iter().enumerate() {
                c[i % 4].push(t);
            }
            c
        };
        let t0 = Instant::now();
        let senders: Vec<_> = chunks
            .into_iter()
            .enumerate()
            .map(|(node, mine)| {
                let url = net.nodes[node].url("/v1/txs/batch");
                let sent_at = sent_at.clone();
                let rejected = rejected.clone();
                let batch = per_tick.div_ceil(4).max(1);
                std::thread::spawn(move || {
                    let http = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .build()
                        .unwrap();
                    for (k, chunk) in mine.chunks(batch).enumerate() {
                        let due = t0 + TICK * k as u32;
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let body: Vec<&Value> = chunk.iter().map(|(_, t)| t).collect();
                        let now = Instant::now();
                        {
                            let mut s = sent_at.lock().unwrap();
                            for (id, _) in chunk {
                                s.insert(id.clone(), now);
                            }
                        }
                        match http.post(&url).json(&body).send() {
                            Ok(r) => {
                                let v: Value = r.json().unwrap_or(Value::Null);
                                let bad = v["results"]
                                    .as_array()
                                    .map(|a| a.iter().filter(|x| x.get("error").is_some()).count())
                                    .unwrap_or(chunk.len());
                                rejected.fetch_add(bad, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(_) => {
                                rejected
                                    .fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        // Wait for the step's transactions to commit (or give up after 15 s).
        let sent = sent_at.lock().unwrap().clone();
        let rejected = rejected.load(std::sync::atomic::Ordering::Relaxed);
        let want = sent.len().saturating_sub(rejected);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let committed = {
                let s = seen.lock().unwrap();
                sent.keys().filter(|id| s.contains_key(*id)).count()
            };
            if committed >= want || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let s = seen.lock().unwrap();
        let mut lat: Vec<f64> = Vec::new();
        let mut last = t0;
        for (id, at) in &sent {
            if let Some(c) = s.get(id) {
                lat.push(c.duration_since(*at).as_secs_f64());
                last = last.max(*c);
            }
        }
        drop(s);
        lat.sort_by(f64::total_cmp);
        let span = last
            .duration_since(t0)
            .as_secs_f64()
            .max(STEP.as_secs_f64());
        steps.push(Step {
            offered: rate,
            sent: sent.len(),
            rejected,
            committed: lat.len(),
            tps: lat.len() as f64 / span,
            p50: percentile(&lat, 0.50),
            p99: percentile(&lat, 0.99),
        });
        eprintln!("step {rate} tx/s done");
        // Let every pool drain before the next step, so that steps do not queue behind each
        // other.
        let drain = Instant::now() + Duration::from_secs(60);
        while Instant::now() < drain {
            let pooled: u64 = (0..4)
                .filter_map(|i| net.get(i, "/v1/status"))
                .map(|(_, v)| v["txpool"].as_u64().unwrap_or(0))
                .sum();
            if pooled == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = follower.join();
    let height = net.height(0).unwrap_or(0);

    println!();
    println!(
        "yuelu built-in chain: 4 validators on one machine ({} cores), 100 ms target block interval, notarize transactions (ECDSA P-256, ~{} B each)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        make(1)[0].1.to_string().len()
    );
    println!();
    println!(
        "| offered tx/s | sent | rejected | committed | committed tx/s | ratio | p50 latency | p99 latency |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in &steps {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.0} ms | {:.0} ms |",
            s.offered,
            s.sent,
            s.rejected,
            s.committed,
            s.tps,
            s.tps / s.offered as f64,
            s.p50 * 1000.0,
            s.p99 * 1000.0
        );
    }
    println!();
    println!("| measure | result | goal |");
    println!("|---|---:|---:|");
    let best = steps.iter().map(|s| s.tps).fold(0.0, f64::max);
    let best_ok = steps
        .iter()
        .filter(|s| s.p99 < 1.0 && s.committed + s.rejected >= s.sent * 99 / 100)
        .map(|s| s.tps)
        .fold(0.0, f64::max);
    println!(
        "| start to first block | {} ms | < 2000 ms |",
        first_block.as_millis()
    );
    println!("| best committed tx/s | {best:.0} | >= 5000 |");
    println!("| best committed tx/s with p99 < 1 s | {best_ok:.0} | >= 5000 |");
    println!("| blocks committed | {height} | |");
    println!();
    println!(
        "Published anchors: Besu QBFT a few hundred tx/s, Fabric about 3,000 tx/s, FISCO BCOS and ChainMaker over 10,000 tx/s (large servers)."
    );
}
