//! What changed between two rule sets, rule by rule: rules added, removed, changed (any
//! part of the rule's YAML, its active switch included) and moved (the fewest rules whose
//! moving explains the new order), and the Rhai script files added, removed or changed.
//! Rules are matched by name (names are unique in a rule set that compiles).

use scimgate_core::RuleSource;
use serde::Serialize;
use serde_yaml::Value as Yaml;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleSetDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub moved: Vec<String>,
    pub scripts_added: Vec<String>,
    pub scripts_removed: Vec<String>,
    pub scripts_changed: Vec<String>,
}

impl RuleSetDiff {
    /// How many rules and scripts differ (a rule both changed and moved counts twice).
    pub fn len(&self) -> usize {
        self.added.len()
            + self.removed.len()
            + self.changed.len()
            + self.moved.len()
            + self.scripts_added.len()
            + self.scripts_removed.len()
            + self.scripts_changed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The rules of a rule file as `(name, its YAML)`, in order; none if it does not parse.
pub(crate) fn rules_of(yaml: &str) -> Vec<(String, Yaml)> {
    let Ok(doc) = serde_yaml::from_str::<Yaml>(yaml) else {
        return Vec::new();
    };
    doc.get("rules")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
        .map(|rule| {
            let name = rule.get("name").and_then(Yaml::as_str).unwrap_or_default();
            (name.to_owned(), rule.clone())
        })
        .collect()
}

/// Each rule of a rule file as `(name, the rule's own YAML)`, in order (for showing one
/// rule); none if the file does not parse.
pub fn rule_texts(yaml: &str) -> Vec<(String, String)> {
    rules_of(yaml)
        .into_iter()
        .map(|(name, rule)| {
            let text = serde_yaml::to_string(&rule).unwrap_or_default();
            (name, text)
        })
        .collect()
}

/// The longest common subsequence of two name lists (the rules that kept their order).
fn kept_in_order<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<&'a str> {
    let (n, m) = (old.len(), new.len());
    // lengths[i][j]: the LCS of old[i..] and new[j..].
    let mut lengths = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lengths[i][j] = if old[i] == new[j] {
                lengths[i + 1][j + 1] + 1
            } else {
                lengths[i + 1][j].max(lengths[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut kept) = (0, 0, Vec::new());
    while i < n && j < m {
        if old[i] == new[j] {
            kept.push(old[i]);
            i += 1;
            j += 1;
        } else if lengths[i + 1][j] >= lengths[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    kept
}

/// What changed from `old` to `new`.
pub fn diff(old: &RuleSource, new: &RuleSource) -> RuleSetDiff {
    let (before, after) = (rules_of(&old.yaml), rules_of(&new.yaml));
    let find = |rules: &[(String, Yaml)], name: &str| {
        rules
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, rule)| rule.clone())
    };
    let mut out = RuleSetDiff::default();
    for (name, rule) in &after {
        match find(&before, name) {
            None => out.added.push(name.clone()),
            Some(was) if was != *rule => out.changed.push(name.clone()),
            Some(_) => {}
        }
    }
    for (name, _) in &before {
        if find(&after, name).is_none() {
            out.removed.push(name.clone());
        }
    }
    let common_old: Vec<&str> = (before.iter().map(|(n, _)| n.as_str()))
        .filter(|n| find(&after, n).is_some())
        .collect();
    let common_new: Vec<&str> = (after.iter().map(|(n, _)| n.as_str()))
        .filter(|n| find(&before, n).is_some())
        .collect();
    let kept = kept_in_order(&common_old, &common_new);
    out.moved = common_new
        .iter()
        .filter(|n| !kept.contains(n))
        .map(|n| (*n).to_owned())
        .collect();
    for (file, text) in &new.scripts {
        match old.scripts.get(file) {
            None => out.scripts_added.push(file.clone()),
            Some(was) if was != text => out.scripts_changed.push(file.clone()),
            Some(_) => {}
        }
    }
    out.scripts_removed = (old.scripts.keys())
        .filter(|file| !new.scripts.contains_key(*file))
        .cloned()
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(rules: &[(&str, &str)]) -> RuleSource {
        let mut yaml = String::from("rules:\n");
        for (name, plan) in rules {
            yaml.push_str(&format!(
                "  - name: {name}\n    set:\n      user_plan: {plan:?}\n"
            ));
        }
        RuleSource {
            yaml,
            scripts: Default::default(),
        }
    }

    #[test]
    fn rules_are_added_removed_changed_and_moved() {
        let old = source(&[("A", "P"), ("B", "P"), ("C", "P"), ("D", "P")]);
        // D moved to the top, B removed, C changed, E added.
        let new = source(&[("D", "P"), ("A", "P"), ("C", "Q"), ("E", "P")]);
        let found = diff(&old, &new);
        assert_eq!(found.added, ["E"]);
        assert_eq!(found.removed, ["B"]);
        assert_eq!(found.changed, ["C"]);
        assert_eq!(found.moved, ["D"], "one rule moved explains the order");
        assert_eq!(found.len(), 4);
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn scripts_are_compared_by_file() {
        let mut old = source(&[("A", "P")]);
        old.scripts.insert("a.rhai".into(), "1".into());
        old.scripts.insert("b.rhai".into(), "2".into());
        let mut new = old.clone();
        new.scripts.insert("a.rhai".into(), "10".into());
        new.scripts.remove("b.rhai");
        new.scripts.insert("c.rhai".into(), "3".into());
        let found = diff(&old, &new);
        assert_eq!(
            (
                found.scripts_added,
                found.scripts_removed,
                found.scripts_changed
            ),
            (
                vec!["c.rhai".to_owned()],
                vec!["b.rhai".to_owned()],
                vec!["a.rhai".to_owned()]
            )
        );
    }

    #[test]
    fn a_switched_off_rule_is_changed() {
        let old = source(&[("A", "P")]);
        let new = RuleSource {
            yaml: old
                .yaml
                .replace("- name: A\n", "- name: A\n    active: false\n"),
            ..old.clone()
        };
        assert_eq!(diff(&old, &new).changed, ["A"]);
    }
}
