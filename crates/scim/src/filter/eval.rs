//! Evaluating a filter against a resource's JSON, with the schema's case rules:
//! `userName` compares case-insensitively, `id` and `externalId` exactly.

use super::{AttrRef, CompareOp, Filter};
use crate::schema::{self, get_ci, AttrDef, AttrType, ResourceType};
use serde_json::Value;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// What is being filtered: a whole resource of a type, or (inside `emails[...]`) one
/// element of a multi-valued attribute, whose sub-attributes are the names in scope.
#[derive(Clone, Copy)]
pub enum Target {
    Resource(ResourceType),
    Element(&'static [AttrDef]),
}

pub fn eval(filter: &Filter, doc: &Value, target: Target) -> Result<bool, EvalError> {
    Ok(match filter {
        Filter::And(a, b) => eval(a, doc, target)? && eval(b, doc, target)?,
        Filter::Or(a, b) => eval(a, doc, target)? || eval(b, doc, target)?,
        Filter::Not(inner) => !eval(inner, doc, target)?,
        Filter::Present(attr) => resolve(attr, doc, target)?
            .values
            .iter()
            .any(|v| is_present(v)),
        Filter::Has(attr) => !resolve(attr, doc, target)?.values.is_empty(),
        Filter::Compare { attr, op, value } => {
            let found = resolve(attr, doc, target)?;
            compare_any(&found, *op, value)?
        }
    })
}

/// Checks a filter against the schema without any data: operators that cannot apply to
/// an attribute's type are a client error even when nothing would be compared.
pub fn check(filter: &Filter, target: Target) -> Result<(), EvalError> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check(a, target)?;
            check(b, target)
        }
        Filter::Not(inner) => check(inner, target),
        Filter::Present(attr) | Filter::Has(attr) => check_attr(attr, target),
        Filter::Compare { attr, op, value } => {
            check_attr(attr, target)?;
            let empty = Value::Object(Default::default());
            let found = resolve(attr, &empty, target)?;
            compare_any(&found, *op, value).map(|_| ())
        }
    }
}

fn check_attr(attr: &AttrRef, target: Target) -> Result<(), EvalError> {
    let Some(inner) = &attr.filter else {
        return Ok(());
    };
    let defs: &'static [AttrDef] = match (target, &attr.urn) {
        (Target::Resource(rt), None) => rt.core_attr(&attr.name).map(|d| d.sub).unwrap_or(&[]),
        (Target::Resource(rt), Some(urn)) => rt
            .known_extension(urn)
            .and_then(|(_, defs)| schema::find(defs, &attr.name))
            .or_else(|| {
                if urn.eq_ignore_ascii_case(rt.core_schema()) {
                    rt.core_attr(&attr.name)
                } else {
                    None
                }
            })
            .map(|d| d.sub)
            .unwrap_or(&[]),
        (Target::Element(subs), _) => schema::find(subs, &attr.name).map(|d| d.sub).unwrap_or(&[]),
    };
    check(inner, Target::Element(defs))
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

struct Found<'a> {
    values: Vec<&'a Value>,
    def: Option<&'static AttrDef>,
    /// Set when the reference names a whole single-valued complex attribute (`name`),
    /// which can be tested for presence but not compared.
    single_complex: Option<&'static str>,
}

