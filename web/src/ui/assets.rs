//! Static files under `/static/`, embedded in the binary (so it runs from any folder). Pages
//! link them with `?v=<hash>` (the `asset_version` variable), so they can be cached for a year.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::AppState;

/// Every static file. Add one: put it in `web/static/` and list it here.
const FILES: &[(&str, &str, &[u8])] = &[
    ("corridor.css", "text/css; charset=utf-8", include_bytes!("../../static/corridor.css")),
    ("print.css", "text/css; charset=utf-8", include_bytes!("../../static/print.css")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../../static/favicon.svg")),
];

/// A short digest of all static files, appended to their URLs.
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    for (name, _, bytes) in FILES {
        h.update(name.as_bytes());
        h.update(bytes);
    }
    hex::encode(&h.finalize()[..6])
});

pub fn routes() -> Router<AppState> {
    Router::new().route("/static/{file}", get(file))
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", *VERSION);
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
            (header::ETAG, HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\""))),
        ],
        *bytes,
    )
        .into_response()
}

/// Total bytes of CSS and JavaScript a page can load (the budget is 100 KB).
pub fn css_and_js_bytes() -> usize {
    FILES.iter().filter(|(n, _, _)| n.ends_with(".css") || n.ends_with(".js")).map(|(_, _, b)| b.len()).sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn css_and_js_stay_under_100_kb() {
        assert!(super::css_and_js_bytes() < 100 * 1024, "{} bytes", super::css_and_js_bytes());
    }
}
