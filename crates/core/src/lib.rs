//! Domain types shared by every scimgate crate. No I/O, no HTTP, no SQL here.

pub mod account;
pub mod admin;
pub mod audit;
pub mod catalog;
pub mod clock;
pub mod crm_mapping;
pub mod csv;
pub mod edit;
mod named;
pub mod notification;
pub mod push;
pub mod rule_source;
pub mod run;
pub mod settings;
pub mod staged;
pub mod tenant;
pub mod text;

pub use account::{AccountFields, Change, CrmAccount, Name, Names};
pub use admin::{AdminAccount, AdminRole};
pub use audit::{Actor, AuditAction, AuditEntry, AuditRecord, Via};
pub use catalog::{Catalog, CatalogEntry, CatalogKind, NamedEntry};
pub use clock::{Clock, SystemClock, Timestamp};
pub use crm_mapping::CrmMapping;
pub use edit::StaleEdit;
pub use notification::{Channel, EventKind, OutboxEntry, OutboxStatus, Subscription};
pub use push::{DeadPush, Difference, Drift, DriftKind, DriftReport, PushCounts};
pub use rule_source::RuleSource;
pub use run::{Run, RunCounts, RunOutcome, RunStatus, RunUser, Trigger};
pub use settings::SyncSettings;
pub use staged::{HoldingGroups, Snapshot, StagedGroup, StagedUser};
pub use tenant::{Tenant, TenantName, TenantNameError};
