//! `scimgate audit --tenant T`: the tenant's audit log from a terminal, newest first, with
//! the filters of the Logs page and the admin API; `--csv` for a file.

use crate::cli::find_tenant;
use crate::sync_cli::app;
use clap::Args;
use scimgate_app::AuditFilter;
use scimgate_store::Store;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The tenant whose log to show.
    #[arg(long, required_unless_present = "outside_tenants")]
    tenant: Option<String>,
    /// Instead: the entries of no tenant (sign-ins with names that are no account).
    #[arg(long, conflicts_with = "tenant")]
    outside_tenants: bool,
    /// Only this area: rules, catalog, settings, token, subscription, run, sync, sign_in.
    #[arg(long, default_value = "")]
    area: String,
    /// Only changes by exactly this actor.
    #[arg(long, default_value = "")]
    who: String,
    /// From this date or RFC 3339 time (UTC) on.
    #[arg(long, default_value = "")]
    since: String,
    /// Before this date or time.
    #[arg(long, default_value = "")]
    until: String,
    /// Text in the subject.
    #[arg(long, default_value = "")]
    text: String,
    /// At most this many entries.
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// CSV (with a header line) instead of a table.
    #[arg(long)]
    csv: bool,
}

pub async fn run(store: &Store, args: AuditArgs) -> anyhow::Result<()> {
    let filter = AuditFilter {
        area: args.area,
        who: args.who,
        since: args.since,
        until: args.until,
        text: args.text,
        before_id: None,
        limit: args.limit,
    };
    let app = app(store);
    let entries = match &args.tenant {
        Some(name) => {
            let tenant = find_tenant(store, name).await?;
            app.audit_log(&tenant, &filter).await?
        }
        None => app.audit_log_outside_tenants(&filter).await?,
    };
    if args.csv {
        print!("{}", scimgate_app::audit_csv(&entries));
        return Ok(());
    }
    println!(
        "{:<25} {:<24} {:<4} {:<16} {:<20} SUBJECT",
        "AT", "WHO", "VIA", "FROM", "ACTION"
    );
    for e in &entries {
        println!(
            "{:<25} {:<24} {:<4} {:<16} {:<20} {}",
            e.at, e.who, e.via, e.from, e.action, e.subject
        );
    }
    Ok(())
}
