//! The rule editor: one rule as a form — name, active, who it applies to (everyone, the
//! members of a group, everyone but a group's members; the group picked from the staged
//! groups by name or externalId), an optional Rhai condition, and the six settings, each
//! unset, a value from the catalogue or a Rhai expression, applied always or only if not
//! set yet. **Check** lists what would stop it from being saved (code errors at their
//! line and column in the field); **Try on user** shows what the rule set with this rule
//! does for one staged user, and why; **Save to draft** saves it in the draft (a new rule
//! goes last). New, Duplicate and Delete start from the Rules page.

use crate::forms::{field, version, Fields, Posted};
use crate::pages::{encode, render, Frame, Page};
use crate::session::InTenant;
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use scimgate_app::{
    AppError, RuleEdit, RuleForm, RuleProblem, RuleScope, Setting, SettingForm, SettingKind,
    UserView,
};
use scimgate_core::{AdminRole, Catalog};
use serde::Deserialize;

/// One setting as the form shows it.
struct SettingRow {
    key: &'static str,
    label: &'static str,
    form: SettingForm,
    /// The catalogue's names it may take (empty for confidential).
    choices: Vec<String>,
    /// Several values (secondary groups): the chosen ones.
    many: bool,
    chosen: Vec<String>,
    problems: Vec<RuleProblem>,
}

#[derive(Template)]
#[template(path = "rule_editor.html")]
struct EditorPage {
    frame: Frame,
    /// The rule's name before this edit; empty for a new rule.
    original: String,
    form: RuleForm,
    scope: &'static str,
    group: String,
    settings: Vec<SettingRow>,
    /// `(display name, externalId)` of the staged groups.
    groups: Vec<(String, Option<String>)>,
    draft_version: i64,
    published_version: i64,
    /// Problems with the rule as a whole (no field of its own).
    problems: Vec<RuleProblem>,
    /// Whether some field has a problem of its own.
    field_problems: bool,
    name_problems: Vec<RuleProblem>,
    when_problems: Vec<RuleProblem>,
    /// What Check found, when it found nothing.
    checked: bool,
    try_user: String,
    tried: Option<UserView>,
    can_edit: bool,
}

fn label(setting: Setting) -> &'static str {
    match setting {
        Setting::UserPlan => "User plan",
        Setting::OwnerCompany => "Owner company",
        Setting::PrimaryGroup => "Primary group",
        Setting::SecondaryGroups => "Secondary groups",
        Setting::Role => "Role",
        Setting::Confidential => "Confidential",
    }
}

fn choices(catalog: &Catalog, setting: Setting) -> Vec<String> {
    let entries = match setting {
        Setting::UserPlan => &catalog.user_plans,
        Setting::OwnerCompany => &catalog.companies,
        Setting::PrimaryGroup | Setting::SecondaryGroups => &catalog.groups,
        Setting::Role => &catalog.roles,
        Setting::Confidential => return Vec::new(),
    };
    entries.iter().map(|e| e.name().to_owned()).collect()
}

/// What the page was asked: the rule to edit (none: a new rule).
#[derive(Deserialize, Default)]
pub struct Shown {
    rule: Option<String>,
}

/// The versions the page's forms send: the draft's (0: none) and the published one.
async fn versions(at: &InTenant) -> Result<(i64, i64), AppError> {
    let app = &at.signed.app;
    let draft = app.rule_draft(&at.tenant).await?;
    let draft_version = if draft.value.is_some() {
        draft.version
    } else {
        0
    };
    let published = match app.rule_set(&at.tenant).await {
        Ok(published) => published.version,
        Err(AppError::NotFound(_)) => 0,
        Err(e) => return Err(e),
    };
    Ok((draft_version, published))
}

/// The editor with `form`, and what checking or trying it found.
struct Outcome {
    status: StatusCode,
    problems: Vec<RuleProblem>,
    checked: bool,
    try_user: String,
    tried: Option<UserView>,
    /// The draft and published versions the form was loaded at (a re-shown form keeps
    /// them, so a save after Check is still refused if someone saved in between).
    versions: Option<(i64, i64)>,
}

