//! What a rule set does to a user, and how it explains it (docs/design.md §5): order and
//! override, inactive rules, group scope, `when`, `expr`, `script`, the `user` object
//! Rhai sees, and when a user is synced.

// Helper functions outside #[test] fns panic on purpose, like testkit's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use scimgate_rules::{RuleOutcome, Setting, SettingValue};
use serde_json::json;

// ------------------------------------------------------------------ order and override

const ORDER: &str = r#"
rules:
  - name: Base
    set:
      user_plan: Standard
      role: Reader
  - name: Sales
    applies_to: { member_of: Sales }
    set:
      user_plan: { value: "Sales Premium", mode: if_not_set }
      role: "Sales user"
  - name: Admins
    applies_to: { member_of: Admins }
    set:
      role: { value: Admin, mode: always }
  - name: Fallback
    set:
      owner_company: { value: Acme, mode: if_not_set }
      user_plan: { value: Free, mode: if_not_set }
"#;

#[test]
fn always_overrides_earlier_values_and_if_not_set_only_fills_empty_ones() {
    let set = load(ORDER);
    let eval = set.evaluate(&input(alice(), vec![group("Sales"), group("Admins")]));

    assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
    assert_eq!(eval.settings.role.as_deref(), Some("Admin"));
    assert_eq!(eval.settings.owner_company.as_deref(), Some("Acme"));
    assert_eq!(eval.settings.primary_group, None);
    assert!(eval.synced, "{eval:#?}");
    assert!(eval.errors.is_empty());

    // user_plan: set by the first rule; both if_not_set rules left it alone.
    let plan = trace(&eval, Setting::UserPlan);
    assert_eq!(plan.set_by.as_deref(), Some("Base"));
    assert_eq!(plan.value, Some(text("Standard")));
    assert!(plan.overridden.is_empty());

    // role: the short form is `always`, so each matching rule replaced the one before.
    let role = trace(&eval, Setting::Role);
    assert_eq!(role.set_by.as_deref(), Some("Admins"));
    assert_eq!(role.value, Some(text("Admin")));
    assert_eq!(
        role.overridden,
        vec![
            ("Base".to_owned(), text("Reader")),
            ("Sales".to_owned(), text("Sales user")),
        ]
    );

    // owner_company: empty until Fallback, so if_not_set filled it.
    let company = trace(&eval, Setting::OwnerCompany);
    assert_eq!(company.set_by.as_deref(), Some("Fallback"));

    // Settings no rule touched say so.
    for setting in [
        Setting::PrimaryGroup,
        Setting::SecondaryGroups,
        Setting::Confidential,
    ] {
        let t = trace(&eval, setting);
        assert_eq!((t.set_by.as_ref(), t.value.as_ref()), (None, None));
    }

    // Per rule: what it set and what it skipped, and why.
    assert_eq!(
        outcome(&eval, "Sales"),
        &RuleOutcome::Matched {
            set: vec![(Setting::Role, text("Sales user"))],
            skipped: vec!["user_plan: skipped: if_not_set and already \"Standard\"".to_owned()],
        }
    );
    let fallback = outcome(&eval, "Fallback");
    assert_eq!(
        fallback,
        &RuleOutcome::Matched {
            set: vec![(Setting::OwnerCompany, text("Acme"))],
            skipped: vec!["user_plan: skipped: if_not_set and already \"Standard\"".to_owned()],
        }
    );
    let described = fallback.describe();
    assert!(
        described.contains("owner_company = \"Acme\"")
            && described.contains("skipped: if_not_set and already \"Standard\""),
        "{described}"
    );
    // The explanation lists every rule, in order.
    let order: Vec<&str> = eval
        .explanation
        .rules
        .iter()
        .map(|r| r.rule.as_str())
        .collect();
    assert_eq!(order, ["Base", "Sales", "Admins", "Fallback"]);
    // And every setting, in the fixed order.
    let settings: Vec<Setting> = eval
        .explanation
        .settings
        .iter()
        .map(|t| t.setting)
        .collect();
    assert_eq!(settings, Setting::ALL);
}

#[test]
fn order_is_priority_the_last_always_rule_wins() {
    let forward = load(
        r#"
rules:
  - name: First
    set: { role: Reader }
  - name: Second
    set: { role: Admin }
"#,
    );
    let backward = load(
        r#"
rules:
  - name: Second
    set: { role: Admin }
  - name: First
    set: { role: Reader }
"#,
    );
    let user = input(alice(), vec![]);
    assert_eq!(
        forward.evaluate(&user).settings.role.as_deref(),
        Some("Admin")
    );
    assert_eq!(
        backward.evaluate(&user).settings.role.as_deref(),
        Some("Reader")
    );
    assert_eq!(
        trace(&backward.evaluate(&user), Setting::Role).overridden,
        vec![("Second".to_owned(), text("Admin"))]
    );
}

