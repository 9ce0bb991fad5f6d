//! Loading a rule set: parse the YAML, compile every expression and script once, check
//! literals against the catalogue. Every problem is reported with its rule and line.

use crate::catalog::Catalog;
use crate::error::{LoadError, Place};
use crate::model::{
    AppliesTo, FullSettingDef, LiteralDef, Mode, RuleDef, RuleFile, SetDef, SettingDef,
};
use crate::settings::{fits, Setting, SettingValue};
use crate::source::SourceMap;
use crate::{sandbox, scan};
use rhai::{Engine, AST};
use std::path::Path;
use std::sync::Arc;

#[derive(Clone)]
pub(crate) enum Action {
    Literal(SettingValue),
    Expr(AST),
}

#[derive(Clone)]
pub(crate) struct SetStep {
    pub setting: Setting,
    pub action: Action,
    pub mode: Mode,
}

/// A rule's group scope, with the explanation for users it excludes written once at
/// load rather than for every user.
#[derive(Clone)]
pub(crate) enum Scope {
    All,
    MemberOf { group: String, excluded: String },
    NotMemberOf { group: String, excluded: String },
}

#[derive(Clone)]
pub(crate) struct Script {
    pub file: String,
    pub ast: AST,
    /// Whether it must run on a copy of the user (see [`scan::may_modify_user`]).
    pub modifies_user: bool,
}

#[derive(Clone)]
pub(crate) struct Rule {
    pub name: String,
    pub active: bool,
    pub scope: Scope,
    pub when: Option<AST>,
    pub steps: Vec<SetStep>,
    pub script: Option<Script>,
}

/// A compiled rule set, ready to evaluate any number of users.
#[derive(Clone)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) engine: Arc<Engine>,
    pub(crate) catalog: Option<Catalog>,
    /// Whether any rule runs Rhai; if none does, users are never converted for it.
    pub(crate) uses_rhai: bool,
    /// The parts of `user` the rules' Rhai reads (converted per user, nothing more).
    pub(crate) user_fields: scan::UserFields,
    pub(crate) helpers: sandbox::HelpersUsed,
}

struct Loader<'a> {
    file: &'a str,
    source: SourceMap<'a>,
    engine: &'a Engine,
    catalog: Option<&'a Catalog>,
    errors: Vec<LoadError>,
    /// Every expression and script text, to find what they read of `user`.
    rhai_sources: Vec<String>,
}

impl RuleSet {
    /// Loads a rule file; scripts named by rules are read from the file's directory.
    pub fn load_file(path: &Path, catalog: Option<&Catalog>) -> Result<RuleSet, Vec<LoadError>> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![LoadError {
                place: None,
                rule: None,
                message: format!("cannot read {label}: {e}"),
            }]
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let read_script = move |name: &str| -> Result<String, String> {
            let safe = !name.is_empty()
                && !name.contains("..")
                && !name.starts_with('/')
                && name.ends_with(".rhai");
            if !safe {
                return Err(format!(
                    "script {name:?} must be a .rhai file next to the rule file"
                ));
            }
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| format!("cannot read script {name:?}: {e}"))
        };
        RuleSet::from_yaml(&label, &text, &read_script, catalog)
    }

    /// Loads a rule set from YAML text. `file` labels error places; `read_script` returns
    /// the text of a script a rule names.
    pub fn from_yaml(
        file: &str,
        text: &str,
        read_script: &dyn Fn(&str) -> Result<String, String>,
        catalog: Option<&Catalog>,
    ) -> Result<RuleSet, Vec<LoadError>> {
        let source = SourceMap::new(text);
        let parsed: RuleFile =
            serde_yaml::from_str(text).map_err(|e| vec![yaml_error(file, text, &source, &e)])?;
        let engine = sandbox::engine();
        let mut loader = Loader {
            file,
            source,
            engine: &engine,
            catalog,
            errors: Vec::new(),
            rhai_sources: Vec::new(),
        };
        let mut rules = Vec::with_capacity(parsed.rules.len());
        let mut names: Vec<String> = Vec::new();
        for (index, def) in parsed.rules.into_iter().enumerate() {
            if names.contains(&def.name) {
                loader.error(
                    index,
                    "name",
                    &def.name,
                    "another rule has the same name".into(),
                    0,
                );
            }
            names.push(def.name.clone());
            if let Some(rule) = loader.rule(index, def, read_script) {
                rules.push(rule);
            }
        }
        if !loader.errors.is_empty() {
            return Err(loader.errors);
        }
        let uses_rhai = rules.iter().any(|r| {
            r.when.is_some()
                || r.script.is_some()
                || r.steps.iter().any(|s| matches!(s.action, Action::Expr(_)))
        });
        let user_fields = scan::fields_read(loader.rhai_sources.iter().map(String::as_str));
        let helpers = sandbox::HelpersUsed::scan(loader.rhai_sources.iter().map(String::as_str));
        Ok(RuleSet {
            rules,
            engine: Arc::new(engine),
            catalog: catalog.cloned(),
            uses_rhai,
            user_fields,
            helpers,
        })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rule_names(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.name.as_str()).collect()
    }
}

