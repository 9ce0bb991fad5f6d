//! Pushing one account to a SCIM 2.0 service provider: find or create its user, then
//! bring the user to the account's state.
//!
//! Linking never creates a duplicate: an account already linked is updated by the id the
//! target gave it; an unlinked one (first push, or after a restart) is matched by
//! `externalId`, then by `userName`, before a user is created; a create refused because
//! the userName is taken (`409`) matches again by userName.

use super::{without_url, Failure};
use scimgate_core::crm_mapping::{CrmMapping, MappedSetting};
use scimgate_core::{AccountFields, CrmAccount};
use serde_json::{json, Value};

/// SCIM's core user and group schemas.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise extension (company and primary group by default), and scimgate's own
/// for the settings SCIM has no attribute for.
pub use scimgate_core::crm_mapping::{CRM_USER as CRM_EXTENSION, ENTERPRISE_USER as ENTERPRISE};

/// The most users a reconcile reads from one target.
const MAX_USERS_READ: usize = 1_000_000;

/// What a provider takes, read from its discovery endpoints once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// Its ServiceProviderConfig says PATCH is supported.
    pub patch: bool,
    /// The schema extensions its User resource type declares: a strict provider refuses
    /// a user carrying any other.
    pub extensions: Vec<String>,
}

/// The SCIM user an account becomes: its identity (`userName`, `externalId`) and
/// lifecycle (`active`), and each setting where `mapping` places it. A setting placed in
/// an extension the provider does not declare is left out (a strict provider refuses a
/// user carrying one); an unset setting is left out of the core schema (the user keeps
/// what it has) and `null` in an extension.
pub fn user_document(account: &CrmAccount, extensions: &[String], mapping: &CrmMapping) -> Value {
    let f = &account.fields;
    let declared = |schema: &str| extensions.iter().any(|e| e.eq_ignore_ascii_case(schema));
    let mut user = json!({
        "userName": &*f.username,
        "active": f.active,
    });
    if let Some(id) = &account.external_id {
        user["externalId"] = json!(id);
    }
    let mut schemas = vec![USER_SCHEMA.to_owned()];
    for (setting, place) in &mapping.places {
        let Some(place) = place else {
            continue;
        };
        let value = setting_value(f, *setting);
        match (&place.schema, &place.sub) {
            (Some(schema), _) => {
                if !declared(schema) {
                    continue;
                }
                if !schemas.contains(schema) {
                    schemas.push(schema.clone());
                }
                user[schema.as_str()][place.attribute.as_str()] = value;
            }
            _ if value.is_null() => {}
            (None, None) if place.attribute.eq_ignore_ascii_case("emails") => {
                user["emails"] = json!([{"value": value, "type": "work", "primary": true}]);
            }
            (None, Some(sub)) => {
                let parent = &mut user[place.attribute.as_str()];
                if parent.is_null() {
                    *parent = json!({});
                }
                // The mapping never places a whole attribute and a part of it too.
                if let Some(parent) = parent.as_object_mut() {
                    parent.insert(sub.clone(), value);
                }
            }
            (None, None) => user[place.attribute.as_str()] = value,
        }
    }
    user["schemas"] = json!(schemas);
    user
}

/// The names of the groups on the target the account's user belongs in, as `settings`
/// (those a mapping makes group memberships) name them; sorted, without repeats.
pub fn group_names(f: &AccountFields, settings: &[MappedSetting]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for setting in settings {
        match setting {
            MappedSetting::PrimaryGroup => {
                names.extend(f.primary_group.as_deref().map(str::to_owned))
            }
            MappedSetting::Role => names.extend(f.role.as_deref().map(str::to_owned)),
            MappedSetting::SecondaryGroups => {
                names.extend(f.secondary_groups.iter().map(|g| g.to_string()))
            }
            _ => {}
        }
    }
    names.sort();
    names.dedup();
    names
}

