//! Every rule file under `rules/` loads and compiles against `rules/catalog.yaml`, and
//! each scenario does what its header comment promises for Entra-shaped users — so the
//! examples cannot rot.

// Helper functions outside #[test] fns panic on purpose, like testkit's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scimgate_rules::{Catalog, Evaluation, GroupRef, RuleOutcome, RuleSet, UserInput};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

fn catalog() -> Catalog {
    let text = std::fs::read_to_string(rules_dir().join("catalog.yaml")).unwrap();
    Catalog::from_yaml(&text).unwrap()
}

fn load(file: &str) -> RuleSet {
    let path = rules_dir().join(file);
    match RuleSet::load_file(&path, Some(&catalog())) {
        Ok(set) => set,
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("{file} does not load:\n{}", lines.join("\n"))
        }
    }
}

/// A user as Entra provisions it (core + enterprise extension), as the store keeps it.
fn entra_user(user_name: &str, department: Option<&str>, title: Option<&str>) -> Value {
    let (given, family) = user_name
        .split('@')
        .next()
        .and_then(|local| local.split_once('.'))
        .unwrap_or(("Kari", "Nordmann"));
    let mut user = json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "userName": user_name,
        "active": true,
        "displayName": format!("{given} {family}"),
        "name": { "givenName": given, "familyName": family },
        "emails": [{ "primary": true, "type": "work", "value": user_name }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "10042",
            "manager": { "value": "9a1b2c3d-0000-4000-8000-000000000001" }
        }
    });
    if let Some(title) = title {
        user["title"] = json!(title);
    }
    if let Some(department) = department {
        user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] =
            json!(department);
    }
    user
}

fn groups(names: &[&str]) -> Vec<GroupRef> {
    names
        .iter()
        .map(|name| GroupRef {
            display_name: (*name).to_owned(),
            external_id: None,
        })
        .collect()
}

fn eval(set: &RuleSet, user: Value, groups: Vec<GroupRef>) -> Evaluation {
    let evaluation = set.evaluate(&UserInput { user, groups });
    assert!(
        evaluation.errors.is_empty(),
        "unexpected errors: {:?}",
        evaluation.errors
    );
    evaluation
}

fn outcome<'a>(evaluation: &'a Evaluation, rule: &str) -> &'a RuleOutcome {
    &evaluation
        .explanation
        .rules
        .iter()
        .find(|t| t.rule == rule)
        .unwrap_or_else(|| panic!("no trace for rule {rule:?}"))
        .outcome
}

fn set_by<'a>(evaluation: &'a Evaluation, setting: &str) -> Option<&'a str> {
    evaluation
        .explanation
        .settings
        .iter()
        .find(|t| t.setting.name() == setting)
        .and_then(|t| t.set_by.as_deref())
}

#[test]
fn every_rule_file_loads_against_the_catalogue() {
    let mut loaded = Vec::new();
    let mut scripts = Vec::new();
    for entry in std::fs::read_dir(rules_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".rhai") {
            scripts.push(name);
        } else if name.ends_with(".yaml") && name != "catalog.yaml" {
            let set = load(&name);
            assert!(!set.is_empty(), "{name} has no rules");
            loaded.push(name);
        }
    }
    loaded.sort();
    for expected in [
        "bench.yaml",
        "confidential-hr.yaml",
        "department-role.yaml",
        "everyone-fallback.yaml",
        "primary-group.yaml",
        "sales-plan.yaml",
    ] {
        assert!(loaded.iter().any(|l| l == expected), "{expected} missing");
    }
    // A script is compiled only when a rule names it: an orphan would never be checked.
    let rule_texts: Vec<String> = loaded
        .iter()
        .map(|f| std::fs::read_to_string(rules_dir().join(f)).unwrap())
        .collect();
    for script in scripts {
        let used = format!("script: {script}");
        assert!(
            rule_texts.iter().any(|t| t.contains(&used)),
            "{script} is not used by any rule file, so no test compiles it"
        );
    }
}

#[test]
fn bench_has_twenty_rules_five_with_rhai() {
    let set = load("bench.yaml");
    assert_eq!(set.len(), 20);
    let text = std::fs::read_to_string(rules_dir().join("bench.yaml")).unwrap();
    let rhai = text
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("when:") || l.starts_with("expr:") || l.starts_with("script:"))
        .count();
    assert_eq!(rhai, 5);
}

