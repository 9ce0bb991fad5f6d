//! A real HTTP webhook receiver on 127.0.0.1:0 that records every request and answers
//! with a scripted sequence of statuses, and HMAC-SHA256 to check signatures with.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One request as received, and the status it was answered with.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub answered: u16,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("webhook body is not JSON ({e}): {}", self.body))
    }
}

#[derive(Default)]
struct Inner {
    /// Statuses to answer with, in order; the last one repeats.
    answers: Vec<u16>,
    received: Vec<ReceivedRequest>,
}

/// Stops serving when dropped.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:port/hook`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut inner = inner.lock().unwrap();
    let n = inner.received.len();
    let answered = inner
        .answers
        .get(n)
        .or(inner.answers.last())
        .copied()
        .unwrap_or(200);
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    inner.received.push(ReceivedRequest {
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

impl WebhookReceiver {
    /// Answers the n-th request with `answers[n]` (the last one from then on; 200 when
    /// empty).
    pub async fn start(answers: &[u16]) -> WebhookReceiver {
        let inner = Arc::new(Mutex::new(Inner {
            answers: answers.to_vec(),
            received: Vec::new(),
        }));
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        WebhookReceiver {
            url: format!("http://{addr}/hook"),
            inner,
            task,
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.inner.lock().unwrap().received.clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Lower-case hex HMAC-SHA256 of `body` keyed by `secret`.
pub fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2.
        assert_eq!(
            hmac_sha256_hex("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
