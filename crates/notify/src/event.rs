//! The events admins can subscribe to, and how a sync run's outcome becomes events.

pub use scimgate_core::EventKind;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Kinds whose end a later company run can see (and announce as resolved).
fn ended_by_a_run(kind: EventKind) -> bool {
    !matches!(kind, EventKind::ScimAuthFailures)
}

/// One occurrence of a condition: what, why (the cause makes the fingerprint), and the
/// text a person needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub kind: EventKind,
    /// What distinguishes this problem from another of the same kind (the plan that is
    /// full, the error messages): the same cause again is the same problem.
    pub cause: String,
    /// One line: what happened.
    pub title: String,
    /// What happened, how many users, the first errors, where to look.
    pub details: Vec<String>,
    pub run_id: Option<i64>,
}

impl Event {
    /// Tenant, kind and cause: the same problem of the same tenant.
    pub fn fingerprint(&self, tenant: &str) -> String {
        let digest =
            Sha256::digest(format!("{tenant}\n{}\n{}", self.kind.name(), self.cause).as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

/// "1 user", "7 users".
fn users(n: usize) -> String {
    if n == 1 {
        "1 user".into()
    } else {
        format!("{n} users")
    }
}

/// What a finished sync run tells the notifier.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub run_id: i64,
    /// A company run (manual, scheduled or on change) sees every condition, so what it
    /// does not report has ended. A one-user run ends nothing.
    pub company: bool,
    /// The run could not complete: why.
    pub failure: Option<String>,
    pub users_received: u64,
    /// `(username, reason)` of every user in error, in plan order.
    pub user_errors: Vec<(String, String)>,
    /// User plans that turned users away for lack of seats.
    pub plans_out_of_seats: Vec<String>,
    /// Deprovisions the guard held.
    pub held: u64,
    /// How the admin reaches the run, e.g. `scimgate runs --tenant acme --run 7`.
    pub where_to_look: String,
}

impl RunReport {
    /// The conditions this run shows, and the kinds whose absence here means "resolved".
    pub fn events(&self) -> (Vec<Event>, Vec<EventKind>) {
        let mut events = Vec::new();
        let look = format!("Where to look: {}", self.where_to_look);
        if let Some(why) = &self.failure {
            events.push(Event {
                kind: EventKind::SyncFailed,
                cause: why.clone(),
                title: "the sync could not complete".into(),
                details: vec![format!("Error: {why}"), look.clone()],
                run_id: Some(self.run_id),
            });
        }
        let seat_errors = |reason: &str| reason.contains("has no free seat");
        let rule_errors: Vec<&(String, String)> = self
            .user_errors
            .iter()
            .filter(|(_, reason)| !seat_errors(reason))
            .collect();
        if !rule_errors.is_empty() {
            let mut causes: Vec<&str> = rule_errors.iter().map(|(_, r)| r.as_str()).collect();
            causes.sort_unstable();
            causes.dedup();
            let mut details = vec![format!(
                "{} of {} could not be synced because of an error.",
                rule_errors.len(),
                users(self.users_received as usize)
            )];
            details.extend(
                rule_errors
                    .iter()
                    .take(5)
                    .map(|(user, reason)| format!("- {user}: {reason}")),
            );
            if rule_errors.len() > 5 {
                details.push(format!("… and {} more", rule_errors.len() - 5));
            }
            details.push(look.clone());
            events.push(Event {
                kind: EventKind::SyncError,
                cause: causes.join("\n"),
                title: format!("{} could not be synced", users(rule_errors.len())),
                details,
                run_id: Some(self.run_id),
            });
        }
        for plan in &self.plans_out_of_seats {
            let refused = self
                .user_errors
                .iter()
                .filter(|(_, r)| seat_errors(r) && r.contains(&format!("{plan:?}")))
                .count();
            events.push(Event {
                kind: EventKind::SeatsExhausted,
                cause: plan.clone(),
                title: format!("user plan {plan:?} has no free seats"),
                details: vec![
                    format!(
                        "{} did not get a {plan:?} seat. Buy more seats or change the rules.",
                        users(refused)
                    ),
                    look.clone(),
                ],
                run_id: Some(self.run_id),
            });
        }
        if self.held > 0 {
            events.push(Event {
                kind: EventKind::SyncHeld,
                cause: "held".into(),
                title: format!("a sync was held: it would deprovision {} accounts", self.held),
                details: vec![
                    format!("The run would deprovision {} accounts, more than the guard allows. Nothing was deprovisioned. Check the scoping in the identity provider, then approve or reject the run.", self.held),
                    look,
                ],
                run_id: Some(self.run_id),
            });
        }
        let ended = if self.company && self.failure.is_none() {
            EventKind::ALL
                .iter()
                .copied()
                .filter(|k| ended_by_a_run(*k))
                .collect()
        } else {
            Vec::new()
        };
        (events, ended)
    }
}
