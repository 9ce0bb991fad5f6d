//! Preview over HTTP: what a sync would do with the saved rules or a draft (nothing is
//! saved or applied), filtered (`column:operator:value`), sorted and paged with the
//! application's query language; and one user's item with the explanation of every
//! value the rules set.

use super::auth::Admin;
use super::body::Document;
use super::error::Result;
use super::params::{Page, Params, Segments};
use super::{rules, AdminState};
use axum::extract::State;
use axum::Json;
use scimgate_app::preview::PreviewQuery;
use scimgate_scheduler::{Plan, PlanItem, RuleSource};
use scimgate_store::Tenant;
use serde_json::{json, Value};

/// What a preview request asks for: the query, and a page of its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    query: PreviewQuery,
    page: Page,
}

impl Query {
    pub fn parse(params: &Params) -> Result<Query> {
        params.only(&["filter", "sort", "order", "offset", "limit"])?;
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

async fn preview(
    state: &AdminState,
    tenant: &Tenant,
    params: &Params,
    draft: Option<&RuleSource>,
) -> Result<Json<Value>> {
    let query = Query::parse(params)?;
    let plan = state.app.preview(tenant, draft).await?;
    Ok(Json(query.answer(plan)))
}

/// With the saved rule set.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn saved(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<Value>> {
    preview(&state, &admin.tenant, &params, None).await
}

/// With a draft rule set (the body, as PUT …/rules takes it); nothing is saved.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn draft(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    body: Document,
) -> Result<Json<Value>> {
    Query::parse(&params)?;
    let draft = rules::rule_source(&body)?;
    preview(&state, &admin.tenant, &params, Some(&draft)).await
}

/// One user (by id or userName): its plan item and the explanation.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn user(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&[])?;
    let wanted = path.get("id")?;
    let (item, explanation) = state.app.preview_user(&admin.tenant, wanted, None).await?;
    Ok(Json(json!({"item": item, "explanation": explanation})))
}
