//! Watching rejected SCIM tokens: a burst of them for one tenant (someone has the wrong
//! token after a rotation, or is guessing) is handed to whoever listens (the server
//! wires the notifier, which sends one `scim.auth_failures` message). Counted in memory
//! per replica and per window; the notifier's grouping keeps a long attack to one
//! message a day.

use scimgate_core::{TenantName, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Rejections within one window that make a burst.
pub const BURST: u32 = 20;
pub const WINDOW_MS: i64 = 10 * 60 * 1000;
/// Tenants tracked at once: names in URLs are the client's to choose, so the map is
/// bounded (over the bound, counting starts again).
const MAX_TRACKED: usize = 10_000;

/// Told of each burst: the tenant named in the URL, and when. Called on the request's
/// task, so it must not block (the notifier spawns its write).
pub type OnBurst = Arc<dyn Fn(TenantName, Timestamp) + Send + Sync>;

#[derive(Default)]
pub struct AuthFailures {
    windows: Mutex<HashMap<String, (i64, u32)>>,
    on_burst: Option<OnBurst>,
}

impl AuthFailures {
    pub fn new(on_burst: OnBurst) -> AuthFailures {
        AuthFailures {
            windows: Mutex::default(),
            on_burst: Some(on_burst),
        }
    }

    /// Counts one rejected request, and tells the listener when it completes a burst.
    pub fn count(&self, tenant: TenantName, now: Timestamp) {
        if self.rejected(&tenant, now) {
            if let Some(on_burst) = &self.on_burst {
                on_burst(tenant, now);
            }
        }
    }

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
