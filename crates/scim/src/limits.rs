//! What a resource may hold to be stored (the store's rules, [`IndexedDoc::check_storable`]):
//! no NUL anywhere, indexed attributes of at most [`MAX_INDEXED_BYTES`], every other
//! string of at most [`MAX_TEXT_BYTES`]. Checked on the final document of every POST, PUT
//! and PATCH before the write joins a batch, so a bad value is this request's
//! `400 invalidValue` and never another request's failure.

use crate::error::ScimError;
pub use scimgate_core::text::{MAX_INDEXED_BYTES, MAX_TEXT_BYTES};
use scimgate_store::{IndexedDoc, Member, UnstorableAt};

fn refuse((place, why): UnstorableAt) -> ScimError {
    ScimError::invalid_value(format!("{place} {why}"))
}

/// A new resource (POST).
pub fn check_doc(doc: &IndexedDoc) -> Result<(), ScimError> {
    doc.check_storable().map_err(refuse)
}

/// A changed resource (PUT, PATCH): values the stored body already holds pass, so a
/// resource stored before these limits can still be changed (Entra's deprovisioning
/// PATCH of such a user must land); every new value must fit.
pub fn check_doc_over(doc: &IndexedDoc, stored: &serde_json::Value) -> Result<(), ScimError> {
    doc.check_storable_over(Some(stored)).map_err(refuse)
}

pub fn check_member(member: &Member) -> Result<(), ScimError> {
    member.check_storable().map_err(refuse)
}

pub fn check_member_id(id: &str) -> Result<(), ScimError> {
    scimgate_store::check_member_id(id).map_err(refuse)
}

/// A resource id from a URL. Ids are ours (UUIDs); one that could never have been stored
/// names nothing, on either database.
pub fn is_possible_id(id: &str) -> bool {
    scimgate_core::text::check_storable(id, MAX_INDEXED_BYTES).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use scimgate_store::MemberOp;
    use serde_json::json;

    fn doc(user_name: &str) -> IndexedDoc {
        IndexedDoc {
            body: json!({"userName": user_name}),
            user_name: Some(user_name.to_owned()),
            ..IndexedDoc::default()
        }
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
            let err = check_doc(&doc).unwrap_err();
            assert_eq!(err.status.as_u16(), 400);
            assert_eq!(err.scim_type, Some(crate::error::ScimType::InvalidValue));
            assert!(err.detail.starts_with(place), "{place}: {}", err.detail);
        }
        // At the limit is fine.
        assert!(check_doc(&doc(&"u".repeat(MAX_INDEXED_BYTES))).is_ok());
    }

    #[test]
    fn members_and_ids() {
        let member = |value: &str, display: Option<&str>| Member {
            value: value.into(),
            member_type: None,
            display: display.map(str::to_owned),
        };
        assert!(check_member(&member("id-1", Some("Ann"))).is_ok());
        assert!(check_member(&member("id\0", None)).is_err());
        assert!(check_member(&member("id", Some("\0"))).is_err());
        let op = MemberOp::Remove(vec!["x".repeat(2000)]);
        assert!(op.check_storable().is_err());
        assert!(MemberOp::RemoveAll.check_storable().is_ok());
        assert!(!is_possible_id("\0"));
        assert!(is_possible_id("2f0e6b1c-0000-4000-8000-000000000000"));
    }
}