#[test]
fn everyone_gets_a_fallback_plan() {
    let set = load("everyone-fallback.yaml");
    let plain = eval(
        &set,
        entra_user("ola.hansen@acme.no", Some("Finance"), None),
        groups(&["All employees"]),
    );
    assert!(plain.synced);
    assert_eq!(plain.settings.user_plan.as_deref(), Some("Standard"));
    assert_eq!(plain.settings.owner_company.as_deref(), Some("Acme"));
    assert_eq!(plain.settings.role.as_deref(), Some("User"));
    assert_eq!(set_by(&plain, "user_plan"), Some("Everyone else"));
    assert_eq!(
        outcome(&plain, "Management"),
        &RuleOutcome::NotApplicable {
            reason: "not member of \"Management\"".into()
        }
    );

    let boss = eval(
        &set,
        entra_user("eva.berg@acme.no", None, Some("CEO")),
        groups(&["Management", "All employees"]),
    );
    assert_eq!(boss.settings.user_plan.as_deref(), Some("Complete"));
    assert_eq!(boss.settings.role.as_deref(), Some("Manager"));
    assert_eq!(set_by(&boss, "user_plan"), Some("Management"));
    let RuleOutcome::Matched { skipped, .. } = outcome(&boss, "Everyone else") else {
        panic!("the fallback applies to all")
    };
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("if_not_set and already \"Complete\"")),
        "{skipped:?}"
    );

    // An inactive user keeps its settings for the preview but is not synced.
    let mut gone = entra_user("per.lie@acme.no", None, None);
    gone["active"] = json!(false);
    let gone = eval(&set, gone, vec![]);
    assert_eq!(gone.settings.user_plan.as_deref(), Some("Standard"));
    assert!(!gone.synced);
}

#[test]
fn sales_group_gets_the_sales_plan_and_role() {
    let set = load("sales-plan.yaml");
    let seller = eval(
        &set,
        entra_user(
            "nina.dahl@acme.no",
            Some("Sales"),
            Some("Account Executive"),
        ),
        groups(&["Sales", "Office Oslo"]),
    );
    assert_eq!(seller.settings.user_plan.as_deref(), Some("Sales Premium"));
    assert_eq!(seller.settings.role.as_deref(), Some("Sales user"));
    assert_eq!(seller.settings.primary_group.as_deref(), Some("Sales"));
    assert_eq!(
        seller.settings.secondary_groups,
        Some(vec!["Nordics".to_owned()])
    );

    // The managers' group is matched by its Entra objectId, whatever its display name.
    let manager = eval(
        &set,
        entra_user("lars.vik@acme.de", Some("Sales"), Some("Sales Manager")),
        vec![
            GroupRef {
                display_name: "Sales".into(),
                external_id: Some("1c9a4b7e-0000-4000-8000-00000000a001".into()),
            },
            GroupRef {
                display_name: "Sales leadership (renamed)".into(),
                external_id: Some("7d0c5d8e-3a1f-4f57-9c4e-2b1e9a6f0c11".into()),
            },
        ],
    );
    assert_eq!(manager.settings.role.as_deref(), Some("Sales manager"));
    assert_eq!(manager.settings.secondary_groups, None);
    assert_eq!(outcome(&manager, "Nordic sales"), &RuleOutcome::WhenFalse);
    let role = &manager.explanation.settings[4];
    assert_eq!(role.set_by.as_deref(), Some("Sales managers"));
    assert_eq!(role.overridden.len(), 1, "{role:?}");
    assert_eq!(role.overridden[0].0, "Sales");

    let other = eval(
        &set,
        entra_user("ali.khan@acme.no", Some("Finance"), None),
        groups(&["Finance"]),
    );
    assert_eq!(other.settings.user_plan.as_deref(), Some("Standard"));
    assert_eq!(other.settings.role.as_deref(), Some("User"));
}

#[test]
fn everyone_but_contractors_gets_the_staff_group() {
    let set = load("primary-group.yaml");
    let employee = eval(
        &set,
        entra_user("ida.lund@acme.se", Some("Marketing"), None),
        groups(&["Marketing", "Office Stockholm"]),
    );
    assert_eq!(employee.settings.primary_group.as_deref(), Some("Staff"));
    assert_eq!(employee.settings.role.as_deref(), Some("User"));
    assert_eq!(employee.settings.user_plan.as_deref(), Some("Standard"));

    let contractor = eval(
        &set,
        entra_user("tom.ek@partner.example", None, Some("Consultant")),
        groups(&["Contractors", "Marketing"]),
    );
    assert!(contractor.synced);
    assert_eq!(contractor.settings.primary_group, None);
    assert_eq!(contractor.settings.role.as_deref(), Some("Restricted"));
    assert_eq!(
        contractor.settings.secondary_groups,
        Some(vec!["Partners".to_owned()])
    );
    assert_eq!(
        outcome(&contractor, "Staff group"),
        &RuleOutcome::NotApplicable {
            reason: "member of \"Contractors\"".into()
        }
    );
    assert_eq!(set_by(&contractor, "primary_group"), None);
}