impl Outcome {
    fn shown() -> Outcome {
        Outcome {
            status: StatusCode::OK,
            problems: Vec::new(),
            checked: false,
            try_user: String::new(),
            tried: None,
            versions: None,
        }
    }

    /// Shows why an edit could not be checked or made; `Some` is the server-error page
    /// for a failure that is not the admin's.
    fn refused(&mut self, e: AppError) -> Option<Response> {
        let status = match &e {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Stale(_) | AppError::Conflict(_) | AppError::Busy => StatusCode::CONFLICT,
            AppError::Invalid(_) | AppError::Rules { .. } | AppError::Unstorable(_) => {
                StatusCode::BAD_REQUEST
            }
            _ => return Some(Page::internal(&e)),
        };
        let message = match e {
            AppError::NotFound(why) | AppError::Invalid(why) => why,
            e => e.to_string(),
        };
        self.problems = vec![problem(message)];
        self.status = status;
        None
    }
}

async fn editor(at: &InTenant, original: String, form: RuleForm, outcome: Outcome) -> Response {
    let app = &at.signed.app;
    let loaded = async {
        let catalog = app.catalog(&at.tenant).await?.value;
        let groups = app.group_choices(&at.tenant).await?;
        let (draft_version, published_version) = match outcome.versions {
            Some(posted) => posted,
            None => versions(at).await?,
        };
        Ok::<_, AppError>((catalog, groups, draft_version, published_version))
    };
    let (catalog, groups, draft_version, published_version) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => return Page::internal(&e),
    };
    let of_field = |name: &str| -> Vec<RuleProblem> {
        let problems = outcome.problems.iter();
        problems
            .filter(|p| p.field == Some(name))
            .cloned()
            .collect()
    };
    let settings = Setting::ALL
        .into_iter()
        .map(|setting| {
            let form = form.setting(setting).clone();
            let many = setting == Setting::SecondaryGroups;
            let chosen: Vec<String> = match many {
                true => form.value.lines().map(str::to_owned).collect(),
                false => vec![form.value.clone()],
            };
            // The chosen values first, in the rule's order (a browser sends a multiple
            // choice in the page's order: the rule's order must be the page's), then the
            // rest of the catalogue. A value the catalogue lacks stays visible, and Check
            // says what is wrong with it.
            let catalogue = choices(&catalog, setting);
            let mut listed: Vec<String> = match many {
                true => chosen.iter().filter(|v| !v.is_empty()).cloned().collect(),
                false => Vec::new(),
            };
            for value in catalogue.into_iter().chain(chosen.iter().cloned()) {
                let wanted = setting != Setting::Confidential && !value.is_empty();
                if wanted && !listed.contains(&value) {
                    listed.push(value);
                }
            }
            let choices = listed;
            SettingRow {
                key: setting.name(),
                label: label(setting),
                problems: of_field(setting.name()),
                form,
                choices,
                many,
                chosen,
            }
        })
        .collect();
    let (scope, group) = match &form.scope {
        RuleScope::All => ("all", String::new()),
        RuleScope::MemberOf(g) => ("member_of", g.clone()),
        RuleScope::NotMemberOf(g) => ("not_member_of", g.clone()),
    };
    let title = match original.as_str() {
        "" => "New rule".to_owned(),
        name => format!("Rule {name}"),
    };
    let general = outcome.problems.iter();
    let page = EditorPage {
        frame: Frame::tenant(&title, at, "rules"),
        name_problems: of_field("name"),
        when_problems: of_field("when"),
        problems: general.filter(|p| p.field.is_none()).cloned().collect(),
        field_problems: outcome.problems.iter().any(|p| p.field.is_some()),
        original,
        form,
        scope,
        group,
        settings,
        groups,
        draft_version,
        published_version,
        checked: outcome.checked,
        try_user: outcome.try_user,
        tried: outcome.tried,
        can_edit: at.signed.account.role.allows(AdminRole::Administrator),
    };
    render(outcome.status, &page)
}

