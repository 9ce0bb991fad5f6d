//! Rules may only name what the CRM has (docs/design.md §3): a literal that names nothing is
//! refused at load (see broken_files.rs); a computed value that names nothing is an
//! error in that user's result, never a crash.

// Helper functions outside #[test] fns panic on purpose, like testkit's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use scimgate_rules::{Catalog, CatalogEntry, RuleOutcome, Setting};
use serde_json::json;

#[test]
fn catalogue_from_yaml_takes_names_and_objects() {
    let catalog = catalog();
    let plans: Vec<&str> = catalog.user_plans.iter().map(|e| e.name()).collect();
    assert_eq!(plans, ["Standard", "Sales Premium", "Free"]);
    assert!(matches!(&catalog.user_plans[0], CatalogEntry::Name(n) if n == "Standard"));
    assert!(
        matches!(&catalog.user_plans[1], CatalogEntry::Entry(e) if e.seats == Some(25)),
        "{:?}",
        catalog.user_plans[1]
    );
    assert!(matches!(&catalog.user_plans[2], CatalogEntry::Entry(e) if e.seats.is_none()));
    assert_eq!(catalog.companies.len(), 2);
    assert_eq!(catalog.groups.len(), 4);
    assert_eq!(catalog.roles.len(), 3);
    // Every part is optional.
    let empty = Catalog::from_yaml("{}").expect("an empty catalogue is a catalogue");
    assert!(empty.user_plans.is_empty() && empty.roles.is_empty());
    // Unknown keys and wrong shapes are refused with a message saying where.
    let err = Catalog::from_yaml("user_plans: [Standard]\nlicences: [x]\n").unwrap_err();
    assert!(err.contains("licences"), "{err}");
    let err = Catalog::from_yaml("roles: { Admin: 1 }\n").unwrap_err();
    assert!(err.starts_with("catalogue: "), "{err}");
    // A misspelt `seats` is refused, not read as "no seat count".
    let err = Catalog::from_yaml("user_plans:\n  - { name: Standard, sets: 3 }\n").unwrap_err();
    assert!(err.starts_with("catalogue: "), "{err}");
}

#[test]
fn literals_in_the_catalogue_load() {
    let set = load_cat(
        r#"
rules:
  - name: All of them
    set:
      user_plan: "Sales Premium"
      owner_company: { value: "Acme Nordic", mode: if_not_set }
      primary_group: Sales
      secondary_groups: [EMEA, Support]
      role: "Sales user"
      confidential: true
"#,
    );
    let eval = set.evaluate(&input(alice(), vec![]));
    assert!(eval.synced, "{eval:#?}");
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Sales Premium"));
    assert_eq!(eval.settings.confidential, Some(true));
}

#[test]
fn catalogue_names_are_checked_against_the_right_list() {
    // "Sales" is a group, not a role.
    let errors = refuse(
        r#"
rules:
  - name: Mixed up
    set:
      role: Sales
"#,
        Some(&catalog()),
    );
    assert_eq!(errors.len(), 1, "{}", show(&errors));
    assert!(
        errors[0]
            .message
            .contains("role \"Sales\" is not in the catalogue (known: Admin, Sales user, Reader)"),
        "{}",
        errors[0]
    );
    // Without a catalogue, any name loads.
    load(
        r#"
rules:
  - name: Mixed up
    set:
      role: Sales
"#,
    );
}

#[test]
fn expr_result_outside_the_catalogue_is_an_error_in_that_users_result() {
    let set = load_cat(
        r#"
rules:
  - name: Role from department
    set:
      role: { expr: 'user.enterprise.department + " user"' }
  - name: Groups from department
    set:
      secondary_groups: { expr: '["EMEA", user.enterprise.department]' }
  - name: Confidential is not a catalogue name
    set:
      confidential: { expr: 'user.enterprise.department == "HR"' }
  - name: Plan
    set:
      user_plan: Standard
"#,
    );

    // Sales: "Sales user" is a role and "Sales" a group, so all is well.
    let eval = set.evaluate(&input(alice(), vec![]));
    assert!(eval.errors.is_empty(), "{:?}", eval.errors);
    assert_eq!(eval.settings.role.as_deref(), Some("Sales user"));
    assert_eq!(
        eval.settings.secondary_groups,
        Some(vec!["EMEA".to_owned(), "Sales".to_owned()])
    );
    assert!(eval.synced);

    // Marketing: "Marketing user" is no role and "Marketing" no group.
    let mut user = alice();
    user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] =
        json!("Marketing");
    let eval = set.evaluate(&input(user, vec![]));
    assert_eq!(eval.errors.len(), 2, "{:?}", eval.errors);
    assert_eq!(eval.errors[0].rule, "Role from department");
    assert!(
        eval.errors[0]
            .message
            .contains("role: role \"Marketing user\" is not in the catalogue"),
        "{}",
        eval.errors[0].message
    );
    assert_eq!(eval.errors[1].rule, "Groups from department");
    assert!(
        eval.errors[1]
            .message
            .contains("user group \"Marketing\" is not in the catalogue"),
        "{}",
        eval.errors[1].message
    );
    // Nothing unknown was set; the rest of the rules still ran.
    assert_eq!(eval.settings.role, None);
    assert_eq!(eval.settings.secondary_groups, None);
    assert_eq!(eval.settings.confidential, Some(false));
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
    assert!(matches!(
        outcome(&eval, "Role from department"),
        RuleOutcome::Failed { .. }
    ));
    assert_eq!(trace(&eval, Setting::Role).set_by, None);
    assert!(!eval.synced);
    assert_eq!(
        eval.not_synced_because.as_deref(),
        Some("rule \"Role from department\" failed")
    );
}

#[test]
fn script_result_outside_the_catalogue_is_an_error_in_that_users_result() {
    let set = try_load_scripts(
        r#"
rules:
  - name: Plan script
    script: plan.rhai
"#,
        &[(
            "plan.rhai",
            r#"if member_of("VIP") { #{ user_plan: "Gold" } } else { #{ user_plan: "Standard" } }"#,
        )],
        Some(&catalog()),
    )
    .unwrap_or_else(|e| panic!("{}", show(&e)));
    let eval = set.evaluate(&input(alice(), vec![]));
    assert!(eval.synced);
    let eval = set.evaluate(&input(alice(), vec![group("VIP")]));
    assert_eq!(eval.errors.len(), 1);
    assert_eq!(eval.errors[0].rule, "Plan script");
    assert!(
        eval.errors[0]
            .message
            .contains("user plan \"Gold\" is not in the catalogue"),
        "{}",
        eval.errors[0].message
    );
    assert_eq!(eval.settings.user_plan, None);
    assert!(!eval.synced);
}