#[test]
fn department_decides_the_role() {
    let set = load("department-role.yaml");
    // The expression alone: a department the script has no branch for.
    let finance = eval(
        &set,
        entra_user("siri.moe@acme.no", Some(" Finance "), Some("Accountant")),
        groups(&["Office Oslo"]),
    );
    assert_eq!(finance.settings.role.as_deref(), Some("Finance user"));
    assert_eq!(set_by(&finance, "role"), Some("Role by department"));
    assert_eq!(finance.settings.user_plan.as_deref(), Some("Standard"));
    assert_eq!(
        finance.settings.owner_company.as_deref(),
        Some("Acme Norway AS")
    );
    assert_eq!(
        finance.settings.secondary_groups,
        Some(vec!["Nordics".to_owned()])
    );

    // The script: a sales manager in Munich.
    let manager = eval(
        &set,
        entra_user(
            "jonas.weber@acme.de",
            Some("Sales"),
            Some("Regional Sales Manager"),
        ),
        groups(&["Office Munich"]),
    );
    assert_eq!(manager.settings.role.as_deref(), Some("Sales manager"));
    assert_eq!(set_by(&manager, "role"), Some("Department details"));
    assert_eq!(manager.settings.user_plan.as_deref(), Some("Sales Premium"));
    assert_eq!(manager.settings.primary_group.as_deref(), Some("Sales"));
    assert_eq!(manager.settings.owner_company.as_deref(), Some("Acme GmbH"));

    // An Entra app role assignment, as Entra sends it (AppRoleAssignmentsComplex).
    let mut admin = entra_user("kim.ness@acme.no", Some("Marketing"), None);
    admin["roles"] = json!([{
        "primary": false,
        "type": "WindowsAzureActiveDirectoryRole",
        "value": "{\"id\":\"5a1f…\",\"value\":\"CRM.Admin\",\"displayName\":\"CRM administrator\"}"
    }]);
    let admin = eval(&set, admin, vec![]);
    assert_eq!(admin.settings.role.as_deref(), Some("Administrator"));
    assert_eq!(
        admin.settings.user_plan.as_deref(),
        Some("Marketing Premium")
    );

    // No department, no title, no groups: every accessor gives `()`, nothing fails.
    let mut bare = json!({ "userName": "guest@acme.no" });
    bare["active"] = json!(true);
    let bare = eval(&set, bare, vec![]);
    assert_eq!(bare.settings.role.as_deref(), Some("User"));
    assert_eq!(bare.settings.user_plan.as_deref(), Some("Standard"));
    let RuleOutcome::Matched {
        set: values,
        skipped,
    } = outcome(&bare, "Role by department")
    else {
        panic!("applies to all")
    };
    assert!(values.is_empty());
    assert_eq!(skipped, &["role: expression gave no value".to_owned()]);
}

#[test]
fn hr_is_confidential() {
    let set = load("confidential-hr.yaml");
    let by_group = eval(
        &set,
        entra_user("hanne.roe@acme.no", None, Some("HR Partner")),
        groups(&["HR"]),
    );
    assert_eq!(by_group.settings.confidential, Some(true));
    assert_eq!(by_group.settings.primary_group.as_deref(), Some("HR"));
    assert_eq!(set_by(&by_group, "confidential"), Some("HR group"));

    let by_department = eval(
        &set,
        entra_user("ole.dal@acme.no", Some("Human Resources"), None),
        groups(&["Office Oslo"]),
    );
    assert_eq!(by_department.settings.confidential, Some(true));
    assert_eq!(
        set_by(&by_department, "confidential"),
        Some("HR department")
    );

    let colleague = eval(
        &set,
        entra_user("mia.sand@acme.no", Some("Sales"), None),
        groups(&["Sales"]),
    );
    assert_eq!(colleague.settings.confidential, Some(false));
    assert_eq!(colleague.settings.primary_group.as_deref(), Some("Staff"));
    assert_eq!(
        outcome(&colleague, "HR department"),
        &RuleOutcome::WhenFalse
    );
}

