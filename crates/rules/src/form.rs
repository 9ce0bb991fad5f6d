//! One rule as the Rules page's editor shows and takes it: name, active, scope (all, a
//! group, all but a group), an optional Rhai condition, and each of the six settings
//! unset, a value, or a Rhai expression, applied always or only if not set yet. A rule's
//! YAML reads into a form and a form writes back to YAML; a rule the form cannot show
//! exactly (a value of the wrong shape, a setting with both `value` and `expr`) is
//! refused by [`RuleForm::of_yaml`], and the page leaves it to the YAML view.

use crate::model::{AppliesTo, LiteralDef, Mode, RuleDef, SettingDef};
use crate::{sandbox, LoadError, Setting};
use serde_yaml::{Mapping, Value as Yaml};

/// Who a rule applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RuleScope {
    #[default]
    All,
    /// Members of the group (by display name or externalId).
    MemberOf(String),
    /// Everyone but the group's members.
    NotMemberOf(String),
}

/// How a rule sets one setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SettingKind {
    #[default]
    Unset,
    Value,
    Expr,
}

/// One setting of a rule, as the form holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingForm {
    pub kind: SettingKind,
    /// The value: a text; for secondary groups one group per line; for confidential
    /// `true` or `false`.
    pub value: String,
    /// The Rhai expression.
    pub expr: String,
    /// Only when no earlier rule set it (`mode: if_not_set`); else always.
    pub if_not_set: bool,
}

/// A rule, as the editor shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleForm {
    pub name: String,
    pub active: bool,
    pub scope: RuleScope,
    /// The Rhai condition; empty for none.
    pub when: String,
    /// In [`Setting::ALL`]'s order.
    pub settings: [SettingForm; 6],
    /// The script file the rule runs, kept as it is (the form does not edit scripts).
    pub script: Option<String>,
}

impl Default for RuleForm {
    fn default() -> RuleForm {
        RuleForm {
            name: String::new(),
            active: true,
            scope: RuleScope::All,
            when: String::new(),
            settings: Default::default(),
            script: None,
        }
    }
}

fn index_of(setting: Setting) -> usize {
    Setting::ALL.iter().position(|s| *s == setting).unwrap_or(0)
}

impl RuleForm {
    pub fn setting(&self, setting: Setting) -> &SettingForm {
        &self.settings[index_of(setting)]
    }

    pub fn setting_mut(&mut self, setting: Setting) -> &mut SettingForm {
        &mut self.settings[index_of(setting)]
    }

    /// The form of one rule's YAML, or why the form cannot show it exactly.
    pub fn of_yaml(rule: &Yaml) -> Result<RuleForm, String> {
        let def: RuleDef = serde_yaml::from_value(rule.clone()).map_err(|e| e.to_string())?;
        // Names and values are compared and written without surrounding blank space, as
        // the editor's text boxes send them back.
        let scope = match def.applies_to {
            AppliesTo::All => RuleScope::All,
            AppliesTo::MemberOf(g) => RuleScope::MemberOf(g.trim().to_owned()),
            AppliesTo::NotMemberOf(g) => RuleScope::NotMemberOf(g.trim().to_owned()),
        };
        let mut form = RuleForm {
            name: def.name.trim().to_owned(),
            active: def.active,
            scope,
            // Code is compared and written without its surrounding blank space (a block
            // scalar's final line break), as a text box sends it back.
            when: def.when.unwrap_or_default().trim().to_owned(),
            settings: Default::default(),
            script: def.script,
        };
        for (setting, def) in def.set.in_order() {
            if let Some(def) = def {
                *form.setting_mut(setting) = setting_form(setting, def)?;
            }
        }
        Ok(form)
    }

