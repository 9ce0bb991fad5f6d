use super::*;
use proptest::prelude::*;
use serde_json::json;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("userName".to_owned()),
        Just("displayName".to_owned()),
        Just("emails".to_owned()),
        Just("$ref".to_owned()),
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}".prop_filter("not a keyword", |n| {
            !["and", "or", "not", "pr", "true", "false", "null"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(n))
                && CompareOp::from_keyword(n).is_none()
        }),
    ]
}

fn urn() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_owned())),
        1 => "urn:[a-z]{1,5}:[A-Za-z0-9.]{1,6}".prop_map(Some),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9f64).prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Co),
        Just(CompareOp::Sw),
        Just(CompareOp::Ew),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
    ]
}

fn plain_attr() -> impl Strategy<Value = AttrRef> {
    (urn(), name(), proptest::option::of(name())).prop_map(|(urn, name, sub)| AttrRef {
        urn,
        name,
        filter: None,
        sub,
    })
}

fn filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        (plain_attr(), op(), value()).prop_map(|(attr, op, value)| Filter::Compare {
            attr,
            op,
            value
        }),
        plain_attr().prop_map(Filter::Present),
    ];
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.clone().prop_map(|f| Filter::Not(Box::new(f))),
            (urn(), name(), inner.clone(), proptest::option::of(name())).prop_map(
                |(urn, name, f, sub)| {
                    let attr = AttrRef {
                        urn,
                        name,
                        filter: Some(Box::new(f)),
                        sub: sub.clone(),
                    };
                    match sub {
                        Some(_) => Filter::Present(attr),
                        None => Filter::Has(attr),
                    }
                }
            ),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_gives_the_same_ast(f in filter()) {
        let text = f.to_string();
        let back = parse_filter(&text);
        prop_assert_eq!(back.as_ref(), Ok(&f), "printed as {}", text);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = parse_filter(&s);
        let _ = parse_attr_ref(&s);
    }

    #[test]
    fn parser_never_panics_on_filter_like_text(s in r#"[a-z \[\]()".:0-9-]{0,60}"#) {
        let _ = parse_filter(&s);
    }
}
