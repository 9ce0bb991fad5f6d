//! The rule file as written (YAML). Unknown keys are errors, so a typo never silently
//! turns a rule into something else.

use crate::Setting;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    pub rules: Vec<RuleDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDef {
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub applies_to: AppliesTo,
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub set: SetDef,
    #[serde(default)]
    pub script: Option<String>,
}

fn yes() -> bool {
    true
}

/// `all`, `{ member_of: G }` or `{ not_member_of: G }`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(try_from = "AppliesToRepr")]
pub(crate) enum AppliesTo {
    #[default]
    All,
    MemberOf(String),
    NotMemberOf(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AppliesToRepr {
    Word(String),
    // A plain map checked in `try_from`: a typo (`membr_of`) then gets our message, not
    // serde's "did not match any variant of untagged enum".
    Map(std::collections::BTreeMap<String, String>),
}

impl TryFrom<AppliesToRepr> for AppliesTo {
    type Error = String;

    fn try_from(repr: AppliesToRepr) -> Result<Self, Self::Error> {
        match repr {
            AppliesToRepr::Word(w) if w == "all" => Ok(AppliesTo::All),
            AppliesToRepr::Word(w) => Err(format!(
                "applies_to: {w:?} is not `all`, `{{ member_of: G }}` or `{{ not_member_of: G }}`"
            )),
            AppliesToRepr::Map(map) => {
                if map.len() == 1 {
                    if let Some(g) = map.get("member_of") {
                        return Ok(AppliesTo::MemberOf(g.clone()));
                    }
                    if let Some(g) = map.get("not_member_of") {
                        return Ok(AppliesTo::NotMemberOf(g.clone()));
                    }
                }
                let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                Err(format!(
                    "applies_to takes exactly one of member_of or not_member_of, not `{}`",
                    keys.join("`, `")
                ))
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetDef {
    pub user_plan: Option<SettingDef>,
    pub owner_company: Option<SettingDef>,
    pub primary_group: Option<SettingDef>,
    pub secondary_groups: Option<SettingDef>,
    pub role: Option<SettingDef>,
    pub confidential: Option<SettingDef>,
}

impl SetDef {
    /// Each setting with how the rule sets it, in [`Setting::ALL`]'s order.
    pub fn in_order(self) -> [(Setting, Option<SettingDef>); 6] {
        [
            (Setting::UserPlan, self.user_plan),
            (Setting::OwnerCompany, self.owner_company),
            (Setting::PrimaryGroup, self.primary_group),
            (Setting::SecondaryGroups, self.secondary_groups),
            (Setting::Role, self.role),
            (Setting::Confidential, self.confidential),
        ]
    }
}

/// `"Standard"` (short form: a value, mode always), or `{ value | expr, mode }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum SettingDef {
    Short(LiteralDef),
    Full(FullSettingDef),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum LiteralDef {
    Flag(bool),
    Text(String),
    List(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FullSettingDef {
    pub value: Option<LiteralDef>,
    pub expr: Option<String>,
    #[serde(default)]
    pub mode: Mode,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Always,
    IfNotSet,
}
