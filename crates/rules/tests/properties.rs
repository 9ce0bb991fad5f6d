//! Properties: evaluation never panics, whatever JSON the IdP sent; the same input gives
//! the same output; literal rules follow the order/override model; a runaway script is
//! stopped with an error naming its rule, quickly.

// Helper functions outside #[test] fns panic on purpose, like testkit's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use proptest::prelude::*;
use scimgate_rules::{Evaluation, GroupRef, RuleOutcome, RuleSet, UserInput};
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CUSTOM_EXT: &str = "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User";
const COST_CODE: &str = "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:costCode";

/// Rules that touch every part of the `user` object, every helper, and a script that
/// walks the multi-valued attributes, so that any value in any place meets some code.
fn everything_rules() -> String {
    format!(
        r#"
rules:
  - name: Sales
    applies_to: {{ member_of: Sales }}
    when: 'user.active == true'
    set:
      user_plan: {{ value: "Sales Premium", mode: always }}
      role: "Sales user"
  - name: Department
    applies_to: {{ not_member_of: Contractors }}
    set:
      primary_group: {{ expr: 'if user.enterprise.department == () {{ "Everyone" }} else {{ `${{user.enterprise.department}}` }}' }}
  - name: Name
    when: 'user.name.givenName != () && user.userName != ()'
    set:
      owner_company: {{ expr: '`${{user.name.givenName}} ${{user.name.familyName}} ${{user.userName}}`' }}
  - name: Mail
    set:
      owner_company: {{ expr: 'email_domain(user.primary_email)', mode: if_not_set }}
  - name: Roles
    when: 'has_role("Admin") || member_of("Admins") || user.roles.len() > 2'
    set: {{ role: Admin }}
  - name: Extension
    set:
      secondary_groups:
        expr: 'if user.attr("{COST_CODE}") == () {{ [] }} else {{ [`${{user.attr("{COST_CODE}")}}`] }}'
  - name: Manager
    when: 'user.enterprise.manager.value != () || user.attr("{ENTERPRISE}:employeeNumber") != ()'
    set:
      confidential: {{ expr: 'user.enterprise.department == "HR"' }}
  - name: Not a bool
    when: 'user.attr("{CUSTOM_EXT}:level")'
    set: {{ role: Reader }}
  - name: Script
    script: walk.rhai
  - name: Fallback
    set:
      user_plan: {{ value: Standard, mode: if_not_set }}
"#
    )
}

const WALK_RHAI: &str = r#"
let out = #{};
for e in user.emails {
    if type_of(e) == "map" && e.primary == true && type_of(e.value) == "string" {
        out.primary_group = lower(trim(e.value));
    }
}
for r in user.roles {
    if type_of(r) == "map" && r.display != () { out.role = `${r.display}`; }
}
if type_of(user.userName) == "string" && user.userName.len() > 3 {
    out.owner_company = upper(user.userName.sub_string(0, 3));
}
let hr = false;
for g in groups { if g.starts_with("HR") { hr = true; } }
if hr { out.confidential = true; }
if user.active == false { out.secondary_groups = ["Leavers"]; }
out
"#;

fn everything() -> RuleSet {
    load_scripts(&everything_rules(), &[("walk.rhai", WALK_RHAI)])
}

fn everything_with_catalogue() -> RuleSet {
    try_load_scripts(
        &everything_rules(),
        &[("walk.rhai", WALK_RHAI)],
        Some(&catalog()),
    )
    .unwrap_or_else(|e| panic!("{}", show(&e)))
}

// ------------------------------------------------------------------------ generators

fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "userName", "name", "givenName", "familyName", "emails", "value", "primary",
            "type", "display", "roles", "active", "externalId", "department", "organization",
            "manager", "costCode", "level", "employeeNumber", "Primary", "Value",
            ENTERPRISE, CUSTOM_EXT, COST_CODE,
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z:.]{0,12}",
    ]
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "\\PC{0,24}",
        1 => prop::sample::select(vec![
            "True", "False", "true", "Admin", "admin", "Sales", "HR", "a@b.example", "@", "",
            r#"{"id":"1","value":"Admin","displayName":"Administrator"}"#,
            r#"[{"value":"Admin"}]"#, r#"{"value":5}"#, "{", "Sales Premium",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any_key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A SCIM-ish user: the attributes the rules read, each holding any JSON at all (wrong
/// types included); now and then not an object at all.
fn any_user() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => any_json(),
        6 => prop::collection::vec((any_key(), any_json()), 0..10)
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
    ]
}

fn any_groups() -> impl Strategy<Value = Vec<GroupRef>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "Sales",
            "sales",
            "Contractors",
            "Admins",
            "HR team",
            ""
        ])
        .prop_map(str::to_owned),
        "\\PC{0,10}",
    ];
    prop::collection::vec(
        (name, prop::option::of("[a-z0-9-]{0,12}")).prop_map(|(display_name, external_id)| {
            GroupRef {
                display_name,
                external_id,
            }
        }),
        0..5,
    )
}

// ------------------------------------------------------------------------ properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Whatever the IdP sent, evaluation returns (errors are fine, panics are not), and
    /// its explanation has one entry per setting and per rule.
    #[test]
    fn evaluation_never_panics(user in any_user(), groups in any_groups()) {
        for set in [everything(), everything_with_catalogue()] {
            let eval = set.evaluate(&UserInput { user: user.clone(), groups: groups.clone() });
            prop_assert_eq!(eval.explanation.settings.len(), 6);
            prop_assert_eq!(eval.explanation.rules.len(), set.len());
            prop_assert_eq!(eval.synced, eval.not_synced_because.is_none());
            prop_assert!(!eval.synced || eval.settings.user_plan.is_some());
            prop_assert!(!eval.synced || eval.errors.is_empty());
            // Every error is the error of a rule that failed.
            for e in &eval.errors {
                let failed = eval.explanation.rules.iter().any(|r| {
                    r.rule == e.rule && matches!(r.outcome, RuleOutcome::Failed { .. })
                });
                prop_assert!(failed, "{:?}", e);
            }
            // The settings and their traces agree.
            for t in &eval.explanation.settings {
                prop_assert_eq!(&eval.settings.get(t.setting), &t.value);
                prop_assert_eq!(t.set_by.is_some(), t.value.is_some());
            }
            // Deciding without the explanation names the same rules (the Preview's *Set
            // by rule* column): those in the traces, each once, in rule order.
            let decision = set.decide(&UserInput { user: user.clone(), groups: groups.clone() });
            let mut traced: Vec<&str> =
                eval.explanation.settings.iter().filter_map(|t| t.set_by.as_deref()).collect();
            let order = |name: &str| eval.explanation.rules.iter().position(|r| r.rule == name);
            traced.sort_by_key(|name| order(name));
            traced.dedup();
            prop_assert_eq!(set.rules_that_set(&decision), traced);
        }
    }

    /// The same input gives the same output: evaluated twice, with another user in
    /// between, and by a second rule set loaded from the same text.
    #[test]
    fn same_input_same_output(
        user in any_user(),
        groups in any_groups(),
        other in any_user(),
        other_groups in any_groups(),
    ) {
        let set = everything();
        let input = UserInput { user, groups };
        let first = set.evaluate(&input);
        let _ = set.evaluate(&UserInput { user: other, groups: other_groups });
        let again = set.evaluate(&input);
        prop_assert_eq!(&first, &again);
        let reloaded = everything().evaluate(&input);
        prop_assert_eq!(&first, &reloaded);
    }

    /// `decide` (no explanation, what a sync uses) decides exactly what `evaluate` does,
    /// one user at a time and for many users on all cores.
    #[test]
    fn decide_agrees_with_evaluate(user in any_user(), groups in any_groups()) {
        for set in [everything(), everything_with_catalogue()] {
            let input = UserInput { user: user.clone(), groups: groups.clone() };
            let eval = set.evaluate(&input);
            let decision = set.decide(&input);
            prop_assert_eq!(&decision.settings, &eval.settings);
            prop_assert_eq!(decision.synced, eval.synced);
            prop_assert_eq!(&decision.not_synced_because, &eval.not_synced_because);
            prop_assert_eq!(&decision.errors, &eval.errors);
        }
    }
}

