//! The HTTP surface: /graphql (POST JSON, GraphiQL, WebSocket), health, readiness, metrics,
//! and the studio and tracking pages.
mod pages;
mod websocket;

use std::sync::Arc;
use std::time::Instant;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocketProtocols};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Data, ServerError};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, MatchedPath, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::{Principal, TokenVerifier};
use crate::db::Store;
use crate::graphql::TouchpointSchema;
use crate::graphql::batch::Batcher;
use crate::graphql::{documents, operation};
use crate::telemetry::{Metrics, RouteLabels};

#[derive(Clone)]
pub struct HttpState {
    pub schema: TouchpointSchema,
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
    pub metrics: Arc<Metrics>,
    pub graphiql: bool,
    pub max_bracket_depth: usize,
    pub max_aliases: usize,
    /// Longest a query or mutation may run.
    pub request_timeout: std::time::Duration,
    pub ws_init_timeout: std::time::Duration,
    /// Most operations one WebSocket may run at once.
    pub max_subscriptions: usize,
    /// WebSockets close when the server stops serving, and are waited for.
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// The body of `POST /bench/fixed` (`--bench-fixed-response-bytes`); None: no such route.
    pub bench_fixed_body: Option<Bytes>,
}

/// The largest body `--bench-fixed-response-bytes` may ask for.
pub const MAX_BENCH_FIXED_BYTES: usize = 16 * 1024 * 1024;

/// A JSON object of exactly `bytes` bytes (or the smallest one, 21 bytes, when fewer are asked
/// for): `{"data":{"fixed":"xxx…"}}`.
pub fn fixed_json_body(bytes: usize) -> Bytes {
    const HEAD: &str = r#"{"data":{"fixed":""#;
    const TAIL: &str = r#""}}"#;
    let padding = bytes.saturating_sub(HEAD.len() + TAIL.len());
    let mut body = String::with_capacity(HEAD.len() + padding + TAIL.len());
    body.push_str(HEAD);
    body.extend(std::iter::repeat_n('x', padding));
    body.push_str(TAIL);
    Bytes::from(body)
}

/// `POST /bench/fixed`: reads the request body and answers the fixed JSON body, through the same
/// layers as /graphql; the ceiling the HTTP benchmark compares GraphQL reads with.
async fn bench_fixed(State(state): State<HttpState>, _body: Bytes) -> Response {
    let body = state.bench_fixed_body.clone().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The routes, with their limits; `cors_origins` are the only web origins whose pages may call
/// the API from a browser (none by default: a browser then refuses every cross-origin call).
pub fn router(
    state: HttpState,
    max_body_bytes: usize,
    cors_origins: &[String],
) -> Result<Router, String> {
    let mut routes = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/returns/label/{token}", get(return_label))
        .route("/t/o/{pixel}", get(open_pixel))
        .merge(pages::routes());
    if state.bench_fixed_body.is_some() {
        routes = routes.route("/bench/fixed", post(bench_fixed));
    }
    let router = routes
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state);
    if cors_origins.is_empty() {
        return Ok(router);
    }
    Ok(router.layer(cors(cors_origins)?))
}

