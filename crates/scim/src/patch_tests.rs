//! The PATCH engine against what Microsoft Entra ID really sends (every line of the PATCH,
//! Groups and Deprovisioning sections of docs/entra.md) and against RFC 7644
//! §3.5.2, plus a property test that no operation list makes it panic.

use crate::error::{ScimError, ScimType};
use crate::patch::{self, OpKind, PatchPath};
use crate::resource;
use crate::schema::{ResourceType, ENTERPRISE_USER_SCHEMA as ENT, PATCH_OP};
use scimgate_store::{IndexedDoc, Member, MemberOp};
use serde_json::{json, Value};

const COST_CODE: &str = "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:costCode";
const ADSCIM_GROUP: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// What the store keeps for a user Entra created: the normalised POST body.
fn stored(rt: ResourceType, post: Value) -> Value {
    resource::normalize(rt, post).unwrap().doc.body
}

/// A user as Entra's POST creates it (core + enterprise extension + custom attribute).
fn entra_user() -> Value {
    stored(
        ResourceType::User,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee@contoso.com",
            "active": true,
            "displayName": "Test User",
            "name": {"formatted": "Test User", "familyName": "User", "givenName": "Test"},
            "emails": [
                {"Primary": true, "type": "work", "value": "Test_User_ab6490ee@contoso.com"},
                {"primary": false, "type": "home", "value": "test@home.example"}
            ],
            "phoneNumbers": [{"type": "work", "value": "+1 555 0100"}],
            "title": "Engineer",
            ENT: {"employeeNumber": "E-1", "department": "Sales", "manager": {"value": "mgr-1"}},
            COST_CODE: "CC-1"
        }),
    )
}

fn bare_user() -> Value {
    stored(ResourceType::User, json!({"userName": "bare@contoso.com"}))
}

fn entra_group() -> Value {
    stored(
        ResourceType::Group,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ADSCIM_GROUP],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Group_9b1a2c3d"
        }),
    )
}

fn try_patch(
    rt: ResourceType,
    stored: Value,
    ops: Value,
) -> Result<(IndexedDoc, Vec<MemberOp>), ScimError> {
    let ops = patch::parse(rt, patch_body(ops))?;
    patch::patch_resource(rt, stored, &ops)
}

/// Patches a user; a user PATCH never produces member changes.
fn user_doc(stored: Value, ops: Value) -> IndexedDoc {
    let (doc, members) = try_patch(ResourceType::User, stored, ops).unwrap();
    assert!(
        members.is_empty(),
        "a user PATCH changed members: {members:?}"
    );
    doc
}

fn patch_user(stored: Value, ops: Value) -> Value {
    user_doc(stored, ops).body
}

/// Patches a group; returns the body (never holding members) and the member changes.
fn patch_group(stored: Value, ops: Value) -> (Value, Vec<MemberOp>) {
    let (doc, members) = try_patch(ResourceType::Group, stored, ops).unwrap();
    assert!(
        doc.body.get("members").is_none(),
        "members leaked into the JSON body: {}",
        doc.body
    );
    (doc.body, members)
}

/// The `scimType` of a request that must fail with 400.
fn failure(rt: ResourceType, stored: Value, ops: Value) -> ScimType {
    match try_patch(rt, stored, ops.clone()) {
        Ok((doc, _)) => panic!("{ops} was accepted: {}", doc.body),
        Err(e) => {
            assert_eq!(e.status.as_u16(), 400, "{ops}: {e}");
            e.scim_type
                .unwrap_or_else(|| panic!("{ops}: no scimType in {e}"))
        }
    }
}

fn user_failure(ops: Value) -> ScimType {
    failure(ResourceType::User, entra_user(), ops)
}

fn body_failure(rt: ResourceType, body: Value) -> ScimType {
    let e = patch::parse(rt, body.clone()).unwrap_err();
    assert_eq!(e.status.as_u16(), 400, "{body}: {e}");
    e.scim_type.unwrap()
}

fn member(id: &str) -> Member {
    Member {
        value: id.to_owned(),
        member_type: None,
        display: None,
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn emails_of_type<'a>(user: &'a Value, ty: &str) -> Vec<&'a Value> {
    user["emails"]
        .as_array()
        .map(|emails| emails.iter().filter(|e| e["type"] == ty).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- PATCH (users and groups)

#[test]
fn op_is_accepted_in_any_case() {
    for (name, kind) in [
        ("Add", OpKind::Add),
        ("add", OpKind::Add),
        ("ADD", OpKind::Add),
        ("Replace", OpKind::Replace),
        ("replace", OpKind::Replace),
        ("REPLACE", OpKind::Replace),
        ("Remove", OpKind::Remove),
        ("remove", OpKind::Remove),
        ("rEmOvE", OpKind::Remove),
    ] {
        let ops = patch::parse(
            ResourceType::User,
            patch_body(json!([{"op": name, "path": "title", "value": "Boss"}])),
        )
        .unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].op, kind, "{name}");
        assert!(matches!(&ops[0].path, Some(PatchPath::Attr(a)) if a.name == "title"));
        assert_eq!(ops[0].value, Some(json!("Boss")));

        let user = patch_user(
            entra_user(),
            json!([{"op": name, "path": "title", "value": "Boss"}]),
        );
        match kind {
            OpKind::Remove => assert!(user.get("title").is_none(), "{name}: {user}"),
            _ => assert_eq!(user["title"], "Boss", "{name}"),
        }
    }
    // The members of an Operations object are matched case-insensitively too.
    let user = patch_user(
        entra_user(),
        json!([{"OP": "Replace", "Path": "title", "Value": "Chief"}]),
    );
    assert_eq!(user["title"], "Chief");
}

#[test]
fn active_takes_booleans_and_true_false_strings_with_add_and_replace() {
    for op in ["Add", "add", "Replace", "replace"] {
        for (value, expected) in [
            (json!(true), true),
            (json!(false), false),
            (json!("True"), true),
            (json!("False"), false),
            (json!("true"), true),
            (json!("FALSE"), false),
        ] {
            let start = stored(
                ResourceType::User,
                json!({"userName": "u@contoso.com", "active": !expected}),
            );
            let doc = user_doc(
                start.clone(),
                json!([{"op": op, "path": "active", "value": value}]),
            );
            assert_eq!(doc.body["active"], json!(expected), "{op} {value}");
            assert_eq!(doc.active, Some(expected), "{op} {value}: indexed column");
            // And without a path, as Entra also sends it.
            let doc = user_doc(start, json!([{"op": op, "value": {"active": value}}]));
            assert_eq!(
                doc.body["active"],
                json!(expected),
                "{op} {{active: {value}}}"
            );
            assert_eq!(doc.active, Some(expected));
        }
    }
}

#[test]
fn display_name_path() {
    let user = patch_user(
        entra_user(),
        json!([{"op": "Replace", "path": "displayName", "value": "New Name"}]),
    );
    assert_eq!(user["displayName"], "New Name");
    let (group, members) = patch_group(
        entra_group(),
        json!([{"op": "Replace", "path": "displayName", "value": "Renamed"}]),
    );
    assert_eq!(group["displayName"], "Renamed");
    assert!(members.is_empty());
}

#[test]
fn name_given_name_path() {
    // Replace keeps the other name parts.
    let user = patch_user(
        entra_user(),
        json!([{"op": "Replace", "path": "name.givenName", "value": "Barbara"}]),
    );
    assert_eq!(
        user["name"],
        json!({"formatted": "Test User", "familyName": "User", "givenName": "Barbara"})
    );
    // Add creates `name` on a user that has none.
    let user = patch_user(
        bare_user(),
        json!([{"op": "Add", "path": "name.givenName", "value": "Barbara"}]),
    );
    assert_eq!(user["name"], json!({"givenName": "Barbara"}));
}