#[test]
fn if_not_set_first_one_wins_and_a_user_outside_a_group_gets_the_fallback() {
    let set = load(ORDER);
    // Not in Sales or Admins: Base sets everything, the group rules explain why not.
    let eval = set.evaluate(&input(alice(), vec![group("Support")]));
    assert_eq!(eval.settings.role.as_deref(), Some("Reader"));
    assert_eq!(
        outcome(&eval, "Sales"),
        &RuleOutcome::NotApplicable {
            reason: "not member of \"Sales\"".to_owned()
        }
    );
    assert_eq!(
        outcome(&eval, "Sales").describe(),
        "not member of \"Sales\""
    );
    assert_eq!(
        outcome(&eval, "Admins").describe(),
        "not member of \"Admins\""
    );

    // Two if_not_set rules: the first one fills the field, the second is skipped.
    let set = load(
        r#"
rules:
  - name: A
    set: { user_plan: { value: Standard, mode: if_not_set } }
  - name: B
    set: { user_plan: { value: Free, mode: if_not_set } }
"#,
    );
    let eval = set.evaluate(&input(alice(), vec![]));
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
    assert_eq!(
        outcome(&eval, "B"),
        &RuleOutcome::Matched {
            set: vec![],
            skipped: vec!["user_plan: skipped: if_not_set and already \"Standard\"".to_owned()],
        }
    );
}

#[test]
fn inactive_rules_are_skipped_and_say_so() {
    let set = load(
        r#"
rules:
  - name: Old plan
    active: false
    set:
      user_plan: Free
      role: Admin
  - name: Standard
    active: true
    set:
      user_plan: { value: Standard, mode: if_not_set }
"#,
    );
    let eval = set.evaluate(&input(alice(), vec![]));
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
    assert_eq!(eval.settings.role, None);
    assert_eq!(outcome(&eval, "Old plan"), &RuleOutcome::Inactive);
    assert_eq!(outcome(&eval, "Old plan").describe(), "inactive");
    let plan = trace(&eval, Setting::UserPlan);
    assert_eq!(plan.set_by.as_deref(), Some("Standard"));
    assert!(plan.overridden.is_empty());

    // An inactive rule is skipped before its scope or its Rhai is looked at: a `when`
    // that would fail does not run.
    let set = load(
        r#"
rules:
  - name: Broken but off
    active: false
    applies_to: { member_of: Sales }
    when: 'user.userName'
    set: { user_plan: Free }
"#,
    );
    let eval = set.evaluate(&input(alice(), vec![group("Sales")]));
    assert_eq!(outcome(&eval, "Broken but off"), &RuleOutcome::Inactive);
    assert!(eval.errors.is_empty());
}

// ------------------------------------------------------------------------ group scope

const SCOPES: &str = r#"
rules:
  - name: Sales
    applies_to: { member_of: Sales }
    set: { role: "Sales user" }
  - name: By external id
    applies_to: { member_of: "0f6c1a2b-7d4e-4c1a-9b1e-5a5a5a5a5a5a" }
    set: { primary_group: EMEA }
  - name: Not contractors
    applies_to: { not_member_of: Contractors }
    set: { user_plan: Standard }
  - name: Not contractors by id
    applies_to: { not_member_of: "c-0001" }
    set: { owner_company: Acme }
  - name: Everyone
    applies_to: all
    set: { confidential: false }
"#;

#[test]
fn member_of_matches_display_name_case_insensitively() {
    let set = load(SCOPES);
    for name in ["Sales", "sales", "SALES"] {
        let eval = set.evaluate(&input(alice(), vec![group(name)]));
        assert_eq!(eval.settings.role.as_deref(), Some("Sales user"), "{name}");
        assert!(matches!(
            outcome(&eval, "Sales"),
            RuleOutcome::Matched { .. }
        ));
    }
}

#[test]
fn member_of_matches_external_id_case_insensitively() {
    let set = load(SCOPES);
    let eval = set.evaluate(&input(
        alice(),
        vec![group_ext("Europe", "0F6C1A2B-7D4E-4C1A-9B1E-5A5A5A5A5A5A")],
    ));
    assert_eq!(eval.settings.primary_group.as_deref(), Some("EMEA"));
    assert_eq!(
        trace(&eval, Setting::PrimaryGroup).set_by.as_deref(),
        Some("By external id")
    );
    // The display name alone is not the external id.
    let eval = set.evaluate(&input(alice(), vec![group("Europe")]));
    assert_eq!(eval.settings.primary_group, None);
    assert_eq!(
        outcome(&eval, "By external id").describe(),
        "not member of \"0f6c1a2b-7d4e-4c1a-9b1e-5a5a5a5a5a5a\""
    );
}

#[test]
fn not_member_of_excludes_members_by_name_and_by_external_id() {
    let set = load(SCOPES);
    // Neither group: both not_member_of rules apply.
    let eval = set.evaluate(&input(alice(), vec![group("Sales")]));
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
    assert_eq!(eval.settings.owner_company.as_deref(), Some("Acme"));
    assert!(eval.synced);

    // A contractor (display name in another case, external id in another case).
    let eval = set.evaluate(&input(alice(), vec![group_ext("contractors", "C-0001")]));
    assert_eq!(eval.settings.user_plan, None);
    assert_eq!(eval.settings.owner_company, None);
    assert_eq!(
        outcome(&eval, "Not contractors"),
        &RuleOutcome::NotApplicable {
            reason: "member of \"Contractors\"".to_owned()
        }
    );
    assert_eq!(
        outcome(&eval, "Not contractors by id").describe(),
        "member of \"c-0001\""
    );
    assert_eq!(eval.settings.confidential, Some(false));
    assert!(!eval.synced);
    assert_eq!(
        eval.not_synced_because.as_deref(),
        Some("no rule gave the user a user plan")
    );
}

