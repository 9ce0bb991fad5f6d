//! The tenant's CRM target: where its accounts are pushed (a SCIM 2.0 application or a
//! signed webhook), Test connection, and the push queue with its dead letters.

use super::body::Document;
use super::call::Call;
use super::error::{ApiError, Result};
use super::params::{DEFAULT_LIMIT, MAX_LIMIT};
use super::version;
use axum::response::Response;
use axum::Json;
use scimgate_app::{DriftFix, ScimCredentials, TargetOptions, TargetSetting, Versioned};
use serde::Deserialize;
use serde_json::{json, Value};

const TARGET: &str = "the CRM target";

/// No `Debug`: it holds the token or client secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    /// `scim` or `webhook`.
    kind: String,
    url: String,
    /// The application's bearer token (scim only)…
    #[serde(default)]
    token: Option<String>,
    /// …or the OAuth 2.0 client scimgate gets access tokens with (scim only).
    #[serde(default)]
    oauth2: Option<OAuth2Body>,
    /// Also queue every existing account (a first push).
    #[serde(default)]
    push_all: bool,
    /// Delete deprovisioned accounts' users on the target (else deactivate them).
    #[serde(default)]
    delete_on_deprovision: bool,
    /// Where each account setting goes (YAML); absent: the default.
    #[serde(default)]
    mapping: Option<String>,
    /// Reconcile every this many hours (scim only); absent: on demand only.
    #[serde(default)]
    reconcile_every_hours: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Body {
    token_url: String,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    scope: Option<String>,
}

impl TargetBody {
    fn setting(self) -> Result<TargetSetting> {
        let url = self.url;
        match (self.kind.as_str(), self.token, self.oauth2) {
            ("scim", Some(token), None) => Ok(TargetSetting::Scim {
                url,
                credentials: ScimCredentials::Bearer(token),
            }),
            ("scim", None, Some(o)) => Ok(TargetSetting::Scim {
                url,
                credentials: ScimCredentials::OAuth2 {
                    token_url: o.token_url,
                    client_id: o.client_id,
                    client_secret: o.client_secret,
                    scope: o.scope,
                },
            }),
            ("scim", None, None) => Err(ApiError::bad_request(
                "token: a scim target needs the bearer token the application issued (or oauth2)",
            )),
            ("scim", Some(_), Some(_)) => Err(ApiError::bad_request(
                "token, oauth2: give one way to sign in to the application, not both",
            )),
            ("webhook", None, None) => Ok(TargetSetting::Webhook { url }),
            ("webhook", _, _) => Err(ApiError::bad_request(
                "token: a webhook target takes no token (scimgate makes its signing secret)",
            )),
            (other, _, _) => Err(ApiError::bad_request(format!(
                "kind: unknown kind {other:?} (kinds: scim, webhook)"
            ))),
        }
    }
}

/// The target (`null` without one) and the queue's depth; never a token or secret.
pub async fn get(call: Call) -> Result<Response> {
    call.no_params()?;
    version::respond(call.app.crm_target(&call.tenant).await?)
}

/// Sets or replaces the target; a webhook's signing secret is in `secret`, this once.
pub async fn put(call: Call, document: Document) -> Result<Response> {
    call.no_params()?;
    let body: TargetBody = document.json()?;
    let expect = call.expected(Some(&document), TARGET)?;
    let options = TargetOptions {
        push_all: body.push_all,
        delete_on_deprovision: body.delete_on_deprovision,
        mapping: body.mapping.clone(),
        reconcile_every_hours: body.reconcile_every_hours,
    };
    let saved = (call.app)
        .set_crm_target(&call.tenant, expect, body.setting()?, options)
        .await?;
    let mut answer = json!({"target": saved.value.target, "queued": saved.value.queued});
    if let Some(secret) = saved.value.secret {
        answer["secret"] = Value::String(secret);
    }
    version::respond(Versioned {
        version: saved.version,
        value: answer,
    })
}

/// Stops pushing: the target and its queue go; accounts stay.
pub async fn delete(call: Call) -> Result<Response> {
    call.no_params()?;
    let expect = call.expected(None, TARGET)?;
    let version = call.app.clear_crm_target(&call.tenant, expect).await?;
    Ok(version::no_content(version))
}

/// Test connection: `ok` and, in words, what the target takes or why it failed.
pub async fn test(call: Call) -> Result<Json<Value>> {
    call.no_params()?;
    let check = call.app.test_crm_target(&call.tenant).await?;
    Ok(Json(json!(check)))
}

/// Queues the dead pushes again; `retried` says how many.
pub async fn retry(call: Call) -> Result<Json<Value>> {
    call.no_params()?;
    let retried = call.app.retry_pushes(&call.tenant).await?;
    Ok(Json(json!({"retried": retried})))
}

/// Dead pushes, newest first, each with its account and last error.
pub async fn dead(call: Call) -> Result<Json<Value>> {
    let params = call.params.only(&["limit"])?;
    let limit = params.number("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let pushes = call.app.dead_pushes(&call.tenant, limit).await?;
    Ok(Json(json!({"pushes": pushes})))
}

/// Reconcile: the target's users read back and compared with the accounts (edited,
/// missing and extra); 502 when the target cannot be read.
pub async fn drift(call: Call) -> Result<Json<Value>> {
    call.no_params()?;
    Ok(Json(json!(call.app.crm_drift(&call.tenant).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixBody {
    /// Every drifted account.
    #[serde(default)]
    all: bool,
    /// These drifted accounts (by pk).
    #[serde(default)]
    accounts: Vec<i64>,
}

/// Pushes drifted accounts again (all, or those named); `queued` says how many.
pub async fn fix(call: Call, document: Document) -> Result<Json<Value>> {
    call.no_params()?;
    let body: FixBody = document.json()?;
    let fix = match (body.all, body.accounts.is_empty()) {
        (true, true) => DriftFix::All,
        (false, false) => DriftFix::Accounts(body.accounts),
        _ => {
            return Err(ApiError::bad_request(
                "name what to fix: {\"all\": true} or {\"accounts\": [pk, …]}",
            ))
        }
    };
    let queued = call.app.fix_crm_drift(&call.tenant, fix).await?;
    Ok(Json(json!({"queued": queued})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, token: Option<&str>) -> TargetBody {
        TargetBody {
            kind: kind.into(),
            url: "https://crm.example.com/scim/v2".into(),
            token: token.map(str::to_owned),
            oauth2: None,
            push_all: false,
            delete_on_deprovision: false,
            mapping: None,
            reconcile_every_hours: None,
        }
    }

    #[test]
    fn a_kind_takes_a_token_only_where_it_needs_one() {
        assert!(matches!(
            body("scim", Some("t")).setting(),
            Ok(TargetSetting::Scim { .. })
        ));
        assert!(matches!(
            body("webhook", None).setting(),
            Ok(TargetSetting::Webhook { .. })
        ));
        for (kind, token, says) in [
            ("scim", None, "a scim target needs the bearer token"),
            ("webhook", Some("t"), "takes no token"),
            (
                "SCIM",
                Some("t"),
                "unknown kind \"SCIM\" (kinds: scim, webhook)",
            ),
        ] {
            let e = body(kind, token).setting().unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(e.message.contains(says), "{}", e.message);
        }
    }
}
