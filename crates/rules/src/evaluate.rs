//! Evaluating one user against a rule set, top to bottom, keeping an explanation of
//! every decision: which rule set each value, which matched, and why the others did not.

use crate::model::Mode;
use crate::ruleset::{Action, Rule, RuleSet, Scope};
use crate::sandbox;
use crate::settings::{fits, AccountSettings, Setting, SettingValue};
use crate::UserInput;
use rhai::{Dynamic, Map, AST};
use serde::Serialize;

/// What a sync needs of one user: the settings and whether the user is synced, without
/// the explanation. [`RuleSet::decide`] skips building the explanation (its strings and
/// per-rule traces are most of the allocations of an evaluation), which matters when a
/// whole company of users is planned at once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub settings: AccountSettings,
    pub synced: bool,
    pub not_synced_because: Option<String>,
    pub errors: Vec<UserError>,
    /// Per setting, in the order of [`Setting::ALL`], the index of the rule whose value
    /// stands ([`RuleSet::rules_that_set`] names them). Kept as indices: a whole company
    /// is decided at once, and a name per setting and user would be 600,000 strings.
    #[serde(skip)]
    pub set_by: [Option<u32>; Setting::ALL.len()],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub settings: AccountSettings,
    /// Whether the user gets a CRM account: a user plan, no errors, active in the IdP.
    pub synced: bool,
    /// Why not, when `synced` is false.
    pub not_synced_because: Option<String>,
    pub errors: Vec<UserError>,
    pub explanation: Explanation,
}

