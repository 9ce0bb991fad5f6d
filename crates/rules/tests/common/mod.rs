//! Helpers shared by the rule crate's test files.
#![allow(dead_code)] // each test file uses a different subset

use scimgate_rules::{
    Catalog, Evaluation, GroupRef, LoadError, RuleOutcome, RuleSet, Setting, SettingTrace,
    SettingValue, UserInput,
};
use serde_json::Value;

pub const FILE: &str = "rules/test.yaml";

/// The catalogue most tests load against: plain names and `{ name, seats }` objects.
pub const CATALOG_YAML: &str = r#"
user_plans:
  - Standard
  - { name: "Sales Premium", seats: 25 }
  - { name: "Free" }
companies: [Acme, "Acme Nordic"]
groups: [Sales, EMEA, Support, Everyone]
roles: [Admin, "Sales user", Reader]
"#;

pub fn catalog() -> Catalog {
    Catalog::from_yaml(CATALOG_YAML).expect("test catalogue parses")
}

fn no_scripts(name: &str) -> Result<String, String> {
    Err(format!("no script {name:?} in this test"))
}

/// Loads without a catalogue; panics with every message when the file is refused.
pub fn load(text: &str) -> RuleSet {
    RuleSet::from_yaml(FILE, text, &no_scripts, None).unwrap_or_else(|e| panic!("{}", show(&e)))
}

/// Loads against [`catalog`].
pub fn load_cat(text: &str) -> RuleSet {
    RuleSet::from_yaml(FILE, text, &no_scripts, Some(&catalog()))
        .unwrap_or_else(|e| panic!("{}", show(&e)))
}

/// Loads with scripts served from `scripts` (name, text).
pub fn load_scripts(text: &str, scripts: &[(&str, &str)]) -> RuleSet {
    try_load_scripts(text, scripts, None).unwrap_or_else(|e| panic!("{}", show(&e)))
}

pub fn try_load_scripts(
    text: &str,
    scripts: &[(&str, &str)],
    catalog: Option<&Catalog>,
) -> Result<RuleSet, Vec<LoadError>> {
    let read = |name: &str| -> Result<String, String> {
        scripts
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| (*t).to_owned())
            .ok_or_else(|| format!("cannot read script {name:?}: not found"))
    };
    RuleSet::from_yaml(FILE, text, &read, catalog)
}

/// The errors of a file that must be refused.
pub fn refuse(text: &str, catalog: Option<&Catalog>) -> Vec<LoadError> {
    match RuleSet::from_yaml(FILE, text, &no_scripts, catalog) {
        Ok(set) => panic!(
            "expected the file to be refused; it loaded with rules {:?}\n{text}",
            set.rule_names()
        ),
        Err(errors) => errors,
    }
}

pub fn show(errors: &[LoadError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn group(name: &str) -> GroupRef {
    GroupRef {
        display_name: name.to_owned(),
        external_id: None,
    }
}

pub fn group_ext(name: &str, external_id: &str) -> GroupRef {
    GroupRef {
        display_name: name.to_owned(),
        external_id: Some(external_id.to_owned()),
    }
}

pub fn input(user: Value, groups: Vec<GroupRef>) -> UserInput {
    UserInput { user, groups }
}

/// A plain active user with the usual Entra attributes.
pub fn alice() -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "alice@contoso.com",
        "name": { "givenName": "Alice", "familyName": "Smith" },
        "active": true,
        "emails": [{ "value": "alice@contoso.com", "type": "work", "primary": true }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Sales",
            "organization": "Acme Nordic"
        }
    })
}

pub fn trace(eval: &Evaluation, setting: Setting) -> &SettingTrace {
    eval.explanation
        .settings
        .iter()
        .find(|t| t.setting == setting)
        .unwrap_or_else(|| panic!("no trace for {setting}"))
}

pub fn outcome<'a>(eval: &'a Evaluation, rule: &str) -> &'a RuleOutcome {
    &eval
        .explanation
        .rules
        .iter()
        .find(|t| t.rule == rule)
        .unwrap_or_else(|| panic!("no trace for rule {rule:?}: {:#?}", eval.explanation))
        .outcome
}

pub fn text(s: &str) -> SettingValue {
    SettingValue::Text(s.to_owned())
}

pub fn list(items: &[&str]) -> SettingValue {
    SettingValue::List(items.iter().map(|s| (*s).to_owned()).collect())
}

/// The 1-based line of the first line of `text` containing `needle`, so tests state
/// which line they mean instead of counting.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} is not in the test text"))
}