/// The values an attribute reference designates in `doc`, flattened over multi-valued
/// attributes, with the definition that decides how they compare.
fn resolve<'a>(attr: &AttrRef, doc: &'a Value, target: Target) -> Result<Found<'a>, EvalError> {
    let Some(obj) = doc.as_object() else {
        return Ok(Found {
            values: vec![],
            def: None,
            single_complex: None,
        });
    };
    let (container, defs): (Option<&Value>, Option<&'static [AttrDef]>) = match (target, &attr.urn)
    {
        (Target::Element(subs), _) => (Some(doc), Some(subs)),
        (Target::Resource(rt), None) => (Some(doc), Some(rt.core_attrs())),
        (Target::Resource(rt), Some(urn)) if urn.eq_ignore_ascii_case(rt.core_schema()) => {
            (Some(doc), Some(rt.core_attrs()))
        }
        (Target::Resource(rt), Some(urn)) => {
            let defs = rt.known_extension(urn).map(|(_, defs)| defs);
            match get_ci(obj, urn) {
                Some(ext) => (Some(ext), defs),
                None => {
                    // Entra may send custom extension attributes flattened: "urn:…:User:attr".
                    let flat = format!("{urn}:{}", attr.name);
                    let values = get_ci(obj, &flat).map(|v| flatten(v)).unwrap_or_default();
                    let values = apply_filter_and_sub(values, attr, None)?;
                    return Ok(Found {
                        values,
                        def: None,
                        single_complex: None,
                    });
                }
            }
        }
    };
    let def = defs
        .and_then(|d| schema::find(d, &attr.name))
        .or_else(|| match target {
            Target::Resource(rt) if attr.urn.is_none() => rt.core_attr(&attr.name),
            _ => None,
        });
    let values = container
        .and_then(Value::as_object)
        .and_then(|o| get_ci(o, &attr.name))
        .map(|v| flatten(v))
        .unwrap_or_default();
    let single_complex = def
        .filter(|d| {
            d.ty == AttrType::Complex && !d.multi && attr.sub.is_none() && attr.filter.is_none()
        })
        .map(|d| d.name);
    let values = apply_filter_and_sub(values, attr, def)?;
    let def = match (&attr.sub, def) {
        (Some(sub), Some(d)) => schema::find(d.sub, sub),
        (None, Some(d)) if d.ty == AttrType::Complex => schema::find(d.sub, "value"),
        (None, d) => d,
        (Some(_), None) => None,
    };
    Ok(Found {
        values,
        def,
        single_complex,
    })
}

fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn apply_filter_and_sub<'a>(
    values: Vec<&'a Value>,
    attr: &AttrRef,
    def: Option<&'static AttrDef>,
) -> Result<Vec<&'a Value>, EvalError> {
    let mut values = values;
    if let Some(filter) = &attr.filter {
        let subs: &'static [AttrDef] = def.map(|d| d.sub).unwrap_or(&[]);
        let mut kept = Vec::new();
        for v in values {
            if eval(filter, v, Target::Element(subs))? {
                kept.push(v);
            }
        }
        values = kept;
    }
    let sub = attr.sub.as_deref().or_else(|| {
        // A multi-valued complex attribute compared as a whole compares its `value`s.
        let multi_valued = def.is_none_or(|d| d.multi);
        (multi_valued && attr.filter.is_none() && values.iter().any(|v| v.is_object()))
            .then_some("value")
    });
    Ok(match sub {
        Some(sub) => values
            .into_iter()
            .filter_map(|v| v.as_object().and_then(|o| get_ci(o, sub)))
            .flat_map(flatten)
            .collect(),
        None => values,
    })
}

fn compare_any(found: &Found<'_>, op: CompareOp, operand: &Value) -> Result<bool, EvalError> {
    match (op, operand) {
        (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, v) if !v.is_string() => {
            return Err(EvalError(format!(
                "operator {} needs a string value, not {v}",
                op.keyword()
            )));
        }
        (
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le,
            Value::Bool(_) | Value::Null,
        ) => {
            return Err(EvalError(format!(
                "operator {} cannot compare {operand}",
                op.keyword()
            )));
        }
        _ => {}
    }
    if let Some(name) = found.single_complex {
        return Err(EvalError(format!(
            "{name} is a complex attribute; compare one of its sub-attributes"
        )));
    }
    if let Some(def) = found.def {
        if def.ty == AttrType::Boolean
            && matches!(
                op,
                CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
            )
        {
            return Err(EvalError(format!(
                "operator {} cannot be used on boolean attribute {}",
                op.keyword(),
                def.name
            )));
        }
    }
    let case_exact = found.def.map(|d| d.case_exact).unwrap_or(false);
    let eq = |v: &Value| values_equal(v, operand, case_exact);
    Ok(match op {
        CompareOp::Eq if operand.is_null() => !found.values.iter().any(|v| is_present(v)),
        CompareOp::Ne if operand.is_null() => found.values.iter().any(|v| is_present(v)),
        CompareOp::Eq => found.values.iter().any(|v| eq(v)),
        CompareOp::Ne => !found.values.iter().any(|v| eq(v)),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let needle = fold(operand.as_str().unwrap_or_default(), case_exact);
            found.values.iter().filter_map(|v| v.as_str()).any(|s| {
                let hay = fold(s, case_exact);
                match op {
                    CompareOp::Co => hay.contains(&needle),
                    CompareOp::Sw => hay.starts_with(&needle),
                    _ => hay.ends_with(&needle),
                }
            })
        }
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            found.values.iter().any(|v| {
                order(v, operand, case_exact).is_some_and(|ord| match op {
                    CompareOp::Gt => ord == Ordering::Greater,
                    CompareOp::Ge => ord != Ordering::Less,
                    CompareOp::Lt => ord == Ordering::Less,
                    _ => ord != Ordering::Greater,
                })
            })
        }
    })
}

