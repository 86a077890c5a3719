//! The HTTP server: console pages, `/graphql`, health, readiness and metrics.

mod console;
mod graphql;
mod metrics;

pub use crate::metrics::Metrics;

use crate::graphql::ApiSchema;
use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, middleware, web};
use sea_orm::DatabaseConnection;
use std::net::SocketAddr;
use std::sync::Arc;
use yuelu_web::Console;

/// What every handler shares. Built once, outside the worker factory, so workers share state.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: DatabaseConnection,
    /// The GraphQL schema.
    pub schema: ApiSchema,
    /// The console renderer.
    pub console: Arc<Console>,
    /// The service's metrics.
    pub metrics: Arc<Metrics>,
    /// Whether cookies get the Secure attribute.
    pub secure_cookies: bool,
}

/// Registers every route; used by the server and by tests.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics::serve))
        .configure(graphql::routes)
        .configure(console::routes);
}

/// Builds the actix app for a state.
pub fn app(
    state: AppState,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let metrics = state.metrics.clone();
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::FormConfig::default().limit(64 * 1024))
        .wrap(metrics::Middleware(metrics))
        .wrap(
            middleware::DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("Referrer-Policy", "same-origin"))
                .add(("X-Frame-Options", "DENY")),
        )
        .configure(routes)
}

/// A bound server, ready to run.
pub struct Bound {
    server: actix_web::dev::Server,
    /// The address it listens on (useful when the port was 0).
    pub addr: SocketAddr,
}

impl Bound {
    /// A handle that stops the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through a [`ServerHandle`].
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Binds the server. Signals are ours to handle (graceful stop of everything, not only HTTP).
pub fn bind(state: AppState, listen: SocketAddr, workers: u16) -> std::io::Result<Bound> {
    let server = HttpServer::new(move || app(state.clone()))
        .workers(usize::from(workers))
        .disable_signals()
        .shutdown_timeout(10)
        .bind(listen)?;
    let addr = server.addrs().first().copied().unwrap_or(listen);
    Ok(Bound {
        server: server.run(),
        addr,
    })
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body("database unreachable\n")
        }
    }
}