#[test]
fn emails_work_value_path_changes_only_the_work_email() {
    let user = patch_user(
        entra_user(),
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@contoso.com"}]),
    );
    assert_eq!(
        user["emails"],
        json!([
            {"primary": true, "type": "work", "value": "new@contoso.com"},
            {"primary": false, "type": "home", "value": "test@home.example"}
        ])
    );
    let doc = user_doc(
        entra_user(),
        json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "added@contoso.com"}]),
    );
    assert_eq!(emails_of_type(&doc.body, "work").len(), 1);
    assert_eq!(
        emails_of_type(&doc.body, "work")[0]["value"],
        "added@contoso.com"
    );
    // The indexed e-mail column follows the body.
    assert!(doc.emails.contains(&"added@contoso.com".to_owned()));
    assert!(!doc
        .emails
        .contains(&"Test_User_ab6490ee@contoso.com".to_owned()));
}

#[test]
fn addresses_work_formatted_path() {
    let start = stored(
        ResourceType::User,
        json!({"userName": "u@contoso.com", "addresses": [
            {"type": "work", "formatted": "Old", "locality": "Oslo"},
            {"type": "home", "formatted": "Home"}
        ]}),
    );
    let user = patch_user(
        start,
        json!([{"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"}]),
    );
    assert_eq!(
        user["addresses"],
        json!([
            {"type": "work", "formatted": "1 Main St", "locality": "Oslo"},
            {"type": "home", "formatted": "Home"}
        ])
    );
}

#[test]
fn phone_numbers_mobile_value_path() {
    // The user has a work phone only: the mobile one is created next to it.
    let user = patch_user(
        entra_user(),
        json!([{"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+47 900 00 000"}]),
    );
    assert_eq!(
        user["phoneNumbers"],
        json!([
            {"type": "work", "value": "+1 555 0100"},
            {"type": "mobile", "value": "+47 900 00 000"}
        ])
    );
    let user = patch_user(
        user,
        json!([{"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+47 911 11 111"}]),
    );
    assert_eq!(user["phoneNumbers"][1]["value"], "+47 911 11 111");
    assert_eq!(user["phoneNumbers"][0]["value"], "+1 555 0100");
}

#[test]
fn roles_primary_true_value_display_and_type_paths() {
    // Entra's SingleAppRoleAssignment: the filter compares a boolean with the string "True".
    let user = patch_user(
        bare_user(),
        json!([
            {"op": "Add", "path": "roles[primary eq \"True\"].value", "value": "Admin"},
            {"op": "Add", "path": "roles[primary eq \"True\"].display", "value": "Administrator"},
            {"op": "Add", "path": "roles[primary eq \"True\"].type", "value": "WindowsAzureActiveDirectoryRole"}
        ]),
    );
    assert_eq!(
        user["roles"],
        json!([{"primary": true, "value": "Admin", "display": "Administrator",
                "type": "WindowsAzureActiveDirectoryRole"}])
    );
    // Replace updates the primary role in place, leaving a non-primary one alone.
    let start = stored(
        ResourceType::User,
        json!({"userName": "u@contoso.com", "roles": [
            {"primary": "False", "value": "Reader"},
            {"Primary": "True", "value": "Admin", "display": "Administrator"}
        ]}),
    );
    let user = patch_user(
        start,
        json!([
            {"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Owner"},
            {"op": "replace", "path": "roles[primary eq \"True\"].display", "value": "Owner role"},
            {"op": "Replace", "path": "roles[primary eq \"True\"].type", "value": "custom"}
        ]),
    );
    assert_eq!(
        user["roles"],
        json!([
            {"primary": false, "value": "Reader"},
            {"primary": true, "value": "Owner", "display": "Owner role", "type": "custom"}
        ])
    );
}

#[test]
fn enterprise_manager_and_employee_number_paths() {
    let user = patch_user(
        entra_user(),
        json!([
            {"op": "Replace", "path": format!("{ENT}:manager"), "value": {"value": "mgr-2"}},
            {"op": "Replace", "path": format!("{ENT}:employeeNumber"), "value": "E-2"}
        ]),
    );
    assert_eq!(
        user[ENT],
        json!({"employeeNumber": "E-2", "department": "Sales", "manager": {"value": "mgr-2"}})
    );
    // On a user without the extension, Add creates it.
    let user = patch_user(
        bare_user(),
        json!([
            {"op": "Add", "path": format!("{ENT}:manager"), "value": {"value": "mgr-9"}},
            {"op": "Add", "path": format!("{ENT}:employeeNumber"), "value": "E-9"}
        ]),
    );
    assert_eq!(
        user[ENT],
        json!({"manager": {"value": "mgr-9"}, "employeeNumber": "E-9"})
    );
    assert!(user.get(format!("{ENT}:manager")).is_none());
}

#[test]
fn single_valued_core_paths_update_the_indexed_columns() {
    // Microsoft's documented "Update User [Single-valued properties]" request.
    let doc = user_doc(
        entra_user(),
        json!([
            {"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"},
            {"op": "Replace", "path": "externalId", "value": "ext-2"}
        ]),
    );
    assert_eq!(
        doc.user_name.as_deref(),
        Some("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com")
    );
    assert_eq!(doc.external_id.as_deref(), Some("ext-2"));
    let (doc, _) = try_patch(
        ResourceType::Group,
        entra_group(),
        json!([{"op": "Replace", "path": "displayName", "value": "1879db59updatedDisplayName"}]),
    )
    .unwrap();
    assert_eq!(
        doc.display_name.as_deref(),
        Some("1879db59updatedDisplayName")
    );
}

// ---------------------------------------------- filtered paths create what they name

#[test]
fn add_or_replace_on_a_missing_filtered_element_creates_it() {
    for op in ["Add", "Replace"] {
        let user = patch_user(
            bare_user(),
            json!([{"op": op, "path": "emails[type eq \"work\"].value", "value": "w@contoso.com"}]),
        );
        assert_eq!(
            user["emails"],
            json!([{"type": "work", "value": "w@contoso.com"}]),
            "{op}"
        );
        // A user with only a home e-mail gets a work one next to it.
        let start = stored(
            ResourceType::User,
            json!({"userName": "u@contoso.com", "emails": [{"type": "home", "value": "h@home"}]}),
        );
        let user = patch_user(
            start,
            json!([{"op": op, "path": "emails[type eq \"work\"].value", "value": "w@contoso.com"}]),
        );
        assert_eq!(
            user["emails"],
            json!([{"type": "home", "value": "h@home"}, {"type": "work", "value": "w@contoso.com"}]),
            "{op}"
        );
        // A whole element named by its filter.
        let user = patch_user(
            bare_user(),
            json!([{"op": op, "path": "emails[type eq \"work\"]",
                    "value": {"value": "w@contoso.com", "primary": "True"}}]),
        );
        assert_eq!(
            user["emails"],
            json!([{"type": "work", "value": "w@contoso.com", "primary": true}]),
            "{op}"
        );
    }
}

