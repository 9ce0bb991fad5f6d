//! Entra's legacy forms (jobs created before the `aadOptscim062020` flag keep them, per
//! Microsoft's "Known issues… SCIM 2.0 protocol compliance"): extension attributes named
//! by their bare name (`manager` for the enterprise extension's), and a reference
//! attribute compared as a whole (`manager eq "<id>"` meaning its `value`). Both are
//! rewritten to their standard form right after parsing, so nothing after it knows them.

use super::{AttrRef, Filter};
use crate::schema::{self, AttrType, ResourceType};

/// `manager` → `urn:…:enterprise:2.0:User:manager`, when the core schema has no such
/// attribute and exactly one known extension does.
pub fn qualify_attr(mut attr: AttrRef, rt: ResourceType) -> AttrRef {
    if attr.urn.is_none() && rt.core_attr(&attr.name).is_none() {
        if let Some(urn) = rt.extension_owning(&attr.name) {
            attr.urn = Some(urn.to_owned());
        }
    }
    attr
}

/// Qualifies every top-level attribute of a filter, and compares a single-valued
/// reference (`manager`) by its `value`.
pub fn qualify(filter: Filter, rt: ResourceType) -> Filter {
    match filter {
        Filter::And(a, b) => Filter::And(Box::new(qualify(*a, rt)), Box::new(qualify(*b, rt))),
        Filter::Or(a, b) => Filter::Or(Box::new(qualify(*a, rt)), Box::new(qualify(*b, rt))),
        Filter::Not(inner) => Filter::Not(Box::new(qualify(*inner, rt))),
        Filter::Present(attr) => Filter::Present(qualify_attr(attr, rt)),
        Filter::Has(attr) => Filter::Has(qualify_attr(attr, rt)),
        Filter::Compare { attr, op, value } => {
            let mut attr = qualify_attr(attr, rt);
            if attr.sub.is_none() && attr.filter.is_none() && is_single_reference(&attr, rt) {
                attr.sub = Some("value".to_owned());
            }
            Filter::Compare { attr, op, value }
        }
    }
}

fn is_single_reference(attr: &AttrRef, rt: ResourceType) -> bool {
    let def = match &attr.urn {
        None => rt.core_attr(&attr.name),
        Some(urn) => rt
            .known_extension(urn)
            .and_then(|(_, defs)| schema::find(defs, &attr.name)),
    };
    def.is_some_and(|d| {
        d.ty == AttrType::Complex && !d.multi && schema::find(d.sub, "value").is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse_filter;

    #[test]
    fn entra_legacy_manager_filter_becomes_standard() {
        let legacy = parse_filter(r#"id eq "u-1" and manager eq "m-1""#).unwrap();
        let standard = parse_filter(
            r#"id eq "u-1" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-1""#,
        )
        .unwrap();
        assert_eq!(qualify(legacy, ResourceType::User), standard);
    }

    #[test]
    fn core_names_and_groups_are_left_alone() {
        for text in [
            r#"userName eq "a""#,
            r#"name eq "x""#,
            r#"emails[type eq "work"].value eq "a@b""#,
            r#"shoeSize eq "42""#,
        ] {
            let f = parse_filter(text).unwrap();
            assert_eq!(qualify(f.clone(), ResourceType::User), f, "{text}");
        }
        let f = parse_filter(r#"manager eq "m""#).unwrap();
        assert_eq!(qualify(f.clone(), ResourceType::Group), f);
    }
}
