//! Reconcile: a SCIM target's users read back and compared with the accounts scimgate
//! pushes there. Each account is matched as a push would match it (its stored link, then
//! `externalId`, then `userName`); a matched user whose mapped attributes differ from the
//! account's document is *edited*, an active account with no user is *missing*, and a user
//! no account matches is *extra* (reported, never touched: the application may keep users
//! of its own). Fixing is queueing the account's push again.

use super::scim::{user_document, USER_SCHEMA};
use scimgate_core::{CrmAccount, CrmMapping, Difference, Drift, DriftKind};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Where each account stands on the target; `links` are the ids pushes stored, by pk;
/// `extensions` what the target declares (a push sends only those), `mapping` where each
/// setting goes.
pub fn compare(
    accounts: &[CrmAccount],
    links: &HashMap<i64, String>,
    users: &[Value],
    (extensions, mapping): (&[String], &CrmMapping),
) -> Vec<Drift> {
    let index = UserIndex::of(users);
    let mut matched: HashSet<usize> = HashSet::new();
    let mut drift = Vec::new();
    for account in accounts {
        let found = (links
            .get(&account.pk)
            .and_then(|id| index.by_id.get(id.as_str())))
        .or_else(|| (account.external_id.as_deref()).and_then(|e| index.by_external_id.get(e)))
        .or_else(|| {
            index
                .by_user_name
                .get(&account.fields.username.to_lowercase())
        })
        .copied()
        .filter(|at| !matched.contains(at));
        let username = account.fields.username.to_string();
        let Some(at) = found else {
            if account.fields.active {
                drift.push(Drift {
                    kind: DriftKind::Missing,
                    account_pk: Some(account.pk),
                    username,
                    target_id: None,
                    differences: Vec::new(),
                });
            }
            continue;
        };
        matched.insert(at);
        let user = &users[at];
        let expected = user_document(account, extensions, mapping);
        let differences = differences(&expected, user);
        if !differences.is_empty() {
            drift.push(Drift {
                kind: DriftKind::Edited,
                account_pk: Some(account.pk),
                username,
                target_id: user["id"].as_str().map(str::to_owned),
                differences,
            });
        }
    }
    for (at, user) in users.iter().enumerate() {
        if !matched.contains(&at) {
            drift.push(Drift {
                kind: DriftKind::Extra,
                account_pk: None,
                username: user["userName"].as_str().unwrap_or_default().to_owned(),
                target_id: user["id"].as_str().map(str::to_owned),
                differences: Vec::new(),
            });
        }
    }
    drift
}

/// The target's users by id, externalId and (lower-cased) userName: positions in the list.
struct UserIndex<'a> {
    by_id: HashMap<&'a str, usize>,
    by_external_id: HashMap<&'a str, usize>,
    by_user_name: HashMap<String, usize>,
}

