//! Remembers recently verified tokens for half a second, so a busy SCIM client (Entra
//! sends bursts of requests) costs one token lookup per window instead of one per request.
//!
//! Only successes are cached: a wrong token always reaches the database. A token revoked
//! through this process is forgotten at once; one revoked by another process (the CLI,
//! another replica) stops working within [`TTL`]. The window is short on purpose: a
//! revoked token must stop within a second everywhere, and one lookup per token per half
//! second is nothing next to the requests it saves.

use crate::Tenant;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const TTL: Duration = Duration::from_millis(500);
/// More distinct live tokens than this within one TTL is not a real workload; start over.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(crate) struct AuthCache {
    // Keyed by the token's hash, never the token. Instant (monotonic) is fine here: this
    // is an expiry for a cache, not a time any logic reasons about.
    entries: Mutex<HashMap<String, (Tenant, Instant)>>,
}

impl AuthCache {
    pub fn get(&self, token_hash: &str) -> Option<Tenant> {
        let entries = self.entries.lock().ok()?;
        let (tenant, verified) = entries.get(token_hash)?;
        (verified.elapsed() < TTL).then(|| tenant.clone())
    }

    pub fn put(&self, token_hash: String, tenant: Tenant) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(token_hash, (tenant, Instant::now()));
        }
    }

    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    pub fn forget_tenant(&self, tenant_id: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (tenant, _)| tenant.id != tenant_id);
        }
    }
}
