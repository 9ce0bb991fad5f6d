//! Turning what the store keeps into what a client reads: `id`, `meta` and members
//! added, and `attributes`/`excludedAttributes` applied.

use crate::error::ScimError;
use crate::schema::{self, key_ci, ResourceType};
use scimgate_store::{Member, StoredResource};
use serde_json::{Map, Value};

/// The resource as a client reads it. `base` is the tenant's SCIM base URL.
pub fn render(
    rt: ResourceType,
    stored: &StoredResource,
    members: Option<&[Member]>,
    base: &str,
) -> Value {
    let mut out = Map::new();
    let body = stored.body.as_object();
    if let Some(schemas) = body.and_then(|b| b.get("schemas")) {
        out.insert("schemas".into(), schemas.clone());
    }
    out.insert("id".into(), Value::String(stored.id.clone()));
    if let Some(body) = body {
        for (k, v) in body {
            if k != "schemas" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(members) = members {
        let list = members
            .iter()
            .map(|m| {
                let mut o = Map::new();
                o.insert("value".into(), Value::String(m.value.clone()));
                let kind = m.member_type.as_deref().unwrap_or("User");
                let endpoint = if kind.eq_ignore_ascii_case("group") {
                    "Groups"
                } else {
                    "Users"
                };
                o.insert(
                    "$ref".into(),
                    Value::String(format!("{base}/{endpoint}/{}", m.value)),
                );
                if let Some(t) = &m.member_type {
                    o.insert("type".into(), Value::String(t.clone()));
                }
                if let Some(d) = &m.display {
                    o.insert("display".into(), Value::String(d.clone()));
                }
                Value::Object(o)
            })
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    let meta = serde_json::json!({
        "resourceType": rt.name(),
        "created": stored.created.to_rfc3339(),
        "lastModified": stored.last_modified.to_rfc3339(),
        "version": etag(stored.version),
        "location": format!("{base}/{}/{}", rt.endpoint(), stored.id),
    });
    out.insert("meta".into(), meta);
    Value::Object(out)
}

pub use crate::etag::etag;

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5), already parsed.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<crate::filter::AttrRef>,
    pub excluded: Vec<crate::filter::AttrRef>,
}

impl Projection {
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        let list = |raw: Option<&str>| -> Result<Vec<crate::filter::AttrRef>, ScimError> {
            raw.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let attr = crate::filter::parse_attr_ref(s).map_err(|e| {
                        ScimError::invalid_path(format!("bad attribute {s:?}: {e}"))
                    })?;
                    if attr.filter.is_some() {
                        return Err(ScimError::invalid_path(format!(
                            "{s:?}: attribute lists take no filters"
                        )));
                    }
                    Ok(attr)
                })
                .collect()
        };
        Ok(Projection {
            attributes: list(attributes)?,
            excluded: list(excluded)?,
        })
    }

    /// Whether the rendered resource will include the top-level attribute `name`.
    pub fn includes(&self, name: &str) -> bool {
        let named =
            |a: &crate::filter::AttrRef| a.urn.is_none() && a.name.eq_ignore_ascii_case(name);
        if !self.attributes.is_empty() {
            return self.attributes.iter().any(named);
        }
        !self.excluded.iter().any(|a| named(a) && a.sub.is_none())
    }

    pub fn apply(&self, rt: ResourceType, resource: Value) -> Value {
        let Value::Object(mut obj) = resource else {
            return resource;
        };
        if !self.attributes.is_empty() {
            let mut out = Map::new();
            for always in ["schemas", "id"] {
                if let Some(v) = obj.remove(always) {
                    out.insert(always.to_owned(), v);
                }
            }
            for attr in &self.attributes {
                copy_attr(rt, &obj, &mut out, attr);
            }
            return Value::Object(out);
        }
        for attr in &self.excluded {
            if attr.name.eq_ignore_ascii_case("id") || attr.name.eq_ignore_ascii_case("schemas") {
                continue; // returned "always"
            }
            remove_attr(rt, &mut obj, attr);
        }
        Value::Object(obj)
    }
}

/// The object holding `attr` (the resource itself or an extension object) and its key.
fn container_key(
    rt: ResourceType,
    obj: &Map<String, Value>,
    attr: &crate::filter::AttrRef,
) -> (Option<String>, String) {
    match &attr.urn {
        Some(urn) if !urn.eq_ignore_ascii_case(rt.core_schema()) => {
            let flat = format!("{urn}:{}", attr.name);
            if let Some(k) = key_ci(obj, &flat) {
                return (None, k.clone());
            }
            let ext = key_ci(obj, urn).cloned().unwrap_or_else(|| urn.clone());
            (Some(ext), attr.name.clone())
        }
        _ => (None, attr.name.clone()),
    }
}

fn copy_attr(
    rt: ResourceType,
    src: &Map<String, Value>,
    out: &mut Map<String, Value>,
    attr: &crate::filter::AttrRef,
) {
    let (ext, name) = container_key(rt, src, attr);
    let src = match &ext {
        Some(e) => match src.get(e).and_then(Value::as_object) {
            Some(o) => o,
            None => return,
        },
        None => src,
    };
    let Some(key) = key_ci(src, &name) else {
        return;
    };
    let value = &src[key];
    let picked = match &attr.sub {
        None => Some(value.clone()),
        Some(sub) => pick_sub(value, sub),
    };
    let Some(picked) = picked else { return };
    let target = match ext {
        Some(e) => match out.entry(e).or_insert_with(|| Value::Object(Map::new())) {
            Value::Object(o) => o,
            _ => return,
        },
        None => out,
    };
    match (target.get_mut(key), picked) {
        (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
        (_, picked) => {
            target.insert(key.clone(), picked);
        }
    }
}

fn pick_sub(value: &Value, sub: &str) -> Option<Value> {
    let pick = |o: &Map<String, Value>| {
        key_ci(o, sub).map(|k| Value::Object(Map::from_iter([(k.clone(), o[k].clone())])))
    };
    match value {
        Value::Object(o) => pick(o),
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter_map(|i| i.as_object().and_then(pick))
                .collect(),
        )),
        _ => None,
    }
}

fn remove_attr(rt: ResourceType, obj: &mut Map<String, Value>, attr: &crate::filter::AttrRef) {
    let (ext, name) = container_key(rt, obj, attr);
    let container = match ext {
        Some(e) => match obj.get_mut(&e).and_then(Value::as_object_mut) {
            Some(o) => o,
            None => return,
        },
        None => obj,
    };
    let Some(key) = key_ci(container, &name).cloned() else {
        return;
    };
    match &attr.sub {
        None => {
            container.remove(&key);
        }
        Some(sub) => {
            if let Some(value) = container.get_mut(&key) {
                schema::remove_sub_ci(value, sub);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_keeps_id_and_schemas() {
        let p = Projection::parse(Some("userName,name.givenName,emails.value"), None).unwrap();
        let out = p.apply(
            ResourceType::User,
            json!({"schemas": [], "id": "1", "userName": "u", "name": {"givenName": "g", "familyName": "f"},
                   "emails": [{"value": "e", "type": "work"}], "title": "t"}),
        );
        assert_eq!(
            out,
            json!({"schemas": [], "id": "1", "userName": "u", "name": {"givenName": "g"}, "emails": [{"value": "e"}]})
        );
        let p = Projection::parse(None, Some("members,id")).unwrap();
        assert!(!p.includes("members"));
        let out = p.apply(
            ResourceType::Group,
            json!({"id": "1", "members": [], "displayName": "d"}),
        );
        assert_eq!(out, json!({"id": "1", "displayName": "d"}));
    }
}
