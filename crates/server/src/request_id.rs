//! Every request gets an id, logged with it and echoed in `X-Request-Id`, so an admin
//! can find the log lines of a request Entra reports as failed. Headers (and with them
//! bearer tokens) are never logged.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Instrument;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub async fn tag_request(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("r{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)));
    // `tenant` is filled in once a request is authenticated.
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path(), tenant = tracing::field::Empty);
    // Handlers see the id too (the web UI prints it on its error page).
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert("x-request-id", v);
    }
    async move {
        let mut response = next.run(req).await;
        let status = response.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), "request done");
        }
        if let Ok(v) = HeaderValue::from_str(&id) {
            response.headers_mut().insert("x-request-id", v);
        }
        response
    }
    .instrument(span)
    .await
}
