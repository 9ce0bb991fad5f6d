//! The audit log: every change an admin makes (rules, catalogue, settings, tokens,
//! subscriptions, approvals, manual syncs, restarts, sign-ins), with who made it, when,
//! through which front end and from which address, and what it was before and after.

use crate::named::named;
use serde::Serialize;

/// The front end a change came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Ui,
    Api,
    Cli,
    /// scimgate itself (automatic sync, start-up), or a caller that did not say.
    System,
}

named!(Via {
    Ui => "ui",
    Api => "api",
    Cli => "cli",
    System => "system",
});

/// Who makes the changes of a request: the signed-in account, the admin token, or the
/// operating-system user running the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub who: String,
    pub via: Via,
    /// The client's address (an IP), empty where there is none (the CLI).
    pub from: String,
}

impl Actor {
    /// scimgate acting on its own.
    pub fn system() -> Actor {
        Actor {
            who: "scimgate".into(),
            via: Via::System,
            from: String::new(),
        }
    }

    /// A web UI account, from `from`.
    pub fn ui(who: &str, from: &str) -> Actor {
        Actor {
            who: who.into(),
            via: Via::Ui,
            from: from.into(),
        }
    }
}

/// What was changed, in areas an admin filters by (the part before the dot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuditAction {
    RulesDraft,
    RulesDiscard,
    RulesPublish,
    RulesRestore,
    CatalogReplace,
    CatalogPut,
    CatalogDelete,
    SettingsSave,
    TokenCreate,
    TokenRevoke,
    SubscriptionAdd,
    SubscriptionRemove,
    SubscriptionTest,
    TargetSet,
    TargetClear,
    TargetRetry,
    TargetTest,
    TargetFix,
    RunApprove,
    RunReject,
    RunCancel,
    SyncCompany,
    SyncUser,
    SyncRestart,
    SignIn,
    SignInFailed,
}

named!(AuditAction {
    RulesDraft => "rules.draft",
    RulesDiscard => "rules.discard",
    RulesPublish => "rules.publish",
    RulesRestore => "rules.restore",
    CatalogReplace => "catalog.replace",
    CatalogPut => "catalog.put",
    CatalogDelete => "catalog.delete",
    SettingsSave => "settings.save",
    TokenCreate => "token.create",
    TokenRevoke => "token.revoke",
    SubscriptionAdd => "subscription.add",
    SubscriptionRemove => "subscription.remove",
    SubscriptionTest => "subscription.test",
    TargetSet => "crm_target.set",
    TargetClear => "crm_target.clear",
    TargetRetry => "crm_target.retry",
    TargetTest => "crm_target.test",
    TargetFix => "crm_target.fix",
    RunApprove => "run.approve",
    RunReject => "run.reject",
    RunCancel => "run.cancel",
    SyncCompany => "sync.company",
    SyncUser => "sync.user",
    SyncRestart => "sync.restart",
    SignIn => "sign_in.ok",
    SignInFailed => "sign_in.failed",
});

impl AuditAction {
    /// The areas, in the order the Logs page offers them.
    pub const AREAS: &'static [&'static str] = &[
        "rules",
        "catalog",
        "settings",
        "token",
        "subscription",
        "crm_target",
        "run",
        "sync",
        "sign_in",
    ];

    /// `rules.publish` → `rules`.
    pub fn area(self) -> &'static str {
        self.name().split('.').next().unwrap_or_default()
    }
}

/// A change to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub action: AuditAction,
    /// What was changed, in words: "version 4", "token 3 (Entra)", "user alice@…".
    pub subject: String,
    /// The state before and after, as JSON text, where there is one.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A recorded change, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub who: String,
    pub via: String,
    pub from: String,
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_in_an_area_the_log_offers() {
        for action in AuditAction::ALL {
            assert!(
                AuditAction::AREAS.contains(&action.area()),
                "{action} is outside the areas"
            );
        }
        assert_eq!(AuditAction::RulesPublish.area(), "rules");
        assert_eq!(
            AuditAction::parse("sign_in.failed"),
            Some(AuditAction::SignInFailed)
        );
    }
}