/// A rule that failed for this user (its expression errored, returned the wrong kind of
/// value, named something the catalogue does not have, or ran too long).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserError {
    pub rule: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Explanation {
    /// One entry per setting, in the fixed order of [`Setting::ALL`].
    pub settings: Vec<SettingTrace>,
    /// One entry per rule, in rule order.
    pub rules: Vec<RuleTrace>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingTrace {
    pub setting: Setting,
    pub value: Option<SettingValue>,
    /// The rule whose value stands; `None` when no rule set it.
    pub set_by: Option<String>,
    /// Earlier values that a later `always` rule replaced: `(rule, value)`.
    pub overridden: Vec<(String, SettingValue)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTrace {
    pub rule: String,
    pub outcome: RuleOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RuleOutcome {
    /// The rule applied: what it set, and what it left alone and why.
    Matched {
        set: Vec<(Setting, SettingValue)>,
        skipped: Vec<String>,
    },
    Inactive,
    /// `applies_to` excluded the user, e.g. `not member of "Sales"`.
    NotApplicable {
        reason: String,
    },
    WhenFalse,
    Failed {
        error: String,
    },
}

impl RuleOutcome {
    /// A one-line reason, as a table shows it.
    pub fn describe(&self) -> String {
        match self {
            RuleOutcome::Matched { set, skipped } => {
                let mut parts: Vec<String> =
                    set.iter().map(|(s, v)| format!("{s} = {v}")).collect();
                parts.extend(skipped.iter().cloned());
                if parts.is_empty() {
                    "matched".to_owned()
                } else {
                    format!("matched: {}", parts.join("; "))
                }
            }
            RuleOutcome::Inactive => "inactive".to_owned(),
            RuleOutcome::NotApplicable { reason } => reason.clone(),
            RuleOutcome::WhenFalse => "when was false".to_owned(),
            RuleOutcome::Failed { error } => format!("error: {error}"),
        }
    }
}

/// Per-user evaluation state: the Rhai scope is built at most once per user, on first use.
struct Run<'a> {
    set: &'a RuleSet,
    input: &'a UserInput,
    scope: Option<rhai::Scope<'static>>,
    settings: AccountSettings,
    /// Whether to build the explanation; `traces` stays empty when not.
    explain: bool,
    set_by: [Option<u32>; Setting::ALL.len()],
    traces: Vec<SettingTrace>,
    errors: Vec<UserError>,
}

impl RuleSet {
    /// Evaluates many users on all cores (evaluation is pure, so users are independent);
    /// results are in input order. This is what explaining a whole company uses.
    pub fn evaluate_all(&self, inputs: &[UserInput]) -> Vec<Evaluation> {
        on_all_cores(inputs, |input| self.evaluate(input))
    }

    /// [`RuleSet::decide`] for many users on all cores, in input order: what planning a
    /// sync of a whole company uses.
    pub fn decide_all(&self, inputs: &[UserInput]) -> Vec<Decision> {
        on_all_cores(inputs, |input| self.decide(input))
    }

    /// How many of `inputs` each rule applied to (active, in scope, its condition true),
    /// in rule order, on all cores.
    pub fn match_counts(&self, inputs: &[UserInput]) -> Vec<(String, u64)> {
        let per_user = on_all_cores(inputs, |input| {
            let (_, explanation) = self.run(input, true);
            (explanation.rules.iter())
                .map(|trace| matches!(trace.outcome, RuleOutcome::Matched { .. }))
                .collect::<Vec<bool>>()
        });
        let mut counts = vec![0u64; self.rules.len()];
        for matched in per_user {
            for (count, hit) in counts.iter_mut().zip(matched) {
                *count += u64::from(hit);
            }
        }
        (self.rules.iter().map(|r| r.name.clone()))
            .zip(counts)
            .collect()
    }

    /// The names of the rules whose values stand in `decision`, each once, in rule order:
    /// what the Preview's *Set by rule* column shows.
    pub fn rules_that_set(&self, decision: &Decision) -> Vec<&str> {
        let mut indices: Vec<u32> = decision.set_by.iter().flatten().copied().collect();
        indices.sort_unstable();
        indices.dedup();
        (indices.iter())
            .filter_map(|n| self.rules.get(*n as usize))
            .map(|rule| rule.name.as_str())
            .collect()
    }

    /// The settings of one user without the explanation.
    pub fn decide(&self, input: &UserInput) -> Decision {
        self.run(input, false).0
    }

    /// The settings of one user and the explanation of every value.
    pub fn evaluate(&self, input: &UserInput) -> Evaluation {
        let (decision, explanation) = self.run(input, true);
        let Decision {
            settings,
            synced,
            not_synced_because,
            errors,
            set_by: _,
        } = decision;
        Evaluation {
            settings,
            synced,
            not_synced_because,
            errors,
            explanation,
        }
    }
    fn run(&self, input: &UserInput, explain: bool) -> (Decision, Explanation) {
        let traces = if explain {
            Setting::ALL
                .iter()
                .map(|s| SettingTrace {
                    setting: *s,
                    value: None,
                    set_by: None,
                    overridden: Vec::new(),
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut run = Run {
            set: self,
            input,
            scope: None,
            settings: AccountSettings::default(),
            explain,
            set_by: [None; Setting::ALL.len()],
            traces,
            errors: Vec::new(),
        };
        let rules = if self.uses_rhai {
            sandbox::with_user(&input.user, &input.groups, self.helpers, || {
                (self.rules.iter().enumerate())
                    .filter_map(|(n, r)| run.rule(n, r))
                    .collect()
            })
        } else {
            (self.rules.iter().enumerate())
                .filter_map(|(n, r)| run.rule(n, r))
                .collect()
        };
        let Run {
            settings,
            traces,
            errors,
            set_by,
            ..
        } = run;
        let active = sandbox::is_active(&input.user);
        let not_synced_because = if !errors.is_empty() {
            Some(format!("rule {:?} failed", errors[0].rule))
        } else if settings.user_plan.is_none() {
            Some("no rule gave the user a user plan".to_owned())
        } else if !active {
            Some("the user is inactive in the identity provider".to_owned())
        } else {
            None
        };
        (
            Decision {
                synced: not_synced_because.is_none(),
                not_synced_because,
                settings,
                errors,
                set_by,
            },
            Explanation {
                settings: traces,
                rules,
            },
        )
    }
}

/// Maps `f` over `inputs` on every core, keeping input order. Small inputs stay on the
/// calling thread: starting threads costs more than evaluating a few hundred users.
fn on_all_cores<T: Send>(inputs: &[UserInput], f: impl Fn(&UserInput) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(16);
    if threads < 2 || inputs.len() < 1_000 {
        return inputs.iter().map(&f).collect();
    }
    let chunk = inputs.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = inputs
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<_>>()))
            .collect();
        // A panicking evaluation is a bug; carrying on without its users would make them
        // look deleted to a sync. The panic goes on to the caller.
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

fn member(input: &UserInput, group: &str) -> bool {
    input.groups.iter().any(|g| {
        g.display_name.eq_ignore_ascii_case(group)
            || g.external_id
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(group))
    })
}

impl Run<'_> {
    /// Applies rule number `index`; its trace when explaining.
    fn rule(&mut self, index: usize, rule: &Rule) -> Option<RuleTrace> {
        let outcome = self.outcome(index, rule).unwrap_or_else(|error| {
            self.errors.push(UserError {
                rule: rule.name.clone(),
                message: error.clone(),
            });
            RuleOutcome::Failed { error }
        });
        self.explain.then(|| RuleTrace {
            rule: rule.name.clone(),
            outcome,
        })
    }

    /// Why `applies_to` excluded the user, written only when explaining.
    fn excluded(&self, reason: &str) -> RuleOutcome {
        RuleOutcome::NotApplicable {
            reason: if self.explain {
                reason.to_owned()
            } else {
                String::new()
            },
        }
    }

    fn outcome(&mut self, index: usize, rule: &Rule) -> Result<RuleOutcome, String> {
        if !rule.active {
            return Ok(RuleOutcome::Inactive);
        }
        match &rule.scope {
            Scope::All => {}
            Scope::MemberOf { group, excluded } if !member(self.input, group) => {
                return Ok(self.excluded(excluded));
            }
            Scope::NotMemberOf { group, excluded } if member(self.input, group) => {
                return Ok(self.excluded(excluded));
            }
            _ => {}
        }
        if let Some(when) = &rule.when {
            match self.eval(when)? {
                d if d.is_bool() => {
                    if !d.as_bool().unwrap_or(false) {
                        return Ok(RuleOutcome::WhenFalse);
                    }
                }
                d if d.is_unit() => return Ok(RuleOutcome::WhenFalse),
                other => {
                    return Err(format!(
                        "when must be true or false, got {} ({other})",
                        other.type_name()
                    ))
                }
            }
        }
        // Compute every value first: a rule that fails half-way sets nothing.
        let mut planned: Vec<(Setting, Option<SettingValue>, Mode)> = Vec::new();
        for step in &rule.steps {
            let value = match &step.action {
                Action::Literal(v) => Some(v.clone()),
                Action::Expr(ast) => {
                    let result = self.eval(ast)?;
                    self.to_setting(step.setting, result)?
                }
            };
            planned.push((step.setting, value, step.mode));
        }
        if let Some(script) = &rule.script {
            let file = &script.file;
            let result = if script.modifies_user {
                self.eval_script(&script.ast)
            } else {
                self.eval(&script.ast)
            }
            .map_err(|e| format!("script {file}: {e}"))?;
            if !result.is_unit() {
                let map = result
                    .try_cast::<Map>()
                    .ok_or_else(|| format!("script {file} must return a map of settings, e.g. #{{ role: \"Sales user\" }}"))?;
                for (key, value) in map {
                    let setting = Setting::from_name(&key)
                        .ok_or_else(|| format!("script {file} returned unknown setting {key:?}"))?;
                    planned.push((setting, self.to_setting(setting, value)?, Mode::Always));
                }
            }
        }
        let mut set = Vec::new();
        let mut skipped = Vec::new();
        for (setting, value, mode) in planned {
            let Some(value) = value else {
                if self.explain {
                    skipped.push(format!("{setting}: expression gave no value"));
                }
                continue;
            };
            if mode == Mode::IfNotSet && self.settings.is_set(setting) {
                if let Some(existing) = self.settings.get(setting).filter(|_| self.explain) {
                    skipped.push(format!(
                        "{setting}: skipped: if_not_set and already {existing}"
                    ));
                }
                continue;
            }
            let position = Setting::ALL.iter().position(|s| *s == setting).unwrap_or(0);
            self.set_by[position] = u32::try_from(index).ok();
            if !self.explain {
                self.settings.put(setting, value);
                continue;
            }
            let trace = &mut self.traces[position];
            if let (Some(by), Some(old)) = (trace.set_by.take(), trace.value.take()) {
                trace.overridden.push((by, old));
            }
            trace.set_by = Some(rule.name.clone());
            trace.value = Some(value.clone());
            self.settings.put(setting, value.clone());
            set.push((setting, value));
        }
        Ok(RuleOutcome::Matched { set, skipped })
    }

    fn eval(&mut self, ast: &AST) -> Result<Dynamic, String> {
        self.eval_prepare();
        let Some(scope) = self.scope.as_mut() else {
            return Err("no scope".into());
        };
        let size = scope.len();
        let result = self.set.engine.eval_ast_with_scope::<Dynamic>(scope, ast);
        // A script's own `let` variables must not leak into the next rule.
        scope.rewind(size);
        result.map_err(|e| describe(*e))
    }

    /// Runs a script on a copy of the user: Rhai lets a script assign a property of a
    /// constant map (`user.title = "x"`), and no rule may change what the next one sees.
    fn eval_script(&mut self, ast: &AST) -> Result<Dynamic, String> {
        self.eval_prepare();
        let mut scope = self.scope.clone().ok_or("no scope")?;
        self.set
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, ast)
            .map_err(|e| describe(*e))
    }

    fn eval_prepare(&mut self) {
        if self.scope.is_none() {
            let mut scope = rhai::Scope::new();
            scope.push_constant_dynamic(
                "user",
                sandbox::user_object(&self.input.user, &self.set.user_fields),
            );
            // Rules that never name `groups` or `group_ids` get them empty: the names
            // must exist (they were compiled against), the per-user arrays need not.
            let used = self.set.helpers;
            let groups: &[crate::GroupRef] = if used.groups { &self.input.groups } else { &[] };
            scope.push_constant_dynamic("groups", sandbox::groups_object(groups));
            let groups: &[crate::GroupRef] = if used.group_ids {
                &self.input.groups
            } else {
                &[]
            };
            scope.push_constant_dynamic("group_ids", sandbox::group_ids_object(groups));
            self.scope = Some(scope);
        }
    }
}

fn describe(e: rhai::EvalAltResult) -> String {
    match e {
        rhai::EvalAltResult::ErrorTooManyOperations(_) => {
            format!(
                "stopped after {} operations (an endless loop?)",
                sandbox::MAX_OPERATIONS
            )
        }
        other => other.to_string(),
    }
}

impl Run<'_> {
    /// A Rhai result as a setting value: `()` means "no value"; anything else must have
    /// the setting's shape and, when a catalogue is known, name an entry of it.
    fn to_setting(&self, setting: Setting, value: Dynamic) -> Result<Option<SettingValue>, String> {
        if value.is_unit() {
            return Ok(None);
        }
        let type_name = value.type_name();
        let converted = if value.is_string() {
            value.into_string().ok().map(SettingValue::Text)
        } else if value.is_bool() {
            value.as_bool().ok().map(SettingValue::Flag)
        } else if value.is_array() {
            value
                .into_array()
                .ok()
                .and_then(|items| {
                    items
                        .into_iter()
                        .map(|i| i.into_string().ok())
                        .collect::<Option<Vec<_>>>()
                })
                .map(SettingValue::List)
        } else {
            None
        };
        let value = match converted {
            Some(v) if fits(setting, &v) => v,
            _ => {
                return Err(format!(
                    "{setting} expects {}, the expression gave {type_name}",
                    setting.expects()
                ))
            }
        };
        if let Some(catalog) = &self.set.catalog {
            crate::catalog::check(catalog, setting, &value)
                .map_err(|m| format!("{setting}: {m}"))?;
        }
        Ok(Some(value))
    }
}