/// CORS for the configured origins only: POST with JSON and a bearer token, no cookies.
fn cors(origins: &[String]) -> Result<CorsLayer, String> {
    let origins = origins
        .iter()
        .map(|origin| {
            let origin = origin.trim().trim_end_matches('/');
            let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.contains(['*', ' ']);
            if !valid {
                return Err(format!(
                    "--cors-origin {origin:?}: expected scheme://host[:port], without wildcards"
                ));
            }
            header::HeaderValue::from_str(origin)
                .map_err(|e| format!("--cors-origin {origin:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(600)))
}

/// A panic anywhere in a request: logged, and answered like any internal error, without the
/// panic's message or location.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request panicked");
    graphql_error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error",
        "INTERNAL",
    )
}

/// Counts requests by matched route (a bounded set) and status, inside a span naming the route.
async fn track(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("http", route = %route, method = %request.method());
    let started = Instant::now();
    let response = {
        let _enter = span.enter();
        next.run(request)
    }
    .await;
    tracing::debug!(parent: &span, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "served");
    state
        .metrics
        .http_requests
        .get_or_create(&RouteLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

async fn readyz(State(state): State<HttpState>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

fn graphql_error_response(status: StatusCode, message: &str, code: &str) -> Response {
    (status, Json(json!({ "data": null, "errors": [{ "message": message, "extensions": { "code": code } }] }))).into_response()
}

/// The token of `Bearer <token>`; the scheme's name is case-insensitive (RFC 9110).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The caller named by the Authorization header; None when a token was given and is not valid.
fn principal_from(headers: &HeaderMap, verifier: &TokenVerifier) -> Option<Principal> {
    match headers.get(header::AUTHORIZATION) {
        None => Some(Principal::Anonymous),
        Some(value) => verifier.verify(bearer_token(value.to_str().ok()?)?).ok(),
    }
}

/// The deepest bracket nesting in a query text, found without parsing it.
fn bracket_depth(query: &str) -> usize {
    let (mut depth, mut max, mut in_string) = (0usize, 0usize, false);
    let mut chars = query.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '{' | '[' | '(' if !in_string => {
                depth += 1;
                max = max.max(depth);
            }
            '}' | ']' | ')' if !in_string => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

async fn graphql_post(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json_body {
        return graphql_error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send JSON (Content-Type: application/json)",
            "BAD_USER_INPUT",
        );
    }
    if body.first().is_some_and(|b| *b == b'[')
        || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
    {
        return graphql_error_response(
            StatusCode::BAD_REQUEST,
            "batched requests are not supported",
            "BAD_USER_INPUT",
        );
    }
    let mut request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            return graphql_error_response(
                StatusCode::BAD_REQUEST,
                "the body is not a GraphQL request",
                "BAD_USER_INPUT",
            );
        }
    };
    if bracket_depth(&request.query) > state.max_bracket_depth {
        return graphql_error_response(
            StatusCode::BAD_REQUEST,
            "the query is nested too deeply",
            "BAD_USER_INPUT",
        );
    }
    let Some(principal) = principal_from(&headers, &state.verifier) else {
        return graphql_error_response(
            StatusCode::UNAUTHORIZED,
            "invalid token",
            "UNAUTHENTICATED",
        );
    };
    // A document that does not parse is left to the executor, which reports it.
    let mut roots = Vec::new();
    let mut is_query = false;
    let operation_name = request.operation_name.clone();
    if let Some(document) = documents::parse(&request.query) {
        if let Some(refusal) = operation::alias_refusal(&document, state.max_aliases) {
            let mut response =
                async_graphql::Response::from_errors(vec![ServerError::new(refusal, None)]);
            for error in &mut response.errors {
                code_uncoded(error);
            }
            return Json(response).into_response();
        }
        roots = operation::root_fields(&document, operation_name.as_deref());
        is_query = operation::selected(&document, operation_name.as_deref())
            .is_some_and(|op| op.ty == OperationType::Query);
        // The executor takes the document as its own (it prunes `@skip`ped fields from it).
        request.set_parsed_query(ExecutableDocument::clone(&document));
    }
    let started = Instant::now();
    let batcher = Batcher::driven(&state.store, is_query);
    let request = request.data(principal).data(batcher.clone());
    let work = batcher.drive(state.schema.execute(request));
    // Past the limit the request is dropped where it stands: an open transaction rolls back.
    let Ok(mut response) = tokio::time::timeout(state.request_timeout, work).await else {
        tracing::warn!(
            limit_ms = state.request_timeout.as_millis() as u64,
            "a request ran out of time"
        );
        return graphql_error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the request took too long and was abandoned; nothing it would have changed was kept",
            "TIMEOUT",
        );
    };
    operation::record(&state.metrics, &roots, &response, started.elapsed());
    for error in &mut response.errors {
        code_uncoded(error);
    }
    Json(response).into_response()
}

/// Parse and validation errors carry no code of their own: they are the client's.
fn code_uncoded(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if !has_code {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "BAD_USER_INPUT");
    }
}

async fn graphql_get(State(state): State<HttpState>, request: Request<Body>) -> Response {
    let (mut parts, _) = request.into_parts();
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        let Some(protocol) = websocket_protocol(&parts.headers) else {
            return (
                StatusCode::BAD_REQUEST,
                "use the graphql-transport-ws subprotocol",
            )
                .into_response();
        };
        let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(u) => u,
            Err(e) => return e.into_response(),
        };
        // Small buffers: an idle subscriber should cost kilobytes, not the 128 KiB default. A
        // client's messages are a few hundred bytes; a longer one is read in several chunks.
        return upgrade
            .read_buffer_size(256)
            .write_buffer_size(1024)
            .max_message_size(1024 * 1024)
            .protocols(ALL_WEBSOCKET_PROTOCOLS)
            .on_upgrade(move |socket| {
                let tasks = state.lifecycle.tasks.clone();
                tasks.track_future(websocket::serve(socket, state, protocol))
            });
    }
    // Operations travel by POST only: a link or an image cannot run one.
    let has_query = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("query=")));
    if has_query {
        return graphql_error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "send operations with POST and Content-Type: application/json",
            "BAD_USER_INPUT",
        );
    }
    if !state.graphiql {
        return (StatusCode::NOT_FOUND, "GraphiQL is off in production").into_response();
    }
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .finish(),
    )
    .into_response()
}

