//! Turning what a client sent into what the store keeps: validated, names canonical,
//! values as sent. The way back out is in [`crate::render`].

use crate::error::ScimError;
use crate::schema::{self, AttrDef, AttrType, Mutability, ResourceType};
use scimgate_store::{IndexedDoc, Member};
use serde_json::{Map, Value};

/// A validated resource body ready to store, plus a group's members.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub doc: IndexedDoc,
    pub members: Option<Vec<Member>>,
}

/// Validates a client's resource. Server-owned attributes (`id`, `meta`) are dropped;
/// a group's `members` are taken out to be stored one row each. Unknown attributes are
/// kept as received: nothing the IdP sent is lost.
pub fn normalize(rt: ResourceType, input: Value) -> Result<Normalized, ScimError> {
    let Value::Object(input) = input else {
        return Err(ScimError::invalid_syntax(format!(
            "a {} must be a JSON object",
            rt.name()
        )));
    };
    let mut body = Map::new();
    let mut members = None;
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            body.insert("schemas".into(), check_schemas(rt, value)?);
            continue;
        }
        if key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("meta") {
            continue;
        }
        if rt == ResourceType::Group && key.eq_ignore_ascii_case("members") {
            members = Some(parse_members(&value)?);
            continue;
        }
        if key.to_ascii_lowercase().starts_with("urn:") {
            let (name, value) = normalize_extension(rt, &key, value)?;
            if let Some(value) = value {
                insert_merge(&mut body, name, value);
            }
            continue;
        }
        match rt.core_attr(&key) {
            Some(def) => {
                // `groups` on a User is computed by the server: ignored (RFC 7643 §7).
                if def.mutability == Mutability::ReadOnly {
                    continue;
                }
                // A `password` is a secret the CRM sync never needs, so it is never
                // stored; but one of the wrong type is still the client's mistake.
                if def.mutability == Mutability::WriteOnly {
                    coerce(def, value, def.name)?;
                    continue;
                }
                if let Some(value) = coerce(def, value, def.name)? {
                    body.insert(def.name.to_owned(), value);
                }
            }
            None => {
                body.insert(key, value);
            }
        }
    }
    if !body.contains_key("schemas") {
        body.insert(
            "schemas".into(),
            Value::Array(vec![Value::String(rt.core_schema().into())]),
        );
    }
    list_extension_schemas(rt, &mut body);
    let members = members.or(if rt == ResourceType::Group {
        Some(Vec::new())
    } else {
        None
    });
    let doc = index(rt, Value::Object(body))?;
    Ok(Normalized { doc, members })
}

/// Re-validates a body after a PATCH and extracts its indexed values.
pub fn index(rt: ResourceType, body: Value) -> Result<IndexedDoc, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("resource must be an object"))?;
    let text = |name: &str| obj.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut doc = IndexedDoc {
        external_id: text("externalId"),
        display_name: text("displayName"),
        ..IndexedDoc::default()
    };
    match rt {
        ResourceType::User => {
            let user_name = text("userName").filter(|u| !u.trim().is_empty());
            if user_name.is_none() {
                return Err(ScimError::invalid_value(
                    "userName is required and must be a non-empty string",
                ));
            }
            doc.user_name = user_name;
            doc.active = obj.get("active").and_then(Value::as_bool);
            doc.emails = obj
                .get("emails")
                .and_then(Value::as_array)
                .map(|emails| {
                    emails
                        .iter()
                        .filter_map(|e| e.get("value").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
        }
        ResourceType::Group => {
            if doc
                .display_name
                .as_deref()
                .is_none_or(|d| d.trim().is_empty())
            {
                return Err(ScimError::invalid_value(
                    "displayName is required and must be a non-empty string",
                ));
            }
        }
    }
    doc.body = body;
    Ok(doc)
}

/// A known extension present in the body is listed in `schemas` (a PATCH may add one).
fn list_extension_schemas(rt: ResourceType, body: &mut Map<String, Value>) {
    let present: Vec<&'static str> = body
        .keys()
        .filter_map(|k| rt.known_extension(k).map(|(urn, _)| urn))
        .collect();
    if let Some(Value::Array(schemas)) = body.get_mut("schemas") {
        for urn in present {
            if !schemas
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
            {
                schemas.push(Value::String(urn.to_owned()));
            }
        }
    }
}

fn check_schemas(rt: ResourceType, value: Value) -> Result<Value, ScimError> {
    let Some(list) = value.as_array() else {
        return Err(ScimError::invalid_syntax(
            "schemas must be an array of schema URNs",
        ));
    };
    if list.iter().any(|s| !s.is_string()) {
        return Err(ScimError::invalid_syntax(
            "schemas must be an array of schema URNs",
        ));
    }
    if !list
        .iter()
        .filter_map(Value::as_str)
        .any(|s| s.eq_ignore_ascii_case(rt.core_schema()))
    {
        return Err(ScimError::invalid_value(format!(
            "schemas must include {}",
            rt.core_schema()
        )));
    }
    Ok(value)
}

fn parse_members(value: &Value) -> Result<Vec<Member>, ScimError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => {
            return Err(ScimError::invalid_value(
                "members must be an array of {\"value\": id} objects",
            ))
        }
    };
    items.iter().map(parse_member).collect()
}