#[test]
fn applies_to_is_checked_before_when() {
    // The `when` would fail (not a boolean), but the user is outside the scope.
    let set = load(
        r#"
rules:
  - name: Sales only
    applies_to: { member_of: Sales }
    when: 'user.userName'
    set: { user_plan: Standard }
"#,
    );
    let eval = set.evaluate(&input(alice(), vec![group("Support")]));
    assert!(eval.errors.is_empty(), "{:?}", eval.errors);
    assert_eq!(
        outcome(&eval, "Sales only").describe(),
        "not member of \"Sales\""
    );
}

#[test]
fn member_of_helper_and_groups_array_in_rhai() {
    let set = load(
        r#"
rules:
  - name: Helper by name
    when: 'member_of("SALES")'
    set: { role: "Sales user" }
  - name: Helper by external id
    when: 'member_of("g-emea")'
    set: { primary_group: EMEA }
  - name: Groups array
    set:
      secondary_groups: { expr: 'groups' }
      owner_company: { expr: 'if "Sales" in groups { "Acme" } else { "Other" }' }
"#,
    );
    let eval = set.evaluate(&input(
        alice(),
        vec![group("Sales"), group_ext("Europe", "G-EMEA")],
    ));
    assert_eq!(eval.settings.role.as_deref(), Some("Sales user"));
    assert_eq!(eval.settings.primary_group.as_deref(), Some("EMEA"));
    // `groups` holds the display names.
    assert_eq!(
        eval.settings.secondary_groups,
        Some(vec!["Sales".to_owned(), "Europe".to_owned()])
    );
    assert_eq!(eval.settings.owner_company.as_deref(), Some("Acme"));

    let eval = set.evaluate(&input(alice(), vec![]));
    assert_eq!(outcome(&eval, "Helper by name"), &RuleOutcome::WhenFalse);
    assert_eq!(eval.settings.secondary_groups, Some(vec![]));
    assert_eq!(eval.settings.owner_company.as_deref(), Some("Other"));
}

// ------------------------------------------------------------------------------- when

const WHEN: &str = r#"
rules:
  - name: Sales department
    when: 'user.enterprise.department == "Sales"'
    set: { role: "Sales user" }
  - name: Unit when
    when: 'user.enterprise.costCenter'
    set: { primary_group: EMEA }
  - name: Plan
    set: { user_plan: Standard }
"#;

