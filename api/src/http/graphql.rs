//! `/graphql`: POST runs queries and mutations; a browser's GET gets GraphiQL.

use super::AppState;
use crate::entity::session::SessionKind;
use crate::service::account::{self, SecretToken};
use crate::service::caller::{Actor, Caller};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql_actix_web::{GraphQLRequest, GraphQLResponse};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/graphql")
            .route(web::post().to(execute))
            .route(web::get().to(graphiql)),
    );
}

/// The bearer token of a request, if it carries one.
pub(super) fn bearer(req: &HttpRequest) -> Option<SecretToken> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| SecretToken::from_client(token))
}

async fn execute(
    state: web::Data<AppState>,
    req: HttpRequest,
    gql: GraphQLRequest,
) -> GraphQLResponse {
    let request_id = super::request_id_of(&req);
    let actor = match bearer(&req) {
        Some(t) => {
            match account::authenticate(&state.db, &t, SessionKind::Bearer, chrono::Utc::now())
                .await
            {
                Ok(found) => found.map(|a| Actor::of(&a.user, a.session.map(|s| s.id))),
                Err(e) => {
                    use async_graphql::ErrorExtensions;
                    let err = e.extend().into_server_error(async_graphql::Pos::default());
                    return async_graphql::Response::from_errors(vec![err]).into();
                }
            }
        }
        None => None,
    };
    let caller = Caller::new(actor, request_id);
    state
        .schema
        .execute(gql.into_inner().data(caller))
        .await
        .into()
}

async fn graphiql(req: HttpRequest) -> HttpResponse {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        match yuelu_web::graphiql_page() {
            Some(page) => HttpResponse::Ok()
                .content_type(page.content_type)
                .body(page.bytes.into_owned()),
            None => HttpResponse::InternalServerError().body("GraphiQL is not embedded"),
        }
    } else {
        HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "POST"))
            .json(serde_json::json!({
                "errors": [{
                    "message": "send GraphQL requests with POST",
                    "extensions": {"code": "METHOD_NOT_ALLOWED"}
                }]
            }))
    }
}
