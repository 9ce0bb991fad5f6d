//! What every UI response and form carries: security headers (a strict CSP with no
//! inline script, no framing, no sniffing), and the refusal of cross-site writes (an
//! `Origin` or `Sec-Fetch-Site` naming another site, before any handler runs; every
//! signed-in form also carries the session's CSRF token).

use crate::pages::RequestContext;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The site the UI is served as when a reverse proxy stands in front
/// (`public_url`'s `host[:port]`): its `Origin` is this site's too, whatever `Host` the
/// proxy passes on.
#[derive(Clone, Default)]
pub struct PublicHost(pub Option<String>);

impl PublicHost {
    pub fn of(public_url: Option<&str>) -> PublicHost {
        let host = public_url
            .and_then(|url| url.split_once("://"))
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default().to_owned())
            .filter(|host| !host.is_empty());
        PublicHost(host)
    }
}

/// Adds the security headers to every UI response, and refuses a cross-site write.
pub async fn guard(State(public): State<PublicHost>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET
        && request.method() != Method::HEAD
        && cross_site(request.headers(), public.0.as_deref())
    {
        tracing::warn!(path = %request.uri().path(), "cross-site form post refused");
        return with_headers(
            (StatusCode::FORBIDDEN, "cross-site requests are refused").into_response(),
        );
    }
    let context = RequestContext {
        id: (request.headers().get("x-request-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        fragment: wants_fragment(request.headers()),
    };
    let response = crate::pages::REQUEST.scope(context, next.run(request));
    with_headers(response.await)
}

/// Whether htmx asks for the page (it then swaps the body in), other than to restore
/// a page it no longer has in its history cache (then it needs the whole document).
fn wants_fragment(headers: &HeaderMap) -> bool {
    let says = |name: &str| headers.get(name).is_some_and(|v| v.as_bytes() == b"true");
    says("hx-request") && !says("hx-history-restore-request")
}

fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The same URL answers htmx with a fragment and a browser with a page.
    headers.append(header::VARY, HeaderValue::from_static("HX-Request"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages show tenant data: never kept by shared caches or the back button's disk.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Whether a write comes from another site: its `Origin` is neither this host nor the
/// public one, or the browser says so (`Sec-Fetch-Site: cross-site`). Clients that send
/// neither (scripts, tests) are not browsers and cannot be made to post by another site.
pub fn cross_site(headers: &HeaderMap, public_host: Option<&str>) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.as_bytes());
    // An opaque origin (`null`: a sandboxed frame, a file) is nobody's site.
    let Some(origin_host) = origin_host else {
        return true;
    };
    Some(origin_host) != host && Some(origin_host) != public_host.map(str::as_bytes)
}

/// Whether a form's CSRF token is the session's (in constant time).
pub fn csrf_matches(sent: &str, session: &str) -> bool {
    !session.is_empty() && bool::from(sent.as_bytes().ct_eq(session.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn another_sites_origin_is_cross_site() {
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert!(!cross_site(&same, None));
        let other = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example"),
        ]);
        assert!(cross_site(&other, None));
        let null = headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]);
        assert!(cross_site(&null, None));
        let fetch = headers(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")]);
        assert!(cross_site(&fetch, None));
        assert!(!cross_site(&headers(&[("host", "127.0.0.1:8080")]), None));
        // Behind a proxy: Host is the internal address, Origin the public site.
        let proxied = headers(&[
            ("host", "10.0.0.5:8080"),
            ("origin", "https://idm.acme.example"),
        ]);
        let public = PublicHost::of(Some("https://idm.acme.example/"));
        assert_eq!(public.0.as_deref(), Some("idm.acme.example"));
        assert!(!cross_site(&proxied, public.0.as_deref()));
        assert!(cross_site(&proxied, None));
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        assert!(csrf_matches("abc", "abc"));
        assert!(!csrf_matches("abd", "abc"));
        assert!(!csrf_matches("", ""));
    }
}
