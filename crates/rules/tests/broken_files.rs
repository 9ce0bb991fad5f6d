//! Every class of broken rule file is refused with a message that names the rule and the
//! place (`file:line`), docs/design.md §8: bad YAML, unknown keys and settings, bad scopes,
//! bad Rhai, unknown variables, catalogue misses, wrong literal types, ambiguous
//! settings, duplicate names, and scripts that are missing or outside the rule directory.

// Helper functions outside #[test] fns panic on purpose, like testkit's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use scimgate_rules::{LoadError, RuleSet};
use std::path::{Path, PathBuf};

/// `line`, after checking that `text`'s line `line` contains `needle`, so each test both
/// states the line it counted and proves the count.
fn at(text: &str, line: usize, needle: &str) -> usize {
    assert_eq!(
        line_of(text, needle),
        line,
        "the test miscounted: {needle:?} is not on line {line}"
    );
    line
}

/// The error about `rule` whose message contains `needle`, checked to show the rule and
/// `file:line` in its Display form.
fn expect<'a>(errors: &'a [LoadError], rule: &str, line: usize, needle: &str) -> &'a LoadError {
    let error = errors
        .iter()
        .find(|e| e.message.contains(needle))
        .unwrap_or_else(|| panic!("no error mentions {needle:?}:\n{}", show(errors)));
    let shown = error.to_string();
    assert_eq!(error.rule.as_deref(), Some(rule), "{shown}");
    assert!(shown.contains(&format!("rule \"{rule}\": ")), "{shown}");
    let place = error
        .place
        .as_ref()
        .unwrap_or_else(|| panic!("no place: {shown}"));
    assert_eq!(place.file, FILE, "{shown}");
    assert_eq!(place.line, line, "{shown}");
    assert!(
        shown.starts_with(&format!("{FILE}:{line}:")),
        "{shown} should start with {FILE}:{line}:"
    );
    error
}

fn refuse_cat(text: &str) -> Vec<LoadError> {
    refuse(text, Some(&catalog()))
}

// ----------------------------------------------------------------------------- YAML

#[test]
fn bad_yaml_syntax() {
    let text = "\
rules:
  - name: Sales
    set:
      user_plan: Standard
     role: Admin
  - name: Other
    set: { user_plan: Free }
";
    let errors = refuse(text, None);
    assert_eq!(errors.len(), 1, "{}", show(&errors));
    expect(&errors, "Sales", at(text, 5, "role: Admin"), "");

    let text = "\
rules:
  - name: Quotes
    when: 'user.active
  - name: Other
";
    let errors = refuse(text, None);
    assert_eq!(errors.len(), 1, "{}", show(&errors));
    let e = &errors[0];
    assert!(e.place.is_some(), "{e}");
    assert!(e.rule.is_some(), "{e}");

    let text = "\
rules:
  - name: Tabs
    set:
\t  user_plan: Standard
";
    let errors = refuse(text, None);
    expect(&errors, "Tabs", at(text, 4, "user_plan"), "");
}

#[test]
fn yaml_that_is_not_a_rule_file() {
    for text in ["rule: []\n", "- name: A\n", "rules: {}\n", ""] {
        let errors = refuse(text, None);
        assert_eq!(errors.len(), 1, "{text:?}: {}", show(&errors));
        assert!(!errors[0].message.is_empty());
    }
    let errors = refuse("rules: []\nversion: 2\n", None);
    assert!(
        errors[0].message.contains("unknown field `version`"),
        "{}",
        errors[0]
    );
    assert_eq!(errors[0].place.as_ref().map(|p| p.line), Some(2));
    assert_eq!(errors[0].rule, None);
}

