//! The Rhai sandbox: what a rule's expression or script may do (read the user, call the
//! helpers, compute) and what it may not (I/O, eval, modules, unbounded work). Helpers
//! that need the current user (`member_of`, `has_role`, `user.attr(...)`) read it from
//! a thread-local set for the duration of one evaluation: evaluation is synchronous.

use crate::scan::UserFields;
use crate::GroupRef;
use rhai::{Array, Dynamic, Engine, FuncRegistration, Map, Scope, INT};
use serde_json::Value;
use std::cell::RefCell;

/// Work one expression or script may do before it is stopped with an error.
pub const MAX_OPERATIONS: u64 = 50_000;

pub(crate) fn engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(16);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(10_000);
    engine.set_max_array_size(1_000);
    engine.set_max_map_size(1_000);
    engine.set_max_functions(64);
    engine.set_max_variables(64);
    engine.set_strict_variables(true);
    engine.set_max_strings_interned(0);
    engine.disable_symbol("eval");
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine.set_optimization_level(rhai::OptimizationLevel::Full);

    // Fixed: these read the current user, so they are volatile. Registered as plain
    // (pure, non-volatile) functions, full optimisation called them once at compile time
    // with constant arguments, when there is no user: `member_of("Sales")` was always false.
    FuncRegistration::new("member_of")
        .with_volatility(true)
        .register_into_engine(&mut engine, |group: &str| {
            with_current(|c| c.member_of(group))
        });
    FuncRegistration::new("has_role")
        .with_volatility(true)
        .register_into_engine(&mut engine, |role: &str| with_current(|c| c.has_role(role)));
    FuncRegistration::new("attr")
        .with_volatility(true)
        .register_into_engine(&mut engine, |user: &mut Map, name: &str| attr(user, name));
    engine.register_fn("lower", |s: &str| s.to_lowercase());
    engine.register_fn("upper", |s: &str| s.to_uppercase());
    engine.register_fn("trim", |s: &str| s.trim().to_owned());
    engine.register_fn("email_domain", |s: &str| {
        s.rsplit_once('@')
            .map(|(_, d)| d.to_lowercase())
            .unwrap_or_default()
    });
    engine
}

/// The variables every expression and script sees. Compiling against this scope makes
/// any other name a load-time error (strict variables).
///
/// They are plain variables here, not constants: with full optimisation Rhai would fold
/// a constant's compile-time value (an empty map) into the AST, and `user.title` would
/// be `()` for every user. At run time they are constants, so scripts cannot assign them.
pub(crate) fn compile_scope() -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push("user", Map::new());
    scope.push("groups", Array::new());
    scope.push("group_ids", Array::new());
    scope
}

/// What the helpers need to know of the current user, computed once per user (not a
/// copy of the whole document: `attr` reads the `user` object it is called on).
pub(crate) struct Current {
    groups_folded: Vec<String>,
    roles_folded: Vec<String>,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

fn with_current<T: Default>(f: impl FnOnce(&Current) -> T) -> T {
    CURRENT.with(|c| c.borrow().as_ref().map(f).unwrap_or_default())
}

/// Which per-user values a rule set's Rhai uses, so each user pays only for those:
/// folding group names for `member_of`, parsing Entra's JSON role values for `has_role`,
/// and the `groups` / `group_ids` arrays.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HelpersUsed {
    pub member_of: bool,
    pub has_role: bool,
    pub groups: bool,
    pub group_ids: bool,
}

impl HelpersUsed {
    pub fn scan<'a>(sources: impl IntoIterator<Item = &'a str>) -> Self {
        sources
            .into_iter()
            .fold(HelpersUsed::default(), |used, source| HelpersUsed {
                member_of: used.member_of || mentions(source, "member_of"),
                has_role: used.has_role || mentions(source, "has_role"),
                groups: used.groups || mentions(source, "groups"),
                group_ids: used.group_ids || mentions(source, "group_ids"),
            })
    }
}

/// Whether `source` names the identifier `name` as a variable or function: not as part
/// of a longer name, and not as a property (`out.secondary_groups`, `x.groups`). A
/// mention inside a string literal counts too, which only costs a little time.
fn mentions(source: &str, name: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    source.match_indices(name).any(|(at, _)| {
        let before = source[..at].chars().next_back();
        let after = source[at + name.len()..].chars().next();
        !before.is_some_and(|c| is_ident(c) || c == '.') && !after.is_some_and(is_ident)
    })
}

/// Makes `user` current for the helpers while `f` runs.
pub(crate) fn with_user<T>(
    raw: &Value,
    groups: &[GroupRef],
    helpers: HelpersUsed,
    f: impl FnOnce() -> T,
) -> T {
    let current = Current {
        groups_folded: if !helpers.member_of {
            Vec::new()
        } else {
            groups
                .iter()
                .flat_map(|g| {
                    std::iter::once(g.display_name.to_lowercase())
                        .chain(g.external_id.iter().map(|e| e.to_lowercase()))
                })
                .collect()
        },
        roles_folded: if helpers.has_role {
            role_names(raw)
        } else {
            Vec::new()
        },
    };
    CURRENT.with(|c| *c.borrow_mut() = Some(current));
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = None);
    out
}

impl Current {
    fn member_of(&self, group: &str) -> bool {
        let g = group.to_lowercase();
        self.groups_folded.contains(&g)
    }

    fn has_role(&self, role: &str) -> bool {
        let r = role.to_lowercase();
        self.roles_folded.contains(&r)
    }
}

