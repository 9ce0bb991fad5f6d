//! Pushing one account to a SCIM 2.0 service provider: find or create its user, then
//! bring the user to the account's state.
//!
//! Linking never creates a duplicate: an account already linked is updated by the id the
//! target gave it; an unlinked one (first push, or after a restart) is matched by
//! `externalId`, then by `userName`, before a user is created; a create refused because
//! the userName is taken (`409`) matches again by userName.

use super::{without_url, Failure};
use scimgate_core::CrmAccount;
use serde_json::{json, Value};

/// SCIM's core user schema and the enterprise extension the company and group go to.
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The account settings SCIM has no attribute for.
pub const CRM_EXTENSION: &str = "urn:scimgate:params:scim:schemas:extension:crm:2.0:User";

/// The SCIM user an account becomes (the default mapping): identity in the core schema,
/// company and primary group as the enterprise extension's organization and department,
/// role as `title`, and the rest (user plan, secondary groups, confidential) in
/// scimgate's extension.
pub fn user_document(account: &CrmAccount) -> Value {
    let f = &account.fields;
    let mut user = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE, CRM_EXTENSION],
        "userName": &*f.username,
        "active": f.active,
        ENTERPRISE: {
            "organization": f.owner_company.as_deref(),
            "department": f.primary_group.as_deref(),
        },
        CRM_EXTENSION: {
            "userPlan": f.user_plan.as_deref(),
            "secondaryGroups": f.secondary_groups.iter().map(|g| &**g).collect::<Vec<_>>(),
            "confidential": f.confidential,
        },
    });
    let put = |user: &mut Value, key: &str, value: Value| {
        user[key] = value;
    };
    if let Some(id) = &account.external_id {
        put(&mut user, "externalId", json!(id));
    }
    if let Some(name) = &f.display_name {
        put(&mut user, "displayName", json!(&**name));
    }
    if let Some(email) = &f.email {
        put(
            &mut user,
            "emails",
            json!([{"value": &**email, "type": "work", "primary": true}]),
        );
    }
    if let Some(role) = &f.role {
        put(&mut user, "title", json!(&**role));
    }
    user
}

/// A SCIM service provider at `base` (…/scim/v2/tenant), with its bearer token.
pub struct ScimTarget<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
    pub token: &'a str,
    /// Whether the provider takes PATCH (its ServiceProviderConfig says): an update then
    /// replaces only the attributes scimgate maps and leaves the rest of the user (what
    /// the application keeps on its own) alone; without PATCH it is a PUT of the user.
    pub patch: bool,
}

impl ScimTarget<'_> {
    /// Brings the target's user for `account` to the account's state; returns the
    /// user's id on the target (to store as the account's link).
    pub async fn push(
        &self,
        account: &CrmAccount,
        linked: Option<&str>,
    ) -> Result<String, Failure> {
        let document = user_document(account);
        if let Some(id) = linked {
            if let Some(()) = self.replace(id, &document).await? {
                return Ok(id.to_owned());
            }
            // Deleted on the target by hand: found again or created below.
        }
        if let Some(id) = self.find(account).await? {
            self.replace(&id, &document)
                .await?
                .ok_or_else(|| Failure::retry(format!("user {id} vanished while updating")))?;
            return Ok(id);
        }
        if !account.fields.active {
            // Nothing to deactivate on the target, and no reason to create a user there.
            return Ok(String::new());
        }
        let response = self
            .send(
                self.http
                    .post(self.url("/Users"))
                    .body(document.to_string()),
            )
            .await?;
        match response.status().as_u16() {
            201 | 200 => id_of(response).await,
            409 => {
                let id = self.find(account).await?.ok_or_else(|| {
                    Failure::retry("the target says the user exists but does not find it".into())
                })?;
                self.replace(&id, &document).await?;
                Ok(id)
            }
            _ => Err(Failure::of_response(response).await),
        }
    }

    /// Whether the provider takes PATCH, from its ServiceProviderConfig (absent or
    /// unreadable: no).
    pub async fn supports_patch(&self) -> Result<bool, Failure> {
        let response = self
            .send(self.http.get(self.url("/ServiceProviderConfig")))
            .await?;
        // A busy or failing provider is asked again later, not taken for one without PATCH.
        let status = response.status().as_u16();
        if status == 429 || status >= 500 {
            return Err(Failure::of_response(response).await);
        }
        if !response.status().is_success() {
            return Ok(false);
        }
        let config: Value = response.json().await.unwrap_or_default();
        Ok(config["patch"]["supported"].as_bool().unwrap_or(false))
    }

    /// The mapped attributes set on the user (PATCH) or the whole user replaced (PUT);
    /// `None`: the target has no user with this id.
    async fn replace(&self, id: &str, document: &Value) -> Result<Option<()>, Failure> {
        let url = self.url(&format!("/Users/{}", encode(id)));
        let request = if self.patch {
            let mut value = document.clone();
            if let Some(fields) = value.as_object_mut() {
                fields.remove("schemas");
            }
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": value}],
            });
            self.http.patch(url).body(body.to_string())
        } else {
            let mut document = document.clone();
            document["id"] = json!(id);
            self.http.put(url).body(document.to_string())
        };
        let response = self.send(request).await?;
        match response.status().as_u16() {
            200..=299 => Ok(Some(())),
            404 => Ok(None),
            _ => Err(Failure::of_response(response).await),
        }
    }

    /// The target's user for the account: by externalId, then by userName.
    async fn find(&self, account: &CrmAccount) -> Result<Option<String>, Failure> {
        let by_external = account.external_id.as_deref().map(|e| ("externalId", e));
        for (attribute, value) in by_external
            .into_iter()
            .chain([("userName", &*account.fields.username)])
        {
            let filter = format!(
                "{attribute} eq \"{}\"",
                value.replace('\\', "\\\\").replace('"', "\\\"")
            );
            let request = self
                .http
                .get(self.url("/Users"))
                .query(&[("filter", filter.as_str()), ("count", "2")]);
            let response = self.send(request).await?;
            if !response.status().is_success() {
                return Err(Failure::of_response(response).await);
            }
            let list: Value = response
                .json()
                .await
                .map_err(|e| Failure::retry(format!("the target's user list is not JSON: {e}")))?;
            if let Some(id) = list["Resources"][0]["id"].as_str() {
                return Ok(Some(id.to_owned()));
            }
        }
        Ok(None)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Failure> {
        request
            .bearer_auth(self.token)
            .header("accept", "application/scim+json")
            .header("content-type", "application/scim+json")
            .send()
            .await
            .map_err(|e| Failure::retry(format!("the target did not answer: {}", without_url(&e))))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.trim_end_matches('/'))
    }
}

async fn id_of(response: reqwest::Response) -> Result<String, Failure> {
    let created: Value = response
        .json()
        .await
        .map_err(|e| Failure::retry(format!("the target's answer is not JSON: {e}")))?;
    created["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Failure::dead("the target created a user but gave no id".into()))
}

/// A path segment, percent-encoded (a target's ids are opaque).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
