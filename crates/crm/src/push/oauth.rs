//! Access tokens for a SCIM target that takes OAuth 2.0 (RFC 6749 §4.4, the client
//! credentials grant) instead of a static bearer token: asked for at the target's token
//! endpoint with the client's id and secret (HTTP Basic, §2.3.1), kept until a minute
//! before they expire, and forgotten when the target refuses one.

use super::{without_url, Failure};
use scimgate_store::crm_push::OAuth2Client;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How long a token is kept when its endpoint does not say (`expires_in`).
const UNSAID_LIFETIME_MS: i64 = 300_000;
/// The longest a token is kept, whatever its endpoint says.
const LONGEST_LIFETIME_MS: i64 = 86_400_000;
/// A token is asked for again this long before it expires.
const MARGIN_MS: i64 = 60_000;

/// Whose token: the tenant, the client and a digest of its secret, so that one tenant
/// naming another's token endpoint and client id never gets that tenant's token, and a
/// changed secret is used at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    tenant_id: i64,
    token_url: String,
    client_id: String,
    scope: Option<String>,
    secret_digest: Vec<u8>,
}

impl TokenKey {
    pub fn new(tenant_id: i64, client: &OAuth2Client, secret: &str) -> TokenKey {
        TokenKey {
            tenant_id,
            token_url: client.token_url.clone(),
            client_id: client.client_id.clone(),
            scope: client.scope.clone(),
            secret_digest: ring::digest::digest(&ring::digest::SHA256, secret.as_bytes())
                .as_ref()
                .to_vec(),
        }
    }
}

/// A kept token and when it expires (unix ms).
type Slot = Arc<tokio::sync::Mutex<Option<(String, i64)>>>;

/// Tokens by [`TokenKey`]. Each key has its own lock, held while its token is fetched:
/// pushes of one target sent side by side wait for one token instead of each asking for
/// its own, and a slow token endpoint holds up only its own target.
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<TokenKey, Slot>>);

impl TokenCache {
    fn slot(&self, key: &TokenKey) -> Slot {
        let mut slots = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.entry(key.clone()).or_default().clone()
    }

    /// The target refused the token (revoked, or the client changed): ask again next time.
    pub async fn forget(&self, key: &TokenKey) {
        *self.slot(key).lock().await = None;
    }
}

/// A bearer token for `client` (of the tenant in `key`): the one kept, or a new one from
/// its token endpoint.
pub async fn access_token(
    http: &reqwest::Client,
    client: &OAuth2Client,
    secret: &str,
    (key, now_ms): (&TokenKey, i64),
    cache: &TokenCache,
) -> Result<String, Failure> {
    let slot = cache.slot(key);
    let mut kept = slot.lock().await;
    if let Some((token, expires)) = kept.as_ref() {
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
        .basic_auth(form_encoded(&client.client_id), Some(form_encoded(secret)))
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
    let lifetime = (body["expires_in"].as_i64())
        .map_or(UNSAID_LIFETIME_MS, |s| s.saturating_mul(1000))
        .clamp(0, LONGEST_LIFETIME_MS);
    *kept = Some((token.to_owned(), now_ms.saturating_add(lifetime)));
    Ok(token.to_owned())
}

/// `application/x-www-form-urlencoded`, as RFC 6749 §2.3.1 asks of the client id and
/// secret before they go into HTTP Basic.
fn form_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_form_encoded_and_keys_keep_tenants_and_secrets_apart() {
        assert_eq!(form_encoded("a b+c:d%é"), "a+b%2Bc%3Ad%25%C3%A9");
        let client = OAuth2Client {
            token_url: "https://login.example.com/token".into(),
            client_id: "crm".into(),
            scope: None,
        };
        let key = TokenKey::new(1, &client, "secret");
        assert_eq!(key, TokenKey::new(1, &client, "secret"));
        assert_ne!(key, TokenKey::new(2, &client, "secret"), "another tenant");
        assert_ne!(key, TokenKey::new(1, &client, "changed"), "another secret");
    }
}
