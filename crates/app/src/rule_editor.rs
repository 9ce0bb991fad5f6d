//! The rule editor: one rule as a form (read from the draft, else the published set),
//! checked before it is saved — each Rhai condition and expression at its own line and
//! column, then the whole rule set with the rule in place against the catalogue — and
//! tried on one staged user with the Why trail. Saving goes through the draft like every
//! rule edit ([`App::edit_rule_draft`]).

use crate::{App, AppError, Result, UserView};
use scimgate_core::{RuleSource, Tenant};
use scimgate_rules::{RuleEdit, RuleForm, Setting, SettingKind};

/// One problem the editor shows: under a field (`name`, `when`, a setting's name), or
/// for the rule as a whole (`field: None`); `line` and `column` are within the field's
/// code for a Rhai error (from 1), else 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub field: Option<&'static str>,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(field) = self.field {
            write!(f, "{field}")?;
            if self.line > 0 {
                write!(f, " (line {}, column {})", self.line, self.column)?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

/// The rule the edit writes: the added or replacing form.
fn edited_form(edit: &RuleEdit) -> Option<&RuleForm> {
    match edit {
        RuleEdit::Add { rule, .. } => Some(rule),
        RuleEdit::Replace { with, .. } => Some(with),
        _ => None,
    }
}

impl App {
    /// The rules an edit applies to: the draft, else the published set, else (a tenant
    /// without rules yet) an empty set, which a first rule goes into.
    pub(crate) async fn editable_source(&self, tenant: &Tenant) -> Result<RuleSource> {
        if let Some(draft) = self.store.rule_draft(tenant).await?.value {
            return Ok(draft.source);
        }
        let published = self.published_source(tenant).await?;
        Ok(published.unwrap_or_else(|| RuleSource {
            yaml: "rules: []\n".into(),
            scripts: Default::default(),
        }))
    }

    /// The rule named `name` (in the draft, else the published set) as the editor's form.
    pub async fn rule_form(&self, tenant: &Tenant, name: &str) -> Result<RuleForm> {
        let source = self.editable_source(tenant).await?;
        scimgate_rules::rule_form(&source.yaml, name).map_err(crate::rules::edit_error)
    }

    /// The rule set as it would be with `edit` made (nothing is saved).
    async fn with_edit(&self, tenant: &Tenant, edit: &RuleEdit) -> Result<RuleSource> {
        let source = self.editable_source(tenant).await?;
        let yaml =
            scimgate_rules::edit_yaml(&source.yaml, edit).map_err(crate::rules::edit_error)?;
        Ok(RuleSource {
            yaml,
            scripts: source.scripts,
        })
    }

    /// Everything that would stop `edit` from being saved; empty when it can be.
    pub async fn check_rule_edit(
        &self,
        tenant: &Tenant,
        edit: &RuleEdit,
    ) -> Result<Vec<RuleProblem>> {
        let mut problems = Vec::new();
        // The code first, where the admin wrote it: line and column within the field.
        if let Some(form) = edited_form(edit) {
            let when = Some(("when", form.when.as_str())).filter(|(_, code)| !code.is_empty());
            let exprs = Setting::ALL.into_iter().filter_map(|setting| {
                let s = form.setting(setting);
                (s.kind == SettingKind::Expr).then_some((setting.name(), s.expr.as_str()))
            });
            for (field, code) in when.into_iter().chain(exprs) {
                match scimgate_rules::check_code(code) {
                    Some(p) => problems.push(RuleProblem {
                        field: Some(field),
                        line: p.line,
                        column: p.column,
                        message: p.message,
                    }),
                    None if code.trim().is_empty() => problems.push(RuleProblem {
                        field: Some(field),
                        line: 0,
                        column: 0,
                        message: "write an expression, or choose another way to set it".into(),
                    }),
                    None => {}
                }
            }
        }
        let source = match self.with_edit(tenant, edit).await {
            Ok(source) => source,
            Err(AppError::Invalid(message)) => {
                problems.push(RuleProblem {
                    field: Some("name").filter(|_| message.contains("name")),
                    line: 0,
                    column: 0,
                    message,
                });
                return Ok(problems);
            }
            Err(e) => return Err(e),
        };
        let catalog = self.store.catalog(tenant).await?;
        let this_rule = edited_form(edit).map(|form| form.name.trim().to_owned());
        if let Err(errors) = scimgate_rules::compile(&source, &catalog) {
            for error in errors {
                // Another rule's problem is the rule set's, named with its rule.
                let own = error.rule.is_some() && error.rule == this_rule;
                let field = scimgate_rules::problem_field(&error).filter(|_| own);
                // A code error is already listed with its place in the field.
                if problems
                    .iter()
                    .any(|p| p.field.is_some() && p.field == field)
                {
                    continue;
                }
                let message = match (&error.rule, field) {
                    (Some(_), Some(_)) => error.message.clone(),
                    _ => error.to_string(),
                };
                problems.push(RuleProblem {
                    field,
                    line: 0,
                    column: 0,
                    message,
                });
            }
        }
        Ok(problems)
    }

    /// What the rules would do for one staged user (by id or userName) with `edit` made,
    /// and why; nothing is saved. Refused with the problems when the edit does not
    /// compile.
    pub async fn try_rule_edit(
        &self,
        tenant: &Tenant,
        edit: &RuleEdit,
        id_or_name: &str,
    ) -> Result<UserView> {
        let source = self.with_edit(tenant, edit).await?;
        let catalog = self.store.catalog(tenant).await?;
        if let Err(problems) = scimgate_rules::compile(&source, &catalog) {
            return Err(AppError::Rules {
                context: "the rule cannot be tried yet".into(),
                problems,
            });
        }
        let id = self.staged_id(tenant, id_or_name).await?;
        self.user_view_under(tenant, &id, Some(&source)).await
    }
}