/// Above the size where `decide_all` starts threads, it keeps input order and agrees
/// with `decide` for every user.
#[test]
fn decide_all_keeps_order_and_agrees() {
    let set = everything();
    let inputs: Vec<UserInput> = (0..2_500)
        .map(|i| UserInput {
            user: serde_json::json!({
                "userName": format!("user{i}@example.com"),
                "active": i % 7 != 0,
                "emails": [{ "value": format!("user{i}@example.com"), "primary": true }],
                "title": if i % 3 == 0 { "Sales Director" } else { "Engineer" },
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "department": if i % 2 == 0 { "Sales" } else { "HR" }
                }
            }),
            groups: if i % 5 == 0 {
                vec![GroupRef {
                    display_name: "HR team".into(),
                    external_id: None,
                }]
            } else {
                Vec::new()
            },
        })
        .collect();
    let all = set.decide_all(&inputs);
    assert_eq!(all.len(), inputs.len());
    for (input, decision) in inputs.iter().zip(&all) {
        assert_eq!(decision, &set.decide(input));
    }
    assert!(all.iter().any(|d| d.synced) && all.iter().any(|d| !d.synced));
}

#[test]
fn evaluation_survives_deep_and_large_json() {
    let set = everything();
    // As deep as serde_json parses (its limit is 128 levels), in the attributes read.
    let mut deep = Value::String("bottom".into());
    for i in 0..120 {
        deep = if i % 2 == 0 {
            serde_json::json!({ "name": deep, "value": "x", "primary": true })
        } else {
            serde_json::json!([deep])
        };
    }
    let deep = serde_json::json!({
        "name": deep.clone(),
        "emails": deep.clone(),
        "roles": deep.clone(),
        ENTERPRISE: deep.clone(),
        COST_CODE: deep,
    });
    // Larger than the sandbox's string, array and map limits.
    let big = serde_json::json!({
        "userName": "x".repeat(100_000),
        "emails": (0..5_000).map(|i| serde_json::json!({ "value": format!("{i}@x"), "primary": i == 4_999 })).collect::<Vec<_>>(),
        "roles": (0..5_000).map(|i| serde_json::json!({ "display": format!("r{i}") })).collect::<Vec<_>>(),
        ENTERPRISE: (0..5_000).map(|i| (format!("k{i}"), Value::from(i))).collect::<Map<_, _>>(),
        "name": { "givenName": "y".repeat(100_000) },
    });
    for user in [deep, big] {
        let eval = set.evaluate(&input(user, vec![group("Sales")]));
        assert_eq!(eval.explanation.rules.len(), set.len());
    }
}

#[test]
fn rule_sets_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RuleSet>();

    // The helpers read the current user from thread-local state: users evaluated at the
    // same time on different threads must not see each other.
    let set = everything();
    let users: Vec<UserInput> = (0..8)
        .map(|i| {
            let mut user = alice();
            user["userName"] = Value::String(format!("user{i}@contoso.com"));
            let groups = if i % 2 == 0 {
                vec![group("Sales")]
            } else {
                vec![group("Admins")]
            };
            input(user, groups)
        })
        .collect();
    let expected: Vec<Evaluation> = users.iter().map(|u| set.evaluate(u)).collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..25 {
                    for (u, want) in users.iter().zip(&expected) {
                        assert_eq!(&set.evaluate(u), want);
                    }
                }
            });
        }
    });
}

// ------------------------------------------------------ literal rules against a model

#[derive(Debug, Clone)]
enum Scope {
    All,
    MemberOf(usize),
    NotMemberOf(usize),
}

