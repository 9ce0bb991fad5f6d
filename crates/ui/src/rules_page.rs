//! The Rules page: the rule set in order (the draft when there is one, else the published
//! set), each rule's YAML, Active and Move up / Move down (which edit the draft), the
//! whole draft as YAML text (import by pasting, export by download), the draft bar
//! (changes, its impact, Discard, Publish with a comment), and the published versions
//! (view, compare, restore as the draft). Every edit names the draft's version.

use crate::forms::{field, version, Posted};
use crate::pages::{encode, render, Frame, Page};
use crate::session::InTenant;
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use scimgate_app::{
    AppError, DraftView, RuleEdit, RuleSetDiff, RuleSetRef, RuleSetView, RuleVersion,
};
use scimgate_core::{AdminRole, RuleSource};
use serde::Deserialize;

/// One rule as the page lists it.
struct RuleRow {
    name: String,
    /// The name as the rule's element id (the editor returns to it).
    anchor: String,
    active: bool,
    yaml: String,
    first: bool,
    last: bool,
    /// Staged users the rule applies to, when counted.
    matches: Option<u64>,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage {
    frame: Frame,
    /// The draft, when there is one.
    draft: Option<DraftView>,
    /// The draft's version (0: none), for every edit.
    draft_version: i64,
    /// The published version (0: nothing published yet).
    published_version: i64,
    rules: Vec<RuleRow>,
    yaml: String,
    versions: Vec<RuleVersion>,
    /// `?compare=N`: that version against what the page shows.
    compared: Option<(i64, RuleSetDiff)>,
    can_edit: bool,
    problem: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Shown {
    done: Option<String>,
    compare: Option<i64>,
    /// `?matches=1`: count how many staged users each rule applies to.
    matches: Option<u8>,
}

fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "saved" => "Draft saved. Sync keeps using the published rules until you publish.",
        "discarded" => "Draft discarded.",
        "published" => "Published: sync uses these rules from now on.",
        "restored" => "The version is now the draft; publish it to make it current.",
        "deleted" => "Rule deleted from the draft.",
        _ => return None,
    })
}

/// What a refused edit brings back to the page: why, with its status, and the YAML the
/// admin typed (so a refused paste is not lost).
struct Refused {
    status: StatusCode,
    why: String,
    yaml: Option<String>,
}