#[test]
fn unknown_key_in_a_rule() {
    let text = "\
rules:
  - name: Sales
    applies_to: all
    sett:
      user_plan: Standard
  - name: Other
    set: { user_plan: Free }
";
    let errors = refuse(text, None);
    assert_eq!(errors.len(), 1, "{}", show(&errors));
    let e = expect(
        &errors,
        "Sales",
        at(text, 4, "sett:"),
        "unknown field `sett`",
    );
    assert!(e.message.contains("expected one of"), "{e}");
    assert_eq!(e.place.as_ref().map(|p| p.column), Some(5));
}

#[test]
fn unknown_setting_on_the_last_line_of_a_rule_names_that_rule() {
    let text = "\
rules:
  - name: Sales
    set:
      user_plan: Standard
      licence: Premium
  - name: Other
    set: { user_plan: Free }
";
    let errors = refuse(text, None);
    assert_eq!(errors.len(), 1, "{}", show(&errors));
    expect(
        &errors,
        "Sales",
        at(text, 5, "licence:"),
        "unknown field `licence`",
    );

    // Flow style, second rule.
    let text = "\
rules:
  - name: First
    set: { user_plan: Standard }
  - name: Second
    set: { user_plan: Free, licence: x }
";
    let errors = refuse(text, None);
    expect(
        &errors,
        "Second",
        at(text, 5, "licence"),
        "unknown field `licence`",
    );
}

#[test]
fn unknown_key_in_a_setting() {
    let text = "\
rules:
  - name: Sales
    set:
      user_plan: { value: Standard, mode: sometimes }
";
    let errors = refuse(text, None);
    assert_eq!(errors.len(), 1, "{}", show(&errors));
    expect(
        &errors,
        "Sales",
        at(text, 4, "user_plan"),
        "rules[0].set.user_plan: expected a text, a list of texts, true or false",
    );
}

#[test]
fn rule_named_even_when_name_is_not_its_first_key() {
    let text = "\
rules:
  - name: First
    set: { user_plan: Standard }
  - set:
      user_plan: Free
      licence: x
    name: Second
";
    let errors = refuse(text, None);
    expect(
        &errors,
        "Second",
        at(text, 6, "licence"),
        "unknown field `licence`",
    );
}

#[test]
fn bad_applies_to() {
    let cases = [
        ("applies_to: everyone", "is not `all`"),
        ("applies_to: { membr_of: Sales }", "not `membr_of`"),
        (
            "applies_to: { member_of: Sales, not_member_of: Contractors }",
            "exactly one of member_of or not_member_of",
        ),
        (
            "applies_to: {}",
            "exactly one of member_of or not_member_of",
        ),
    ];
    for (line, needle) in cases {
        let text = format!(
            "\
rules:
  - name: First
    set: {{ user_plan: Standard }}
  - name: Scoped
    {line}
    set: {{ user_plan: Free }}
"
        );
        let errors = refuse(&text, None);
        assert_eq!(errors.len(), 1, "{}", show(&errors));
        expect(&errors, "Scoped", at(&text, 5, "applies_to"), needle);
    }
}

// ----------------------------------------------------------------------------- Rhai

#[test]
fn bad_rhai_syntax_in_when() {
    let text = "\
rules:
  - name: Sales
    applies_to: { member_of: Sales }
    when: 'user.userName =='
    set: { user_plan: Standard }
";
    let errors = refuse(text, None);
    assert_eq!(errors.len(), 1, "{}", show(&errors));
    expect(&errors, "Sales", at(text, 4, "when:"), "when: ");

    // A block scalar: the line of the mistake, below `when: |`.
    let text = "\
rules:
  - name: Block
    when: |
      user.active &&
      user.userName == == \"x\"
    set: { user_plan: Standard }
";
    let errors = refuse(text, None);
    expect(&errors, "Block", at(text, 5, "== =="), "when: ");
}