fn fold(s: &str, case_exact: bool) -> String {
    if case_exact {
        s.to_owned()
    } else {
        scimgate_core::text::fold_case(s)
    }
}

fn values_equal(stored: &Value, operand: &Value, case_exact: bool) -> bool {
    match (stored, operand) {
        (Value::String(a), Value::String(b)) => {
            if case_exact {
                a == b
            } else {
                fold(a, false) == fold(b, false)
            }
        }
        // Entra sends booleans as strings ("True"); compare them as what they mean.
        (Value::String(a), Value::Bool(b)) | (Value::Bool(b), Value::String(a)) => {
            a.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn order(stored: &Value, operand: &Value, case_exact: bool) -> Option<Ordering> {
    match (stored, operand) {
        (Value::String(a), Value::String(b)) => Some(fold(a, case_exact).cmp(&fold(b, case_exact))),
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse_filter;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "AbC-1",
            "userName": "Bjensen@Example.com",
            "externalId": "Ext-9",
            "active": false,
            "name": {"givenName": "Barbara"},
            "emails": [{"type": "work", "value": "bjensen@example.com", "primary": true},
                       {"type": "home", "value": "babs@home.org"}],
            "meta": {"lastModified": "2026-01-02T00:00:00Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "manager": {"value": "m1"}},
            "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:costCode": "CC-7"
        })
    }

    fn matches(filter: &str) -> bool {
        eval(
            &parse_filter(filter).unwrap(),
            &user(),
            Target::Resource(ResourceType::User),
        )
        .unwrap()
    }

    #[test]
    fn case_rules_come_from_the_schema() {
        assert!(matches(r#"userName eq "bjensen@example.COM""#));
        assert!(matches(r#"externalId eq "Ext-9""#));
        assert!(!matches(r#"externalId eq "ext-9""#));
        assert!(!matches(r#"id eq "abc-1""#));
        assert!(matches(r#"USERNAME sw "BJ""#));
    }

    #[test]
    fn value_paths_extensions_and_logic() {
        assert!(matches(
            r#"emails[type eq "work"].value eq "BJENSEN@example.com""#
        ));
        assert!(!matches(
            r#"emails[type eq "home"].value eq "bjensen@example.com""#
        ));
        assert!(matches(r#"emails[type eq "home"]"#));
        assert!(matches(r#"emails co "home.org""#));
        assert!(matches(r#"emails.value ew ".org""#));
        assert!(matches(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales""#
        ));
        assert!(matches(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1""#
        ));
        assert!(matches(
            r#"urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:costCode eq "CC-7""#
        ));
        assert!(matches(r#"active eq false and not (title pr)"#));
        assert!(matches(r#"name.givenName pr or nickName eq "x""#));
        assert!(matches(r#"name pr"#));
        assert!(matches(r#"meta.lastModified gt "2025-12-31T00:00:00Z""#));
        assert!(matches(r#"title ne "boss""#));
        assert!(matches(r#"title eq null"#));
    }

    #[test]
    fn type_mismatches_are_filter_errors() {
        let err = |f: &str| {
            eval(
                &parse_filter(f).unwrap(),
                &user(),
                Target::Resource(ResourceType::User),
            )
        };
        assert!(err(r#"active gt true"#).is_err());
        assert!(err(r#"userName co 5"#).is_err());
        assert!(err(r#"active gt 1"#).is_err());
        assert!(err(r#"name eq "x""#).is_err());
    }
}