/// The page, with what was refused when an edit was.
async fn page(at: &InTenant, shown: Shown, refused: Option<Refused>) -> Response {
    let app = &at.signed.app;
    let loaded = async {
        let draft = app.rule_draft(&at.tenant).await?;
        let published = match app.rule_set(&at.tenant).await {
            Ok(published) => Some(published),
            Err(AppError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let versions = app.rule_versions(&at.tenant).await?;
        let compared = match shown.compare {
            Some(n) => {
                let here = match draft.value {
                    Some(_) => RuleSetRef::Draft,
                    None => RuleSetRef::Published,
                };
                let diff = app
                    .diff_rule_sets(&at.tenant, RuleSetRef::Version(n), here)
                    .await?;
                Some((n, diff))
            }
            None => None,
        };
        let here = match draft.value {
            Some(_) => RuleSetRef::Draft,
            None => RuleSetRef::Published,
        };
        let matches = match shown.matches {
            Some(_) if draft.value.is_some() || published.is_some() => {
                match app.rule_matches(&at.tenant, here).await {
                    Ok(counts) => Some(counts),
                    // Rules that no longer compile: the page shows them, uncounted.
                    Err(AppError::Rules { .. } | AppError::Invalid(_)) => None,
                    Err(e) => return Err(e),
                }
            }
            _ => None,
        };
        Ok::<_, AppError>((draft, published, versions, compared, matches))
    };
    let (draft, published, versions, compared, matches) = match loaded.await {
        Ok(loaded) => loaded,
        Err(AppError::NotFound(_)) => return Page::not_found(),
        Err(e) => return Page::internal(&e),
    };
    let view = match (&draft.value, &published) {
        (Some(d), _) => d.rules.clone(),
        (None, Some(p)) => p.value.clone(),
        (None, None) => RuleSetView::of(RuleSource::default()),
    };
    let texts = view.texts();
    let count = texts.len();
    let rules = texts
        .into_iter()
        .enumerate()
        .map(|(n, rule)| RuleRow {
            matches: (matches.as_ref())
                .and_then(|m| m.iter().find(|(name, _)| *name == rule.name))
                .map(|(_, n)| *n),
            anchor: encode(&rule.name),
            name: rule.name,
            active: rule.active,
            yaml: rule.yaml,
            first: n == 0,
            last: n + 1 == count,
        })
        .collect();
    let (status, problem, typed) = match refused {
        Some(r) => (r.status, Some(r.why), r.yaml),
        None => (StatusCode::OK, None, None),
    };
    let toast = shown.done.as_deref().and_then(done_text).map(str::to_owned);
    let page = RulesPage {
        frame: Frame::tenant("Rules", at, "rules").with_toast(toast),
        draft_version: form_version(&draft),
        draft: draft.value,
        published_version: published.map_or(0, |p| p.version),
        rules,
        yaml: typed.unwrap_or(view.source.yaml),
        versions,
        compared,
        can_edit: at.signed.account.role.allows(AdminRole::Administrator),
        problem,
    };
    render(status, &page)
}

/// The draft's version as forms send it: 0 when there is no draft.
fn form_version(draft: &scimgate_app::Versioned<Option<DraftView>>) -> i64 {
    match draft.value {
        Some(_) => draft.version,
        None => 0,
    }
}

pub async fn show(at: InTenant, Query(shown): Query<Shown>) -> Response {
    page(&at, shown, None).await
}

/// After an edit: back to the page saying what was done, or the page with the problem
/// (and `typed`, the YAML the admin sent, if any).
async fn after(
    at: &InTenant,
    result: Result<&'static str, AppError>,
    typed: Option<String>,
) -> Response {
    match result {
        Ok(code) => {
            let to = format!("/t/{}/rules?done={code}", at.tenant.name);
            Redirect::to(&to).into_response()
        }
        Err(e) => refused_with(at, e, typed).await,
    }
}

/// The Rules page saying why an edit was refused.
pub async fn refused(at: &InTenant, e: AppError) -> Response {
    refused_with(at, e, None).await
}

async fn refused_with(at: &InTenant, e: AppError, typed: Option<String>) -> Response {
    let status = match &e {
        AppError::Invalid(_) | AppError::Rules { .. } | AppError::Unstorable(_) => {
            StatusCode::BAD_REQUEST
        }
        AppError::Stale(_) | AppError::Conflict(_) | AppError::Busy => StatusCode::CONFLICT,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        e => return Page::internal(e),
    };
    let why = match e {
        AppError::NotFound(why) => why,
        e => e.to_string(),
    };
    let refused = Refused {
        status,
        why,
        yaml: typed,
    };
    page(at, Shown::default(), Some(refused)).await
}

/// The published version the page showed (its forms send it): a draft begun from it is
/// refused if another version was published since.
fn read_at(fields: &crate::forms::Fields) -> Option<i64> {
    field(fields, "published").and_then(|v| v.parse().ok())
}

fn rule_name(fields: &crate::forms::Fields) -> Result<String, AppError> {
    field(fields, "rule")
        .map(str::to_owned)
        .ok_or_else(|| AppError::Invalid("the form names no rule; reload the page".into()))
}

/// Active on or off, in the draft.
pub async fn switch(Posted { at, fields }: Posted) -> Response {
    let result = async {
        let edit = RuleEdit::SetActive {
            rule: rule_name(&fields)?,
            active: field(&fields, "active") == Some("true"),
        };
        (at.signed.app)
            .edit_rule_draft(&at.tenant, version(&fields)?, &edit, read_at(&fields))
            .await?;
        Ok("saved")
    }
    .await;
    after(&at, result, None).await
}

/// Move up or down one place, in the draft.
pub async fn move_rule(Posted { at, fields }: Posted) -> Response {
    let result = async {
        let rule = rule_name(&fields)?;
        let expect = version(&fields)?;
        let app = &at.signed.app;
        let current = match app.rule_draft(&at.tenant).await?.value {
            Some(draft) => draft.rules.rules,
            None => app.rule_set(&at.tenant).await?.value.rules,
        };
        let mut order: Vec<String> = current.into_iter().map(|r| r.name).collect();
        let at_index = order
            .iter()
            .position(|name| *name == rule)
            .ok_or_else(|| AppError::NotFound(format!("there is no rule {rule:?}")))?;
        let to = match field(&fields, "direction") {
            Some("up") if at_index > 0 => at_index - 1,
            Some("down") if at_index + 1 < order.len() => at_index + 1,
            _ => return Err(AppError::Invalid(format!("{rule:?} cannot move that way"))),
        };
        order.swap(at_index, to);
        let reorder = RuleEdit::Reorder(order);
        app.edit_rule_draft(&at.tenant, expect, &reorder, read_at(&fields))
            .await?;
        Ok("saved")
    }
    .await;
    after(&at, result, None).await
}

/// The whole draft as YAML text (the scripts stay as they are).
pub async fn save_yaml(Posted { at, fields }: Posted) -> Response {
    let typed = field(&fields, "yaml")
        .unwrap_or_default()
        .replace("\r\n", "\n");
    let result = async {
        let expect = version(&fields)?;
        let yaml = typed.clone();
        let app = &at.signed.app;
        let scripts = match app.rule_draft(&at.tenant).await?.value {
            Some(draft) => draft.rules.source.scripts,
            None => match app.rule_set(&at.tenant).await {
                Ok(published) => published.value.source.scripts,
                Err(AppError::NotFound(_)) => Default::default(),
                Err(e) => return Err(e),
            },
        };
        let source = RuleSource { yaml, scripts };
        (app.save_rule_draft(&at.tenant, expect, source, read_at(&fields))).await?;
        Ok("saved")
    }
    .await;
    after(&at, result, Some(typed)).await
}

pub async fn discard(Posted { at, fields }: Posted) -> Response {
    let result = async {
        (at.signed.app)
            .discard_rule_draft(&at.tenant, version(&fields)?)
            .await?;
        Ok("discarded")
    }
    .await;
    after(&at, result, None).await
}

pub async fn publish(Posted { at, fields }: Posted) -> Response {
    let result = async {
        let comment = field(&fields, "comment").unwrap_or_default();
        let published = (at.signed.app)
            .publish_rule_draft(&at.tenant, version(&fields)?, comment)
            .await?;
        let by = &at.signed.account.name;
        tracing::info!(tenant = %at.tenant.name, account = %by, version = published, "rules published");
        Ok("published")
    }
    .await;
    after(&at, result, None).await
}

pub async fn restore(
    Path((_, number)): Path<(String, i64)>,
    Posted { at, fields }: Posted,
) -> Response {
    let result = async {
        (at.signed.app)
            .restore_rule_version(&at.tenant, number, version(&fields)?)
            .await?;
        Ok("restored")
    }
    .await;
    after(&at, result, None).await
}

#[derive(Deserialize)]
pub struct Export {
    /// `draft`, `published` (the default) or a version number.
    of: Option<String>,
}

/// The rule file as a download (the scripts are listed in it by name, not included).
pub async fn export(at: InTenant, Query(export): Query<Export>) -> Response {
    let app = &at.signed.app;
    let of = export.of.as_deref().unwrap_or("published");
    let yaml = match RuleSetRef::parse(of) {
        Some(RuleSetRef::Draft) => app
            .rule_draft(&at.tenant)
            .await
            .map(|d| d.value.map(|d| d.rules.source.yaml)),
        Some(RuleSetRef::Published) => match app.rule_set(&at.tenant).await {
            Ok(p) => Ok(Some(p.value.source.yaml)),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        },
        Some(RuleSetRef::Version(n)) => match app.rule_version(&at.tenant, n).await {
            Ok((_, rules)) => Ok(Some(rules.source.yaml)),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        },
        None => Ok(None),
    };
    match yaml {
        Ok(Some(yaml)) => {
            let name = format!(
                "attachment; filename=\"{}-rules-{of}.yaml\"",
                at.tenant.name
            );
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/yaml; charset=utf-8".to_owned(),
                    ),
                    (header::CONTENT_DISPOSITION, name),
                ],
                yaml,
            )
                .into_response()
        }
        Ok(None) => Page::not_found(),
        Err(e) => Page::internal(&e),
    }
}