#[test]
fn bad_rhai_syntax_in_expr() {
    let text = "\
rules:
  - name: Flow
    set:
      user_plan: Standard
      role: { expr: 'if user.active { \"Admin\" ' }
  - name: Nested
    set:
      owner_company:
        mode: if_not_set
        expr: 'user.enterprise.organization ?? '
";
    let errors = refuse(text, None);
    assert_eq!(errors.len(), 2, "{}", show(&errors));
    expect(&errors, "Flow", at(text, 5, "role:"), "role: ");
    expect(
        &errors,
        "Nested",
        at(text, 10, "expr: 'user.enterprise"),
        "owner_company: ",
    );
}

#[test]
fn bad_rhai_syntax_in_a_script() {
    let text = "\
rules:
  - name: Plan
    set: { user_plan: Standard }
  - name: Department
    applies_to: all
    script: department.rhai
";
    let errors = try_load_scripts(
        text,
        &[(
            "department.rhai",
            "let dept = user.enterprise.department;\nlet role = ;\n#{ role: role }\n",
        )],
        None,
    )
    .err()
    .expect("a script that does not compile is refused");
    assert_eq!(errors.len(), 1, "{}", show(&errors));
    let e = expect(
        &errors,
        "Department",
        at(text, 6, "script:"),
        "script department.rhai: ",
    );
    assert!(e.message.contains("(line 2 of department.rhai)"), "{e}");
}

#[test]
fn unknown_variable_is_a_load_error() {
    let text = "\
rules:
  - name: When
    when: 'department == \"Sales\"'
  - name: Expr
    set:
      role: { expr: 'if is_admin { \"Admin\" } else { \"Reader\" }' }
  - name: Script
    script: dept.rhai
";
    let errors = try_load_scripts(
        text,
        &[(
            "dept.rhai",
            "let d = user.enterprise.department;\n#{ role: dept }\n",
        )],
        None,
    )
    .err()
    .expect("unknown variables are refused");
    assert_eq!(errors.len(), 3, "{}", show(&errors));
    expect(&errors, "When", at(text, 3, "when:"), "department");
    expect(&errors, "Expr", at(text, 6, "role:"), "is_admin");
    let e = expect(&errors, "Script", at(text, 8, "script:"), "dept");
    assert!(e.message.contains("(line 2 of dept.rhai)"), "{e}");
    for e in &errors {
        assert!(e.message.contains("Undefined variable"), "{e}");
    }
}

#[test]
fn eval_and_imports_are_refused() {
    let text = "\
rules:
  - name: Eval
    when: 'eval(\"true\")'
  - name: Import
    script: import.rhai
";
    let errors = try_load_scripts(
        text,
        &[("import.rhai", "import \"os\" as os;\n#{}\n")],
        None,
    )
    .err()
    .expect("eval and import are refused");
    assert_eq!(errors.len(), 2, "{}", show(&errors));
    expect(&errors, "Eval", at(text, 3, "when:"), "eval");
    expect(&errors, "Import", at(text, 5, "script:"), "import");
}

// ------------------------------------------------------------------------ catalogue

#[test]
fn literal_not_in_the_catalogue() {
    let text = "\
rules:
  - name: Plan
    set:
      user_plan: Gold
  - name: Company
    set:
      owner_company: { value: Globex, mode: if_not_set }
  - name: Groups
    set:
      primary_group: Sales
      secondary_groups: [EMEA, Nowhere]
  - name: Role
    applies_to: { member_of: Sales }
    set:
      confidential: false
      role: Boss
";
    let errors = refuse_cat(text);
    assert_eq!(errors.len(), 4, "{}", show(&errors));
    expect(
        &errors,
        "Plan",
        at(text, 4, "Gold"),
        "set.user_plan: user plan \"Gold\" is not in the catalogue (known: Standard, Sales Premium, Free)",
    );
    expect(
        &errors,
        "Company",
        at(text, 7, "Globex"),
        "company \"Globex\" is not in the catalogue",
    );
    expect(
        &errors,
        "Groups",
        at(text, 11, "Nowhere"),
        "set.secondary_groups: user group \"Nowhere\" is not in the catalogue",
    );
    expect(
        &errors,
        "Role",
        at(text, 16, "Boss"),
        "set.role: role \"Boss\" is not in the catalogue",
    );
}

