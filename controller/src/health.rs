//! `/healthz` that reflects watch progress, `/readyz`, and `/metrics`.
//!
//! A watch can wedge silently: the connection stays open, nothing arrives, and a controller
//! that only checks "the process is up" looks healthy while it reconciles nothing. Every watch
//! request the kube client sends passes through [`WatchProgressLayer`], which records when each
//! watch was last (re)established with a 2xx answer. The apiserver ends every watch after the
//! watcher's timeout and the watcher re-establishes it, so a healthy watch is re-established at
//! least every timeout; one that has not been for longer than the allowed silence is reported,
//! and `/healthz` fails so that the kubelet restarts the pod.

use crate::metrics::Metrics;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

/// Seconds after which the apiserver ends each watch (the watcher then re-establishes it).
pub const WATCH_TIMEOUT_SECS: u32 = 240;

#[derive(Clone, Copy, Debug)]
struct WatchState {
    last_ok: Option<Instant>,
    first_attempt: Instant,
    failures_since_ok: u32,
}

/// Watch progress of this process.
#[derive(Debug)]
pub struct Health {
    watches: Mutex<BTreeMap<String, WatchState>>,
    max_silence: Duration,
}

/// One watch in a [`HealthReport`].
#[derive(Clone, Debug, PartialEq)]
pub struct WatchReport {
    /// The watched resource (path and label selector).
    pub resource: String,
    /// Seconds since the watch was last established, if ever.
    pub age_seconds: Option<f64>,
    /// Failed attempts since the last success.
    pub failures: u32,
    /// Whether this watch is healthy.
    pub healthy: bool,
}

/// What `/healthz` reports.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthReport {
    /// All watches healthy (or none yet: a follower watches nothing).
    pub healthy: bool,
    /// Each watch.
    pub watches: Vec<WatchReport>,
}

impl Health {
    /// A tracker that tolerates `max_silence` between successful watch (re)starts.
    pub fn new(max_silence: Duration) -> Health {
        Health {
            watches: Mutex::new(BTreeMap::new()),
            max_silence,
        }
    }

