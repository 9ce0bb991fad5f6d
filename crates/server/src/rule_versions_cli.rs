//! `scimgate rules apply|draft|publish|versions|diff|restore`: a tenant's rule set, its
//! draft and its published versions from a terminal, through the application layer the
//! admin API and the web UI use.

use crate::cli::find_tenant;
use crate::rules_cli::RulesCommand;
use crate::sync_cli::app;
use anyhow::bail;
use scimgate_app::{AppError, DraftView, Expect, RuleSetDiff, RuleSetRef};
use scimgate_store::Store;
use std::path::Path;

pub async fn run(store: &Store, command: RulesCommand) -> anyhow::Result<()> {
    let app = app(store);
    match command {
        RulesCommand::Apply {
            tenant,
            file,
            comment,
        } => crate::sync_cli::rules_apply(store, &tenant, &file, &comment).await,
        RulesCommand::Draft {
            tenant,
            file,
            discard,
        } => {
            let tenant = find_tenant(store, &tenant).await?;
            let current = app.rule_draft(&tenant).await?;
            if discard {
                app.discard_rule_draft(&tenant, Expect::Version(current.version))
                    .await?;
                println!("draft of {} discarded", tenant.name);
                return Ok(());
            }
            let Some(file) = file else {
                match current.value {
                    Some(draft) => print!("{}", describe_draft(&draft)),
                    None => println!("{} has no draft", tenant.name),
                }
                return Ok(());
            };
            let source = read(&file)?;
            let saved = app
                .save_rule_draft(&tenant, Expect::Version(current.version), source, None)
                .await
                .map_err(|e| refused(e, &file))?;
            print!("{}", describe_draft(&saved.value));
            Ok(())
        }
        RulesCommand::Publish { tenant, comment } => {
            let tenant = find_tenant(store, &tenant).await?;
            let draft = app.rule_draft(&tenant).await?;
            let version = app
                .publish_rule_draft(&tenant, Expect::Version(draft.version), &comment)
                .await?;
            println!("draft of {} published as version {version}", tenant.name);
            Ok(())
        }
        RulesCommand::Versions { tenant } => {
            let tenant = find_tenant(store, &tenant).await?;
            println!("{:>7}  {:<25} {:<20} COMMENT", "VERSION", "PUBLISHED", "BY");
            for v in app.rule_versions(&tenant).await? {
                println!(
                    "{:>7}  {:<25} {:<20} {}",
                    v.version, v.published_at, v.published_by, v.comment
                );
            }
            Ok(())
        }
        RulesCommand::Diff { tenant, from, to } => {
            let tenant = find_tenant(store, &tenant).await?;
            let (Some(from_ref), Some(to_ref)) = (RuleSetRef::parse(&from), RuleSetRef::parse(&to))
            else {
                bail!("compare version numbers, `published` or `draft` (got {from:?} and {to:?})");
            };
            let diff = app.diff_rule_sets(&tenant, from_ref, to_ref).await?;
            print!("{}", describe_diff(&diff, &format!("{from} → {to}")));
            Ok(())
        }
        RulesCommand::Restore { tenant, version } => {
            let tenant = find_tenant(store, &tenant).await?;
            let draft = app.rule_draft(&tenant).await?;
            let restored = app
                .restore_rule_version(&tenant, version, Expect::Version(draft.version))
                .await?;
            println!(
                "version {version} is now the draft of {}; publish it to make it current",
                tenant.name
            );
            print!("{}", describe_draft(&restored.value));
            Ok(())
        }
        RulesCommand::Check { .. } | RulesCommand::Eval { .. } => crate::rules_cli::run(command),
    }
}

fn read(file: &Path) -> anyhow::Result<scimgate_core::RuleSource> {
    scimgate_rules::read_source_file(file).map_err(anyhow::Error::msg)
}

/// A refused draft: every problem with its rule and line.
fn refused(e: AppError, file: &Path) -> anyhow::Error {
    match e {
        AppError::Rules { problems, .. } => anyhow::anyhow!(
            "{} was not saved as the draft:\n{}",
            file.display(),
            scimgate_rules::problems_text(&problems)
        ),
        e => e.into(),
    }
}

fn describe_draft(draft: &DraftView) -> String {
    let mut out = format!(
        "draft of {} rules, begun from version {}, last saved {} by {}\n",
        draft.rules.rules.len(),
        draft.base_version,
        draft.updated_at,
        draft.updated_by
    );
    out.push_str(&describe_diff(&draft.changes, "published → draft"));
    out
}

fn describe_diff(diff: &RuleSetDiff, what: &str) -> String {
    if diff.is_empty() {
        return format!("{what}: no changes\n");
    }
    let mut out = format!("{what}: {} change(s)\n", diff.len());
    let lines: [(&str, &Vec<String>); 7] = [
        ("added", &diff.added),
        ("removed", &diff.removed),
        ("changed", &diff.changed),
        ("moved", &diff.moved),
        ("script added", &diff.scripts_added),
        ("script removed", &diff.scripts_removed),
        ("script changed", &diff.scripts_changed),
    ];
    for (kind, names) in lines {
        for name in names {
            out.push_str(&format!("  {kind:<15} {name}\n"));
        }
    }
    out
}
