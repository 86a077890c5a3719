//! Benchmark: a paged GraphQL listing over 10,000 users (1,000 tenants) through the real HTTP
//! server, on SQLite and on PostgreSQL, against the same server's `/healthz` as the ceiling.
//! Prints a table; run with `cargo bench -p yuelu-api --bench listing`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use chrono::Utc;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;
use yuelu_api::database::Database;
use yuelu_api::entity::{tenant, user};
use yuelu_api::http::{self, AppState};
use yuelu_api::metrics::Metrics;
use yuelu_api::service::{account, tenant::DEFAULT_QUOTA};

const TENANTS: usize = 1_000;
const USERS_PER_TENANT: usize = 10;
const PAGE: usize = 100;
const CLIENTS: usize = 8;
const SECONDS: u64 = 8;

async fn seed(db: &Database) -> String {
    let admin = account::ensure_platform_admin(db).await.unwrap().unwrap();
    // One real Argon2id hash, reused: seeding measures nothing.
    let hash = account::hash_password("benchmark password".into())
        .await
        .unwrap();
    let now = Utc::now();
    let mut tenants = Vec::new();
    let mut users = Vec::new();
    for t in 0..TENANTS {
        let id = Uuid::now_v7();
        tenants.push(tenant::ActiveModel {
            id: Set(id),
            name: Set(format!("基准测试企业{t:04}")),
            uscc: Set(
                yuelu_api::service::uscc::with_check_character(&format!("914301000{t:08}"))
                    .unwrap(),
            ),
            contact_name: Set("基准".into()),
            contact_phone: Set("0731-00000000".into()),
            contact_email: Set("bench@example.cn".into()),
            status: Set(tenant::TenantStatus::Active),
            max_networks: Set(DEFAULT_QUOTA.networks),
            max_nodes: Set(DEFAULT_QUOTA.nodes),
            max_storage_gib: Set(DEFAULT_QUOTA.storage_gib),
            allowed_domains: Set("[]".into()),
            allowed_ip_networks: Set("[]".into()),
            created_at: Set(now),
            updated_at: Set(now),
        });
        for u in 0..USERS_PER_TENANT {
            users.push(user::ActiveModel {
                id: Set(Uuid::now_v7()),
                username: Set(format!("u{t:04}-{u}")),
                password_hash: Set(hash.clone()),
                role: Set(user::Role::TenantMember),
                tenant_id: Set(Some(id)),
                created_at: Set(now),
                updated_at: Set(now),
            });
        }
    }
    let txn = db.write().await.unwrap();
    for chunk in tenants.chunks(200) {
        tenant::Entity::insert_many(chunk.to_vec())
            .exec(&*txn)
            .await
            .unwrap();
    }
    for chunk in users.chunks(200) {
        user::Entity::insert_many(chunk.to_vec())
            .exec(&*txn)
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
    admin.password
}

struct Series {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Series {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&mut self, p: f64) -> Duration {
        self.latencies.sort();
        let i =
            ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        self.latencies[i]
    }
}

/// Runs `CLIENTS` loops of `op` for `SECONDS`.
async fn load<F, Fut>(op: F) -> Series
where
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let deadline = start + Duration::from_secs(SECONDS);
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut lat = Vec::new();
            let mut i = c * 7;
            while Instant::now() < deadline {
                let t = Instant::now();
                op(http.clone(), i).await;
                lat.push(t.elapsed());
                i += 1;
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    Series {
        requests: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
    }
}

async fn measure(name: &str, url: &str) -> Vec<String> {
    let db = Database::connect(url).await.unwrap();
    let t0 = Instant::now();
    let password = seed(&db).await;
    let seeded = t0.elapsed();
    let metrics = Arc::new(Metrics::new().unwrap());
    let mut engines = yuelu_engine::EngineRegistry::new();
    engines.register(Box::new(yuelu_chain::YueluEngine::new()));
    let authorities = yuelu_api::service::ca::Authorities::start(
        &db,
        yuelu_ca::MasterKey::generate().unwrap(),
        metrics.clone(),
    )
    .await
    .unwrap();
    let state = AppState {
        authorities: authorities.clone(),
        schema: yuelu_api::graphql::build(
            db.clone(),
            Arc::new(engines),
            authorities,
            metrics.clone(),
        ),
        db: db.clone(),
        console: Arc::new(yuelu_web::Console::new().unwrap()),
        metrics,
        secure_cookies: false,
    };
    let bound = http::bind(state, "127.0.0.1:0".parse().unwrap(), 2).unwrap();
    let base = format!("http://{}", bound.addr);
    let handle = bound.handle();
    let server = tokio::spawn(bound.run());

    let http = reqwest::Client::new();
    let r: serde_json::Value = http
        .post(format!("{base}/graphql"))
        .json(&json!({"query": "mutation($p: String!) { signIn(username: \"admin\", password: $p) { token } }", "variables": {"p": password}}))
        .send().await.unwrap().json().await.unwrap();
    let token = Arc::new(r["data"]["signIn"]["token"].as_str().unwrap().to_owned());

    // The cursors of every page, walked once, so each request in the run is one page fetch.
    let query = format!(
        "query($a: String) {{ users(first: {PAGE}, after: $a) {{ pageInfo {{ endCursor hasNextPage }} edges {{ node {{ id username role tenantId createdAt }} }} }} }}"
    );
    let mut cursors: Vec<Option<String>> = vec![None];
    loop {
        let r: serde_json::Value = http
            .post(format!("{base}/graphql"))
            .bearer_auth(token.as_str())
            .json(&json!({"query": query, "variables": {"a": cursors.last().unwrap()}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(r["errors"].is_null(), "{r}");
        let pi = &r["data"]["users"]["pageInfo"];
        if pi["hasNextPage"] != true {
            break;
        }
        cursors.push(pi["endCursor"].as_str().map(str::to_owned));
    }
    let pages = cursors.len();
    let cursors = Arc::new(cursors);

    let health_url = Arc::new(format!("{base}/healthz"));
    let mut health = load({
        let u = health_url.clone();
        move |http: reqwest::Client, _i| {
            let u = u.clone();
            async move {
                let r = http.get(u.as_str()).send().await.unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
            }
        }
    })
    .await;
    let gql_url = Arc::new(format!("{base}/graphql"));
    let query = Arc::new(query);
    let mut listing = load({
        move |http: reqwest::Client, i: usize| {
            let (u, t, q, c) = (
                gql_url.clone(),
                token.clone(),
                query.clone(),
                cursors.clone(),
            );
            async move {
                let after = c[i % c.len()].clone();
                let r: serde_json::Value = http
                    .post(u.as_str())
                    .bearer_auth(t.as_str())
                    .json(&json!({"query": q.as_str(), "variables": {"a": after}}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert!(r["errors"].is_null(), "{r}");
            }
        }
    })
    .await;
    handle.stop(true).await;
    let _ = server.await;
    db.close().await.unwrap();

    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    vec![
        format!(
            "{name:<10} {:<22} {:>9.0} {:>8} {:>8} {:>9}",
            "/healthz (ceiling)",
            health.rate(),
            ms(health.pct(0.5)),
            ms(health.pct(0.99)),
            "100.0%"
        ),
        format!(
            "{name:<10} {:<22} {:>9.0} {:>8} {:>8} {:>8.1}%",
            format!("users page of {PAGE}"),
            listing.rate(),
            ms(listing.pct(0.5)),
            ms(listing.pct(0.99)),
            100.0 * listing.rate() / health.rate()
        ),
        format!(
            "{name:<10} seeded {TENANTS} tenants + {} users in {:.1} s; {pages} pages per walk",
            TENANTS * USERS_PER_TENANT,
            seeded.as_secs_f64()
        ),
    ]
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    rows.extend(rt.block_on(measure(
        "sqlite",
        &yuelu_api::database::sqlite_url(&dir.path().join("bench.db")),
    )));
    let pg = yuelu_e2e::PgCluster::start();
    let url = pg.create_db("bench");
    rows.extend(rt.block_on(measure("postgres", &url)));
    println!();
    println!(
        "{CLIENTS} concurrent clients, {SECONDS} s per series, 2 HTTP workers, on this machine (client and server share its cores)"
    );
    println!(
        "{:<10} {:<22} {:>9} {:>8} {:>8} {:>9}",
        "database", "request", "req/s", "p50 ms", "p99 ms", "of ceiling"
    );
    for r in rows {
        println!("{r}");
    }
}
