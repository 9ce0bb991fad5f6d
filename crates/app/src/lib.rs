//! The application layer: the one thing every front end calls — the admin API, the
//! CLI, and the web UI. Each operation takes typed input and returns a typed result or
//! an [`AppError`]; guards (the catalogue against the rules), name resolution (a user by
//! id or userName) and versions (optimistic concurrency) live here once, so the front
//! ends only parse, call and render. docs/architecture.md.

pub mod accounts;
mod audit;
mod catalog;
mod crm_drift;
mod crm_target;
mod error;
mod overview;
pub mod preview;
pub mod preview_page;
mod rule_editor;
mod rule_versions;
mod rules;
mod settings;
mod subscriptions;
mod sync;
mod tokens;
mod user_view;
mod users;

pub use audit::audit_csv;
pub use crm_drift::{DriftFix, LastReconcile};
pub use crm_target::{ConnectionCheck, TargetOptions, TargetSaved, TargetSetting};
pub use crm_target::{OAuth2View, ScimCredentials, TargetSample};
pub use crm_target::{TargetState, TargetView};
pub use error::AppError;
pub use overview::{Overview, PlanSeats, Step, TenantStatus};
pub use rule_editor::RuleProblem;
pub use rule_versions::{DraftView, RuleSetRef};
pub use rules::{RuleSetView, RuleText, Validation};
pub use scimgate_core::{Actor, AuditAction, AuditEntry, DeadPush, PushCounts, Via};
pub use scimgate_core::{Difference, Drift, DriftKind, DriftReport};
pub use scimgate_rules::RuleEdit;
pub use scimgate_rules::RuleSetDiff;
pub use scimgate_rules::{RuleForm, RuleScope, Setting, SettingForm, SettingKind};
pub use scimgate_scheduler::{PreviewSummary, StoredPreview};
pub use scimgate_store::AuditFilter;
pub use scimgate_store::{Expect, Versioned};
pub use scimgate_store::{PreviewCounts, PreviewRow, PreviewRules};
pub use scimgate_store::{Publication, RuleVersion};
pub use scimgate_store::{UserPage, UserSearch, UserStatus};
pub use settings::ScheduleReading;
pub use user_view::{FieldRow, UserView};

use scimgate_core::clock::SharedClock;
use scimgate_crm::CrmTarget;
use scimgate_notify::target::TargetPolicy;
use scimgate_scheduler::Syncer;
use scimgate_store::Store;
use std::sync::Arc;

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Everything an operation needs, chosen once at start-up. Cheap to clone.
#[derive(Clone)]
pub struct App {
    store: Store,
    clock: SharedClock,
    syncer: Syncer,
    webhook_targets: TargetPolicy,
    /// Seals and opens CRM targets' secrets; `None`: CRM targets cannot be set here.
    server_key: Option<Arc<scimgate_crm::push::KeySource>>,
    /// Who the changes are recorded as made by (audit log).
    actor: scimgate_core::Actor,
}

impl App {
    /// An application over `store`, syncing into `crm`.
    pub fn new(
        store: Store,
        clock: SharedClock,
        crm: Arc<dyn CrmTarget>,
        webhook_targets: TargetPolicy,
    ) -> App {
        App {
            syncer: Syncer::with_crm(store.clone(), clock.clone(), crm),
            store,
            clock,
            webhook_targets,
            server_key: None,
            actor: scimgate_core::Actor::system(),
        }
    }

    /// An application syncing into the built-in CRM (accounts in the store's database).
    pub fn builtin(store: Store, clock: SharedClock, webhook_targets: TargetPolicy) -> App {
        let crm = Arc::new(scimgate_crm::BuiltinCrm::new(store.clone()));
        App::new(store, clock, crm, webhook_targets)
    }

    /// The same application, reporting the progress of long runs (the CLI's progress line).
    pub fn with_progress(mut self, progress: scimgate_scheduler::Progress) -> App {
        self.syncer = self.syncer.with_progress(progress);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clock every operation reads (a front end stamps sessions with it).
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn now(&self) -> String {
        self.clock.now().to_rfc3339()
    }
}
