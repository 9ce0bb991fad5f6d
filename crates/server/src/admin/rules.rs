//! The tenant's rule set: read, save (only when it compiles against the catalogue),
//! validate without saving, switch one rule on or off, and reorder.

use super::auth::Admin;
use super::body::{Document, JsonBody};
use super::error::{ApiError, Result};
use super::params::{Params, Segments};
use super::AdminState;
use axum::extract::State;
use axum::Json;
use scimgate_crm::CrmTarget;
use scimgate_scheduler::{rulestore, RuleSource, SyncError};
use scimgate_store::Tenant;
use serde::Deserialize;
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;

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

/// `(name, active)` of every rule the YAML lists, in order; empty if it does not parse.
fn summary(yaml: &str) -> Vec<(String, bool)> {
    let Ok(doc) = serde_yaml::from_str::<Yaml>(yaml) else {
        return Vec::new();
    };
    doc.get("rules")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
        .map(|rule| {
            let name = rule.get("name").and_then(Yaml::as_str).unwrap_or_default();
            let active = rule.get("active").and_then(Yaml::as_bool).unwrap_or(true);
            (name.to_owned(), active)
        })
        .collect()
}

fn rules_json(source: &RuleSource) -> Value {
    let rules: Vec<Value> = summary(&source.yaml)
        .into_iter()
        .map(|(name, active)| json!({"name": name, "active": active}))
        .collect();
    json!({"yaml": source.yaml, "scripts": source.scripts, "rules": rules})
}

async fn saved(state: &AdminState, tenant: &Tenant) -> Result<RuleSource> {
    rulestore::load(&state.store, tenant).await?.ok_or_else(|| {
        ApiError::not_found("this tenant has no rule set yet: save one with PUT …/rules")
    })
}