#[test]
fn three_adds_on_one_absent_address_make_one_address() {
    let doc = user_doc(
        entra_user(),
        json!([
            {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
            {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Redmond"},
            {"op": "Add", "path": "addresses[type eq \"work\"].postalCode", "value": "98052"},
            {"op": "Add", "path": "addresses[type eq \"work\"].country", "value": "US"}
        ]),
    );
    assert_eq!(
        doc.body["addresses"],
        json!([{"type": "work", "streetAddress": "1 Main St", "locality": "Redmond",
                "postalCode": "98052", "country": "US"}])
    );
}

#[test]
fn a_filter_that_cannot_say_what_to_create_is_no_target() {
    assert_eq!(
        user_failure(
            json!([{"op": "Add", "path": "emails[value co \"zzz\"].type", "value": "work"}])
        ),
        ScimType::NoTarget
    );
    assert_eq!(
        user_failure(
            json!([{"op": "Add", "path": "emails[type eq \"a\" or type eq \"b\"].value", "value": "x"}])
        ),
        ScimType::NoTarget
    );
}

// ------------------------------------------------------------------------- manager

#[test]
fn manager_arrives_as_an_object_or_a_bare_id() {
    for op in ["Add", "Replace"] {
        for value in [
            json!({"value": "mgr-7"}),
            json!("mgr-7"),
            json!({"Value": "mgr-7"}),
        ] {
            let user = patch_user(
                entra_user(),
                json!([{"op": op, "path": format!("{ENT}:manager"), "value": value}]),
            );
            assert_eq!(
                user[ENT]["manager"],
                json!({"value": "mgr-7"}),
                "{op} {value}"
            );
            assert_eq!(user[ENT]["department"], "Sales");
            // Path-less, with the URN-qualified key.
            let user = patch_user(
                bare_user(),
                json!([{"op": op, "value": {format!("{ENT}:manager"): value}}]),
            );
            assert_eq!(
                user[ENT]["manager"],
                json!({"value": "mgr-7"}),
                "{op} {value}"
            );
        }
    }
    // `Manager.Value`, capitalised, as a sub-attribute path.
    let user = patch_user(
        entra_user(),
        json!([{"op": "Replace", "path": format!("{ENT}:Manager.Value"), "value": "mgr-8"}]),
    );
    assert_eq!(user[ENT]["manager"], json!({"value": "mgr-8"}));
    // Entra clears a manager with a Remove (carrying the old value, or not).
    for op in [
        json!({"op": "Remove", "path": format!("{ENT}:manager")}),
        json!({"op": "Remove", "path": format!("{ENT}:manager"), "value": [{"value": "mgr-1"}]}),
        json!({"op": "Remove", "path": format!("{ENT}:manager"), "value": "mgr-1"}),
    ] {
        let user = patch_user(entra_user(), json!([op]));
        assert!(user[ENT].get("manager").is_none(), "{op}: {user}");
        assert_eq!(user[ENT]["department"], "Sales");
    }
}

// --------------------------------------------------------------- path-less replace

#[test]
fn pathless_replace_with_dotted_and_urn_qualified_keys() {
    let doc = user_doc(
        entra_user(),
        json!([{"op": "Replace", "value": {
            "name.givenName": "Barbara",
            "name.familyName": "Jensen",
            "displayName": "Barbara Jensen",
            "active": "False",
            "emails[type eq \"work\"].value": "bjensen@contoso.com",
            format!("{ENT}:employeeNumber"): "E-42",
            format!("{ENT}:Department"): "Marketing",
            COST_CODE: "CC-2"
        }}]),
    );
    let user = &doc.body;
    assert_eq!(
        user["name"],
        json!({"formatted": "Test User", "familyName": "Jensen", "givenName": "Barbara"})
    );
    assert_eq!(user["displayName"], "Barbara Jensen");
    assert_eq!(user["active"], false);
    assert_eq!(doc.active, Some(false));
    assert_eq!(
        emails_of_type(user, "work")[0]["value"],
        "bjensen@contoso.com"
    );
    assert_eq!(
        user[ENT],
        json!({"employeeNumber": "E-42", "department": "Marketing", "manager": {"value": "mgr-1"}})
    );
    assert!(user.get(format!("{ENT}:employeeNumber")).is_none());
    assert_eq!(user[COST_CODE], "CC-2");
    // Nothing was added under a dotted or qualified key.
    for key in user.as_object().unwrap().keys() {
        assert!(!key.contains('.') || key.starts_with("urn:"), "{key}");
    }
}

#[test]
fn pathless_replace_ignores_server_owned_keys() {
    // Entra echoes the group id (and sometimes schemas) in its path-less replace.
    let (group, members) = patch_group(
        entra_group(),
        json!([{"op": "Replace", "value": {
            "id": "f1b7ce4c-2b0e-4b2a-a1c4-55d0b3b3c6a1",
            "displayName": "Renamed",
            "meta": {"version": "W/\"9\""}
        }}]),
    );
    assert_eq!(group["displayName"], "Renamed");
    assert!(group.get("id").is_none());
    assert!(group.get("meta").is_none());
    assert!(members.is_empty());
}

#[test]
fn pathless_replace_of_a_whole_extension_object_merges() {
    let user = patch_user(
        entra_user(),
        json!([{"op": "Replace", "value": {ENT: {"Department": "Finance", "costCenter": "42"}}}]),
    );
    assert_eq!(
        user[ENT],
        json!({"employeeNumber": "E-1", "department": "Finance",
               "manager": {"value": "mgr-1"}, "costCenter": "42"})
    );
}

// ---------------------------------------------------------- remove carrying values

#[test]
fn remove_with_value_removes_exactly_the_listed_values() {
    let start = stored(
        ResourceType::User,
        json!({"userName": "u@contoso.com", "emails": [
            {"type": "work", "value": "a@contoso.com"},
            {"type": "home", "value": "b@home"},
            {"type": "other", "value": "c@other"}
        ]}),
    );
    let user = patch_user(
        start.clone(),
        json!([{"op": "Remove", "path": "emails", "value": [{"value": "A@Contoso.com"}, {"value": "c@other"}]}]),
    );
    assert_eq!(user["emails"], json!([{"type": "home", "value": "b@home"}]));
    // A listed value that is not there changes nothing.
    let user = patch_user(
        start.clone(),
        json!([{"op": "Remove", "path": "emails", "value": [{"value": "nobody@nowhere"}]}]),
    );
    assert_eq!(user, start);
    // Listing every value removes the attribute.
    let user = patch_user(
        start,
        json!([{"op": "remove", "path": "emails", "value": [
            {"value": "a@contoso.com"}, {"value": "b@home"}, {"value": "c@other", "type": "other"}
        ]}]),
    );
    assert!(user.get("emails").is_none(), "{user}");

    // Roles, with the JSON-string values Entra uses (AppRoleAssignmentsComplex).
    let admin =
        r#"{"id":"06b07648-ecfe-589f-9d2f-6f10a5f1a1a0","value":"Admin","displayName":"Admin"}"#;
    let reader =
        r#"{"id":"9e7ab3b0-2b2c-4a7f-8b6a-3c3d1f3b0c11","value":"Reader","displayName":"Reader"}"#;
    let start = stored(
        ResourceType::User,
        json!({"userName": "u@contoso.com", "roles": [{"value": admin}, {"value": reader}]}),
    );
    let user = patch_user(
        start,
        json!([{"op": "Remove", "path": "roles", "value": [{"value": admin}]}]),
    );
    assert_eq!(user["roles"], json!([{"value": reader}]));
}

// -------------------------------------------------------------------------- roles

#[test]
fn roles_add_with_json_string_values_is_kept_as_sent() {
    let admin =
        r#"{"id":"06b07648-ecfe-589f-9d2f-6f10a5f1a1a0","value":"25","displayName":"Role1234"}"#;
    let reader =
        r#"{"id":"9e7ab3b0-2b2c-4a7f-8b6a-3c3d1f3b0c11","value":"26","displayName":"Role5678"}"#;
    let user = patch_user(
        entra_user(),
        json!([{"op": "Add", "path": "roles", "value": [{"value": admin}, {"value": reader}]}]),
    );
    assert_eq!(user["roles"], json!([{"value": admin}, {"value": reader}]));
    // Re-adding one of them does not duplicate it.
    let user = patch_user(
        user,
        json!([{"op": "Add", "path": "roles", "value": [{"value": admin}]}]),
    );
    assert_eq!(user["roles"].as_array().unwrap().len(), 2);
    // The whole list as one JSON-encoded string.
    let list = json!([{"value": admin, "primary": "True"}]).to_string();
    let user = patch_user(
        bare_user(),
        json!([{"op": "Add", "path": "roles", "value": list}]),
    );
    assert_eq!(user["roles"], json!([{"value": admin, "primary": true}]));
}

// -------------------------------------------------------------------------- groups

#[test]
fn group_post_with_the_adscim_schema_then_patch() {
    let group = entra_group();
    assert_eq!(
        group["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Group", ADSCIM_GROUP])
    );
    let (after, members) = patch_group(
        group.clone(),
        json!([{"op": "Add", "path": "members", "value": [{"value": "u-1"}]}]),
    );
    // The body is untouched: members live in their own table.
    assert_eq!(after, group);
    assert_eq!(members, vec![MemberOp::Add(vec![member("u-1")])]);
}

#[test]
fn group_members_add_in_batches_of_any_size() {
    let batch: Vec<Value> = (0..5000)
        .map(|i| json!({"value": format!("u-{i}")}))
        .collect();
    let (_, members) = patch_group(
        entra_group(),
        json!([{"op": "Add", "path": "members", "value": batch}]),
    );
    let [MemberOp::Add(added)] = members.as_slice() else {
        panic!("{members:?}")
    };
    assert_eq!(added.len(), 5000);
    assert_eq!(added[4999], member("u-4999"));

    // `type` and `display` are kept; `Value` may be capitalised.
    let (_, members) = patch_group(
        entra_group(),
        json!([{"op": "add", "path": "Members", "value": [
            {"Value": "u-1", "type": "User", "display": "One"}, {"value": "g-2", "type": "Group"}
        ]}]),
    );
    assert_eq!(
        members,
        vec![MemberOp::Add(vec![
            Member {
                value: "u-1".into(),
                member_type: Some("User".into()),
                display: Some("One".into())
            },
            Member {
                value: "g-2".into(),
                member_type: Some("Group".into()),
                display: None
            },
        ])]
    );
}

#[test]
fn microsofts_documented_member_requests() {
    // "Update Group [Add Members]" / "[Remove Members]" carry `"$ref": null`.
    let (_, members) = patch_group(
        entra_group(),
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}]),
    );
    assert_eq!(
        members,
        vec![MemberOp::Add(vec![member("f648f8d5ea4e4cd38e9c")])]
    );
    let (_, members) = patch_group(
        entra_group(),
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}]),
    );
    assert_eq!(
        members,
        vec![MemberOp::Remove(ids(&["f648f8d5ea4e4cd38e9c"]))]
    );
}