pub fn parse_member(item: &Value) -> Result<Member, ScimError> {
    let obj = item.as_object().ok_or_else(|| {
        ScimError::invalid_value("each member must be an object with a \"value\"")
    })?;
    let text = |name: &str| -> Result<Option<String>, ScimError> {
        match schema::get_ci(obj, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ScimError::invalid_value(format!(
                "member {name} must be a string, not {other}"
            ))),
        }
    };
    let value = text("value")?.filter(|v| !v.is_empty());
    let value = value.ok_or_else(|| {
        ScimError::invalid_value("each member needs a non-empty \"value\" (the member's id)")
    })?;
    Ok(Member {
        value,
        member_type: text("type")?,
        display: text("display")?,
    })
}

/// An extension key: `urn:…:enterprise:2.0:User` with an object of attributes, or a
/// flattened custom attribute `urn:…:Name:2.0:User:attr` as Entra sends them.
fn normalize_extension(
    rt: ResourceType,
    key: &str,
    value: Value,
) -> Result<(String, Option<Value>), ScimError> {
    if let Some((urn, defs)) = rt.known_extension(key) {
        let Value::Object(attrs) = value else {
            return Err(ScimError::invalid_value(format!(
                "{urn} must be an object of attributes"
            )));
        };
        let mut out = Map::new();
        for (name, value) in attrs {
            // Some clients (the python-scim models) repeat the extension's URN inside its
            // object as `schemas`; the top-level `schemas` already lists it.
            if name.eq_ignore_ascii_case("schemas") {
                continue;
            }
            let def = schema::find(defs, &name).ok_or_else(|| {
                ScimError::invalid_value(format!("{urn} has no attribute {name:?}"))
            })?;
            if let Some(value) = coerce(def, value, def.name)? {
                out.insert(def.name.to_owned(), value);
            }
        }
        return Ok((urn.to_owned(), Some(Value::Object(out))));
    }
    // A flattened attribute of a known extension: fold it into the extension object.
    if let Some(idx) = key.rfind(':') {
        let (urn, name) = (&key[..idx], &key[idx + 1..]);
        if let Some((urn, defs)) = rt.known_extension(urn) {
            let def = schema::find(defs, name).ok_or_else(|| {
                ScimError::invalid_value(format!("{urn} has no attribute {name:?}"))
            })?;
            let value = coerce(def, value, def.name)?;
            return Ok((
                urn.to_owned(),
                value.map(|v| Value::Object(Map::from_iter([(def.name.to_owned(), v)]))),
            ));
        }
    }
    Ok((key.to_owned(), Some(value)))
}

