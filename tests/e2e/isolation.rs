//! Tenants are isolated: a tenant's token reaches nothing of another tenant, by URL, by
//! id or by search, and a token that is revoked or whose tenant is gone reaches nothing.

use reqwest::Method;
use scimgate_core::{Clock, SystemClock};
use scimgate_testkit::{on_both_backends, DbBackend, TestServer};
use serde_json::{json, Value};
use sqlx::Connection;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

fn entra_user(user_name: &str, external_id: &str, title: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "displayName": title,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "name": {"familyName": "Family", "givenName": "Given"},
        "title": title,
        ENTERPRISE: {"employeeNumber": "1", "department": title}
    })
}

fn entra_group(display_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": external_id,
        "displayName": display_name,
    })
}

fn search(filter: Option<&str>) -> Value {
    let mut body = json!({"schemas": [SEARCH], "count": 1000});
    if let Some(f) = filter {
        body["filter"] = json!(f);
    }
    body
}

struct Answer {
    status: u16,
    content_type: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

/// One request to `http://addr{path}` (a full `/scim/v2/{tenant}/…` path) with `token`.
async fn call(
    s: &TestServer,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    let mut req = s.client.request(method, s.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    Answer {
        status,
        content_type,
        text,
    }
}

/// `path?query`, the query form-encoded.
fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params(&format!("http://host{path}"), pairs).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

/// A tenant as the test sees it: its name, token, and one user in one group.
struct Side {
    name: &'static str,
    token: String,
    user: String,
    group: String,
}

impl Side {
    fn path(&self, rest: &str) -> String {
        format!("/scim/v2/{}{rest}", self.name)
    }
}

async fn populate(s: &TestServer, name: &'static str, token: String, prefix: &str) -> Side {
    let side = Side {
        name,
        token,
        user: String::new(),
        group: String::new(),
    };
    let user = entra_user(
        &format!("{prefix}.user@{prefix}.example"),
        &format!("{prefix}-user-ext"),
        &format!("{prefix} title"),
    );
    let created = call(
        s,
        Some(&side.token),
        Method::POST,
        &side.path("/Users"),
        Some(&user),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let user = created.json()["id"].as_str().unwrap().to_owned();
    let mut group = entra_group(&format!("{prefix} Sales"), &format!("{prefix}-group-ext"));
    group["members"] = json!([{"value": user}]);
    let created = call(
        s,
        Some(&side.token),
        Method::POST,
        &side.path("/Groups"),
        Some(&group),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let group = created.json()["id"].as_str().unwrap().to_owned();
    Side {
        user,
        group,
        ..side
    }
}

/// Everything a tenant holds, read with its own token: lists and each resource by id.
async fn snapshot(s: &TestServer, side: &Side) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/Users?count=1000".to_owned(),
        "/Groups?count=1000".to_owned(),
        format!("/Users/{}", side.user),
        format!("/Groups/{}", side.group),
    ] {
        let got = call(s, Some(&side.token), Method::GET, &side.path(&path), None).await;
        assert_eq!(got.status, 200, "{path}: {}", got.text);
        out.insert(path, got.json());
    }
    Value::Object(out)
}

/// Every SCIM endpoint, with the resource ids to use in it. Bodies are valid: each
/// request would succeed if the token were allowed to make it.
fn endpoints(user: &str, group: &str) -> Vec<(Method, String, Option<Value>)> {
    let patch_user = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Replace", "path": "displayName", "value": "Pwned"}
    ]});
    let patch_group = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Remove", "path": "members"},
        {"op": "Replace", "path": "displayName", "value": "Pwned"}
    ]});
    vec![
        (Method::GET, "/Users".into(), None),
        (
            Method::POST,
            "/Users".into(),
            Some(entra_user(
                "intruder@intruder.example",
                "intruder",
                "Intruder",
            )),
        ),
        (Method::POST, "/Users/.search".into(), Some(search(None))),
        (Method::GET, format!("/Users/{user}"), None),
        (
            Method::PUT,
            format!("/Users/{user}"),
            Some(entra_user("pwned@intruder.example", "pwned", "Pwned")),
        ),
        (Method::PATCH, format!("/Users/{user}"), Some(patch_user)),
        (Method::DELETE, format!("/Users/{user}"), None),
        (Method::GET, "/Groups".into(), None),
        (
            Method::POST,
            "/Groups".into(),
            Some(entra_group("Intruders", "intruders")),
        ),
        (Method::POST, "/Groups/.search".into(), Some(search(None))),
        (Method::GET, format!("/Groups/{group}"), None),
        (
            Method::PUT,
            format!("/Groups/{group}"),
            Some(entra_group("Pwned", "pwned")),
        ),
        (Method::PATCH, format!("/Groups/{group}"), Some(patch_group)),
        (Method::DELETE, format!("/Groups/{group}"), None),
        (Method::POST, "/.search".into(), Some(search(None))),
        (Method::GET, "/ServiceProviderConfig".into(), None),
        (Method::GET, "/Schemas".into(), None),
        (Method::GET, format!("/Schemas/{USER}"), None),
        (Method::GET, "/ResourceTypes".into(), None),
        (Method::GET, "/ResourceTypes/User".into(), None),
    ]
}

