//! PATCH (RFC 7644 §3.5.2) over the stored JSON, with everything Entra actually sends:
//! ops in any case, booleans as strings, filtered paths that create the element they
//! name, path-less replaces with dotted or URN-qualified keys, removes that carry values.
//! Group members never touch the JSON: they become [`MemberOp`]s on the member table.

mod parse;

pub use parse::{parse, parse_path, OpKind, PatchOperation, PatchPath};

use crate::error::ScimError;
use crate::filter::{self, AttrRef, CompareOp, Filter, Target};
use crate::resource::{self, coerce, parse_member};
use crate::schema::{self, key_ci, AttrDef, ResourceType};
use parse::lookup;
use scimgate_store::MemberOp;
use serde_json::{Map, Value};

fn is_members(rt: ResourceType, attr: &AttrRef) -> bool {
    rt == ResourceType::Group
        && attr.name.eq_ignore_ascii_case("members")
        && attr
            .urn
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(rt.core_schema()))
}

/// Applies the operations to a stored body. Returns the new body (validated and indexed
/// by the caller) and the member changes, in order.
pub fn apply(
    rt: ResourceType,
    body: Value,
    ops: &[PatchOperation],
) -> Result<(Value, Vec<MemberOp>), ScimError> {
    let Value::Object(mut doc) = body else {
        return Err(ScimError::internal("stored resource is not an object"));
    };
    let mut members = Vec::new();
    for op in ops {
        match (&op.path, &op.value) {
            (Some(PatchPath::Extension(urn)), value) => {
                apply_extension(&mut doc, op.op, urn, value.clone())?
            }
            (Some(PatchPath::Attr(attr)), value) if is_members(rt, attr) => {
                members.extend(member_ops(op.op, attr, value.as_ref())?);
            }
            (Some(PatchPath::Attr(attr)), value) => {
                apply_at(rt, &mut doc, op.op, attr, value.clone())?
            }
            (None, Some(Value::Object(attrs))) => {
                for (key, value) in attrs {
                    apply_pathless(rt, &mut doc, op.op, key, value.clone(), &mut members)?;
                }
            }
            (None, _) => {
                return Err(ScimError::invalid_value(
                    "without a path, the value must be an object",
                ))
            }
        }
    }
    Ok((Value::Object(doc), members))
}

fn apply_pathless(
    rt: ResourceType,
    doc: &mut Map<String, Value>,
    op: OpKind,
    key: &str,
    value: Value,
    members: &mut Vec<MemberOp>,
) -> Result<(), ScimError> {
    // Server-owned attributes are ignored here as they are in a POST body: Entra echoes
    // the group's `id` in its path-less replace. An explicit path to them is refused.
    if ["schemas", "id", "meta"]
        .iter()
        .any(|k| key.eq_ignore_ascii_case(k))
    {
        return Ok(());
    }
    match parse_path(rt, key)? {
        PatchPath::Extension(urn) => apply_extension(doc, op, &urn, Some(value)),
        PatchPath::Attr(attr) if is_members(rt, &attr) => {
            members.extend(member_ops(op, &attr, Some(&value))?);
            Ok(())
        }
        PatchPath::Attr(attr) => apply_at(rt, doc, op, &attr, Some(value)),
    }
}

fn apply_extension(
    doc: &mut Map<String, Value>,
    op: OpKind,
    urn: &str,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let key = key_ci(doc, urn).cloned().unwrap_or_else(|| urn.to_owned());
    match op {
        OpKind::Remove => {
            doc.remove(&key);
        }
        OpKind::Add | OpKind::Replace => {
            let Some(Value::Object(attrs)) = value else {
                return Err(ScimError::invalid_value(format!(
                    "{urn} takes an object of attributes"
                )));
            };
            // Merged here; the values are validated when the whole body is re-normalised.
            match doc.entry(key).or_insert_with(|| Value::Object(Map::new())) {
                Value::Object(existing) => existing.extend(attrs),
                other => *other = Value::Object(attrs),
            }
        }
    }
    Ok(())
}

