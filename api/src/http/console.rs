//! Console pages: sign in, sign out, the signed-in overview, static assets.
//!
//! Sessions ride in an HTTP-only, SameSite=Strict cookie. Forms carry a CSRF token: before
//! sign-in a double-submit cookie, after sign-in the session's own token.

use super::AppState;
use crate::entity::session::SessionKind;
use crate::error::ApiError;
use crate::service::account::{self, Authenticated, SecretToken};
use crate::service::caller::{Actor, Caller};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use yuelu_web::Lang;

const SESSION_COOKIE: &str = "yuelu_session";
const CSRF_COOKIE: &str = "yuelu_csrf";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/signin", web::get().to(signin_page))
        .route("/signin", web::post().to(signin_submit))
        .route("/signout", web::post().to(signout))
        .route("/console", web::get().to(overview))
        .route("/static/{path:.*}", web::get().to(asset))
        .default_service(web::to(not_found));
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

fn lang(q: &web::Query<LangQuery>) -> Lang {
    Lang::from_query(q.lang.as_deref())
}

fn html(
    state: &AppState,
    status: StatusCode,
    page: &str,
    lang: Lang,
    data: serde_json::Value,
) -> HttpResponse {
    match state.console.render(page, lang, &data) {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, page, "rendering a console page");
            HttpResponse::InternalServerError().body("internal error")
        }
    }
}

fn redirect(to: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

fn cookie<'a>(
    state: &AppState,
    name: &'a str,
    value: String,
    max_age: CookieDuration,
) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.secure_cookies)
        .max_age(max_age)
        .finish()
}

/// The signed-in console session of a request, if any.
async fn current(state: &AppState, req: &HttpRequest) -> Result<Option<Authenticated>, ApiError> {
    let Some(c) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let token = SecretToken::from_client(c.value());
    account::authenticate(&state.db, &token, SessionKind::Console, chrono::Utc::now()).await
}

fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && a.as_bytes().ct_eq(b.as_bytes()).into()
}

async fn index(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LangQuery>,
) -> HttpResponse {
    match current(&state, &req).await {
        Ok(Some(_)) => redirect(format!("/console?lang={}", lang(&q))),
        Ok(None) => signin_form(&state, lang(&q), StatusCode::OK, None, ""),
        Err(_) => HttpResponse::InternalServerError().body("internal error"),
    }
}

async fn signin_page(state: web::Data<AppState>, q: web::Query<LangQuery>) -> HttpResponse {
    signin_form(&state, lang(&q), StatusCode::OK, None, "")
}

/// The sign-in form with a fresh double-submit CSRF token.
fn signin_form(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    error: Option<&str>,
    username: &str,
) -> HttpResponse {
    let csrf = account::random_secret(32);
    let mut res = html(
        state,
        status,
        "signin",
        lang,
        json!({"csrf": csrf, "error": error, "username": username}),
    );
    let _ = res.add_cookie(&cookie(state, CSRF_COOKIE, csrf, CookieDuration::hours(1)));
    res
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
    password: String,
    csrf: String,
}

async fn signin_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LangQuery>,
    form: web::Form<SignInForm>,
) -> HttpResponse {
    let lang = lang(&q);
    let cookie_csrf = req
        .cookie(CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !same(&form.csrf, &cookie_csrf) {
        return signin_form(
            &state,
            lang,
            StatusCode::FORBIDDEN,
            Some("signin.expired"),
            &form.username,
        );
    }
    let caller = Caller::anonymous(super::request_id_of(&req));
    match account::sign_in(
        &state.db,
        &caller,
        &form.username,
        &form.password,
        SessionKind::Console,
    )
    .await
    {
        Ok(s) => {
            let mut res = redirect(format!("/console?lang={lang}"));
            let _ = res.add_cookie(&cookie(
                &state,
                SESSION_COOKIE,
                s.token.expose().to_owned(),
                CookieDuration::seconds(account::CONSOLE_SESSION_TTL.num_seconds()),
            ));
            let _ = res.add_removal_cookie(&cookie(
                &state,
                CSRF_COOKIE,
                String::new(),
                CookieDuration::ZERO,
            ));
            res
        }
        Err(ApiError::Unauthenticated | ApiError::InvalidInput { .. }) => signin_form(
            &state,
            lang,
            StatusCode::UNAUTHORIZED,
            Some("signin.failed"),
            &form.username,
        ),
        Err(ApiError::RateLimited { retry_after_secs }) => {
            let mut res = signin_form(
                &state,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                Some("signin.rate_limited"),
                &form.username,
            );
            if let Ok(v) = header::HeaderValue::from_str(&retry_after_secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            res
        }
        // The one refusal after a right password: the user's tenant is suspended.
        Err(ApiError::Forbidden(_)) => signin_form(
            &state,
            lang,
            StatusCode::FORBIDDEN,
            Some("signin.suspended"),
            &form.username,
        ),
        Err(_) => HttpResponse::InternalServerError().body("internal error"),
    }
}

#[derive(Deserialize)]
struct SignOutForm {
    csrf: String,
}

async fn signout(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LangQuery>,
    form: web::Form<SignOutForm>,
) -> HttpResponse {
    match current(&state, &req).await {
        Ok(Some(Authenticated {
            user,
            session: Some(s),
        })) if same(&form.csrf, &s.csrf_token) => {
            let caller =
                Caller::signed_in(Actor::of(&user, Some(s.id)), super::request_id_of(&req));
            if account::sign_out(&state.db, &caller).await.is_err() {
                return HttpResponse::InternalServerError().body("internal error");
            }
            let mut res = redirect(format!("/?lang={}", lang(&q)));
            let _ = res.add_removal_cookie(&cookie(
                &state,
                SESSION_COOKIE,
                String::new(),
                CookieDuration::ZERO,
            ));
            res
        }
        Ok(Some(_)) => HttpResponse::Forbidden().body("CSRF token mismatch"),
        Ok(None) => redirect(format!("/?lang={}", lang(&q))),
        Err(_) => HttpResponse::InternalServerError().body("internal error"),
    }
}

async fn overview(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<LangQuery>,
) -> HttpResponse {
    match current(&state, &req).await {
        Ok(Some(Authenticated {
            user: u,
            session: Some(s),
        })) => html(
            &state,
            StatusCode::OK,
            "console",
            lang(&q),
            json!({
                "csrf": s.csrf_token,
                "user": {"username": u.username, "role": u.role.as_str()},
            }),
        ),
        Ok(_) => redirect(format!("/signin?lang={}", lang(&q))),
        Err(_) => HttpResponse::InternalServerError().body("internal error"),
    }
}

async fn asset(path: web::Path<String>) -> HttpResponse {
    match yuelu_web::asset(&path) {
        Some(a) => HttpResponse::Ok()
            .content_type(a.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(a.bytes.into_owned()),
        None => HttpResponse::NotFound().finish(),
    }
}

async fn not_found(state: web::Data<AppState>, q: web::Query<LangQuery>) -> HttpResponse {
    html(
        &state,
        StatusCode::NOT_FOUND,
        "not_found",
        lang(&q),
        json!({}),
    )
}
