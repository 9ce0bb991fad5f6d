//! Reading a PatchOp request: operations, their kinds and paths, checked against the
//! schema before any resource is touched (the applying is in the parent module).

use crate::error::ScimError;
use crate::filter::{self, AttrRef, Target};
use crate::schema::{self, AttrDef, Mutability, ResourceType};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PatchPath {
    Attr(AttrRef),
    /// The whole extension object, e.g. `urn:…:enterprise:2.0:User`.
    Extension(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Upper bound on operations per request; protects the single writer from one client.
const MAX_OPERATIONS: usize = 1000;

/// Parses and checks a PatchOp request body without touching any resource.
pub fn parse(rt: ResourceType, body: Value) -> Result<Vec<PatchOperation>, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::invalid_syntax(
            "a PATCH body must be a JSON object",
        ));
    };
    if let Some(schemas) = schema::get_ci(&body, "schemas") {
        let ok = schemas.as_array().is_some_and(|s| {
            s.iter().any(|u| {
                u.as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(schema::PATCH_OP))
            })
        });
        if !ok {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must be [\"{}\"]",
                schema::PATCH_OP
            )));
        }
    }
    let Some(Value::Array(ops)) = schema::get_ci(&body, "Operations") else {
        return Err(ScimError::invalid_syntax(
            "a PATCH body needs an \"Operations\" array",
        ));
    };
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax(
            "\"Operations\" must not be empty",
        ));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::bad_request(
            crate::error::ScimType::TooMany,
            format!("at most {MAX_OPERATIONS} operations per request"),
        ));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_operation(rt, i, op))
        .collect()
}

fn parse_operation(
    rt: ResourceType,
    index: usize,
    op: &Value,
) -> Result<PatchOperation, ScimError> {
    let at = |msg: String| format!("Operations[{index}]: {msg}");
    let Value::Object(op) = op else {
        return Err(ScimError::invalid_syntax(at(
            "an operation must be an object".into(),
        )));
    };
    let kind = match schema::get_ci(op, "op").and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("add") => OpKind::Add,
        Some(s) if s.eq_ignore_ascii_case("replace") => OpKind::Replace,
        Some(s) if s.eq_ignore_ascii_case("remove") => OpKind::Remove,
        Some(s) => {
            return Err(ScimError::invalid_syntax(at(format!(
                "op {s:?} is not add, replace or remove"
            ))))
        }
        None => return Err(ScimError::invalid_syntax(at("\"op\" is missing".into()))),
    };
    let path = match schema::get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(parse_path(rt, p.trim()).map_err(|e| ScimError {
            detail: at(e.detail),
            ..e
        })?),
        Some(other) => {
            return Err(ScimError::invalid_path(at(format!(
                "path must be a string, not {other}"
            ))))
        }
    };
    let value = schema::get_ci(op, "value").cloned();
    if let (OpKind::Remove, Some(PatchPath::Attr(attr))) = (kind, &path) {
        // RFC 7644 §3.5.2.2: removing a required attribute is a mutability error.
        let required = lookup(rt, attr).ok().flatten().is_some_and(|d| d.required);
        if required && attr.sub.is_none() {
            return Err(ScimError::mutability(at(format!(
                "{} is required and cannot be removed",
                attr.name
            ))));
        }
    }
    match (kind, &path, &value) {
        (OpKind::Remove, None, _) => Err(ScimError::no_target(at("remove needs a path".into()))),
        (OpKind::Add | OpKind::Replace, _, None) => Err(ScimError::invalid_value(at(
            "add and replace need a value".into(),
        ))),
        (OpKind::Add | OpKind::Replace, None, Some(v)) if !v.is_object() => {
            Err(ScimError::invalid_value(at(
                "without a path, the value must be an object of attributes".into(),
            )))
        }
        _ => Ok(PatchOperation {
            op: kind,
            path,
            value,
        }),
    }
}

pub fn parse_path(rt: ResourceType, raw: &str) -> Result<PatchPath, ScimError> {
    if let Some((urn, _)) = rt.known_extension(raw) {
        return Ok(PatchPath::Extension(urn.to_owned()));
    }
    let attr = filter::parse_attr_ref(raw)
        .map(|a| filter::qualify_attr(a, rt))
        .map_err(|e| {
            // RFC 7644 §3.12: a broken filter inside a path is `invalidFilter`; anything
            // else wrong with the path is `invalidPath`.
            let attribute_ok = raw
                .split_once('[')
                .is_some_and(|(attr, _)| filter::parse_attr_ref(attr).is_ok());
            if attribute_ok {
                ScimError::invalid_filter(format!("bad filter in path {raw:?}: {e}"))
            } else {
                ScimError::invalid_path(format!("bad path {raw:?}: {e}"))
            }
        })?;
    if let Some(f) = &attr.filter {
        let subs = element_defs(rt, &attr);
        filter::check(f, Target::Element(subs))
            .map_err(|e| ScimError::invalid_filter(format!("{raw:?}: {e}")))?;
    }
    // Unknown names in a known schema are a client error; custom extensions are open.
    let def = lookup(rt, &attr)?;
    if let (Some(def), Some(sub)) = (def, &attr.sub) {
        match schema::find(def.sub, sub) {
            None if !def.sub.is_empty() => {
                return Err(ScimError::invalid_path(format!(
                    "{} has no sub-attribute {sub:?}",
                    def.name
                )));
            }
            // A read-only sub-attribute (`manager.displayName`) is as server-owned as a
            // read-only attribute: a path to it is refused, not silently stored.
            Some(s) if s.mutability == Mutability::ReadOnly => {
                return Err(ScimError::mutability(format!(
                    "{}.{} is read-only",
                    def.name, s.name
                )));
            }
            _ => {}
        }
    }
    if let Some(def) = def {
        if def.mutability == Mutability::ReadOnly {
            return Err(ScimError::mutability(format!("{} is read-only", def.name)));
        }
        if attr.filter.is_some() && !def.multi {
            return Err(ScimError::invalid_path(format!(
                "{} is not multi-valued; it takes no filter",
                def.name
            )));
        }
    }
    Ok(PatchPath::Attr(attr))
}

/// The schema definition an attribute reference names; `Ok(None)` for custom extensions.
pub(super) fn lookup(
    rt: ResourceType,
    attr: &AttrRef,
) -> Result<Option<&'static AttrDef>, ScimError> {
    match &attr.urn {
        None => rt.core_attr(&attr.name).map(Some).ok_or_else(|| {
            ScimError::invalid_path(format!("{} has no attribute {:?}", rt.name(), attr.name))
        }),
        Some(urn) if urn.eq_ignore_ascii_case(rt.core_schema()) => {
            rt.core_attr(&attr.name).map(Some).ok_or_else(|| {
                ScimError::invalid_path(format!("{} has no attribute {:?}", rt.name(), attr.name))
            })
        }
        Some(urn) => match rt.known_extension(urn) {
            Some((urn, defs)) => schema::find(defs, &attr.name).map(Some).ok_or_else(|| {
                ScimError::invalid_path(format!("{urn} has no attribute {:?}", attr.name))
            }),
            None => Ok(None),
        },
    }
}

fn element_defs(rt: ResourceType, attr: &AttrRef) -> &'static [AttrDef] {
    lookup(rt, attr)
        .ok()
        .flatten()
        .map(|d| d.sub)
        .unwrap_or(&[])
}