#[test]
fn adding_existing_or_duplicate_members_is_not_an_error() {
    // The store inserts with ON CONFLICT DO NOTHING; the engine only has to accept it.
    let (_, members) = patch_group(
        entra_group(),
        json!([
            {"op": "Add", "path": "members", "value": [{"value": "u-1"}, {"value": "u-1"}]},
            {"op": "Add", "path": "members", "value": [{"value": "u-1"}]}
        ]),
    );
    assert_eq!(
        members,
        vec![
            MemberOp::Add(vec![member("u-1"), member("u-1")]),
            MemberOp::Add(vec![member("u-1")])
        ]
    );
}

#[test]
fn group_members_remove_in_both_forms() {
    let (_, members) = patch_group(
        entra_group(),
        json!([{"op": "Remove", "path": "members", "value": [{"value": "u-1"}, {"value": "u-2"}]}]),
    );
    assert_eq!(members, vec![MemberOp::Remove(ids(&["u-1", "u-2"]))]);

    let (_, members) = patch_group(
        entra_group(),
        json!([{"op": "remove", "path": "members[value eq \"u-3\"]"}]),
    );
    assert_eq!(members, vec![MemberOp::Remove(ids(&["u-3"]))]);

    let (_, members) = patch_group(
        entra_group(),
        json!([{"op": "Remove", "path": "members[value eq \"u-4\" or value eq \"u-5\"]"}]),
    );
    assert_eq!(members, vec![MemberOp::Remove(ids(&["u-4", "u-5"]))]);

    // A single object instead of a list.
    let (_, members) = patch_group(
        entra_group(),
        json!([{"op": "Remove", "path": "members", "value": {"value": "u-6"}}]),
    );
    assert_eq!(members, vec![MemberOp::Remove(ids(&["u-6"]))]);

    // Without a value: all members go (RFC 7644 §3.5.2.2).
    let (_, members) = patch_group(entra_group(), json!([{"op": "Remove", "path": "members"}]));
    assert_eq!(members, vec![MemberOp::RemoveAll]);
}

#[test]
fn removing_non_members_or_unknown_ids_is_a_no_op() {
    // The group has no members at all; unknown ids are passed on and ignored by the store.
    let group = entra_group();
    let (after, members) = patch_group(
        group.clone(),
        json!([
            {"op": "Remove", "path": "members", "value": [{"value": "00000000-0000-0000-0000-000000000000"}]},
            {"op": "Remove", "path": "members[value eq \"not-a-member\"]"}
        ]),
    );
    assert_eq!(after, group);
    assert_eq!(
        members,
        vec![
            MemberOp::Remove(ids(&["00000000-0000-0000-0000-000000000000"])),
            MemberOp::Remove(ids(&["not-a-member"]))
        ]
    );
}

#[test]
fn replace_members() {
    let (_, members) = patch_group(
        entra_group(),
        json!([{"op": "Replace", "path": "members", "value": [{"value": "u-1"}, {"value": "u-2"}]}]),
    );
    assert_eq!(
        members,
        vec![
            MemberOp::RemoveAll,
            MemberOp::Add(vec![member("u-1"), member("u-2")])
        ]
    );
    // Path-less, next to the echoed id and a new name.
    let (group, members) = patch_group(
        entra_group(),
        json!([{"op": "Replace", "value": {"id": "g", "displayName": "New", "members": [{"value": "u-9"}]}}]),
    );
    assert_eq!(group["displayName"], "New");
    assert_eq!(
        members,
        vec![MemberOp::RemoveAll, MemberOp::Add(vec![member("u-9")])]
    );
    // Path-less add appends.
    let (_, members) = patch_group(
        entra_group(),
        json!([{"op": "Add", "value": {"members": [{"value": "u-9"}]}}]),
    );
    assert_eq!(members, vec![MemberOp::Add(vec![member("u-9")])]);
}

#[test]
fn member_changes_keep_their_order() {
    let (_, members) = patch_group(
        entra_group(),
        json!([
            {"op": "Add", "path": "members", "value": [{"value": "a"}]},
            {"op": "Remove", "path": "members[value eq \"a\"]"},
            {"op": "Replace", "path": "displayName", "value": "x"},
            {"op": "Add", "path": "members", "value": [{"value": "b"}]}
        ]),
    );
    assert_eq!(
        members,
        vec![
            MemberOp::Add(vec![member("a")]),
            MemberOp::Remove(ids(&["a"])),
            MemberOp::Add(vec![member("b")])
        ]
    );
}

#[test]
fn bad_member_operations_are_client_errors() {
    let group = |ops: Value| failure(ResourceType::Group, entra_group(), ops);
    assert_eq!(
        group(json!([{"op": "Add", "path": "members", "value": [{"display": "no id"}]}])),
        ScimType::InvalidValue
    );
    assert_eq!(
        group(json!([{"op": "Add", "path": "members", "value": [{"value": 5}]}])),
        ScimType::InvalidValue
    );
    assert_eq!(
        group(json!([{"op": "Add", "path": "members", "value": "u-1"}])),
        ScimType::InvalidValue
    );
    assert_eq!(
        group(json!([{"op": "Add", "path": "members[value eq \"u\"]", "value": [{"value": "u"}]}])),
        ScimType::InvalidPath
    );
    assert_eq!(
        group(json!([{"op": "Replace", "path": "members.display", "value": "x"}])),
        ScimType::InvalidPath
    );
    assert_eq!(
        group(json!([{"op": "Remove", "path": "members[display eq \"x\"]"}])),
        ScimType::InvalidFilter
    );
    assert_eq!(
        group(json!([{"op": "Replace", "path": "userName", "value": "x"}])),
        ScimType::InvalidPath
    );
    // A group's displayName is required: removing it is a mutability error.
    assert_eq!(
        group(json!([{"op": "Remove", "path": "displayName"}])),
        ScimType::Mutability
    );
}