/// `GET …/rules/edit?rule=NAME`: that rule; without `rule`, a new one.
pub async fn show(at: InTenant, Query(shown): Query<Shown>) -> Response {
    let (original, form) = match shown.rule {
        Some(name) => match at.signed.app.rule_form(&at.tenant, &name).await {
            Ok(form) => (name, form),
            Err(AppError::NotFound(_)) => return Page::not_found(),
            Err(AppError::Invalid(why)) => {
                return Page::message(StatusCode::BAD_REQUEST, "Not in the form", why)
            }
            Err(e) => return Page::internal(&e),
        },
        None => (String::new(), RuleForm::default()),
    };
    editor(&at, original, form, Outcome::shown()).await
}

/// The form as posted. Text boxes send CRLF line ends; code is compared without them.
fn posted_form(fields: &Fields) -> RuleForm {
    let text = |name: &str| {
        field(fields, name)
            .unwrap_or_default()
            .replace("\r\n", "\n")
            .trim()
            .to_owned()
    };
    let group = text("group");
    let scope = match field(fields, "scope") {
        Some("member_of") => RuleScope::MemberOf(group),
        Some("not_member_of") => RuleScope::NotMemberOf(group),
        _ => RuleScope::All,
    };
    let mut form = RuleForm {
        name: text("name"),
        active: field(fields, "active") == Some("on"),
        scope,
        when: text("when"),
        script: Some(text("script")).filter(|s| !s.is_empty()),
        ..Default::default()
    };
    for setting in Setting::ALL {
        let key = setting.name();
        let kind = match field(fields, &format!("{key}_kind")) {
            Some("value") => SettingKind::Value,
            Some("expr") => SettingKind::Expr,
            _ => SettingKind::Unset,
        };
        let value = match setting {
            // A multiple choice: every chosen group, one per line.
            Setting::SecondaryGroups => fields
                .iter()
                .filter(|(k, v)| *k == format!("{key}_value") && !v.trim().is_empty())
                .map(|(_, v)| v.trim().to_owned())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => text(&format!("{key}_value")),
        };
        *form.setting_mut(setting) = SettingForm {
            kind,
            // What the other way held is not kept: the form is what was chosen.
            value: if kind == SettingKind::Value {
                value
            } else {
                String::new()
            },
            expr: if kind == SettingKind::Expr {
                text(&format!("{key}_expr"))
            } else {
                String::new()
            },
            if_not_set: kind != SettingKind::Unset
                && field(fields, &format!("{key}_mode")) == Some("if_not_set"),
        };
    }
    form
}

/// `POST …/rules/edit`: Check, Try on user, or Save to draft (`intent`).
pub async fn submit(Posted { at, fields }: Posted) -> Response {
    let original = field(&fields, "original").unwrap_or_default().to_owned();
    let form = posted_form(&fields);
    let edit = match original.as_str() {
        "" => RuleEdit::Add {
            rule: form.clone(),
            after: None,
        },
        name => RuleEdit::Replace {
            rule: name.to_owned(),
            with: form.clone(),
        },
    };
    let app = &at.signed.app;
    let mut outcome = Outcome::shown();
    let posted = |name: &str| field(&fields, name).and_then(|v| v.parse::<i64>().ok());
    outcome.versions = posted("version").map(|draft| (draft, posted("published").unwrap_or(0)));
    match field(&fields, "intent") {
        Some("try") => {
            let user = field(&fields, "try_user")
                .unwrap_or_default()
                .trim()
                .to_owned();
            match app.try_rule_edit(&at.tenant, &edit, &user).await {
                Ok(view) => outcome.tried = Some(view),
                Err(AppError::Rules { .. } | AppError::Invalid(_)) => {
                    match app.check_rule_edit(&at.tenant, &edit).await {
                        Ok(problems) => {
                            outcome.problems = problems;
                            outcome.status = StatusCode::BAD_REQUEST;
                        }
                        Err(e) => {
                            if let Some(page) = outcome.refused(e) {
                                return page;
                            }
                        }
                    }
                }
                Err(e) => {
                    if let Some(page) = outcome.refused(e) {
                        return page;
                    }
                }
            }
            outcome.try_user = user;
        }
        Some("save") => {
            let problems = match app.check_rule_edit(&at.tenant, &edit).await {
                Ok(problems) => problems,
                Err(e) => match outcome.refused(e) {
                    None => return editor(&at, original, form, outcome).await,
                    Some(page) => return page,
                },
            };
            if problems.is_empty() {
                let based_on = field(&fields, "published").and_then(|v| v.parse().ok());
                let saved = match version(&fields) {
                    Ok(expect) => {
                        app.edit_rule_draft(&at.tenant, expect, &edit, based_on)
                            .await
                    }
                    Err(e) => Err(e),
                };
                match saved {
                    Ok(_) => {
                        let to = format!(
                            "/t/{}/rules?done=saved#rule-{}",
                            at.tenant.name,
                            encode(form.name.trim())
                        );
                        return Redirect::to(&to).into_response();
                    }
                    Err(e) => {
                        if let Some(page) = outcome.refused(e) {
                            return page;
                        }
                    }
                }
            } else {
                outcome.problems = problems;
                outcome.status = StatusCode::BAD_REQUEST;
            }
        }
        _ => match app.check_rule_edit(&at.tenant, &edit).await {
            Ok(problems) => {
                outcome.checked = problems.is_empty();
                if !problems.is_empty() {
                    outcome.status = StatusCode::BAD_REQUEST;
                }
                outcome.problems = problems;
            }
            Err(e) => {
                if let Some(page) = outcome.refused(e) {
                    return page;
                }
            }
        },
    }
    editor(&at, original, form, outcome).await
}