    /// The rule as YAML: `name`, `active: false` when off, `applies_to`, `when`, `set`
    /// (short form for a value applied always) and `script`.
    pub fn to_yaml(&self) -> Yaml {
        let mut rule = Mapping::new();
        rule.insert("name".into(), self.name.trim().into());
        if !self.active {
            rule.insert("active".into(), Yaml::Bool(false));
        }
        let scope = match &self.scope {
            RuleScope::All => Yaml::from("all"),
            RuleScope::MemberOf(g) => one_key("member_of", g.trim().into()),
            RuleScope::NotMemberOf(g) => one_key("not_member_of", g.trim().into()),
        };
        rule.insert("applies_to".into(), scope);
        if !self.when.trim().is_empty() {
            rule.insert("when".into(), self.when.trim().into());
        }
        let mut set = Mapping::new();
        for setting in Setting::ALL {
            if let Some(value) = setting_yaml(setting, self.setting(setting)) {
                set.insert(setting.name().into(), value);
            }
        }
        if !set.is_empty() {
            rule.insert("set".into(), Yaml::Mapping(set));
        }
        if let Some(script) = &self.script {
            rule.insert("script".into(), script.as_str().into());
        }
        Yaml::Mapping(rule)
    }
}

fn one_key(key: &str, value: Yaml) -> Yaml {
    let mut map = Mapping::new();
    map.insert(key.into(), value);
    Yaml::Mapping(map)
}

fn literal_text(setting: Setting, literal: LiteralDef) -> Result<String, String> {
    let shape_ok = matches!(
        (setting, &literal),
        (Setting::SecondaryGroups, LiteralDef::List(_))
            | (Setting::Confidential, LiteralDef::Flag(_))
            | (
                Setting::UserPlan | Setting::OwnerCompany | Setting::PrimaryGroup | Setting::Role,
                LiteralDef::Text(_)
            )
    );
    if !shape_ok {
        return Err(format!("{setting} takes {}", setting.expects()));
    }
    Ok(match literal {
        LiteralDef::Text(text) => text.trim().to_owned(),
        LiteralDef::List(items) => (items.iter().map(|item| item.trim()))
            .collect::<Vec<_>>()
            .join("\n"),
        LiteralDef::Flag(flag) => flag.to_string(),
    })
}

fn setting_form(setting: Setting, def: SettingDef) -> Result<SettingForm, String> {
    match def {
        SettingDef::Short(literal) => Ok(SettingForm {
            kind: SettingKind::Value,
            value: literal_text(setting, literal)?,
            ..Default::default()
        }),
        SettingDef::Full(full) => {
            let if_not_set = full.mode == Mode::IfNotSet;
            match (full.value, full.expr) {
                (Some(value), None) => Ok(SettingForm {
                    kind: SettingKind::Value,
                    value: literal_text(setting, value)?,
                    if_not_set,
                    ..Default::default()
                }),
                (None, Some(expr)) => Ok(SettingForm {
                    kind: SettingKind::Expr,
                    expr: expr.trim().to_owned(),
                    if_not_set,
                    ..Default::default()
                }),
                _ => Err(format!("{setting} needs exactly one of value or expr")),
            }
        }
    }
}

/// The form's value as the setting's YAML value: a list of the non-empty lines for
/// secondary groups, a boolean for confidential (a text that is not one is kept as text,
/// and compiling says what the setting takes), else the trimmed text.
fn value_yaml(setting: Setting, text: &str) -> Yaml {
    match setting {
        Setting::SecondaryGroups => Yaml::Sequence(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(Yaml::from)
                .collect(),
        ),
        Setting::Confidential => match text.trim() {
            "true" => Yaml::Bool(true),
            "false" => Yaml::Bool(false),
            other => other.into(),
        },
        _ => text.trim().into(),
    }
}

fn setting_yaml(setting: Setting, form: &SettingForm) -> Option<Yaml> {
    let (key, value) = match form.kind {
        SettingKind::Unset => return None,
        SettingKind::Value if !form.if_not_set => return Some(value_yaml(setting, &form.value)),
        SettingKind::Value => ("value", value_yaml(setting, &form.value)),
        SettingKind::Expr => ("expr", Yaml::from(form.expr.trim())),
    };
    let mut full = Mapping::new();
    full.insert(key.into(), value);
    if form.if_not_set {
        full.insert("mode".into(), "if_not_set".into());
    }
    Some(Yaml::Mapping(full))
}