// ------------------------------------------------------------------ deprovisioning

#[test]
fn deprovisioning_sets_active_false_and_keeps_everything_else() {
    let start = entra_user();
    for value in [json!(false), json!("False")] {
        for ops in [
            json!([{"op": "Replace", "path": "active", "value": value}]),
            json!([{"op": "replace", "value": {"active": value}}]),
        ] {
            let doc = user_doc(start.clone(), ops.clone());
            assert_eq!(doc.active, Some(false), "{ops}");
            let mut expected = start.clone();
            expected["active"] = json!(false);
            assert_eq!(doc.body, expected, "{ops}");
            assert_eq!(
                doc.user_name.as_deref(),
                Some("Test_User_ab6490ee@contoso.com")
            );
        }
    }
}

#[test]
fn reenabling_sets_active_true_without_touching_memberships() {
    let disabled = patch_user(
        entra_user(),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    );
    for value in [json!(true), json!("True")] {
        // `user_doc` asserts that no member change comes out.
        let doc = user_doc(
            disabled.clone(),
            json!([{"op": "Replace", "path": "active", "value": value}]),
        );
        assert_eq!(doc.active, Some(true));
        assert_eq!(doc.body, entra_user());
    }
}

// ------------------------------------------------------------------ RFC 7644 §3.5.2

#[test]
fn add_to_a_multi_valued_attribute_appends_without_duplicates() {
    let user = patch_user(
        entra_user(),
        json!([{"op": "Add", "path": "emails", "value": [
            {"type": "other", "value": "new@other"},
            {"type": "work", "value": "TEST_USER_AB6490EE@contoso.com"}
        ]}]),
    );
    let values: Vec<&str> = user["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        [
            "Test_User_ab6490ee@contoso.com",
            "test@home.example",
            "new@other"
        ]
    );
    // Without a path, as a single object, and twice in one request.
    let user = patch_user(
        bare_user(),
        json!([
            {"op": "Add", "value": {"emails": [{"value": "a@x"}]}},
            {"op": "Add", "path": "emails", "value": {"value": "b@x"}},
            {"op": "Add", "path": "emails", "value": [{"value": "a@x"}, {"value": "b@x"}]}
        ]),
    );
    assert_eq!(user["emails"], json!([{"value": "a@x"}, {"value": "b@x"}]));
}