/// The client's choice of subprotocol, preferring graphql-transport-ws.
fn websocket_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    let mut offered: Vec<WebSocketProtocols> = offered
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    offered.sort_by_key(|p| *p != WebSocketProtocols::GraphQLWS);
    offered.into_iter().next()
}

/// The token travels in `connection_init` as `{"authorization": "Bearer …"}`.
/// Authenticates a WebSocket's `connection_init`; a token's expiry is left in `expires` so the
/// connection ends when the token does.
pub(crate) async fn connection_init(
    state: HttpState,
    payload: serde_json::Value,
    expires: Arc<std::sync::Mutex<Option<u64>>>,
) -> async_graphql::Result<Data> {
    let principal = match payload
        .get("authorization")
        .or_else(|| payload.get("Authorization"))
    {
        None => Principal::Anonymous,
        Some(value) => {
            let token = value.as_str().and_then(bearer_token).unwrap_or_default();
            let (principal, until) = state
                .verifier
                .verify_until(token)
                .map_err(|_| async_graphql::Error::new("invalid token"))?;
            *expires
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(until);
            principal
        }
    };
    let mut data = Data::default();
    data.insert(principal);
    // The WebSocket integration executes the subscriptions: its batches wait a moment.
    data.insert(Batcher::timed(&state.store));
    Ok(data)
}

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The open-tracking pixel of an email: the first fetch records the open. Always the same
/// image, whatever the token, so it tells a prober nothing.
async fn open_pixel(
    State(state): State<HttpState>,
    axum::extract::Path(pixel): axum::extract::Path<String>,
) -> Response {
    if let Some(token) = pixel.strip_suffix(".gif")
        && let Err(e) = crate::communications::service::record_open(&state.store, token).await
    {
        tracing::error!(error = %e, "recording an email open failed");
    }
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store, max-age=0"),
        ],
        PIXEL,
    )
        .into_response()
}

/// A CARRIER return's printable label; the unguessable token in the link is the credential.
async fn return_label(
    State(state): State<HttpState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Response {
    match crate::returns::label::render(&state.store, &token).await {
        Ok(Some(page)) => Html(page).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such label").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "return label failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CatchPanicLayer, bracket_depth, panic_response};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn a_panic_is_answered_as_an_internal_error_without_its_message() {
        let router = axum::Router::new()
            .route(
                "/boom",
                axum::routing::get(|| async {
                    let secret = "/srv/touchpoint/src/orders.rs:42 SELECT * FROM orders";
                    panic!("{secret}");
                    #[allow(unreachable_code)]
                    ""
                }),
            )
            .layer(CatchPanicLayer::custom(panic_response));
        let request = Request::get("/boom").body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL");
        assert_eq!(body["errors"][0]["message"], "internal error");
        assert!(!body.to_string().contains("SELECT") && !body.to_string().contains(".rs"));
    }

    #[test]
    fn reads_the_bearer_scheme_in_any_case() {
        assert_eq!(super::bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(super::bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(super::bearer_token("BEARER abc"), Some("abc"));
        assert_eq!(super::bearer_token("Basic abc"), None);
        assert_eq!(super::bearer_token("Bearerabc"), None);
    }

    #[test]
    fn the_fixed_bench_body_is_json_of_the_asked_size() {
        for bytes in [0, 21, 22, 3_600, 40_000] {
            let body = super::fixed_json_body(bytes);
            assert_eq!(body.len(), bytes.max(21));
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(value["data"]["fixed"].is_string());
        }
    }

    #[test]
    fn measures_nesting_outside_strings() {
        assert_eq!(bracket_depth("{ a { b(x: [1, [2]]) } }"), 5);
        assert_eq!(bracket_depth(r#"{ a(s: "{{{{[[[") }"#), 2);
    }
}