fn member_ops(
    op: OpKind,
    attr: &AttrRef,
    value: Option<&Value>,
) -> Result<Vec<MemberOp>, ScimError> {
    if attr.sub.is_some() {
        return Err(ScimError::invalid_path(
            "member sub-attributes cannot be patched; add or remove the member",
        ));
    }
    let listed = |value: Option<&Value>| -> Result<Vec<scimgate_store::Member>, ScimError> {
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(parse_member).collect(),
            Some(item @ Value::Object(_)) => Ok(vec![parse_member(item)?]),
            Some(other) => Err(ScimError::invalid_value(format!(
                "members must be a list of {{\"value\": id}}, not {other}"
            ))),
        }
    };
    Ok(match (op, &attr.filter) {
        (OpKind::Remove, Some(filter)) => vec![MemberOp::Remove(member_ids(filter)?)],
        (OpKind::Remove, None) => match value {
            None | Some(Value::Null) => vec![MemberOp::RemoveAll],
            Some(v) => vec![MemberOp::Remove(
                listed(Some(v))?.into_iter().map(|m| m.value).collect(),
            )],
        },
        (_, Some(_)) => {
            return Err(ScimError::invalid_path(
                "add and replace take \"members\" without a filter",
            ));
        }
        (OpKind::Add, None) => vec![MemberOp::Add(listed(value)?)],
        (OpKind::Replace, None) => vec![MemberOp::RemoveAll, MemberOp::Add(listed(value)?)],
    })
}