/// `user.attr(path)`: any attribute by its full URN path (`urn:…:Name:2.0:User:attr`),
/// flattened as Entra sends custom attributes or nested under its schema URN; `()` when
/// missing. Names compare case-insensitively.
fn attr(user: &Map, path: &str) -> Dynamic {
    let get = |m: &Map, k: &str| {
        m.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if let Some(v) = get(user, path) {
        return v;
    }
    path.rsplit_once(':')
        .and_then(|(urn, name)| {
            get(user, urn)
                .and_then(|ext| ext.try_cast::<Map>())
                .and_then(|ext| get(&ext, name))
        })
        .unwrap_or(Dynamic::UNIT)
}

/// Role names a user has: `roles[].value` and `.display`, and inside values Entra sends
/// as JSON strings (AppRoleAssignmentsComplex) their `value` and `displayName`.
fn role_names(raw: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for role in raw
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for key in ["value", "display"] {
            let Some(text) = role.get(key).and_then(Value::as_str) else {
                continue;
            };
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(inner)) => {
                    for k in ["value", "displayName"] {
                        if let Some(v) = inner.get(k).and_then(Value::as_str) {
                            out.push(v.to_lowercase());
                        }
                    }
                }
                _ => out.push(text.to_lowercase()),
            }
        }
    }
    out
}

pub(crate) fn to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i as INT),
            None => Dynamic::from_float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(o) => {
            let map: Map = o
                .iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect();
            Dynamic::from_map(map)
        }
    }
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The read-only `user` a rule sees: the SCIM resource with friendly accessors. Known
/// complex attributes are always maps, so `user.name.givenName` is `()` rather than an
/// error when the IdP sent no name.
pub(crate) fn user_object(raw: &Value, fields: &UserFields) -> Dynamic {
    let wanted = |name: &str| match fields {
        UserFields::All => true,
        UserFields::Only(names) => names.iter().any(|n| n == name),
    };
    let mut map = match fields {
        UserFields::All => to_dynamic(raw).try_cast::<Map>().unwrap_or_default(),
        UserFields::Only(names) => {
            let obj = raw.as_object();
            let mut map = Map::new();
            for name in names {
                if let Some(v) = obj.and_then(|o| o.get(name.as_str())) {
                    map.insert(name.as_str().into(), to_dynamic(v));
                }
            }
            if wanted("attr") {
                // `user.attr(…)` reads extension attributes by their URN keys.
                for (k, v) in obj
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| k.to_ascii_lowercase().starts_with("urn:"))
                {
                    map.insert(k.as_str().into(), to_dynamic(v));
                }
            }
            map
        }
    };
    for complex in ["name"] {
        if wanted(complex) && !map.get(complex).is_some_and(|v| v.is_map()) {
            map.insert(complex.into(), Dynamic::from_map(Map::new()));
        }
    }
    for multi in ["emails", "phoneNumbers", "addresses", "roles"] {
        if wanted(multi) && !map.get(multi).is_some_and(|v| v.is_array()) {
            map.insert(multi.into(), Dynamic::from_array(Array::new()));
        }
    }
    if wanted("enterprise") {
        let mut enterprise = raw
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(ENTERPRISE)))
            .and_then(|(_, v)| to_dynamic(v).try_cast::<Map>())
            .unwrap_or_default();
        if !enterprise.get("manager").is_some_and(|v| v.is_map()) {
            enterprise.insert("manager".into(), Dynamic::from_map(Map::new()));
        }
        map.insert("enterprise".into(), Dynamic::from_map(enterprise));
    }
    if wanted("primary_email") {
        map.insert("primary_email".into(), primary_email(raw));
    }
    // `"active": null` (or any non-boolean) reads as active, as the sync treats it.
    if wanted("active") {
        map.insert("active".into(), Dynamic::from_bool(is_active(raw)));
    }
    Dynamic::from_map(map)
}

pub use scimgate_core::staged::is_active;

fn primary_email(raw: &Value) -> Dynamic {
    let emails = raw.get("emails").and_then(Value::as_array);
    let pick = emails.and_then(|list| {
        list.iter()
            .find(|e| {
                e.get("primary").is_some_and(|p| {
                    p == &Value::Bool(true)
                        || p.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
                })
            })
            .or_else(|| list.first())
    });
    match pick.and_then(|e| e.get("value")).and_then(Value::as_str) {
        Some(v) => Dynamic::from(v.to_owned()),
        None => Dynamic::UNIT,
    }
}

/// `group_ids`: the externalIds of the user's groups (Entra's object ids), where known.
pub(crate) fn group_ids_object(groups: &[GroupRef]) -> Dynamic {
    Dynamic::from_array(
        groups
            .iter()
            .filter_map(|g| g.external_id.clone())
            .map(Dynamic::from)
            .collect(),
    )
}

/// `groups`: the display names of the user's groups.
pub(crate) fn groups_object(groups: &[GroupRef]) -> Dynamic {
    Dynamic::from_array(
        groups
            .iter()
            .map(|g| Dynamic::from(g.display_name.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_finds_names_not_parts_or_properties() {
        assert!(mentions("for g in groups { }", "groups"));
        assert!(mentions("groups.len() > 2", "groups"));
        assert!(mentions("member_of(\"Sales\")", "member_of"));
        assert!(!mentions("out.secondary_groups = [];", "groups"));
        assert!(!mentions("user.groups", "groups"));
        assert!(!mentions("my_groups.len()", "groups"));
        assert!(!mentions("groups_x", "groups"));
        assert!(mentions("group_ids.contains(\"x\")", "group_ids"));
        assert!(!mentions("group_ids.contains(\"x\")", "groups"));
        let used = HelpersUsed::scan(["out.secondary_groups = [\"x\"];", "user.title"]);
        assert!(!used.groups && !used.group_ids && !used.member_of && !used.has_role);
    }
}
