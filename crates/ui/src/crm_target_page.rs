//! Settings → CRM target: where the tenant's accounts are pushed (a SCIM 2.0 application
//! or a signed webhook), with Test connection, one account as a push would send it, the
//! queue's depth and the dead pushes to retry. The token is write-only: the page never
//! shows it; a webhook's signing secret is shown once, on the page that saved it.

use crate::forms::{field, version, Fields, Posted};
use crate::pages::{render, Frame, Page};
use crate::session::InTenant;
use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use scimgate_app::{AppError, ConnectionCheck, DeadPush, DriftFix, DriftKind, DriftReport};
use scimgate_app::{ScimCredentials, TargetOptions, TargetSample, TargetSetting};
use scimgate_app::{TargetState, Versioned};
use scimgate_core::{AdminRole, CrmMapping};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "crm_target.html")]
struct CrmTargetPage {
    frame: Frame,
    state: TargetState,
    /// The target's kind (`scim`, `webhook`), empty without one.
    kind: &'static str,
    /// The mapping to edit: the target's, else the default written out.
    mapping: String,
    /// The target signs in with OAuth 2.0 client credentials.
    oauth2: bool,
    version: i64,
    dead: Vec<DeadPush>,
    sample: Option<TargetSample>,
    can_edit: bool,
    problem: Option<String>,
    check: Option<ConnectionCheck>,
    /// A webhook's signing secret, on the page that made it.
    secret: Option<String>,
    /// A reconcile's result, when one was asked for.
    drift: Option<DriftView>,
}

/// A reconcile as the page lists it.
struct DriftView {
    accounts: usize,
    target_users: usize,
    rows: Vec<DriftRow>,
    /// Rows a push can fix (edited and missing).
    fixable: usize,
}

struct DriftRow {
    kind: &'static str,
    username: String,
    target_id: String,
    /// `attribute: expected → found`, one per difference.
    differences: Vec<String>,
    /// The account, for a Fix button (none for an extra user).
    account_pk: Option<i64>,
}

impl DriftView {
    fn of(report: DriftReport) -> DriftView {
        let rows: Vec<DriftRow> = (report.drift.into_iter())
            .map(|d| DriftRow {
                kind: match d.kind {
                    DriftKind::Edited => "Edited on the target",
                    DriftKind::Missing => "Missing on the target",
                    DriftKind::Extra => "Only on the target (left alone)",
                },
                username: d.username,
                target_id: d.target_id.unwrap_or_default(),
                differences: (d.differences.iter())
                    .map(|x| format!("{}: {} → {}", x.attribute, x.expected, x.found))
                    .collect(),
                account_pk: d.account_pk.filter(|_| d.kind != DriftKind::Extra),
            })
            .collect();
        DriftView {
            accounts: report.accounts,
            target_users: report.target_users,
            fixable: rows.iter().filter(|r| r.account_pk.is_some()).count(),
            rows,
        }
    }
}

/// Dead pushes the page lists (the newest).
const DEAD_SHOWN: i64 = 50;

/// What the page shows besides the target.
#[derive(Default)]
struct Extras {
    done: Option<&'static str>,
    problem: Option<(StatusCode, String)>,
    check: Option<ConnectionCheck>,
    secret: Option<String>,
    drift: Option<DriftReport>,
}

fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "saved" => "CRM target saved. Accounts the sync changes from now on are pushed to it.",
        "cleared" => "CRM target removed: accounts stay in scimgate's own table.",
        "retried" => "Dead pushes queued again.",
        "fixed" => {
            "The drifted accounts are queued for a push; check again once they are delivered."
        }
        _ => return None,
    })
}

#[derive(Deserialize)]
pub struct Shown {
    done: Option<String>,
}

async fn page(at: &InTenant, extras: Extras) -> Response {
    let app = &at.signed.app;
    let loaded = async {
        let state = app.crm_target(&at.tenant).await?;
        let dead = app.dead_pushes(&at.tenant, DEAD_SHOWN).await?;
        let sample = app.crm_target_sample(&at.tenant).await?;
        Ok::<_, AppError>((state, dead, sample))
    };
    let (
        Versioned {
            version,
            value: state,
        },
        dead,
        sample,
    ) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => return Page::internal(&e),
    };
    let (status, problem) = match extras.problem {
        Some((status, text)) => (status, Some(text)),
        None => (StatusCode::OK, None),
    };
    let page = CrmTargetPage {
        frame: Frame::tenant("CRM target", at, "settings")
            .with_toast(extras.done.map(str::to_owned)),
        kind: state.target.as_ref().map_or("", |t| t.kind),
        oauth2: state.target.as_ref().is_some_and(|t| t.oauth2.is_some()),
        mapping: (state.target.as_ref().and_then(|t| t.mapping.clone()))
            .unwrap_or_else(|| CrmMapping::default().to_yaml()),
        state,
        version,
        dead,
        sample,
        can_edit: at.signed.account.role.allows(AdminRole::Administrator),
        problem,
        check: extras.check,
        secret: extras.secret,
        drift: extras.drift.map(DriftView::of),
    };
    render(status, &page)
}

