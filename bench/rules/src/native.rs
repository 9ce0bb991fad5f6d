//! rules/bench.yaml written by hand in Rust: the floor the rule engine is measured
//! against. It must give the same settings as the rule set for every user (the bench
//! checks), so it follows the engine's reading of the user: group names and externalIds
//! compared case-insensitively, the enterprise extension found by its URN in any case,
//! a missing or `null` attribute read as "" where the rules write `?? ""`.

use scimgate_rules::{AccountSettings, UserInput};
use serde_json::Value;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const COST_CENTRE: &str = "urn:ietf:params:scim:schemas:extension:Acme:2.0:User:costCenter";

/// What the native version decides for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub settings: AccountSettings,
    pub synced: bool,
}

/// `mode: if_not_set`.
fn fill<T>(slot: &mut Option<T>, value: impl FnOnce() -> T) {
    if slot.is_none() {
        *slot = Some(value());
    }
}

fn text(value: &str) -> Option<String> {
    Some(value.to_owned())
}

fn member(input: &UserInput, group: &str) -> bool {
    input.groups.iter().any(|g| {
        g.display_name.eq_ignore_ascii_case(group)
            || g.external_id
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(group))
    })
}

fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn department(user: &Value) -> String {
    user.as_object()
        .and_then(|o| get_ci(o, ENTERPRISE))
        .and_then(|e| e.get("department"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase()
}

fn primary_email(user: &Value) -> Option<&str> {
    let list = user.get("emails")?.as_array()?;
    let primary = |e: &&Value| {
        e.get("primary").is_some_and(|p| {
            p == &Value::Bool(true) || p.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
        })
    };
    list.iter()
        .find(primary)
        .or_else(|| list.first())?
        .get("value")?
        .as_str()
}

fn email_domain(email: &str) -> String {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.to_lowercase())
        .unwrap_or_default()
}

/// `user.attr(urn)`: the flattened key, or the attribute inside its schema's object.
fn attr<'a>(user: &'a Value, path: &str) -> Option<&'a Value> {
    let obj = user.as_object()?;
    if let Some(v) = get_ci(obj, path) {
        return Some(v);
    }
    let (urn, name) = path.rsplit_once(':')?;
    get_ci(get_ci(obj, urn)?.as_object()?, name)
}

/// `has_role`: `roles[].value` / `.display`, and inside JSON-string values (Entra's
/// AppRoleAssignmentsComplex) their `value` and `displayName`.
fn has_role(user: &Value, role: &str) -> bool {
    let Some(roles) = user.get("roles").and_then(Value::as_array) else {
        return false;
    };
    roles.iter().any(|r| {
        ["value", "display"].iter().any(|key| {
            let Some(text) = r.get(*key).and_then(Value::as_str) else {
                return false;
            };
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(inner)) => ["value", "displayName"].iter().any(|k| {
                    inner
                        .get(*k)
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.to_lowercase() == role.to_lowercase())
                }),
                _ => text.to_lowercase() == role.to_lowercase(),
            }
        })
    })
}

pub fn evaluate(input: &UserInput) -> Outcome {
    let user = &input.user;
    let mut s = AccountSettings::default();

    if member(input, "Sales") {
        s.user_plan = text("Sales Essentials");
        s.role = text("Sales user");
        s.primary_group = text("Sales");
    }
    if member(input, "Key account team") {
        s.user_plan = text("Sales Premium");
        s.secondary_groups = Some(vec!["Key accounts".to_owned()]);
    }
    if member(input, "Sales managers") {
        s.role = text("Sales manager");
    }
    if member(input, "Service") {
        fill(&mut s.user_plan, || "Service Essentials".to_owned());
        fill(&mut s.role, || "Service user".to_owned());
        fill(&mut s.primary_group, || "Service".to_owned());
    }
    if member(input, "Marketing") {
        fill(&mut s.user_plan, || "Marketing Premium".to_owned());
        fill(&mut s.role, || "Marketing user".to_owned());
        fill(&mut s.primary_group, || "Marketing".to_owned());
    }
    if member(input, "Finance") {
        fill(&mut s.primary_group, || "Finance".to_owned());
        fill(&mut s.role, || "Finance user".to_owned());
    }
    if member(input, "HR") {
        s.primary_group = text("HR");
        s.role = text("HR");
        s.confidential = Some(true);
    }
    if member(input, "Management") {
        s.user_plan = text("Complete");
        s.role = text("Manager");
        s.secondary_groups = Some(vec!["Management".to_owned()]);
    }
    if member(input, "0b6f2d1e-8c4a-4e3b-a7d2-5f9e1c3b7a40") {
        s.role = text("Administrator");
    }
    for (office, company, region) in [
        ("Office Oslo", "Acme Norway AS", "Nordics"),
        ("Office Stockholm", "Acme Sweden AB", "Nordics"),
        ("Office Munich", "Acme GmbH", "DACH"),
    ] {
        if member(input, office) {
            s.owner_company = text(company);
            fill(&mut s.secondary_groups, || vec![region.to_owned()]);
        }
    }
    // "Service campaign pilot" is inactive.

    let department = department(user);
    if department == "customer support" {
        s.primary_group = text("Support");
        fill(&mut s.user_plan, || "Service Essentials".to_owned());
    }
    if s.owner_company.is_none() {
        let company = match email_domain(primary_email(user).unwrap_or("")).as_str() {
            "acme.no" => Some("Acme Norway AS"),
            "acme.se" => Some("Acme Sweden AB"),
            "acme.de" => Some("Acme GmbH"),
            _ => None,
        };
        s.owner_company = company.map(str::to_owned);
    }
    if s.role.is_none() {
        let role = match department.as_str() {
            "sales" => Some("Sales user"),
            "customer support" => Some("Service user"),
            "marketing" => Some("Marketing user"),
            "finance" => Some("Finance user"),
            _ => None,
        };
        s.role = role.map(str::to_owned);
    }
    let title = user
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    if title.contains("director") || title.starts_with("chief ") {
        s.confidential = Some(true);
    }
    if let Some(Value::String(cc)) = attr(user, COST_CENTRE) {
        if cc.starts_with("41") {
            s.secondary_groups = Some(vec!["Partners".to_owned()]);
        }
        if cc.starts_with("90") && has_role(user, "CRM.Admin") {
            s.role = text("Administrator");
        }
    }
    if member(input, "Contractors") {
        s.user_plan = text("Standard");
        s.role = text("Restricted");
        s.secondary_groups = Some(vec!["Partners".to_owned()]);
        s.confidential = Some(false);
    }
    fill(&mut s.user_plan, || "Standard".to_owned());
    fill(&mut s.owner_company, || "Acme".to_owned());
    fill(&mut s.primary_group, || "Staff".to_owned());
    fill(&mut s.role, || "User".to_owned());
    fill(&mut s.confidential, || false);

    let active = user.get("active").and_then(Value::as_bool).unwrap_or(true);
    Outcome {
        synced: s.user_plan.is_some() && active,
        settings: s,
    }
}
