//! The tenant's rule set: read, save (only when it compiles against the catalogue),
//! validate without saving, switch one rule on or off, and reorder. Every write names
//! the version it is based on (see `version`).

use super::auth::Admin;
use super::body::Document;
use super::error::Result;
use super::params::{Params, Segments};
use super::{version, AdminState};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use scimgate_rules::RuleEdit;
use scimgate_scheduler::RuleSource;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const RULE_SET: &str = "the rule set";

/// The JSON form of a rule set: the YAML file and the Rhai scripts it names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceBody {
    yaml: String,
    #[serde(default)]
    scripts: BTreeMap<String, String>,
}

/// A rule set from a request body: raw YAML, or JSON `{"yaml", "scripts"}`.
pub fn rule_source(body: &Document) -> Result<RuleSource> {
    match body {
        Document::Yaml(yaml) => Ok(RuleSource {
            yaml: yaml.clone(),
            scripts: BTreeMap::new(),
        }),
        Document::Json(_) => {
            let b: SourceBody = body.json()?;
            Ok(RuleSource {
                yaml: b.yaml,
                scripts: b.scripts,
            })
        }
    }
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn get(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Response> {
    params.only(&[])?;
    version::respond(state.app.rule_set(&admin.tenant).await?)
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn put(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    headers: HeaderMap,
    body: Document,
) -> Result<Response> {
    params.only(&[])?;
    let source = rule_source(&body)?;
    let expect = version::expected(&headers, Some(&body), RULE_SET)?;
    version::respond(state.app.save_rules(&admin.tenant, expect, source).await?)
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn validate(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    body: Document,
) -> Result<Json<Value>> {
    params.only(&[])?;
    let source = rule_source(&body)?;
    let found = state.app.validate_rules(&admin.tenant, &source).await?;
    Ok(Json(json!({
        "valid": found.problems.is_empty(),
        "errors": found.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "rules": found.rules,
    })))
}

async fn edit(
    admin: Admin,
    state: AdminState,
    headers: &HeaderMap,
    body: Option<&Document>,
    edit: RuleEdit,
) -> Result<Response> {
    let expect = version::expected(headers, body, RULE_SET)?;
    version::respond(state.app.edit_rules(&admin.tenant, expect, &edit).await?)
}

async fn switch(
    admin: Admin,
    state: AdminState,
    path: Segments,
    headers: HeaderMap,
    active: bool,
) -> Result<Response> {
    let rule = path.get("name")?.to_owned();
    edit(
        admin,
        state,
        &headers,
        None,
        RuleEdit::SetActive { rule, active },
    )
    .await
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn activate(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
    headers: HeaderMap,
) -> Result<Response> {
    params.only(&[])?;
    switch(admin, state, path, headers, true).await
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn deactivate(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
    headers: HeaderMap,
) -> Result<Response> {
    params.only(&[])?;
    switch(admin, state, path, headers, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    order: Vec<String>,
}

/// Puts the rules in the given order, which must name every rule exactly once.
#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn order(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    headers: HeaderMap,
    body: Document,
) -> Result<Response> {
    params.only(&[])?;
    let order: OrderBody = body.json()?;
    edit(
        admin,
        state,
        &headers,
        Some(&body),
        RuleEdit::Reorder(order.order),
    )
    .await
}