pub async fn show(at: InTenant, Query(shown): Query<Shown>) -> Response {
    let done = shown.done.as_deref().and_then(done_text);
    page(
        &at,
        Extras {
            done,
            ..Extras::default()
        },
    )
    .await
}

/// Check for drift: the page with the reconcile's rows. A POST (with the form's CSRF
/// token, by an Administrator): it reads every user of the application.
pub async fn drift(Posted { at, .. }: Posted) -> Response {
    match at.signed.app.crm_drift(&at.tenant).await {
        Ok(report) => {
            let extras = Extras {
                drift: Some(report),
                ..Extras::default()
            };
            page(&at, extras).await
        }
        Err(e) => problem(&at, e).await,
    }
}

/// After an edit: back to the page with what was done, or the page with the problem.
async fn after(at: &InTenant, result: Result<&'static str, AppError>) -> Response {
    let to = |code: &str| format!("/t/{}/settings/crm-target?done={code}", at.tenant.name);
    match result {
        Ok(code) => Redirect::to(&to(code)).into_response(),
        Err(e) => problem(at, e).await,
    }
}

async fn problem(at: &InTenant, e: AppError) -> Response {
    let status = match &e {
        AppError::Invalid(_) | AppError::Unstorable(_) => StatusCode::BAD_REQUEST,
        AppError::Stale(_) | AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Target(_) => StatusCode::BAD_GATEWAY,
        _ => return Page::internal(&e),
    };
    let extras = Extras {
        problem: Some((status, e.to_string())),
        ..Extras::default()
    };
    page(at, extras).await
}

fn setting(fields: &Fields) -> Result<TargetSetting, AppError> {
    let text = |name| field(fields, name).unwrap_or_default().to_owned();
    let url = text("url");
    match (text("kind").as_str(), text("auth").as_str()) {
        ("scim", "oauth2") => Ok(TargetSetting::Scim {
            url,
            credentials: ScimCredentials::OAuth2 {
                token_url: text("token_url"),
                client_id: text("client_id"),
                client_secret: text("client_secret"),
                scope: Some(text("scope")),
            },
        }),
        ("scim", _) => Ok(TargetSetting::Scim {
            url,
            credentials: ScimCredentials::Bearer(text("token")),
        }),
        ("webhook", _) => Ok(TargetSetting::Webhook { url }),
        (other, _) => Err(AppError::Invalid(format!(
            "type: {other:?} is not a kind of target (SCIM 2.0 or webhook)"
        ))),
    }
}

/// The reconcile interval typed (empty: on demand only).
fn hours(typed: Option<&str>) -> Result<Option<u32>, AppError> {
    match typed.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            AppError::Invalid(format!(
                "check for drift every: {text:?} is not a whole number of hours"
            ))
        }),
    }
}

/// Saves the target. A webhook's new signing secret is shown on the page this answers
/// with (once: it is never shown again); otherwise back to the page.
pub async fn save(Posted { at, fields }: Posted) -> Response {
    let saved = async {
        let setting = setting(&fields)?;
        let options = TargetOptions {
            push_all: field(&fields, "push_all").is_some(),
            delete_on_deprovision: field(&fields, "delete_on_deprovision").is_some(),
            mapping: field(&fields, "mapping").map(str::to_owned),
            reconcile_every_hours: hours(field(&fields, "reconcile_every_hours"))?,
        };
        let app = &at.signed.app;
        app.set_crm_target(&at.tenant, version(&fields)?, setting, options)
            .await
    };
    match saved.await {
        Ok(saved) => match saved.value.secret {
            Some(secret) => {
                let extras = Extras {
                    done: Some(
                        "Webhook saved. Copy its signing secret now: it is not shown again.",
                    ),
                    secret: Some(secret),
                    ..Extras::default()
                };
                page(&at, extras).await
            }
            None => after(&at, Ok("saved")).await,
        },
        Err(e) => problem(&at, e).await,
    }
}

/// Test connection: the page again, with how the test went.
pub async fn test(Posted { at, .. }: Posted) -> Response {
    match at.signed.app.test_crm_target(&at.tenant).await {
        Ok(check) => {
            let extras = Extras {
                check: Some(check),
                ..Extras::default()
            };
            page(&at, extras).await
        }
        Err(e) => problem(&at, e).await,
    }
}

pub async fn retry(Posted { at, .. }: Posted) -> Response {
    let result = at.signed.app.retry_pushes(&at.tenant).await;
    after(&at, result.map(|_| "retried")).await
}

/// Pushes one drifted account again (`account`), or all of them (`all`).
pub async fn fix(Posted { at, fields }: Posted) -> Response {
    let result = async {
        let fix = match field(&fields, "account") {
            Some(pk) => DriftFix::Accounts(vec![pk.parse().map_err(|_| {
                AppError::Invalid(format!("account: {pk:?} is not an account number"))
            })?]),
            None => DriftFix::All,
        };
        at.signed.app.fix_crm_drift(&at.tenant, fix).await
    };
    after(&at, result.await.map(|_| "fixed")).await
}

pub async fn clear(Posted { at, fields }: Posted) -> Response {
    let result = async {
        (at.signed.app)
            .clear_crm_target(&at.tenant, version(&fields)?)
            .await
    };
    after(&at, result.await.map(|_| "cleared")).await
}
