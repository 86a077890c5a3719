//! Benchmark: certificates issued end to end through the `issueCertificate` GraphQL mutation,
//! with persistence and the audit entry, durable commits, on SQLite and on PostgreSQL; with
//! and without group commit; and the stages measured alone, to show where the time goes.
//! Prints a table; run with `cargo bench -p yuelu-api --bench issuance`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use async_graphql::{Request, Variables};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use yuelu_api::database::Database;
use yuelu_api::graphql;
use yuelu_api::metrics::Metrics;
use yuelu_api::service::account;
use yuelu_api::service::ca::{self, Authorities, Ledger};
use yuelu_api::service::caller::{Actor, Caller, RequestId};
use yuelu_ca::{
    CaSpec, CertificateAuthority, CryptoSuite, CsrSubject, IssueRequest, NamePolicy, PrivateKeyPem,
    Profile, SubjectAltName, Validity, VerifiedCsr, build_csr,
};

const CONCURRENCY: usize = 64;
const SECONDS: u64 = 6;
const CSRS: usize = 4_000;

fn csrs(n: usize) -> Vec<String> {
    let key = PrivateKeyPem::generate(CryptoSuite::EcdsaP256).unwrap();
    (0..n)
        .map(|i| {
            let subject = CsrSubject {
                common_name: format!("node-{i}"),
                organisation: None,
            };
            let names = [SubjectAltName::parse(&format!("node-{i}.bench.example.cn")).unwrap()];
            build_csr(&key, &subject, &names).unwrap().pem().unwrap()
        })
        .collect()
}

