//! Where each account setting goes on a SCIM CRM target: a SCIM attribute of the core
//! user schema (`title`, `name.givenName`, `emails` for a work e-mail) or of an extension
//! (`urn:…:User:department`), or nowhere. Written by the admin in YAML; a setting left out
//! keeps its default, and `~` (null) sends it nowhere. The identity and lifecycle
//! attributes (`userName`, `externalId`, `active`) are always scimgate's.
//!
//! `groups` makes the primary group, the secondary groups or the role memberships of
//! groups of those names on the target.
//!
//! ```yaml
//! role: title
//! primary_group: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department
//! secondary_groups: groups
//! user_plan: ~
//! ```

use serde::{Deserialize, Serialize};

pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// scimgate's own extension, for the settings SCIM has no attribute for.
pub const CRM_USER: &str = "urn:scimgate:params:scim:schemas:extension:crm:2.0:User";

/// An account setting a mapping places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappedSetting {
    DisplayName,
    Email,
    Role,
    OwnerCompany,
    PrimaryGroup,
    UserPlan,
    SecondaryGroups,
    Confidential,
}

impl MappedSetting {
    pub const ALL: [MappedSetting; 8] = [
        MappedSetting::DisplayName,
        MappedSetting::Email,
        MappedSetting::Role,
        MappedSetting::OwnerCompany,
        MappedSetting::PrimaryGroup,
        MappedSetting::UserPlan,
        MappedSetting::SecondaryGroups,
        MappedSetting::Confidential,
    ];

    /// As the YAML names it.
    pub fn key(self) -> &'static str {
        match self {
            MappedSetting::DisplayName => "display_name",
            MappedSetting::Email => "email",
            MappedSetting::Role => "role",
            MappedSetting::OwnerCompany => "owner_company",
            MappedSetting::PrimaryGroup => "primary_group",
            MappedSetting::UserPlan => "user_plan",
            MappedSetting::SecondaryGroups => "secondary_groups",
            MappedSetting::Confidential => "confidential",
        }
    }

    /// The attribute it goes to unless the mapping says otherwise.
    fn default_path(self) -> &'static str {
        match self {
            MappedSetting::DisplayName => "displayName",
            MappedSetting::Email => "emails",
            MappedSetting::Role => "title",
            MappedSetting::OwnerCompany => {
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization"
            }
            MappedSetting::PrimaryGroup => {
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
            }
            MappedSetting::UserPlan => {
                "urn:scimgate:params:scim:schemas:extension:crm:2.0:User:userPlan"
            }
            MappedSetting::SecondaryGroups => {
                "urn:scimgate:params:scim:schemas:extension:crm:2.0:User:secondaryGroups"
            }
            MappedSetting::Confidential => {
                "urn:scimgate:params:scim:schemas:extension:crm:2.0:User:confidential"
            }
        }
    }
}

/// Where a setting goes: a core attribute (`title`, or `name.givenName`) or an
/// extension's (`schema` URN and attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributePath {
    /// `None`: the core user schema.
    pub schema: Option<String>,
    pub attribute: String,
    /// A sub-attribute of a core complex attribute (`name.givenName`).
    pub sub: Option<String>,
}

