//! Preview over HTTP: what a sync would do with the published rules or the draft (the
//! stored preview, brought up to date first), filtered (`column:operator:value`),
//! sorted and paged with the application's query language; a draft posted in the body
//! (previewed in memory, nothing saved); and one user's item with the explanation of
//! every value the rules set.

use super::body::Document;
use super::call::Call;
use super::error::{ApiError, Result};
use super::params::{Page, Params};
use super::rules;
use axum::Json;
use scimgate_app::preview::PreviewQuery;
use scimgate_app::preview_page::{self, PageAt};
use scimgate_app::{PreviewRow, PreviewRules};
use scimgate_scheduler::{preview_row, Plan, RuleSource};
use serde_json::{json, Value};
use std::collections::HashMap;

/// What a preview request asks for: the query, and a page of its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    query: PreviewQuery,
    page: Page,
    after: Option<String>,
}

impl Query {
    pub fn parse(params: &Params) -> Result<Query> {
        params.only(&[
            "filter", "sort", "order", "offset", "limit", "rules", "after",
        ])?;
        let query = PreviewQuery::parse(
            params.all("filter"),
            params.one("sort")?,
            params.one("order")?,
        )?;
        let page = params.page()?;
        let after = params.one("after")?.map(str::to_owned);
        if after.is_some() && page.offset > 0 {
            return Err(ApiError::bad_request(
                "after and offset: page with one or the other, not both",
            ));
        }
        Ok(Query { query, page, after })
    }

    /// A plan computed in memory (a posted draft): its totals and seats, and the page
    /// of its items that match.
    fn answer_plan(&self, plan: Plan) -> Value {
        let items = self.query.select(plan.items);
        let total = items.len();
        let none = HashMap::new();
        let page: Vec<Value> = self
            .page
            .of(items)
            .iter()
            .map(|i| item_json(&preview_row(i, &none)))
            .collect();
        json!({
            "totals": plan.totals,
            "seats": plan.seats,
            "deprovisions_held": plan.deprovisions_held,
            "total_items": total,
            "items": page,
        })
    }
}

/// A preview row as the API shows it: the user, the action, and the account it gets
/// (`target`, null when it gets none).
fn item_json(row: &PreviewRow) -> Value {
    let target = row.secondary_groups.as_ref().map(|groups| {
        json!({
            "user_plan": row.user_plan,
            "owner_company": row.owner_company,
            "primary_group": row.primary_group,
            "secondary_groups": groups,
            "role": row.role,
            "confidential": row.confidential,
        })
    });
    json!({
        "user_id": row.user_id,
        "username": row.username,
        "name": row.name,
        "email": row.email,
        "external_id": row.external_id,
        "action": row.action,
        "synced": row.synced,
        "target": target,
        "changed": row.changed,
        "reason": row.reason,
        "set_by": row.set_by,
    })
}

/// With the published rule set, or the tenant's draft (`?rules=draft`).
pub async fn saved(call: Call) -> Result<Json<Value>> {
    let rules = match call.params.one("rules")? {
        None | Some("published") => PreviewRules::Published,
        Some("draft") => PreviewRules::Draft,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
            "rules={other:?}: preview the published rule set or the draft (rules=published|draft)"
        )))
        }
    };
    let query = Query::parse(&call.params)?;
    let preview = call
        .app
        .current_preview(&call.tenant, rules)
        .await?
        .ok_or_else(|| {
            ApiError::from(scimgate_app::AppError::NotFound(
                "there is no draft: save a draft first (PUT …/rules/draft)".into(),
            ))
        })?;
    if let Some(problem) = preview_page::problem(&preview) {
        return Err(problem.into());
    }
    let at = query.after.clone().map_or(PageAt::First, PageAt::After);
    let offset = i64::try_from(query.page.offset).unwrap_or(i64::MAX);
    let limit = i64::try_from(query.page.limit).unwrap_or(i64::MAX);
    let page = call
        .app
        .preview_page(
            &call.tenant,
            rules,
            preview,
            &query.query,
            &at,
            (offset, limit),
        )
        .await?;
    let summary = &page.preview.summary;
    let matching: serde_json::Map<String, Value> = (page.matching.by_action.iter())
        .map(|(action, n)| (action.clone(), json!(n)))
        .collect();
    Ok(Json(json!({
        "rules": rules.name(),
        "rule_version": summary.rule_version,
        "computed_at": page.preview.state.computed_at,
        "totals": summary.totals,
        "seats": summary.seats,
        "deprovisions_held": summary.deprovisions_held,
        "total_items": page.matching.total,
        "matching": matching,
        "items": page.rows.iter().map(item_json).collect::<Vec<_>>(),
        "next": page.next,
    })))
}

/// With a draft rule set (the body, as PUT …/rules takes it); nothing is saved.
pub async fn draft(call: Call, body: Document) -> Result<Json<Value>> {
    let query = Query::parse(&call.params)?;
    if query.after.is_some() {
        return Err(ApiError::bad_request(
            "after: a posted draft's preview pages with offset",
        ));
    }
    let draft: RuleSource = rules::rule_source(&body)?;
    let plan = call.app.preview(&call.tenant, Some(&draft)).await?;
    Ok(Json(query.answer_plan(plan)))
}

/// One user (by id or userName): its plan item and the explanation.
pub async fn user(call: Call) -> Result<Json<Value>> {
    call.no_params()?;
    let wanted = call.path.get("id")?;
    let (item, explanation) = call.app.preview_user(&call.tenant, wanted, None).await?;
    Ok(Json(json!({"item": item, "explanation": explanation})))
}
