//! CA endpoints outside GraphQL: CRL distribution (public, as relying parties expect) and
//! `POST /enroll` for node runtimes holding an enrollment token.

use super::AppState;
use crate::error::ApiError;
use crate::service::account::SecretToken;
use crate::service::audit::{self, Action, Entry};
use crate::service::ca::{self, EnrollRequest, RevokeEnrolledRequest};
use crate::service::caller::Caller;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ca/{id}/crl", web::get().to(crl_der))
        .route("/ca/{id}/crl.pem", web::get().to(crl_pem))
        .route("/enroll", web::post().to(enroll))
        .route("/enroll/revoke", web::post().to(revoke_enrolled));
}

/// A JSON error with the code as in GraphQL answers.
pub(super) fn error(e: &ApiError) -> HttpResponse {
    let status = match e {
        ApiError::Unauthenticated | ApiError::BadToken(_) => StatusCode::UNAUTHORIZED,
        ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::InvalidInput { .. } | ApiError::Certificate(_) => StatusCode::BAD_REQUEST,
        ApiError::QuotaExceeded(_) | ApiError::Conflict(_) => StatusCode::CONFLICT,
        ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    HttpResponse::build(status).json(json!({"error": {"code": e.code(), "message": e.to_string()}}))
}

async fn crl(state: &AppState, id: &str) -> Result<ca::CrlView, ApiError> {
    let id = uuid::Uuid::parse_str(id)
        .map_err(|_| ApiError::NotFound("certificate authority".into()))?;
    ca::crl(&state.db, &state.authorities, id).await
}

fn cache_until(c: &ca::CrlView) -> String {
    let secs = (c.next_update - chrono::Utc::now())
        .num_seconds()
        .clamp(0, 3600);
    format!("public, max-age={secs}")
}

async fn crl_der(state: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    match crl(&state, &id).await {
        Ok(c) => HttpResponse::Ok()
            .content_type("application/pkix-crl")
            .insert_header((header::CACHE_CONTROL, cache_until(&c)))
            .body(c.der),
        Err(e) => error(&e),
    }
}

async fn crl_pem(state: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    match crl(&state, &id).await {
        Ok(c) => HttpResponse::Ok()
            .content_type("application/x-pem-file")
            .insert_header((header::CACHE_CONTROL, cache_until(&c)))
            .body(c.pem),
        Err(e) => error(&e),
    }
}

async fn enroll(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let caller = Caller::anonymous(super::request_id_of(&req));
    let Some(token) = super::graphql::bearer(&req) else {
        return error(&ApiError::Unauthenticated);
    };
    let request: EnrollRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let err = ApiError::invalid("body", e.to_string());
            let entry = Entry::new(&caller, Action::Enroll);
            audit::record_entry(&state.db, &entry, &err).await;
            return error(&err);
        }
    };
    let token = SecretToken::from_client(token.expose());
    match ca::enroll(&state.db, &state.authorities, &caller, &token, request).await {
        Ok(e) => HttpResponse::Created().json(json!({
            "certificate": e.certificate.pem,
            "serial": e.certificate.serial,
            "notAfter": e.certificate.not_after,
            "caBundle": e.ca_bundle,
        })),
        Err(e) => error(&e),
    }
}

async fn revoke_enrolled(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let caller = Caller::anonymous(super::request_id_of(&req));
    let Some(token) = super::graphql::bearer(&req) else {
        return error(&ApiError::Unauthenticated);
    };
    let request: RevokeEnrolledRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let err = ApiError::invalid("body", e.to_string());
            audit::record_entry(
                &state.db,
                &Entry::new(&caller, Action::RevokeCertificate),
                &err,
            )
            .await;
            return error(&err);
        }
    };
    match ca::revoke_enrolled(&state.db, &state.authorities, &caller, &token, request).await {
        Ok(c) => HttpResponse::Ok().json(json!({"serial": c.serial, "revokedAt": c.revoked_at})),
        Err(e) => error(&e),
    }
}
