//! The tenant's rule set: read, save (only when it compiles against the catalogue),
//! validate without saving, switch one rule on or off, and reorder. Every write names
//! the version it is based on (see `version`).

use super::body::Document;
use super::call::Call;
use super::error::Result;
use super::version;
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

pub async fn get(call: Call) -> Result<Response> {
    call.no_params()?;
    version::respond(call.app.rule_set(&call.tenant).await?)
}

pub async fn put(call: Call, body: Document) -> Result<Response> {
    call.no_params()?;
    let source = rule_source(&body)?;
    let expect = call.expected(Some(&body), RULE_SET)?;
    let comment = "the whole rule set replaced (PUT …/rules)";
    let saved = (call.app)
        .publish_rules(&call.tenant, expect, source, comment)
        .await?;
    version::respond(saved)
}

pub async fn validate(call: Call, body: Document) -> Result<Json<Value>> {
    call.no_params()?;
    let source = rule_source(&body)?;
    let found = call.app.validate_rules(&call.tenant, &source).await?;
    Ok(Json(json!({
        "valid": found.problems.is_empty(),
        "errors": found.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "rules": found.rules,
    })))
}

async fn edit(call: &Call, body: Option<&Document>, edit: RuleEdit) -> Result<Response> {
    let expect = call.expected(body, RULE_SET)?;
    version::respond(call.app.edit_rules(&call.tenant, expect, &edit).await?)
}

async fn switch(call: Call, active: bool) -> Result<Response> {
    call.no_params()?;
    let rule = call.path.get("name")?.to_owned();
    edit(&call, None, RuleEdit::SetActive { rule, active }).await
}

pub async fn activate(call: Call) -> Result<Response> {
    switch(call, true).await
}

pub async fn deactivate(call: Call) -> Result<Response> {
    switch(call, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    order: Vec<String>,
}

/// Puts the rules in the given order, which must name every rule exactly once.
pub async fn order(call: Call, body: Document) -> Result<Response> {
    call.no_params()?;
    let order: OrderBody = body.json()?;
    edit(&call, Some(&body), RuleEdit::Reorder(order.order)).await
}
