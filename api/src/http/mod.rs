//! The HTTP server: console pages, `/graphql`, health, readiness and metrics.

mod ca;
mod console;
mod graphql;
mod metrics;

pub use crate::metrics::Metrics;

use crate::database::Database;
use crate::graphql::ApiSchema;
use crate::service::caller::RequestId;
use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, middleware, web};
use std::net::SocketAddr;
use std::sync::Arc;
use yuelu_web::Console;

/// What every handler shares. Built once, outside the worker factory, so workers share state.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Database,
    /// The GraphQL schema.
    pub schema: ApiSchema,
    /// The certificate authorities.
    pub authorities: Arc<crate::service::ca::Authorities>,
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
        .configure(ca::routes)
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
        .wrap(middleware::from_fn(request_id))
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
    match state.db.conn().ping().await {
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

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Gives every request an id (the client's `X-Request-Id` when well formed) and echoes it in
/// the response, so a user's report can be matched to audit entries and logs.
async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::from_header(req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()));
    req.extensions_mut().insert(id.clone());
    // Everything logged while serving the request (internal errors included) carries its id.
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %req.method(),
        path = %req.path()
    );
    let mut res = tracing::Instrument::instrument(next.call(req), span).await?;
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res)
}

/// The id [`request_id`] gave this request.
pub(crate) fn request_id_of(req: &HttpRequest) -> RequestId {
    req.extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(RequestId::generate)
}
