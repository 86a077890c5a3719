//! The node's HTTP JSON API, health and readiness probes, and Prometheus metrics.
//!
//! Errors are `{"error": {"code": "...", "message": "..."}}` with a stable code.

use crate::block::{Block, RawTx};
use crate::chain::{Shared, SubmitError};
use crate::state::notarize_leaf;
use crate::tx::{SignedTx, TxError, TxId};
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

type Data = web::Data<Arc<Shared>>;

/// Largest batch of transactions in one request.
pub const MAX_BATCH: usize = 5_000;

fn error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status)
        .json(json!({"error": {"code": code, "message": message.to_string()}}))
}

fn internal(e: impl std::fmt::Display) -> HttpResponse {
    error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e)
}

fn submit_status(e: &SubmitError) -> StatusCode {
    match e {
        SubmitError::Tx(t) => match t {
            TxError::Malformed(_) | TxError::WrongChain { .. } => StatusCode::BAD_REQUEST,
            TxError::SignatureInvalid(_) => StatusCode::UNAUTHORIZED,
            TxError::CertificateUntrusted(_) | TxError::Governance(_) => StatusCode::FORBIDDEN,
            TxError::NonceReplayed { .. }
            | TxError::Duplicate(_)
            | TxError::AlreadyNotarized(_) => StatusCode::CONFLICT,
            TxError::PoolFull => StatusCode::SERVICE_UNAVAILABLE,
        },
        SubmitError::NotAValidator => StatusCode::MISDIRECTED_REQUEST,
        SubmitError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn parse_tx(body: &[u8]) -> Result<SignedTx, SubmitError> {
    if body.len() > crate::tx::MAX_TX_BYTES {
        return Err(TxError::Malformed("request too large".into()).into());
    }
    serde_json::from_slice(body).map_err(|e| TxError::Malformed(format!("envelope: {e}")).into())
}

async fn submit(data: Data, body: web::Bytes) -> HttpResponse {
    let tx = match parse_tx(&body) {
        Ok(tx) => tx,
        Err(e) => return error(submit_status(&e), e.code(), &e),
    };
    // Signature checks and the journal's fsync: off the async workers.
    let shared = data.get_ref().clone();
    let result = web::block(move || shared.submit(&tx))
        .await
        .unwrap_or_else(|e| Err(SubmitError::Internal(e.to_string())));
    match result {
        Ok(id) => {
            HttpResponse::Accepted().json(json!({"txId": id.to_string(), "status": "pending"}))
        }
        Err(e) => error(submit_status(&e), e.code(), &e),
    }
}

async fn submit_batch(data: Data, body: web::Bytes) -> HttpResponse {
    let txs: Vec<Value> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "TX_MALFORMED",
                format!("batch: {e}"),
            );
        }
    };
    if txs.len() > MAX_BATCH {
        return error(
            StatusCode::BAD_REQUEST,
            "TX_MALFORMED",
            format!("at most {MAX_BATCH} transactions per batch"),
        );
    }
    let raws: Vec<Result<RawTx, SubmitError>> = txs
        .into_iter()
        .map(|v| {
            let tx = serde_json::from_value::<SignedTx>(v)
                .map_err(|e| TxError::Malformed(format!("envelope: {e}")))?;
            Ok(RawTx::from_signed(&tx)?)
        })
        .collect();
    // One read of the store and one forwarding message for the whole batch; its signature
    // checks run on the blocking pool, so that the workers keep answering (long polls,
    // probes) meanwhile.
    let shared = data.get_ref().clone();
    let results = match web::block(move || shared.submit_all(raws)).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let results: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok(id) => json!({"txId": id.to_string()}),
            Err(e) => json!({"error": {"code": e.code(), "message": e.to_string()}}),
        })
        .collect();
    HttpResponse::Ok().json(json!({"results": results}))
}

