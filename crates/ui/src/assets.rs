//! The UI's static files, compiled into the binary. Their URLs carry the version, so
//! browsers may keep them forever.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub const HTMX_PATH: &str = "/ui/assets/htmx-2.0.11.min.js";
pub const CSS_PATH: &str = concat!("/ui/assets/app-", env!("CARGO_PKG_VERSION"), ".css");
pub const JS_PATH: &str = concat!("/ui/assets/ui-", env!("CARGO_PKG_VERSION"), ".js");

const HTMX: &[u8] = include_bytes!("../static/htmx-2.0.11.min.js");
const CSS: &[u8] = include_bytes!("../static/app.css");
const JS: &[u8] = include_bytes!("../static/ui.js");

fn serve(body: &'static [u8], content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

pub async fn htmx() -> Response {
    serve(HTMX, "text/javascript; charset=utf-8")
}

pub async fn css() -> Response {
    serve(CSS, "text/css; charset=utf-8")
}

pub async fn js() -> Response {
    serve(JS, "text/javascript; charset=utf-8")
}