#[test]
fn bench_rules_give_what_their_comments_say() {
    let set = load("bench.yaml");
    let mut user = entra_user(
        "anna.lie@acme.se",
        Some("Customer Support"),
        Some("Director of Support"),
    );
    user["urn:ietf:params:scim:schemas:extension:Acme:2.0:User:costCenter"] = json!("4120");
    let support = eval(&set, user, groups(&["Service", "All employees"]));
    let s = &support.settings;
    assert_eq!(s.user_plan.as_deref(), Some("Service Essentials"));
    assert_eq!(s.primary_group.as_deref(), Some("Support"));
    assert_eq!(s.role.as_deref(), Some("Service user"));
    assert_eq!(s.owner_company.as_deref(), Some("Acme Sweden AB"));
    assert_eq!(s.confidential, Some(true));
    assert_eq!(s.secondary_groups, Some(vec!["Partners".to_owned()]));
    assert_eq!(
        outcome(&support, "Service campaign pilot"),
        &RuleOutcome::Inactive
    );

    let contractor = eval(
        &set,
        entra_user("bo.ek@partner.example", Some("Sales"), None),
        groups(&["Sales", "Contractors"]),
    );
    assert_eq!(contractor.settings.user_plan.as_deref(), Some("Standard"));
    assert_eq!(contractor.settings.role.as_deref(), Some("Restricted"));
    assert_eq!(contractor.settings.owner_company.as_deref(), Some("Acme"));
}

/// Every rule of every file, read into the editor's form and written back as the form
/// writes it, gives every user the same settings, verdict and rule-by-rule outcomes: the
/// form can show and save each shipped rule without changing what it means.
#[test]
fn every_rule_file_round_trips_through_the_editor_form_unchanged_in_meaning() {
    let catalog = catalog();
    let read_script = |name: &str| {
        std::fs::read_to_string(rules_dir().join(name)).map_err(|e| format!("{name}: {e}"))
    };
    let mut files = 0;
    for entry in std::fs::read_dir(rules_dir()).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if !file.ends_with(".yaml") || file == "catalog.yaml" {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let names: Vec<String> = doc["rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect();
        let forms: Vec<scimgate_rules::RuleForm> = names
            .iter()
            .map(|name| scimgate_rules::rule_form(&text, name).unwrap())
            .collect();
        // The groups the rules scope by, and the catalogue's, for the users below.
        let mut group_names: Vec<String> =
            catalog.groups.iter().map(|g| g.name().to_owned()).collect();
        for form in &forms {
            if let scimgate_rules::RuleScope::MemberOf(g)
            | scimgate_rules::RuleScope::NotMemberOf(g) = &form.scope
            {
                group_names.push(g.clone());
            }
        }
        let mut rewritten = serde_yaml::Mapping::new();
        rewritten.insert(
            "rules".into(),
            serde_yaml::Value::Sequence(forms.iter().map(|f| f.to_yaml()).collect()),
        );
        let rewritten = serde_yaml::to_string(&rewritten).unwrap();
        let original = RuleSet::from_yaml(&file, &text, &read_script, Some(&catalog)).unwrap();
        let through_form =
            RuleSet::from_yaml(&file, &rewritten, &read_script, Some(&catalog)).unwrap();
        let departments = [
            None,
            Some("Sales"),
            Some("Human Resources"),
            Some("Customer Service"),
            Some("Finance"),
            Some("Marketing"),
        ];
        let titles = [None, Some("Sales manager"), Some("Consultant")];
        let memberships = std::iter::once(None).chain(group_names.iter().map(Some));
        for group in memberships {
            for department in departments {
                for title in titles {
                    let user = entra_user("kari.nordmann@contoso.com", department, title);
                    let member_of: Vec<&str> = group.map(String::as_str).into_iter().collect();
                    let input = UserInput {
                        user,
                        groups: groups(&member_of),
                    };
                    let (a, b) = (original.evaluate(&input), through_form.evaluate(&input));
                    let what = format!("{file}: {group:?} {department:?} {title:?}");
                    assert_eq!(a.settings, b.settings, "{what}");
                    assert_eq!(
                        (a.synced, &a.not_synced_because),
                        (b.synced, &b.not_synced_because),
                        "{what}"
                    );
                    let outcomes = |e: &Evaluation| {
                        e.explanation
                            .rules
                            .iter()
                            .map(|t| format!("{}: {:?}", t.rule, t.outcome))
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(outcomes(&a), outcomes(&b), "{what}");
                }
            }
        }
        // And the form of the rewritten rule is the form it came from.
        for (name, form) in names.iter().zip(&forms) {
            assert_eq!(
                &scimgate_rules::rule_form(&rewritten, name).unwrap(),
                form,
                "{file}: {name}"
            );
        }
    }
    assert!(files >= 6, "only {files} rule files found");
}
