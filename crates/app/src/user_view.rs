//! One staged user as an admin reads it: what the CRM account is now, what the rules
//! say and which rule set each value, the rule-by-rule trail, and what the identity
//! provider sent. The web UI's user page shows it; it is plain text and data, so any
//! front end can.

use crate::{App, AppError, Result};
use scimgate_core::Tenant;

/// One account field: in the CRM now, as the rules set it, and by which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRow {
    pub field: &'static str,
    pub now: String,
    pub rules: String,
    pub set_by: String,
    /// What the draft rules say, when there is a draft and it says something else
    /// (`None`: no draft, or the same).
    pub draft: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserView {
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub created_at: String,
    /// What a sync would do: create, update, deprovision, unchanged or error.
    pub action: &'static str,
    /// Why the user is in error or deprovisioned.
    pub reason: Option<String>,
    pub fields: Vec<FieldRow>,
    /// `(rule, what it did for this user)`, in rule order.
    pub why: Vec<(String, String)>,
    /// The final word: synced, or why not.
    pub verdict: String,
    /// Display names of the groups the user is a direct member of.
    pub groups: Vec<String>,
    /// The resource as the identity provider sent it, pretty-printed.
    pub raw: String,
    /// Whether the fields say what the draft rules would set.
    pub has_draft: bool,
    /// Why the draft rules cannot be evaluated for the user, when they cannot.
    pub draft_problem: Option<String>,
}

const NO_VALUE: &str = "—";

impl App {
    /// The user page's view of staged user `id`; with a draft, each field also says
    /// what the draft rules would set where that differs.
    pub async fn user_view(&self, tenant: &Tenant, id: &str) -> Result<UserView> {
        let mut view = self.user_view_under(tenant, id, None).await?;
        let Some(draft) = self.store.rule_draft(tenant).await?.value else {
            return Ok(view);
        };
        view.has_draft = true;
        let under_draft = match (self.user_view_under(tenant, &view.id, Some(&draft.source))).await
        {
            Ok(under_draft) => under_draft,
            // A draft that no longer compiles (the catalogue changed under it) must not
            // hide what the published rules do.
            Err(e @ (AppError::Rules { .. } | AppError::Invalid(_))) => {
                view.draft_problem = Some(e.to_string());
                return Ok(view);
            }
            Err(e) => return Err(e),
        };
        for (row, drafted) in view.fields.iter_mut().zip(under_draft.fields) {
            if drafted.rules != row.rules || drafted.set_by != row.set_by {
                row.draft = Some(format!("{} (by {})", drafted.rules, drafted.set_by));
            }
        }
        Ok(view)
    }

    /// [`App::user_view`] with `rules` instead of the published set (a draft).
    pub(crate) async fn user_view_under(
        &self,
        tenant: &Tenant,
        id: &str,
        rules: Option<&scimgate_core::RuleSource>,
    ) -> Result<UserView> {
        let (user, groups) = self.staged_user(tenant, id).await?;
        // The id is known to be staged: no second lookup by id or userName.
        let (item, evaluation) = self.syncer.preview_user(tenant, &user.id, rules).await?;
        let has_account = item.account.is_some();
        let fields = evaluation
            .explanation
            .settings
            .iter()
            .map(|trace| {
                let field = trace.setting.name();
                let rules = trace
                    .value
                    .as_ref()
                    .map_or_else(|| NO_VALUE.to_owned(), ToString::to_string);
                let changed = item.changes.iter().find(|c| c.field == field);
                let now = match (has_account, changed) {
                    (false, _) => "no account".to_owned(),
                    (true, Some(change)) => change.old.clone(),
                    (true, None) => rules.clone(),
                };
                FieldRow {
                    field,
                    now,
                    rules,
                    set_by: trace.set_by.clone().unwrap_or_else(|| "no rule".into()),
                    draft: None,
                }
            })
            .collect();
        let why = (evaluation.explanation.rules.iter())
            .map(|trace| (trace.rule.clone(), trace.outcome.describe()))
            .collect();
        let verdict = match (&evaluation.not_synced_because, evaluation.synced) {
            (_, true) => "Synced: the rules give this user a CRM account.".to_owned(),
            (Some(why), false) => format!("Not synced: {why}."),
            (None, false) => "Not synced.".to_owned(),
        };
        let user_name = user.body["userName"]
            .as_str()
            .unwrap_or(&user.id)
            .to_owned();
        Ok(UserView {
            raw: serde_json::to_string_pretty(&user.body).unwrap_or_default(),
            id: user.id,
            user_name,
            external_id: user.external_id,
            created_at: user.created_at,
            action: item.action.name(),
            reason: item.reason,
            fields,
            why,
            verdict,
            groups: groups.into_iter().map(|g| g.display_name).collect(),
            has_draft: false,
            draft_problem: None,
        })
    }
}
