//! The rule set: read it, save it (only when it compiles against the catalogue),
//! validate a draft without saving, switch a rule on or off, reorder.

use crate::{App, AppError, Result};
use scimgate_core::{RuleSource, Tenant};
use scimgate_rules::{LoadError, RuleEdit};
use scimgate_store::{Aggregate, Expect, Publication, Versioned};
use serde::Serialize;

/// A saved rule set as front ends show it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleSetView {
    #[serde(flatten)]
    pub source: RuleSource,
    /// `(name, active)` of every rule, in order.
    pub rules: Vec<RuleSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSummary {
    pub name: String,
    pub active: bool,
}

/// One rule with its own YAML, for showing it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleText {
    pub name: String,
    pub active: bool,
    pub yaml: String,
}

impl RuleSetView {
    /// Each rule with its own YAML, in order.
    pub fn texts(&self) -> Vec<RuleText> {
        let texts = scimgate_rules::rule_texts(&self.source.yaml);
        (self.rules.iter().zip(texts))
            .map(|(rule, (_, yaml))| RuleText {
                name: rule.name.clone(),
                active: rule.active,
                yaml,
            })
            .collect()
    }

    pub fn of(source: RuleSource) -> RuleSetView {
        let rules = scimgate_rules::rule_summary(&source.yaml)
            .into_iter()
            .map(|(name, active)| RuleSummary { name, active })
            .collect();
        RuleSetView { source, rules }
    }
}

/// What validating a draft found.
#[derive(Debug, Clone)]
pub struct Validation {
    /// Rules in the draft (those the YAML lists, when it does not compile).
    pub rules: usize,
    pub problems: Vec<LoadError>,
}

impl App {
    pub async fn rule_set(&self, tenant: &Tenant) -> Result<Versioned<RuleSetView>> {
        let saved = self.store.rule_set(tenant).await?;
        let source = saved.value.ok_or_else(|| {
            AppError::NotFound("this tenant has no rule set yet: save one with PUT …/rules".into())
        })?;
        Ok(Versioned {
            version: saved.version,
            value: RuleSetView::of(source),
        })
    }

    /// Publishes a whole rule set (not through the draft) that compiles against the
    /// current catalogue, as a new version; changes nothing if it does not (every problem
    /// in [`AppError::Rules`]).
    pub async fn save_rules(
        &self,
        tenant: &Tenant,
        expect: Expect,
        source: RuleSource,
    ) -> Result<Versioned<RuleSetView>> {
        self.publish_rules(tenant, expect, source, "the whole rule set replaced")
            .await
    }

    /// [`App::save_rules`], saying why (kept with the version).
    pub async fn publish_rules(
        &self,
        tenant: &Tenant,
        expect: Expect,
        source: RuleSource,
        comment: &str,
    ) -> Result<Versioned<RuleSetView>> {
        let publication = Publication {
            by: self.actor.who.clone(),
            comment: comment.to_owned(),
        };
        let base = self.store.edit_version(tenant, Aggregate::RuleSet).await?;
        let checked = source.clone();
        let saved = self
            .store
            .save_rule_set(
                tenant,
                expect,
                source,
                publication,
                self.now(),
                move |catalog| match scimgate_rules::compile(&checked, catalog) {
                    Ok(_) => Ok(checked),
                    Err(problems) => Err(AppError::Rules {
                        context: "the rule set was not saved".into(),
                        problems,
                    }),
                },
            )
            .await?;
        let base = (base > 0).then_some(base);
        self.audit_publish(tenant, base, saved.version, comment)
            .await;
        Ok(Versioned {
            version: saved.version,
            value: RuleSetView::of(saved.value),
        })
    }

    /// Compiles a draft against the catalogue; saves nothing.
    pub async fn validate_rules(&self, tenant: &Tenant, draft: &RuleSource) -> Result<Validation> {
        let catalog = self.store.catalog(tenant).await?;
        Ok(match scimgate_rules::compile(draft, &catalog) {
            Ok(set) => Validation {
                rules: set.len(),
                problems: Vec::new(),
            },
            Err(problems) => Validation {
                rules: scimgate_rules::rule_summary(&draft.yaml).len(),
                problems,
            },
        })
    }

    /// Switches a rule on or off, or reorders the rules, in the published file, and
    /// publishes the result at once (it must compile; the admin API's edits). The version names what the admin saw: an edit based
    /// on an older rule set is refused rather than applied to a file they have not seen.
    pub async fn edit_rules(
        &self,
        tenant: &Tenant,
        expect: Expect,
        edit: &RuleEdit,
    ) -> Result<Versioned<RuleSetView>> {
        // A stale base is refused before the edit is tried on a file the admin has not
        // seen; the save below refuses one that changes in between.
        self.store
            .check_version(tenant, Aggregate::RuleSet, expect)
            .await?;
        let saved = self.rule_set(tenant).await?;
        let expect = match expect {
            Expect::Version(_) => expect,
            Expect::Any => Expect::Version(saved.version),
        };
        let yaml = scimgate_rules::edit_yaml(&saved.value.source.yaml, edit).map_err(edit_error)?;
        let source = RuleSource {
            yaml,
            scripts: saved.value.source.scripts,
        };
        self.publish_rules(tenant, expect, source, &describe_edit(edit))
            .await
    }
}

/// A rule edit in words, as the version's comment.
pub(crate) fn describe_edit(edit: &RuleEdit) -> String {
    match edit {
        RuleEdit::SetActive { rule, active: true } => format!("rule {rule:?} switched on"),
        RuleEdit::SetActive {
            rule,
            active: false,
        } => format!("rule {rule:?} switched off"),
        RuleEdit::Reorder(_) => "rules reordered".into(),
        RuleEdit::Add { rule, .. } => format!("rule {:?} added", rule.name.trim()),
        RuleEdit::Replace { rule, with } if with.name.trim() != rule => {
            format!("rule {rule:?} changed and renamed {:?}", with.name.trim())
        }
        RuleEdit::Replace { rule, .. } => format!("rule {rule:?} changed"),
        RuleEdit::Delete { rule } => format!("rule {rule:?} deleted"),
    }
}

/// A rule edit that cannot be made: a rule that is not there, an order that is not one.
pub(crate) fn edit_error(e: scimgate_rules::EditError) -> AppError {
    match e {
        scimgate_rules::EditError::NoRule { .. } => AppError::NotFound(e.to_string()),
        scimgate_rules::EditError::BadOrder(_)
        | scimgate_rules::EditError::NameTaken(_)
        | scimgate_rules::EditError::NoName
        | scimgate_rules::EditError::NotInForm { .. } => AppError::Invalid(e.to_string()),
        scimgate_rules::EditError::Unreadable(_) => AppError::Internal(e.to_string()),
    }
}
