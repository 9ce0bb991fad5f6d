//! A tenant's sync settings: automatic sync, schedule, debounce, the deprovision guard,
//! welcome e-mails. Checked by the scheduler (which knows cron); stored by the store.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    /// Automatic sync (schedule and on change); off until an admin turns it on.
    pub user_sync_active: bool,
    /// Five-field cron, UTC.
    pub schedule: String,
    /// Quiet time after the last SCIM write before an on-change sync starts.
    pub debounce_seconds: u32,
    /// A run is held when it would deprovision more than this share of active accounts…
    pub guard_percent: u32,
    /// …and more than this many.
    pub guard_minimum: u32,
    /// Each account a sync creates (from when this is switched on) gets one welcome
    /// e-mail at its primary address.
    #[serde(default)]
    pub welcome_email: bool,
    /// The CRM sign-in address the welcome e-mail points to.
    #[serde(default)]
    pub sign_in_url: Option<String>,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            user_sync_active: false,
            schedule: "*/15 * * * *".into(),
            debounce_seconds: 30,
            guard_percent: 10,
            guard_minimum: 5,
            welcome_email: false,
            sign_in_url: None,
        }
    }
}

impl SyncSettings {
    /// Whether deprovisioning `count` of `active` accounts trips the guard.
    pub fn guard_trips(&self, count: u64, active: u64) -> bool {
        count > u64::from(self.guard_minimum)
            && count * 100 > active * u64::from(self.guard_percent)
    }
}