async fn tx_status(data: Data, path: web::Path<String>) -> HttpResponse {
    let Some(id) = TxId::from_hex(&path) else {
        return error(
            StatusCode::BAD_REQUEST,
            "TX_ID_INVALID",
            "a transaction id is 64 hex characters",
        );
    };
    // Pending first: a transaction refused on chain (e.g. governance short of approvals) may
    // be in the pool again with more signatures.
    let pending = data
        .mempool
        .lock()
        .map(|p| p.contains(&id))
        .unwrap_or(false);
    if pending {
        return HttpResponse::Ok().json(json!({"txId": id.to_string(), "status": "pending"}));
    }
    match data.store.read().and_then(|r| r.receipt(&id)) {
        Ok(Some(r)) => {
            let status = if r.code == "OK" {
                "committed"
            } else {
                "failed"
            };
            HttpResponse::Ok().json(json!({
                "txId": id.to_string(),
                "status": status,
                "receipt": {
                    "height": r.height, "index": r.index, "code": r.code, "message": r.message,
                    "leafIndex": r.leaf, "kind": r.kind,
                },
            }))
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "TX_UNKNOWN",
            format!("transaction {id} is not known here"),
        ),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitQuery {
    wait_ms: Option<u64>,
}

fn block_json(data: &Shared, block: &Block) -> Value {
    let reader = data.store.read().ok();
    let txs: Vec<Value> = block
        .txs
        .iter()
        .map(|t| {
            let id = t.id();
            let r = reader.as_ref().and_then(|r| r.receipt(&id).ok().flatten());
            json!({
                "txId": id.to_string(),
                "code": r.as_ref().map(|r| r.code.clone()),
                "kind": r.as_ref().map(|r| r.kind.clone()),
            })
        })
        .collect();
    json!({
        "id": block.id().to_string(),
        "header": block.header,
        "txs": txs,
    })
}

async fn block(data: Data, path: web::Path<String>, q: web::Query<WaitQuery>) -> HttpResponse {
    let height = if path.as_str() == "latest" {
        data.tip.read().map(|t| t.height).unwrap_or(0)
    } else {
        match path.parse::<u64>() {
            Ok(h) if h > 0 => h,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "HEIGHT_INVALID",
                    "a height is a number from 1",
                );
            }
        }
    };
    // Long poll: wait (bounded) for the height to commit.
    let wait = Duration::from_millis(q.wait_ms.unwrap_or(0).min(30_000));
    if !wait.is_zero() {
        let mut rx = data.committed.subscribe();
        let _ = tokio::time::timeout(wait, rx.wait_for(|h| *h >= height)).await;
    }
    match data.store.read().and_then(|r| r.block(height)) {
        Ok(Some(b)) => HttpResponse::Ok().json(block_json(&data, &b)),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "BLOCK_NOT_FOUND",
            format!("no block at height {height} yet"),
        ),
        Err(e) => internal(e),
    }
}