/// Why a Rhai condition or expression does not compile, and where in its own text (line
/// and column from 1), as the editor shows it under the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeProblem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Compiles `code` as a rule's condition or expression is compiled.
pub fn check_code(code: &str) -> Option<CodeProblem> {
    let engine = sandbox::engine();
    match engine.compile_expression_with_scope(&sandbox::compile_scope(), code) {
        Ok(_) => None,
        Err(e) => Some(CodeProblem {
            line: e.1.line().unwrap_or(1),
            column: e.1.position().unwrap_or(1),
            message: e.0.to_string(),
        }),
    }
}

/// The field of the editor a load error is about: `when`, a setting's name, or `None`
/// (the rule as a whole).
pub fn problem_field(error: &LoadError) -> Option<&'static str> {
    let head = error.message.split(':').next()?;
    let key = head.strip_prefix("set.").unwrap_or(head);
    match key {
        "when" => Some("when"),
        "name" => Some("name"),
        _ => Setting::from_name(key).map(Setting::name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> Yaml {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn a_rule_reads_into_the_form_and_writes_back() {
        let yaml = rule(
            "name: HR department\napplies_to: { not_member_of: \"HR\" }\nwhen: 'user.title == \"x\"'\nset:\n  role: \"HR\"\n  confidential: { value: false, mode: if_not_set }\n  secondary_groups: [\"A\", \"B\"]\n  owner_company: { expr: '\"Acme\"' }\n",
        );
        let form = RuleForm::of_yaml(&yaml).unwrap();
        assert_eq!(form.scope, RuleScope::NotMemberOf("HR".into()));
        assert_eq!(form.when, "user.title == \"x\"");
        assert_eq!(form.setting(Setting::Role).value, "HR");
        let confidential = form.setting(Setting::Confidential);
        assert_eq!(
            (confidential.value.as_str(), confidential.if_not_set),
            ("false", true)
        );
        assert_eq!(form.setting(Setting::SecondaryGroups).value, "A\nB");
        assert_eq!(form.setting(Setting::OwnerCompany).kind, SettingKind::Expr);
        assert_eq!(form.setting(Setting::UserPlan).kind, SettingKind::Unset);
        let again = RuleForm::of_yaml(&form.to_yaml()).unwrap();
        assert_eq!(again, form);
        let text = serde_yaml::to_string(&form.to_yaml()).unwrap();
        assert!(
            text.starts_with("name: HR department\napplies_to:\n  not_member_of: HR\n"),
            "{text}"
        );
    }

    #[test]
    fn code_is_checked_where_the_admin_wrote_it() {
        assert_eq!(check_code("user.title == \"x\""), None);
        let problem = check_code("user.title ==\n  == 2").unwrap();
        assert_eq!((problem.line, problem.column), (2, 3), "{problem:?}");
    }

    #[test]
    fn a_rule_the_form_cannot_show_is_refused() {
        let both = rule("name: X\nset:\n  role: { value: \"A\", expr: '\"B\"' }\n");
        assert!(RuleForm::of_yaml(&both)
            .unwrap_err()
            .contains("exactly one"));
        let shape = rule("name: X\nset:\n  confidential: \"yes\"\n");
        assert!(RuleForm::of_yaml(&shape)
            .unwrap_err()
            .contains("true or false"));
    }

    #[test]
    fn an_inactive_rule_says_so_and_empty_parts_are_left_out() {
        let form = RuleForm {
            name: " Off ".into(),
            active: false,
            ..Default::default()
        };
        let text = serde_yaml::to_string(&form.to_yaml()).unwrap();
        assert_eq!(text, "name: Off\nactive: false\napplies_to: all\n");
    }
}