/// What publishing the draft would change: the published set's plan against the draft's
/// (counts, field changes, seats). Plans the whole company twice, so the page asks for
/// it after it has shown itself (htmx), or on a link.
#[derive(Template)]
#[template(path = "rules_impact.html")]
struct Impact {
    not_computed: Option<String>,
    rows: Vec<(&'static str, u64, u64)>,
    fields: Vec<(String, usize)>,
    seats: Vec<(String, u64, u64, String)>,
}

impl Impact {
    fn not_computed(why: String) -> Impact {
        Impact {
            not_computed: Some(why),
            rows: Vec::new(),
            fields: Vec::new(),
            seats: Vec::new(),
        }
    }
}

pub async fn impact(at: InTenant) -> Response {
    let app = &at.signed.app;
    let plans = async {
        let published = app.preview(&at.tenant, None).await?;
        let draft = app.preview_draft(&at.tenant).await?;
        Ok::<_, AppError>((published, draft))
    };
    let (published, draft) = match plans.await {
        Ok(plans) => plans,
        // No draft, nothing published, or rules that no longer compile: nothing to show.
        Err(e @ (AppError::NotFound(_) | AppError::Invalid(_) | AppError::Rules { .. })) => {
            return render(StatusCode::OK, &Impact::not_computed(e.to_string()));
        }
        Err(e) => return Page::internal(&e),
    };
    let (a, b) = (&published.totals, &draft.totals);
    let rows = vec![
        ("will sync", a.users_synced, b.users_synced),
        ("create", a.create, b.create),
        ("update", a.update, b.update),
        ("deprovision", a.deprovision, b.deprovision),
        ("unchanged", a.unchanged, b.unchanged),
        ("error", a.error, b.error),
    ];
    let mut fields = std::collections::BTreeMap::<String, usize>::new();
    for item in &draft.items {
        for change in &item.changes {
            *fields.entry(change.field.to_owned()).or_default() += 1;
        }
    }
    let seats = draft
        .seats
        .iter()
        .map(|s| {
            let before = (published.seats.iter())
                .find(|p| p.user_plan == s.user_plan)
                .map_or(0, |p| p.used);
            let purchased = s
                .purchased
                .map_or_else(|| "no limit".to_owned(), |n| n.to_string());
            (s.user_plan.clone(), before, s.used, purchased)
        })
        .collect();
    render(
        StatusCode::OK,
        &Impact {
            not_computed: None,
            rows,
            fields: fields.into_iter().collect(),
            seats,
        },
    )
}
