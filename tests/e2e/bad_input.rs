//! docs/design.md §8: every malformed request gets a SCIM error with the right status and
//! `scimType`, never a 500 and never a partial write. One table of requests, run in a
//! loop against one server per backend; after every row the tenant's Users and Groups
//! (with `meta.version`) and its change sequence must be exactly what they were before.

use reqwest::Method;
use scimgate_testkit::{entra_user, on_both_backends, DbBackend, TestServer};
use serde_json::{json, Value};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// What the test server accepts (`max_body_bytes` in the test kit).
const BODY_LIMIT: usize = 1024 * 1024;

fn entra_group(display_name: &str) -> Value {
    json!({
        "schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": display_name,
        "meta": {"resourceType": "Group"}
    })
}

fn ops(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

fn search(body: Value) -> Value {
    let mut body = body;
    body["schemas"] = json!([SEARCH]);
    body
}

/// A header the row sends: the harness default, none at all, or this exact value.
#[derive(Clone)]
enum Header {
    Default,
    Omit,
    Set(String),
}

struct Row {
    what: String,
    method: Method,
    /// Relative to the tenant's SCIM base (`/scim/v2/acme`), unless it starts with `/scim/`.
    path: String,
    query: Vec<(&'static str, String)>,
    content_type: Header,
    auth: Header,
    body: Option<Vec<u8>>,
    headers: Vec<(&'static str, String)>,
    status: u16,
    scim_type: Option<&'static str>,
    /// Words the error's `detail` must contain (the attribute or id it names).
    detail: Option<String>,
}

fn row(what: impl Into<String>, method: Method, path: impl Into<String>) -> Row {
    Row {
        what: what.into(),
        method,
        path: path.into(),
        query: Vec::new(),
        content_type: Header::Default,
        auth: Header::Default,
        body: None,
        headers: Vec::new(),
        status: 0,
        scim_type: None,
        detail: None,
    }
}

impl Row {
    fn raw(mut self, body: impl Into<Vec<u8>>) -> Row {
        self.body = Some(body.into());
        self
    }
    fn json(self, body: Value) -> Row {
        self.raw(body.to_string())
    }
    fn q(mut self, name: &'static str, value: impl Into<String>) -> Row {
        self.query.push((name, value.into()));
        self
    }
    fn content_type(mut self, value: Header) -> Row {
        self.content_type = value;
        self
    }
    fn auth(mut self, value: Header) -> Row {
        self.auth = value;
        self
    }
    /// The expected status and `scimType` (`None`: the body must carry no `scimType`).
    fn expect(mut self, status: u16, scim_type: Option<&'static str>) -> Row {
        self.status = status;
        self.scim_type = scim_type;
        self
    }
    fn bad(self, scim_type: &'static str) -> Row {
        self.expect(400, Some(scim_type))
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Row {
        self.headers.push((name, value.into()));
        self
    }
    fn naming(mut self, words: impl Into<String>) -> Row {
        self.detail = Some(words.into());
        self
    }
}

fn set(value: impl Into<String>) -> Header {
    Header::Set(value.into())
}

/// Everything the tenant holds, as a client reads it (including `meta.version`).
async fn snapshot(s: &TestServer) -> Value {
    let (status, users) = s.get("/Users?count=1000").await;
    assert_eq!(status, 200, "{users}");
    let (status, groups) = s.get("/Groups?count=1000").await;
    assert_eq!(status, 200, "{groups}");
    let seq = s.store.change_seq(&s.tenant).await.unwrap();
    json!({"users": users, "groups": groups, "change_seq": seq})
}

/// Sends the row; returns the problems found with the answer (empty: the row passes).
async fn check(s: &TestServer, row: &Row) -> Vec<String> {
    let url = if row.path.starts_with("/scim/") {
        s.url(&row.path)
    } else {
        s.scim(&row.path)
    };
    // A fresh connection per row: a connection the server closed after refusing an
    // oversized body must not be reused by the next request.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut req = client.request(row.method.clone(), url);
    if !row.query.is_empty() {
        req = req.query(&row.query);
    }
    match &row.auth {
        Header::Default => req = req.bearer_auth(&s.token),
        Header::Omit => {}
        Header::Set(v) => req = req.header("authorization", v.as_str()),
    }
    match (&row.content_type, &row.body) {
        (Header::Default, Some(_)) => req = req.header("content-type", "application/scim+json"),
        (Header::Set(v), _) => req = req.header("content-type", v.as_str()),
        _ => {}
    }
    for (name, value) in &row.headers {
        req = req.header(*name, value.as_str());
    }
    if let Some(body) = &row.body {
        req = req.body(body.clone());
    }
    // A server refusing an oversized body answers before reading it and then closes the
    // connection; the client may see that close before the answer. Retry only that case.
    let attempts = if row.status == 413 { 3 } else { 1 };
    let mut sent = None;
    for _ in 0..attempts {
        match req.try_clone().unwrap().send().await {
            Ok(resp) => {
                sent = Some(Ok(resp));
                break;
            }
            Err(e) => sent = Some(Err(e)),
        }
    }
    let resp = match sent.unwrap() {
        Ok(resp) => resp,
        Err(e) => return vec![format!("request failed: {e}")],
    };
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("<not text>").to_owned())
    };
    let content_type = header("content-type");
    let challenge = header("www-authenticate");
    let text = resp.text().await.unwrap_or_default();
    let mut problems = Vec::new();
    if status != row.status {
        problems.push(format!("status {status}, expected {}", row.status));
    }
    if content_type.as_deref() != Some("application/scim+json") {
        problems.push(format!("content-type {content_type:?}"));
    }
    if status == 401 && challenge.is_none() {
        problems.push("401 without WWW-Authenticate".into());
    }
    let body: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("body is not JSON ({e})"));
            Value::Null
        }
    };
    if body["schemas"] != json!([ERROR]) {
        problems.push("schemas is not [Error]".into());
    }
    if body["status"] != json!(status.to_string()) {
        problems.push(format!(
            "\"status\" is {}, expected the string {status:?}",
            body["status"]
        ));
    }
    let scim_type = body.get("scimType").and_then(Value::as_str);
    if scim_type != row.scim_type {
        problems.push(format!(
            "scimType {scim_type:?}, expected {:?}",
            row.scim_type
        ));
    }
    if body.get("detail").is_some_and(|d| !d.is_string()) {
        problems.push("detail is not a string".into());
    }
    if let Some(words) = &row.detail {
        let detail = body["detail"].as_str().unwrap_or_default();
        if !detail.contains(words.as_str()) {
            problems.push(format!("detail does not name {words:?}"));
        }
    }
    if !problems.is_empty() {
        let shown: String = text.chars().take(300).collect();
        problems.push(format!("body: {shown}"));
    }
    problems
}