impl<'a> UserIndex<'a> {
    fn of(users: &'a [Value]) -> UserIndex<'a> {
        let mut index = UserIndex {
            by_id: HashMap::new(),
            by_external_id: HashMap::new(),
            by_user_name: HashMap::new(),
        };
        for (at, user) in users.iter().enumerate() {
            if let Some(id) = user["id"].as_str() {
                index.by_id.insert(id, at);
            }
            if let Some(external_id) = user["externalId"].as_str() {
                index.by_external_id.entry(external_id).or_insert(at);
            }
            if let Some(name) = user["userName"].as_str() {
                index.by_user_name.entry(name.to_lowercase()).or_insert(at);
            }
        }
        index
    }
}

/// The mapped attributes of `expected` (a push's document) that `found` does not have
/// the same. userName and e-mail compare without case (SCIM's caseExact false); an
/// attribute scimgate leaves unset is not compared (a push does not remove it either).
pub fn differences(expected: &Value, found: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    let Some(fields) = expected.as_object() else {
        return out;
    };
    let mut differ = |attribute: String, want: &Value, have: &Value| {
        out.push(Difference {
            attribute,
            expected: want.clone(),
            found: have.clone(),
        });
    };
    for (key, want) in fields {
        match key.as_str() {
            "schemas" => {}
            "userName" => {
                if !same_text(want, &found[key.as_str()]) {
                    differ(key.clone(), want, &found[key.as_str()]);
                }
            }
            "emails" => {
                if !same_text(&want[0]["value"], primary_email(found)) {
                    differ(key.clone(), want, &found[key.as_str()]);
                }
            }
            schema if schema.starts_with("urn:") && schema != USER_SCHEMA => {
                for (sub, want) in want.as_object().into_iter().flatten() {
                    let have = &found[schema][sub.as_str()];
                    if !same(want, have) {
                        differ(format!("{schema}:{sub}"), want, have);
                    }
                }
            }
            // A part of a complex attribute (`name.honorificPrefix`): compared part by
            // part, so the parts scimgate does not set are not drift.
            _ if want.is_object() => {
                for (sub, want) in want.as_object().into_iter().flatten() {
                    let have = &found[key.as_str()][sub.as_str()];
                    if !same(want, have) {
                        differ(format!("{key}.{sub}"), want, have);
                    }
                }
            }
            _ => {
                let have = &found[key.as_str()];
                if !same(want, have) {
                    differ(key.clone(), want, have);
                }
            }
        }
    }
    out
}

/// The PATCH operations that bring `found` to `expected`: a `replace` of each mapped
/// attribute that differs, a `remove` of an extension attribute scimgate no longer sets.
pub fn patch_operations(expected: &Value, found: &Value) -> Vec<Value> {
    (differences(expected, found).into_iter())
        .map(|d| match (d.expected.is_null(), d.attribute.as_str()) {
            (true, _) => serde_json::json!({"op": "remove", "path": d.attribute}),
            (false, "emails") => {
                let emails = with_work_email(&d.expected, &d.found);
                serde_json::json!({"op": "replace", "path": "emails", "value": emails})
            }
            (false, _) => {
                serde_json::json!({"op": "replace", "path": d.attribute, "value": d.expected})
            }
        })
        .collect()
}

/// The user's e-mails with scimgate's (`ours`: one work address, primary) in place of
/// its work one (and of an untyped primary one, as scimgate's was), the others kept (no
/// longer primary): a replace of `emails` must not drop the home address the
/// application keeps.
fn with_work_email(ours: &Value, theirs: &Value) -> Value {
    let mut emails: Vec<Value> = ours.as_array().cloned().unwrap_or_default();
    for email in theirs.as_array().into_iter().flatten() {
        let replaced = email["type"] == "work"
            || (email["type"].is_null() && email["primary"] == true)
            || same_text(&email["value"], &ours[0]["value"]);
        if replaced {
            continue;
        }
        let mut kept = email.clone();
        if let Some(fields) = kept.as_object_mut() {
            fields.remove("primary");
        }
        emails.push(kept);
    }
    Value::Array(emails)
}

/// Equal, with an absent value the same as `null` and an empty list.
fn same(want: &Value, have: &Value) -> bool {
    let empty = |v: &Value| v.is_null() || v.as_array().is_some_and(Vec::is_empty);
    want == have || (empty(want) && empty(have))
}

fn same_text(want: &Value, have: &Value) -> bool {
    match (want.as_str(), have.as_str()) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => same(want, have),
    }
}

