//! The six CRM account settings a rule can set.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    UserPlan,
    OwnerCompany,
    PrimaryGroup,
    SecondaryGroups,
    Role,
    Confidential,
}

impl Setting {
    pub const ALL: [Setting; 6] = [
        Setting::UserPlan,
        Setting::OwnerCompany,
        Setting::PrimaryGroup,
        Setting::SecondaryGroups,
        Setting::Role,
        Setting::Confidential,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Setting::UserPlan => "user_plan",
            Setting::OwnerCompany => "owner_company",
            Setting::PrimaryGroup => "primary_group",
            Setting::SecondaryGroups => "secondary_groups",
            Setting::Role => "role",
            Setting::Confidential => "confidential",
        }
    }

    pub fn from_name(name: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What kind of value the setting takes, for error messages.
    pub fn expects(self) -> &'static str {
        match self {
            Setting::SecondaryGroups => "a list of group names",
            Setting::Confidential => "true or false",
            _ => "a text",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SettingValue {
    Text(String),
    List(Vec<String>),
    Flag(bool),
}

impl fmt::Display for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Text(t) => write!(f, "{t:?}"),
            SettingValue::List(l) => write!(f, "{l:?}"),
            SettingValue::Flag(b) => write!(f, "{b}"),
        }
    }
}

/// The settings a rule set produced for one user; `None` = no rule set it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountSettings {
    pub user_plan: Option<String>,
    pub owner_company: Option<String>,
    pub primary_group: Option<String>,
    pub secondary_groups: Option<Vec<String>>,
    pub role: Option<String>,
    pub confidential: Option<bool>,
}

impl AccountSettings {
    pub fn get(&self, setting: Setting) -> Option<SettingValue> {
        match setting {
            Setting::UserPlan => self.user_plan.clone().map(SettingValue::Text),
            Setting::OwnerCompany => self.owner_company.clone().map(SettingValue::Text),
            Setting::PrimaryGroup => self.primary_group.clone().map(SettingValue::Text),
            Setting::SecondaryGroups => self.secondary_groups.clone().map(SettingValue::List),
            Setting::Role => self.role.clone().map(SettingValue::Text),
            Setting::Confidential => self.confidential.map(SettingValue::Flag),
        }
    }

    pub fn is_set(&self, setting: Setting) -> bool {
        match setting {
            Setting::UserPlan => self.user_plan.is_some(),
            Setting::OwnerCompany => self.owner_company.is_some(),
            Setting::PrimaryGroup => self.primary_group.is_some(),
            Setting::SecondaryGroups => self.secondary_groups.is_some(),
            Setting::Role => self.role.is_some(),
            Setting::Confidential => self.confidential.is_some(),
        }
    }

    /// Stores a value already checked to fit the setting (see [`SettingValue`] checks).
    pub(crate) fn put(&mut self, setting: Setting, value: SettingValue) {
        match (setting, value) {
            (Setting::UserPlan, SettingValue::Text(v)) => self.user_plan = Some(v),
            (Setting::OwnerCompany, SettingValue::Text(v)) => self.owner_company = Some(v),
            (Setting::PrimaryGroup, SettingValue::Text(v)) => self.primary_group = Some(v),
            (Setting::SecondaryGroups, SettingValue::List(v)) => self.secondary_groups = Some(v),
            (Setting::Role, SettingValue::Text(v)) => self.role = Some(v),
            (Setting::Confidential, SettingValue::Flag(v)) => self.confidential = Some(v),
            _ => {}
        }
    }
}

/// Whether a value has the shape its setting takes.
pub(crate) fn fits(setting: Setting, value: &SettingValue) -> bool {
    matches!(
        (setting, value),
        (Setting::SecondaryGroups, SettingValue::List(_))
            | (Setting::Confidential, SettingValue::Flag(_))
            | (
                Setting::UserPlan | Setting::OwnerCompany | Setting::PrimaryGroup | Setting::Role,
                SettingValue::Text(_)
            )
    )
}
