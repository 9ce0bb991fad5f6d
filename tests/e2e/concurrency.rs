//! Concurrent writes lose nothing: they share commits (group commit) but never each
//! other's changes.

use scimgate_testkit::{on_both_backends, DbBackend, TestServer};
use serde_json::json;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn fifty_concurrent_member_adds_all_land(backend: DbBackend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let mut user_ids = Vec::new();
    for i in 0..50 {
        let (status, body) = s
            .post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("m{i}@contoso.com")}))
            .await;
        assert_eq!(status, 201, "{body}");
        user_ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (_, group) = s
        .post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Everyone"}))
        .await;
    let gpath = format!("/Groups/{}", group["id"].as_str().unwrap());

    let patches = user_ids.iter().map(|id| {
        let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members", "value": [{"value": id}]}]});
        let req = s.req(reqwest::Method::PATCH, &gpath).body(body.to_string());
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_join_all(patches).await;
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");

    let (_, got) = s.get(&gpath).await;
    let mut members: Vec<String> = got["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    members.sort();
    user_ids.sort();
    assert_eq!(members, user_ids);
    // Each PATCH is one version of the group: none was lost to another.
    assert_eq!(got["meta"]["version"], "W/\"51\"");
}

async fn twenty_concurrent_creates_of_one_user_name_make_one_user(backend: DbBackend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let creates = (0..20).map(|i| {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Same@Contoso.com", "externalId": format!("e{i}")});
        let req = s.req(reqwest::Method::POST, "/Users").body(body.to_string());
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, body)
        }
    });
    let results = futures_join_all(creates).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let conflicts: Vec<_> = results.iter().filter(|(s, _)| *s == 409).collect();
    assert_eq!(created, 1, "{results:?}");
    assert_eq!(conflicts.len(), 19, "{results:?}");
    assert!(conflicts.iter().all(|(_, b)| b["scimType"] == "uniqueness"));
    let (_, list) = s.get("/Users").await;
    assert_eq!(list["totalResults"], 1);
}

async fn concurrent_patches_of_one_user_keep_every_change(backend: DbBackend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let (_, user) = s
        .post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "multi@contoso.com"}))
        .await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let patches = (0..30).map(|i| {
        let body = json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Add", "path": format!("emails[type eq \"t{i}\"].value"), "value": format!("m{i}@contoso.com")}
        ]});
        let req = s.req(reqwest::Method::PATCH, &path).body(body.to_string());
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_join_all(patches).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (_, got) = s.get(&path).await;
    assert_eq!(got["emails"].as_array().unwrap().len(), 30, "{got}");
}

/// Runs futures concurrently on the runtime (spawned, so they truly overlap).
async fn futures_join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

on_both_backends!(
    fifty_concurrent_member_adds_all_land,
    twenty_concurrent_creates_of_one_user_name_make_one_user,
    concurrent_patches_of_one_user_keep_every_change,
);
