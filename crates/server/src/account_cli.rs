//! `scimgate admin`: the accounts people sign in to the web UI with. A password comes
//! from standard input when that is not a terminal (one line; scripts depend on it),
//! else it is asked for twice without echo.

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use scimgate_app::App;
use scimgate_core::{AdminRole, SystemClock, TenantName};
use scimgate_notify::target::TargetPolicy;
use scimgate_store::Store;
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account that sees the given tenants (password from standard input).
    Create {
        name: String,
        /// A tenant the account sees (repeat for several).
        #[arg(long = "tenant", required = true)]
        tenants: Vec<String>,
        #[arg(long, value_enum)]
        role: Role,
        /// No password: the account signs in only through the identity provider (`oidc`
        /// in the config), whose name claim must equal NAME.
        #[arg(long)]
        no_password: bool,
    },
    /// List the accounts with their roles and tenants.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove an account; its sessions end at once.
    Remove { name: String },
    /// Set a new password (from standard input); the account's sessions end at once.
    ResetPassword { name: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Role {
    Viewer,
    Operator,
    Administrator,
}

impl From<Role> for AdminRole {
    fn from(role: Role) -> AdminRole {
        match role {
            Role::Viewer => AdminRole::Viewer,
            Role::Operator => AdminRole::Operator,
            Role::Administrator => AdminRole::Administrator,
        }
    }
}

/// The new password: one line of standard input, or asked for twice on a terminal.
fn read_password() -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Password again: ").context("reading the password")?;
    if first != again {
        bail!("the two passwords differ");
    }
    Ok(first)
}

pub async fn run(store: &Store, command: AccountCommand) -> anyhow::Result<()> {
    let app = App::builtin(
        store.clone(),
        Arc::new(SystemClock),
        TargetPolicy::default(),
    )
    .acting_as(crate::sync_cli::cli_actor());
    match command {
        AccountCommand::Create {
            name,
            tenants,
            role,
            no_password,
        } => {
            let tenants = tenants
                .iter()
                .map(|t| TenantName::parse(t))
                .collect::<Result<Vec<_>, _>>()?;
            let account = match no_password {
                true => {
                    app.create_admin_account_without_password(&name, role.into(), &tenants)
                        .await?
                }
                false => {
                    let password = read_password()?;
                    app.create_admin_account(&name, &password, role.into(), &tenants)
                        .await?
                }
            };
            eprintln!(
                "account {} created: {} of {}",
                account.name,
                account.role,
                names(&account.tenants)
            );
        }
        AccountCommand::List { json } => {
            for account in app.admin_accounts().await? {
                if json {
                    println!("{}", serde_json::json!(account));
                } else {
                    let tenants = names(&account.tenants);
                    println!(
                        "{}\t{}\t{tenants}\t{}",
                        account.name, account.role, account.created_at
                    );
                }
            }
        }
        AccountCommand::Remove { name } => {
            app.remove_admin_account(&name).await?;
            eprintln!("account {name} removed");
        }
        AccountCommand::ResetPassword { name } => {
            let password = read_password()?;
            app.reset_admin_password(&name, &password).await?;
            eprintln!("password of {name} set; its sessions have ended");
        }
    }
    Ok(())
}

fn names(tenants: &[TenantName]) -> String {
    let names: Vec<&str> = tenants.iter().map(TenantName::as_str).collect();
    names.join(",")
}
