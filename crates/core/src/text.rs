//! Text rules shared by every layer that stores strings.
//!
//! - Case folding, shared by the store's indexed columns and the SCIM filter translator:
//!   both sides must fold exactly the same way or an indexed lookup would miss.
//! - What a string may hold to be stored at all. PostgreSQL refuses NUL in text and an
//!   index entry larger than about 2.7 KB, while SQLite takes both; checking here, before
//!   any database sees the value, makes both databases accept and refuse the same inputs
//!   and keeps one client's bad value out of a write batch shared with others.

use serde_json::Value;

/// Longest value of an indexed attribute (`userName`, `externalId`, `displayName`, an
/// e-mail, a member id, a catalogue name), in bytes of UTF-8. Folding for the index can
/// grow a string by half, which still fits PostgreSQL's index entry limit.
pub const MAX_INDEXED_BYTES: usize = 1024;

/// Longest string anywhere else (any attribute value, any object key), in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Folds a case-insensitive SCIM string (e.g. `userName`) for indexing and comparison.
pub fn fold_case(s: &str) -> String {
    s.to_lowercase()
}

/// Why a string cannot be stored as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unstorable {
    #[error("holds a NUL character (\\u0000), which cannot be stored")]
    Nul,
    #[error("is longer than {max} bytes")]
    TooLong { max: usize },
}

/// Checks one string against the storage rules, with `max` bytes at most.
pub fn check_storable(s: &str, max: usize) -> Result<(), Unstorable> {
    if s.len() > max {
        return Err(Unstorable::TooLong { max });
    }
    if s.as_bytes().contains(&0) {
        return Err(Unstorable::Nul);
    }
    Ok(())
}

/// Checks every string and object key of a JSON document against [`MAX_TEXT_BYTES`];
/// the error names the first offending place as a dotted path (`name.givenName`,
/// `emails[1].value`).
pub fn check_storable_json(value: &Value) -> Result<(), (String, Unstorable)> {
    check_storable_json_over(value, None)
}

/// Like [`check_storable_json`], but what `before` (the stored document) already holds at
/// the same place passes: a resource stored before these rules, with a value they would
/// refuse, can still be changed elsewhere (Entra's deprovisioning PATCH must land).
pub fn check_storable_json_over(
    value: &Value,
    before: Option<&Value>,
) -> Result<(), (String, Unstorable)> {
    let mut path = String::new();
    walk(value, before, MAX_TEXT_BYTES, &mut path)
}

/// Only the NUL rule, for documents whose long texts are bounded elsewhere (an admin
/// API body: a rule set may be long; the names in it have their own limits).
pub fn check_no_nul_json(value: &Value) -> Result<(), (String, Unstorable)> {
    let mut path = String::new();
    walk(value, None, usize::MAX, &mut path)
}

fn walk(
    value: &Value,
    before: Option<&Value>,
    max: usize,
    path: &mut String,
) -> Result<(), (String, Unstorable)> {
    if before == Some(value) {
        return Ok(());
    }
    match value {
        Value::String(s) => check_storable(s, max).map_err(|why| (display_path(path), why)),
        Value::Array(items) => {
            let old = before.and_then(Value::as_array);
            for (i, item) in items.iter().enumerate() {
                // An element kept from before passes wherever it now stands.
                if old.is_some_and(|old| old.contains(item)) {
                    continue;
                }
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, old.and_then(|old| old.get(i)), max, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            let old = before.and_then(Value::as_object);
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                let old_item = old.and_then(|old| old.get(key));
                // A key is checked by its own rules but named by the object it is in:
                // echoing a 1 MB or NUL-holding key back in the message helps nobody.
                if old_item.is_none() {
                    check_storable(key, max).map_err(|why| {
                        (format!("an attribute name in {}", display_path(path)), why)
                    })?;
                }
                path.push_str(key);
                walk(item, old_item, max, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn display_path(path: &str) -> String {
    let trimmed = path.trim_end_matches('.');
    if trimmed.is_empty() {
        "the resource".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_are_bytes_and_nul_is_refused() {
        assert_eq!(check_storable("abc", 3), Ok(()));
        assert_eq!(
            check_storable("abcd", 3),
            Err(Unstorable::TooLong { max: 3 })
        );
        // "é" is two bytes: the limit counts bytes, as the databases do.
        assert_eq!(check_storable("éé", 3), Err(Unstorable::TooLong { max: 3 }));
        assert_eq!(check_storable("a\0b", 10), Err(Unstorable::Nul));
        assert_eq!(check_storable("", 0), Ok(()));
    }

    #[test]
    fn json_walk_names_the_place() {
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        let cases = [
            (
                json!({"name": {"givenName": "a\0"}}),
                "name.givenName",
                Unstorable::Nul,
            ),
            (
                json!({"emails": [{"value": "ok"}, {"value": long}]}),
                "emails[1].value",
                Unstorable::TooLong {
                    max: MAX_TEXT_BYTES,
                },
            ),
            (
                json!({"a\0": 1}),
                "an attribute name in the resource",
                Unstorable::Nul,
            ),
            (
                json!({"x": {"b\0": 1}}),
                "an attribute name in x",
                Unstorable::Nul,
            ),
        ];
        for (doc, place, why) in cases {
            assert_eq!(
                check_storable_json(&doc),
                Err((place.to_owned(), why)),
                "{doc}"
            );
        }
        // What the stored document already holds passes; what is new does not.
        let stored = json!({"title": "t\0", "emails": [{"value": "a\0"}]});
        let patched = json!({"title": "t\0", "emails": [{"value": "b"}, {"value": "a\0"}], "x": 1});
        assert_eq!(check_storable_json_over(&patched, Some(&stored)), Ok(()));
        let worse = json!({"title": "t\0", "nickName": "n\0"});
        assert_eq!(
            check_storable_json_over(&worse, Some(&stored)),
            Err(("nickName".to_owned(), Unstorable::Nul))
        );
        // The NUL-only walk lets long strings through.
        assert_eq!(
            check_no_nul_json(&json!({"yaml": "y".repeat(MAX_TEXT_BYTES * 2)})),
            Ok(())
        );
        assert_eq!(
            check_no_nul_json(&json!({"a": ["\0"]})),
            Err(("a[0]".to_owned(), Unstorable::Nul))
        );
        let fine = json!({"userName": "a", "n": [1, true, null, {"k": "v"}]});
        assert_eq!(check_storable_json(&fine), Ok(()));
        let exactly = json!({"x": "y".repeat(MAX_TEXT_BYTES)});
        assert_eq!(check_storable_json(&exactly), Ok(()));
    }
}