/// Operations per second of `f` on one thread for about a second.
fn rate(mut f: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_millis(1200) {
        f(n);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

struct Run {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    batch: f64,
}

async fn end_to_end(url: &str, max_batch: usize, csrs: Arc<Vec<String>>) -> Run {
    let db = Database::connect(url).await.unwrap();
    account::ensure_platform_admin(&db).await.unwrap();
    let metrics = Arc::new(Metrics::new().unwrap());
    let ledger = Ledger::with_batch(db.clone(), max_batch);
    let auth = Authorities::start_with(
        &db,
        yuelu_ca::MasterKey::generate().unwrap(),
        metrics.clone(),
        ledger,
    )
    .await
    .unwrap();
    let mut engines = yuelu_engine::EngineRegistry::new();
    engines.register(Box::new(yuelu_chain::YueluEngine::new()));
    let schema = graphql::build(db.clone(), Arc::new(engines), auth.clone(), metrics);
    let admin_row = {
        use sea_orm::EntityTrait;
        yuelu_api::entity::user::Entity::find()
            .one(db.conn())
            .await
            .unwrap()
            .unwrap()
    };
    let admin = Caller::signed_in(Actor::of(&admin_row, None), RequestId::generate());
    let t = yuelu_api::service::tenant::create_tenant(
        &db,
        &admin,
        yuelu_api::service::tenant::Profile {
            name: Some("基准证书企业".into()),
            uscc: Some("91350100M000100Y43".into()),
            contact_name: Some("基准".into()),
            contact_phone: Some("0731-00000000".into()),
            contact_email: Some("bench@example.cn".into()),
        },
        None,
    )
    .await
    .unwrap();
    ca::set_name_policy(&db, &admin, t.id, vec!["bench.example.cn".into()], vec![])
        .await
        .unwrap();
    ca::create_authority(
        &db,
        &auth,
        &admin,
        Some(t.id),
        CryptoSuite::EcdsaP256,
        false,
    )
    .await
    .unwrap();
    let tenant = t.id.to_string();
    let query = "mutation($i: IssueCertificateInput!) { issueCertificate(input: $i) { serial } }";

    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let start = Instant::now();
    let before = auth.ledger().stats().commits.load(Ordering::Relaxed);
    let mut tasks = Vec::new();
    for w in 0..CONCURRENCY {
        let (schema, admin, csrs, tenant) =
            (schema.clone(), admin.clone(), csrs.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while Instant::now() < deadline {
                let caller = Caller::new(admin.actor.clone(), RequestId::generate());
                let vars = json!({"i": {"tenantId": tenant, "csr": csrs[i % csrs.len()], "profile": "NODE_TLS"}});
                let t0 = Instant::now();
                let r = schema
                    .execute(Request::new(query).variables(Variables::from_json(vars)).data(caller))
                    .await;
                assert!(r.errors.is_empty(), "{:?}", r.errors);
                lat.push(t0.elapsed());
                i += CONCURRENCY;
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    let stats = auth.ledger().stats();
    let commits = stats.commits.load(Ordering::Relaxed) - before;
    // Every issued certificate is in the database with its audit entry.
    {
        use sea_orm::{EntityTrait, PaginatorTrait};
        let n = yuelu_api::entity::certificate::Entity::find()
            .count(db.conn())
            .await
            .unwrap();
        assert_eq!(n as usize, lat.len());
    }
    db.close().await.unwrap();
    lat.sort();
    Run {
        per_second: lat.len() as f64 / elapsed.as_secs_f64(),
        p50: lat[lat.len() / 2],
        p99: lat[(lat.len() * 99 / 100).min(lat.len() - 1)],
        batch: lat.len() as f64 / commits.max(1) as f64,
    }
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let csrs = Arc::new(csrs(CSRS));

    // The stages alone, one thread: where the time of one issuance goes.
    let spec = CaSpec {
        common_name: "Bench CA".into(),
        validity: Validity::from_now(Duration::from_secs(10 * 365 * 86_400)).unwrap(),
        path_len: Some(0),
    };
    let ca = CertificateAuthority::create_root(CryptoSuite::EcdsaP256, "Bench", &spec).unwrap();
    let policy = NamePolicy::from_domains(["bench.example.cn"]).unwrap();
    let parsed: Vec<VerifiedCsr> = csrs
        .iter()
        .take(200)
        .map(|c| VerifiedCsr::parse(c.as_bytes()).unwrap())
        .collect();
    let validity = Validity::from_now(Duration::from_secs(365 * 86_400)).unwrap();
    let verify = rate(|i| {
        VerifiedCsr::parse(csrs[i % csrs.len()].as_bytes()).unwrap();
    });
    let sign = rate(|i| {
        ca.issue(
            &IssueRequest::new(&parsed[i % parsed.len()], Profile::NodeTls, validity),
            &policy,
        )
        .unwrap();
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pg = yuelu_e2e::PgCluster::start();
    let mut rows = Vec::new();
    for (name, batch) in [
        ("sqlite", 512),
        ("sqlite", 1),
        ("postgres", 512),
        ("postgres", 1),
    ] {
        let url = match name {
            "sqlite" => yuelu_api::database::sqlite_url(&dir.path().join(format!("b{batch}.db"))),
            _ => pg.create_db(&format!("bench{batch}")),
        };
        let r = rt.block_on(end_to_end(&url, batch, csrs.clone()));
        rows.push((name, batch, r));
    }

    println!();
    println!("Stages alone (one thread, ECDSA P-256):");
    println!(
        "  CSR parse + verify   {verify:>9.0} /s   {:>7.1} µs each",
        1e6 / verify
    );
    println!(
        "  certificate signing  {sign:>9.0} /s   {:>7.1} µs each",
        1e6 / sign
    );
    println!();
    println!(
        "End to end through issueCertificate (GraphQL, CSR verify, issue, certificate row + audit entry, durable commit), {CONCURRENCY} concurrent requests, {SECONDS} s:"
    );
    println!(
        "{:<10} {:<22} {:>9} {:>8} {:>8} {:>12} {:>14}",
        "database", "commit", "certs/s", "p50 ms", "p99 ms", "certs/commit", "of 1-core sign"
    );
    for (name, batch, mut r) in rows {
        let mode = if batch == 1 {
            "one per transaction".to_owned()
        } else {
            format!("grouped (≤{batch})")
        };
        let _ = &mut r;
        println!(
            "{name:<10} {mode:<22} {:>9.0} {:>8.2} {:>8.2} {:>12.1} {:>13.1}%",
            r.per_second,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.batch,
            100.0 * r.per_second / sign
        );
    }
}