async fn notarization(data: Data, path: web::Path<String>) -> HttpResponse {
    let hash = path.to_ascii_lowercase();
    let Ok(bytes) = hex::decode(&hash) else {
        return error(StatusCode::BAD_REQUEST, "HASH_INVALID", "a hash is hex");
    };
    let result = (|| {
        let r = data.store.read()?;
        let Some(rec) = r.notary(&bytes)? else {
            return Ok(None);
        };
        let header = r
            .block(rec.height)?
            .ok_or_else(|| crate::store::StoreError(format!("block {} missing", rec.height)))?
            .header;
        let path = r.audit_path(rec.leaf, header.state_size)?;
        Ok::<_, crate::store::StoreError>(Some((rec, header, path)))
    })();
    match result {
        Ok(Some((rec, header, path))) => {
            let leaf = notarize_leaf(&bytes, &rec.tx_id, &rec.signer_id);
            let metadata: Value = serde_json::from_str(&rec.metadata).unwrap_or(Value::Null);
            HttpResponse::Ok().json(json!({
                "hash": hash,
                "txId": hex::encode(rec.tx_id),
                "height": rec.height,
                "timeUnixMs": rec.time_unix_ms,
                "signer": rec.signer,
                "signerId": hex::encode(rec.signer_id),
                "metadata": metadata,
                "proof": {
                    "algorithm": "rfc6962-sha256",
                    "leaf": hex::encode(&leaf),
                    "leafIndex": rec.leaf,
                    "treeSize": header.state_size,
                    "path": path.iter().map(hex::encode).collect::<Vec<_>>(),
                    "root": hex::encode(header.state_root),
                    "rootHeight": rec.height,
                },
            }))
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "NOT_NOTARIZED",
            format!("{hash} is not notarized"),
        ),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

async fn history(data: Data, path: web::Path<String>, q: web::Query<PageQuery>) -> HttpResponse {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    match data
        .store
        .read()
        .and_then(|r| r.history(&path, q.from.unwrap_or(0), limit))
    {
        Ok(events) => HttpResponse::Ok().json(json!({
            "item": path.as_str(),
            "events": events.iter().map(|e| json!({
                "seq": e.seq,
                "txId": hex::encode(e.tx_id),
                "height": e.height,
                "leafIndex": e.leaf,
                "timeUnixMs": e.time_unix_ms,
                "signer": e.signer,
                "event": serde_json::from_str::<Value>(&e.event).unwrap_or(Value::Null),
            })).collect::<Vec<_>>(),
        })),
        Err(e) => internal(e),
    }
}

async fn kv(data: Data, path: web::Path<(String, String)>) -> HttpResponse {
    let (ns, key) = path.into_inner();
    match data.store.read().and_then(|r| r.kv(&ns, &key)) {
        Ok(Some(r)) => HttpResponse::Ok().json(json!({
            "namespace": ns, "key": key, "value": r.value, "version": r.version,
            "height": r.height, "txId": hex::encode(r.tx_id),
        })),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "KEY_NOT_FOUND",
            format!("{ns}/{key} is not set"),
        ),
        Err(e) => internal(e),
    }
}

/// Readiness: the node has caught up with its peers and is connected to validators holding
/// more than two thirds of the voting power (counting itself) that hear its votes (the same
/// test consensus makes before it proposes).
pub fn readiness(data: &Shared) -> (bool, Value) {
    let Ok(tip) = data.tip.read().map(|t| t.clone()) else {
        return (false, json!({"reason": "state lock"}));
    };
    let (quorum, reachable, total) = tip
        .registry
        .quorum_with(&data.node, &data.gate.listening_ids());
    let best = data.gate.best_peer_height();
    let synced = tip.height + 2 >= best;
    (
        quorum && synced,
        json!({
            "synced": synced,
            "height": tip.height,
            "bestPeerHeight": best,
            "quorum": quorum,
            "reachableVotingPower": reachable,
            "totalVotingPower": total,
        }),
    )
}

async fn status(data: Data) -> HttpResponse {
    let Ok(tip) = data.tip.read().map(|t| t.clone()) else {
        return internal("state lock");
    };
    let (ready, detail) = readiness(&data);
    let pool = data.mempool.lock().map(|p| p.len()).unwrap_or(0);
    HttpResponse::Ok().json(json!({
        "node": data.node.as_str(),
        "chainId": data.genesis.chain_id.as_str(),
        "peerId": data.peer_id,
        "validator": data.is_validator(),
        "height": tip.height,
        "latestBlockId": tip.block_id.to_string(),
        "latestBlockTimeUnixMs": tip.time_unix_ms,
        "consensusHeight": tip.consensus.0,
        "consensusRound": tip.consensus.1,
        "peers": data.gate.connected(),
        "refusedPeers": data.gate.refused(),
        "txpool": pool,
        "validators": tip.registry.validators().map(|v| v.node.as_str()).collect::<Vec<_>>(),
        "ready": ready,
        "readiness": detail,
        "uptimeSeconds": data.started.elapsed().as_secs(),
    }))
}

async fn healthz(data: Data) -> HttpResponse {
    match data.store.read().and_then(|r| r.height()) {
        Ok(h) => HttpResponse::Ok().json(json!({"status": "ok", "height": h})),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "STORE_UNAVAILABLE", e),
    }
}

async fn readyz(data: Data) -> HttpResponse {
    let (ready, detail) = readiness(&data);
    if ready {
        HttpResponse::Ok().json(json!({"status": "ready", "detail": detail}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({"error": {"code": "NOT_READY", "message": "not synced or no quorum"}, "detail": detail}))
    }
}

async fn metrics(data: Data) -> HttpResponse {
    data.metrics.peers.set(data.gate.connected() as i64);
    data.metrics
        .refused_peers
        .set(i64::try_from(data.gate.refused()).unwrap_or(i64::MAX));
    if let Ok(p) = data.mempool.lock() {
        data.metrics.txpool.set(p.len() as i64);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(data.metrics.render())
}

async fn not_found() -> HttpResponse {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint")
}

/// Starts the HTTP server on `bind:port`.
pub fn serve(
    shared: Arc<Shared>,
    bind: &str,
    port: u16,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(shared);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(32 * 1024 * 1024))
            .route("/v1/txs", web::post().to(submit))
            .route("/v1/txs/batch", web::post().to(submit_batch))
            .route("/v1/txs/{id}", web::get().to(tx_status))
            .route("/v1/blocks/{height}", web::get().to(block))
            .route("/v1/notarizations/{hash}", web::get().to(notarization))
            .route("/v1/items/{item}/history", web::get().to(history))
            .route("/v1/kv/{ns}/{key}", web::get().to(kv))
            .route("/v1/status", web::get().to(status))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(not_found))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(1)
    .bind((bind, port))?
    .run();
    Ok(server)
}
