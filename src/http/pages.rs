//! The two web pages, built from `web/` into `web/dist` and compiled into the binary: the
//! template studio (`/studio`) and the tracking page (`/track/<token>`). Both are clients of
//! `/graphql` on the same origin; nothing is fetched from anywhere else.
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

#[derive(rust_embed::RustEmbed)]
#[folder = "web/dist"]
struct Dist;

/// Scripts and styles from this origin only; email previews render in a sandboxed `srcdoc`
/// frame, and images may come from the brand's and the catalogue's hosts.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: https: http:; connect-src 'self'; frame-src 'self' about:; \
frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/studio", get(studio))
        .route("/studio/", get(studio))
        .route("/studio/{*rest}", get(studio))
        .route("/track/{token}", get(track))
        .route("/assets/{*path}", get(asset))
}

async fn studio() -> Response {
    page("studio/index.html")
}

/// The page reads its token from the address; an unknown token gets the same page, which says
/// the link is not valid.
async fn track(Path(_token): Path<String>) -> Response {
    page("track/index.html")
}

async fn asset(Path(path): Path<String>) -> Response {
    let Some(file) = Dist::get(&format!("assets/{path}")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mime = file.metadata.mimetype().to_owned();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_str(&mime).unwrap_or(octet_stream()),
            ),
            // Built file names carry a hash of their content.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        file.data,
    )
        .into_response()
}

fn octet_stream() -> HeaderValue {
    HeaderValue::from_static("application/octet-stream")
}

fn page(name: &str) -> Response {
    let Some(file) = Dist::get(name) else {
        return (StatusCode::NOT_FOUND, "this build has no web pages").into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            // A tracking link's token must not travel to the carrier's site in a Referer.
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::HeaderName::from_static("x-robots-tag"),
                HeaderValue::from_static("noindex"),
            ),
        ],
        file.data,
    )
        .into_response()
}
