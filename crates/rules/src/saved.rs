//! A rule set as saved for a tenant ([`RuleSource`]: the YAML and its scripts), compiled
//! against the catalogue, and read from a file with the scripts beside it.

use crate::{Catalog, LoadError, RuleSet};
use scimgate_core::RuleSource;
use std::collections::BTreeMap;
use std::path::Path;

/// Compiles a saved rule set; `Err` holds every problem, each naming its rule and place.
pub fn compile(source: &RuleSource, catalog: &Catalog) -> Result<RuleSet, Vec<LoadError>> {
    let read = |name: &str| {
        source
            .scripts
            .get(name)
            .cloned()
            .ok_or_else(|| format!("script {name:?} was not uploaded with the rule set"))
    };
    RuleSet::from_yaml("rules.yaml", &source.yaml, &read, Some(catalog))
}

/// Problems as text, one per line.
pub fn problems_text(problems: &[LoadError]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads a rule file and every `.rhai` file beside it that it names.
pub fn read_source_file(path: &Path) -> Result<RuleSource, String> {
    let yaml = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
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

/// `(name, active)` of every rule the YAML lists, in order; empty if it does not parse.
pub fn rule_summary(yaml: &str) -> Vec<(String, bool)> {
    use serde_yaml::Value as Yaml;
    crate::diff::rules_of(yaml)
        .into_iter()
        .map(|(name, rule)| {
            let active = rule.get("active").and_then(Yaml::as_bool).unwrap_or(true);
            (name, active)
        })
        .collect()
}