#[test]
fn when_true_matches_false_and_unit_do_not() {
    let set = load(WHEN);
    let eval = set.evaluate(&input(alice(), vec![]));
    assert_eq!(eval.settings.role.as_deref(), Some("Sales user"));
    assert!(matches!(
        outcome(&eval, "Sales department"),
        RuleOutcome::Matched { .. }
    ));
    // A missing attribute is `()`, taken as false.
    assert_eq!(outcome(&eval, "Unit when"), &RuleOutcome::WhenFalse);
    assert_eq!(outcome(&eval, "Unit when").describe(), "when was false");
    assert_eq!(eval.settings.primary_group, None);

    let mut hr = alice();
    hr["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] = json!("HR");
    let eval = set.evaluate(&input(hr, vec![]));
    assert_eq!(outcome(&eval, "Sales department"), &RuleOutcome::WhenFalse);
    assert_eq!(eval.settings.role, None);
    assert_eq!(trace(&eval, Setting::Role).set_by, None);
    assert!(eval.synced);
}

#[test]
fn when_that_is_not_a_boolean_is_an_error_naming_the_rule() {
    let set = load(
        r#"
rules:
  - name: Text when
    when: 'user.userName'
    set: { user_plan: Free }
  - name: Number when
    when: '1 + 1'
    set: { role: Admin }
  - name: Plan
    set: { user_plan: Standard }
"#,
    );
    let eval = set.evaluate(&input(alice(), vec![]));
    assert_eq!(eval.errors.len(), 2, "{:?}", eval.errors);
    assert_eq!(eval.errors[0].rule, "Text when");
    assert!(
        eval.errors[0]
            .message
            .contains("when must be true or false, got string"),
        "{}",
        eval.errors[0].message
    );
    assert_eq!(eval.errors[1].rule, "Number when");
    match outcome(&eval, "Text when") {
        RuleOutcome::Failed { error } => assert!(error.contains("when must be true or false")),
        other => panic!("{other:?}"),
    }
    assert!(outcome(&eval, "Number when")
        .describe()
        .starts_with("error: when must be true or false"));
    // The failed rules set nothing; later rules still run.
    assert_eq!(eval.settings.role, None);
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
    // A rule error keeps the user from being synced.
    assert!(!eval.synced);
    assert_eq!(
        eval.not_synced_because.as_deref(),
        Some("rule \"Text when\" failed")
    );
}

// ------------------------------------------------------------------------------- expr

#[test]
fn expr_for_every_kind_of_setting() {
    let set = load(
        r#"
rules:
  - name: Computed
    set:
      user_plan: { expr: 'if member_of("Sales") { "Sales Premium" } else { "Standard" }' }
      owner_company: { expr: 'user.enterprise.organization ?? "Acme"', mode: if_not_set }
      primary_group: { expr: 'upper(user.enterprise.department)' }
      secondary_groups: { expr: 'groups.filter(|g| g != "Everyone")' }
      role:
        expr: 'if has_role("Admin") { "Admin" } else { () }'
      confidential: { expr: 'user.enterprise.department == "HR"' }
"#,
    );
    let eval = set.evaluate(&input(
        alice(),
        vec![group("Sales"), group("Everyone"), group("EMEA")],
    ));
    assert!(eval.errors.is_empty(), "{:?}", eval.errors);
    let s = &eval.settings;
    assert_eq!(s.user_plan.as_deref(), Some("Sales Premium"));
    assert_eq!(s.owner_company.as_deref(), Some("Acme Nordic"));
    assert_eq!(s.primary_group.as_deref(), Some("SALES"));
    assert_eq!(
        s.secondary_groups,
        Some(vec!["Sales".to_owned(), "EMEA".to_owned()])
    );
    assert_eq!(s.role, None);
    assert_eq!(s.confidential, Some(false));
    assert_eq!(
        trace(&eval, Setting::Confidential).value,
        Some(SettingValue::Flag(false))
    );
    assert_eq!(
        trace(&eval, Setting::SecondaryGroups).value,
        Some(list(&["Sales", "EMEA"]))
    );
    // `()` from an expression means "no value": explained, not an error.
    match outcome(&eval, "Computed") {
        RuleOutcome::Matched { set, skipped } => {
            assert_eq!(set.len(), 5);
            assert_eq!(skipped, &vec!["role: expression gave no value".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn expr_of_the_wrong_type_is_an_error_and_the_rule_sets_nothing() {
    let set = load(
        r#"
rules:
  - name: Number for text
    set: { role: { expr: '42' } }
  - name: Text for list
    set: { secondary_groups: { expr: '"EMEA"' } }
  - name: Mixed list
    set: { secondary_groups: { expr: '["EMEA", 1]' } }
  - name: Text for flag
    set: { confidential: { expr: '"yes"' } }
  - name: Half
    set:
      user_plan: Free
      role: { expr: '[]' }
  - name: Runtime error
    set: { owner_company: { expr: 'user.emails[5].value' } }
  - name: Plan
    set: { user_plan: { value: Standard, mode: if_not_set } }
"#,
    );
    let eval = set.evaluate(&input(alice(), vec![]));
    let failed: Vec<&str> = eval.errors.iter().map(|e| e.rule.as_str()).collect();
    assert_eq!(
        failed,
        [
            "Number for text",
            "Text for list",
            "Mixed list",
            "Text for flag",
            "Half",
            "Runtime error"
        ]
    );
    assert!(
        eval.errors[0]
            .message
            .contains("role expects a text, the expression gave i64"),
        "{}",
        eval.errors[0].message
    );
    assert!(eval.errors[1]
        .message
        .contains("secondary_groups expects a list of group names"));
    assert!(eval.errors[3]
        .message
        .contains("confidential expects true or false"));
    // A rule that fails half-way sets nothing, not even its literal.
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
    assert_eq!(
        trace(&eval, Setting::UserPlan).set_by.as_deref(),
        Some("Plan")
    );
    assert_eq!(eval.settings.role, None);
    assert_eq!(eval.settings.secondary_groups, None);
    assert_eq!(eval.settings.confidential, None);
    assert_eq!(eval.settings.owner_company, None);
    for rule in failed {
        assert!(
            matches!(outcome(&eval, rule), RuleOutcome::Failed { .. }),
            "{rule}"
        );
    }
    assert!(!eval.synced);
    assert_eq!(
        eval.not_synced_because.as_deref(),
        Some("rule \"Number for text\" failed")
    );
}

#[test]
fn string_helpers() {
    let set = load(
        r#"
rules:
  - name: Helpers
    set:
      user_plan: { expr: 'lower("STANDARD")' }
      owner_company: { expr: 'email_domain(user.primary_email)' }
      primary_group: { expr: 'trim("  EMEA  ")' }
      role: { expr: 'upper(user.name.givenName)' }
"#,
    );
    let mut user = alice();
    user["emails"][0]["value"] = json!("Alice@Contoso.COM");
    let eval = set.evaluate(&input(user, vec![]));
    assert!(eval.errors.is_empty(), "{:?}", eval.errors);
    assert_eq!(eval.settings.user_plan.as_deref(), Some("standard"));
    assert_eq!(eval.settings.owner_company.as_deref(), Some("contoso.com"));
    assert_eq!(eval.settings.primary_group.as_deref(), Some("EMEA"));
    assert_eq!(eval.settings.role.as_deref(), Some("ALICE"));
}

// ----------------------------------------------------------------------------- script

const SCRIPT_RULES: &str = r#"
rules:
  - name: Base
    set:
      user_plan: Standard
      role: Reader
  - name: Department script
    script: department.rhai
  - name: Maybe confidential
    script: hr.rhai
"#;

const DEPARTMENT_RHAI: &str = r#"
// Sales people get the sales role and two groups; everyone else stays as they are.
let dept = user.enterprise.department;
if dept == "Sales" {
    #{ role: "Sales user", secondary_groups: ["EMEA", "Sales"], confidential: false }
} else {
    #{}
}
"#;

const HR_RHAI: &str = r#"
if user.enterprise.department == "HR" { #{ confidential: true } }
"#;

#[test]
fn script_returning_a_map_sets_those_settings_with_mode_always() {
    let set = load_scripts(
        SCRIPT_RULES,
        &[("department.rhai", DEPARTMENT_RHAI), ("hr.rhai", HR_RHAI)],
    );
    let eval = set.evaluate(&input(alice(), vec![]));
    assert!(eval.errors.is_empty(), "{:?}", eval.errors);
    assert_eq!(eval.settings.role.as_deref(), Some("Sales user"));
    assert_eq!(
        eval.settings.secondary_groups,
        Some(vec!["EMEA".to_owned(), "Sales".to_owned()])
    );
    assert_eq!(eval.settings.confidential, Some(false));
    let role = trace(&eval, Setting::Role);
    assert_eq!(role.set_by.as_deref(), Some("Department script"));
    assert_eq!(role.overridden, vec![("Base".to_owned(), text("Reader"))]);
    // `()` from a script sets nothing and is not an error.
    assert_eq!(
        outcome(&eval, "Maybe confidential"),
        &RuleOutcome::Matched {
            set: vec![],
            skipped: vec![]
        }
    );
    assert_eq!(outcome(&eval, "Maybe confidential").describe(), "matched");

    let mut hr = alice();
    hr["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] = json!("HR");
    let eval = set.evaluate(&input(hr, vec![]));
    assert_eq!(eval.settings.role.as_deref(), Some("Reader"));
    assert_eq!(eval.settings.confidential, Some(true));
    assert_eq!(
        trace(&eval, Setting::Confidential).set_by.as_deref(),
        Some("Maybe confidential")
    );
    // An empty map matched and set nothing.
    assert_eq!(outcome(&eval, "Department script").describe(), "matched");
}

#[test]
fn script_with_scope_and_when() {
    let set = load_scripts(
        r#"
rules:
  - name: Sales script
    applies_to: { member_of: Sales }
    when: 'user.active'
    script: sales.rhai
"#,
        &[("sales.rhai", r#"#{ user_plan: "Sales Premium" }"#)],
    );
    let eval = set.evaluate(&input(alice(), vec![group("Sales")]));
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Sales Premium"));
    let eval = set.evaluate(&input(alice(), vec![]));
    assert_eq!(eval.settings.user_plan, None);
    assert_eq!(
        outcome(&eval, "Sales script").describe(),
        "not member of \"Sales\""
    );
}

#[test]
fn script_errors_name_the_rule_and_the_script() {
    let set = load_scripts(
        r#"
rules:
  - name: Not a map
    script: scalar.rhai
  - name: Unknown setting
    script: unknown.rhai
  - name: Wrong type
    script: wrong_type.rhai
  - name: Runtime
    script: runtime.rhai
  - name: Plan
    set: { user_plan: Standard }
"#,
        &[
            ("scalar.rhai", r#""Admin""#),
            ("unknown.rhai", r#"#{ licence: "Standard" }"#),
            ("wrong_type.rhai", r#"#{ confidential: "yes" }"#),
            (
                "runtime.rhai",
                "let first = user.emails[3];\n#{ role: first.value }",
            ),
        ],
    );
    let eval = set.evaluate(&input(alice(), vec![]));
    let by_rule = |rule: &str| {
        eval.errors
            .iter()
            .find(|e| e.rule == rule)
            .unwrap_or_else(|| panic!("no error for {rule}: {:?}", eval.errors))
            .message
            .clone()
    };
    let m = by_rule("Not a map");
    assert!(
        m.contains("script scalar.rhai must return a map of settings"),
        "{m}"
    );
    let m = by_rule("Unknown setting");
    assert!(
        m.contains("script unknown.rhai returned unknown setting \"licence\""),
        "{m}"
    );
    let m = by_rule("Wrong type");
    assert!(m.contains("confidential expects true or false"), "{m}");
    let m = by_rule("Runtime");
    assert!(m.starts_with("script runtime.rhai: "), "{m}");
    assert_eq!(eval.errors.len(), 4);
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
    assert!(!eval.synced);
    assert_eq!(
        eval.not_synced_because.as_deref(),
        Some("rule \"Not a map\" failed")
    );
}

#[test]
fn let_variables_do_not_leak_between_rules_or_users() {
    let set = load_scripts(
        r#"
rules:
  - name: Defines
    script: defines.rhai
  - name: Looks
    script: looks.rhai
  - name: Looks in when
    when: 'is_def_var("plan") || is_def_var("secret")'
    set: { owner_company: Acme }
"#,
        &[
            (
                "defines.rhai",
                r#"let plan = "Standard"; let secret = 42; #{ user_plan: plan }"#,
            ),
            (
                "looks.rhai",
                r#"
let leaked = is_def_var("plan") || is_def_var("secret");
#{ role: if leaked { "Admin" } else { "Reader" } }
"#,
            ),
        ],
    );
    for _ in 0..2 {
        let eval = set.evaluate(&input(alice(), vec![]));
        assert!(eval.errors.is_empty(), "{:?}", eval.errors);
        assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
        assert_eq!(eval.settings.role.as_deref(), Some("Reader"));
        assert_eq!(outcome(&eval, "Looks in when"), &RuleOutcome::WhenFalse);
    }
}

#[test]
fn user_and_groups_are_read_only() {
    // A script that changes its copy of `user` does not change what the next rule sees.
    let set = load_scripts(
        r#"
rules:
  - name: Writer
    script: writer.rhai
  - name: Reader
    set: { owner_company: { expr: 'user.enterprise.organization' } }
"#,
        &[(
            "writer.rhai",
            "let u = user; u.enterprise.organization = \"Hacked\"; #{}",
        )],
    );
    let eval = set.evaluate(&input(alice(), vec![]));
    assert!(eval.errors.is_empty(), "{:?}", eval.errors);
    assert_eq!(eval.settings.owner_company.as_deref(), Some("Acme Nordic"));

    // Changing `user` or `groups` themselves fails the rule (naming it); the next rule
    // still sees what the IdP sent.
    for script in [
        "user = #{}; #{}",
        "user.enterprise.organization = \"Hacked\"; #{}",
        "groups.push(\"Admins\"); #{}",
    ] {
        let set = load_scripts(
            r#"
rules:
  - name: Assigns
    script: assign.rhai
  - name: Reader
    set:
      owner_company: { expr: 'user.enterprise.organization' }
      secondary_groups: { expr: 'groups' }
"#,
            &[("assign.rhai", script)],
        );
        let eval = set.evaluate(&input(alice(), vec![group("Sales")]));
        assert_eq!(eval.errors.len(), 1, "{script}: {:?}", eval.errors);
        assert_eq!(eval.errors[0].rule, "Assigns");
        assert!(
            eval.errors[0].message.contains("constant"),
            "{}",
            eval.errors[0].message
        );
        assert_eq!(eval.settings.owner_company.as_deref(), Some("Acme Nordic"));
        assert_eq!(
            eval.settings.secondary_groups,
            Some(vec!["Sales".to_owned()])
        );
    }

    // A top-level property assignment is not refused by Rhai, but it only changes the
    // script's own copy: the next rule still sees what the IdP sent.
    let set = load_scripts(
        r#"
rules:
  - name: Retitles
    script: retitle.rhai
  - name: Reader
    set: { role: { expr: 'if user.displayName == "Hacked" { "Hacked" } else { ()  }' } }
"#,
        &[("retitle.rhai", "user.displayName = \"Hacked\"; #{}")],
    );
    let eval = set.evaluate(&input(alice(), vec![]));
    assert_eq!(eval.settings.role, None, "{:?}", eval.explanation.rules);
}

// --------------------------------------------------------- what Rhai sees of the user

#[test]
fn missing_attributes_are_unit_not_errors() {
    let set = load(
        r#"
rules:
  - name: Given name
    set:
      owner_company: { expr: 'user.name.givenName' }
  - name: Department
    set:
      primary_group: { expr: 'user.enterprise.department ?? "Everyone"' }
  - name: Manager
    when: 'user.enterprise.manager.value == ()'
    set: { role: Reader }
  - name: No mail
    when: 'user.primary_email == () && user.emails.len() == 0 && user.roles.len() == 0'
    set: { secondary_groups: ["No mail"] }
  - name: Active by default
    when: 'user.active'
    set: { user_plan: Standard }
"#,
    );
    for user in [
        json!({ "userName": "bob" }),
        // Wrong types where complex or multi-valued attributes belong read as missing.
        json!({ "userName": "bob", "name": "Bob", "emails": "bob@x", "roles": 5,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": "Sales" }),
        json!({ "userName": "bob", "name": null, "emails": null, "active": null,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "manager": "m-1" } }),
    ] {
        let eval = set.evaluate(&input(user.clone(), vec![]));
        assert!(eval.errors.is_empty(), "{user}: {:?}", eval.errors);
        assert_eq!(eval.settings.owner_company, None, "{user}");
        assert_eq!(
            outcome(&eval, "Given name"),
            &RuleOutcome::Matched {
                set: vec![],
                skipped: vec!["owner_company: expression gave no value".to_owned()]
            }
        );
        assert_eq!(eval.settings.primary_group.as_deref(), Some("Everyone"));
        assert_eq!(eval.settings.role.as_deref(), Some("Reader"), "{user}");
        assert_eq!(
            eval.settings.secondary_groups,
            Some(vec!["No mail".to_owned()]),
            "{user}"
        );
        assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
        assert!(eval.synced);
    }
}

#[test]
fn enterprise_attributes() {
    let set = load(
        r#"
rules:
  - name: Department
    set:
      primary_group: { expr: 'user.enterprise.department' }
      owner_company: { expr: 'user.enterprise.manager.value' }
"#,
    );
    let mut user = alice();
    user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"] =
        json!({ "value": "m-42" });
    let eval = set.evaluate(&input(user, vec![]));
    assert_eq!(eval.settings.primary_group.as_deref(), Some("Sales"));
    assert_eq!(eval.settings.owner_company.as_deref(), Some("m-42"));
}

const COST_CODE: &str = "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:costCode";
const CUSTOM_EXT: &str = "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User";

#[test]
fn extension_attributes_flattened_or_nested() {
    let set = load(&format!(
        r#"
rules:
  - name: Cost code
    set:
      owner_company: {{ expr: 'user.attr("{COST_CODE}") ?? "none"' }}
  - name: Numeric
    when: 'user.attr("{CUSTOM_EXT}:level") == 3'
    set: {{ role: Admin }}
  - name: Enterprise through attr
    set:
      primary_group: {{ expr: 'user.attr("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")' }}
"#
    ));
    let mut flattened = alice();
    flattened[COST_CODE] = json!("CC-42");
    flattened[format!("{CUSTOM_EXT}:level")] = json!(3);
    let mut nested = alice();
    nested[CUSTOM_EXT] = json!({ "costCode": "CC-42", "level": 3 });
    // Attribute names are case-insensitive.
    let mut other_case = alice();
    other_case[CUSTOM_EXT.to_lowercase()] = json!({ "CostCode": "CC-42", "Level": 3 });
    for user in [flattened, nested, other_case] {
        let eval = set.evaluate(&input(user.clone(), vec![]));
        assert!(eval.errors.is_empty(), "{user}: {:?}", eval.errors);
        assert_eq!(
            eval.settings.owner_company.as_deref(),
            Some("CC-42"),
            "{user}"
        );
        assert_eq!(eval.settings.role.as_deref(), Some("Admin"), "{user}");
        assert_eq!(eval.settings.primary_group.as_deref(), Some("Sales"));
    }
    // Missing: `()`.
    let eval = set.evaluate(&input(alice(), vec![]));
    assert!(eval.errors.is_empty(), "{:?}", eval.errors);
    assert_eq!(eval.settings.owner_company.as_deref(), Some("none"));
    assert_eq!(outcome(&eval, "Numeric"), &RuleOutcome::WhenFalse);
}

#[test]
fn primary_email() {
    let set = load(
        r#"
rules:
  - name: Mail
    set: { owner_company: { expr: 'user.primary_email' } }
"#,
    );
    let cases = [
        (
            json!([{ "value": "a@x" }, { "value": "b@x", "primary": true }]),
            Some("b@x"),
        ),
        (
            json!([{ "value": "a@x", "primary": false }, { "value": "b@x", "primary": "True" }]),
            Some("b@x"),
        ),
        // No primary: the first.
        (json!([{ "value": "a@x" }, { "value": "b@x" }]), Some("a@x")),
        (json!([]), None),
        (json!("a@x"), None),
        (json!([{ "primary": true }]), None),
        (json!([{ "value": 5, "primary": true }]), None),
    ];
    for (emails, expected) in cases {
        let mut user = alice();
        user["emails"] = emails.clone();
        let eval = set.evaluate(&input(user, vec![]));
        assert!(eval.errors.is_empty(), "{emails}: {:?}", eval.errors);
        assert_eq!(eval.settings.owner_company.as_deref(), expected, "{emails}");
    }
    let mut user = alice();
    user.as_object_mut().map(|o| o.remove("emails"));
    assert_eq!(
        set.evaluate(&input(user, vec![])).settings.owner_company,
        None
    );
}

#[test]
fn has_role_reads_scim_roles_and_entra_json_string_values() {
    let set = load(
        r#"
rules:
  - name: Admins
    when: 'has_role("Admin")'
    set: { role: Admin }
  - name: Count
    set: { owner_company: { expr: '`${user.roles.len()}`' } }
"#,
    );
    let admin_json = r#"{"id":"06b07648-ecfe-589f-9d2f-6f10a5f1a1a0","value":"Admin","displayName":"Administrator"}"#;
    let reader_json =
        r#"{"id":"9e7ab3b0-2b2c-4a7f-8b6a-3c3d1f3b0c11","value":"Reader","displayName":"Reader"}"#;
    let yes = [
        json!([{ "value": "Admin", "primary": true }]),
        json!([{ "value": "admin" }]),
        json!([{ "value": "42", "display": "Admin" }]),
        json!([{ "value": reader_json }, { "value": admin_json, "primary": true }]),
    ];
    for roles in yes {
        let mut user = alice();
        user["roles"] = roles.clone();
        let eval = set.evaluate(&input(user, vec![]));
        assert_eq!(eval.settings.role.as_deref(), Some("Admin"), "{roles}");
    }
    let no = [
        json!([]),
        json!([{ "value": "Reader" }]),
        json!([{ "value": reader_json }]),
        json!("Admin"),
        json!([{ "value": 1 }, "Admin", null]),
    ];
    for roles in no {
        let mut user = alice();
        user["roles"] = roles.clone();
        let eval = set.evaluate(&input(user, vec![]));
        assert!(eval.errors.is_empty(), "{roles}: {:?}", eval.errors);
        assert_eq!(eval.settings.role, None, "{roles}");
        assert_eq!(outcome(&eval, "Admins"), &RuleOutcome::WhenFalse);
    }

    // The display name inside an Entra JSON value counts too.
    let set = load(
        r#"
rules:
  - name: By display name
    when: 'has_role("administrator")'
    set: { role: Admin }
"#,
    );
    let mut user = alice();
    user["roles"] = json!([{ "value": admin_json }]);
    assert_eq!(
        set.evaluate(&input(user, vec![])).settings.role.as_deref(),
        Some("Admin")
    );
}

// ----------------------------------------------------------------------------- synced

#[test]
fn synced_needs_a_plan_an_active_user_and_no_errors() {
    let set = load(
        r#"
rules:
  - name: Sales
    applies_to: { member_of: Sales }
    set: { user_plan: "Sales Premium" }
  - name: Picky
    applies_to: { member_of: Picky }
    when: '"not a bool"'
"#,
    );
    // No user plan.
    let eval = set.evaluate(&input(alice(), vec![]));
    assert!(!eval.synced);
    assert_eq!(
        eval.not_synced_because.as_deref(),
        Some("no rule gave the user a user plan")
    );
    assert_eq!(trace(&eval, Setting::UserPlan).set_by, None);

    // A plan, active: synced.
    let eval = set.evaluate(&input(alice(), vec![group("Sales")]));
    assert!(eval.synced);
    assert_eq!(eval.not_synced_because, None);

    // A plan, but inactive in the IdP.
    let mut gone = alice();
    gone["active"] = json!(false);
    let eval = set.evaluate(&input(gone, vec![group("Sales")]));
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Sales Premium"));
    assert!(!eval.synced);
    assert_eq!(
        eval.not_synced_because.as_deref(),
        Some("the user is inactive in the identity provider")
    );

    // `active` absent means active.
    let mut no_flag = alice();
    no_flag.as_object_mut().map(|o| o.remove("active"));
    assert!(set.evaluate(&input(no_flag, vec![group("Sales")])).synced);

    // A rule error.
    let eval = set.evaluate(&input(alice(), vec![group("Sales"), group("Picky")]));
    assert!(!eval.synced);
    assert_eq!(eval.errors.len(), 1);
    assert_eq!(eval.errors[0].rule, "Picky");
    assert_eq!(
        eval.not_synced_because.as_deref(),
        Some("rule \"Picky\" failed")
    );
}

#[test]
fn an_empty_rule_set_syncs_nobody() {
    let set = load("rules: []\n");
    assert!(set.is_empty());
    let eval = set.evaluate(&input(alice(), vec![]));
    assert!(!eval.synced);
    assert!(eval.explanation.rules.is_empty());
    assert_eq!(eval.explanation.settings.len(), 6);
}

#[test]
fn explanation_serialises_to_json() {
    let set = load(ORDER);
    let eval = set.evaluate(&input(alice(), vec![group("Sales")]));
    let json = serde_json::to_value(&eval).expect("serialises");
    assert_eq!(json["settings"]["user_plan"], "Standard");
    assert_eq!(json["synced"], true);
    let sales = &json["explanation"]["rules"][1];
    assert_eq!(sales["rule"], "Sales");
    assert_eq!(sales["outcome"]["outcome"], "matched");
    assert_eq!(json["explanation"]["settings"][0]["setting"], "user_plan");
    assert_eq!(json["explanation"]["settings"][0]["set_by"], "Base");
}

#[test]
fn evaluate_all_gives_each_user_what_evaluate_gives() {
    let set = load(
        r#"
rules:
  - name: Sales
    applies_to: { member_of: "Sales" }
    when: 'user.title != "Intern"'
    set: { user_plan: "Sales Premium", role: { expr: 'if member_of("Leads") { "Lead" } else { "Seller" }' } }
  - name: Fallback
    set: { user_plan: { value: "Standard", mode: if_not_set } }
"#,
    );
    // Enough users that the work is split over threads.
    let users: Vec<_> = (0..2_500)
        .map(|i| {
            let mut user = alice();
            user["title"] = json!(if i % 7 == 0 { "Intern" } else { "Rep" });
            let mut groups = vec![];
            if i % 2 == 0 {
                groups.push(group("Sales"));
            }
            if i % 5 == 0 {
                groups.push(group("Leads"));
            }
            input(user, groups)
        })
        .collect();
    let all = set.evaluate_all(&users);
    assert_eq!(all.len(), users.len());
    for (user, together) in users.iter().zip(&all) {
        assert_eq!(&set.evaluate(user), together);
    }
}

#[test]
fn group_ids_hold_the_groups_external_ids() {
    let set = load(
        r#"
rules:
  - name: By object id
    when: '"8aa1a0c0" in group_ids && !("8aa1a0c0" in groups)'
    set: { role: "Sales user" }
"#,
    );
    let eval = set.evaluate(&input(
        alice(),
        vec![group_ext("Sales", "8aa1a0c0"), group("Support")],
    ));
    assert_eq!(
        eval.settings.role.as_deref(),
        Some("Sales user"),
        "{:?}",
        eval.explanation.rules
    );
    let eval = set.evaluate(&input(alice(), vec![group("Sales")]));
    assert_eq!(eval.settings.role, None);
}