/// Member ids named by `members[value eq "a" or value eq "b"]`.
fn member_ids(filter: &Filter) -> Result<Vec<String>, ScimError> {
    match filter {
        Filter::Compare {
            attr,
            op: CompareOp::Eq,
            value: Value::String(id),
        } if attr.name.eq_ignore_ascii_case("value")
            && attr.urn.is_none()
            && attr.sub.is_none() =>
        {
            Ok(vec![id.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = member_ids(a)?;
            ids.extend(member_ids(b)?);
            Ok(ids)
        }
        _ => Err(ScimError::invalid_filter(format!(
            "members can be selected by value only, e.g. members[value eq \"id\"]; got {filter}"
        ))),
    }
}

/// The object an attribute lives in (the resource or an extension object) and its key.
fn locate<'d>(
    rt: ResourceType,
    doc: &'d mut Map<String, Value>,
    attr: &AttrRef,
    create: bool,
) -> Option<(&'d mut Map<String, Value>, String)> {
    let core = attr
        .urn
        .as_deref()
        .is_none_or(|u| u.eq_ignore_ascii_case(rt.core_schema()));
    if core {
        let key = key_ci(doc, &attr.name)
            .cloned()
            .unwrap_or_else(|| canonical(rt, attr));
        return Some((doc, key));
    }
    let urn = attr.urn.as_deref().unwrap_or_default();
    let known = rt.known_extension(urn);
    if known.is_none() {
        // Custom extension attributes are kept flattened, as Entra sends them, unless
        // the client sent them nested under their URN.
        let flat = format!("{urn}:{}", attr.name);
        let nested = key_ci(doc, urn).is_some_and(|k| doc[k].is_object());
        if !nested {
            let key = key_ci(doc, &flat).cloned().unwrap_or(flat);
            return Some((doc, key));
        }
    }
    let ext_key = key_ci(doc, urn)
        .cloned()
        .unwrap_or_else(|| known.map(|(u, _)| u).unwrap_or(urn).to_owned());
    if !doc.contains_key(&ext_key) {
        if !create {
            return None;
        }
        doc.insert(ext_key.clone(), Value::Object(Map::new()));
    }
    let ext = doc.get_mut(&ext_key)?.as_object_mut()?;
    let key = key_ci(ext, &attr.name)
        .cloned()
        .unwrap_or_else(|| canonical(rt, attr));
    Some((ext, key))
}

fn canonical(rt: ResourceType, attr: &AttrRef) -> String {
    lookup(rt, attr)
        .ok()
        .flatten()
        .map(|d| d.name.to_owned())
        .unwrap_or_else(|| attr.name.clone())
}

fn coerce_opt(def: Option<&AttrDef>, value: Value, path: &str) -> Result<Option<Value>, ScimError> {
    match def {
        Some(def) => coerce(def, value, path),
        None if value.is_null() => Ok(None),
        None => Ok(Some(value)),
    }
}

fn apply_at(
    rt: ResourceType,
    doc: &mut Map<String, Value>,
    op: OpKind,
    attr: &AttrRef,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let def = lookup(rt, attr)?;
    let path = attr.to_string();
    let Some((container, key)) = locate(rt, doc, attr, op != OpKind::Remove) else {
        return Ok(()); // removing from an extension the resource does not have
    };
    let has_primary = def.is_some_and(|d| d.multi && schema::find(d.sub, "primary").is_some());
    let primaries_before = match op {
        OpKind::Add | OpKind::Replace if has_primary => primaries(container.get(&key)),
        _ => Vec::new(),
    };
    match (&attr.filter, &attr.sub) {
        (None, None) => apply_whole(container, &key, def, op, value, &path),
        (None, Some(sub)) => apply_sub(container, &key, def, sub, op, value, &path),
        (Some(filter), sub) => apply_filtered(
            container,
            &key,
            def,
            filter,
            sub.as_deref(),
            op,
            value,
            &path,
        ),
    }?;
    if has_primary && op != OpKind::Remove {
        demote_old_primaries(container.get_mut(&key), &primaries_before);
    }
    Ok(())
}

fn is_primary(item: &Value) -> bool {
    item.as_object()
        .and_then(|o| schema::get_ci(o, "primary"))
        .is_some_and(|p| p == &Value::Bool(true))
}

/// The elements of a multi-valued attribute that are marked primary.
fn primaries(list: Option<&Value>) -> Vec<Value> {
    match list {
        Some(Value::Array(items)) => items.iter().filter(|i| is_primary(i)).cloned().collect(),
        _ => Vec::new(),
    }
}

/// RFC 7644 §3.5.2: an operation that makes a value primary makes the others not
/// primary. The elements that were primary before the operation and that it left as they
/// were lose the flag, if the operation produced (or changed) a primary element.
fn demote_old_primaries(list: Option<&mut Value>, before: &[Value]) {
    let Some(Value::Array(items)) = list else {
        return;
    };
    let untouched = |item: &Value| before.iter().any(|b| b == item);
    if !items.iter().any(|i| is_primary(i) && !untouched(i)) {
        return;
    }
    for item in items.iter_mut() {
        if is_primary(item) && untouched(item) {
            if let Some(o) = item.as_object_mut() {
                if let Some(k) = key_ci(o, "primary").cloned() {
                    o.insert(k, Value::Bool(false));
                }
            }
        }
    }
}

fn apply_whole(
    container: &mut Map<String, Value>,
    key: &str,
    def: Option<&AttrDef>,
    op: OpKind,
    value: Option<Value>,
    path: &str,
) -> Result<(), ScimError> {
    let multi = def.map_or_else(
        || container.get(key).is_some_and(Value::is_array),
        |d| d.multi,
    );
    // A PATCH may add (or remove) one value of a multi-valued attribute as a bare object.
    let value = match value {
        Some(one @ Value::Object(_)) if multi => Some(Value::Array(vec![one])),
        other => other,
    };
    match op {
        OpKind::Remove => match (value, container.get_mut(key)) {
            // Entra's default remove carries the values to take out of a list.
            (Some(listed), Some(Value::Array(items))) if multi => {
                let listed = coerce_opt(def, listed, path)?.unwrap_or(Value::Array(vec![]));
                let listed: Vec<Value> = match listed {
                    Value::Array(v) => v,
                    one => vec![one],
                };
                items.retain(|item| !listed.iter().any(|l| same_value(item, l)));
                if items.is_empty() {
                    container.remove(key);
                }
            }
            _ => {
                container.remove(key);
            }
        },
        OpKind::Add | OpKind::Replace => {
            let Some(value) = coerce_opt(def, value.unwrap_or(Value::Null), path)? else {
                container.remove(key);
                return Ok(());
            };
            match (op, container.get_mut(key), value) {
                (OpKind::Add, Some(Value::Array(items)), Value::Array(new)) => {
                    for item in new {
                        if !items.iter().any(|i| same_value(i, &item)) {
                            items.push(item);
                        }
                    }
                }
                // Complex single-valued: the listed sub-attributes replace, others stay.
                (_, Some(Value::Object(existing)), Value::Object(new)) if !multi => {
                    existing.extend(new)
                }
                (_, _, value) => {
                    container.insert(key.to_owned(), value);
                }
            }
        }
    }
    Ok(())
}

/// Two values of a multi-valued attribute are the same if their `value`s are equal
/// (case-insensitively), or, without `value`, if they are equal as JSON.
fn same_value(a: &Value, b: &Value) -> bool {
    let value_of = |v: &Value| {
        v.as_object()
            .and_then(|o| schema::get_ci(o, "value"))
            .cloned()
    };
    match (value_of(a), value_of(b)) {
        (Some(Value::String(x)), Some(Value::String(y))) => x.eq_ignore_ascii_case(&y),
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn sub_def<'a>(def: Option<&'a AttrDef>, sub: &str) -> Option<&'a AttrDef> {
    def.and_then(|d| schema::find(d.sub, sub))
}

fn set_sub(
    item: &mut Map<String, Value>,
    def: Option<&AttrDef>,
    sub: &str,
    value: Value,
    path: &str,
) -> Result<(), ScimError> {
    let sub_def = sub_def(def, sub);
    let key = key_ci(item, sub)
        .cloned()
        .unwrap_or_else(|| sub_def.map_or(sub, |d| d.name).to_owned());
    match coerce_opt(sub_def, value, path)? {
        Some(v) => item.insert(key, v),
        None => item.remove(&key),
    };
    Ok(())
}

fn apply_sub(
    container: &mut Map<String, Value>,
    key: &str,
    def: Option<&AttrDef>,
    sub: &str,
    op: OpKind,
    value: Option<Value>,
    path: &str,
) -> Result<(), ScimError> {
    match op {
        OpKind::Remove => {
            if let Some(value) = container.get_mut(key) {
                schema::remove_sub_ci(value, sub);
            }
        }
        OpKind::Add | OpKind::Replace => {
            let value = value.unwrap_or(Value::Null);
            let multi = def.is_some_and(|d| d.multi);
            let slot = container.entry(key.to_owned()).or_insert_with(|| {
                if multi {
                    Value::Array(vec![])
                } else {
                    Value::Object(Map::new())
                }
            });
            match slot {
                Value::Array(items) => {
                    if items.is_empty() {
                        items.push(Value::Object(Map::new()));
                    }
                    for item in items.iter_mut() {
                        if let Value::Object(o) = item {
                            set_sub(o, def, sub, value.clone(), path)?;
                        }
                    }
                }
                Value::Object(o) => set_sub(o, def, sub, value, path)?,
                // A bare id where an object belongs (`manager`): make it the object.
                other => {
                    let mut o = Map::new();
                    if let Value::String(id) = other.take() {
                        o.insert("value".into(), Value::String(id));
                    }
                    set_sub(&mut o, def, sub, value, path)?;
                    *other = Value::Object(o);
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn apply_filtered(
    container: &mut Map<String, Value>,
    key: &str,
    def: Option<&'static AttrDef>,
    filter: &Filter,
    sub: Option<&str>,
    op: OpKind,
    value: Option<Value>,
    path: &str,
) -> Result<(), ScimError> {
    let subs: &'static [AttrDef] = def.map(|d| d.sub).unwrap_or(&[]);
    let matches = |item: &Value| -> Result<bool, ScimError> {
        filter::eval(filter, item, Target::Element(subs))
            .map_err(|e| ScimError::invalid_filter(e.to_string()))
    };
    if op == OpKind::Remove {
        let Some(Value::Array(items)) = container.get_mut(key) else {
            return Ok(());
        };
        let mut kept = Vec::with_capacity(items.len());
        for mut item in std::mem::take(items) {
            if !matches(&item)? {
                kept.push(item);
                continue;
            }
            if let (Some(sub), Some(o)) = (sub, item.as_object_mut()) {
                if let Some(k) = key_ci(o, sub).cloned() {
                    o.remove(&k);
                }
                kept.push(item);
            }
        }
        if kept.is_empty() {
            container.remove(key);
        } else {
            *items = kept;
        }
        return Ok(());
    }
    let value = value.unwrap_or(Value::Null);
    let slot = container
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(vec![]));
    if !slot.is_array() {
        let one = slot.take();
        *slot = Value::Array(if one.is_null() { vec![] } else { vec![one] });
    }
    let Value::Array(items) = slot else {
        return Ok(());
    };
    let mut hit = false;
    for item in items.iter_mut() {
        if !matches(item)? {
            continue;
        }
        hit = true;
        update_element(item, def, sub, op, value.clone(), path)?;
    }
    if !hit {
        // Entra: add/replace on a filtered path whose element does not exist creates it,
        // seeded with what the filter says (`type eq "work"` → `"type": "work"`).
        let mut seed = Map::new();
        seed_from_filter(filter, subs, &mut seed, path)?;
        let mut item = Value::Object(seed);
        update_element(&mut item, def, sub, OpKind::Add, value, path)?;
        items.push(item);
    }
    Ok(())
}

fn update_element(
    item: &mut Value,
    def: Option<&AttrDef>,
    sub: Option<&str>,
    op: OpKind,
    value: Value,
    path: &str,
) -> Result<(), ScimError> {
    match (sub, item) {
        (Some(sub), Value::Object(o)) => set_sub(o, def, sub, value, path),
        (None, item) => {
            let Value::Object(new) = value else {
                return Err(ScimError::invalid_value(format!("{path} takes an object")));
            };
            let mut coerced = Map::new();
            for (k, v) in new {
                set_sub(&mut coerced, def, &k, v, path)?;
            }
            match (op, item) {
                (OpKind::Add, Value::Object(o)) => o.extend(coerced),
                (_, item) => *item = Value::Object(coerced),
            }
            Ok(())
        }
        (Some(_), _) => Err(ScimError::invalid_path(format!(
            "{path}: the selected value is not an object"
        ))),
    }
}

fn seed_from_filter(
    filter: &Filter,
    subs: &'static [AttrDef],
    seed: &mut Map<String, Value>,
    path: &str,
) -> Result<(), ScimError> {
    match filter {
        Filter::Compare { attr, op: CompareOp::Eq, value } if attr.urn.is_none() && attr.sub.is_none() => {
            let def = schema::find(subs, &attr.name);
            let key = def.map_or(attr.name.as_str(), |d| d.name).to_owned();
            if let Some(v) = coerce_opt(def, value.clone(), path)? {
                seed.insert(key, v);
            }
            Ok(())
        }
        Filter::And(a, b) => {
            seed_from_filter(a, subs, seed, path)?;
            seed_from_filter(b, subs, seed, path)
        }
        _ => Err(ScimError::no_target(format!(
            "{path} matches nothing, and its filter does not say what to create (use eq comparisons joined by and)"
        ))),
    }
}

/// Applies a PATCH to a stored body and re-validates the result.
pub fn patch_resource(
    rt: ResourceType,
    body: Value,
    ops: &[PatchOperation],
) -> Result<(scimgate_store::IndexedDoc, Vec<MemberOp>), ScimError> {
    let (patched, members) = apply(rt, body, ops)?;
    let normalized = resource::normalize(rt, patched)?;
    Ok((normalized.doc, members))
}