    /// The default: the watch timeout plus two minutes of slack.
    pub fn standard() -> Health {
        Health::new(Duration::from_secs(u64::from(WATCH_TIMEOUT_SECS) + 120))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, WatchState>> {
        self.watches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A watch request is being sent.
    pub fn watch_attempt(&self, resource: &str, now: Instant) {
        self.lock()
            .entry(resource.to_owned())
            .or_insert(WatchState {
                last_ok: None,
                first_attempt: now,
                failures_since_ok: 0,
            });
    }

    /// A watch request was answered.
    pub fn watch_result(&self, resource: &str, ok: bool, now: Instant) {
        let mut w = self.lock();
        let state = w.entry(resource.to_owned()).or_insert(WatchState {
            last_ok: None,
            first_attempt: now,
            failures_since_ok: 0,
        });
        if ok {
            state.last_ok = Some(now);
            state.failures_since_ok = 0;
        } else {
            state.failures_since_ok += 1;
        }
    }

    /// The report at `now`.
    pub fn report(&self, now: Instant) -> HealthReport {
        let watches: Vec<WatchReport> = self
            .lock()
            .iter()
            .map(|(resource, s)| {
                let since = s.last_ok.unwrap_or(s.first_attempt);
                let silent = now.saturating_duration_since(since);
                WatchReport {
                    resource: resource.clone(),
                    age_seconds: s
                        .last_ok
                        .map(|t| now.saturating_duration_since(t).as_secs_f64()),
                    failures: s.failures_since_ok,
                    healthy: silent <= self.max_silence,
                }
            })
            .collect();
        HealthReport {
            healthy: watches.iter().all(|w| w.healthy),
            watches,
        }
    }
}

/// A tower layer for the kube client that records watch progress in a [`Health`].
#[derive(Clone, Debug)]
pub struct WatchProgressLayer(pub Arc<Health>);

impl<S> tower::Layer<S> for WatchProgressLayer {
    type Service = WatchProgress<S>;
    fn layer(&self, inner: S) -> WatchProgress<S> {
        WatchProgress {
            inner,
            health: self.0.clone(),
        }
    }
}

/// The service [`WatchProgressLayer`] makes.
#[derive(Clone, Debug)]
pub struct WatchProgress<S> {
    inner: S,
    health: Arc<Health>,
}

/// The key a watch request is tracked by: its path and label selector.
pub fn watch_key(uri: &http::Uri) -> Option<String> {
    let query = uri.query()?;
    let mut watch = false;
    let mut selector = None;
    for kv in query.split('&') {
        match kv.split_once('=') {
            Some(("watch", v)) => watch = v == "true" || v == "1",
            Some(("labelSelector", v)) => selector = Some(v.to_owned()),
            _ => {}
        }
    }
    watch.then(|| match selector {
        Some(s) => format!("{}?labelSelector={s}", uri.path()),
        None => uri.path().to_owned(),
    })
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for WatchProgress<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    ResBody: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let key = watch_key(req.uri());
        let fut = self.inner.call(req);
        let Some(key) = key else {
            return Box::pin(fut);
        };
        let health = self.health.clone();
        health.watch_attempt(&key, Instant::now());
        Box::pin(async move {
            let result = fut.await;
            let ok = matches!(&result, Ok(r) if r.status().is_success());
            health.watch_result(&key, ok, Instant::now());
            result
        })
    }
}

/// What the HTTP server serves from.
#[derive(Clone, Debug)]
pub struct ServerState {
    /// Watch progress.
    pub health: Arc<Health>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn handle(
    req: Request<Incoming>,
    state: ServerState,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let now = Instant::now();
    Ok(match req.uri().path() {
        "/healthz" => {
            let report = state.health.report(now);
            let mut body = String::new();
            for w in &report.watches {
                let age = w
                    .age_seconds
                    .map(|a| format!("{a:.0}s ago"))
                    .unwrap_or_else(|| "never".into());
                body.push_str(&format!(
                    "{} watch {}: established {age}, {} failures since\n",
                    if w.healthy { "ok" } else { "STALLED" },
                    w.resource,
                    w.failures
                ));
            }
            if report.healthy {
                body.insert_str(0, "ok\n");
                text(StatusCode::OK, body)
            } else {
                body.insert_str(0, "watches stalled\n");
                text(StatusCode::SERVICE_UNAVAILABLE, body)
            }
        }
        "/readyz" => text(StatusCode::OK, "ok\n".into()),
        "/metrics" => {
            for w in state.health.report(now).watches {
                if let Some(age) = w.age_seconds {
                    state
                        .metrics
                        .watch_age
                        .with_label_values(&[&w.resource])
                        .set(age);
                }
            }
            text(StatusCode::OK, state.metrics.render())
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    })
}

/// Serves `/healthz`, `/readyz` and `/metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: ServerState) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, state.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_requests_are_recognised() {
        let u: http::Uri = "/api/v1/configmaps?labelSelector=a%3Db&watch=true&timeoutSeconds=240"
            .parse()
            .unwrap();
        assert_eq!(
            watch_key(&u).as_deref(),
            Some("/api/v1/configmaps?labelSelector=a%3Db")
        );
        let list: http::Uri = "/api/v1/configmaps?limit=500".parse().unwrap();
        assert_eq!(watch_key(&list), None);
    }

    #[test]
    fn healthz_fails_when_a_watch_stops_progressing() {
        let h = Health::new(Duration::from_secs(300));
        let t0 = Instant::now();
        // No watches (a follower): healthy.
        assert!(h.report(t0).healthy);
        h.watch_attempt("/a", t0);
        h.watch_result("/a", true, t0);
        h.watch_attempt("/b", t0);
        h.watch_result("/b", true, t0);
        assert!(h.report(t0 + Duration::from_secs(200)).healthy);
        // /a is re-established, /b is not (wedged connection, or every retry fails).
        h.watch_result("/a", true, t0 + Duration::from_secs(250));
        h.watch_result("/b", false, t0 + Duration::from_secs(250));
        let r = h.report(t0 + Duration::from_secs(400));
        assert!(!r.healthy);
        let b = r.watches.iter().find(|w| w.resource == "/b").unwrap();
        assert!(!b.healthy);
        assert_eq!(b.failures, 1);
        assert!(
            r.watches
                .iter()
                .find(|w| w.resource == "/a")
                .unwrap()
                .healthy
        );
        // A watch that never succeeds is unhealthy once the silence allowance passes.
        h.watch_attempt("/c", t0 + Duration::from_secs(400));
        assert!(
            !h.report(t0 + Duration::from_secs(800))
                .watches
                .iter()
                .find(|w| w.resource == "/c")
                .unwrap()
                .healthy
        );
    }
}