impl AttributePath {
    fn parse(text: &str) -> Result<AttributePath, String> {
        let is_name = |s: &str| {
            s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        };
        if let Some((schema, attribute)) = text.rsplit_once(':') {
            if !schema.starts_with("urn:") || !is_name(attribute) {
                return Err(format!("{text:?} is not a SCIM attribute (`title`, `name.givenName` or `urn:…:User:attribute`)"));
            }
            if schema.eq_ignore_ascii_case("urn:ietf:params:scim:schemas:core:2.0:User") {
                return AttributePath::parse(attribute);
            }
            return Ok(AttributePath {
                schema: Some(schema.to_owned()),
                attribute: attribute.to_owned(),
                sub: None,
            });
        }
        let (attribute, sub) = match text.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (text, None),
        };
        if !is_name(attribute) || sub.is_some_and(|s| !is_name(s)) {
            return Err(format!("{text:?} is not a SCIM attribute (`title`, `name.givenName` or `urn:…:User:attribute`)"));
        }
        let reserved = [
            "userName",
            "externalId",
            "active",
            "id",
            "schemas",
            "meta",
            "groups",
            "password",
        ];
        if let Some(r) = reserved.iter().find(|r| r.eq_ignore_ascii_case(attribute)) {
            return Err(format!(
                "{r} is scimgate's own (identity and lifecycle), not for a setting"
            ));
        }
        Ok(AttributePath {
            schema: None,
            attribute: attribute.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    /// Whether the two would write the same value: the same attribute (SCIM names are
    /// case-insensitive), unless both are different sub-attributes of it.
    fn overlaps(&self, other: &AttributePath) -> bool {
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let schemas = match (&self.schema, &other.schema) {
            (Some(a), Some(b)) => same(a, b),
            (None, None) => true,
            _ => false,
        };
        let subs = match (&self.sub, &other.sub) {
            (Some(a), Some(b)) => same(a, b),
            _ => true,
        };
        schemas && same(&self.attribute, &other.attribute) && subs
    }

    /// As SCIM writes it (a PATCH path).
    pub fn text(&self) -> String {
        match (&self.schema, &self.sub) {
            (Some(schema), _) => format!("{schema}:{}", self.attribute),
            (None, Some(sub)) => format!("{}.{sub}", self.attribute),
            (None, None) => self.attribute.clone(),
        }
    }
}

/// The mapping as written: each setting's attribute, or `~` for nowhere.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Written {
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    role: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    owner_company: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    primary_group: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    user_plan: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    secondary_groups: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    confidential: Option<Option<String>>,
}

/// A key that is there (`Some`), even as `~` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl Written {
    fn of(&self, setting: MappedSetting) -> &Option<Option<String>> {
        match setting {
            MappedSetting::DisplayName => &self.display_name,
            MappedSetting::Email => &self.email,
            MappedSetting::Role => &self.role,
            MappedSetting::OwnerCompany => &self.owner_company,
            MappedSetting::PrimaryGroup => &self.primary_group,
            MappedSetting::UserPlan => &self.user_plan,
            MappedSetting::SecondaryGroups => &self.secondary_groups,
            MappedSetting::Confidential => &self.confidential,
        }
    }
}

/// Each setting's place on the target (`None`: not sent as an attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmMapping {
    pub places: Vec<(MappedSetting, Option<AttributePath>)>,
    /// The settings whose values are the names of groups on the target the user is a
    /// member of (`role: groups`): the primary group, the secondary groups, the role.
    pub as_groups: Vec<MappedSetting>,
}

/// The place that makes a setting group memberships.
const GROUPS: &str = "groups";

impl Default for CrmMapping {
    fn default() -> CrmMapping {
        CrmMapping::from_yaml("").unwrap_or(CrmMapping {
            places: Vec::new(),
            as_groups: Vec::new(),
        })
    }
}

impl CrmMapping {
    /// The mapping of a YAML document (empty: the default). Errors name the key.
    pub fn from_yaml(text: &str) -> Result<CrmMapping, String> {
        let written: Written = match text.trim().is_empty() {
            true => Written::default(),
            false => serde_yaml::from_str(text).map_err(|e| format!("mapping: {e}"))?,
        };
        let mut places: Vec<(MappedSetting, Option<AttributePath>)> = Vec::new();
        let mut as_groups = Vec::new();
        for setting in MappedSetting::ALL {
            let path = match written.of(setting) {
                None => Some(setting.default_path().to_owned()),
                Some(path) => path.clone(),
            };
            if path.as_deref().map(str::trim) == Some(GROUPS) {
                let named = [
                    MappedSetting::PrimaryGroup,
                    MappedSetting::SecondaryGroups,
                    MappedSetting::Role,
                ];
                if !named.contains(&setting) {
                    return Err(format!(
                        "mapping: {}: only primary_group, secondary_groups and role can be group memberships",
                        setting.key()
                    ));
                }
                as_groups.push(setting);
                places.push((setting, None));
                continue;
            }
            let path = (path.map(|p| AttributePath::parse(p.trim())).transpose())
                .map_err(|e| format!("mapping: {}: {e}", setting.key()))?;
            if let Some(path) = &path {
                let overlaps =
                    |p: &Option<AttributePath>| p.as_ref().is_some_and(|p| p.overlaps(path));
                if let Some((other, _)) = places.iter().find(|(_, p)| overlaps(p)) {
                    return Err(format!(
                        "mapping: {}: {} is already where {} goes",
                        setting.key(),
                        path.text(),
                        other.key()
                    ));
                }
                let emails = path.schema.is_none() && path.attribute.eq_ignore_ascii_case("emails");
                if emails && setting != MappedSetting::Email {
                    return Err(format!(
                        "mapping: {}: emails takes the e-mail only",
                        setting.key()
                    ));
                }
            }
            places.push((setting, path));
        }
        Ok(CrmMapping { places, as_groups })
    }

