//! Pushing one account to an application's own HTTPS endpoint: the account as JSON,
//! POSTed with an HMAC-SHA256 signature of the body (the secret is shown once, at `target
//! set`), an idempotency key, and a sequence number that grows with each push of the
//! account, so a receiver can drop a repeat or an older state that arrives late.

use super::{without_url, Failure};
use scimgate_core::CrmAccount;
use serde_json::{json, Value};

/// `sha256=<hex HMAC-SHA256 of the body, keyed by the target's secret>`, as for
/// notification webhooks.
pub const SIGNATURE_HEADER: &str = "x-scimgate-signature";
/// The push's id: the same for every attempt of one push.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Grows with each push of an account (pushes of one account are sent in this order).
pub const SEQUENCE_HEADER: &str = "x-scimgate-sequence";

/// The body: the account as it is now.
pub fn body(tenant: &str, sequence: i64, account: &CrmAccount) -> Value {
    let f = &account.fields;
    json!({
        "event": "account.changed",
        "tenant": tenant,
        "sequence": sequence,
        "account": {
            "pk": account.pk,
            "staged_user_id": account.staged_user_id,
            "external_id": account.external_id,
            "username": &*f.username,
            "display_name": f.display_name.as_deref(),
            "email": f.email.as_deref(),
            "user_plan": f.user_plan.as_deref(),
            "owner_company": f.owner_company.as_deref(),
            "primary_group": f.primary_group.as_deref(),
            "secondary_groups": f.secondary_groups.iter().map(|g| &**g).collect::<Vec<_>>(),
            "role": f.role.as_deref(),
            "confidential": f.confidential,
            "active": f.active,
            "updated_at": account.updated_at,
        },
    })
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

/// POSTs the account; any 2xx is delivered.
pub async fn push(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    (tenant, push_id): (&str, i64),
    account: &CrmAccount,
) -> Result<(), Failure> {
    let body = body(tenant, push_id, account).to_string();
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature(secret, body.as_bytes()))
        .header(IDEMPOTENCY_HEADER, format!("push-{push_id}"))
        .header(SEQUENCE_HEADER, push_id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::retry(format!("the target did not answer: {}", without_url(&e))))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(Failure::of_response(response).await)
    }
}

/// Test connection: a signed `target.test` event (no account); any 2xx is a pass.
pub async fn probe(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    tenant: &str,
    at_ms: i64,
) -> Result<String, Failure> {
    let body = json!({"event": "target.test", "tenant": tenant}).to_string();
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature(secret, body.as_bytes()))
        .header(IDEMPOTENCY_HEADER, format!("test-{at_ms}"))
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::retry(format!("the target did not answer: {}", without_url(&e))))?;
    match response.status().is_success() {
        true => Ok(format!(
            "connected: the endpoint answered {}",
            response.status().as_u16()
        )),
        false => Err(Failure::of_response(response).await),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