struct Ids {
    alice: String,
    bob: String,
    group: String,
    /// A user of another tenant: never a member of this tenant's groups.
    stranger: String,
}

fn rows(ids: &Ids) -> Vec<Row> {
    use Method as M;
    let Ids {
        alice,
        bob,
        group,
        stranger,
    } = ids;
    let alice_path = format!("/Users/{alice}");
    let bob_path = format!("/Users/{bob}");
    let group_path = format!("/Groups/{group}");
    let missing = "2f0e6b1c-0000-4000-8000-000000000000";
    let mut rows = Vec::new();

    // ---- Bodies that are not JSON objects ----------------------------------------
    for (what, raw) in [
        ("unclosed object", "{"),
        ("missing value", r#"{"userName": }"#),
        ("trailing comma", r#"{"userName": "x@contoso.com",}"#),
        ("single quotes", r#"{'userName': 'x@contoso.com'}"#),
        (
            "text after the object",
            r#"{"userName": "x@contoso.com"} trailing"#,
        ),
        ("empty body", ""),
        ("whitespace body", "  \n\t "),
        ("JSON array", r#"[{"userName": "x@contoso.com"}]"#),
        ("JSON string", r#""x@contoso.com""#),
        ("JSON number", "42"),
        ("JSON null", "null"),
        (
            "number out of range",
            r#"{"userName": "x@contoso.com", "active": 1e999}"#,
        ),
    ] {
        rows.push(
            row(format!("POST /Users: {what}"), M::POST, "/Users")
                .raw(raw)
                .bad("invalidSyntax"),
        );
    }
    rows.push(
        row("POST /Users: invalid UTF-8", M::POST, "/Users")
            .raw(b"{\"userName\": \"x\xff\xfe@contoso.com\"}".to_vec())
            .bad("invalidSyntax"),
    );
    rows.push(
        row("POST /Users: JSON nested 10 000 deep", M::POST, "/Users")
            .raw(format!(
                "{{\"userName\": \"deep@contoso.com\", \"x\": {}{}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            ))
            .bad("invalidSyntax"),
    );
    rows.push(
        row("PUT /Users/{id}: malformed JSON", M::PUT, &alice_path)
            .raw(r#"{"userName": "alice@contoso.com""#)
            .bad("invalidSyntax"),
    );
    rows.push(
        row("PATCH /Users/{id}: malformed JSON", M::PATCH, &alice_path)
            .raw(r#"{"Operations": [{"op": "add",}]}"#)
            .bad("invalidSyntax"),
    );
    rows.push(
        row("PATCH /Groups/{id}: empty body", M::PATCH, &group_path)
            .raw("")
            .bad("invalidSyntax"),
    );
    rows.push(
        row("POST /Groups: JSON array", M::POST, "/Groups")
            .raw("[]")
            .bad("invalidSyntax"),
    );

    // ---- User bodies with wrong or missing values --------------------------------
    let with = |key: &str, value: Value| {
        let mut u = entra_user("new@contoso.com", "new-1");
        u[key] = value;
        u
    };
    let without = |key: &str| {
        let mut u = entra_user("new@contoso.com", "new-1");
        u.as_object_mut().unwrap().remove(key);
        u
    };
    for (what, body, scim_type) in [
        (
            "userName is a number",
            with("userName", json!(5)),
            "invalidValue",
        ),
        (
            "userName is empty",
            with("userName", json!("")),
            "invalidValue",
        ),
        (
            "userName is blank",
            with("userName", json!("   ")),
            "invalidValue",
        ),
        (
            "userName is null",
            with("userName", Value::Null),
            "invalidValue",
        ),
        (
            "userName is an object",
            with("userName", json!({"value": "x"})),
            "invalidValue",
        ),
        ("userName is missing", without("userName"), "invalidValue"),
        (
            "active is \"yes\"",
            with("active", json!("yes")),
            "invalidValue",
        ),
        ("active is 1", with("active", json!(1)), "invalidValue"),
        (
            "emails is a string",
            with("emails", json!("new@contoso.com")),
            "invalidValue",
        ),
        (
            "emails is a number",
            with("emails", json!(7)),
            "invalidValue",
        ),
        (
            "emails[].value is a number",
            with("emails", json!([{"value": 5, "type": "work"}])),
            "invalidValue",
        ),
        (
            "emails[].primary is \"maybe\"",
            with("emails", json!([{"value": "a@b.c", "primary": "maybe"}])),
            "invalidValue",
        ),
        ("name is a number", with("name", json!(3)), "invalidValue"),
        (
            "name is a string",
            with("name", json!("Ann Smith")),
            "invalidValue",
        ),
        (
            "name.givenName is a number",
            with("name", json!({"givenName": 1})),
            "invalidValue",
        ),
        (
            "phoneNumbers is true",
            with("phoneNumbers", json!(true)),
            "invalidValue",
        ),
        (
            "roles is a broken JSON string",
            with("roles", json!("[{not json")),
            "invalidValue",
        ),
        (
            "externalId is a number",
            with("externalId", json!(42)),
            "invalidValue",
        ),
        (
            "enterprise extension is a string",
            with(ENTERPRISE, json!("Sales")),
            "invalidValue",
        ),
        (
            "unknown enterprise attribute",
            with(ENTERPRISE, json!({"shoeSize": "42"})),
            "invalidValue",
        ),
        (
            "schemas lacks the core User URN",
            with("schemas", json!([ENTERPRISE])),
            "invalidValue",
        ),
        (
            "schemas names Group",
            with("schemas", json!([GROUP])),
            "invalidValue",
        ),
        (
            "schemas is a string",
            with("schemas", json!(USER)),
            "invalidSyntax",
        ),
        (
            "schemas lists a number",
            with("schemas", json!([USER, 5])),
            "invalidSyntax",
        ),
    ] {
        rows.push(
            row(format!("POST /Users: {what}"), M::POST, "/Users")
                .json(body)
                .bad(scim_type),
        );
    }
    rows.push(
        row("PUT /Users/{id}: userName missing", M::PUT, &alice_path)
            .json(json!({"schemas": [USER], "displayName": "No userName"}))
            .bad("invalidValue"),
    );
    rows.push(
        row("PUT /Users/{id}: active is \"yes\"", M::PUT, &alice_path)
            .json({
                let mut u = entra_user("alice@contoso.com", "a-1");
                u["active"] = json!("yes");
                u
            })
            .bad("invalidValue"),
    );

    // ---- Group bodies -----------------------------------------------------------
    let group_with = |key: &str, value: Value| {
        let mut g = entra_group("New group");
        g[key] = value;
        g
    };
    for (what, body, scim_type) in [
        (
            "displayName missing",
            json!({"schemas": [GROUP], "externalId": "g-x"}),
            "invalidValue",
        ),
        (
            "displayName empty",
            group_with("displayName", json!("")),
            "invalidValue",
        ),
        (
            "displayName a number",
            group_with("displayName", json!(5)),
            "invalidValue",
        ),
        (
            "schemas names User",
            group_with("schemas", json!([USER])),
            "invalidValue",
        ),
        (
            "members is a string",
            group_with("members", json!(alice)),
            "invalidValue",
        ),
        (
            "member without value",
            group_with("members", json!([{"display": "Alice"}])),
            "invalidValue",
        ),
        (
            "member value is a number",
            group_with("members", json!([{"value": 5}])),
            "invalidValue",
        ),
        (
            "one good member, one empty",
            group_with("members", json!([{"value": alice}, {"value": ""}])),
            "invalidValue",
        ),
    ] {
        rows.push(
            row(format!("POST /Groups: {what}"), M::POST, "/Groups")
                .json(body)
                .bad(scim_type),
        );
    }
    rows.push(
        row("PUT /Groups/{id}: displayName missing", M::PUT, &group_path)
            .json(json!({"schemas": [GROUP], "members": []}))
            .bad("invalidValue"),
    );
    rows.push(
        row("PUT /Groups/{id}: member without value", M::PUT, &group_path)
            .json(json!({"schemas": [GROUP], "displayName": "Sales", "members": [{"value": bob}, {"type": "User"}]}))
            .bad("invalidValue"),
    );

    // ---- Content type and size --------------------------------------------------
    for (method, path) in [
        (M::POST, "/Users".to_owned()),
        (M::PUT, alice_path.clone()),
        (M::PATCH, alice_path.clone()),
        (M::POST, "/Users/.search".to_owned()),
    ] {
        for ct in ["text/plain", "application/xml"] {
            let body = if method == M::PATCH {
                ops(json!([{"op": "replace", "path": "displayName", "value": "Changed"}]))
            } else if path.ends_with(".search") {
                search(json!({}))
            } else {
                entra_user("alice@contoso.com", "a-1")
            };
            rows.push(
                row(
                    format!("{method} {path}: Content-Type {ct}"),
                    method.clone(),
                    &path,
                )
                .json(body)
                .content_type(set(ct))
                .expect(415, None),
            );
        }
    }
    rows.push(
        row(
            "POST /Groups: Content-Type application/x-www-form-urlencoded",
            M::POST,
            "/Groups",
        )
        .raw("displayName=Sales")
        .content_type(set("application/x-www-form-urlencoded"))
        .expect(415, None),
    );
    rows.push(
        row("POST /Users: body over the 1 MiB limit", M::POST, "/Users")
            .json(with("title", json!("x".repeat(BODY_LIMIT + 1024))))
            .expect(413, None),
    );
    rows.push(
        row(
            "PATCH /Users/{id}: body over the 1 MiB limit",
            M::PATCH,
            &alice_path,
        )
        .json(ops(
            json!([{"op": "replace", "path": "title", "value": "x".repeat(BODY_LIMIT + 1024)}]),
        ))
        .expect(413, None),
    );

    // ---- Filters ----------------------------------------------------------------
    let deep_parens = format!("{}userName eq \"x\"{}", "(".repeat(40), ")".repeat(40));
    let deep_nots = format!("{}userName eq \"x\"{}", "not (".repeat(40), ")".repeat(40));
    let long = format!("userName eq \"{}\"", "x".repeat(9000));
    for (what, filter) in [
        ("missing value", r#"userName eq"#.to_owned()),
        ("missing operator", r#"userName "x""#.to_owned()),
        ("unknown operator", r#"userName zz "x""#.to_owned()),
        ("unterminated string", r#"userName eq "x"#.to_owned()),
        ("unbalanced (", r#"(userName eq "x""#.to_owned()),
        ("unbalanced )", r#"userName eq "x")"#.to_owned()),
        ("dangling and", r#"userName eq "x" and"#.to_owned()),
        (
            "unknown logical operator",
            r#"userName eq "x" xor title eq "y""#.to_owned(),
        ),
        ("bare word value", r#"userName eq x"#.to_owned()),
        ("pr with a value", r#"userName pr "x""#.to_owned()),
        (
            "not without parentheses",
            r#"not userName eq "x""#.to_owned(),
        ),
        (
            "unclosed value filter",
            r#"emails[type eq "work""#.to_owned(),
        ),
        (
            "stray character",
            r#"userName eq "x" & title eq "y""#.to_owned(),
        ),
        ("active gt true", r#"active gt true"#.to_owned()),
        ("userName co 5", r#"userName co 5"#.to_owned()),
        ("userName sw true", r#"userName sw true"#.to_owned()),
        (
            "name eq on a complex attribute",
            r#"name eq "x""#.to_owned(),
        ),
        (
            "emails[type lt false]",
            r#"emails[type lt false]"#.to_owned(),
        ),
        ("40 nested parentheses", deep_parens),
        ("40 nested nots", deep_nots),
        ("longer than 8192 characters", long),
    ] {
        rows.push(
            row(format!("GET /Users?filter: {what}"), M::GET, "/Users")
                .q("filter", filter)
                .bad("invalidFilter"),
        );
    }
    rows.push(
        row("GET /Groups?filter: displayName gt true", M::GET, "/Groups")
            .q("filter", "displayName gt true")
            .bad("invalidFilter"),
    );
    rows.push(
        row(
            "GET /Groups?filter: members eq with no value",
            M::GET,
            "/Groups",
        )
        .q("filter", "members eq")
        .q("excludedAttributes", "members")
        .bad("invalidFilter"),
    );
    rows.push(
        row(
            "POST /Users/.search: filter syntax error",
            M::POST,
            "/Users/.search",
        )
        .json(search(
            json!({"filter": "userName eq \"x\" and (", "count": 5}),
        ))
        .bad("invalidFilter"),
    );
    rows.push(
        row(
            "POST /Groups/.search: displayName co 5",
            M::POST,
            "/Groups/.search",
        )
        .json(search(json!({"filter": "displayName co 5"})))
        .bad("invalidFilter"),
    );
    rows.push(
        row("POST /.search: userName co 5", M::POST, "/.search")
            .json(search(json!({"filter": "userName co 5"})))
            .bad("invalidFilter"),
    );

    // ---- Paging and projection parameters ----------------------------------------
    for (what, name, value) in [
        ("count=ten", "count", "ten"),
        ("count=1.5", "count", "1.5"),
        ("startIndex=abc", "startIndex", "abc"),
        ("startIndex=1e3", "startIndex", "1e3"),
    ] {
        rows.push(
            row(format!("GET /Users?{what}"), M::GET, "/Users")
                .q(name, value)
                .bad("invalidValue"),
        );
    }
    rows.push(
        row("GET /Groups?count=all", M::GET, "/Groups")
            .q("count", "all")
            .bad("invalidValue"),
    );
    for (what, body) in [
        ("count is a string", json!({"count": "10"})),
        ("startIndex is 1.5", json!({"startIndex": 1.5})),
        ("filter is a number", json!({"filter": 5})),
        ("attributes lists a number", json!({"attributes": [5]})),
    ] {
        rows.push(
            row(
                format!("POST /Users/.search: {what}"),
                M::POST,
                "/Users/.search",
            )
            .json(search(body))
            .bad("invalidValue"),
        );
    }
    rows.push(
        row(
            "POST /Users/.search: wrong schemas",
            M::POST,
            "/Users/.search",
        )
        .json(json!({"schemas": [PATCH_OP], "filter": "userName pr"}))
        .bad("invalidSyntax"),
    );
    rows.push(
        row(
            "POST /Users/.search: body is an array",
            M::POST,
            "/Users/.search",
        )
        .raw("[]")
        .bad("invalidSyntax"),
    );
    for (what, name, value) in [
        (
            "attributes with a filter",
            "attributes",
            r#"emails[type eq "work"]"#,
        ),
        ("attributes with a space", "attributes", "user name"),
        (
            "attributes with an empty sub-attribute",
            "attributes",
            "name..givenName",
        ),
        (
            "excludedAttributes unclosed [",
            "excludedAttributes",
            "emails[type",
        ),
    ] {
        rows.push(
            row(format!("GET /Users?{what}"), M::GET, "/Users")
                .q(name, value)
                .bad("invalidPath"),
        );
    }
    rows.push(
        row("GET /Users/{id}?attributes=userName[", M::GET, &alice_path)
            .q("attributes", "userName[")
            .bad("invalidPath"),
    );
    rows.push(
        row(
            "POST /Users/.search: attributes with a filter",
            M::POST,
            "/Users/.search",
        )
        .json(search(json!({"attributes": "emails[type eq \"work\"]"})))
        .bad("invalidPath"),
    );

    // ---- PATCH structure --------------------------------------------------------
    let patch_user = |what: &str, body: Value, scim_type: &'static str| {
        row(
            format!("PATCH /Users/{{id}}: {what}"),
            M::PATCH,
            &alice_path,
        )
        .json(body)
        .bad(scim_type)
    };
    let one = |op: Value| ops(json!([op]));
    rows.extend([
        patch_user("body is an array", json!([]), "invalidSyntax"),
        patch_user("no Operations", json!({"schemas": [PATCH_OP]}), "invalidSyntax"),
        patch_user("empty Operations", ops(json!([])), "invalidSyntax"),
        patch_user("Operations is an object", ops(json!({"op": "add"})), "invalidSyntax"),
        patch_user(
            "schemas is not PatchOp",
            json!({"schemas": [USER], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}),
            "invalidSyntax",
        ),
        patch_user("op frobnicate", one(json!({"op": "frobnicate", "path": "title", "value": "x"})), "invalidSyntax"),
        patch_user("op missing", one(json!({"path": "title", "value": "x"})), "invalidSyntax"),
        patch_user("op is a number", one(json!({"op": 1, "path": "title", "value": "x"})), "invalidSyntax"),
        patch_user("operation is a string", ops(json!(["replace"])), "invalidSyntax"),
        patch_user("remove without path", one(json!({"op": "remove"})), "noTarget"),
        patch_user("add without value", one(json!({"op": "add", "path": "title"})), "invalidValue"),
        patch_user("replace without value", one(json!({"op": "Replace", "path": "displayName"})), "invalidValue"),
        patch_user("path-less add of a string", one(json!({"op": "add", "value": "x"})), "invalidValue"),
        patch_user("path is a number", one(json!({"op": "replace", "path": 5, "value": "x"})), "invalidPath"),
        patch_user(
            "1001 operations",
            ops(Value::Array(vec![json!({"op": "replace", "path": "title", "value": "x"}); 1001])),
            "tooMany",
        ),
    ]);

    // ---- PATCH paths ------------------------------------------------------------
    rows.extend([
        patch_user("unknown attribute foo", one(json!({"op": "replace", "path": "foo", "value": "x"})), "invalidPath"),
        patch_user("unknown sub-attribute name.foo", one(json!({"op": "replace", "path": "name.foo", "value": "x"})), "invalidPath"),
        patch_user(
            "unknown core-URN attribute",
            one(json!({"op": "replace", "path": format!("{USER}:foo"), "value": "x"})),
            "invalidPath",
        ),
        patch_user(
            "unknown enterprise attribute",
            one(json!({"op": "replace", "path": format!("{ENTERPRISE}:shoeSize"), "value": "42"})),
            "invalidPath",
        ),
        patch_user(
            "unknown sub-attribute after a filter",
            one(json!({"op": "replace", "path": "emails[type eq \"work\"].foo", "value": "x"})),
            "invalidPath",
        ),
        patch_user(
            "two levels of sub-attributes",
            one(json!({"op": "replace", "path": "name.givenName.first", "value": "x"})),
            "invalidPath",
        ),
        patch_user(
            "unclosed value filter",
            one(json!({"op": "replace", "path": "emails[type eq \"work\".value", "value": "x"})),
            // the attribute is fine; its filter is what is broken (RFC 7644 §3.12)
            "invalidFilter",
        ),
        patch_user("path id", one(json!({"op": "replace", "path": "id", "value": "x"})), "mutability"),
        patch_user("path meta", one(json!({"op": "remove", "path": "meta"})), "mutability"),
        patch_user(
            "path meta.lastModified",
            one(json!({"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"})),
            "mutability",
        ),
        patch_user("path groups (read-only)", one(json!({"op": "add", "path": "groups", "value": [{"value": group}]})), "mutability"),
        patch_user(
            "filter on single-valued displayName",
            one(json!({"op": "replace", "path": "displayName[value eq \"x\"]", "value": "y"})),
            "invalidPath",
        ),
        patch_user(
            "filter syntax error inside a path",
            one(json!({"op": "replace", "path": "emails[type zz \"work\"].value", "value": "a@b.c"})),
            "invalidFilter",
        ),
        patch_user(
            "type error in a path filter",
            one(json!({"op": "replace", "path": "emails[type co 5].value", "value": "a@b.c"})),
            "invalidFilter",
        ),
        patch_user(
            "replace through a filter matching nothing",
            one(json!({"op": "replace", "path": "emails[type ne \"work\"].value", "value": "a@b.c"})),
            "noTarget",
        ),
    ]);

    // ---- PATCH values -----------------------------------------------------------
    rows.extend([
        patch_user(
            "active \"maybe\"",
            one(json!({"op": "replace", "path": "active", "value": "maybe"})),
            "invalidValue",
        ),
        patch_user(
            "path-less active \"maybe\"",
            one(json!({"op": "replace", "value": {"active": "maybe"}})),
            "invalidValue",
        ),
        patch_user(
            "remove userName",
            one(json!({"op": "remove", "path": "userName"})),
            "mutability",
        ),
        patch_user(
            "replace userName with \"\"",
            one(json!({"op": "replace", "path": "userName", "value": ""})),
            "invalidValue",
        ),
        patch_user(
            "replace userName with null",
            one(json!({"op": "replace", "path": "userName", "value": null})),
            "invalidValue",
        ),
        patch_user(
            "replace userName with 5",
            one(json!({"op": "replace", "path": "userName", "value": 5})),
            "invalidValue",
        ),
        patch_user(
            "emails replaced by a number",
            one(json!({"op": "replace", "path": "emails", "value": 5})),
            "invalidValue",
        ),
        patch_user(
            "name.givenName a number",
            one(json!({"op": "replace", "path": "name.givenName", "value": 1})),
            "invalidValue",
        ),
        patch_user(
            "enterprise extension replaced by a string",
            one(json!({"op": "replace", "path": ENTERPRISE, "value": "Sales"})),
            "invalidValue",
        ),
        patch_user(
            "first op valid, second invalid (no partial write)",
            ops(json!([
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "replace", "path": "active", "value": "maybe"}
            ])),
            "invalidValue",
        ),
    ]);

    // ---- Group PATCH ------------------------------------------------------------
    let patch_group = |what: &str, body: Value, scim_type: &'static str| {
        row(
            format!("PATCH /Groups/{{id}}: {what}"),
            M::PATCH,
            &group_path,
        )
        .json(body)
        .bad(scim_type)
    };
    rows.extend([
        patch_group(
            "member without value",
            one(json!({"op": "Add", "path": "members", "value": [{"display": "Bob"}]})),
            "invalidValue",
        ),
        patch_group(
            "member value is a number",
            one(json!({"op": "Add", "path": "members", "value": [{"value": 5}]})),
            "invalidValue",
        ),
        patch_group(
            "members value is a bare string",
            one(json!({"op": "Add", "path": "members", "value": bob})),
            "invalidValue",
        ),
        patch_group(
            "path-less replace with a bad member",
            one(json!({"op": "Replace", "value": {"members": [{"value": bob}, {"display": "x"}]}})),
            "invalidValue",
        ),
        patch_group(
            "remove members by display",
            one(json!({"op": "Remove", "path": "members[display eq \"Alice\"]"})),
            "invalidFilter",
        ),
        patch_group(
            "remove members by value ne",
            one(json!({"op": "Remove", "path": format!("members[value ne \"{alice}\"]")})),
            "invalidFilter",
        ),
        patch_group(
            "remove members by value eq and type eq",
            one(json!({"op": "Remove", "path": format!("members[value eq \"{alice}\" and type eq \"User\"]")})),
            "invalidFilter",
        ),
        patch_group(
            "add members through a filter",
            one(json!({"op": "Add", "path": format!("members[value eq \"{bob}\"]"), "value": [{"value": bob}]})),
            "invalidPath",
        ),
        patch_group(
            "replace a member sub-attribute",
            one(json!({"op": "Replace", "path": "members.display", "value": "x"})),
            "invalidPath",
        ),
        patch_group("remove displayName", one(json!({"op": "Remove", "path": "displayName"})), "mutability"),
        patch_group("displayName a number", one(json!({"op": "Replace", "path": "displayName", "value": 5})), "invalidValue"),
        patch_group("path id", one(json!({"op": "Replace", "path": "id", "value": "x"})), "mutability"),
        patch_group("unknown attribute", one(json!({"op": "Replace", "path": "userName", "value": "x"})), "invalidPath"),
        patch_group(
            "member added, then displayName removed (no partial write)",
            ops(json!([
                {"op": "Add", "path": "members", "value": [{"value": bob}]},
                {"op": "Remove", "path": "displayName"}
            ])),
            "mutability",
        ),
    ]);

    // ---- Values no database may store (both refuse them alike) -------------------
    let long = |n: usize| "x".repeat(n);
    let too_long = long(1025);
    let mut too_long_name = entra_user("n@contoso.com", "n-1");
    too_long_name["userName"] = json!(format!("{too_long}@contoso.com"));
    let with = |key: &str, value: Value| {
        let mut u = entra_user("new@contoso.com", "new-1");
        u[key] = value;
        u
    };
    for (what, body, names) in [
        (
            "userName holds NUL",
            with("userName", json!("nul\u{0}@contoso.com")),
            "userName",
        ),
        (
            "displayName holds NUL",
            with("displayName", json!("Ann\u{0}")),
            "displayName",
        ),
        ("title holds NUL", with("title", json!("\u{0}")), "title"),
        (
            "an attribute name holds NUL",
            with("x\u{0}y", json!("v")),
            "attribute name",
        ),
        (
            "name.givenName holds NUL",
            with("name", json!({"givenName": "A\u{0}"})),
            "name.givenName",
        ),
        (
            "userName of 4 KB",
            with("userName", json!(long(4096))),
            "userName",
        ),
        (
            "userName of 1 MB",
            with("userName", json!(long(1_000_000))),
            "userName",
        ),
        ("userName of 1025 bytes", too_long_name, "userName"),
        (
            "externalId of 4 KB",
            with("externalId", json!(long(4096))),
            "externalId",
        ),
        (
            "displayName of 4 KB",
            with("displayName", json!(long(4096))),
            "displayName",
        ),
        (
            "e-mail of 4 KB",
            with(
                "emails",
                json!([{"value": format!("{}@contoso.com", long(4096)), "type": "work"}]),
            ),
            "emails.value",
        ),
        (
            "title of 65 KiB",
            with("title", json!(long(65 * 1024 + 1))),
            "title",
        ),
    ] {
        rows.push(
            row(format!("POST /Users: {what}"), M::POST, "/Users")
                .json(body)
                .bad("invalidValue")
                .naming(names),
        );
    }
    rows.extend([
        row("POST /Groups: displayName holds NUL", M::POST, "/Groups")
            .json(entra_group("Sales\u{0}"))
            .bad("invalidValue")
            .naming("displayName"),
        row("POST /Groups: displayName of 4 KB", M::POST, "/Groups")
            .json(entra_group(&long(4096)))
            .bad("invalidValue")
            .naming("displayName"),
        row("PUT /Users/{id}: userName holds NUL", M::PUT, &alice_path)
            .json(entra_user("alice\u{0}@contoso.com", "a-1"))
            .bad("invalidValue")
            .naming("userName"),
        row("PATCH /Users/{id}: displayName holds NUL", M::PATCH, &alice_path)
            .json(ops(json!([{"op": "replace", "path": "displayName", "value": "A\u{0}"}])))
            .bad("invalidValue")
            .naming("displayName"),
        row("PATCH /Users/{id}: e-mail of 4 KB", M::PATCH, &alice_path)
            .json(ops(json!([{"op": "add", "path": "emails[type eq \"home\"].value", "value": long(4096)}])))
            .bad("invalidValue")
            .naming("emails"),
        row("PATCH /Groups/{id}: displayName of 4 KB", M::PATCH, &group_path)
            .json(ops(json!([{"op": "replace", "path": "displayName", "value": long(4096)}])))
            .bad("invalidValue")
            .naming("displayName"),
        row("PATCH /Groups/{id}: member id holds NUL", M::PATCH, &group_path)
            .json(ops(json!([{"op": "Add", "path": "members", "value": [{"value": "u\u{0}"}]}])))
            .bad("invalidValue")
            .naming("members.value"),
        row("PATCH /Groups/{id}: member display holds NUL", M::PATCH, &group_path)
            .json(ops(json!([{"op": "Add", "path": "members", "value": [{"value": bob, "display": "B\u{0}"}]}])))
            .bad("invalidValue")
            .naming("members.display"),
        row("PATCH /Groups/{id}: remove a member id of 4 KB", M::PATCH, &group_path)
            .json(ops(json!([{"op": "Remove", "path": "members", "value": [{"value": long(4096)}]}])))
            .bad("invalidValue")
            .naming("members.value"),
        row("GET /Users: filter value holds NUL", M::GET, "/Users")
            .q("filter", "userName eq \"a\\u0000\"")
            .bad("invalidFilter"),
        row("GET /Users/{NUL}", M::GET, "/Users/%00").expect(404, None),
        row("GET /Groups/{NUL}", M::GET, "/Groups/a%00b").expect(404, None),
        row("GET /Users/{4 KB id}", M::GET, format!("/Users/{}", long(4096))).expect(404, None),
        row("PATCH /Users/{NUL}", M::PATCH, "/Users/%00")
            .json(ops(json!([{"op": "replace", "path": "title", "value": "x"}])))
            .expect(404, None),
        row("PUT /Groups/{NUL}", M::PUT, "/Groups/%00")
            .json(entra_group("Sales"))
            .expect(404, None),
        row("DELETE /Users/{NUL}", M::DELETE, "/Users/%00").expect(404, None),
    ]);

    // ---- Members must be users or groups of this tenant --------------------------
    let unknown = "2f0e6b1c-0000-4000-8000-0000000000ff";
    // (A new group may hold an existing one: "the group itself" is a PUT and PATCH case.)
    let mut with_members = |what: &str, id: &str, also_post: bool| {
        let mut g = entra_group("Members");
        g["members"] = json!([{"value": bob}, {"value": id}]);
        if also_post {
            rows.push(
                row(format!("POST /Groups: member {what}"), M::POST, "/Groups")
                    .json(g.clone())
                    .bad("invalidValue")
                    .naming(id),
            );
        }
        rows.push(
            row(
                format!("PUT /Groups/{{id}}: member {what}"),
                M::PUT,
                &group_path,
            )
            .json(g)
            .bad("invalidValue")
            .naming(id),
        );
        for op in ["Add", "add", "Replace"] {
            rows.push(
                row(format!("PATCH /Groups/{{id}}: {op} member {what}"), M::PATCH, &group_path)
                    .json(ops(json!([{"op": op, "path": "members", "value": [{"value": bob}, {"value": id}]}])))
                    .bad("invalidValue")
                    .naming(id),
            );
        }
    };
    with_members("that does not exist", unknown, true);
    with_members("of another tenant", stranger, true);
    with_members("that is the group itself", group, false);
    rows.push(
        row(
            "PATCH /Groups/{id}: path-less replace with an unknown member",
            M::PATCH,
            &group_path,
        )
        .json(ops(
            json!([{"op": "replace", "value": {"members": [{"value": unknown}]}}]),
        ))
        .bad("invalidValue")
        .naming(unknown),
    );

    // ---- Wrong JSON types -----------------------------------------------------------
    for (what, body) in [
        ("password is a number", with("password", json!(12345))),
        (
            "password is an object",
            with("password", json!({"value": "x"})),
        ),
        (
            "emails is an object",
            with("emails", json!({"value": "a@contoso.com"})),
        ),
        (
            "photos is an object",
            with("photos", json!({"value": "https://x/p.png"})),
        ),
        (
            "addresses is an object",
            with("addresses", json!({"locality": "Oslo"})),
        ),
    ] {
        rows.push(
            row(format!("POST /Users: {what}"), M::POST, "/Users")
                .json(body)
                .bad("invalidValue"),
        );
    }

    // ---- ETags: a stale If-Match changes nothing ---------------------------------
    rows.extend([
        row("PATCH /Users/{id}: stale If-Match", M::PATCH, &alice_path)
            .json(ops(
                json!([{"op": "replace", "path": "title", "value": "x"}]),
            ))
            .header("if-match", "W/\"999\"")
            .expect(412, None),
        row("PUT /Users/{id}: stale If-Match", M::PUT, &alice_path)
            .json(entra_user("alice@contoso.com", "a-1"))
            .header("if-match", "\"0\"")
            .expect(412, None),
        row(
            "DELETE /Groups/{id}: stale If-Match",
            M::DELETE,
            &group_path,
        )
        .header("if-match", "W/\"999\"")
        .expect(412, None),
        row(
            "PATCH /Groups/{id}: If-Match not ours",
            M::PATCH,
            &group_path,
        )
        .json(ops(
            json!([{"op": "replace", "path": "displayName", "value": "x"}]),
        ))
        .header("if-match", "\"abc\"")
        .expect(412, None),
        row(
            "PATCH /Users/{id}: If-Match not a tag",
            M::PATCH,
            &alice_path,
        )
        .json(ops(
            json!([{"op": "replace", "path": "title", "value": "x"}]),
        ))
        .header("if-match", "7")
        .bad("invalidSyntax"),
    ]);

    // ---- Uniqueness -------------------------------------------------------------
    rows.extend([
        row("POST /Users: duplicate userName", M::POST, "/Users")
            .json(entra_user("alice@contoso.com", "dup-1"))
            .expect(409, Some("uniqueness")),
        row(
            "POST /Users: duplicate userName in another case",
            M::POST,
            "/Users",
        )
        .json(entra_user("ALICE@Contoso.COM", "dup-2"))
        .expect(409, Some("uniqueness")),
        row(
            "PATCH /Users/{id}: rename onto an existing userName",
            M::PATCH,
            &bob_path,
        )
        .json(one(
            json!({"op": "replace", "path": "userName", "value": "alice@contoso.com"}),
        ))
        .expect(409, Some("uniqueness")),
        row(
            "PATCH /Users/{id}: path-less rename onto an existing userName",
            M::PATCH,
            &bob_path,
        )
        .json(one(
            json!({"op": "Replace", "value": {"userName": "Alice@Contoso.com"}}),
        ))
        .expect(409, Some("uniqueness")),
        row(
            "PUT /Users/{id}: another user's userName",
            M::PUT,
            &bob_path,
        )
        .json(entra_user("alice@contoso.com", "b-1"))
        .expect(409, Some("uniqueness")),
    ]);

    // ---- Unknown resources and endpoints ----------------------------------------
    let valid_patch = one(json!({"op": "replace", "path": "displayName", "value": "x"}));
    rows.extend([
        row("GET unknown user", M::GET, format!("/Users/{missing}")).expect(404, None),
        row("PUT unknown user", M::PUT, format!("/Users/{missing}"))
            .json(entra_user("ghost@contoso.com", "g"))
            .expect(404, None),
        row("PATCH unknown user", M::PATCH, format!("/Users/{missing}"))
            .json(valid_patch.clone())
            .expect(404, None),
        row(
            "DELETE unknown user",
            M::DELETE,
            format!("/Users/{missing}"),
        )
        .expect(404, None),
        row("GET unknown group", M::GET, format!("/Groups/{missing}")).expect(404, None),
        row("PUT unknown group", M::PUT, format!("/Groups/{missing}"))
            .json(entra_group("Ghosts"))
            .expect(404, None),
        row(
            "PATCH unknown group",
            M::PATCH,
            format!("/Groups/{missing}"),
        )
        .json(valid_patch.clone())
        .expect(404, None),
        row(
            "DELETE unknown group",
            M::DELETE,
            format!("/Groups/{missing}"),
        )
        .expect(404, None),
        row(
            "GET a group's id under /Users",
            M::GET,
            format!("/Users/{group}"),
        )
        .expect(404, None),
        row(
            "DELETE a user's id under /Groups",
            M::DELETE,
            format!("/Groups/{alice}"),
        )
        .expect(404, None),
        row(
            "PATCH a user's id under /Groups",
            M::PATCH,
            format!("/Groups/{bob}"),
        )
        .json(valid_patch)
        .expect(404, None),
        row(
            "GET /Schemas/{unknown}",
            M::GET,
            "/Schemas/urn:example:unknown",
        )
        .expect(404, None),
        row("GET /ResourceTypes/Foo", M::GET, "/ResourceTypes/Foo").expect(404, None),
        row("GET /Foo", M::GET, "/Foo").expect(404, None),
        row("POST /Foo", M::POST, "/Foo")
            .json(entra_user("foo@contoso.com", "f"))
            .expect(404, None),
        row(
            "GET /Users/{id}/extra",
            M::GET,
            format!("{alice_path}/extra"),
        )
        .expect(404, None),
        row(
            "DELETE /Users/{id}/extra",
            M::DELETE,
            format!("{alice_path}/extra"),
        )
        .expect(404, None),
        row("GET the tenant root", M::GET, "/scim/v2/acme").expect(404, None),
        row("GET /scim/v1/acme/Users", M::GET, "/scim/v1/acme/Users").expect(404, None),
        row("GET an unknown tenant", M::GET, "/scim/v2/nosuch/Users").expect(404, None),
        row(
            "GET a malformed tenant name",
            M::GET,
            "/scim/v2/ACME!/Users",
        )
        .expect(404, None),
    ]);

    // ---- Wrong method -----------------------------------------------------------
    for (method, path) in [
        (M::DELETE, "/Users".to_owned()),
        (M::PUT, "/Users".to_owned()),
        (M::PATCH, "/Users".to_owned()),
        (M::DELETE, "/Groups".to_owned()),
        (M::PUT, "/Groups".to_owned()),
        (M::GET, "/Users/.search".to_owned()),
        (M::GET, "/.search".to_owned()),
        (M::POST, alice_path.clone()),
        (M::POST, group_path.clone()),
        (M::POST, "/ServiceProviderConfig".to_owned()),
        (M::DELETE, "/Schemas".to_owned()),
        (M::PUT, "/ResourceTypes/User".to_owned()),
    ] {
        let body = matches!(method, M::POST | M::PUT | M::PATCH)
            .then(|| entra_user("method@contoso.com", "m").to_string());
        let mut r = row(format!("{method} {path}"), method, &path).expect(405, None);
        if let Some(body) = body {
            r = r.raw(body);
        }
        rows.push(r);
    }

    // ---- Authentication ---------------------------------------------------------
    for (what, auth) in [
        ("no Authorization", Header::Omit),
        ("empty Authorization", set("")),
        ("Bearer without a token", set("Bearer ")),
        ("garbage token", set("Bearer sgt_garbage")),
        (
            "well-formed unknown token",
            set(format!("Bearer sgt_{}", "0".repeat(64))),
        ),
        ("Basic credentials", set("Basic YWNtZTpzZWNyZXQ=")),
        ("token without a scheme", set("sgt_garbage")),
    ] {
        rows.push(
            row(format!("GET /Users: {what}"), M::GET, "/Users")
                .auth(auth)
                .expect(401, None),
        );
    }
    rows.extend([
        row("POST /Users without a token", M::POST, "/Users")
            .json(entra_user("anon@contoso.com", "anon"))
            .auth(Header::Omit)
            .expect(401, None),
        row(
            "PATCH /Users/{id} with a garbage token",
            M::PATCH,
            &alice_path,
        )
        .json(one(
            json!({"op": "replace", "path": "active", "value": false}),
        ))
        .auth(set("Bearer nope"))
        .expect(401, None),
        row("DELETE /Users/{id} without a token", M::DELETE, &alice_path)
            .auth(Header::Omit)
            .expect(401, None),
        row(
            "DELETE /Groups/{id} with a garbage token",
            M::DELETE,
            &group_path,
        )
        .auth(set("Bearer nope"))
        .expect(401, None),
        row(
            "POST /Users: malformed JSON without a token",
            M::POST,
            "/Users",
        )
        .raw("{")
        .auth(Header::Omit)
        .expect(401, None),
    ]);
    rows
}

async fn malformed_requests(backend: DbBackend) {
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let mut ids = Vec::new();
    for (name, ext) in [
        ("alice@contoso.com", "a-1"),
        ("bob@contoso.com", "b-1"),
        ("carol@contoso.com", "c-1"),
    ] {
        let (status, body) = s.post("/Users", entra_user(name, ext)).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (status, group) = s.post("/Groups", entra_group("Sales")).await;
    assert_eq!(status, 201, "{group}");
    let group = group["id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .patch(
            &format!("/Groups/{group}"),
            ops(json!([{"op": "Add", "path": "members", "value": [{"value": ids[0]}, {"value": ids[2]}]}])),
        )
        .await;
    assert_eq!(status, 204);
    let (other, other_token) = s.add_tenant("globex").await;
    let stranger = s
        .client
        .post(s.url(&format!("/scim/v2/{}/Users", other.name)))
        .bearer_auth(other_token)
        .header("content-type", "application/scim+json")
        .body(entra_user("stranger@globex.com", "s-1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 201);
    let stranger: Value = stranger.json().await.unwrap();
    let ids = Ids {
        alice: ids[0].clone(),
        bob: ids[1].clone(),
        group,
        stranger: stranger["id"].as_str().unwrap().to_owned(),
    };

    let table = rows(&ids);
    assert!(table.len() >= 60, "only {} rows", table.len());
    let mut before = snapshot(&s).await;
    assert_eq!(before["users"]["totalResults"], 3);
    assert_eq!(
        before["groups"]["Resources"][0]["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let mut failures = Vec::new();
    for row in &table {
        let mut problems = check(&s, row).await;
        let after = snapshot(&s).await;
        if after != before {
            problems.push(format!(
                "the data changed:\nbefore {before}\nafter  {after}"
            ));
            before = after;
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} {} — {}\n    {}",
                row.method,
                row.path,
                row.what,
                problems.join("\n    ")
            ));
        }
    }
    eprintln!("{} malformed requests checked", table.len());
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

on_both_backends!(malformed_requests);