    /// The mapping as YAML, every setting written out (what the page shows to edit).
    pub fn to_yaml(&self) -> String {
        (self.places.iter())
            .map(|(setting, path)| match path {
                Some(path) => format!("{}: {}\n", setting.key(), path.text()),
                None if self.as_groups.contains(setting) => {
                    format!("{}: {GROUPS}\n", setting.key())
                }
                None => format!("{}: ~\n", setting.key()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_out_keeps_the_default_and_null_sends_nowhere() {
        let mapping = CrmMapping::from_yaml("role: name.honorificPrefix\nuser_plan: ~\n").unwrap();
        let place = |s| {
            mapping
                .places
                .iter()
                .find(|(m, _)| *m == s)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(
            place(MappedSetting::Role).unwrap().text(),
            "name.honorificPrefix"
        );
        assert_eq!(place(MappedSetting::UserPlan), None);
        assert_eq!(
            place(MappedSetting::DisplayName).unwrap().text(),
            "displayName"
        );
        let department = place(MappedSetting::PrimaryGroup).unwrap();
        assert_eq!(department.schema.as_deref(), Some(ENTERPRISE_USER));
        assert_eq!(department.attribute, "department");
        // Written out and read back, the same.
        assert_eq!(CrmMapping::from_yaml(&mapping.to_yaml()).unwrap(), mapping);
        assert_eq!(CrmMapping::default().places.len(), 8);
    }

    #[test]
    fn groups_make_settings_memberships() {
        let mapping = CrmMapping::from_yaml("secondary_groups: groups\nrole: groups").unwrap();
        assert_eq!(
            mapping.as_groups,
            [MappedSetting::Role, MappedSetting::SecondaryGroups]
        );
        let place = |s| {
            mapping
                .places
                .iter()
                .find(|(m, _)| *m == s)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(place(MappedSetting::Role), None, "not an attribute as well");
        assert_eq!(CrmMapping::from_yaml(&mapping.to_yaml()).unwrap(), mapping);
        let e = CrmMapping::from_yaml("user_plan: groups").unwrap_err();
        assert!(
            e.contains("only primary_group, secondary_groups and role"),
            "{e}"
        );
    }

    #[test]
    fn a_wrong_mapping_names_its_key() {
        for (yaml, says) in [
            ("roles: title", "unknown field `roles`"),
            (
                "role: userName",
                "mapping: role: userName is scimgate's own",
            ),
            (
                "role: displayName",
                "mapping: role: displayName is already where display_name goes",
            ),
            (
                "role: DisplayName.x",
                "mapping: role: DisplayName.x is already where display_name goes",
            ),
            (
                "display_name: title\nrole: title.x",
                "mapping: role: title.x is already where display_name goes",
            ),
            (
                "email: ~\nuser_plan: emails",
                "mapping: user_plan: emails takes the e-mail only",
            ),
            (
                "role: \"title x\"",
                "mapping: role: \"title x\" is not a SCIM attribute",
            ),
            (
                "role: \"foo:bar\"",
                "mapping: role: \"foo:bar\" is not a SCIM attribute",
            ),
            ("role: [a]", "mapping: role: invalid type"),
        ] {
            let e = CrmMapping::from_yaml(yaml).unwrap_err();
            assert!(e.contains(says), "{yaml}: {e}");
        }
    }
}
