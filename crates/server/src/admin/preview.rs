//! Preview over HTTP: what a sync would do with the saved rules or a draft (nothing is
//! saved or applied), filtered (`column:operator:value`), sorted and paged with the
//! application's query language; and one user's item with the explanation of every
//! value the rules set.

use super::body::Document;
use super::call::Call;
use super::error::Result;
use super::params::{Page, Params};
use super::rules;
use axum::Json;
use scimgate_app::preview::PreviewQuery;
use scimgate_scheduler::{Plan, PlanItem, RuleSource};
use serde_json::{json, Value};

/// What a preview request asks for: the query, and a page of its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    query: PreviewQuery,
    page: Page,
}

impl Query {
    pub fn parse(params: &Params) -> Result<Query> {
        params.only(&["filter", "sort", "order", "offset", "limit", "rules"])?;
        let query = PreviewQuery::parse(
            params.all("filter"),
            params.one("sort")?,
            params.one("order")?,
        )?;
        Ok(Query {
            query,
            page: params.page()?,
        })
    }

    /// The plan's totals and seats, and the page of its items that match.
    pub fn answer(&self, plan: Plan) -> Value {
        let items = self.query.select(plan.items);
        let total = items.len();
        let page: Vec<PlanItem> = self.page.of(items);
        json!({
            "totals": plan.totals,
            "seats": plan.seats,
            "total_items": total,
            "items": page,
        })
    }
}

async fn preview(call: &Call, draft: Option<&RuleSource>) -> Result<Json<Value>> {
    let query = Query::parse(&call.params)?;
    let plan = call.app.preview(&call.tenant, draft).await?;
    Ok(Json(query.answer(plan)))
}

/// With the published rule set, or the tenant's draft (`?rules=draft`).
pub async fn saved(call: Call) -> Result<Json<Value>> {
    match call.params.one("rules")? {
        None | Some("published") => preview(&call, None).await,
        Some("draft") => {
            let query = Query::parse(&call.params)?;
            let plan = call.app.preview_draft(&call.tenant).await?;
            Ok(Json(query.answer(plan)))
        }
        Some(other) => Err(super::error::ApiError::bad_request(format!(
            "rules={other:?}: preview the published rule set or the draft (rules=published|draft)"
        ))),
    }
}

/// With a draft rule set (the body, as PUT …/rules takes it); nothing is saved.
pub async fn draft(call: Call, body: Document) -> Result<Json<Value>> {
    Query::parse(&call.params)?;
    let draft = rules::rule_source(&body)?;
    preview(&call, Some(&draft)).await
}

/// One user (by id or userName): its plan item and the explanation.
pub async fn user(call: Call) -> Result<Json<Value>> {
    call.no_params()?;
    let wanted = call.path.get("id")?;
    let (item, explanation) = call.app.preview_user(&call.tenant, wanted, None).await?;
    Ok(Json(json!({"item": item, "explanation": explanation})))
}