/// `Ok` if the answer is a SCIM error with this status and no `scimType` (404 and 401
/// have none), else what came instead.
fn scim_error(got: &Answer, status: u16) -> Result<(), String> {
    let body = got.json();
    if got.status == status
        && got.content_type.as_deref() == Some("application/scim+json")
        && body["schemas"] == json!([ERROR])
        && body["status"].as_str() == Some(status.to_string().as_str())
        && body.get("scimType").is_none()
    {
        Ok(())
    } else {
        Err(format!(
            "{} {:?} {}",
            got.status,
            got.content_type,
            got.text.chars().take(300).collect::<String>()
        ))
    }
}

async fn tenants_see_nothing_of_each_other(backend: DbBackend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let (globex_tenant, globex_token) = s.add_tenant("globex").await;
    let acme = populate(&s, "acme", s.token.clone(), "acme").await;
    let globex = populate(&s, "globex", globex_token, "globex").await;
    let globex_before = snapshot(&s, &globex).await;
    let globex_seq = s.store.change_seq(&globex_tenant).await.unwrap();
    let acme_users = snapshot(&s, &acme).await["/Users?count=1000"]["totalResults"].clone();
    assert_eq!(acme_users, 1);
    let mut failures = Vec::new();

    // (a) acme's token on globex's URLs: 404 everywhere, exactly as for a tenant that
    // does not exist (the answer must not tell the two apart). And the other way round.
    for (intruder, victim) in [(&acme, &globex), (&globex, &acme)] {
        for ids in [
            (&victim.user, &victim.group),
            (&intruder.user, &intruder.group),
        ] {
            for (method, rest, body) in endpoints(ids.0, ids.1) {
                let got = call(
                    &s,
                    Some(&intruder.token),
                    method.clone(),
                    &victim.path(&rest),
                    body.as_ref(),
                )
                .await;
                if let Err(e) = scim_error(&got, 404) {
                    failures.push(format!(
                        "(a) {}'s token: {method} {}: {e}",
                        intruder.name,
                        victim.path(&rest)
                    ));
                }
                let nobody = call(
                    &s,
                    Some(&intruder.token),
                    method.clone(),
                    &format!("/scim/v2/nosuch{rest}"),
                    body.as_ref(),
                )
                .await;
                if (nobody.status, nobody.json()) != (got.status, got.json()) {
                    failures.push(format!(
                        "(a) {method} {rest}: {} answers differently from an unknown tenant: {} vs {}",
                        victim.name, got.text, nobody.text
                    ));
                }
            }
        }
    }
    // Tenant names are lower case; other spellings are no way in either.
    for path in [
        "/scim/v2/GLOBEX/Users",
        "/scim/v2/Globex/Users",
        "/scim/v2/globex%20/Users",
    ] {
        let got = call(&s, Some(&acme.token), Method::GET, path, None).await;
        if let Err(e) = scim_error(&got, 404) {
            failures.push(format!("(a) acme's token: GET {path}: {e}"));
        }
    }

    // (b) acme's token on acme's URLs with globex's ids: 404, as for any unknown id.
    for (method, rest, body) in endpoints(&globex.user, &globex.group) {
        if !rest.contains(&globex.user) && !rest.contains(&globex.group) {
            continue;
        }
        let got = call(
            &s,
            Some(&acme.token),
            method.clone(),
            &acme.path(&rest),
            body.as_ref(),
        )
        .await;
        if let Err(e) = scim_error(&got, 404) {
            failures.push(format!(
                "(b) acme's token: {method} {}: {e}",
                acme.path(&rest)
            ));
        }
    }
    // Ids of the wrong type, crossed between tenants too.
    for rest in [
        format!("/Users/{}", globex.group),
        format!("/Groups/{}", globex.user),
    ] {
        let got = call(&s, Some(&acme.token), Method::GET, &acme.path(&rest), None).await;
        if let Err(e) = scim_error(&got, 404) {
            failures.push(format!("(b) acme's token: GET {rest}: {e}"));
        }
    }
    // Removing globex's user from acme's group is a no-op (docs/entra.md: unknown member ids
    // are no-ops) and touches no globex membership.
    let remove = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"value": globex.user}]},
        {"op": "remove", "path": format!("members[value eq \"{}\"]", globex.user)}
    ]});
    let got = call(
        &s,
        Some(&acme.token),
        Method::PATCH,
        &acme.path(&format!("/Groups/{}", acme.group)),
        Some(&remove),
    )
    .await;
    assert_eq!(got.status, 204, "{}", got.text);

    // (c) acme's lists, filters and searches never return globex's resources.
    let user_filters = vec![
        "userName eq \"globex.user@globex.example\"".to_owned(),
        "userName eq \"GLOBEX.USER@GLOBEX.EXAMPLE\"".to_owned(),
        "externalId eq \"globex-user-ext\"".to_owned(),
        format!("id eq \"{}\"", globex.user),
        "emails.value eq \"globex.user@globex.example\"".to_owned(),
        "emails[type eq \"work\"].value eq \"globex.user@globex.example\"".to_owned(),
        "userName sw \"globex\"".to_owned(),
        "userName co \"globex\"".to_owned(),
        "title eq \"globex title\"".to_owned(),
        format!("{ENTERPRISE}:department eq \"globex title\""),
        "displayName eq \"globex title\" or userName ew \"globex.example\"".to_owned(),
        "userName eq \"globex.user@globex.example\" and active eq true".to_owned(),
    ];
    let group_filters = vec![
        "displayName eq \"globex Sales\"".to_owned(),
        "displayName eq \"GLOBEX SALES\"".to_owned(),
        "externalId eq \"globex-group-ext\"".to_owned(),
        format!("id eq \"{}\"", globex.group),
        format!("members.value eq \"{}\"", globex.user),
        format!("members[value eq \"{}\"]", globex.user),
        format!("members eq \"{}\"", globex.user),
        "displayName sw \"globex\"".to_owned(),
    ];
    let globex_marks = ["globex", globex.user.as_str(), globex.group.as_str()];
    let leaks = |text: &str| {
        globex_marks
            .iter()
            .any(|m| text.to_lowercase().contains(&m.to_lowercase()))
    };
    let mut queries: Vec<(String, String, Answer)> = Vec::new();
    for (endpoint, filters) in [("/Users", &user_filters), ("/Groups", &group_filters)] {
        for filter in filters.iter() {
            let got = call(
                &s,
                Some(&acme.token),
                Method::GET,
                &with_query(
                    &acme.path(endpoint),
                    &[("filter", filter.as_str()), ("count", "1000")],
                ),
                None,
            )
            .await;
            queries.push((format!("GET {endpoint}"), filter.clone(), got));
            for search_path in [format!("{endpoint}/.search"), "/.search".to_owned()] {
                let got = call(
                    &s,
                    Some(&acme.token),
                    Method::POST,
                    &acme.path(&search_path),
                    Some(&search(Some(filter))),
                )
                .await;
                queries.push((format!("POST {search_path}"), filter.clone(), got));
            }
        }
    }
    for (what, filter, got) in &queries {
        let body = got.json();
        if got.status != 200
            || got.content_type.as_deref() != Some("application/scim+json")
            || body["totalResults"] != 0
            || body["Resources"] != json!([])
        {
            failures.push(format!(
                "(c) {what} filter={filter:?}: expected 200 with nothing, got {} {}",
                got.status, got.text
            ));
        } else if leaks(&got.text) {
            failures.push(format!("(c) {what} filter={filter:?}: leaks {}", got.text));
        }
    }
    // Unfiltered lists and searches hold exactly acme's resources.
    let unfiltered = [
        (Method::GET, "/Users?count=1000", None, 1),
        (Method::GET, "/Groups?count=1000", None, 1),
        (Method::GET, "/Users?filter=userName%20pr", None, 1),
        (Method::GET, "/Groups?filter=displayName%20pr", None, 1),
        (Method::POST, "/Users/.search", Some(search(None)), 1),
        (Method::POST, "/Groups/.search", Some(search(None)), 1),
        (Method::POST, "/.search", Some(search(None)), 2),
        (
            Method::POST,
            "/.search",
            Some(search(Some("externalId pr"))),
            2,
        ),
    ];
    for (method, rest, body, total) in unfiltered {
        let got = call(
            &s,
            Some(&acme.token),
            method.clone(),
            &acme.path(rest),
            body.as_ref(),
        )
        .await;
        let json = got.json();
        if got.status != 200 || json["totalResults"] != total || leaks(&got.text) {
            failures.push(format!(
                "(c) {method} {rest}: expected {total} acme resources, got {} {}",
                got.status, got.text
            ));
        }
    }

    // After all of it, globex's data is exactly as it was.
    let globex_after = snapshot(&s, &globex).await;
    if globex_after != globex_before {
        failures.push(format!(
            "globex's data changed:\nbefore {globex_before}\nafter  {globex_after}"
        ));
    }
    let seq = s.store.change_seq(&globex_tenant).await.unwrap();
    if seq != globex_seq {
        failures.push(format!(
            "globex's change sequence moved from {globex_seq} to {seq}"
        ));
    }

    // userName is unique per tenant: acme may have its own globex.user@…, and a 409 here
    // would tell acme that globex has one.
    let twin = entra_user("globex.user@globex.example", "acme-twin", "Twin");
    let got = call(
        &s,
        Some(&acme.token),
        Method::POST,
        &acme.path("/Users"),
        Some(&twin),
    )
    .await;
    if got.status != 201 {
        failures.push(format!(
            "acme could not create a userName globex also has: {} {}",
            got.status, got.text
        ));
    } else {
        let twin_id = got.json()["id"].as_str().unwrap().to_owned();
        let path = with_query(
            &acme.path("/Users"),
            &[("filter", "userName eq \"globex.user@globex.example\"")],
        );
        let found = call(&s, Some(&acme.token), Method::GET, &path, None)
            .await
            .json();
        assert_eq!(found["totalResults"], 1, "{found}");
        assert_eq!(found["Resources"][0]["id"], twin_id.as_str());
        assert_ne!(twin_id, globex.user);
    }
    assert_eq!(snapshot(&s, &globex).await, globex_before);

    assert!(
        failures.is_empty(),
        "{} isolation failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A database connection beside the server's, for what the API cannot do (drop a tenant).
async fn raw_sql(s: &TestServer, sql: &str, id: i64) {
    sqlx::any::install_default_drivers();
    let url = match s.db.backend {
        DbBackend::Sqlite => format!("sqlite://{}", s.db.url),
        DbBackend::Postgres => s.db.url.clone(),
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    if s.db.backend == DbBackend::Sqlite {
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query(sql).bind(id).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

async fn dead_tokens_are_refused(backend: DbBackend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let (_, globex_token) = s.add_tenant("globex").await;
    let acme_users = "/scim/v2/acme/Users";
    let globex_users = "/scim/v2/globex/Users";

    // A second acme token works until it is revoked; then it is refused everywhere,
    // with 401 (not 404) even on another tenant's URLs. The other tokens keep working.
    let second = s
        .store
        .create_token_of(
            scimgate_store::TokenKind::Scim,
            &s.tenant,
            "second",
            SystemClock.now(),
        )
        .await
        .unwrap();
    let got = call(&s, Some(&second.secret), Method::GET, acme_users, None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    s.store
        .revoke_token_of(
            scimgate_store::TokenKind::Scim,
            &s.tenant,
            second.info.id,
            SystemClock.now(),
        )
        .await
        .unwrap();
    for (method, rest, body) in endpoints("some-user", "some-group") {
        for tenant in ["acme", "globex", "nosuch"] {
            let path = format!("/scim/v2/{tenant}{rest}");
            let got = call(
                &s,
                Some(&second.secret),
                method.clone(),
                &path,
                body.as_ref(),
            )
            .await;
            scim_error(&got, 401).unwrap_or_else(|e| panic!("revoked token: {method} {path}: {e}"));
        }
    }
    assert_eq!(
        call(&s, Some(&s.token), Method::GET, acme_users, None)
            .await
            .status,
        200
    );
    assert_eq!(
        call(&s, Some(&globex_token), Method::GET, globex_users, None)
            .await
            .status,
        200
    );
    // Revoking is per tenant: globex cannot revoke acme's token.
    let globex = s
        .store
        .tenant(&scimgate_core::TenantName::parse("globex").unwrap())
        .await
        .unwrap()
        .unwrap();
    let acme_tokens = s.store.tokens(&s.tenant).await.unwrap();
    assert!(s
        .store
        .revoke_token_of(
            scimgate_store::TokenKind::Scim,
            &globex,
            acme_tokens[0].id,
            SystemClock.now()
        )
        .await
        .is_err());
    assert_eq!(
        call(&s, Some(&s.token), Method::GET, acme_users, None)
            .await
            .status,
        200
    );

    // A token that was never issued, in the server's format or not.
    for token in [
        format!("sgt_{}", "0".repeat(64)),
        format!("{}x", s.token),
        s.token.to_uppercase(),
        s.token[..s.token.len() - 1].to_owned(),
    ] {
        for path in [acme_users, globex_users] {
            let got = call(&s, Some(&token), Method::GET, path, None).await;
            scim_error(&got, 401).unwrap_or_else(|e| panic!("unknown token on {path}: {e}"));
        }
    }

    // The token of a tenant that was deleted is refused, also after a tenant of the
    // same name is created again; the new tenant starts empty.
    let (initech, initech_token) = s.add_tenant("initech").await;
    let initech_users = "/scim/v2/initech/Users";
    let created = call(
        &s,
        Some(&initech_token),
        Method::POST,
        initech_users,
        Some(&entra_user("peter@initech.example", "p-1", "TPS")),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    raw_sql(&s, "DELETE FROM tenants WHERE id = $1", initech.id).await;
    // Deleted behind the server's back: verified tokens are remembered for up to
    // AUTH_CACHE_TTL, so tell this server, as a tenant deletion through it would.
    s.store.forget_verified_tokens();
    for path in [initech_users, acme_users] {
        let got = call(&s, Some(&initech_token), Method::GET, path, None).await;
        scim_error(&got, 401).unwrap_or_else(|e| panic!("deleted tenant's token on {path}: {e}"));
    }
    let (_, reborn_token) = s.add_tenant("initech").await;
    let got = call(&s, Some(&initech_token), Method::GET, initech_users, None).await;
    scim_error(&got, 401)
        .unwrap_or_else(|e| panic!("deleted tenant's token after re-creation: {e}"));
    let got = call(&s, Some(&reborn_token), Method::GET, initech_users, None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json()["totalResults"], 0, "{}", got.text);
}

on_both_backends!(tenants_see_nothing_of_each_other, dead_tokens_are_refused);
