//! Edits an admin makes to a saved rule file without writing YAML: switch one rule on
//! or off, put the rules in a new order, add, replace or delete one rule (the editor's
//! form). The file is re-serialised, so its comments and layout are lost; the result is
//! compiled (and refused if it does not) like any save.

use crate::form::RuleForm;
use serde_yaml::{Mapping, Value as Yaml};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleEdit {
    /// `active: false` right after `name:` to switch off; no `active` key (the default)
    /// to switch on.
    SetActive {
        rule: String,
        active: bool,
    },
    /// Must name every rule exactly once.
    Reorder(Vec<String>),
    /// A new rule, right after `after` (at the end when `None`).
    Add {
        rule: RuleForm,
        after: Option<String>,
    },
    /// The rule named `rule` replaced, in its place. A form equal to the rule's own
    /// leaves the rule's YAML exactly as it was.
    Replace {
        rule: String,
        with: RuleForm,
    },
    Delete {
        rule: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("no rule named {rule:?} (the rules are: {})", quoted(known))]
    NoRule { rule: String, known: Vec<String> },
    #[error("order must name every rule exactly once; {0}")]
    BadOrder(String),
    /// The saved file cannot be edited this way (not YAML, no `rules:` list).
    #[error("the saved rule set cannot be edited: {0}")]
    Unreadable(String),
    #[error("another rule is already named {0:?}; rule names are unique")]
    NameTaken(String),
    #[error("a rule needs a name")]
    NoName,
    /// The form cannot show this rule exactly; edit it as YAML.
    #[error("rule {rule:?} cannot be edited in the form ({why}); edit it in the YAML view")]
    NotInForm { rule: String, why: String },
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The YAML with `edit` made.
pub fn edit_yaml(yaml: &str, edit: &RuleEdit) -> Result<String, EditError> {
    let mut doc: Yaml =
        serde_yaml::from_str(yaml).map_err(|e| EditError::Unreadable(e.to_string()))?;
    let rules = doc
        .get_mut("rules")
        .and_then(Yaml::as_sequence_mut)
        .ok_or_else(|| EditError::Unreadable("it has no rules list".into()))?;
    match edit {
        RuleEdit::SetActive { rule, active } => set_active(rules, rule, *active)?,
        RuleEdit::Reorder(order) => reorder(rules, order)?,
        RuleEdit::Add { rule, after } => add(rules, rule, after.as_deref())?,
        RuleEdit::Replace { rule, with } => replace(rules, rule, with)?,
        RuleEdit::Delete { rule } => {
            let index = position(rules, rule)?;
            rules.remove(index);
        }
    }
    serde_yaml::to_string(&doc).map_err(|e| EditError::Unreadable(e.to_string()))
}

/// The rule named `name` of a rule file, as the editor's form shows it.
pub fn rule_form(yaml: &str, name: &str) -> Result<RuleForm, EditError> {
    let doc: Yaml = serde_yaml::from_str(yaml).map_err(|e| EditError::Unreadable(e.to_string()))?;
    let rules = doc
        .get("rules")
        .and_then(Yaml::as_sequence)
        .ok_or_else(|| EditError::Unreadable("it has no rules list".into()))?;
    let index = position(rules, name)?;
    RuleForm::of_yaml(&rules[index]).map_err(|why| EditError::NotInForm {
        rule: name.to_owned(),
        why,
    })
}

fn position(rules: &[Yaml], name: &str) -> Result<usize, EditError> {
    rules
        .iter()
        .position(|r| rule_name(r) == Some(name))
        .ok_or_else(|| no_rule(name, rules))
}

/// Refuses a form without a name, or with the name of another rule than `replacing`.
fn check_name(rules: &[Yaml], form: &RuleForm, replacing: Option<&str>) -> Result<(), EditError> {
    let name = form.name.trim();
    if name.is_empty() {
        return Err(EditError::NoName);
    }
    let taken = rules
        .iter()
        .filter_map(rule_name)
        .any(|other| other == name && Some(other) != replacing);
    match taken {
        true => Err(EditError::NameTaken(name.to_owned())),
        false => Ok(()),
    }
}

fn add(rules: &mut Vec<Yaml>, form: &RuleForm, after: Option<&str>) -> Result<(), EditError> {
    check_name(rules, form, None)?;
    let at = match after {
        Some(name) => position(rules, name)? + 1,
        None => rules.len(),
    };
    rules.insert(at, form.to_yaml());
    Ok(())
}

fn replace(rules: &mut [Yaml], name: &str, form: &RuleForm) -> Result<(), EditError> {
    let index = position(rules, name)?;
    check_name(rules, form, Some(name))?;
    // Unchanged: the rule keeps its own YAML (its short or long forms, its key order).
    if RuleForm::of_yaml(&rules[index]).as_ref() != Ok(form) {
        rules[index] = form.to_yaml();
    }
    Ok(())
}

fn rule_name(rule: &Yaml) -> Option<&str> {
    rule.get("name").and_then(Yaml::as_str)
}

fn no_rule(rule: &str, rules: &[Yaml]) -> EditError {
    EditError::NoRule {
        rule: rule.to_owned(),
        known: rules
            .iter()
            .filter_map(rule_name)
            .map(str::to_owned)
            .collect(),
    }
}

fn set_active(rules: &mut [Yaml], name: &str, active: bool) -> Result<(), EditError> {
    let index = position(rules, name)?;
    let Some(rule) = rules[index].as_mapping_mut() else {
        return Err(no_rule(name, rules));
    };
    let mut edited = Mapping::new();
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

fn reorder(rules: &mut Vec<Yaml>, order: &[String]) -> Result<(), EditError> {
    let names: Vec<String> = rules
        .iter()
        .map(|r| rule_name(r).unwrap_or_default().to_owned())
        .collect();
    let first_time = |i: usize, n: &String| !order[..i].contains(n);
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !order.contains(n))
        .cloned()
        .collect();
    let unknown: Vec<String> = order
        .iter()
        .enumerate()
        .filter(|(i, n)| first_time(*i, n) && !names.contains(n))
        .map(|(_, n)| n.clone())
        .collect();
    let mut twice: Vec<String> = Vec::new();
    for (i, n) in order.iter().enumerate() {
        if !first_time(i, n) && !twice.contains(n) {
            twice.push(n.clone());
        }
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("missing: {}", quoted(&missing)));
    }
    if !unknown.is_empty() {
        problems.push(format!("not rules of this set: {}", quoted(&unknown)));
    }
    if !twice.is_empty() {
        problems.push(format!("listed more than once: {}", quoted(&twice)));
    }
    if !problems.is_empty() {
        return Err(EditError::BadOrder(problems.join("; ")));
    }
    let mut by_name: BTreeMap<String, Yaml> = names.into_iter().zip(rules.drain(..)).collect();
    for name in order {
        if let Some(rule) = by_name.remove(name) {
            rules.push(rule);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule_summary;

    const YAML: &str = "rules:\n  - name: A\n    set: { user_plan: X }\n  - name: B\n    active: false\n    set: { user_plan: Y }\n";

    fn set(rule: &str, active: bool) -> RuleEdit {
        RuleEdit::SetActive {
            rule: rule.into(),
            active,
        }
    }

    #[test]
    fn summary_lists_names_and_active() {
        assert_eq!(
            rule_summary(YAML),
            vec![("A".to_owned(), true), ("B".to_owned(), false)]
        );
        assert!(rule_summary(": not yaml: [").is_empty());
    }

    #[test]
    fn switching_a_rule_sets_or_removes_active() {
        let yaml = edit_yaml(YAML, &set("A", false)).unwrap();
        let yaml = edit_yaml(&yaml, &set("B", true)).unwrap();
        assert_eq!(
            rule_summary(&yaml),
            vec![("A".to_owned(), false), ("B".to_owned(), true)]
        );
        assert!(yaml.contains("- name: A\n  active: false\n"), "{yaml}");
        assert!(!yaml.contains("name: B\n  active"), "{yaml}");
        let e = edit_yaml(&yaml, &set("C", true)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no rule named \"C\" (the rules are: \"A\", \"B\")"
        );
    }

    #[test]
    fn reorder_takes_a_permutation_only() {
        let yaml = edit_yaml(YAML, &RuleEdit::Reorder(vec!["B".into(), "A".into()])).unwrap();
        assert_eq!(
            rule_summary(&yaml),
            vec![("B".to_owned(), false), ("A".to_owned(), true)]
        );
        let order = RuleEdit::Reorder(vec!["B".into(), "Z".into(), "Z".into()]);
        let e = edit_yaml(&yaml, &order).unwrap_err().to_string();
        assert!(e.contains("missing: \"A\""), "{e}");
        assert!(e.contains("not rules of this set: \"Z\";"), "{e}");
        assert!(e.contains("listed more than once: \"Z\""), "{e}");
    }

    #[test]
    fn rules_are_added_replaced_and_deleted_through_the_form() {
        let copy = RuleForm {
            name: "A (copy)".into(),
            ..rule_form(YAML, "A").unwrap()
        };
        let after_a = RuleEdit::Add {
            rule: copy.clone(),
            after: Some("A".into()),
        };
        let yaml = edit_yaml(YAML, &after_a).unwrap();
        let names = |yaml: &str| -> Vec<String> {
            rule_summary(yaml).into_iter().map(|(n, _)| n).collect()
        };
        assert_eq!(names(&yaml), ["A", "A (copy)", "B"]);
        let taken = edit_yaml(&yaml, &after_a).unwrap_err();
        assert_eq!(taken, EditError::NameTaken("A (copy)".into()));
        // Renamed in place; an unchanged form leaves the rule's YAML as it was.
        let renamed = RuleEdit::Replace {
            rule: "A (copy)".into(),
            with: RuleForm {
                name: "C".into(),
                ..copy
            },
        };
        let yaml = edit_yaml(&yaml, &renamed).unwrap();
        assert_eq!(names(&yaml), ["A", "C", "B"]);
        let same = RuleEdit::Replace {
            rule: "B".into(),
            with: rule_form(YAML, "B").unwrap(),
        };
        assert_eq!(
            edit_yaml(YAML, &same).unwrap(),
            edit_yaml(YAML, &RuleEdit::Reorder(vec!["A".into(), "B".into()])).unwrap()
        );
        let onto_other = RuleEdit::Replace {
            rule: "C".into(),
            with: RuleForm {
                name: "B".into(),
                ..Default::default()
            },
        };
        assert_eq!(
            edit_yaml(&yaml, &onto_other).unwrap_err(),
            EditError::NameTaken("B".into())
        );
        let nameless = RuleEdit::Add {
            rule: RuleForm::default(),
            after: None,
        };
        assert_eq!(edit_yaml(&yaml, &nameless).unwrap_err(), EditError::NoName);
        let yaml = edit_yaml(&yaml, &RuleEdit::Delete { rule: "C".into() }).unwrap();
        assert_eq!(names(&yaml), ["A", "B"]);
        let gone = edit_yaml(&yaml, &RuleEdit::Delete { rule: "C".into() }).unwrap_err();
        assert!(matches!(gone, EditError::NoRule { .. }));
    }

    #[test]
    fn a_file_without_a_rules_list_cannot_be_edited() {
        let e = edit_yaml("title: x\n", &set("A", true)).unwrap_err();
        assert!(matches!(e, EditError::Unreadable(_)), "{e}");
    }
}
