//! The admin API over real HTTP: users and groups arrive over SCIM as Entra sends them,
//! the catalogue and rules are imported through the API itself, then every endpoint is
//! used as an admin (or a script) would, on SQLite and PostgreSQL.

use reqwest::Method;
use scimgate_core::{Clock, SystemClock};
use scimgate_store::TokenKind;
use scimgate_testkit::{entra_user, on_both_backends, DbBackend, TestServer};
use serde_json::{json, Value};
use std::collections::HashMap;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

const CATALOG: &str = "\
user_plans:
  - { name: Standard }
  - { name: Sales Premium, seats: 10 }
companies: [Contoso Ltd]
groups: [Sales, Service, EMEA]
roles: [Sales user, Service user]
";

const RULES: &str = r#"# Sales first: order is priority.
rules:
  - name: Sales
    applies_to: { member_of: "Sales" }
    set:
      user_plan: "Sales Premium"
      role: "Sales user"
      primary_group: "Sales"
      secondary_groups: ["EMEA"]
  - name: Service
    applies_to: { member_of: "Service" }
    set:
      role: "Service user"
  - name: Everyone else
    applies_to: all
    set:
      user_plan: { value: "Standard", mode: if_not_set }
      owner_company: "Contoso Ltd"
"#;

/// The admin API of tenant `acme` of a running server, with an admin token, and the
/// staged ids of the users provisioned over SCIM (by userName).
struct Api {
    s: TestServer,
    token: String,
    ids: HashMap<&'static str, String>,
}

enum Body {
    Empty,
    Json(Value),
    Yaml(String),
}

/// Status and JSON body (`Null` when empty); every body is `application/json`.
async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    if text.is_empty() {
        return (status, Value::Null);
    }
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "status {status}: {text}"
    );
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