/// A setting's value as JSON (`null` when unset).
fn setting_value(f: &AccountFields, setting: MappedSetting) -> Value {
    match setting {
        MappedSetting::DisplayName => json!(f.display_name.as_deref()),
        MappedSetting::Email => json!(f.email.as_deref()),
        MappedSetting::Role => json!(f.role.as_deref()),
        MappedSetting::OwnerCompany => json!(f.owner_company.as_deref()),
        MappedSetting::PrimaryGroup => json!(f.primary_group.as_deref()),
        MappedSetting::UserPlan => json!(f.user_plan.as_deref()),
        MappedSetting::SecondaryGroups => {
            json!(f.secondary_groups.iter().map(|g| &**g).collect::<Vec<_>>())
        }
        MappedSetting::Confidential => json!(f.confidential),
    }
}

/// A SCIM service provider at `base` (…/scim/v2/tenant), with its bearer token.
pub struct ScimTarget<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
    pub token: &'a str,
    /// What the provider takes. With PATCH an update replaces only the attributes
    /// scimgate maps and leaves the rest of the user (what the application keeps on its
    /// own) alone; without it the user is replaced with PUT.
    pub profile: Profile,
    /// Where each account setting goes.
    pub mapping: &'a CrmMapping,
    /// A deprovisioned account's user is deleted, not deactivated (the tenant asked).
    pub delete_on_deprovision: bool,
}

