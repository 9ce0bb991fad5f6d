//! Rules: an ordered rule set (YAML, with sandboxed Rhai where logic is needed) turns a
//! staged user and the groups it belongs to into CRM account settings, and explains
//! every value it sets. Pure: no database, no network, no clock (docs/design.md §5).

mod catalog;
mod diff;
mod edit;
mod error;
mod evaluate;
mod form;
mod model;
mod ruleset;
mod sandbox;
mod saved;
mod scan;
mod settings;
mod source;

pub use catalog::{Catalog, CatalogEntry, NamedEntry};
pub use diff::{diff, rule_texts, RuleSetDiff};
pub use edit::{edit_yaml, rule_form, EditError, RuleEdit};
pub use error::{LoadError, Place};
pub use evaluate::{
    Decision, Evaluation, Explanation, RuleOutcome, RuleTrace, SettingTrace, UserError,
};
pub use form::{
    check_code, problem_field, CodeProblem, RuleForm, RuleScope, SettingForm, SettingKind,
};
pub use ruleset::RuleSet;
pub use sandbox::is_active;
pub use saved::{compile, problems_text, read_source_file, rule_summary};
pub use scimgate_core::RuleSource;
pub use settings::{AccountSettings, Setting, SettingValue};

/// A staged user as the rules see it: the SCIM resource as received, and its groups.
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    pub user: serde_json::Value,
    pub groups: Vec<GroupRef>,
}

/// A group the user is a member of: matched by display name or by externalId.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRef {
    pub display_name: String,
    pub external_id: Option<String>,
}
