//! What a resource may hold to be stored is the store's rule (`IndexedDoc::check_storable`,
//! `scimgate_core::text`): no NUL anywhere, indexed attributes of at most
//! [`MAX_INDEXED_BYTES`], every other string of at most [`MAX_TEXT_BYTES`]. The store checks
//! every write before it joins a batch (a PATCH's result, before it is written) and its
//! refusal, naming the attribute, becomes `400 invalidValue` (`error.rs`). What stays here
//! is what the store never sees: ids in URLs.

pub use scimgate_core::text::{MAX_INDEXED_BYTES, MAX_TEXT_BYTES};

/// A resource id from a URL. Ids are ours (UUIDs); one that could never have been stored
/// names nothing, on either database.
pub fn is_possible_id(id: &str) -> bool {
    scimgate_core::text::check_storable(id, MAX_INDEXED_BYTES).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ScimError, ScimType};
    use scimgate_store::{IndexedDoc, Member, MemberOp, StoreError};
    use serde_json::json;

    fn doc(user_name: &str) -> IndexedDoc {
        IndexedDoc {
            body: json!({"userName": user_name}),
            user_name: Some(user_name.to_owned()),
            ..IndexedDoc::default()
        }
    }

    /// The store's refusal as the SCIM client reads it.
    fn refusal(doc: &IndexedDoc) -> ScimError {
        StoreError::from(doc.check_storable().unwrap_err()).into()
    }

    #[test]
    fn every_class_of_unstorable_value_names_its_attribute() {
        let long_indexed = "u".repeat(MAX_INDEXED_BYTES + 1);
        let cases: Vec<(IndexedDoc, &str)> = vec![
            (doc("a\0b"), "userName"),
            (doc(&long_indexed), "userName"),
            (
                IndexedDoc {
                    external_id: Some(long_indexed.clone()),
                    ..doc("a")
                },
                "externalId",
            ),
            (
                IndexedDoc {
                    display_name: Some("x\0".into()),
                    ..doc("a")
                },
                "displayName",
            ),
            (
                IndexedDoc {
                    emails: vec![long_indexed.clone()],
                    ..doc("a")
                },
                "emails.value",
            ),
            (
                IndexedDoc {
                    body: json!({"userName": "a", "title": "t".repeat(MAX_TEXT_BYTES + 1)}),
                    ..doc("a")
                },
                "title",
            ),
        ];
        for (doc, place) in cases {
            let err = refusal(&doc);
            assert_eq!(err.status.as_u16(), 400);
            assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
            assert!(err.detail.starts_with(place), "{place}: {}", err.detail);
        }
        // At the limit is fine.
        assert!(doc(&"u".repeat(MAX_INDEXED_BYTES)).check_storable().is_ok());
    }

    #[test]
    fn members_and_ids() {
        let member = |value: &str, display: Option<&str>| Member {
            value: value.into(),
            member_type: None,
            display: display.map(str::to_owned),
        };
        assert!(member("id-1", Some("Ann")).check_storable().is_ok());
        assert!(member("id\0", None).check_storable().is_err());
        assert!(member("id", Some("\0")).check_storable().is_err());
        let op = MemberOp::Remove(vec!["x".repeat(2000)]);
        assert!(op.check_storable().is_err());
        assert!(MemberOp::RemoveAll.check_storable().is_ok());
        assert!(!is_possible_id("\0"));
        assert!(is_possible_id("2f0e6b1c-0000-4000-8000-000000000000"));
    }
}
