//! Watching rejected SCIM tokens: a burst of them for one tenant (someone has the wrong
//! token after a rotation, or is guessing) becomes one `scim.auth_failures` notification,
//! written through the outbox. Counted in memory per replica and per window; the
//! notifier's grouping keeps a long attack to one message a day.

use scimgate_core::{TenantName, Timestamp};
use scimgate_notify::{Event, EventKind};
use scimgate_store::Store;
use std::collections::HashMap;
use std::sync::Mutex;

/// Rejections within one window that make a burst.
pub const BURST: u32 = 20;
pub const WINDOW_MS: i64 = 10 * 60 * 1000;
/// Tenants tracked at once: names in URLs are the client's to choose, so the map is
/// bounded (over the bound, counting starts again).
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub struct AuthFailures {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl AuthFailures {
    /// Counts one rejected request for the tenant named in the URL; true exactly when
    /// this rejection completes a burst (once per window).
    pub fn rejected(&self, tenant: &TenantName, now: Timestamp) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let now = now.unix_millis();
        if windows.len() >= MAX_TRACKED && !windows.contains_key(tenant.as_str()) {
            // Forget finished windows; if the map is still full, names the client made up
            // must not push out a real tenant's count: this one is not counted.
            windows.retain(|_, (start, _)| now - *start < WINDOW_MS);
            if windows.len() >= MAX_TRACKED {
                return false;
            }
        }
        let entry = windows
            .entry(tenant.as_str().to_owned())
            .or_insert((now, 0));
        if now - entry.0 >= WINDOW_MS {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 == BURST
    }
}

/// Records the burst for subscribers (if the tenant exists); errors are logged, not
/// returned: the client's 401 does not depend on it.
pub async fn notify(store: Store, tenant: TenantName, now: Timestamp) {
    let result = async {
        let Some(tenant) = store.tenant(&tenant).await? else {
            return Ok::<_, scimgate_notify::NotifyError>(());
        };
        let event = Event {
            kind: EventKind::ScimAuthFailures,
            cause: "rejected SCIM tokens".into(),
            title: format!("{BURST} requests with a rejected SCIM token within 10 minutes"),
            details: vec![
                "Someone is calling the SCIM endpoint with a token that is not valid: the identity provider may still use a revoked or rotated token, or someone is guessing.".into(),
                "Where to look: the identity provider's provisioning logs; `scimgate token list --tenant` for the live tokens.".into(),
            ],
            run_id: None,
        };
        store
            .write_transaction(move |conn| {
                Box::pin(async move {
                    scimgate_notify::outbox::record(
                        conn,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_reported_once_per_window() {
        let watch = AuthFailures::default();
        let acme = TenantName::parse("acme").unwrap();
        let at = |ms| Timestamp::from_unix_millis(ms).unwrap();
        let reported: Vec<bool> = (0..30).map(|n| watch.rejected(&acme, at(n))).collect();
        assert_eq!(reported.iter().filter(|r| **r).count(), 1);
        assert!(reported[BURST as usize - 1]);
        // A new window counts from zero again.
        let later: Vec<bool> = (0..BURST as i64)
            .map(|n| watch.rejected(&acme, at(WINDOW_MS + n)))
            .collect();
        assert_eq!(later.iter().filter(|r| **r).count(), 1);
    }
}
