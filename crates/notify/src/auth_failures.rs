//! A burst of rejected SCIM tokens for one tenant (the SCIM layer counts them) becomes a
//! `scim.auth_failures` notification through the outbox.

use crate::{Event, EventKind, NotifyError};
use scimgate_core::{TenantName, Timestamp};
use scimgate_store::Store;

/// Records a burst of `burst` rejections within `window_minutes` for subscribers (if
/// the tenant exists). Errors are logged, not returned: the client's 401 does not depend
/// on this.
pub async fn record_burst(
    store: Store,
    tenant: TenantName,
    now: Timestamp,
    burst: u32,
    window_minutes: i64,
) {
    let result = async {
        let Some(tenant) = store.tenant(&tenant).await? else {
            return Ok::<_, NotifyError>(());
        };
        let event = Event {
            kind: EventKind::ScimAuthFailures,
            cause: "rejected SCIM tokens".into(),
            title: format!("{burst} requests with a rejected SCIM token within {window_minutes} minutes"),
            details: vec![
                "Someone is calling the SCIM endpoint with a token that is not valid: the identity provider may still use a revoked or rotated token, or someone is guessing.".into(),
                "Where to look: the identity provider's provisioning logs; `scimgate token list --tenant` for the live tokens.".into(),
            ],
            run_id: None,
        };
        store
            .write_transaction(move |mut tx| {
                Box::pin(async move {
                    crate::outbox::record(
                        &mut tx,
                        &tenant,
                        &[event],
                        &[],
                        now.unix_millis(),
                        &now.to_rfc3339(),
                    )
                    .await
                })
            })
            .await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not record a burst of rejected SCIM tokens");
    }
}