/// Saves a rule set that compiles against the current catalogue; changes nothing if not.
async fn save(state: &AdminState, tenant: &Tenant, source: &RuleSource) -> Result<Json<Value>> {
    let catalog = state.syncer.crm().catalog(tenant).await?;
    let now = state.syncer.now().to_rfc3339();
    match rulestore::save(&state.store, tenant, source, &catalog, &now).await {
        Ok(_) => Ok(Json(rules_json(source))),
        Err(SyncError::Rules(problems)) => Err(ApiError::bad_request(format!(
            "the rule set was not saved:\n{problems}"
        ))),
        Err(e) => Err(e.into()),
    }
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn get(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&[])?;
    Ok(Json(rules_json(&saved(&state, &admin.tenant).await?)))
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn put(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    body: Document,
) -> Result<Json<Value>> {
    params.only(&[])?;
    let source = rule_source(&body)?;
    save(&state, &admin.tenant, &source).await
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
    let catalog = state.syncer.crm().catalog(&admin.tenant).await?;
    Ok(Json(match source.compile(&catalog) {
        Ok(set) => json!({"valid": true, "errors": [], "rules": set.len()}),
        Err(problems) => json!({
            "valid": false,
            "errors": problems.lines().collect::<Vec<_>>(),
            "rules": summary(&source.yaml).len(),
        }),
    }))
}

/// Edits the `rules:` list of the saved YAML and saves the result (which must compile).
/// The YAML is re-serialised, so its comments and layout are lost.
async fn edit(
    state: &AdminState,
    tenant: &Tenant,
    change: impl FnOnce(&mut Vec<Yaml>) -> Result<()>,
) -> Result<Json<Value>> {
    let source = saved(state, tenant).await?;
    let mut doc: Yaml = serde_yaml::from_str(&source.yaml)
        .map_err(|e| ApiError::internal(&format!("the saved rule set is not YAML: {e}")))?;
    let rules = doc
        .get_mut("rules")
        .and_then(Yaml::as_sequence_mut)
        .ok_or_else(|| ApiError::internal(&"the saved rule set has no rules list"))?;
    change(rules)?;
    let yaml = serde_yaml::to_string(&doc).map_err(|e| ApiError::internal(&e))?;
    save(
        state,
        tenant,
        &RuleSource {
            yaml,
            scripts: source.scripts,
        },
    )
    .await
}

fn rule_name(rule: &Yaml) -> Option<&str> {
    rule.get("name").and_then(Yaml::as_str)
}

fn no_rule(name: &str, rules: &[Yaml]) -> ApiError {
    let names: Vec<String> = rules
        .iter()
        .filter_map(rule_name)
        .map(|n| format!("{n:?}"))
        .collect();
    ApiError::not_found(format!(
        "no rule named {name:?} (the rules are: {})",
        names.join(", ")
    ))
}

/// Sets (`false`) or removes (`true`: the default) a rule's `active:` key, keeping it
/// right after `name:`.
fn set_active(rules: &mut [Yaml], name: &str, active: bool) -> Result<()> {
    let Some(index) = rules.iter().position(|r| rule_name(r) == Some(name)) else {
        return Err(no_rule(name, rules));
    };
    let Some(rule) = rules[index].as_mapping_mut() else {
        return Err(no_rule(name, rules));
    };
    let mut edited = serde_yaml::Mapping::new();
    for (key, value) in std::mem::take(rule) {
        if key.as_str() == Some("active") {
            continue;
        }
        let is_name = key.as_str() == Some("name");
        edited.insert(key, value);
        if is_name && !active {
            edited.insert(Yaml::from("active"), Yaml::Bool(false));
        }
    }
    *rule = edited;
    Ok(())
}

async fn switch(
    admin: Admin,
    state: AdminState,
    path: Segments,
    active: bool,
) -> Result<Json<Value>> {
    let name = path.get("name")?.to_owned();
    edit(&state, &admin.tenant, |rules| {
        set_active(rules, &name, active)
    })
    .await
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn activate(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&[])?;
    switch(admin, state, path, true).await
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn deactivate(
    admin: Admin,
    State(state): State<AdminState>,
    path: Segments,
    params: Params,
) -> Result<Json<Value>> {
    params.only(&[])?;
    switch(admin, state, path, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    order: Vec<String>,
}

/// Puts the rules in the given order, which must name every rule exactly once.
fn reorder(rules: &mut Vec<Yaml>, order: &[String]) -> Result<()> {
    let names: Vec<String> = rules
        .iter()
        .map(|r| rule_name(r).unwrap_or_default().to_owned())
        .collect();
    let quoted = |list: Vec<&String>| {
        list.iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let first_time = |(i, n): &(usize, &String)| !order[..*i].contains(n);
    let missing: Vec<&String> = names.iter().filter(|n| !order.contains(n)).collect();
    let unknown: Vec<&String> = order
        .iter()
        .enumerate()
        .filter(|e| first_time(e) && !names.contains(e.1))
        .map(|(_, n)| n)
        .collect();
    let mut twice: Vec<&String> = Vec::new();
    for (i, n) in order.iter().enumerate() {
        if !first_time(&(i, n)) && !twice.contains(&n) {
            twice.push(n);
        }
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("missing: {}", quoted(missing)));
    }
    if !unknown.is_empty() {
        problems.push(format!("not rules of this set: {}", quoted(unknown)));
    }
    if !twice.is_empty() {
        problems.push(format!("listed more than once: {}", quoted(twice)));
    }
    if !problems.is_empty() {
        return Err(ApiError::bad_request(format!(
            "order must name every rule exactly once; {}",
            problems.join("; ")
        )));
    }
    let mut by_name: BTreeMap<String, Yaml> = names.into_iter().zip(rules.drain(..)).collect();
    for name in order {
        if let Some(rule) = by_name.remove(name) {
            rules.push(rule);
        }
    }
    Ok(())
}

#[tracing::instrument(skip_all, fields(tenant = %admin.tenant.name))]
pub async fn order(
    admin: Admin,
    State(state): State<AdminState>,
    params: Params,
    JsonBody(body): JsonBody<OrderBody>,
) -> Result<Json<Value>> {
    params.only(&[])?;
    edit(&state, &admin.tenant, |rules| reorder(rules, &body.order)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "rules:\n  - name: A\n    set: { user_plan: X }\n  - name: B\n    active: false\n    set: { user_plan: Y }\n";

    fn rules() -> Vec<Yaml> {
        let doc: Yaml = serde_yaml::from_str(YAML).unwrap();
        doc["rules"].as_sequence().unwrap().clone()
    }

    fn listed(rules: Vec<Yaml>) -> Vec<(String, bool)> {
        let mut doc = serde_yaml::Mapping::new();
        doc.insert("rules".into(), Yaml::Sequence(rules));
        summary(&serde_yaml::to_string(&doc).unwrap())
    }

    #[test]
    fn summary_lists_names_and_active() {
        assert_eq!(
            summary(YAML),
            vec![("A".to_owned(), true), ("B".to_owned(), false)]
        );
        assert!(summary(": not yaml: [").is_empty());
    }

    #[test]
    fn switching_a_rule_sets_or_removes_active() {
        let mut r = rules();
        set_active(&mut r, "A", false).unwrap();
        set_active(&mut r, "B", true).unwrap();
        assert_eq!(
            listed(r.clone()),
            vec![("A".to_owned(), false), ("B".to_owned(), true)]
        );
        assert!(r[1].get("active").is_none());
        let text = serde_yaml::to_string(&r[0]).unwrap();
        assert!(text.starts_with("name: A\nactive: false\n"), "{text}");
        let e = set_active(&mut r, "C", true).unwrap_err();
        assert_eq!(e.status.as_u16(), 404);
        assert!(e.message.contains("\"C\"") && e.message.contains("\"A\", \"B\""));
    }

    #[test]
    fn reorder_takes_a_permutation_only() {
        let mut r = rules();
        reorder(&mut r, &["B".into(), "A".into()]).unwrap();
        assert_eq!(
            listed(r.clone()),
            vec![("B".to_owned(), false), ("A".to_owned(), true)]
        );
        let e = reorder(&mut r, &["B".into(), "Z".into(), "Z".into()]).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.contains("missing: \"A\""), "{}", e.message);
        assert!(
            e.message.contains("not rules of this set: \"Z\";"),
            "{}",
            e.message
        );
        assert!(e.message.contains("listed more than once: \"Z\""));
        assert_eq!(r.len(), 2, "a refused order changes nothing");
    }
}
