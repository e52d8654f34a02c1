//! The consoles' scripts and styles, compiled into the binary: the vendored htmx, its SSE
//! extension and uPlot (`web/vendor/`, fetched and checked by `scripts/vendor_web.py`), and
//! our own `web/console.css` and `web/console.js`. Served under `/assets/` with their
//! SHA-256 as ETag, so a browser asks again only with `If-None-Match`; nothing is fetched
//! from anywhere but the switchboard.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One embedded file.
pub(crate) struct Asset {
    pub(crate) name: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $path:literal, $ty:expr) => {
        Asset {
            name: $name,
            content_type: $ty,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

pub(crate) const ASSETS: &[Asset] = &[
    asset!("htmx.min.js", "vendor/htmx.min.js", JS),
    asset!("htmx-ext-sse.min.js", "vendor/htmx-ext-sse.min.js", JS),
    asset!("uPlot.iife.min.js", "vendor/uPlot.iife.min.js", JS),
    asset!("uPlot.min.css", "vendor/uPlot.min.css", CSS),
    asset!("console.js", "console.js", JS),
    asset!("console.css", "console.css", CSS),
];

/// Each asset's ETag, worked out once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let d = Sha256::digest(a.bytes);
                let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// `GET /assets/{name}`.
pub(crate) async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let (a, tag) = (&ASSETS[i], &etags()[i]);
    let tag_value = HeaderValue::from_str(tag).unwrap_or(HeaderValue::from_static("\"\""));
    let common = [
        (header::ETAG, tag_value),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(a.content_type),
        )],
        a.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_embedded_with_its_type() {
        for a in ASSETS {
            assert!(a.bytes.len() > 100, "{} is empty", a.name);
            let js = a.name.ends_with(".js");
            assert_eq!(a.content_type == JS, js, "{}", a.name);
            assert_eq!(a.content_type == CSS, !js, "{}", a.name);
        }
        let tags = etags();
        assert_eq!(tags.len(), ASSETS.len());
        assert!(tags.iter().all(|t| t.len() == 34));
    }
}