#[test]
fn making_a_value_primary_makes_the_others_not_primary() {
    // RFC 7644 §3.5.2: "primary" true appears at most once in a multi-valued attribute.
    let primaries = |user: &Value| -> Vec<String> {
        user["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["primary"] == true)
            .map(|e| e["value"].as_str().unwrap().to_owned())
            .collect()
    };
    let user = patch_user(
        entra_user(),
        json!([{"op": "Add", "path": "emails", "value": [{"value": "new@x", "primary": "True"}]}]),
    );
    assert_eq!(primaries(&user), ["new@x"]);
    assert_eq!(user["emails"][0]["primary"], false);

    let user = patch_user(
        entra_user(),
        json!([{"op": "Replace", "path": "emails[type eq \"home\"].primary", "value": "True"}]),
    );
    assert_eq!(primaries(&user), ["test@home.example"]);

    let user = patch_user(
        entra_user(),
        json!([{"op": "Add", "value": {"emails[type eq \"other\"]": {"value": "o@x", "primary": true}}}]),
    );
    assert_eq!(primaries(&user), ["o@x"]);

    // Operations that make nothing primary leave the flags alone.
    let user = patch_user(
        entra_user(),
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "w@x"},
            {"op": "Add", "path": "emails", "value": [{"value": "plain@x"}]},
            {"op": "Replace", "path": "displayName", "value": "x"}
        ]),
    );
    assert_eq!(primaries(&user), ["w@x"]);
    let two = stored(
        ResourceType::User,
        json!({"userName": "u", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
    );
    let user = patch_user(
        two.clone(),
        json!([{"op": "Add", "path": "emails", "value": [{"value": "c"}]}]),
    );
    assert_eq!(primaries(&user), ["a", "b"]);
}

#[test]
fn replace_of_a_multi_valued_attribute_replaces_all_values() {
    let user = patch_user(
        entra_user(),
        json!([{"op": "Replace", "path": "emails", "value": [{"type": "work", "value": "only@x"}]}]),
    );
    assert_eq!(user["emails"], json!([{"type": "work", "value": "only@x"}]));
}

#[test]
fn replace_of_a_complex_single_valued_attribute_merges_sub_attributes() {
    for ops in [
        json!([{"op": "Replace", "path": "name", "value": {"givenName": "Barbara"}}]),
        json!([{"op": "Replace", "value": {"name": {"givenName": "Barbara"}}}]),
        json!([{"op": "Add", "path": "name", "value": {"GivenName": "Barbara"}}]),
    ] {
        let user = patch_user(entra_user(), ops.clone());
        assert_eq!(
            user["name"],
            json!({"formatted": "Test User", "familyName": "User", "givenName": "Barbara"}),
            "{ops}"
        );
    }
    // The manager too.
    let start = stored(
        ResourceType::User,
        json!({"userName": "u", ENT: {"manager": {"value": "m", "$ref": "../Users/m"}}}),
    );
    let user = patch_user(
        start,
        json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": {"value": "n"}}]),
    );
    assert_eq!(
        user[ENT]["manager"],
        json!({"value": "n", "$ref": "../Users/m"})
    );
}

#[test]
fn remove_of_a_missing_attribute_is_a_no_op() {
    let start = bare_user();
    let user = patch_user(
        start.clone(),
        json!([
            {"op": "Remove", "path": "title"},
            {"op": "Remove", "path": "name.middleName"},
            {"op": "Remove", "path": "emails[type eq \"work\"]"},
            {"op": "Remove", "path": "emails[type eq \"work\"].value"},
            {"op": "Remove", "path": "emails", "value": [{"value": "x@y"}]},
            {"op": "Remove", "path": format!("{ENT}:department")},
            {"op": "Remove", "path": format!("{ENT}:manager")},
            {"op": "Remove", "path": ENT},
            {"op": "Remove", "path": COST_CODE}
        ]),
    );
    assert_eq!(user, start);
    // And on a user that has some of the neighbours.
    let start = entra_user();
    let user = patch_user(
        start.clone(),
        json!([
            {"op": "Remove", "path": "name.middleName"},
            {"op": "Remove", "path": "emails[type eq \"other\"]"},
            {"op": "Remove", "path": format!("{ENT}:costCenter")}
        ]),
    );
    assert_eq!(user, start);
}

#[test]
fn remove_paths_take_out_what_they_name() {
    let user = patch_user(
        entra_user(),
        json!([
            {"op": "Remove", "path": "emails[type eq \"home\"]"},
            {"op": "Remove", "path": "emails[type eq \"work\"].primary"},
            {"op": "Remove", "path": "name.formatted"},
            {"op": "Remove", "path": format!("{ENT}:employeeNumber")},
            {"op": "Remove", "path": "phoneNumbers"}
        ]),
    );
    assert_eq!(
        user["emails"],
        json!([{"type": "work", "value": "Test_User_ab6490ee@contoso.com"}])
    );
    assert_eq!(
        user["name"],
        json!({"familyName": "User", "givenName": "Test"})
    );
    assert_eq!(
        user[ENT],
        json!({"department": "Sales", "manager": {"value": "mgr-1"}})
    );
    assert!(user.get("phoneNumbers").is_none());
    // Removing the last matching element removes the attribute.
    let user = patch_user(
        user,
        json!([{"op": "Remove", "path": "emails[type eq \"work\"]"}]),
    );
    assert!(user.get("emails").is_none());
    // Removing the whole extension object.
    let user = patch_user(entra_user(), json!([{"op": "Remove", "path": ENT}]));
    assert!(user.get(ENT).is_none());
}

#[test]
fn operations_apply_in_order() {
    let user = patch_user(
        entra_user(),
        json!([
            {"op": "Replace", "path": "displayName", "value": "A"},
            {"op": "Replace", "path": "displayName", "value": "B"},
            {"op": "Add", "path": "emails", "value": [{"value": "tmp@x"}]},
            {"op": "Remove", "path": "emails[value eq \"tmp@x\"]"},
            {"op": "Remove", "path": "title"},
            {"op": "Add", "path": "title", "value": "Again"},
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": "active", "value": "True"}
        ]),
    );
    assert_eq!(user["displayName"], "B");
    assert_eq!(user["emails"].as_array().unwrap().len(), 2);
    assert_eq!(user["title"], "Again");
    assert_eq!(user["active"], true);
}

#[test]
fn a_failing_operation_fails_the_whole_request() {
    // Apply-time failure after valid operations (and after member changes).
    let err = try_patch(
        ResourceType::User,
        entra_user(),
        json!([
            {"op": "Replace", "path": "displayName", "value": "Changed"},
            {"op": "Add", "path": "emails", "value": [{"value": "new@x"}]},
            {"op": "Replace", "path": "active", "value": "maybe"}
        ]),
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    assert!(err.detail.contains("active"), "{}", err.detail);

    let err = try_patch(
        ResourceType::Group,
        entra_group(),
        json!([
            {"op": "Add", "path": "members", "value": [{"value": "u-1"}]},
            {"op": "Replace", "path": "displayName", "value": 42}
        ]),
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));

    // A failure only the final validation sees (userName blank) also fails it all.
    let err = try_patch(
        ResourceType::User,
        entra_user(),
        json!([
            {"op": "Replace", "path": "displayName", "value": "Changed"},
            {"op": "Replace", "path": "userName", "value": "  "}
        ]),
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));

    // Parse-time failure in a later operation: nothing is parsed into operations at all,
    // and the error says which operation is wrong.
    let err = patch::parse(
        ResourceType::User,
        patch_body(json!([
            {"op": "Replace", "path": "displayName", "value": "Changed"},
            {"op": "Replace", "path": "title", "value": "x"},
            {"op": "Replace", "path": "noSuchAttribute", "value": "x"}
        ])),
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
    assert!(err.detail.contains("Operations[2]"), "{}", err.detail);

    // `apply` alone (before validation) also refuses the whole list.
    let ops = patch::parse(
        ResourceType::User,
        patch_body(json!([
            {"op": "Replace", "path": "title", "value": "x"},
            {"op": "Replace", "path": "name", "value": "not an object"}
        ])),
    )
    .unwrap();
    assert!(patch::apply(ResourceType::User, entra_user(), &ops).is_err());
}

#[test]
fn attribute_names_are_case_insensitive() {
    let user = patch_user(
        entra_user(),
        json!([
            {"op": "Replace", "path": "Name.GivenName", "value": "Barbara"},
            {"op": "Replace", "path": "Emails[Type eq \"work\"].Value", "value": "b@contoso.com"},
            {"op": "Replace", "path": "emails[type eq \"WORK\"].Primary", "value": "True"},
            {"op": "Replace", "path": "DISPLAYNAME", "value": "Barbara"},
            {"op": "Replace", "path": format!("{ENT}:Department"), "value": "Legal"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:Title", "value": "Boss"},
            {"op": "Add", "path": "PhoneNumbers", "value": [{"Type": "mobile", "Value": "+1", "Primary": "False"}]}
        ]),
    );
    assert_eq!(user["name"]["givenName"], "Barbara");
    assert_eq!(emails_of_type(&user, "work")[0]["value"], "b@contoso.com");
    assert_eq!(emails_of_type(&user, "work")[0]["primary"], true);
    assert_eq!(user["displayName"], "Barbara");
    assert_eq!(user[ENT]["department"], "Legal");
    assert_eq!(user["title"], "Boss");
    assert_eq!(
        user["phoneNumbers"][1],
        json!({"type": "mobile", "value": "+1", "primary": false})
    );
    // Names keep their schema spelling: no second key that differs only in case.
    fn no_case_twins(v: &Value) {
        match v {
            Value::Object(o) => {
                let mut seen = std::collections::HashSet::new();
                for (k, v) in o {
                    assert!(seen.insert(k.to_ascii_lowercase()), "duplicate key {k}");
                    no_case_twins(v);
                }
            }
            Value::Array(items) => items.iter().for_each(no_case_twins),
            _ => {}
        }
    }
    no_case_twins(&user);
    assert!(user.get("DISPLAYNAME").is_none());
    assert!(user["name"].get("GivenName").is_none());
}

#[test]
fn custom_extension_attributes_stay_flattened() {
    // A user Entra created without the custom attribute.
    let user = patch_user(
        bare_user(),
        json!([{"op": "Add", "path": COST_CODE, "value": "CC-9"}]),
    );
    assert_eq!(user[COST_CODE], "CC-9");
    assert!(user
        .get("urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User")
        .is_none());
    let user = patch_user(
        entra_user(),
        json!([{"op": "Replace", "path": COST_CODE, "value": "CC-2"}]),
    );
    assert_eq!(user[COST_CODE], "CC-2");
    // A differently capitalised path updates the same key.
    let user = patch_user(
        entra_user(),
        json!([{"op": "Replace", "path": COST_CODE.replace("costCode", "CostCode"), "value": "CC-3"}]),
    );
    assert_eq!(user[COST_CODE], "CC-3");
    assert_eq!(
        user.as_object()
            .unwrap()
            .keys()
            .filter(|k| k.to_ascii_lowercase().contains("customext"))
            .count(),
        1,
        "{user}"
    );
    let user = patch_user(
        entra_user(),
        json!([{"op": "Replace", "value": {COST_CODE: "CC-4"}}]),
    );
    assert_eq!(user[COST_CODE], "CC-4");
    let user = patch_user(entra_user(), json!([{"op": "Remove", "path": COST_CODE}]));
    assert!(user.get(COST_CODE).is_none());
    // Any JSON value is kept as sent: the schema is not known.
    let user = patch_user(
        bare_user(),
        json!([{"op": "Add", "path": COST_CODE, "value": {"a": [1, true]}}]),
    );
    assert_eq!(user[COST_CODE], json!({"a": [1, true]}));
}

#[test]
fn enterprise_extension_attributes_stay_under_the_extension_object() {
    for ops in [
        json!([{"op": "Add", "path": format!("{ENT}:department"), "value": "Ops"}]),
        json!([{"op": "Add", "value": {format!("{ENT}:department"): "Ops"}}]),
        json!([{"op": "Add", "path": ENT, "value": {"department": "Ops"}}]),
        json!([{"op": "Add", "value": {ENT: {"Department": "Ops"}}}]),
    ] {
        let user = patch_user(bare_user(), ops.clone());
        assert_eq!(user[ENT], json!({"department": "Ops"}), "{ops}");
        assert_eq!(user.as_object().unwrap().len(), 3, "{ops}: {user}"); // schemas, userName, ext
    }
    let user = patch_user(
        entra_user(),
        json!([{"op": "Replace", "path": format!("{ENT}:Department"), "value": "Ops"}]),
    );
    assert_eq!(
        user[ENT],
        json!({"employeeNumber": "E-1", "department": "Ops", "manager": {"value": "mgr-1"}})
    );
}

// ------------------------------------------------------------------------- errors

#[test]
fn an_unclosed_path_filter_is_invalid_filter() {
    // The attribute is fine, its filter is broken: RFC 7644 §3.12 says invalidFilter.
    for op in ["Add", "Replace", "Remove"] {
        assert_eq!(
            user_failure(json!([{"op": op, "path": "emails[type eq \"work\"", "value": "x"}])),
            ScimType::InvalidFilter,
            "{op}"
        );
    }
}

#[test]
fn unknown_attributes_are_invalid_path() {
    for path in [
        "noSuchAttribute",
        "name.noSuchPart",
        "emails[type eq \"work\"].noSuchPart",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:noSuch",
        "urn:ietf:params:scim:schemas:core:2.0:User:noSuch",
        "displayName[value eq \"x\"]",
        "emails]",
        "a b",
        "name.givenName.more",
        "members",
    ] {
        for op in ["Add", "Replace", "Remove"] {
            assert_eq!(
                user_failure(json!([{"op": op, "path": path, "value": "x"}])),
                ScimType::InvalidPath,
                "{op} {path}"
            );
        }
    }
    assert_eq!(
        user_failure(json!([{"op": "Replace", "path": 5, "value": "x"}])),
        ScimType::InvalidPath
    );
    // An unknown key in a path-less value is an unknown path too.
    assert_eq!(
        user_failure(json!([{"op": "Replace", "value": {"noSuchAttribute": "x"}}])),
        ScimType::InvalidPath
    );
}

#[test]
fn server_owned_attributes_are_mutability_errors() {
    for path in [
        "id",
        "ID",
        "meta",
        "meta.created",
        "meta.lastModified",
        "groups",
        "groups[value eq \"g\"]",
        "urn:ietf:params:scim:schemas:core:2.0:User:id",
        "urn:ietf:params:scim:schemas:core:2.0:User:groups",
    ] {
        for op in ["Add", "Replace", "Remove"] {
            assert_eq!(
                user_failure(json!([{"op": op, "path": path, "value": [{"value": "x"}]}])),
                ScimType::Mutability,
                "{op} {path}"
            );
        }
    }
    for path in ["id", "meta"] {
        assert_eq!(
            failure(
                ResourceType::Group,
                entra_group(),
                json!([{"op": "Replace", "path": path, "value": "x"}])
            ),
            ScimType::Mutability,
            "{path}"
        );
    }
    // Required attributes cannot be removed (RFC 7644 §3.5.2.2).
    for path in [
        "userName",
        "UserName",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    ] {
        assert_eq!(
            user_failure(json!([{"op": "Remove", "path": path}])),
            ScimType::Mutability,
            "{path}"
        );
    }
    assert_eq!(
        failure(
            ResourceType::Group,
            entra_group(),
            json!([{"op": "Remove", "path": "displayName"}])
        ),
        ScimType::Mutability
    );
    // The read-only sub-attribute of the manager.
    assert_eq!(
        user_failure(
            json!([{"op": "Replace", "path": format!("{ENT}:manager.displayName"), "value": "x"}])
        ),
        ScimType::Mutability
    );
}

#[test]
fn legacy_entra_manager_by_bare_name_and_array_form() {
    // Jobs created before Entra's `aadOptscim062020` flag send this.
    for op in ["Add", "Replace"] {
        let user = patch_user(
            bare_user(),
            json!([{"op": op, "path": "manager", "value": [{"$ref": "../Users/m-9", "value": "m-9"}]}]),
        );
        assert_eq!(
            user[ENT]["manager"],
            json!({"$ref": "../Users/m-9", "value": "m-9"}),
            "{op}"
        );
    }
    let user = patch_user(
        bare_user(),
        json!([{"op": "Add", "path": "employeeNumber", "value": "E-7"}]),
    );
    assert_eq!(user[ENT]["employeeNumber"], "E-7");
    // More than one manager is not a manager.
    assert_eq!(
        user_failure(
            json!([{"op": "Add", "path": "manager", "value": [{"value": "a"}, {"value": "b"}]}])
        ),
        ScimType::InvalidValue
    );
}

#[test]
fn remove_without_a_path_is_no_target() {
    for op in [
        json!({"op": "Remove"}),
        json!({"op": "remove", "path": ""}),
        json!({"op": "Remove", "path": null, "value": {"title": "x"}}),
    ] {
        assert_eq!(user_failure(json!([op])), ScimType::NoTarget, "{op}");
    }
}

#[test]
fn wrong_value_types_are_invalid_value() {
    for ops in [
        json!([{"op": "Replace", "path": "active", "value": "maybe"}]),
        json!([{"op": "Replace", "path": "active", "value": 1}]),
        json!([{"op": "Add", "path": "active", "value": {"value": true}}]),
        json!([{"op": "Replace", "path": "userName", "value": 5}]),
        json!([{"op": "Replace", "path": "userName", "value": ""}]),
        json!([{"op": "Replace", "path": "userName", "value": null}]),
        json!([{"op": "Replace", "path": "displayName", "value": ["a"]}]),
        json!([{"op": "Replace", "path": "name", "value": "Barbara"}]),
        json!([{"op": "Replace", "path": "name.givenName", "value": {"x": 1}}]),
        json!([{"op": "Add", "path": "emails", "value": "a@b.c"}]),
        json!([{"op": "Add", "path": "emails", "value": 5}]),
        json!([{"op": "Add", "path": "emails", "value": "[not json"}]),
        json!([{"op": "Add", "path": "emails", "value": [{"value": 5}]}]),
        json!([{"op": "Add", "path": "emails", "value": [{"primary": "yes", "value": "a"}]}]),
        json!([{"op": "Add", "path": "emails[type eq \"work\"].primary", "value": "yes"}]),
        json!([{"op": "Add", "path": "emails[type eq \"work\"]", "value": "a@b.c"}]),
        json!([{"op": "Replace", "path": format!("{ENT}:employeeNumber"), "value": 42}]),
        json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": 42}]),
        json!([{"op": "Replace", "path": ENT, "value": "x"}]),
        json!([{"op": "Replace", "path": ENT, "value": {"noSuch": "x"}}]),
        json!([{"op": "Replace", "path": ENT, "value": {"department": 5}}]),
        json!([{"op": "Replace", "value": {format!("{ENT}:department"): 5}}]),
        json!([{"op": "Replace", "path": "title"}]),
        json!([{"op": "Add", "path": "title"}]),
        json!([{"op": "Replace", "value": "not an object"}]),
        json!([{"op": "Add", "value": [{"title": "x"}]}]),
    ] {
        assert_eq!(user_failure(ops.clone()), ScimType::InvalidValue, "{ops}");
    }
}

#[test]
fn malformed_requests_are_invalid_syntax() {
    let op = |name: Value| patch_body(json!([{"op": name, "path": "title", "value": "x"}]));
    for body in [
        op(json!("delete")),
        op(json!("")),
        op(json!("add ")),
        op(json!(1)),
        op(json!(null)),
        patch_body(json!([{"path": "title", "value": "x"}])),
        patch_body(json!(["add"])),
        patch_body(json!([])),
        patch_body(json!({"op": "add"})),
        json!({"schemas": [PATCH_OP]}),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": [{"op": "add", "path": "title", "value": "x"}]}),
        json!({"schemas": PATCH_OP, "Operations": [{"op": "add", "path": "title", "value": "x"}]}),
        json!([{"op": "add", "path": "title", "value": "x"}]),
        json!("Operations"),
    ] {
        assert_eq!(
            body_failure(ResourceType::User, body.clone()),
            ScimType::InvalidSyntax,
            "{body}"
        );
    }
    // Lenient where Entra is: `schemas` may be missing, `operations` lower-case.
    assert!(patch::parse(
        ResourceType::User,
        json!({"operations": [{"op": "add", "path": "title", "value": "x"}]})
    )
    .is_ok());
}

#[test]
fn bad_filters_in_paths_are_invalid_filter() {
    for path in [
        "emails[value gt true].type",
        "emails[type co 5].value",
        "roles[primary gt \"True\"].value",
    ] {
        assert_eq!(
            user_failure(json!([{"op": "Replace", "path": path, "value": "x"}])),
            ScimType::InvalidFilter,
            "{path}"
        );
    }
}

#[test]
fn too_many_operations() {
    let ops: Vec<Value> = (0..1001)
        .map(|_| json!({"op": "add", "path": "title", "value": "x"}))
        .collect();
    assert_eq!(
        body_failure(ResourceType::User, patch_body(Value::Array(ops))),
        ScimType::TooMany
    );
}

// ------------------------------------------------------------------ property test

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Paths built from the real attribute names, most of them valid for a user or a group.
    const PATHS: &[&str] = &[
        "displayName",
        "DisplayName",
        "userName",
        "externalId",
        "title",
        "active",
        "name",
        "name.givenName",
        "Name.FamilyName",
        "emails",
        "emails.value",
        "emails[type eq \"work\"]",
        "emails[type eq \"work\"].value",
        "Emails[Type eq \"work\"].Primary",
        "emails[type eq \"home\"].primary",
        "emails[type eq \"work\" and primary eq true].value",
        "addresses",
        "addresses[type eq \"work\"].formatted",
        "addresses[type eq \"work\"].streetAddress",
        "phoneNumbers[type eq \"mobile\"].value",
        "roles",
        "roles[primary eq \"True\"].value",
        "roles[primary eq \"True\"].display",
        "roles[primary eq \"True\"].type",
        "members",
        "members[value eq \"m1\"]",
        "members[value eq \"m1\" or value eq \"m2\"]",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Manager.Value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:costCode",
        "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User",
        "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:list[type eq \"a\"].value",
        "urn:ietf:params:scim:schemas:core:2.0:User:title",
        "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
    ];

    /// Paths that are wrong in some way (unknown, read-only, bad filters, bad syntax).
    const BAD_PATHS: &[&str] = &[
        "",
        "name.bogus",
        "emails[value co \"x\"].type",
        "emails[value gt true]",
        "x509Certificates",
        "groups",
        "id",
        "meta",
        "meta.created",
        "members.value",
        "urn:x",
        "schemas",
        "bogus[",
        "password",
    ];

    /// Keys of value objects: sub-attribute names, server-owned names, and (for path-less
    /// operations) whole paths.
    const KEYS: &[&str] = &[
        "value",
        "Value",
        "type",
        "primary",
        "Primary",
        "display",
        "givenName",
        "formatted",
        "streetAddress",
        "department",
        "id",
        "meta",
        "schemas",
        "members",
        "$ref",
    ];

    const STRINGS: &[&str] = &[
        "True",
        "False",
        "true",
        "work",
        "home",
        "x",
        "",
        "m1",
        "m2",
        "[{\"value\":\"a\"}]",
        "{\"id\":\"1\",\"value\":\"Admin\"}",
        "[",
    ];

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            6 => proptest::sample::select(STRINGS).prop_map(|s| json!(s)),
            2 => any::<bool>().prop_map(Value::Bool),
            1 => Just(Value::Null),
            1 => any::<i64>().prop_map(|n| json!(n)),
            1 => (-1e6f64..1e6f64).prop_map(|n| json!(n)),
            1 => ".{0,12}".prop_map(Value::String),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => proptest::sample::select(KEYS).prop_map(str::to_owned),
            3 => proptest::sample::select(PATHS).prop_map(str::to_owned),
            1 => proptest::sample::select(BAD_PATHS).prop_map(str::to_owned),
            1 => "[a-zA-Z]{1,8}",
        ]
    }

    /// Any JSON, biased towards the shapes SCIM values have.
    fn json_value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key(), inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// A value of the shape SCIM attributes take: a scalar, an element, a list of elements.
    fn plausible_value() -> impl Strategy<Value = Value> {
        fn element() -> impl Strategy<Value = Value> {
            proptest::collection::vec(
                (
                    proptest::sample::select(KEYS).prop_map(str::to_owned),
                    scalar(),
                ),
                0..4,
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect()))
        }
        prop_oneof![
            4 => scalar(),
            2 => element(),
            2 => proptest::collection::vec(element(), 0..3).prop_map(Value::Array),
        ]
    }

    fn op_name() -> impl Strategy<Value = Value> {
        proptest::sample::select(&["add", "Add", "replace", "Replace", "remove", "Remove"][..])
            .prop_map(|s| json!(s))
    }

    fn object(o: Vec<(&str, Option<Value>)>) -> Value {
        Value::Object(
            o.into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                .collect(),
        )
    }

    /// Mostly well-formed operations, so that many requests get through to the result.
    fn well_formed() -> impl Strategy<Value = Value> {
        let with_path = (
            op_name(),
            proptest::sample::select(PATHS),
            proptest::option::weighted(0.8, plausible_value()),
        )
            .prop_map(|(op, path, value)| {
                object(vec![
                    ("op", Some(op)),
                    ("path", Some(json!(path))),
                    ("value", value),
                ])
            });
        let pathless = (
            prop_oneof![Just(json!("replace")), Just(json!("Add"))],
            proptest::collection::vec(
                (
                    proptest::sample::select(PATHS).prop_map(str::to_owned),
                    plausible_value(),
                ),
                1..4,
            ),
        )
            .prop_map(|(op, kv)| {
                object(vec![
                    ("op", Some(op)),
                    ("value", Some(Value::Object(kv.into_iter().collect()))),
                ])
            });
        prop_oneof![4 => with_path, 1 => pathless]
    }

    /// Anything an operation object could hold.
    fn chaotic() -> impl Strategy<Value = Value> {
        let name = prop_oneof![
            3 => op_name(),
            1 => ".{0,8}".prop_map(Value::String),
            1 => Just(Value::Null),
        ];
        let path = prop_oneof![
            3 => proptest::sample::select(PATHS).prop_map(|p| json!(p)),
            2 => proptest::sample::select(BAD_PATHS).prop_map(|p| json!(p)),
            1 => "[a-zA-Z:.\\[\\]\" ]{0,24}".prop_map(Value::String),
            1 => any::<i64>().prop_map(|n| json!(n)),
            1 => Just(Value::Null),
        ];
        (
            name,
            proptest::option::of(path),
            proptest::option::of(json_value()),
        )
            .prop_map(|(op, path, value)| {
                object(vec![("op", Some(op)), ("path", path), ("value", value)])
            })
    }

    fn operation() -> impl Strategy<Value = Value> {
        prop_oneof![4 => well_formed(), 1 => chaotic()]
    }

    fn check(rt: ResourceType, start: Value, ops: Vec<Value>) -> Result<(), TestCaseError> {
        let parsed = match patch::parse(rt, patch_body(Value::Array(ops))) {
            Ok(parsed) => parsed,
            Err(e) => {
                prop_assert!(e.status.is_client_error(), "parse: {e}");
                return Ok(());
            }
        };
        match patch::patch_resource(rt, start, &parsed) {
            Ok((doc, members)) => {
                if rt == ResourceType::User {
                    prop_assert!(members.is_empty(), "a user PATCH changed members");
                }
                // Validation is idempotent: the result is a valid stored body as it is.
                let again = match resource::normalize(rt, doc.body.clone()) {
                    Ok(again) => again,
                    Err(e) => {
                        let msg = format!("{} fails normalize: {e}", doc.body);
                        return Err(TestCaseError::fail(msg));
                    }
                };
                prop_assert_eq!(&again.doc, &doc);
                if rt == ResourceType::Group {
                    prop_assert!(doc.body.get("members").is_none());
                }
            }
            Err(e) => prop_assert!(e.status.is_client_error(), "patch: {e}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn patch_never_panics_and_results_stay_valid(
            ops in proptest::collection::vec(operation(), 1..5),
            full in any::<bool>(),
        ) {
            let user = if full { entra_user() } else { bare_user() };
            check(ResourceType::User, user, ops.clone())?;
            check(ResourceType::Group, entra_group(), ops)?;
        }

        #[test]
        fn arbitrary_bodies_never_panic(body in json_value()) {
            for rt in [ResourceType::User, ResourceType::Group] {
                if let Err(e) = patch::parse(rt, body.clone()) {
                    prop_assert!(e.status.is_client_error());
                }
            }
        }
    }
}