// --------------------------------------------------------------- values and settings

#[test]
fn wrong_literal_types() {
    let text = "\
rules:
  - name: Flag as text
    set:
      confidential: \"yes\"
  - name: Text for a list
    set:
      secondary_groups: EMEA
  - name: List for a text
    set:
      role: [Admin, Reader]
  - name: Flag for a plan
    set:
      user_plan: { value: true, mode: if_not_set }
";
    let errors = refuse(text, None);
    assert_eq!(errors.len(), 4, "{}", show(&errors));
    expect(
        &errors,
        "Flag as text",
        at(text, 4, "confidential"),
        "set.confidential: expected true or false, got \"yes\"",
    );
    expect(
        &errors,
        "Text for a list",
        at(text, 7, "secondary_groups"),
        "set.secondary_groups: expected a list of group names",
    );
    expect(
        &errors,
        "List for a text",
        at(text, 10, "role:"),
        "set.role: expected a text",
    );
    expect(
        &errors,
        "Flag for a plan",
        at(text, 13, "user_plan"),
        "set.user_plan: expected a text, got true",
    );

    // A number is none of the literal kinds: serde refuses it.
    let text = "\
rules:
  - name: Number
    set:
      user_plan: 5
";
    let errors = refuse(text, None);
    expect(&errors, "Number", at(text, 4, "user_plan"), "set");
}

#[test]
fn value_and_expr_together_or_neither() {
    let text = "\
rules:
  - name: Both
    set:
      user_plan: Standard
      role: { value: Admin, expr: '\"Admin\"' }
  - name: Neither
    set:
      role: { mode: if_not_set }
";
    let errors = refuse(text, None);
    assert_eq!(errors.len(), 2, "{}", show(&errors));
    expect(
        &errors,
        "Both",
        at(text, 5, "role:"),
        "set.role: give exactly one of value or expr",
    );
    let neither = errors
        .iter()
        .find(|e| e.rule.as_deref() == Some("Neither"))
        .expect("an error for Neither");
    assert_eq!(neither.place.as_ref().map(|p| p.line), Some(8), "{neither}");
}

#[test]
fn duplicate_rule_names() {
    let text = "\
rules:
  - name: Sales
    set: { user_plan: Standard }
  - name: Support
    set: { user_plan: Standard }
  - name: Sales
    set: { role: Admin }
";
    let errors = refuse(text, None);
    assert_eq!(errors.len(), 1, "{}", show(&errors));
    expect(&errors, "Sales", 6, "another rule has the same name");
    assert_eq!(line_of(text, "Support") + 2, 6);
}

#[test]
fn empty_rule_name() {
    let text = "\
rules:
  - name: ''
    set: { user_plan: Standard }
";
    let errors = refuse(text, None);
    expect(&errors, "", 2, "a rule needs a name");
}

#[test]
fn every_broken_rule_is_reported_at_once() {
    let text = "\
rules:
  - name: Good
    set: { user_plan: Standard }
  - name: Bad when
    when: 'user.'
  - name: Bad catalogue
    set: { role: Boss }
  - name: Bad variable
    set: { primary_group: { expr: 'grops[0]' } }
";
    let errors = refuse_cat(text);
    assert_eq!(errors.len(), 3, "{}", show(&errors));
    let rules: Vec<&str> = errors.iter().filter_map(|e| e.rule.as_deref()).collect();
    assert_eq!(rules, ["Bad when", "Bad catalogue", "Bad variable"]);
    let lines: Vec<usize> = errors
        .iter()
        .filter_map(|e| e.place.as_ref().map(|p| p.line))
        .collect();
    assert_eq!(lines, [5, 7, 9]);
}

// ---------------------------------------------------------------------------- scripts