fn insert_merge(body: &mut Map<String, Value>, key: String, value: Value) {
    match (body.get_mut(&key), value) {
        (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
        (_, value) => {
            body.insert(key, value);
        }
    }
}

/// Checks a value against its definition and brings it to canonical form: booleans sent
/// as "True"/"False" become booleans, sub-attribute names take their schema spelling,
/// `manager` sent as a bare id becomes `{"value": id}`. `null` means "absent".
pub fn coerce(def: &AttrDef, value: Value, path: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi {
        let items = match value {
            Value::Array(items) => items,
            // A multi-valued attribute sent as one JSON-encoded string is Entra's
            // AppRoleAssignmentsComplex: taken as the list it encodes. A single object is
            // not a list in a resource body (PATCH, which may add one value, wraps it).
            Value::String(s) if s.trim_start().starts_with('[') => match serde_json::from_str(&s) {
                Ok(Value::Array(items)) => items,
                _ => return Err(ScimError::invalid_value(format!("{path} must be an array"))),
            },
            other => {
                return Err(ScimError::invalid_value(format!(
                    "{path} must be an array, not {other}"
                )))
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_single(def, item, path)? {
                out.push(v);
            }
        }
        return Ok(Some(Value::Array(out)));
    }
    coerce_single(def, value, path)
}

fn coerce_single(def: &AttrDef, value: Value, path: &str) -> Result<Option<Value>, ScimError> {
    let wrong = |value: &Value| {
        ScimError::invalid_value(format!("{path} must be {}, not {value}", expected(def.ty)))
    };
    Ok(Some(match def.ty {
        AttrType::Complex => match value {
            Value::Object(obj) => {
                let mut out = Map::new();
                for (name, v) in obj {
                    match schema::find(def.sub, &name) {
                        Some(sub) => {
                            if let Some(v) = coerce_single(sub, v, &format!("{path}.{}", sub.name))?
                            {
                                out.insert(sub.name.to_owned(), v);
                            }
                        }
                        None => {
                            out.insert(name, v);
                        }
                    }
                }
                Value::Object(out)
            }
            // `manager` arrives as a bare id from Entra; so may other reference-holders.
            Value::String(s) if schema::find(def.sub, "value").is_some() => {
                Value::Object(Map::from_iter([("value".to_owned(), Value::String(s))]))
            }
            // Entra jobs created before the `aadOptscim062020` flag send `manager` as a
            // list of one reference object: `[{"$ref": …, "value": id}]`.
            Value::Array(mut items)
                if items.len() == 1
                    && items[0].is_object()
                    && schema::find(def.sub, "value").is_some() =>
            {
                return coerce_single(def, items.remove(0), path);
            }
            Value::Null => return Ok(None),
            other => return Err(wrong(&other)),
        },
        AttrType::Boolean => match value {
            Value::Bool(b) => Value::Bool(b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            other => return Err(wrong(&other)),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Value::Number(n),
            other => return Err(wrong(&other)),
        },
        AttrType::Decimal => match value {
            Value::Number(n) => Value::Number(n),
            other => return Err(wrong(&other)),
        },
        AttrType::String | AttrType::Reference | AttrType::DateTime | AttrType::Binary => {
            match value {
                Value::String(s) => Value::String(s),
                other => return Err(wrong(&other)),
            }
        }
    }))
}

fn expected(ty: AttrType) -> &'static str {
    match ty {
        AttrType::Complex => "an object",
        AttrType::Boolean => "a boolean",
        AttrType::Integer => "an integer",
        AttrType::Decimal => "a number",
        _ => "a string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entra_user_is_kept_as_sent_with_canonical_names() {
        let n = normalize(
            ResourceType::User,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "UserName": "Test_User_ab6490ee@contoso.com",
                "active": "True",
                "id": "client-chosen",
                "emails": [{"Primary": "true", "type": "work", "value": "Test_User@contoso.com"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Department": "Sales", "manager": "m-1"},
                "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:costCode": "CC-1"
            }),
        )
        .unwrap();
        let body = &n.doc.body;
        assert_eq!(body["userName"], "Test_User_ab6490ee@contoso.com");
        assert_eq!(body["active"], true);
        assert!(body.get("id").is_none());
        assert_eq!(body["emails"][0]["primary"], true);
        assert_eq!(
            body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "Sales"
        );
        assert_eq!(
            body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"],
            "m-1"
        );
        assert_eq!(
            body["urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:costCode"],
            "CC-1"
        );
        assert_eq!(
            n.doc.user_name.as_deref(),
            Some("Test_User_ab6490ee@contoso.com")
        );
        assert_eq!(n.doc.active, Some(true));
        assert_eq!(n.doc.emails, vec!["Test_User@contoso.com".to_owned()]);
    }

    #[test]
    fn passwords_are_never_kept_and_extensions_are_listed() {
        let n = normalize(
            ResourceType::User,
            json!({"userName": "a", "password": "hunter2",
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"}}),
        )
        .unwrap();
        assert!(n.doc.body.get("password").is_none());
        assert_eq!(
            n.doc.body["schemas"],
            json!([
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ])
        );
    }

    #[test]
    fn wrong_types_are_invalid_values() {
        for bad in [
            json!({"userName": 5}),
            json!({"userName": "a", "active": "yes"}),
            json!({"userName": "a", "emails": "x@y"}),
            json!({"userName": "a", "name": 3}),
            json!({"userName": ""}),
            json!({"displayName": "no userName"}),
            json!({"userName": "a", "schemas": "urn"}),
            json!({"userName": "a", "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]}),
        ] {
            assert!(
                normalize(ResourceType::User, bad.clone()).is_err(),
                "{bad} accepted"
            );
        }
        assert!(normalize(ResourceType::User, json!([1])).is_err());
    }
}