impl ScimTarget<'_> {
    /// Brings the target's user for `account` to the account's state; returns the
    /// user's id on the target (to store as the account's link).
    pub async fn push(
        &self,
        account: &CrmAccount,
        linked: Option<&str>,
    ) -> Result<String, Failure> {
        if self.delete_on_deprovision && !account.fields.active {
            let found = match linked {
                Some(id) => Some(id.to_owned()),
                None => self.find(account).await?,
            };
            if let Some(id) = found {
                self.delete(&id).await?;
            }
            // No user there any more: nothing to link.
            return Ok(String::new());
        }
        let document = user_document(account, &self.profile.extensions, self.mapping);
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

    /// What the provider takes, from its ServiceProviderConfig and ResourceTypes
    /// (absent or unreadable: no PATCH, no extensions).
    pub async fn discover(&self) -> Result<Profile, Failure> {
        let config = self.discovery("/ServiceProviderConfig").await?;
        let types = self.discovery("/ResourceTypes").await?;
        let user_type = (types["Resources"].as_array().into_iter().flatten())
            .find(|t| t["id"] == "User" || t["name"] == "User");
        let extensions = (user_type.and_then(|t| t["schemaExtensions"].as_array()))
            .into_iter()
            .flatten()
            .filter_map(|e| e["schema"].as_str().map(str::to_owned))
            .collect();
        Ok(Profile {
            patch: config["patch"]["supported"].as_bool().unwrap_or(false),
            extensions,
        })
    }

    /// Test connection: the provider's features, and a one-user read that proves it
    /// takes the token (a ServiceProviderConfig may be served without one, RFC 7644 §4).
    pub async fn probe(&self) -> Result<String, Failure> {
        let profile = self.discover().await?;
        let request = (self.http.get(self.url("/Users"))).query(&[("count", "1")]);
        let response = self.send(request).await?;
        if !response.status().is_success() {
            return Err(Failure::of_response(response).await);
        }
        let users = response.json::<Value>().await.ok();
        let total = users.as_ref().and_then(|u| u["totalResults"].as_u64());
        let update = match profile.patch {
            true => "updates with PATCH",
            false => "no PATCH: updates replace the user with PUT",
        };
        let extensions = match profile.extensions.is_empty() {
            true => "no schema extensions".to_owned(),
            false => format!("extensions: {}", profile.extensions.join(", ")),
        };
        let users = total.map_or("users readable".to_owned(), |n| format!("{n} users there"));
        Ok(format!("connected: {users}; {update}; {extensions}"))
    }

    /// Every user on the target, read page by page (for a reconcile). Stops at the
    /// count the provider gives, at an empty page, or at a page with no user not seen
    /// before (a provider that ignores `startIndex`).
    pub async fn users(&self) -> Result<Vec<Value>, Failure> {
        const PAGE: usize = 100;
        let mut users: Vec<Value> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let start = (users.len() + 1).to_string();
            let count = PAGE.to_string();
            let request = (self.http.get(self.url("/Users")))
                .query(&[("startIndex", start.as_str()), ("count", count.as_str())]);
            let response = self.send(request).await?;
            if !response.status().is_success() {
                return Err(Failure::of_response(response).await);
            }
            let page: Value = (response.json().await)
                .map_err(|e| Failure::retry(format!("the target's user list is not JSON: {e}")))?;
            let total = page["totalResults"].as_u64();
            let before = users.len();
            for user in page["Resources"].as_array().into_iter().flatten() {
                let id = user["id"].as_str().unwrap_or_default().to_owned();
                if seen.insert(id) {
                    users.push(user.clone());
                }
            }
            let all = total.is_some_and(|t| users.len() as u64 >= t);
            if users.len() == before || all || users.len() >= MAX_USERS_READ {
                return Ok(users);
            }
        }
    }

    /// A discovery document; `Null` when the provider has none. A busy or failing
    /// provider, or one refusing the token (which an admin may fix), is asked again
    /// later, not taken (and remembered) as one without features.
    async fn discovery(&self, path: &str) -> Result<Value, Failure> {
        let response = self.send(self.http.get(self.url(path))).await?;
        let status = response.status().as_u16();
        if matches!(status, 401 | 403 | 429) || status >= 500 {
            return Err(Failure::of_response(response).await);
        }
        if !response.status().is_success() {
            return Ok(Value::Null);
        }
        Ok(response.json().await.unwrap_or_default())
    }

    /// The user brought to `document`: where the target takes PATCH, only the mapped
    /// attributes that differ from the user there are sent (nothing at all when none
    /// does), so what the application keeps on the user itself stays; otherwise the whole
    /// user is replaced with PUT. `None`: the target has no user with this id.
    async fn replace(&self, id: &str, document: &Value) -> Result<Option<()>, Failure> {
        let url = self.url(&format!("/Users/{}", encode(id)));
        let request = if self.profile.patch {
            let Some(current) = self.user(&url).await? else {
                return Ok(None);
            };
            let operations = super::drift::patch_operations(document, &current);
            if operations.is_empty() {
                return Ok(Some(()));
            }
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": operations,
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

    /// Makes the user a member of the groups in `desired` and no longer of those in
    /// `previous` that are not (the groups scimgate made it a member of before); a group
    /// the target does not have yet is created. Adding a member twice or removing one
    /// that is gone changes nothing, so a push retried half-way completes.
    pub async fn sync_memberships(
        &self,
        user_id: &str,
        desired: &[String],
        previous: &[String],
    ) -> Result<(), Failure> {
        let member = json!([{"value": user_id}]);
        for name in desired.iter().filter(|n| !previous.contains(n)) {
            let group = self.group(name, true).await?.unwrap_or_default();
            self.change_members(&group, "add", &member).await?;
        }
        for name in previous.iter().filter(|n| !desired.contains(n)) {
            if let Some(group) = self.group(name, false).await? {
                self.change_members(&group, "remove", &member).await?;
            }
        }
        Ok(())
    }

    /// The id of the target's group named `name`; created when missing and `create`.
    async fn group(&self, name: &str, create: bool) -> Result<Option<String>, Failure> {
        let filter = format!(
            "displayName eq \"{}\"",
            name.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let request = (self.http.get(self.url("/Groups")))
            .query(&[("filter", filter.as_str()), ("count", "1")]);
        let response = self.send(request).await?;
        if !response.status().is_success() {
            return Err(Failure::of_response(response).await);
        }
        let list: Value = (response.json().await)
            .map_err(|e| Failure::retry(format!("the target's group list is not JSON: {e}")))?;
        if let Some(id) = list["Resources"][0]["id"].as_str() {
            return Ok(Some(id.to_owned()));
        }
        if !create {
            return Ok(None);
        }
        let group = json!({"schemas": [GROUP_SCHEMA], "displayName": name});
        let response =
            (self.send(self.http.post(self.url("/Groups")).body(group.to_string()))).await?;
        match response.status().as_u16() {
            200 | 201 => id_of(response).await.map(Some),
            // Made by someone else meanwhile: found next time.
            409 => Err(Failure::retry(format!(
                "the group {name:?} was being created"
            ))),
            _ => Err(Failure::of_response(response).await),
        }
    }

    /// PATCHes a group's members (`add` or `remove` the users in `members`).
    async fn change_members(&self, group: &str, op: &str, members: &Value) -> Result<(), Failure> {
        let url = self.url(&format!("/Groups/{}", encode(group)));
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": op, "path": "members", "value": members}],
        });
        let response = self
            .send(self.http.patch(url).body(body.to_string()))
            .await?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            // A group deleted by hand meanwhile: nothing to take the user out of.
            404 if op == "remove" => Ok(()),
            _ => Err(Failure::of_response(response).await),
        }
    }

    /// Deletes the user; one already gone is deleted too.
    async fn delete(&self, id: &str) -> Result<(), Failure> {
        let url = self.url(&format!("/Users/{}", encode(id)));
        let response = self.send(self.http.delete(url)).await?;
        match response.status().as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(Failure::of_response(response).await),
        }
    }

    /// The user at `url`; `None` when there is none.
    async fn user(&self, url: &str) -> Result<Option<Value>, Failure> {
        let response = self.send(self.http.get(url)).await?;
        match response.status().as_u16() {
            200..=299 => Ok(Some(response.json().await.map_err(|e| {
                Failure::retry(format!("the target's user is not JSON: {e}"))
            })?)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use scimgate_core::AccountFields;

    #[test]
    fn only_declared_extensions_are_sent() {
        let account = CrmAccount {
            pk: 1,
            staged_user_id: Some("s1".into()),
            external_id: Some("e1".into()),
            fields: AccountFields {
                username: "ann".into(),
                display_name: None,
                email: None,
                user_plan: Some("Premium".into()),
                owner_company: Some("Acme".into()),
                primary_group: None,
                secondary_groups: vec!["Oslo".into()],
                role: None,
                confidential: true,
                active: true,
            },
            created_at: String::new(),
            updated_at: String::new(),
            deactivated_at: None,
        };
        let default = CrmMapping::default();
        let bare = user_document(&account, &[], &default);
        assert_eq!(bare["schemas"], json!([USER_SCHEMA]));
        assert!(bare.get(ENTERPRISE).is_none() && bare.get(CRM_EXTENSION).is_none());
        assert!(
            bare.get("displayName").is_none(),
            "nothing sent for an empty field"
        );
        let all = user_document(
            &account,
            &[ENTERPRISE.to_uppercase(), CRM_EXTENSION.into()],
            &default,
        );
        assert_eq!(
            all["schemas"],
            json!([USER_SCHEMA, ENTERPRISE, CRM_EXTENSION])
        );
        assert_eq!(all[ENTERPRISE]["organization"], "Acme");
        assert_eq!(all[CRM_EXTENSION]["userPlan"], "Premium");
        assert_eq!(all[CRM_EXTENSION]["secondaryGroups"], json!(["Oslo"]));
        assert_eq!(all[CRM_EXTENSION]["confidential"], true);
        assert_eq!(
            (all["userName"].as_str(), all["externalId"].as_str()),
            (Some("ann"), Some("e1"))
        );
    }
}
