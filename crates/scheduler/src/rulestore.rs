//! The tenant's saved rule set: the YAML and the Rhai scripts it names, compiled
//! against the tenant's catalogue whenever it is used.

use crate::{Result, SyncError};
use scimgate_rules::{Catalog, RuleSet};
use scimgate_store::{Store, Tenant};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSource {
    pub yaml: String,
    /// Script file name → text.
    pub scripts: BTreeMap<String, String>,
}

impl RuleSource {
    /// Compiles against the catalogue; `Err` lists every problem, one per line, each
    /// naming the rule and the line.
    pub fn compile(&self, catalog: &Catalog) -> Result<RuleSet, String> {
        let read = |name: &str| {
            self.scripts
                .get(name)
                .cloned()
                .ok_or_else(|| format!("script {name:?} was not uploaded with the rule set"))
        };
        RuleSet::from_yaml("rules.yaml", &self.yaml, &read, Some(catalog)).map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// Reads a rule file and every `.rhai` file beside it that it names.
    pub fn from_file(path: &std::path::Path) -> Result<RuleSource, String> {
        let yaml = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let dir = path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let mut scripts = BTreeMap::new();
        for name in script_names(&yaml) {
            if name.contains("..") || name.starts_with('/') || !name.ends_with(".rhai") {
                continue; // compile() reports it, with the rule's name
            }
            if let Ok(text) = std::fs::read_to_string(dir.join(&name)) {
                scripts.insert(name, text);
            }
        }
        Ok(RuleSource { yaml, scripts })
    }
}

/// The `script:` file names a rule file mentions (a YAML walk: the file may be broken,
/// in which case compiling reports why).
fn script_names(yaml: &str) -> Vec<String> {
    let Ok(value) = serde_yaml::from_str::<serde_json::Value>(yaml) else {
        return Vec::new();
    };
    value
        .get("rules")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
        .filter_map(|rule| rule.get("script").and_then(|s| s.as_str()))
        .map(str::to_owned)
        .collect()
}

pub async fn load(store: &Store, tenant: &Tenant) -> Result<Option<RuleSource>> {
    let Some(row) = sqlx::query("SELECT yaml, scripts FROM rule_sets WHERE tenant_id = $1")
        .bind(tenant.id)
        .fetch_optional(store.pool())
        .await?
    else {
        return Ok(None);
    };
    let scripts: String = row.try_get("scripts")?;
    Ok(Some(RuleSource {
        yaml: row.try_get("yaml")?,
        scripts: serde_json::from_str(&scripts)
            .map_err(|e| SyncError::Corrupt(format!("saved scripts: {e}")))?,
    }))
}

/// Saves a rule set that compiles against the tenant's catalogue; refuses (changing
/// nothing) one that does not.
pub async fn save(
    store: &Store,
    tenant: &Tenant,
    source: &RuleSource,
    catalog: &Catalog,
    now: &str,
) -> Result<RuleSet> {
    let compiled = source.compile(catalog).map_err(SyncError::Rules)?;
    let scripts =
        serde_json::to_string(&source.scripts).map_err(|e| SyncError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO rule_sets (tenant_id, yaml, scripts, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO UPDATE SET yaml = excluded.yaml, scripts = excluded.scripts,
            updated_at = excluded.updated_at",
    )
    .bind(tenant.id)
    .bind(&source.yaml)
    .bind(scripts)
    .bind(now)
    .execute(store.pool())
    .await?;
    Ok(compiled)
}