/// The user's primary e-mail (else its first).
fn primary_email(user: &Value) -> &Value {
    let emails = user["emails"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let primary = emails
        .iter()
        .find(|e| e["primary"] == true)
        .or(emails.first());
    primary.map_or(&Value::Null, |e| &e["value"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use scimgate_core::AccountFields;
    use serde_json::json;

    fn account(pk: i64, name: &str, external_id: &str, active: bool) -> CrmAccount {
        CrmAccount {
            pk,
            staged_user_id: Some(format!("s-{name}")),
            external_id: Some(external_id.into()),
            fields: AccountFields {
                username: name.into(),
                display_name: Some(format!("{name} Display").into()),
                email: Some(format!("{name}@acme.example").into()),
                user_plan: None,
                owner_company: None,
                primary_group: None,
                secondary_groups: vec![],
                role: Some("Manager".into()),
                confidential: false,
                active,
            },
            created_at: String::new(),
            updated_at: String::new(),
            deactivated_at: None,
        }
    }

    fn pushed(account: &CrmAccount, id: &str) -> Value {
        let mut user = user_document(account, &[], &CrmMapping::default());
        user["id"] = json!(id);
        user
    }

    #[test]
    fn each_account_is_in_step_edited_missing_and_users_of_nobody_are_extra() {
        let (ann, bob, cy, dee) = (
            account(1, "ann", "x-ann", true),
            account(2, "bob", "x-bob", true),
            account(3, "cy", "x-cy", false),
            account(4, "dee", "x-dee", true),
        );
        let mut edited = pushed(&bob, "t-bob");
        edited["displayName"] = json!("Robert");
        edited["emails"] = json!([{"value": "BOB@ACME.EXAMPLE", "primary": true}]);
        edited["nickName"] = json!("unmapped: not compared");
        // dee matched by userName (no link, no externalId there), in another case.
        let mut dee_there = pushed(&dee, "t-dee");
        dee_there["userName"] = json!("DEE");
        dee_there.as_object_mut().unwrap().remove("externalId");
        let users = vec![
            pushed(&ann, "t-ann"),
            edited,
            json!({"id": "t-eve", "userName": "eve"}),
            dee_there,
        ];
        let links = HashMap::from([(1, "t-ann".to_owned())]);
        let default = CrmMapping::default();
        let drift = compare(&[ann, bob, cy, dee], &links, &users, (&[], &default));
        assert_eq!(drift.len(), 3, "{drift:#?}");
        assert_eq!(
            (drift[0].kind, drift[0].account_pk),
            (DriftKind::Edited, Some(2))
        );
        let changed = |d: &Drift| -> Vec<String> {
            d.differences.iter().map(|d| d.attribute.clone()).collect()
        };
        assert_eq!(
            changed(&drift[0]),
            ["displayName"],
            "e-mail compares without case"
        );
        assert_eq!(drift[0].differences[0].found, json!("Robert"));
        // dee is found by userName (whatever its case), and lacks the externalId.
        assert_eq!(
            (drift[1].kind, drift[1].target_id.as_deref()),
            (DriftKind::Edited, Some("t-dee"))
        );
        assert_eq!(changed(&drift[1]), ["externalId"]);
        assert_eq!(
            (drift[2].kind, drift[2].target_id.as_deref()),
            (DriftKind::Extra, Some("t-eve"))
        );

        // ann gone from the target: missing; cy is inactive, so not missing.
        let drift = compare(
            &[account(1, "ann", "x-ann", true)],
            &links,
            &[],
            (&[], &default),
        );
        assert_eq!(
            (drift[0].kind, drift[0].target_id.clone()),
            (DriftKind::Missing, None)
        );
        let inactive = compare(
            &[account(3, "cy", "x-cy", false)],
            &links,
            &[],
            (&[], &default),
        );
        assert!(inactive.is_empty());
    }

    #[test]
    fn a_patch_sends_only_what_differs() {
        let ann = account(1, "ann", "x-ann", true);
        let enterprise = super::super::scim::ENTERPRISE;
        let expected = user_document(&ann, &[enterprise.to_owned()], &CrmMapping::default());
        let mut there = expected.clone();
        assert!(
            patch_operations(&expected, &there).is_empty(),
            "in step: nothing to send"
        );
        there["title"] = json!("Intern");
        there["emails"] = json!([{"value": "old@acme.example", "primary": true}]);
        there[enterprise] = json!({"department": "Support", "costCenter": "kept"});
        there["nickName"] = json!("Annie");
        let operations = patch_operations(&expected, &there);
        assert_eq!(
            operations,
            [
                json!({"op": "replace", "path": "emails", "value": expected["emails"]}),
                json!({"op": "replace", "path": "title", "value": "Manager"}),
                json!({"op": "remove", "path": format!("{enterprise}:department")}),
            ]
        );
    }

    #[test]
    fn parts_of_an_attribute_and_other_addresses_are_left_alone() {
        let mapping = CrmMapping::from_yaml("role: name.honorificPrefix").unwrap();
        let ann = account(1, "ann", "x-ann", true);
        let expected = user_document(&ann, &[], &mapping);
        assert_eq!(expected["name"], json!({"honorificPrefix": "Manager"}));
        let mut there = expected.clone();
        there["name"] = json!({"givenName": "Ann", "honorificPrefix": "Manager"});
        there["emails"] = json!([
            {"value": "ann@acme.example", "type": "work", "primary": true},
            {"value": "ann@home.example", "type": "home"},
        ]);
        assert!(
            patch_operations(&expected, &there).is_empty(),
            "in step: {there}"
        );
        there["name"]["honorificPrefix"] = json!("Dr");
        there["emails"][0]["value"] = json!("old@acme.example");
        there["emails"][1]["primary"] = json!(true);
        assert_eq!(
            patch_operations(&expected, &there),
            [
                json!({"op": "replace", "path": "emails", "value": [
                    {"value": "ann@acme.example", "type": "work", "primary": true},
                    {"value": "ann@home.example", "type": "home"},
                ]}),
                json!({"op": "replace", "path": "name.honorificPrefix", "value": "Manager"}),
            ]
        );
    }

    #[test]
    fn extension_attributes_compare_one_by_one() {
        let enterprise = super::super::scim::ENTERPRISE;
        let want = json!({enterprise: {"organization": "Acme AS", "department": null}});
        let same = json!({enterprise: {"organization": "Acme AS"}});
        assert!(differences(&want, &same).is_empty());
        let moved = json!({enterprise: {"organization": "Other AS", "department": "Sales"}});
        let found: Vec<String> = differences(&want, &moved)
            .into_iter()
            .map(|d| d.attribute)
            .collect();
        assert_eq!(
            found,
            [
                format!("{enterprise}:organization"),
                format!("{enterprise}:department")
            ]
        );
    }
}