fn problem(message: String) -> RuleProblem {
    RuleProblem {
        field: None,
        line: 0,
        column: 0,
        message,
    }
}

/// The draft with `edit` made, then back to the Rules page (or the editor of `open`).
async fn edit_and_go(
    at: &InTenant,
    fields: &Fields,
    edit: RuleEdit,
    done: &str,
    open: Option<&str>,
) -> Response {
    let app = &at.signed.app;
    let based_on = field(fields, "published").and_then(|v| v.parse().ok());
    let saved = match version(fields) {
        Ok(expect) => {
            app.edit_rule_draft(&at.tenant, expect, &edit, based_on)
                .await
        }
        Err(e) => Err(e),
    };
    let tenant = &at.tenant.name;
    match (saved, open) {
        (Ok(_), Some(rule)) => {
            let to = format!("/t/{tenant}/rules/edit?rule={}", encode(rule));
            Redirect::to(&to).into_response()
        }
        (Ok(_), None) => Redirect::to(&format!("/t/{tenant}/rules?done={done}")).into_response(),
        (Err(e), _) => crate::rules_page::refused(at, e).await,
    }
}

/// A copy of a rule right after it, named "… (copy)" (or "(copy 2)", …), opened in
/// the editor.
pub async fn duplicate(Posted { at, fields }: Posted) -> Response {
    let Some(rule) = field(&fields, "rule").map(str::to_owned) else {
        return Page::message(
            StatusCode::BAD_REQUEST,
            "Not copied",
            "The form names no rule.".into(),
        );
    };
    let app = &at.signed.app;
    let (form, taken) = match async {
        let form = app.rule_form(&at.tenant, &rule).await?;
        let view = app.rule_draft(&at.tenant).await?;
        let names: Vec<String> = match view.value {
            Some(draft) => draft.rules.rules.into_iter().map(|r| r.name).collect(),
            None => app
                .rule_set(&at.tenant)
                .await?
                .value
                .rules
                .into_iter()
                .map(|r| r.name)
                .collect(),
        };
        Ok::<_, AppError>((form, names))
    }
    .await
    {
        Ok(found) => found,
        Err(e) => return crate::rules_page::refused(&at, e).await,
    };
    let name = (1..)
        .map(|n| match n {
            1 => format!("{rule} (copy)"),
            n => format!("{rule} (copy {n})"),
        })
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_default();
    let copy = RuleForm {
        name: name.clone(),
        ..form
    };
    let edit = RuleEdit::Add {
        rule: copy,
        after: Some(rule),
    };
    edit_and_go(&at, &fields, edit, "saved", Some(&name)).await
}

pub async fn delete(Posted { at, fields }: Posted) -> Response {
    let Some(rule) = field(&fields, "rule").map(str::to_owned) else {
        return Page::message(
            StatusCode::BAD_REQUEST,
            "Not deleted",
            "The form names no rule.".into(),
        );
    };
    edit_and_go(&at, &fields, RuleEdit::Delete { rule }, "deleted", None).await
}