#[test]
fn missing_script_from_yaml() {
    let text = "\
rules:
  - name: Plan
    set: { user_plan: Standard }
  - name: Department
    script: nowhere.rhai
";
    let errors = try_load_scripts(text, &[], None)
        .err()
        .expect("a missing script is refused");
    expect(
        &errors,
        "Department",
        at(text, 5, "script:"),
        "cannot read script \"nowhere.rhai\"",
    );
}

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scimgate-rules-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn load_file(path: &Path) -> Result<RuleSet, Vec<LoadError>> {
    RuleSet::load_file(path, None)
}

#[test]
fn load_file_reads_scripts_next_to_the_rule_file() {
    let dir = scratch("ok");
    std::fs::write(dir.join("plan.rhai"), "#{ user_plan: \"Standard\" }\n").unwrap();
    let file = dir.join("rules.yaml");
    std::fs::write(&file, "rules:\n  - name: Plan\n    script: plan.rhai\n").unwrap();
    let set = load_file(&file).unwrap_or_else(|e| panic!("{}", show(&e)));
    let eval = set.evaluate(&input(alice(), vec![]));
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_file_refuses_missing_and_unsafe_scripts() {
    let dir = scratch("unsafe");
    // A real file outside the rule directory must not be reachable.
    std::fs::write(dir.join("outside.rhai"), "#{}\n").unwrap();
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    let file = dir.join("rules").join("rules.yaml");
    let text = "\
rules:
  - name: Missing
    script: missing.rhai
  - name: Parent
    script: ../outside.rhai
  - name: Absolute
    script: /etc/passwd
  - name: Not rhai
    script: rules.yaml
  - name: Empty
    script: ''
";
    std::fs::write(&file, text).unwrap();
    let errors = load_file(&file).err().expect("refused");
    assert_eq!(errors.len(), 5, "{}", show(&errors));
    let label = file.display().to_string();
    let check = |rule: &str, line: usize, needle: &str| {
        let e = errors
            .iter()
            .find(|e| e.rule.as_deref() == Some(rule))
            .unwrap_or_else(|| panic!("no error for {rule}: {}", show(&errors)));
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{label}:{line}: rule \"{rule}\": ")),
            "{shown}"
        );
        assert!(e.message.contains(needle), "{shown}");
    };
    check(
        "Missing",
        at(text, 3, "missing.rhai"),
        "cannot read script \"missing.rhai\"",
    );
    for (rule, line, name) in [
        ("Parent", 5, "../outside.rhai"),
        ("Absolute", 7, "/etc/passwd"),
        ("Not rhai", 9, "rules.yaml"),
    ] {
        check(
            rule,
            at(text, line, &format!("script: {name}")),
            "must be a .rhai file next to the rule file",
        );
    }
    check("Empty", at(text, 11, "script: ''"), "must be a .rhai file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_file_that_does_not_exist() {
    let dir = scratch("missing");
    let errors = load_file(&dir.join("nope.yaml")).err().expect("refused");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.starts_with("cannot read "),
        "{}",
        errors[0]
    );
    assert!(errors[0].to_string().contains("nope.yaml"), "{}", errors[0]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rhai_syntax_errors_give_line_and_column_in_the_file() {
    let errors = refuse(
        "rules:\n  - name: Flow\n    set:\n      role: { expr: 'user.title +' }\n  - name: Block\n    when: |\n      user.title == \"x\" &&\n        (1 +)\n",
        None,
    );
    let places: Vec<(usize, usize)> = errors
        .iter()
        .map(|e| {
            e.place
                .as_ref()
                .map(|p| (p.line, p.column))
                .unwrap_or_default()
        })
        .collect();
    // `user.title +` starts at column 22 of line 4 and is incomplete at its end (col 34);
    // the stray `)` of the block scalar is at line 8, column 13.
    assert_eq!(places, vec![(4, 34), (8, 13)], "{}", show(&errors));
}
