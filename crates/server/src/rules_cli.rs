//! `scimgate rules check|eval`: load a rule file (and a catalogue), report every problem
//! with its rule and line, or evaluate one user and print the settings and why.

use anyhow::{bail, Context};
use clap::Subcommand;
use scimgate_rules::{Catalog, Evaluation, GroupRef, RuleSet, Setting, UserInput};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load and compile a rule file; exit 1 with every problem found.
    Check {
        file: PathBuf,
        /// Catalogue (YAML: user_plans, companies, groups, roles) that literals must name.
        #[arg(long)]
        catalog: Option<PathBuf>,
    },
    /// Evaluate one user (a SCIM User JSON file) and explain every setting.
    Eval {
        file: PathBuf,
        #[arg(long)]
        user: PathBuf,
        /// The user's groups, by display name or externalId, comma-separated.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// Print the evaluation as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Save a rule file (and the .rhai scripts it names) as a tenant's rule set, after
    /// checking it against the tenant's catalogue, and publish it at once as a new version.
    Apply {
        #[arg(long)]
        tenant: String,
        file: PathBuf,
        /// Why, kept with the version.
        #[arg(long, default_value = "applied from a file")]
        comment: String,
    },
    /// Show the tenant's draft and what it changes; with a FILE, save that file as the
    /// draft (it must compile); with --discard, throw the draft away.
    Draft {
        #[arg(long)]
        tenant: String,
        file: Option<PathBuf>,
        #[arg(long, conflicts_with = "file")]
        discard: bool,
    },
    /// Publish the draft as the tenant's next version (sync uses it from then on).
    Publish {
        #[arg(long)]
        tenant: String,
        /// Why, kept with the version.
        #[arg(long)]
        comment: String,
    },
    /// List the published versions, newest first.
    Versions {
        #[arg(long)]
        tenant: String,
    },
    /// What changed between two rule sets: version numbers, `published` or `draft`.
    Diff {
        #[arg(long)]
        tenant: String,
        from: String,
        #[arg(default_value = "draft")]
        to: String,
    },
    /// Make a published version the draft (publish it to make it current again).
    Restore {
        #[arg(long)]
        tenant: String,
        version: i64,
    },
}

impl RulesCommand {
    /// Checking and trying rule files is pure; the rest works on a tenant's rule set.
    pub fn needs_database(&self) -> bool {
        !matches!(self, RulesCommand::Check { .. } | RulesCommand::Eval { .. })
    }
}

pub fn run(command: RulesCommand) -> anyhow::Result<()> {
    match command {
        RulesCommand::Apply { .. }
        | RulesCommand::Draft { .. }
        | RulesCommand::Publish { .. }
        | RulesCommand::Versions { .. }
        | RulesCommand::Diff { .. }
        | RulesCommand::Restore { .. } => bail!("this rules command needs the database"),
        RulesCommand::Check { file, catalog } => {
            let set = load(&file, catalog.as_deref())?;
            println!("{}: {} rules OK", file.display(), set.len());
            Ok(())
        }
        RulesCommand::Eval {
            file,
            user,
            groups,
            catalog,
            json,
        } => {
            let set = load(&file, catalog.as_deref())?;
            let text = std::fs::read_to_string(&user)
                .with_context(|| format!("reading {}", user.display()))?;
            let user_json: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", user.display()))?;
            if !user_json.is_object() {
                bail!("{} must hold a SCIM User object", user.display());
            }
            let groups = groups
                .into_iter()
                .map(|g| g.trim().to_owned())
                .filter(|g| !g.is_empty())
                .map(|g| GroupRef {
                    display_name: g,
                    external_id: None,
                })
                .collect();
            let evaluation = set.evaluate(&UserInput {
                user: user_json.clone(),
                groups,
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&evaluation)?);
            } else {
                print!("{}", table(&user_json, &evaluation));
            }
            if !evaluation.errors.is_empty() {
                bail!("{} rule(s) failed for this user", evaluation.errors.len());
            }
            Ok(())
        }
    }
}

fn load(file: &Path, catalog: Option<&Path>) -> anyhow::Result<RuleSet> {
    let catalog = match catalog {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                Catalog::from_yaml(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    RuleSet::load_file(file, catalog.as_ref()).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        anyhow::anyhow!("{} problem(s) in {}", errors.len(), file.display())
    })
}

fn table(user: &serde_json::Value, e: &Evaluation) -> String {
    let mut out = String::new();
    let name = user
        .get("userName")
        .and_then(|v| v.as_str())
        .unwrap_or("(no userName)");
    let synced = match &e.not_synced_because {
        None => "synced".to_owned(),
        Some(why) => format!("not synced: {why}"),
    };
    out.push_str(&format!("user {name}: {synced}\n\n"));
    out.push_str(&format!("{:<18} {:<32} {}\n", "SETTING", "VALUE", "SET BY"));
    for trace in &e.explanation.settings {
        let value = trace
            .value
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into());
        let mut by = trace.set_by.clone().unwrap_or_else(|| "no rule".into());
        for (rule, old) in &trace.overridden {
            by.push_str(&format!(" (overrode {old} from {rule:?})"));
        }
        out.push_str(&format!(
            "{:<18} {:<32} {}\n",
            Setting::name(trace.setting),
            value,
            by
        ));
    }
    out.push_str(&format!("\n{:<28} {}\n", "RULE", "OUTCOME"));
    for rule in &e.explanation.rules {
        out.push_str(&format!("{:<28} {}\n", rule.rule, rule.outcome.describe()));
    }
    for error in &e.errors {
        out.push_str(&format!(
            "\nerror in rule {:?}: {}\n",
            error.rule, error.message
        ));
    }
    out
}
