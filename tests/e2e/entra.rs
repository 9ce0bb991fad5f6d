//! Replays of what Microsoft Entra ID sends, requirement by requirement
//! (docs/entra.md lists each with its test).

use reqwest::Method;
use scimgate_testkit::{entra_user, on_both_backends, TestServer};
use serde_json::{json, Value};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn ops(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

async fn start(backend: scimgate_testkit::DbBackend) -> Option<TestServer> {
    TestServer::start(backend).await
}

async fn create_user(s: &TestServer, user_name: &str, external_id: &str) -> String {
    let (status, body) = s.post("/Users", entra_user(user_name, external_id)).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn test_connection(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let guid = "8b0b6c0a-3a3d-4bd0-9d4e-2c3c1c3f5a10";
    for filter in [
        format!("userName eq \"{guid}\""),
        format!("externalId eq \"{guid}\""),
    ] {
        let resp = s
            .req(Method::GET, "/Users")
            .query(&[("filter", filter.as_str())])
            .send()
            .await
            .unwrap();
        let (status, body) = scimgate_testkit::read(resp).await;
        assert_eq!(status, 200);
        assert_eq!(body["totalResults"], 0);
        assert_eq!(body["Resources"], json!([]));
        assert_eq!(
            body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
        );
    }
    let resp = s
        .req(Method::GET, "/Groups")
        .query(&[
            ("filter", format!("displayName eq \"{guid}\"").as_str()),
            ("excludedAttributes", "members"),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = scimgate_testkit::read(resp).await;
    assert_eq!((status, body["totalResults"].clone()), (200, json!(0)));

    // Missing or wrong token: 401 with a SCIM error body.
    let resp = s.client.get(s.scim("/Users")).send().await.unwrap();
    let (status, body) = scimgate_testkit::read(resp).await;
    assert_eq!(status, 401);
    assert_eq!(body["status"], "401");
    let resp = s
        .client
        .get(s.scim("/Users"))
        .bearer_auth("sgt_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

async fn create_and_match(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let (status, created) = s
        .post(
            "/Users",
            entra_user("Test_User_ab6490ee@contoso.com", "0a21f0f2-8d2a"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(created["addresses"][0]["locality"], "Oslo");

    // Match by userName, case-insensitively; by externalId; by work e-mail.
    for filter in [
        "userName eq \"test_user_AB6490EE@contoso.com\"",
        "externalId eq \"0a21f0f2-8d2a\"",
        "emails[type eq \"work\"].value eq \"Test_User_ab6490ee@contoso.com\"",
    ] {
        let resp = s
            .req(Method::GET, "/Users")
            .query(&[("filter", filter)])
            .send()
            .await
            .unwrap();
        let (status, body) = scimgate_testkit::read(resp).await;
        assert_eq!(status, 200, "{filter}: {body}");
        assert_eq!(body["totalResults"], 1, "{filter}");
        assert_eq!(body["Resources"][0]["id"], id);
    }
    // externalId is case-exact.
    let resp = s
        .req(Method::GET, "/Users")
        .query(&[("filter", "externalId eq \"0A21F0F2-8D2A\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(scimgate_testkit::read(resp).await.1["totalResults"], 0);

    // Duplicate userName (in any case) → 409 uniqueness.
    let (status, body) = s
        .post(
            "/Users",
            entra_user("TEST_USER_ab6490ee@contoso.com", "other"),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["scimType"], "uniqueness");

    // GET by id returns the stored resource as sent.
    let (status, got) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["userName"], "Test_User_ab6490ee@contoso.com");
    assert_eq!(got["phoneNumbers"][0]["value"], "+47 900 00 000");
}

async fn custom_extension_attributes_are_kept(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let mut user = entra_user("custom@contoso.com", "c-1");
    user["urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CustomAttribute"] =
        json!("Value42");
    let (status, created) = s.post("/Users", user).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (_, got) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(
        got["urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CustomAttribute"],
        "Value42"
    );
    let resp = s
        .req(Method::GET, "/Users")
        .query(&[("filter", "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CustomAttribute eq \"value42\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(scimgate_testkit::read(resp).await.1["totalResults"], 1);
    // Entra patches custom attributes by their full URN path.
    let (status, body) = s
        .patch(
            &format!("/Users/{id}"),
            ops(json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CustomAttribute", "value": "Value43"}])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:CustomAttribute"],
        "Value43"
    );
}

async fn patch_forms(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let mut user = entra_user("patchy@contoso.com", "p-1");
    user.as_object_mut().unwrap().remove("emails");
    user.as_object_mut().unwrap().remove("addresses");
    let (_, created) = s.post("/Users", user).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");

    // Ops in any case, simple and dotted paths.
    let (status, body) = s
        .patch(
            &path,
            ops(json!([
                {"op": "Replace", "path": "displayName", "value": "New Name"},
                {"op": "replace", "path": "name.givenName", "value": "Given"},
                {"op": "Add", "path": "title", "value": "Boss"},
            ])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayName"], "New Name");
    assert_eq!(body["name"]["givenName"], "Given");
    assert_eq!(body["name"]["familyName"], "familyName");
    assert_eq!(body["title"], "Boss");

    // A filtered path whose element does not exist creates it.
    let (status, body) = s
        .patch(&path, ops(json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "patchy@contoso.com"}])))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["emails"],
        json!([{"type": "work", "value": "patchy@contoso.com"}])
    );
    let resp = s
        .req(Method::GET, "/Users")
        .query(&[("filter", "emails.value eq \"PATCHY@contoso.com\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        scimgate_testkit::read(resp).await.1["totalResults"],
        1,
        "e-mail index follows PATCH"
    );

    // Three Adds on sub-attributes of one absent address make one address.
    let (status, body) = s
        .patch(
            &path,
            ops(json!([
                {"op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St, Oslo"},
                {"op": "Add", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
                {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Oslo"},
            ])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["addresses"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["addresses"][0]["type"], "work");
    assert_eq!(body["addresses"][0]["locality"], "Oslo");

    // Phone, roles with primary eq "True", manager as {value} and as a bare id, employeeNumber.
    let (status, body) = s
        .patch(
            &path,
            ops(json!([
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+47 911 11 111"},
                {"op": "Add", "path": "roles[primary eq \"True\"].value", "value": "Admin"},
                {"op": "Add", "path": "roles[primary eq \"True\"].display", "value": "Administrator"},
                {"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": "mgr-2"}},
                {"op": "Replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "42"},
            ])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phoneNumbers"][0]["value"], "+47 911 11 111");
    assert_eq!(
        body["roles"],
        json!([{"primary": true, "value": "Admin", "display": "Administrator"}])
    );
    assert_eq!(body[ENTERPRISE]["manager"], json!({"value": "mgr-2"}));
    assert_eq!(body[ENTERPRISE]["employeeNumber"], "42");
    let (status, body) = s
        .patch(&path, ops(json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": "mgr-3"}])))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[ENTERPRISE]["manager"]["value"], "mgr-3");

    // Path-less replace with dotted and URN-qualified keys; capitalised names.
    let (status, body) = s
        .patch(
            &path,
            ops(json!([{"op": "Replace", "value": {
                "name.familyName": "Family",
                format!("{ENTERPRISE}:employeeNumber"): "43",
                "Title": "Chief",
                ENTERPRISE: {"Department": "Support"}
            }}])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"]["familyName"], "Family");
    assert_eq!(body["name"]["givenName"], "Given");
    assert_eq!(body[ENTERPRISE]["employeeNumber"], "43");
    assert_eq!(body[ENTERPRISE]["department"], "Support");
    assert_eq!(body["title"], "Chief");

    // Roles added as JSON strings (AppRoleAssignmentsComplex) are kept as sent.
    let role = r#"{"id":"a1b2","value":"Sales","displayName":"Sales"}"#;
    let (status, body) = s
        .patch(
            &path,
            ops(json!([{"op": "Add", "path": "roles", "value": [{"value": role}]}])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["value"] == role),
        "{body}"
    );

    // Remove carrying a value removes exactly that value.
    let (status, body) = s
        .patch(
            &path,
            ops(json!([{"op": "Remove", "path": "roles", "value": [{"value": role}]}])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["roles"],
        json!([{"primary": true, "value": "Admin", "display": "Administrator"}])
    );

    // Remove a filtered element and a simple attribute.
    let (status, body) = s
        .patch(
            &path,
            ops(json!([
                {"op": "Remove", "path": "phoneNumbers[type eq \"mobile\"]"},
                {"op": "Remove", "path": "title"},
            ])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("phoneNumbers").is_none(), "{body}");
    assert!(body.get("title").is_none());
    assert_eq!(
        body["meta"]["version"], "W/\"10\"",
        "one version per PATCH (9 of them): {body}"
    );
}

async fn disable_enable_delete(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let id = create_user(&s, "leaver@contoso.com", "l-1").await;
    let path = format!("/Users/{id}");
    for (op, value, expected) in [
        ("Replace", json!("False"), false),
        ("Replace", json!("True"), true),
        ("Add", json!("False"), false),
        ("Replace", json!(true), true),
        ("replace", json!(false), false),
    ] {
        let (status, body) = s
            .patch(
                &path,
                ops(json!([{"op": op, "path": "active", "value": value}])),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["active"], expected, "{op} {value}");
    }
    // Path-less form too.
    let (_, body) = s
        .patch(
            &path,
            ops(json!([{"op": "Replace", "value": {"active": "True"}}])),
        )
        .await;
    assert_eq!(body["active"], true);
    let (_, body) = s
        .patch(
            &path,
            ops(json!([{"op": "Replace", "value": {"active": false}}])),
        )
        .await;
    assert_eq!(body["active"], false);

    // Inactive users are still returned by GET and by filters.
    assert_eq!(s.get(&path).await.0, 200);
    let resp = s
        .req(Method::GET, "/Users")
        .query(&[("filter", "userName eq \"leaver@contoso.com\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(scimgate_testkit::read(resp).await.1["totalResults"], 1);
    let resp = s
        .req(Method::GET, "/Users")
        .query(&[("filter", "active eq false")])
        .send()
        .await
        .unwrap();
    assert_eq!(scimgate_testkit::read(resp).await.1["totalResults"], 1);

    let (status, body) = s.delete(&path).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(s.get(&path).await.0, 404);
    assert_eq!(s.delete(&path).await.0, 404);
    // The userName is free again.
    create_user(&s, "leaver@contoso.com", "l-1").await;
}

async fn groups_and_members(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let alice = create_user(&s, "alice@contoso.com", "a").await;
    let bob = create_user(&s, "bob@contoso.com", "b").await;
    let carol = create_user(&s, "carol@contoso.com", "c").await;

    let (status, group) = s
        .post(
            "/Groups",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Sales",
                "meta": {"resourceType": "Group"}
            }),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    assert_eq!(group["members"], json!([]));
    let gid = group["id"].as_str().unwrap().to_owned();
    let gpath = format!("/Groups/{gid}");

    // Entra's lookup by displayName without members.
    let resp = s
        .req(Method::GET, "/Groups")
        .query(&[
            ("filter", "displayName eq \"sales\""),
            ("excludedAttributes", "members"),
        ])
        .send()
        .await
        .unwrap();
    let (_, found) = scimgate_testkit::read(resp).await;
    assert_eq!(found["totalResults"], 1);
    assert!(found["Resources"][0].get("members").is_none());

    // Add members (batch, with an existing one re-sent: no-op).
    let add = |ids: &[&str]| {
        ops(
            json!([{"op": "Add", "path": "members", "value": ids.iter().map(|id| json!({"value": id})).collect::<Vec<_>>()}]),
        )
    };
    let (status, body) = s.patch(&gpath, add(&[&alice, &bob])).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(s.patch(&gpath, add(&[&bob, &carol])).await.0, 204);
    let members = |g: &Value| {
        let mut v: Vec<String> = g["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let mut expected = vec![alice.clone(), bob.clone(), carol.clone()];
    expected.sort();
    assert_eq!(members(&s.get(&gpath).await.1), expected);

    // Group membership filter.
    let resp = s
        .req(Method::GET, "/Groups")
        .query(&[("filter", format!("members.value eq \"{bob}\"").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(scimgate_testkit::read(resp).await.1["totalResults"], 1);

    // Remove with a value list, and with a filtered path; non-members and unknown ids are no-ops.
    let (status, _) = s
        .patch(&gpath, ops(json!([{"op": "Remove", "path": "members", "value": [{"value": alice}, {"value": "no-such-id"}]}])))
        .await;
    assert_eq!(status, 204);
    let (status, _) = s
        .patch(
            &gpath,
            ops(json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}])),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = s
        .patch(
            &gpath,
            ops(json!([{"op": "remove", "path": "members[value eq \"unknown\"]"}])),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(members(&s.get(&gpath).await.1), vec![carol.clone()]);

    // Rename with a path-less replace (Entra's group update).
    let (status, _) = s
        .patch(
            &gpath,
            ops(json!([{"op": "Replace", "value": {"id": gid, "displayName": "Sales EMEA"}}])),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(s.get(&gpath).await.1["displayName"], "Sales EMEA");

    // Deleting a user takes it out of its groups.
    assert_eq!(s.delete(&format!("/Users/{carol}")).await.0, 204);
    assert_eq!(s.get(&gpath).await.1["members"], json!([]));

    assert_eq!(s.delete(&gpath).await.0, 204);
    assert_eq!(s.get(&gpath).await.0, 404);
}

async fn discovery(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let (status, spc) = s.get("/ServiceProviderConfig").await;
    assert_eq!(status, 200);
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");

    let (status, schemas) = s.get("/Schemas").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            USER,
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            ENTERPRISE
        ]
    );
    let (status, user_schema) = s.get(&format!("/Schemas/{USER}")).await;
    assert_eq!(status, 200);
    assert!(user_schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "userName" && a["uniqueness"] == "server"));

    let (status, types) = s.get("/ResourceTypes").await;
    assert_eq!(status, 200);
    assert_eq!(types["totalResults"], 2);
    assert_eq!(
        types["Resources"][0]["schemaExtensions"][0]["schema"],
        ENTERPRISE
    );
    assert_eq!(s.get("/ResourceTypes/Group").await.1["endpoint"], "/Groups");
}

async fn paging_search_and_projection(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    for i in 0..7 {
        create_user(&s, &format!("user{i}@contoso.com"), &format!("x{i}")).await;
    }
    let resp = s
        .req(Method::GET, "/Users")
        .query(&[("startIndex", "3"), ("count", "2")])
        .send()
        .await
        .unwrap();
    let (_, page) = scimgate_testkit::read(resp).await;
    assert_eq!(page["totalResults"], 7);
    assert_eq!(page["startIndex"], 3);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["Resources"][0]["userName"], "user2@contoso.com");

    // An unindexed filter is evaluated in memory, with the same paging.
    let resp = s
        .req(Method::GET, "/Users")
        .query(&[
            (
                "filter",
                "title eq \"Sales rep\" and not (userName eq \"user0@contoso.com\")",
            ),
            ("count", "4"),
            ("startIndex", "5"),
        ])
        .send()
        .await
        .unwrap();
    let (_, page) = scimgate_testkit::read(resp).await;
    assert_eq!(page["totalResults"], 6, "{page}");
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["Resources"][0]["userName"], "user5@contoso.com");

    let (status, found) = s
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter": "userName sw \"USER1\"", "attributes": ["userName", "name.givenName"]}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["totalResults"], 1);
    let only = &found["Resources"][0];
    assert_eq!(only["name"], json!({"givenName": "givenName"}));
    assert!(only.get("emails").is_none() && only.get("meta").is_none() && only.get("id").is_some());

    let (status, all) = s
        .post(
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 3}),
        )
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["totalResults"], 7);
    assert_eq!(all["itemsPerPage"], 3);
}

async fn put_replaces(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let id = create_user(&s, "put@contoso.com", "put-1").await;
    let mut user = entra_user("put@contoso.com", "put-1");
    user["displayName"] = json!("Replaced");
    user.as_object_mut().unwrap().remove("title");
    let (status, body) = s.put(&format!("/Users/{id}"), user).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayName"], "Replaced");
    assert!(body.get("title").is_none());
    assert_eq!(body["id"], id.as_str());
    let (status, _) = s.put("/Users/missing", entra_user("x@y.z", "x")).await;
    assert_eq!(status, 404);
}

/// Microsoft's "Known issues… SCIM 2.0 protocol compliance": provisioning jobs created
/// before the `aadOptscim062020` flag still address the manager by its bare name, with the
/// array form, and check the reference with `manager eq` in a filter.
async fn legacy_manager_forms(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let boss = create_user(&s, "boss@contoso.com", "b-1").await;
    let ann = create_user(&s, "ann@contoso.com", "a-1").await;
    let (status, body) = s
        .patch(
            &format!("/Users/{ann}"),
            ops(json!([{"op": "Add", "path": "manager", "value": [
                {"$ref": format!("../Users/{boss}"), "value": boss}
            ]}])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[ENTERPRISE]["manager"]["value"], boss.as_str());
    let (status, found) = s
        .get(&format!(
            "/Users?filter=id%20eq%20%22{ann}%22%20and%20manager%20eq%20%22{boss}%22"
        ))
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], ann.as_str());
    let (_, none) = s
        .get(&format!(
            "/Users?filter=id%20eq%20%22{ann}%22%20and%20manager%20eq%20%22someone-else%22"
        ))
        .await;
    assert_eq!(none["totalResults"], 0, "{none}");
    // Replace with the array form, then the standard forms still work too.
    let (status, _) = s
        .patch(
            &format!("/Users/{ann}"),
            ops(json!([{"op": "Replace", "path": "manager", "value": [{"value": ann}]}])),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = s
        .patch(
            &format!("/Users/{ann}"),
            ops(json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": boss}])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[ENTERPRISE]["manager"]["value"], boss.as_str());
    // Other enterprise attributes by bare name, too.
    let (status, body) = s
        .patch(
            &format!("/Users/{ann}"),
            ops(json!([{"op": "Replace", "path": "department", "value": "Sales"}])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[ENTERPRISE]["department"], "Sales");
}

/// RFC 7644 §3.14: `meta.version` is the ETag; `If-Match` makes PUT, PATCH and DELETE
/// conditional (412 when stale) and `If-None-Match` makes GET answer 304 when current.
async fn etags(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let (_, spc) = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc["etag"]["supported"], true);
    let id = create_user(&s, "etag@contoso.com", "e-1").await;
    let path = format!("/Users/{id}");
    let resp = s.req(Method::GET, &path).send().await.unwrap();
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(etag, "W/\"1\"");
    assert_eq!(body["meta"]["version"], etag.as_str());

    // GET with the current tag: 304, no body; with an old one: 200.
    let resp = s
        .req(Method::GET, &path)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    assert_eq!(resp.headers()["etag"], etag.as_str());
    assert!(resp.bytes().await.unwrap().is_empty());

    let rename = |name: &str| ops(json!([{"op": "Replace", "path": "displayName", "value": name}]));
    let send = |method: Method, if_match: &str, body: Option<Value>| {
        let mut req = s.req(method, &path).header("if-match", if_match);
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let etag = resp
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, etag)
        }
    };
    // The current tag: the PATCH applies and the version moves on.
    let (status, now) = send(Method::PATCH, &etag, Some(rename("One"))).await;
    assert_eq!((status, now.as_deref()), (200, Some("W/\"2\"")));
    // The old tag: 412 for PATCH, PUT and DELETE, and nothing changes.
    for (method, body) in [
        (Method::PATCH, Some(rename("Two"))),
        (Method::PUT, Some(entra_user("etag@contoso.com", "e-2"))),
        (Method::DELETE, None),
    ] {
        let (status, _) = send(method.clone(), &etag, body).await;
        assert_eq!(status, 412, "{method}");
    }
    let (_, after) = s.get(&path).await;
    assert_eq!(after["displayName"], "One");
    assert_eq!(after["meta"]["version"], "W/\"2\"");
    // `*` and lists of tags; then DELETE with the current tag.
    let (status, _) = send(Method::PATCH, "*", Some(rename("Three"))).await;
    assert_eq!(status, 200);
    let (status, _) = send(
        Method::PUT,
        "W/\"1\", W/\"3\"",
        Some(entra_user("etag@contoso.com", "e-3")),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(Method::DELETE, "W/\"4\"", None).await;
    assert_eq!(status, 204);
    assert_eq!(s.get(&path).await.0, 404);
}

/// A user stored before the input limits existed, with values they now refuse (a 2 KB
/// externalId, a 100 KiB title), must still take Entra's deprovisioning PATCH and a PUT
/// that re-sends the same values; only new values must fit.
async fn resources_stored_before_the_limits_can_still_change(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let external_id = "e".repeat(2048);
    let mut body = entra_user("legacy@contoso.com", &external_id);
    body["title"] = json!("t".repeat(100 * 1024));
    let doc = scimgate_store::IndexedDoc {
        body: body.clone(),
        user_name: Some("legacy@contoso.com".into()),
        external_id: Some(external_id.clone()),
        active: Some(true),
        ..Default::default()
    };
    let stored = s
        .store
        .write_unchecked(
            &s.tenant,
            scimgate_core::Clock::now(&scimgate_core::SystemClock),
            scimgate_store::Write::Create {
                kind: scimgate_store::ResourceKind::User,
                doc,
                members: vec![],
            },
        )
        .await
        .unwrap();
    let path = format!("/Users/{}", stored.resource.unwrap().id);
    let (status, after) = s
        .patch(
            &path,
            ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["active"], false);
    assert_eq!(after["externalId"], external_id.as_str());
    let (status, after) = s.put(&path, body.clone()).await;
    assert_eq!(status, 200, "{after}");
    // A new value that does not fit is still refused.
    let (status, refused) = s
        .patch(
            &path,
            ops(json!([{"op": "Replace", "path": "nickName", "value": "n".repeat(70 * 1024)}])),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["scimType"], "invalidValue");
}

/// Deleting a member changes the groups it was in: their version (ETag) moves on.
async fn deleting_a_member_moves_its_groups_version(backend: scimgate_testkit::DbBackend) {
    let Some(s) = start(backend).await else {
        return;
    };
    let user = create_user(&s, "leaver@contoso.com", "l-1").await;
    let (_, group) = s
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Team"}),
        )
        .await;
    let group = format!("/Groups/{}", group["id"].as_str().unwrap());
    let (status, _) = s
        .patch(
            &group,
            ops(json!([{"op": "Add", "path": "members", "value": [{"value": user}]}])),
        )
        .await;
    assert_eq!(status, 204);
    let (_, before) = s.get(&group).await;
    assert_eq!(before["meta"]["version"], "W/\"2\"");
    assert_eq!(s.delete(&format!("/Users/{user}")).await.0, 204);
    let resp = s
        .req(Method::GET, &group)
        .header("if-none-match", "W/\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the client's copy (with the member) is stale"
    );
    let after: Value = resp.json().await.unwrap();
    assert_eq!(after["meta"]["version"], "W/\"3\"");
    assert_eq!(after["members"], json!([]));
}

on_both_backends!(
    resources_stored_before_the_limits_can_still_change,
    deleting_a_member_moves_its_groups_version,
    legacy_manager_forms,
    etags,
    test_connection,
    create_and_match,
    custom_extension_attributes_are_kept,
    patch_forms,
    disable_enable_delete,
    groups_and_members,
    discovery,
    paging_search_and_projection,
    put_replaces,
);