/// A YAML error with its rule and place. Fixed: the rule used to be the last `name:` at or
/// *below* the error's line, so an error on a rule's last line was blamed on the next rule.
/// serde's path (`rules[2].set: …`) says which rule it is; when the text parses as plain
/// YAML, that gives the rule's name whatever the order of its keys.
fn yaml_error(file: &str, text: &str, source: &SourceMap, e: &serde_yaml::Error) -> LoadError {
    // serde_yaml's message repeats the position; ours is in `place`.
    let message = e.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    let index = message
        .strip_prefix("rules[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|i| i.parse::<usize>().ok());
    let mut place = e.location().map(|l| Place {
        file: file.to_owned(),
        line: l.line(),
        column: l.column(),
    });
    let rule = index
        .and_then(|i| {
            let doc: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
            let name = doc.get("rules")?.get(i)?.get("name")?.as_str()?;
            Some(name.to_owned())
        })
        .or_else(|| place.as_ref().and_then(|p| source.rule_at(p.line)));
    // serde's untagged enums only say "data did not match any variant": say which
    // setting it is and what a setting takes.
    let untagged = ": data did not match any variant of untagged enum SettingDef";
    let message = match message.strip_suffix(untagged) {
        Some(path) => {
            let key = place
                .as_ref()
                .and_then(|p| source.key_at(p.line))
                .filter(|k| Setting::from_name(k).is_some())
                .map(|k| format!(".{k}"))
                .unwrap_or_default();
            format!(
                "{path}{key}: expected a text, a list of texts, true or false, \
                 or {{ value: …, mode: … }} or {{ expr: …, mode: … }} \
                 with mode always or if_not_set"
            )
        }
        None => message,
    };
    // `applies_to`'s own check is reported at the start of the rule; point at the key.
    let about_applies_to = message
        .split_once(": ")
        .is_some_and(|(_, m)| m.starts_with("applies_to"));
    if let (true, Some(p), Some(i)) = (about_applies_to, place.as_mut(), index) {
        if let Some(line) = source.find_key_line(i, "applies_to") {
            p.line = line;
            p.column = 0;
        }
    }
    LoadError {
        place,
        rule,
        message,
    }
}

impl Loader<'_> {
    fn error(&mut self, index: usize, key: &str, rule: &str, message: String, line_offset: usize) {
        let line = self
            .source
            .key_line(index, key)
            .or_else(|| self.source.rule_line(index))
            .unwrap_or(0);
        self.errors.push(LoadError {
            place: Some(Place {
                file: self.file.to_owned(),
                line: line + line_offset,
                column: 0,
            }),
            rule: Some(rule.to_owned()),
            message,
        });
    }

    fn compile_expr(&mut self, index: usize, rule: &str, key: &str, text: &str) -> Option<AST> {
        self.rhai_sources.push(text.to_owned());
        match self
            .engine
            .compile_expression_with_scope(&sandbox::compile_scope(), text)
        {
            Ok(ast) => Some(ast),
            Err(e) => {
                // Fixed: the offset counted from the key's line, one or two lines short
                // when the code is a block scalar (`when: |`) or under its own `expr:` key.
                let code_line = e.1.line().map(|l| l.saturating_sub(1)).unwrap_or(0);
                let offset = code_line + self.source.code_offset(index, key);
                self.error(index, key, rule, format!("{key}: {}", e.0), offset);
                // The column: where that line of code sits in the file, plus Rhai's column.
                let code = text.lines().nth(code_line).unwrap_or_default();
                if let Some(place) = self.errors.last_mut().and_then(|err| err.place.as_mut()) {
                    if let Some(start) = self.source.column_of(place.line, code) {
                        let indent = code.len() - code.trim_start().len();
                        place.column = start
                            + e.1
                                .position()
                                .unwrap_or(1)
                                .saturating_sub(1)
                                .saturating_sub(indent);
                    }
                }
                None
            }
        }
    }

    fn rule(
        &mut self,
        index: usize,
        def: RuleDef,
        read_script: &dyn Fn(&str) -> Result<String, String>,
    ) -> Option<Rule> {
        let before = self.errors.len();
        let name = def.name.clone();
        if name.trim().is_empty() {
            self.error(index, "name", &name, "a rule needs a name".into(), 0);
        }
        let scope = match def.applies_to {
            AppliesTo::All => Scope::All,
            AppliesTo::MemberOf(g) => Scope::MemberOf {
                excluded: format!("not member of {g:?}"),
                group: g,
            },
            AppliesTo::NotMemberOf(g) => Scope::NotMemberOf {
                excluded: format!("member of {g:?}"),
                group: g,
            },
        };
        let when = def
            .when
            .as_deref()
            .and_then(|w| self.compile_expr(index, &name, "when", w));
        let steps = self.steps(index, &name, def.set);
        let script = def
            .script
            .and_then(|file| self.script(index, &name, file, read_script));
        if self.errors.len() > before {
            return None;
        }
        Some(Rule {
            name,
            active: def.active,
            scope,
            when,
            steps,
            script,
        })
    }

    fn script(
        &mut self,
        index: usize,
        rule: &str,
        file: String,
        read_script: &dyn Fn(&str) -> Result<String, String>,
    ) -> Option<Script> {
        let text = match read_script(&file) {
            Ok(text) => text,
            Err(message) => {
                self.error(index, "script", rule, message, 0);
                return None;
            }
        };
        self.rhai_sources.push(text.clone());
        match self
            .engine
            .compile_with_scope(&sandbox::compile_scope(), &text)
        {
            Ok(ast) => Some(Script {
                modifies_user: scan::may_modify_user(&text),
                file,
                ast,
            }),
            Err(e) => {
                let at =
                    e.1.line()
                        .map(|l| format!(" (line {l} of {file})"))
                        .unwrap_or_default();
                self.error(
                    index,
                    "script",
                    rule,
                    format!("script {file}: {}{at}", e.0),
                    0,
                );
                None
            }
        }
    }

    fn steps(&mut self, index: usize, rule: &str, set: SetDef) -> Vec<SetStep> {
        let defs = set.in_order();
        let mut steps = Vec::new();
        for (setting, def) in defs {
            let Some(def) = def else { continue };
            let key = setting.name();
            let (action, mode) = match def {
                SettingDef::Short(literal) => {
                    (self.literal(index, rule, setting, literal), Mode::Always)
                }
                SettingDef::Full(FullSettingDef {
                    value: Some(v),
                    expr: None,
                    mode,
                }) => (self.literal(index, rule, setting, v), mode),
                SettingDef::Full(FullSettingDef {
                    value: None,
                    expr: Some(e),
                    mode,
                }) => (
                    self.compile_expr(index, rule, key, &e).map(Action::Expr),
                    mode,
                ),
                SettingDef::Full(_) => {
                    self.error(
                        index,
                        key,
                        rule,
                        format!("set.{key}: give exactly one of value or expr"),
                        0,
                    );
                    (None, Mode::Always)
                }
            };
            if let Some(action) = action {
                steps.push(SetStep {
                    setting,
                    action,
                    mode,
                });
            }
        }
        steps
    }

    fn literal(
        &mut self,
        index: usize,
        rule: &str,
        setting: Setting,
        literal: LiteralDef,
    ) -> Option<Action> {
        let key = setting.name();
        let value = match literal {
            LiteralDef::Flag(b) => SettingValue::Flag(b),
            LiteralDef::Text(t) => SettingValue::Text(t),
            LiteralDef::List(l) => SettingValue::List(l),
        };
        if !fits(setting, &value) {
            self.error(
                index,
                key,
                rule,
                format!("set.{key}: expected {}, got {value}", setting.expects()),
                0,
            );
            return None;
        }
        if let Some(catalog) = self.catalog {
            if let Err(message) = crate::catalog::check(catalog, setting, &value) {
                self.error(index, key, rule, format!("set.{key}: {message}"), 0);
                return None;
            }
        }
        Some(Action::Literal(value))
    }
}
