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

/// The attack that once failed other clients' writes: bad creates (NUL in `userName` or
/// `displayName`, a 1 MB `userName`, 4 KB indexed values) racing valid ones of this
/// tenant and of another, through shared group commits. Every valid write is 201 and
/// stored; every bad one is 400 invalidValue; nobody gets a 5xx.
async fn bad_writes_racing_good_ones_of_two_tenants_fail_alone(backend: DbBackend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let (other, other_token) = s.add_tenant("globex").await;
    let bad_bodies = [
        json!({"userName": "nul\u{0}@contoso.com"}),
        json!({"userName": "dn@contoso.com", "displayName": "A\u{0}"}),
        json!({"userName": "x".repeat(1_000_000)}),
        json!({"userName": "x".repeat(4096)}),
        json!({"userName": "ext@contoso.com", "externalId": "e".repeat(4096)}),
        json!({"userName": "mail@contoso.com", "emails": [{"value": "m".repeat(4096)}]}),
    ];
    let mut requests = Vec::new();
    for round in 0..3 {
        for (i, bad) in bad_bodies.iter().enumerate() {
            let mut body = bad.clone();
            body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User"]);
            // Bad ones from both tenants: one tenant's mistake must not fail the other's writes.
            let tenant = if (round + i) % 2 == 0 {
                "acme"
            } else {
                other.name.as_str()
            };
            requests.push((false, tenant.to_owned(), body));
        }
    }
    for i in 0..90 {
        let tenant = if i % 2 == 0 {
            "acme"
        } else {
            other.name.as_str()
        };
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                          "userName": format!("good{i}@contoso.com")});
        requests.push((true, tenant.to_owned(), body));
    }
    // Interleave so that bad and good requests share batches.
    requests.sort_by_key(|(good, _, body)| (body.to_string().len() % 7, *good));
    let sent = requests.into_iter().map(|(good, tenant, body)| {
        let token = if tenant == "acme" {
            s.token.clone()
        } else {
            other_token.clone()
        };
        let req = s
            .client
            .post(s.url(&format!("/scim/v2/{tenant}/Users")))
            .bearer_auth(token)
            .header("content-type", "application/scim+json")
            .body(body.to_string());
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            (good, status, body)
        }
    });
    let results = futures_join_all(sent).await;
    for (good, status, body) in &results {
        if *good {
            assert_eq!(*status, 201, "a valid write failed: {body}");
        } else {
            assert_eq!(*status, 400, "{body}");
            assert_eq!(body["scimType"], "invalidValue", "{body}");
        }
    }
    let count = |tenant: &str, token: &str| {
        let req = s
            .client
            .get(s.url(&format!("/scim/v2/{tenant}/Users?count=0")))
            .bearer_auth(token);
        async move {
            let body: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            body["totalResults"].as_i64().unwrap()
        }
    };
    assert_eq!(count("acme", &s.token).await, 45);
    assert_eq!(count(&other.name.to_string(), &other_token).await, 45);
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
    bad_writes_racing_good_ones_of_two_tenants_fail_alone,
);