#[derive(Debug, Clone)]
struct Spec {
    active: bool,
    scope: Scope,
    plan: Option<(usize, bool)>, // (value, if_not_set)
}

const GROUPS: [&str; 3] = ["Sales", "Support", "Contractors"];
const PLANS: [&str; 3] = ["Standard", "Sales Premium", "Free"];

fn any_spec() -> impl Strategy<Value = Spec> {
    let scope = prop_oneof![
        Just(Scope::All),
        (0..3usize).prop_map(Scope::MemberOf),
        (0..3usize).prop_map(Scope::NotMemberOf),
    ];
    (
        prop::bool::weighted(0.8),
        scope,
        prop::option::weighted(0.8, (0..3usize, any::<bool>())),
    )
        .prop_map(|(active, scope, plan)| Spec {
            active,
            scope,
            plan,
        })
}

fn yaml(specs: &[Spec]) -> String {
    let mut out = String::from("rules:\n");
    for (i, s) in specs.iter().enumerate() {
        out.push_str(&format!("  - name: Rule {i}\n    active: {}\n", s.active));
        match s.scope {
            Scope::All => out.push_str("    applies_to: all\n"),
            Scope::MemberOf(g) => {
                out.push_str(&format!("    applies_to: {{ member_of: {} }}\n", GROUPS[g]))
            }
            Scope::NotMemberOf(g) => out.push_str(&format!(
                "    applies_to: {{ not_member_of: {} }}\n",
                GROUPS[g]
            )),
        }
        if let Some((v, if_not_set)) = s.plan {
            let mode = if if_not_set { "if_not_set" } else { "always" };
            out.push_str(&format!(
                "    set:\n      user_plan: {{ value: \"{}\", mode: {mode} }}\n",
                PLANS[v]
            ));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Top to bottom; `always` replaces, `if_not_set` fills only an empty field; inactive
    /// rules and rules outside their scope do nothing. Checked against a direct model.
    #[test]
    fn literal_rules_follow_the_model(
        specs in prop::collection::vec(any_spec(), 0..8),
        member in prop::collection::vec(any::<bool>(), 3),
    ) {
        let set = load_cat(&yaml(&specs));
        let groups: Vec<GroupRef> = GROUPS
            .iter()
            .zip(&member)
            .filter(|(_, m)| **m)
            .map(|(g, _)| group(&g.to_uppercase()))
            .collect();
        let eval = set.evaluate(&input(alice(), groups));

        let mut value: Option<&str> = None;
        let mut set_by: Option<String> = None;
        let mut history = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let name = format!("Rule {i}");
            let applies = match s.scope {
                Scope::All => true,
                Scope::MemberOf(g) => member[g],
                Scope::NotMemberOf(g) => !member[g],
            };
            let got = outcome(&eval, &name);
            if !s.active {
                prop_assert_eq!(got, &RuleOutcome::Inactive);
                continue;
            }
            if !applies {
                let is_not_applicable = matches!(got, RuleOutcome::NotApplicable { .. });
                prop_assert!(is_not_applicable, "{:?}", got);
                continue;
            }
            let Some((v, if_not_set)) = s.plan else {
                prop_assert_eq!(got, &RuleOutcome::Matched { set: vec![], skipped: vec![] });
                continue;
            };
            if if_not_set && value.is_some() {
                let RuleOutcome::Matched { set, skipped } = got else {
                    return Err(TestCaseError::fail(format!("{got:?}")));
                };
                prop_assert!(set.is_empty());
                prop_assert_eq!(
                    skipped,
                    &vec![format!("user_plan: skipped: if_not_set and already {:?}", value.unwrap_or_default())]
                );
                continue;
            }
            if let (Some(by), Some(old)) = (set_by.take(), value) {
                history.push((by, text(old)));
            }
            value = Some(PLANS[v]);
            set_by = Some(name);
        }
        prop_assert_eq!(eval.settings.user_plan.as_deref(), value);
        let t = trace(&eval, scimgate_rules::Setting::UserPlan);
        prop_assert_eq!(&t.set_by, &set_by);
        prop_assert_eq!(&t.overridden, &history);
        prop_assert_eq!(eval.synced, value.is_some());
    }
}

// ------------------------------------------------------------------------- runaways

/// A safety bound, not a benchmark: a runaway must be stopped long before this.
const QUICKLY: Duration = Duration::from_secs(2);

fn runaway_set(script: &str) -> RuleSet {
    load_scripts(
        r#"
rules:
  - name: Before
    set: { user_plan: Standard }
  - name: Runaway
    script: runaway.rhai
  - name: After
    set: { role: Reader }
"#,
        &[("runaway.rhai", script)],
    )
}

#[test]
fn runaway_scripts_stop_with_an_error_naming_their_rule() {
    let scripts = [
        ("loop {}", Some("stopped after")),
        ("while true {}", Some("stopped after")),
        ("let i = 0; loop { i += 1; }", Some("stopped after")),
        (
            "let n = 0; for i in 0..1000000000000 { n += i; }",
            Some("stopped after"),
        ),
        ("do { } while true;", Some("stopped after")),
        ("fn down(n) { down(n + 1) } down(0)", None),
        (
            "fn fan(n) { if n == 0 { 0 } else { fan(n - 1) + fan(n - 1) } } fan(60)",
            None,
        ),
        (
            "fn fan(n) { if n == 0 { 0 } else { fan(n - 1) + fan(n - 1) } } fan(15)",
            None,
        ),
        ("let s = \"xx\"; loop { s += s; }", None),
        ("let a = []; loop { a.push(a.len()); }", None),
        (
            "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }",
            None,
        ),
        ("\"x\".pad(1000000000, \"y\"); #{}", None),
        ("let a = [1]; loop { a += a; }", None),
    ];
    for (script, needle) in scripts {
        let set = runaway_set(script);
        let started = Instant::now();
        let eval = set.evaluate(&input(alice(), vec![]));
        let took = started.elapsed();
        assert!(took < QUICKLY, "{script:?} took {took:?}");
        assert_eq!(eval.errors.len(), 1, "{script:?}: {:?}", eval.errors);
        let error = &eval.errors[0];
        assert_eq!(error.rule, "Runaway", "{script:?}");
        assert!(
            error.message.starts_with("script runaway.rhai: "),
            "{script:?}: {}",
            error.message
        );
        if let Some(needle) = needle {
            assert!(
                error.message.contains(needle),
                "{script:?}: {}",
                error.message
            );
        }
        assert!(matches!(
            outcome(&eval, "Runaway"),
            RuleOutcome::Failed { .. }
        ));
        // The rules around it still ran, and the user is not synced.
        assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
        assert_eq!(eval.settings.role.as_deref(), Some("Reader"));
        assert_eq!(
            eval.not_synced_because.as_deref(),
            Some("rule \"Runaway\" failed")
        );
        // And the rule set is fine for the next user.
        let started = Instant::now();
        let again = set.evaluate(&input(alice(), vec![]));
        assert!(started.elapsed() < QUICKLY);
        assert_eq!(again, eval);
    }
}

#[test]
fn heavy_expressions_are_bounded_too() {
    let set = load(
        r#"
rules:
  - name: Padding
    when: '"x".pad(1000000000, "y") == ""'
    set: { user_plan: Free }
  - name: Repeat
    set: { owner_company: { expr: '"ab" * 1000000000' } }
  - name: Plan
    set: { user_plan: Standard }
"#,
    );
    let started = Instant::now();
    let eval = set.evaluate(&input(alice(), vec![]));
    assert!(started.elapsed() < QUICKLY, "{:?}", started.elapsed());
    let failed: Vec<&str> = eval.errors.iter().map(|e| e.rule.as_str()).collect();
    assert!(failed.contains(&"Padding"), "{:?}", eval.errors);
    assert_eq!(eval.settings.user_plan.as_deref(), Some("Standard"));
    assert_eq!(eval.settings.owner_company, None);
}
