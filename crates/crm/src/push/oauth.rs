//! Access tokens for a SCIM target that takes OAuth 2.0 (RFC 6749 §4.4, the client
//! credentials grant) instead of a static bearer token: asked for at the target's token
//! endpoint with the client's id and secret (HTTP Basic), kept until a minute before they
//! expire, and forgotten when the target refuses one.

use super::{without_url, Failure};
use scimgate_store::crm_push::OAuth2Client;
use serde_json::Value;
use std::collections::HashMap;

/// How long a token is kept when its endpoint does not say (`expires_in`).
const UNSAID_LIFETIME_MS: i64 = 300_000;
/// A token is asked for again this long before it expires.
const MARGIN_MS: i64 = 60_000;

/// Tokens by (token endpoint, client id). The lock is held while a token is fetched, so
/// pushes sent side by side wait for one token instead of each asking for its own.
#[derive(Default)]
pub struct TokenCache(tokio::sync::Mutex<HashMap<(String, String), (String, i64)>>);

fn key(client: &OAuth2Client) -> (String, String) {
    (client.token_url.clone(), client.client_id.clone())
}

impl TokenCache {
    /// The target refused the token (revoked, or the client changed): ask again next time.
    pub async fn forget(&self, client: &OAuth2Client) {
        self.0.lock().await.remove(&key(client));
    }
}

/// A bearer token for `client`: the one kept, or a new one from its token endpoint.
pub async fn access_token(
    http: &reqwest::Client,
    client: &OAuth2Client,
    secret: &str,
    now_ms: i64,
    cache: &TokenCache,
) -> Result<String, Failure> {
    let mut tokens = cache.0.lock().await;
    if let Some((token, expires)) = tokens.get(&key(client)) {
        if now_ms + MARGIN_MS < *expires {
            return Ok(token.clone());
        }
    }
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = &client.scope {
        form.push(("scope", scope));
    }
    let response = http
        .post(&client.token_url)
        .basic_auth(&client.client_id, Some(secret))
        .header("accept", "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| {
            Failure::retry(format!(
                "the token endpoint did not answer: {}",
                without_url(&e)
            ))
        })?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        // A refused client (`invalid_client`) is an admin's to fix, like a refused token:
        // tried again later, not given up on.
        let error = body["error"].as_str().unwrap_or("no error code");
        return Err(Failure::retry(format!(
            "the token endpoint answered {status} ({error})"
        )));
    }
    let (Some(token), kind) = (body["access_token"].as_str(), body["token_type"].as_str()) else {
        return Err(Failure::retry(
            "the token endpoint gave no access_token".into(),
        ));
    };
    if !kind.is_some_and(|k| k.eq_ignore_ascii_case("bearer")) {
        return Err(Failure::dead(format!(
            "the token endpoint gave a {} token; SCIM takes bearer tokens",
            kind.unwrap_or("typeless")
        )));
    }
    let lifetime = (body["expires_in"].as_i64()).map_or(UNSAID_LIFETIME_MS, |s| s * 1000);
    tokens.insert(key(client), (token.to_owned(), now_ms + lifetime));
    Ok(token.to_owned())
}