/// The message of an error answer, after checking its status and body shape.
fn message(expected: u16, got: &(u16, Value)) -> String {
    let (status, body) = got;
    assert_eq!(*status, expected, "{body}");
    assert_eq!(body["error"]["status"], expected, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

fn ok(got: (u16, Value)) -> Value {
    assert_eq!(got.0, 200, "{}", got.1);
    got.1
}

impl Api {
    /// A server with tenant `acme` and an admin token; nothing else.
    async fn empty(backend: DbBackend) -> Option<Api> {
        let s = TestServer::start(backend).await?;
        let token = admin_token(&s, &s.tenant).await;
        Some(Api {
            s,
            token,
            ids: HashMap::new(),
        })
    }

    /// The catalogue and rules imported through the API, and five users over SCIM:
    /// alice and bob in Sales, carol in no group, dave in Service, erin inactive.
    async fn ready(backend: DbBackend) -> Option<Api> {
        let mut api = Api::empty(backend).await?;
        ok(api
            .send(Method::PUT, "/catalog", &[], Body::Yaml(CATALOG.into()))
            .await);
        ok(api
            .send(Method::PUT, "/rules", &[], Body::Yaml(RULES.into()))
            .await);
        for (name, external_id, active) in [
            ("alice@contoso.com", "ext-alice", true),
            ("bob@contoso.com", "ext-bob", true),
            ("carol@contoso.com", "ext-carol", true),
            ("dave@contoso.com", "ext-dave", true),
            ("erin@fabrikam.com", "ext:erin", false),
        ] {
            let id = scim_user(&api.s, name, external_id, active).await;
            api.ids.insert(name, id);
        }
        let sales = scim_group(&api.s, "Sales", "grp-sales").await;
        let service = scim_group(&api.s, "Service", "grp-service").await;
        add_members(&api.s, &sales, &[api.id("alice"), api.id("bob")]).await;
        add_members(&api.s, &service, &[api.id("dave")]).await;
        Some(api)
    }

    /// The staged id of the user whose userName starts with `name@`.
    fn id(&self, name: &str) -> &str {
        self.ids
            .iter()
            .find(|(k, _)| k.starts_with(&format!("{name}@")))
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/v1/tenants/acme{rest}")
    }

    async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Body,
    ) -> (u16, Value) {
        let mut req = self
            .s
            .client
            .request(method.clone(), self.s.url(path))
            .query(query);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(rest) = path.strip_prefix("/api/v1/tenants/acme") {
            let base = self.s.url("/api/v1/tenants/acme");
            req =
                crate::with_current_version(&self.s.client, &base, token, &method, rest, req).await;
        }
        req = match body {
            Body::Empty => req,
            Body::Json(v) => req
                .header("content-type", "application/json")
                .body(v.to_string()),
            Body::Yaml(text) => req.header("content-type", "application/yaml").body(text),
        };
        answer(req.send().await.unwrap()).await
    }

    /// A request to `/api/v1/tenants/acme{rest}` with the admin token.
    async fn send(
        &self,
        method: Method,
        rest: &str,
        query: &[(&str, &str)],
        body: Body,
    ) -> (u16, Value) {
        self.call(Some(&self.token), method, &self.path(rest), query, body)
            .await
    }

    async fn get(&self, rest: &str) -> (u16, Value) {
        self.send(Method::GET, rest, &[], Body::Empty).await
    }

    async fn get_with(&self, rest: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.send(Method::GET, rest, query, Body::Empty).await
    }

    async fn post(&self, rest: &str) -> (u16, Value) {
        self.send(Method::POST, rest, &[], Body::Empty).await
    }

    async fn put(&self, rest: &str, body: Value) -> (u16, Value) {
        self.send(Method::PUT, rest, &[], Body::Json(body)).await
    }

    /// Usernames of the preview items for these query parameters, in order.
    async fn preview_names(&self, query: &[(&str, &str)]) -> Vec<String> {
        usernames(&ok(self.get_with("/preview", query).await)["items"])
    }

    /// Every account, by username.
    async fn accounts(&self) -> HashMap<String, Value> {
        ok(self.get("/accounts").await)["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["username"].as_str().unwrap().to_owned(), a.clone()))
            .collect()
    }

    async fn settings(&self, guard_percent: u32, guard_minimum: u32) {
        ok(self
            .put(
                "/settings",
                json!({"user_sync_active": false, "schedule": "0 3 * * *", "debounce_seconds": 30,
                       "guard_percent": guard_percent, "guard_minimum": guard_minimum}),
            )
            .await);
    }
}

fn usernames(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i.get("username")
                .or_else(|| i.get("userName"))
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn admin_token(s: &TestServer, tenant: &scimgate_store::Tenant) -> String {
    s.store
        .create_token_of(TokenKind::Admin, tenant, "test admin", SystemClock.now())
        .await
        .unwrap()
        .secret
}

async fn scim_user(s: &TestServer, user_name: &str, external_id: &str, active: bool) -> String {
    let mut body = entra_user(user_name, external_id);
    body["active"] = json!(active);
    body["displayName"] = json!(format!("Display {user_name}"));
    let (status, created) = s.post("/Users", body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn scim_group(s: &TestServer, display_name: &str, external_id: &str) -> String {
    let (status, group) = s
        .post(
            "/Groups",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": external_id,
                "displayName": display_name,
                "meta": {"resourceType": "Group"}
            }),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    group["id"].as_str().unwrap().to_owned()
}

async fn add_members(s: &TestServer, group: &str, users: &[&str]) {
    let value: Vec<Value> = users.iter().map(|id| json!({"value": id})).collect();
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members", "value": value}]});
    let (status, body) = s.patch(&format!("/Groups/{group}"), patch).await;
    assert_eq!(status, 204, "{body}");
}

/// Entra's soft delete: `active` replaced with the string "False".
async fn deactivate_over_scim(s: &TestServer, user: &str) {
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let (status, body) = s.patch(&format!("/Users/{user}"), patch).await;
    assert!(status == 200 || status == 204, "{status} {body}");
}

async fn auth_refuses_bad_tokens_and_hides_other_tenants(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let catalog = api.path("/catalog");
    let no_token = api
        .call(None, Method::GET, &catalog, &[], Body::Empty)
        .await;
    assert!(message(401, &no_token).contains("missing admin token"));
    let wrong = api
        .call(Some("sga_wrong"), Method::GET, &catalog, &[], Body::Empty)
        .await;
    assert!(message(401, &wrong).contains("not valid"));
    // The SCIM token of the same tenant is not an admin token.
    let scim = api
        .call(Some(&api.s.token), Method::GET, &catalog, &[], Body::Empty)
        .await;
    assert!(message(401, &scim).contains("SCIM token"));
    // A revoked admin token stops working at once.
    let issued = api
        .s
        .store
        .create_token_of(TokenKind::Admin, &api.s.tenant, "old", SystemClock.now())
        .await
        .unwrap();
    let before = api
        .call(
            Some(&issued.secret),
            Method::GET,
            &catalog,
            &[],
            Body::Empty,
        )
        .await;
    assert_eq!(before.0, 200, "{}", before.1);
    api.s
        .store
        .revoke_token_of(
            TokenKind::Admin,
            &api.s.tenant,
            issued.info.id,
            SystemClock.now(),
        )
        .await
        .unwrap();
    let revoked = api
        .call(
            Some(&issued.secret),
            Method::GET,
            &catalog,
            &[],
            Body::Empty,
        )
        .await;
    message(401, &revoked);

    // Another tenant's admin token sees nothing of acme: 404, not 403.
    let (globex, _) = api.s.add_tenant("globex").await;
    let globex_token = admin_token(&api.s, &globex).await;
    for (method, rest) in [
        (Method::GET, "/users"),
        (Method::GET, "/rules"),
        (Method::POST, "/sync"),
        (Method::POST, "/restart"),
    ] {
        let got = api
            .call(
                Some(&globex_token),
                method,
                &api.path(rest),
                &[],
                Body::Empty,
            )
            .await;
        assert_eq!(message(404, &got), "no tenant named \"acme\"", "{rest}");
    }
    assert_eq!(ok(api.get("/users").await)["total"], 5, "nothing changed");
    // Its own tenant works, and is empty.
    let own = api
        .call(
            Some(&globex_token),
            Method::GET,
            "/api/v1/tenants/globex/users",
            &[],
            Body::Empty,
        )
        .await;
    assert_eq!(ok(own)["total"], 0);
    // An unknown tenant is a 404 as well, as is a path that is no endpoint.
    let unknown = api
        .call(
            Some(&api.token),
            Method::GET,
            "/api/v1/tenants/nosuch/users",
            &[],
            Body::Empty,
        )
        .await;
    message(404, &unknown);
    let nowhere = api.get("/nothing/here").await;
    assert!(message(404, &nowhere).contains("no such admin API endpoint"));
    let wrong_method = api.send(Method::DELETE, "/rules", &[], Body::Empty).await;
    message(405, &wrong_method);

    // The OpenAPI document needs no token.
    let doc = api
        .call(None, Method::GET, "/api/v1/openapi.json", &[], Body::Empty)
        .await;
    let doc = ok(doc);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    assert!(doc["paths"]["/api/v1/tenants/{tenant}/preview"]["get"].is_object());
}

async fn catalogue_is_replaced_edited_and_read(backend: DbBackend) {
    let Some(api) = Api::empty(backend).await else {
        return;
    };
    let empty = ok(api.get("/catalog").await);
    assert_eq!(
        empty,
        json!({"user_plans": [], "companies": [], "groups": [], "roles": []})
    );
    let saved = ok(api
        .send(Method::PUT, "/catalog", &[], Body::Yaml(CATALOG.into()))
        .await);
    assert_eq!(
        saved["user_plans"],
        json!([{"name": "Sales Premium", "seats": 10}, {"name": "Standard", "seats": null}])
    );
    assert_eq!(saved, ok(api.get("/catalog").await));

    // JSON in the shape GET returns (or plain names) replaces it all.
    let replaced = ok(api
        .put(
            "/catalog",
            json!({"user_plans": [{"name": "Basic", "seats": 3}], "roles": ["Boss"]}),
        )
        .await);
    assert_eq!(
        replaced,
        json!({"user_plans": [{"name": "Basic", "seats": 3}], "companies": [], "groups": [],
               "roles": [{"name": "Boss"}]})
    );

    // One entry at a time: add, change seats, remove.
    let added = ok(api
        .put("/catalog/user_plan/Sales%20Premium", json!({"seats": 7}))
        .await);
    assert_eq!(
        added,
        json!({"kind": "user_plan", "name": "Sales Premium", "seats": 7})
    );
    ok(api
        .send(
            Method::PUT,
            "/catalog/company/Contoso%20Ltd",
            &[],
            Body::Empty,
        )
        .await);
    ok(api
        .put("/catalog/user_plan/Basic", json!({"seats": 4}))
        .await);
    let now = ok(api.get("/catalog").await);
    assert_eq!(
        now["user_plans"],
        json!([{"name": "Basic", "seats": 4}, {"name": "Sales Premium", "seats": 7}])
    );
    assert_eq!(now["companies"], json!([{"name": "Contoso Ltd"}]));
    let deleted = api
        .send(Method::DELETE, "/catalog/role/Boss", &[], Body::Empty)
        .await;
    assert_eq!(deleted, (204, Value::Null));
    let again = api
        .send(Method::DELETE, "/catalog/role/Boss", &[], Body::Empty)
        .await;
    assert_eq!(
        message(404, &again),
        "the catalogue has no role named \"Boss\""
    );
    assert_eq!(ok(api.get("/catalog").await)["roles"], json!([]));

    // Bad input names what is wrong, and changes nothing.
    let kind = api.put("/catalog/plan/X", json!({})).await;
    assert_eq!(
        message(400, &kind),
        "unknown catalogue kind \"plan\" (kinds: user_plan, company, group, role)"
    );
    let field = api
        .put("/catalog", json!({"user_plans": [], "rolse": ["Boss"]}))
        .await;
    assert!(
        message(400, &field).contains("unknown field `rolse`"),
        "{}",
        field.1
    );
    let seats = api.put("/catalog/company/Acme", json!({"seats": 3})).await;
    assert!(message(400, &seats).contains("only user plans have seats"));
    let entry_field = api.put("/catalog/user_plan/X", json!({"sets": 3})).await;
    assert!(message(400, &entry_field).contains("unknown field `sets`"));
    let twice = api
        .send(
            Method::PUT,
            "/catalog",
            &[],
            Body::Yaml("roles: [Boss, Boss]".into()),
        )
        .await;
    assert!(message(400, &twice).contains("\"Boss\" is listed twice"));
    let yaml = api
        .send(
            Method::PUT,
            "/catalog",
            &[],
            Body::Yaml("user_plan: [x]".into()),
        )
        .await;
    assert!(message(400, &yaml).contains("unknown field `user_plan`"));
    let not_an_object = api.put("/catalog", json!("Standard")).await;
    assert!(message(400, &not_an_object).contains("invalid type"));
    assert_eq!(ok(api.get("/catalog").await), now_without_boss(now));
}

fn now_without_boss(mut catalog: Value) -> Value {
    catalog["roles"] = json!([]);
    catalog
}

async fn rules_are_saved_only_when_valid(backend: DbBackend) {
    let Some(api) = Api::empty(backend).await else {
        return;
    };
    let none = api.get("/rules").await;
    assert!(message(404, &none).contains("no rule set yet"));
    let preview = api.get("/preview").await;
    assert!(message(404, &preview).contains("no rule set yet"));
    ok(api
        .send(Method::PUT, "/catalog", &[], Body::Yaml(CATALOG.into()))
        .await);
    let saved = ok(api
        .send(Method::PUT, "/rules", &[], Body::Yaml(RULES.into()))
        .await);
    let expected_rules = json!([
        {"name": "Sales", "active": true},
        {"name": "Service", "active": true},
        {"name": "Everyone else", "active": true}
    ]);
    assert_eq!(saved["rules"], expected_rules);
    let got = ok(api.get("/rules").await);
    assert_eq!(got["yaml"], RULES, "saved as sent, comments included");
    assert_eq!(got["scripts"], json!({}));

    // Broken YAML: 400 with the place, and the saved set is untouched.
    let broken = api
        .send(
            Method::PUT,
            "/rules",
            &[],
            Body::Yaml("rules:\n  - name: X\n    set: [oops\n".into()),
        )
        .await;
    let text = message(400, &broken);
    assert!(text.starts_with("the rule set was not saved:"), "{text}");
    assert!(text.contains("rules.yaml:"), "{text}");
    // A rule naming what the catalogue does not have: the rule, the line, the name.
    let boss = RULES.replace("role: \"Service user\"", "role: \"Boss\"");
    let unknown = api
        .send(Method::PUT, "/rules", &[], Body::Yaml(boss.clone()))
        .await;
    let text = message(400, &unknown);
    assert!(text.contains("rules.yaml:13:"), "{text}");
    assert!(text.contains("rule \"Service\""), "{text}");
    assert!(
        text.contains("role \"Boss\" is not in the catalogue"),
        "{text}"
    );
    // An unknown key in the JSON form.
    let field = api
        .put("/rules", json!({"yaml": RULES, "script": {}}))
        .await;
    assert!(message(400, &field).contains("unknown field `script`"));
    let plain = api
        .call(
            Some(&api.token),
            Method::PUT,
            &api.path("/rules"),
            &[],
            Body::Empty,
        )
        .await;
    assert!(message(400, &plain).contains("empty"));
    assert_eq!(ok(api.get("/rules").await)["yaml"], RULES);

    // Validate: the same checks, nothing saved.
    let valid = ok(api
        .send(
            Method::POST,
            "/rules/validate",
            &[],
            Body::Yaml(RULES.into()),
        )
        .await);
    assert_eq!(valid, json!({"valid": true, "errors": [], "rules": 3}));
    let invalid = ok(api
        .send(Method::POST, "/rules/validate", &[], Body::Yaml(boss))
        .await);
    assert_eq!(invalid["valid"], false);
    assert_eq!(invalid["rules"], 3);
    let errors = invalid["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{invalid}");
    assert!(errors[0].as_str().unwrap().contains("\"Boss\""));

    // The JSON form carries the Rhai scripts the rules name.
    let with_script = "rules:\n  - name: Scripted\n    script: plan.rhai\n";
    let script = "#{ user_plan: \"Standard\" }";
    let missing = api.put("/rules", json!({"yaml": with_script})).await;
    assert!(message(400, &missing).contains("plan.rhai"));
    let saved = ok(api
        .put(
            "/rules",
            json!({"yaml": with_script, "scripts": {"plan.rhai": script}}),
        )
        .await);
    assert_eq!(
        saved["rules"],
        json!([{"name": "Scripted", "active": true}])
    );
    let got = ok(api.get("/rules").await);
    assert_eq!(got["scripts"], json!({"plan.rhai": script}));
    assert_eq!(got["yaml"], with_script);
}

async fn rules_are_switched_and_reordered(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let plan_of = |preview: &Value, user: &str| {
        preview["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["username"] == user)
            .map(|i| i["target"]["user_plan"].clone())
            .unwrap()
    };
    let off = ok(api.post("/rules/Sales/deactivate").await);
    assert_eq!(off["rules"][0], json!({"name": "Sales", "active": false}));
    assert!(off["yaml"].as_str().unwrap().contains("active: false"));
    let preview = ok(api.get("/preview").await);
    assert_eq!(plan_of(&preview, "alice@contoso.com"), "Standard");
    let on = ok(api.post("/rules/Sales/activate").await);
    assert_eq!(on["rules"][0], json!({"name": "Sales", "active": true}));
    assert!(!on["yaml"].as_str().unwrap().contains("active"));
    let preview = ok(api.get("/preview").await);
    assert_eq!(plan_of(&preview, "alice@contoso.com"), "Sales Premium");
    let unknown = api.post("/rules/Nobody/deactivate").await;
    assert!(message(404, &unknown).contains("no rule named \"Nobody\""));
    let spaced = ok(api.post("/rules/Everyone%20else/deactivate").await);
    assert_eq!(spaced["rules"][2]["active"], false);

    // Reorder: a permutation of the names, nothing else.
    let missing = api
        .put("/rules/order", json!({"order": ["Service", "Sales"]}))
        .await;
    let text = message(400, &missing);
    assert!(text.contains("missing: \"Everyone else\""), "{text}");
    let unknown = api
        .put(
            "/rules/order",
            json!({"order": ["Service", "Sales", "Everyone else", "Ghost"]}),
        )
        .await;
    assert!(message(400, &unknown).contains("not rules of this set: \"Ghost\""));
    let field = api.put("/rules/order", json!({"rules": ["Service"]})).await;
    assert!(message(400, &field).contains("unknown field `rules`"));
    let reordered = ok(api
        .put(
            "/rules/order",
            json!({"order": ["Everyone else", "Service", "Sales"]}),
        )
        .await);
    let names: Vec<&str> = reordered["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Everyone else", "Service", "Sales"]);
    let got = ok(api.get("/rules").await);
    assert_eq!(got["rules"], reordered["rules"]);
    assert_eq!(got["rules"][0]["active"], false, "kept while reordering");
}

/// The userNames `GET /users?search=` finds.
async fn found(api: &Api, search: &str) -> Vec<String> {
    usernames(&ok(api.get_with("/users", &[("search", search)]).await)["users"])
}

async fn staged_users_and_groups_are_searched_and_paged(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let all = ok(api.get("/users").await);
    assert_eq!(all["total"], 5);
    let alice = &all["users"][0];
    assert_eq!(
        *alice,
        json!({"id": api.id("alice"), "userName": "alice@contoso.com", "externalId": "ext-alice",
               "displayName": "Display alice@contoso.com", "active": true, "groups": ["Sales"]})
    );
    assert_eq!(all["users"][4]["active"], false);
    assert_eq!(
        found(&api, "CONTOSO").await.len(),
        4,
        "userName, case-insensitive"
    );
    assert_eq!(
        found(&api, "ext:ERIN").await,
        ["erin@fabrikam.com"],
        "externalId"
    );
    assert_eq!(
        found(&api, "display bob").await,
        ["bob@contoso.com"],
        "displayName"
    );
    let sales = ok(api.get_with("/users", &[("group", "sales")]).await);
    assert_eq!(
        usernames(&sales["users"]),
        ["alice@contoso.com", "bob@contoso.com"]
    );
    let page = ok(api
        .get_with("/users", &[("offset", "1"), ("limit", "2")])
        .await);
    assert_eq!(page["total"], 5);
    assert_eq!(
        usernames(&page["users"]),
        ["bob@contoso.com", "carol@contoso.com"]
    );

    let groups = ok(api.get("/groups").await);
    assert_eq!(groups["total"], 2);
    assert_eq!(groups["groups"][0]["displayName"], "Sales");
    assert_eq!(groups["groups"][0]["externalId"], "grp-sales");
    assert_eq!(groups["groups"][0]["members"], 2);
    let service = ok(api.get_with("/groups", &[("search", "SERV")]).await);
    assert_eq!(service["total"], 1);
    let service_id = service["groups"][0]["id"].as_str().unwrap().to_owned();
    let by_id = ok(api.get_with("/users", &[("group", &service_id)]).await);
    assert_eq!(usernames(&by_id["users"]), ["dave@contoso.com"]);
    let members = ok(api.get(&format!("/groups/{service_id}/members")).await);
    assert_eq!(members["total"], 1);
    assert_eq!(members["users"][0]["id"], api.id("dave"));
    let unknown = api.get("/groups/nope/members").await;
    assert!(message(404, &unknown).contains("\"nope\""));
    let typo = api.get_with("/users", &[("serch", "x")]).await;
    assert!(message(400, &typo).contains("unknown query parameter \"serch\""));
    let limit = api.get_with("/users", &[("limit", "many")]).await;
    assert!(message(400, &limit).contains("limit"));
}

async fn preview_filters_with_every_operator(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let all = ok(api.get("/preview").await);
    assert_eq!(all["total_items"], 5);
    assert_eq!(all["totals"]["users_received"], 5);
    assert_eq!(all["totals"]["create"], 4);
    assert_eq!(all["totals"]["users_synced"], 4);
    assert_eq!(all["totals"]["unchanged"], 1);
    assert!(all["seats"]
        .as_array()
        .unwrap()
        .contains(&json!({"user_plan": "Sales Premium", "used": 2, "purchased": 10})));

    let cases: [(&[&str], &[&str]); 16] = [
        (&["user_plan:equals:sales premium"], &["alice", "bob"]),
        // Set by rule: the rules whose values stand, in rule order.
        (&["set_by:equals:sales, everyone ELSE"], &["alice", "bob"]),
        (&["set_by:equals:Everyone else"], &["carol", "erin"]),
        (
            &["user_plan:not_equals:Standard"],
            &["alice", "bob", "erin"],
        ),
        (&["username:contains:AR"], &["carol"]),
        (&["username:not_contains:@contoso.com"], &["erin"]),
        (&["username:starts_with:B"], &["bob"]),
        (&["username:ends_with:FABRIKAM.COM"], &["erin"]),
        (&["role:null"], &["carol", "erin"]),
        (&["role:not_null"], &["alice", "bob", "dave"]),
        (&["secondary_groups:empty"], &["carol", "dave", "erin"]),
        (&["secondary_groups:not_empty:"], &["alice", "bob"]),
        // The value may contain ':'.
        (&["external_id:equals:EXT:ERIN"], &["erin"]),
        (&["reason:contains:inactive"], &["erin"]),
        (&["action:equals:create", "role:null"], &["carol"]),
        (
            &[
                "confidential:equals:false",
                "owner_company:equals:contoso ltd",
            ],
            &["alice", "bob", "carol", "dave"],
        ),
    ];
    for (filters, expected) in cases {
        let query: Vec<(&str, &str)> = filters.iter().map(|f| ("filter", *f)).collect();
        let answer = ok(api.get_with("/preview", &query).await);
        let names: Vec<String> = usernames(&answer["items"])
            .into_iter()
            .map(|n| n.split('@').next().unwrap().to_owned())
            .collect();
        assert_eq!(names, expected, "{filters:?}");
        assert_eq!(answer["total_items"], expected.len(), "{filters:?}");
        assert_eq!(
            answer["totals"]["users_received"], 5,
            "totals are unfiltered"
        );
    }
}

async fn preview_sorts_and_pages(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let asc = api.preview_names(&[]).await;
    assert_eq!(
        asc,
        [
            "alice@contoso.com",
            "bob@contoso.com",
            "carol@contoso.com",
            "dave@contoso.com",
            "erin@fabrikam.com"
        ]
    );
    let desc = api.preview_names(&[("order", "desc")]).await;
    assert_eq!(desc, asc.iter().rev().cloned().collect::<Vec<_>>());
    // By role, descending; users without a role last, ties by username.
    let by_role = api
        .preview_names(&[("sort", "role"), ("order", "desc")])
        .await;
    assert_eq!(
        by_role,
        [
            "dave@contoso.com",
            "alice@contoso.com",
            "bob@contoso.com",
            "carol@contoso.com",
            "erin@fabrikam.com"
        ]
    );
    let page = ok(api
        .get_with(
            "/preview",
            &[("offset", "1"), ("limit", "2"), ("sort", "username")],
        )
        .await);
    assert_eq!(page["total_items"], 5);
    assert_eq!(
        usernames(&page["items"]),
        ["bob@contoso.com", "carol@contoso.com"]
    );
    let past_end = ok(api.get_with("/preview", &[("offset", "10")]).await);
    assert_eq!(past_end["total_items"], 5);
    assert_eq!(past_end["items"], json!([]));
    let filtered_page = ok(api
        .get_with(
            "/preview",
            &[
                ("filter", "user_plan:equals:Standard"),
                ("limit", "1"),
                ("order", "desc"),
            ],
        )
        .await);
    assert_eq!(filtered_page["total_items"], 2);
    assert_eq!(usernames(&filtered_page["items"]), ["dave@contoso.com"]);
}

async fn preview_refuses_bad_queries_with_a_message(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let bad = |query: &'static [(&'static str, &'static str)]| api.get_with("/preview", query);
    let text = message(400, &bad(&[("filter", "username:like:bob")]).await);
    assert!(text.contains("unknown operator \"like\""), "{text}");
    assert!(
        text.contains("equals, not_equals, contains, not_contains, starts_with, ends_with, null, not_null, empty, not_empty"),
        "{text}"
    );
    let text = message(400, &bad(&[("filter", "department:equals:x")]).await);
    assert!(text.contains("unknown column \"department\""), "{text}");
    assert!(text.contains("username"), "{text}");
    let text = message(400, &bad(&[("filter", "role:equals")]).await);
    assert!(text.contains("needs a value"), "{text}");
    let text = message(400, &bad(&[("sort", "nme")]).await);
    assert!(text.contains("sort: unknown column \"nme\""), "{text}");
    let text = message(400, &bad(&[("order", "descending")]).await);
    assert!(text.contains("\"descending\" is not asc or desc"), "{text}");
    let text = message(400, &bad(&[("limit", "1001")]).await);
    assert!(text.contains("limit") && text.contains("1000"), "{text}");
    let text = message(400, &bad(&[("filters", "role:null")]).await);
    assert!(
        text.contains("unknown query parameter \"filters\""),
        "{text}"
    );
    // The draft endpoint checks its query before its body.
    let draft = api
        .send(
            Method::POST,
            "/preview",
            &[("filter", "x:equals:y")],
            Body::Yaml(RULES.into()),
        )
        .await;
    assert!(message(400, &draft).contains("unknown column \"x\""));
}

async fn draft_preview_differs_from_saved_and_saves_nothing(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let draft = RULES.replace(
        "user_plan: { value: \"Standard\", mode: if_not_set }",
        "user_plan: \"Sales Premium\"",
    );
    let query = [("filter", "username:equals:carol@contoso.com")];
    let saved = ok(api.get_with("/preview", &query).await);
    assert_eq!(saved["items"][0]["target"]["user_plan"], "Standard");
    let drafted = ok(api
        .send(Method::POST, "/preview", &query, Body::Yaml(draft.clone()))
        .await);
    assert_eq!(drafted["items"][0]["target"]["user_plan"], "Sales Premium");
    assert_eq!(drafted["totals"]["create"], saved["totals"]["create"]);
    // The JSON form as well.
    let as_json = ok(api
        .send(
            Method::POST,
            "/preview",
            &query,
            Body::Json(json!({"yaml": draft})),
        )
        .await);
    assert_eq!(as_json, drafted);
    // Nothing was saved.
    assert_eq!(ok(api.get("/rules").await)["yaml"], RULES);
    assert_eq!(ok(api.get_with("/preview", &query).await), saved);
    assert_eq!(ok(api.get("/runs").await)["runs"], json!([]));
    assert_eq!(ok(api.get("/accounts").await)["accounts"], json!([]));
    // An invalid draft says why.
    let broken = api
        .send(
            Method::POST,
            "/preview",
            &[],
            Body::Yaml(RULES.replace("Sales user", "Sales lead")),
        )
        .await;
    assert!(message(400, &broken).contains("role \"Sales lead\" is not in the catalogue"));
}

async fn preview_of_one_user_explains_each_value(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let by_id = ok(api
        .get(&format!("/preview/users/{}", api.id("alice")))
        .await);
    assert_eq!(by_id["item"]["action"], "create");
    assert_eq!(by_id["item"]["target"]["role"], "Sales user");
    let explanation = &by_id["explanation"];
    assert_eq!(explanation["synced"], true);
    let plan = explanation["explanation"]["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["setting"] == "user_plan")
        .unwrap();
    assert_eq!(plan["set_by"], "Sales");
    assert_eq!(plan["value"], "Sales Premium");
    let by_name = ok(api.get("/preview/users/ALICE@contoso.com").await);
    assert_eq!(by_name, by_id);
    let erin = ok(api.get("/preview/users/erin@fabrikam.com").await);
    assert_eq!(erin["item"]["action"], "unchanged");
    assert_eq!(erin["explanation"]["synced"], false);
    let unknown = api.get("/preview/users/nobody").await;
    assert!(message(404, &unknown).contains("\"nobody\""));
}

/// `Prefer: respond-async`: 202 at once with the run's URL, whose events are followed
/// until the run is done.
async fn a_company_sync_started_async_is_polled_to_its_end(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let answer = (api.s.client)
        .post(api.s.url("/api/v1/tenants/acme/sync"))
        .bearer_auth(&api.token)
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    assert_eq!(answer.headers()["preference-applied"], "respond-async");
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = answer.json().await.unwrap();
    let run_id = body["run_id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/tenants/acme/runs/{run_id}"));
    assert_eq!(body["url"], location.as_str());
    // The run's events: `status` while it runs, `end` as it ended; then the stream closes.
    let events = (api.s.client)
        .get(api.s.url(&format!("{location}/events")))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let text = tokio::time::timeout(std::time::Duration::from_secs(30), events.text())
        .await
        .expect("the stream closes when the run ends")
        .unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names.last(), Some(&"end"), "{text}");
    assert!(
        names.iter().all(|n| *n == "status" || *n == "end"),
        "{text}"
    );
    let last = text.rsplit("event: end\ndata: ").next().unwrap();
    let ended: Value = serde_json::from_str(last.lines().next().unwrap()).unwrap();
    assert_eq!(ended["status"], "completed", "{text}");
    let run = ok(api.get(&format!("/runs/{run_id}")).await);
    assert_eq!(run["run"]["status"], "completed", "{run}");
    assert_eq!(run["run"]["created"], 4, "{run}");
    // Only a running run can be cancelled; another id is not found.
    let ended = api.post(&format!("/runs/{run_id}/cancel")).await;
    assert!(
        message(409, &ended).contains("only a running run"),
        "{ended:?}"
    );
    message(404, &api.post("/runs/999999/cancel").await);
    message(404, &api.get("/runs/999999/events").await);
    assert_eq!(api.accounts().await.len(), 4);
    // Without the preference: the answer is the finished run, as before.
    let outcome = ok(api.post("/sync").await);
    assert_eq!(
        (outcome["status"].as_str(), &outcome["unchanged"]),
        (Some("completed"), &json!(5))
    );
}

async fn company_sync_creates_accounts_and_records_the_run(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let outcome = ok(api.post("/sync").await);
    assert_eq!(outcome["status"], "completed");
    assert_eq!(
        (
            &outcome["created"],
            &outcome["updated"],
            &outcome["deprovisioned"],
            &outcome["errors"],
            &outcome["held"]
        ),
        (&json!(4), &json!(0), &json!(0), &json!(0), &json!(0))
    );
    let accounts = api.accounts().await;
    assert_eq!(accounts.len(), 4, "erin is inactive: no account");
    let alice = &accounts["alice@contoso.com"];
    assert_eq!(alice["user_plan"], "Sales Premium");
    assert_eq!(alice["owner_company"], "Contoso Ltd");
    assert_eq!(alice["secondary_groups"], json!(["EMEA"]));
    assert_eq!(alice["staged_user_id"], api.id("alice"));
    assert_eq!(alice["external_id"], "ext-alice");
    assert_eq!(alice["active"], true);
    let pk = alice["pk"].as_i64().unwrap();
    assert_eq!(ok(api.get(&format!("/accounts/{pk}")).await), *alice);
    let unknown = api.get("/accounts/999999").await;
    assert_eq!(message(404, &unknown), "no account 999999");
    let inactive = ok(api.get_with("/accounts", &[("active", "false")]).await);
    assert_eq!(inactive["accounts"], json!([]));
    let linked = ok(api.get_with("/accounts", &[("linked", "true")]).await);
    assert_eq!(linked["accounts"].as_array().unwrap().len(), 4);
    let bad = api.get_with("/accounts", &[("active", "yes")]).await;
    assert!(message(400, &bad).contains("\"yes\" is not true or false"));

    // The run is recorded, with what it did to each user.
    let runs = ok(api.get("/runs").await);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);
    let run = &runs["runs"][0];
    assert_eq!(run["id"], outcome["run_id"]);
    assert_eq!(run["trigger"], "manual_company");
    assert_eq!(run["status"], "completed");
    assert_eq!(run["created"], 4);
    let detail = ok(api.get(&format!("/runs/{}", outcome["run_id"])).await);
    assert_eq!(detail["run"], *run);
    let users = detail["users"].as_array().unwrap();
    assert_eq!(users.len(), 4);
    assert!(users.iter().all(|u| u["outcome"] == "created"));
    let unknown = api.get("/runs/424242").await;
    assert_eq!(message(404, &unknown), "no run 424242");

    // Syncing again changes nothing; the preview agrees.
    let again = ok(api.post("/sync").await);
    assert_eq!(again["created"], 0);
    assert_eq!(again["unchanged"], 5);
    let limited = ok(api.get_with("/runs", &[("limit", "1")]).await);
    assert_eq!(limited["runs"].as_array().unwrap().len(), 1);
    assert_eq!(limited["runs"][0]["id"], again["run_id"]);
    let preview = ok(api
        .get_with("/preview", &[("filter", "action:not_equals:unchanged")])
        .await);
    assert_eq!(preview["total_items"], 0);
}

async fn syncing_one_user_changes_only_that_user(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    // By userName, before any company sync: only bob gets an account.
    let outcome = ok(api.post("/sync/users/bob@contoso.com").await);
    assert_eq!(outcome["created"], 1);
    let accounts = api.accounts().await;
    assert_eq!(accounts.keys().collect::<Vec<_>>(), ["bob@contoso.com"]);
    ok(api.post("/sync").await);
    // New rules change the Sales role; syncing alice (by id) changes alice only.
    ok(api.put("/catalog/role/Sales%20lead", json!({})).await);
    let rules = RULES.replace("role: \"Sales user\"", "role: \"Sales lead\"");
    ok(api
        .send(Method::PUT, "/rules", &[], Body::Yaml(rules))
        .await);
    let before = api.accounts().await;
    let outcome = ok(api.post(&format!("/sync/users/{}", api.id("alice"))).await);
    assert_eq!(
        (outcome["updated"].clone(), outcome["created"].clone()),
        (json!(1), json!(0))
    );
    let after = api.accounts().await;
    assert_eq!(after["alice@contoso.com"]["role"], "Sales lead");
    assert_eq!(after["bob@contoso.com"]["role"], "Sales user");
    for name in ["bob@contoso.com", "carol@contoso.com", "dave@contoso.com"] {
        assert_eq!(after[name], before[name], "{name} untouched");
    }
    let run = ok(api.get(&format!("/runs/{}", outcome["run_id"])).await);
    assert_eq!(run["run"]["trigger"], "manual_user");
    assert_eq!(usernames(&run["users"]), ["alice@contoso.com"]);
    let runs = ok(api.get("/runs").await)["runs"].as_array().unwrap().len();
    let unknown = api.post("/sync/users/nobody@contoso.com").await;
    assert!(message(404, &unknown).contains("nobody@contoso.com"));
    let after = ok(api.get("/runs").await)["runs"].as_array().unwrap().len();
    assert_eq!(after, runs, "a typo leaves no failed run behind");
}

/// A synced company whose guard holds 3 deprovisions of 4 accounts: the run's id.
async fn held_run(api: &Api) -> i64 {
    ok(api.post("/sync").await);
    api.settings(50, 2).await;
    for user in ["bob", "carol", "dave"] {
        deactivate_over_scim(&api.s, api.id(user)).await;
    }
    let outcome = ok(api.post("/sync").await);
    assert_eq!(outcome["status"], "held", "{outcome}");
    assert_eq!(outcome["held"], 3);
    assert_eq!(outcome["deprovisioned"], 0);
    let accounts = api.accounts().await;
    assert!(
        accounts.values().all(|a| a["active"] == true),
        "nothing applied yet"
    );
    let detail = ok(api.get(&format!("/runs/{}", outcome["run_id"])).await);
    assert_eq!(detail["run"]["status"], "held");
    let held: Vec<&Value> = detail["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["outcome"] == "held")
        .collect();
    assert_eq!(held.len(), 3);
    outcome["run_id"].as_i64().unwrap()
}

async fn approving_a_held_run_deprovisions(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let run = held_run(&api).await;
    let approved = ok(api.post(&format!("/runs/{run}/approve")).await);
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["deprovisioned"], 3);
    let accounts = api.accounts().await;
    for name in ["bob@contoso.com", "carol@contoso.com", "dave@contoso.com"] {
        assert_eq!(accounts[name]["active"], false, "{name}");
        assert!(accounts[name]["deactivated_at"].is_string(), "{name}");
    }
    assert_eq!(accounts["alice@contoso.com"]["active"], true);
    let inactive = ok(api.get_with("/accounts", &[("active", "false")]).await);
    assert_eq!(inactive["accounts"].as_array().unwrap().len(), 3);
    assert_eq!(
        ok(api.get(&format!("/runs/{run}")).await)["run"]["status"],
        "approved"
    );
    // Not held any more: approving or rejecting again is a conflict.
    let again = api.post(&format!("/runs/{run}/approve")).await;
    assert!(message(409, &again).contains("not held"));
    let reject = api.post(&format!("/runs/{run}/reject")).await;
    message(409, &reject);
    let unknown = api.post("/runs/987654/approve").await;
    message(404, &unknown);
}

async fn rejecting_a_held_run_keeps_accounts_active(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let run = held_run(&api).await;
    let rejected = api.post(&format!("/runs/{run}/reject")).await;
    assert_eq!(rejected, (204, Value::Null));
    let accounts = api.accounts().await;
    assert!(accounts.values().all(|a| a["active"] == true));
    let detail = ok(api.get(&format!("/runs/{run}")).await);
    assert_eq!(detail["run"]["status"], "rejected");
    // A run that completed was never held: 409.
    let first = ok(api.get("/runs").await)["runs"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let completed = api.post(&format!("/runs/{first}/approve")).await;
    assert!(message(409, &completed).contains("is completed, not held"));
    let again = api.post(&format!("/runs/{run}/approve")).await;
    assert!(message(409, &again).contains("rejected"));
}

async fn settings_are_saved_and_bad_ones_refused(backend: DbBackend) {
    let Some(api) = Api::empty(backend).await else {
        return;
    };
    let defaults = ok(api.get("/settings").await);
    assert_eq!(
        defaults,
        json!({"user_sync_active": false, "schedule": "*/15 * * * *", "debounce_seconds": 30,
               "guard_percent": 10, "guard_minimum": 5, "welcome_email": false, "sign_in_url": null})
    );
    let new = json!({"user_sync_active": true, "schedule": "0 6 * * 1-5", "debounce_seconds": 60,
                     "guard_percent": 20, "guard_minimum": 3, "welcome_email": true,
                     "sign_in_url": "https://crm.acme.no/login"});
    assert_eq!(ok(api.put("/settings", new.clone()).await), new);
    assert_eq!(ok(api.get("/settings").await), new);

    let mut cron = new.clone();
    cron["schedule"] = json!("every day");
    let text = message(400, &api.put("/settings", cron).await);
    assert!(text.contains("schedule \"every day\""), "{text}");
    let mut hour = new.clone();
    hour["schedule"] = json!("0 25 * * *");
    let text = message(400, &api.put("/settings", hour).await);
    assert!(text.contains("hour: 25 is outside 0-23"), "{text}");
    let mut guard = new.clone();
    guard["guard_percent"] = json!(150);
    assert!(message(400, &api.put("/settings", guard).await).contains("guard_percent"));
    let mut typo = new.clone();
    typo["schedul"] = json!("* * * * *");
    assert!(message(400, &api.put("/settings", typo).await).contains("unknown field `schedul`"));
    let partial = api.put("/settings", json!({"schedule": "* * * * *"})).await;
    assert!(message(400, &partial).contains("missing field"));
    let mut no_url = new.clone();
    no_url["sign_in_url"] = json!(null);
    assert!(message(400, &api.put("/settings", no_url).await).contains("sign_in_url"));
    let yaml = api
        .send(
            Method::PUT,
            "/settings",
            &[],
            Body::Yaml("schedule: x".into()),
        )
        .await;
    message(415, &yaml);
    assert_eq!(ok(api.get("/settings").await), new, "nothing changed");
}

async fn restart_clears_staged_users_and_relinks_accounts(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    ok(api.post("/sync").await);
    let before = api.accounts().await;
    let restarted = ok(api.post("/restart").await);
    assert_eq!(restarted, json!({"unlinked": 4}));
    assert_eq!(
        ok(api.get("/users").await),
        json!({"total": 0, "users": []})
    );
    assert_eq!(ok(api.get("/groups").await)["total"], 0);
    let after = api.accounts().await;
    assert_eq!(after.len(), 4, "accounts are kept");
    for (name, account) in &after {
        assert_eq!(account["staged_user_id"], Value::Null, "{name}");
        assert_eq!(account["active"], true, "{name}");
        assert_eq!(account["pk"], before[name]["pk"]);
    }
    let unlinked = ok(api.get_with("/accounts", &[("linked", "false")]).await);
    assert_eq!(unlinked["accounts"].as_array().unwrap().len(), 4);
    let preview = ok(api.get("/preview").await);
    assert_eq!(preview["totals"]["awaiting_relink"], 4);
    assert_eq!(
        preview["totals"]["deprovision"], 0,
        "nobody is deprovisioned"
    );

    // Entra sends alice again (a new staged id, the same externalId).
    let new_id = scim_user(&api.s, "alice@contoso.com", "ext-alice", true).await;
    assert_ne!(new_id, api.id("alice"));
    let outcome = ok(api.post("/sync").await);
    assert_eq!(outcome["created"], 0, "{outcome}");
    assert_eq!(outcome["deprovisioned"], 0, "{outcome}");
    let relinked = api.accounts().await;
    assert_eq!(relinked.len(), 4, "no duplicate");
    let alice = &relinked["alice@contoso.com"];
    assert_eq!(alice["pk"], before["alice@contoso.com"]["pk"]);
    assert_eq!(alice["staged_user_id"], new_id);
    assert_eq!(alice["active"], true);
    // Without her group she is on the Standard plan now.
    assert_eq!(alice["user_plan"], "Standard");
    assert_eq!(relinked["bob@contoso.com"]["staged_user_id"], Value::Null);
}

/// A catalogue change that would leave the saved rules naming nothing is refused, with
/// the rule and its line, and changes nothing.
async fn catalogue_changes_that_break_the_saved_rules_are_refused(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let before = ok(api.get("/catalog").await);
    let delete = api
        .send(
            Method::DELETE,
            "/catalog/role/Service%20user",
            &[],
            Body::Empty,
        )
        .await;
    let text = message(409, &delete);
    assert!(
        text.contains("rule \"Service\"") && text.contains("\"Service user\""),
        "{text}"
    );
    let replace = api
        .put(
            "/catalog",
            json!({"user_plans": ["Standard"], "roles": ["Sales user"]}),
        )
        .await;
    let text = message(409, &replace);
    assert!(text.contains("change the rules first"), "{text}");
    assert_eq!(ok(api.get("/catalog").await), before, "nothing changed");
    // An entry no rule names can go.
    ok(api.put("/catalog/company/Fabrikam", json!({})).await);
    let unused = api
        .send(
            Method::DELETE,
            "/catalog/company/Fabrikam",
            &[],
            Body::Empty,
        )
        .await;
    assert_eq!(unused.0, 204);
}

/// What PostgreSQL would refuse (NUL, index entries too large) is refused up front, on
/// both databases alike: 400 for a body or query, 404 for a path naming what cannot exist;
/// never a 500, and nothing changes.
async fn values_no_database_can_store_are_refused_alike(backend: DbBackend) {
    let Some(api) = Api::empty(backend).await else {
        return;
    };
    ok(api
        .put(
            "/catalog",
            json!({"user_plans": [{"name": "Standard", "seats": 5}], "roles": [{"name": "User"}]}),
        )
        .await);
    let settings = json!({"user_sync_active": false, "schedule": "0 6 * * *", "debounce_seconds": 30,
                          "guard_percent": 10, "guard_minimum": 5, "welcome_email": true,
                          "sign_in_url": "https://crm.acme.no/login"});
    ok(api.put("/settings", settings.clone()).await);
    let before = (
        ok(api.get("/catalog").await),
        ok(api.get("/settings").await),
    );

    let megabyte = "p".repeat(1_000_000);
    let two_kb = "p".repeat(2048);
    let mut nul_url = settings.clone();
    nul_url["sign_in_url"] = json!("https://crm.acme.no/\u{0}login");
    let bodies: Vec<(&str, Method, String, Body, &str)> = vec![
        (
            "a 1 MB catalogue name",
            Method::PUT,
            "/catalog".into(),
            Body::Json(json!({"user_plans": [{"name": megabyte}]})),
            "at most 1024 bytes",
        ),
        (
            "a 2 KB catalogue name (YAML)",
            Method::PUT,
            "/catalog".into(),
            Body::Yaml(format!("user_plans: [{two_kb}]\n")),
            "at most 1024 bytes",
        ),
        (
            "a 2 KB catalogue name in the path",
            Method::PUT,
            format!("/catalog/role/{two_kb}"),
            Body::Empty,
            "at most 1024 bytes",
        ),
        (
            "a NUL in a catalogue name",
            Method::PUT,
            "/catalog".into(),
            Body::Json(json!({"roles": [{"name": "Us\u{0}er"}]})),
            "NUL",
        ),
        (
            "a NUL in sign_in_url",
            Method::PUT,
            "/settings".into(),
            Body::Json(nul_url),
            "sign_in_url",
        ),
        (
            "a NUL in a YAML rule set",
            Method::PUT,
            "/rules".into(),
            Body::Yaml("rules:\n  - name: \"A\\0\"\n    set: {role: User}\n\0".into()),
            "NUL",
        ),
    ];
    for (what, method, rest, body, says) in bodies {
        let got = api.send(method, &rest, &[], body).await;
        let text = message(400, &got);
        assert!(text.contains(says), "{what}: {text}");
    }
    // A NUL in the path names nothing; in the query it is a bad request.
    for (method, rest) in [
        (Method::GET, "/preview/users/%00"),
        (Method::POST, "/sync/users/a%00b"),
        (Method::GET, "/groups/%00/members"),
        (Method::PUT, "/catalog/role/Us%00er"),
        (Method::DELETE, "/catalog/role/%00"),
        (Method::GET, "/runs/%00"),
    ] {
        let got = api
            .call(
                Some(&api.token),
                method.clone(),
                &api.path(rest),
                &[],
                Body::Empty,
            )
            .await;
        message(404, &got);
    }
    for (rest, name) in [
        ("/users", "search"),
        ("/groups", "search"),
        ("/preview", "filter"),
    ] {
        let got = api.get_with(rest, &[(name, "a\u{0}b")]).await;
        assert!(message(400, &got).contains("NUL"), "{rest}?{name}");
    }
    let after = (
        ok(api.get("/catalog").await),
        ok(api.get("/settings").await),
    );
    assert_eq!(before, after, "nothing changed");
}

/// The draft and the versions over HTTP: a draft is saved (only when it compiles) and
/// previewed while sync keeps the published rules; publishing needs a comment and keeps
/// a version; versions are listed, read, compared and restored.
async fn rule_drafts_and_versions_over_the_api(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let none = api.get("/rules/draft").await;
    assert!(message(404, &none).contains("no draft"));
    // Syncing with a draft there is not: 404; rules that are neither: 400.
    let no_draft = api
        .send(Method::POST, "/sync", &[("rules", "draft")], Body::Empty)
        .await;
    assert!(message(404, &no_draft).contains("no draft"));
    let bad = api
        .send(Method::POST, "/sync", &[("rules", "v2")], Body::Empty)
        .await;
    assert!(message(400, &bad).contains("published or draft"));
    let versions = ok(api.get("/rules/versions").await);
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        1,
        "{versions}"
    );
    let first = versions["versions"][0]["version"].as_i64().unwrap();
    let by = versions["versions"][0]["published_by"].as_str().unwrap();
    assert!(
        by.starts_with("admin API token ") && by.ends_with("(test admin)"),
        "{by}"
    );

    // A draft with Sales on Standard.
    let standard = RULES.replace("user_plan: \"Sales Premium\"", "user_plan: \"Standard\"");
    let broken = RULES.replace("\"Sales Premium\"", "\"Platinum\"");
    let refused = api
        .send(Method::PUT, "/rules/draft", &[], Body::Yaml(broken))
        .await;
    assert!(message(400, &refused).contains("Platinum"));
    // Begun from a published version older than the current one: refused.
    let stale = api
        .send(
            Method::PUT,
            "/rules/draft",
            &[("based_on", &(first - 1).to_string())],
            Body::Yaml(standard.clone()),
        )
        .await;
    assert!(message(409, &stale).contains("rule set"), "{stale:?}");
    let draft = ok(api
        .send(
            Method::PUT,
            "/rules/draft",
            &[("based_on", &first.to_string())],
            Body::Yaml(standard),
        )
        .await);
    assert_eq!(draft["changes"]["changed"], json!(["Sales"]), "{draft}");
    assert_eq!(draft["base_version"], first);
    let plan_of = |preview: &Value| {
        preview["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["username"] == "alice@contoso.com")
            .map(|i| i["target"]["user_plan"].clone())
            .unwrap()
    };
    let drafted = ok(api.get_with("/preview", &[("rules", "draft")]).await);
    assert_eq!(plan_of(&drafted), "Standard");
    // One user synced with the draft: the run says which rules it used.
    let synced = ok(api
        .send(
            Method::POST,
            "/sync/users/alice@contoso.com",
            &[("rules", "draft")],
            Body::Empty,
        )
        .await);
    let run = ok(api.get(&format!("/runs/{}", synced["run_id"])).await);
    assert_eq!(run["run"]["rules"], "draft", "{run}");
    let published = ok(api.get("/preview").await);
    assert_eq!(
        plan_of(&published),
        "Sales Premium",
        "sync keeps the published set"
    );
    let bad = api.get_with("/preview", &[("rules", "mine")]).await;
    assert!(message(400, &bad).contains("rules=published|draft"));

    // Publish: a comment is required.
    let empty = api
        .send(
            Method::POST,
            "/rules/draft/publish",
            &[],
            Body::Json(json!({"comment": ""})),
        )
        .await;
    assert!(message(400, &empty).contains("comment"));
    let done = ok(api
        .send(
            Method::POST,
            "/rules/draft/publish",
            &[],
            Body::Json(json!({"comment": "Sales to Standard"})),
        )
        .await);
    let second = done["version"].as_i64().unwrap();
    assert!(second > first);
    assert_eq!(plan_of(&ok(api.get("/preview").await)), "Standard");
    let listed = ok(api.get("/rules/versions").await);
    assert_eq!(listed["versions"][0]["comment"], "Sales to Standard");
    let old = ok(api.get(&format!("/rules/versions/{first}")).await);
    assert!(old["yaml"].as_str().unwrap().contains("Sales Premium"));
    let missing = api.get("/rules/versions/999").await;
    message(404, &missing);
    let diff = ok(api
        .get_with(
            "/rules/diff",
            &[("from", &first.to_string()), ("to", "published")],
        )
        .await);
    assert_eq!(diff["changed"], json!(["Sales"]), "{diff}");
    let bad = api.get_with("/rules/diff", &[("from", "yesterday")]).await;
    assert!(message(400, &bad).contains("yesterday"));

    // Restore the first version as the draft, discard it, restore and publish it.
    let restored = ok(api
        .send(
            Method::POST,
            &format!("/rules/versions/{first}/restore"),
            &[],
            Body::Empty,
        )
        .await);
    assert_eq!(restored["base_version"], second);
    let discarded = api
        .send(Method::DELETE, "/rules/draft", &[], Body::Empty)
        .await;
    assert_eq!(discarded.0, 204, "{}", discarded.1);
    message(404, &api.get("/rules/draft").await);
    ok(api
        .send(
            Method::POST,
            &format!("/rules/versions/{first}/restore"),
            &[],
            Body::Empty,
        )
        .await);
    ok(api
        .send(
            Method::POST,
            "/rules/draft/publish",
            &[],
            Body::Json(json!({"comment": "back"})),
        )
        .await);
    assert_eq!(plan_of(&ok(api.get("/preview").await)), "Sales Premium");

    // The audit log has each step, by this token, from this address.
    let log = ok(api.get_with("/audit", &[("area", "rules")]).await);
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "rules.publish",
            "rules.restore",
            "rules.discard",
            "rules.restore",
            "rules.publish",
            "rules.draft",
            "rules.publish",
        ],
        "{log}"
    );
    let newest = &entries[0];
    assert_eq!(newest["who"].as_str(), Some(by), "{newest}");
    assert_eq!(
        (newest["via"].as_str(), newest["from"].as_str()),
        (Some("api"), Some("127.0.0.1"))
    );
    assert_eq!(
        newest["subject"],
        json!(format!("version {}: back", second + 1))
    );
    let paged = ok(api.get_with("/audit", &[("limit", "2")]).await);
    let next = paged["next_before"].as_i64().unwrap();
    let rest = ok(api
        .get_with("/audit", &[("before", &next.to_string())])
        .await);
    assert_eq!(rest["entries"][0]["action"], entries[2]["action"]);
    let csv = (api.s.client)
        .get(
            api.s
                .url("/api/v1/tenants/acme/audit?format=csv&area=rules"),
        )
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv_text = csv.text().await.unwrap();
    assert!(csv_text.starts_with("\"id\",\"at\",\"who\""), "{csv_text}");
    assert_eq!(csv_text.lines().count(), entries.len() + 1);
    let bad = api.get_with("/audit", &[("area", "weather")]).await;
    assert!(message(400, &bad).contains("sign_in"));
    let bad = api.get_with("/audit", &[("since", "yesterday")]).await;
    assert!(message(400, &bad).contains("not a date"));
}

/// The CRM target over the API: set (refused inputs change nothing), Test connection
/// against a second scimgate with a wrong and then the right token, the queue filled by
/// a sync, dead pushes listed and retried, versions, the audit log, and clearing.
async fn crm_target_is_set_tested_and_cleared_over_the_api(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let Some(crm) = TestServer::start(backend).await else {
        return;
    };
    let none = api.get("/target").await;
    assert_eq!(
        ok(none),
        json!({"target": null, "queue": {"pending": 0, "delivered": 0, "dead": 0}, "last_reconcile": null})
    );

    let url = crm.scim("");
    for (body, says) in [
        (json!({"kind": "crm", "url": url}), "unknown kind \"crm\""),
        (
            json!({"kind": "scim", "url": url}),
            "needs the bearer token",
        ),
        (
            json!({"kind": "scim", "url": url, "token": "  "}),
            "token: give the bearer token",
        ),
        (
            json!({"kind": "scim", "url": "ftp://127.0.0.1/scim", "token": "t"}),
            "url: ",
        ),
        (
            json!({"kind": "webhook", "url": url, "token": "t"}),
            "takes no token",
        ),
        (
            json!({"kind": "scim", "url": url, "token": "t", "headers": {}}),
            "headers",
        ),
        (
            json!({"kind": "scim", "url": url, "token": "t", "oauth2": {"token_url": "http://127.0.0.1:9/token", "client_id": "c", "client_secret": "s"}}),
            "not both",
        ),
        (
            json!({"kind": "scim", "url": url, "oauth2": {"token_url": "http://127.0.0.1:9/token", "client_id": "c", "client_secret": " "}}),
            "client_secret: give the client's secret",
        ),
        (
            json!({"kind": "scim", "url": url, "oauth2": {"token_url": "file:///etc/passwd", "client_id": "c", "client_secret": "s"}}),
            "token_url: ",
        ),
    ] {
        let refused = api.put("/target", body.clone()).await;
        assert!(message(400, &refused).contains(says), "{body}: {refused:?}");
    }
    assert_eq!(
        ok(api.get("/target").await)["target"],
        Value::Null,
        "nothing saved"
    );

    // A wrong token: saved (the admin may not know yet), and Test connection says why.
    let wrong = json!({"kind": "scim", "url": url, "token": "not-the-token"});
    let saved = ok(api.put("/target", wrong).await);
    assert_eq!(saved["target"]["kind"], "scim");
    assert_eq!(saved["target"]["url"], json!(url));
    assert!(saved.get("secret").is_none(), "{saved}");
    let test = ok(api.post("/target/test").await);
    assert_eq!(test["ok"], false, "{test}");
    assert!(test["detail"].as_str().unwrap().contains("401"), "{test}");

    let right = json!({"kind": "scim", "url": url, "token": crm.token});
    let saved = ok(api.put("/target", right).await);
    let shown = serde_json::to_string(&ok(api.get("/target").await)).unwrap();
    assert!(!shown.contains(&crm.token) && !saved.to_string().contains(&crm.token));
    let test = ok(api.post("/target/test").await);
    assert_eq!(test["ok"], true, "{test}");
    let detail = test["detail"].as_str().unwrap();
    assert!(detail.contains("updates with PATCH"), "{detail}");

    // A write based on an old version is refused and changes nothing.
    let stale = (api.s.client.put(api.s.url("/api/v1/tenants/acme/target")))
        .bearer_auth(&api.token)
        .header("if-match", "\"1\"")
        .header("content-type", "application/json")
        .body(json!({"kind": "webhook", "url": "http://127.0.0.1:9/hook"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 409);
    assert_eq!(ok(api.get("/target").await)["target"]["kind"], "scim");

    // A sync queues a push per account it changes.
    assert_eq!(ok(api.post("/sync").await)["created"], 4);
    let queue = &ok(api.get("/target").await)["queue"];
    assert_eq!(queue, &json!({"pending": 4, "delivered": 0, "dead": 0}));

    // A push the target refused for good is listed with why, and retried on request.
    let claimed = (api.s.store.claim_pushes("test", i64::MAX / 2, 1, 1).await).unwrap();
    let refused = scimgate_store::crm_push::PushAttempt::Failed {
        error: "the target answered 400: bad userName",
        retry_at_ms: None,
    };
    assert!((api
        .s
        .store
        .settle_push(claimed[0].id, "test", refused)
        .await)
        .unwrap());
    let dead = ok(api.get("/target/dead").await);
    assert_eq!(dead["pushes"].as_array().unwrap().len(), 1, "{dead}");
    assert_eq!(dead["pushes"][0]["account_pk"], claimed[0].account_pk);
    assert_eq!(
        dead["pushes"][0]["last_error"],
        "the target answered 400: bad userName"
    );
    assert!(dead["pushes"][0]["username"]
        .as_str()
        .unwrap()
        .ends_with("@contoso.com"));
    assert_eq!(ok(api.post("/target/retry").await), json!({"retried": 1}));
    assert_eq!(ok(api.get("/target").await)["queue"]["dead"], 0);

    // OAuth 2.0 client credentials: the client is shown, never its secret.
    let oauth2 = json!({"kind": "scim", "url": url, "oauth2": {"token_url": "http://127.0.0.1:9/token", "client_id": "scimgate", "client_secret": "its-secret", "scope": "scim"}});
    let saved = ok(api.put("/target", oauth2).await);
    assert_eq!(
        saved["target"]["oauth2"],
        json!({"token_url": "http://127.0.0.1:9/token", "client_id": "scimgate", "scope": "scim"})
    );
    assert!(!ok(api.get("/target").await)
        .to_string()
        .contains("its-secret"));

    // A webhook target: its signing secret is shown once.
    let hook = json!({"kind": "webhook", "url": "http://127.0.0.1:9/hook"});
    let saved = ok(api.put("/target", hook).await);
    let secret = saved["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64);
    assert!(!ok(api.get("/target").await).to_string().contains(secret));

    assert_eq!(
        api.send(Method::DELETE, "/target", &[], Body::Empty)
            .await
            .0,
        204
    );
    assert_eq!(
        ok(api.get("/target").await)["queue"]["pending"],
        0,
        "the queue went with it"
    );
    let again = api.send(Method::DELETE, "/target", &[], Body::Empty).await;
    assert_eq!(message(404, &again), "the tenant has no CRM target");
    assert_eq!(
        message(404, &api.post("/target/test").await),
        "the tenant has no CRM target"
    );

    let log = ok(api.get_with("/audit", &[("area", "crm_target")]).await);
    let actions: Vec<&str> = (log["entries"].as_array().unwrap().iter())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "crm_target.clear",
            "crm_target.set",
            "crm_target.set",
            "crm_target.retry",
            "crm_target.test",
            "crm_target.set",
            "crm_target.test",
            "crm_target.set",
        ]
    );
    assert!(
        !log.to_string().contains(&crm.token),
        "no token in the audit log"
    );
}

/// Pushes everything due with the server's own key (the test's stand-in for serve's
/// worker; every target here is on 127.0.0.1).
async fn push_all_due(api: &Api) {
    use scimgate_crm::push::{KeySource, Outbound, PushConfig, PushWorker};
    let loopback = |url: &str| match url.starts_with("http://127.0.0.1:") {
        true => Ok(()),
        false => Err(format!("{url} is not on this machine")),
    };
    let worker = PushWorker::new(
        api.s.store.clone(),
        std::sync::Arc::new(SystemClock),
        KeySource::File(api.s.key_file.clone()),
        Outbound {
            http: reqwest::Client::new(),
            permits: std::sync::Arc::new(loopback),
        },
        "admin-test".into(),
        PushConfig::default(),
    );
    while worker.run_once().await.unwrap() > 0 {}
}

/// Reconcile over the API against a second scimgate: a user edited by hand, one deleted
/// and one added there are reported (edited with the attribute, missing, extra), fixed
/// one row and then all (the extra one left alone), and the target then agrees.
async fn drift_on_the_target_is_reported_and_fixed(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let Some(crm) = TestServer::start(backend).await else {
        return;
    };
    let target = json!({"kind": "scim", "url": crm.scim(""), "token": crm.token});
    ok(api.put("/target", target).await);
    assert_eq!(ok(api.post("/sync").await)["created"], 4);
    push_all_due(&api).await;
    let in_step = ok(api.get("/target/drift").await);
    assert_eq!(
        (&in_step["accounts"], &in_step["target_users"]),
        (&json!(4), &json!(4))
    );
    assert_eq!(in_step["drift"], json!([]), "{in_step}");

    // By hand on the CRM: alice renamed, bob deleted, mallory added.
    let id_of = |list: &Value, name: &str| -> String {
        let users = list["Resources"].as_array().unwrap();
        let user = users.iter().find(|u| u["userName"] == name).unwrap();
        user["id"].as_str().unwrap().to_owned()
    };
    let (_, list) = crm.get("/Users").await;
    let (alice, bob) = (
        id_of(&list, "alice@contoso.com"),
        id_of(&list, "bob@contoso.com"),
    );
    let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Edited by hand"}]});
    assert_eq!(crm.patch(&format!("/Users/{alice}"), rename).await.0, 200);
    assert_eq!(crm.delete(&format!("/Users/{bob}")).await.0, 204);
    let mallory = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "mallory@contoso.com"});
    assert_eq!(crm.post("/Users", mallory).await.0, 201);

    let report = ok(api.get("/target/drift").await);
    let rows: Vec<(&str, &str)> = (report["drift"].as_array().unwrap().iter())
        .map(|d| (d["kind"].as_str().unwrap(), d["username"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            ("edited", "alice@contoso.com"),
            ("missing", "bob@contoso.com"),
            ("extra", "mallory@contoso.com"),
        ],
        "{report}"
    );
    let edited = &report["drift"][0];
    assert_eq!(edited["target_id"], json!(alice));
    assert_eq!(
        edited["differences"],
        json!([{"attribute": "displayName", "expected": "Display alice@contoso.com", "found": "Edited by hand"}])
    );

    let bad = api
        .send(
            Method::POST,
            "/target/drift/fix",
            &[],
            Body::Json(json!({})),
        )
        .await;
    assert!(message(400, &bad).contains("name what to fix"));
    let alice_pk = edited["account_pk"].clone();
    let one = json!({"accounts": [alice_pk]});
    let fixed = ok(api
        .send(Method::POST, "/target/drift/fix", &[], Body::Json(one))
        .await);
    assert_eq!(fixed, json!({"queued": 1}));
    push_all_due(&api).await;
    let (_, user) = crm.get(&format!("/Users/{alice}")).await;
    assert_eq!(user["displayName"], "Display alice@contoso.com");
    let left = ok(api.get("/target/drift").await)["drift"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(left, 2, "bob and mallory");

    let all = json!({"all": true});
    let fixed = ok(api
        .send(Method::POST, "/target/drift/fix", &[], Body::Json(all))
        .await);
    assert_eq!(
        fixed,
        json!({"queued": 1}),
        "bob; mallory is not scimgate's"
    );
    push_all_due(&api).await;
    let report = ok(api.get("/target/drift").await);
    assert_eq!(report["drift"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["drift"][0]["kind"], "extra");
    let log = ok(api.get_with("/audit", &[("area", "crm_target")]).await);
    assert_eq!(log["entries"][0]["action"], "crm_target.fix");

    // A target that refuses the token: 502, saying so.
    let wrong = json!({"kind": "scim", "url": crm.scim(""), "token": "not-the-token"});
    ok(api.put("/target", wrong).await);
    assert!(message(502, &api.get("/target/drift").await).contains("401"));
    // A webhook cannot be read back.
    ok(api
        .put(
            "/target",
            json!({"kind": "webhook", "url": "http://127.0.0.1:9/hook"}),
        )
        .await);
    assert!(message(400, &api.get("/target/drift").await).contains("cannot be read back"));
}

/// A mapping puts settings where the CRM wants them: role as nickName, primary group as
/// title (the rest as by default); a wrong one is refused naming its key; the pushed users
/// carry the mapped values and reconcile with the same mapping finds them in step.
async fn a_mapping_places_each_setting_on_the_target(backend: DbBackend) {
    let Some(api) = Api::ready(backend).await else {
        return;
    };
    let Some(crm) = TestServer::start(backend).await else {
        return;
    };
    let target = |mapping: &str| json!({"kind": "scim", "url": crm.scim(""), "token": crm.token, "mapping": mapping});
    let refused = api.put("/target", target("role: userName\n")).await;
    assert!(message(400, &refused).contains("mapping: role: userName is scimgate's own"));
    let refused = api.put("/target", target("roles: title\n")).await;
    assert!(message(400, &refused).contains("unknown field `roles`"));
    assert_eq!(ok(api.get("/target").await)["target"], Value::Null);

    let mapping = "role: nickName\nprimary_group: title\n";
    let saved = ok(api.put("/target", target(mapping)).await);
    assert_eq!(saved["target"]["mapping"], mapping);
    assert_eq!(ok(api.post("/sync").await)["created"], 4);
    push_all_due(&api).await;
    let (_, found) = crm
        .get("/Users?filter=userName%20eq%20%22alice@contoso.com%22")
        .await;
    let alice = &found["Resources"][0];
    assert_eq!(alice["nickName"], "Sales user", "the role: {alice}");
    assert_eq!(alice["title"], "Sales", "the primary group: {alice}");
    let enterprise = &alice["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(
        enterprise["organization"], "Contoso Ltd",
        "by default: {alice}"
    );
    assert!(enterprise.get("department").is_none(), "{alice}");
    let report = ok(api.get("/target/drift").await);
    assert_eq!(report["drift"], json!([]), "{report}");
}

on_both_backends!(
    a_mapping_places_each_setting_on_the_target,
    drift_on_the_target_is_reported_and_fixed,
    crm_target_is_set_tested_and_cleared_over_the_api,
    rule_drafts_and_versions_over_the_api,
    values_no_database_can_store_are_refused_alike,
    catalogue_changes_that_break_the_saved_rules_are_refused,
    auth_refuses_bad_tokens_and_hides_other_tenants,
    catalogue_is_replaced_edited_and_read,
    rules_are_saved_only_when_valid,
    rules_are_switched_and_reordered,
    staged_users_and_groups_are_searched_and_paged,
    preview_filters_with_every_operator,
    preview_sorts_and_pages,
    preview_refuses_bad_queries_with_a_message,
    draft_preview_differs_from_saved_and_saves_nothing,
    preview_of_one_user_explains_each_value,
    company_sync_creates_accounts_and_records_the_run,
    a_company_sync_started_async_is_polled_to_its_end,
    syncing_one_user_changes_only_that_user,
    approving_a_held_run_deprovisions,
    rejecting_a_held_run_keeps_accounts_active,
    settings_are_saved_and_bad_ones_refused,
    restart_clears_staged_users_and_relinks_accounts,
);
