//! The `scimgate` command line. Scripts depend on it exactly (see README): keep flags,
//! outputs and exit codes stable.

use crate::config::{self, FileConfig, LogFormat, ServeConfig};
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use scimgate_core::{Clock, SystemClock, TenantName};
use scimgate_store::{Store, StoreError, Tenant, TokenKind};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "scimgate",
    version,
    about = "SCIM 2.0 ingest and CRM sync engine"
)]
pub struct Cli {
    /// Database: a SQLite file path (created if absent) or postgres://user@host/db.
    #[arg(long, env = "SCIMGATE_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// YAML configuration file; flags and SCIMGATE_* variables override it.
    #[arg(long, env = "SCIMGATE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, env = "SCIMGATE_LOG_FORMAT", global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// Let webhooks point to private, loopback and link-local addresses (refused by
    /// default, so that no tenant admin can make the server call internal services).
    #[arg(long, env = "SCIMGATE_ALLOW_PRIVATE_WEBHOOKS", global = true)]
    allow_private_webhooks: bool,
    /// The file holding the key CRM target secrets are sealed with.
    #[arg(long, env = "SCIMGATE_SERVER_KEY_FILE", global = true)]
    server_key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Database(DatabaseCommand),
    /// Check rule files and try them on a user.
    Rules {
        #[command(subcommand)]
        command: crate::rules_cli::RulesCommand,
    },
}

/// The commands that work on the database.
#[derive(Debug, Subcommand)]
enum DatabaseCommand {
    /// Migrate the database, then serve SCIM over HTTP.
    Serve {
        /// Address to listen on (port 0 picks a free port; the bound address is printed).
        #[arg(long, env = "SCIMGATE_LISTEN")]
        listen: Option<String>,
        /// Public base URL used in meta.location, e.g. https://scim.example.com.
        #[arg(long, env = "SCIMGATE_PUBLIC_URL")]
        public_url: Option<String>,
        /// Largest accepted request body, in bytes.
        #[arg(long, env = "SCIMGATE_MAX_BODY_BYTES")]
        max_body_bytes: Option<usize>,
        /// How often (ms) automatic sync checks for due schedules and settled changes.
        #[arg(long, env = "SCIMGATE_SYNC_TICK_MS")]
        sync_tick_ms: Option<u64>,
        /// First fill a `demo` tenant (when there is none) as `scimgate demo` does.
        #[arg(long)]
        demo: bool,
    },
    /// Fill a `demo` tenant with the example catalogue and rules and a few hundred
    /// Entra-shaped users and groups, to explore the web UI before connecting an IdP.
    Demo {
        /// How many users to stage.
        #[arg(long, default_value_t = crate::demo::DEFAULT_USERS)]
        users: usize,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage a tenant's SCIM bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the accounts people sign in to the web UI with.
    Admin {
        #[command(subcommand)]
        command: crate::account_cli::AccountCommand,
    },
    /// Manage a tenant's admin API tokens (distinct from SCIM tokens).
    AdminToken {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Import a tenant's CRM catalogue (user plans with seats, companies, groups, roles).
    Catalog {
        #[command(subcommand)]
        command: crate::sync_cli::CatalogCommand,
    },
    /// Show what a sync would do, without doing it.
    Preview(crate::sync_cli::PreviewArgs),
    /// Sync the whole company, or one user.
    Sync(crate::sync_cli::SyncArgs),
    /// List a tenant's sync runs, or show one.
    Runs(crate::sync_cli::RunsArgs),
    /// Manage a tenant's notification subscriptions (e-mail, webhooks) and see its outbox.
    Notify(crate::notify_cli::NotifyArgs),
    /// Where a tenant's accounts are pushed: a SCIM 2.0 application (set, show, clear,
    /// retry dead pushes).
    Target(crate::target_cli::TargetArgs),
    /// Show who changed what: a tenant's audit log.
    Audit(crate::audit_cli::AuditArgs),
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant and its first SCIM token (shown once).
    Create {
        name: String,
        /// Print one JSON line: {"tenant","scim_path","token"}.
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create another token for a tenant (shown once).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "token")]
        label: String,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's tokens (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (see `token list`).
    Revoke {
        #[arg(long)]
        tenant: String,
        id: i64,
    },
}

/// Entry point of the `scimgate` binary.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = match &cli.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    init_logging(cli.log_format.or(file.log_format).unwrap_or_default());
    let database_url = cli
        .database_url
        .or(file.database_url.clone())
        .unwrap_or_else(|| config::DEFAULT_DATABASE_URL.to_owned());
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    let command = match cli.command {
        Command::Rules { command } if command.needs_database() => {
            return runtime()?.block_on(async {
                let store = open(&database_url).await?;
                let done = crate::rule_versions_cli::run(&store, command).await;
                store.close().await;
                done
            })
        }
        // Checking and trying rules is pure: no database and no runtime for them.
        Command::Rules { command } => return crate::rules_cli::run(command),
        Command::Database(command) => command,
    };
    let webhook_targets = scimgate_notify::target::TargetPolicy {
        allow_private: cli.allow_private_webhooks || file.allow_private_webhooks == Some(true),
    };
    let key_file = (cli.server_key_file.or(file.server_key_file.clone()))
        .unwrap_or_else(|| config::DEFAULT_SERVER_KEY_FILE.into());
    let outbound = Outbound {
        webhook_targets,
        key_file,
    };
    runtime()?.block_on(run(command, database_url, file, outbound))
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SCIMGATE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Where the server may reach out to, and the key for the secrets it reaches out with.
struct Outbound {
    webhook_targets: scimgate_notify::target::TargetPolicy,
    key_file: PathBuf,
}

async fn run(
    command: DatabaseCommand,
    database_url: String,
    file: FileConfig,
    outbound: Outbound,
) -> anyhow::Result<()> {
    let webhook_targets = outbound.webhook_targets;
    match command {
        DatabaseCommand::Serve {
            listen,
            public_url,
            max_body_bytes,
            sync_tick_ms,
            demo,
        } => {
            let config = ServeConfig {
                database_url,
                listen: listen
                    .or(file.listen)
                    .unwrap_or_else(|| config::DEFAULT_LISTEN.to_owned()),
                public_url: public_url.or(file.public_url),
                max_body_bytes: max_body_bytes
                    .or(file.max_body_bytes)
                    .unwrap_or(scimgate_scim::DEFAULT_MAX_BODY_BYTES),
                sync_tick_ms: sync_tick_ms
                    .or(file.sync_tick_ms)
                    .unwrap_or(config::DEFAULT_SYNC_TICK_MS)
                    .max(10),
                smtp: file.smtp,
                webhook_targets,
                server_key_file: outbound.key_file,
                ui: file.ui.unwrap_or(true),
                oidc: file.oidc,
            };
            match demo {
                true => crate::demo::serve(config).await,
                false => crate::serve(config).await,
            }
        }
        DatabaseCommand::Demo { users } => {
            let store = open(&database_url).await?;
            let then = " Run `scimgate serve` and open the link it prints.";
            crate::demo::run(&store, users, then).await?;
            store.close().await;
            Ok(())
        }
        DatabaseCommand::Migrate => {
            let store = open(&database_url).await?;
            store.close().await;
            eprintln!("database is up to date");
            Ok(())
        }
        DatabaseCommand::Tenant { command } => {
            tenant_command(&open(&database_url).await?, command).await
        }
        DatabaseCommand::Token { command } => {
            token_command(&open(&database_url).await?, TokenKind::Scim, command).await
        }
        DatabaseCommand::Admin { command } => {
            crate::account_cli::run(&open(&database_url).await?, command).await
        }
        DatabaseCommand::AdminToken { command } => {
            token_command(&open(&database_url).await?, TokenKind::Admin, command).await
        }
        DatabaseCommand::Catalog { command } => {
            crate::sync_cli::catalog(&open(&database_url).await?, command).await
        }
        DatabaseCommand::Preview(args) => {
            crate::sync_cli::preview(&open(&database_url).await?, args).await
        }
        DatabaseCommand::Sync(args) => {
            crate::sync_cli::sync(&open(&database_url).await?, args).await
        }
        DatabaseCommand::Runs(args) => {
            crate::sync_cli::runs(&open(&database_url).await?, args).await
        }
        DatabaseCommand::Notify(args) => {
            crate::notify_cli::run(&open(&database_url).await?, args, webhook_targets).await
        }
        DatabaseCommand::Target(args) => {
            let store = open(&database_url).await?;
            crate::target_cli::run(&store, args, webhook_targets, &outbound.key_file).await
        }
        DatabaseCommand::Audit(args) => {
            crate::audit_cli::run(&open(&database_url).await?, args).await
        }
    }
}

pub(crate) async fn open(database_url: &str) -> anyhow::Result<Store> {
    Store::open(database_url)
        .await
        .with_context(|| format!("opening database {}", config::redact_url(database_url)))
}

pub(crate) async fn find_tenant(store: &Store, name: &str) -> anyhow::Result<Tenant> {
    let name = TenantName::parse(name)?;
    match store.tenant(&name).await? {
        Some(t) => Ok(t),
        None => bail!("no tenant named {name}"),
    }
}

async fn tenant_command(store: &Store, command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { name, json } => {
            let name = TenantName::parse(&name)?;
            let now = SystemClock.now();
            let tenant = match store.create_tenant(&name, now).await {
                Err(StoreError::Conflict(_)) => bail!("tenant {name} already exists"),
                other => other?,
            };
            let token = store
                .create_token_of(TokenKind::Scim, &tenant, "initial", now)
                .await?;
            if json {
                println!(
                    "{}",
                    json!({"tenant": name.as_str(), "scim_path": name.scim_path(), "token": token.secret})
                );
            } else {
                println!("Created tenant {name}.");
                println!("Tenant URL (path): {}", name.scim_path());
                println!("Secret token (shown once, store it now): {}", token.secret);
            }
            Ok(())
        }
        TenantCommand::List { json } => {
            for tenant in store.tenants().await? {
                if json {
                    println!(
                        "{}",
                        json!({"tenant": tenant.name.as_str(), "scim_path": tenant.name.scim_path()})
                    );
                } else {
                    println!("{}\t{}", tenant.name, tenant.name.scim_path());
                }
            }
            Ok(())
        }
    }
}

async fn token_command(
    store: &Store,
    kind: TokenKind,
    command: TokenCommand,
) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            tenant,
            label,
            json,
        } => {
            let tenant = find_tenant(store, &tenant).await?;
            let token = crate::sync_cli::app(store)
                .create_token(kind, &tenant, &label)
                .await?;
            if json {
                println!(
                    "{}",
                    json!({"tenant": tenant.name.as_str(), "id": token.info.id, "token": token.secret})
                );
            } else {
                println!(
                    "Token {} for tenant {} (shown once): {}",
                    token.info.id, tenant.name, token.secret
                );
            }
            Ok(())
        }
        TokenCommand::List { tenant, json } => {
            let tenant = find_tenant(store, &tenant).await?;
            for t in store.tokens_of(kind, &tenant).await? {
                if json {
                    println!(
                        "{}",
                        json!({"id": t.id, "label": t.label, "created_at": t.created_at, "revoked_at": t.revoked_at})
                    );
                } else {
                    let state = t
                        .revoked_at
                        .as_deref()
                        .map(|r| format!("revoked {r}"))
                        .unwrap_or_else(|| "active".into());
                    println!("{}\t{}\t{}\t{}", t.id, t.label, t.created_at, state);
                }
            }
            Ok(())
        }
        TokenCommand::Revoke { tenant, id } => {
            let tenant = find_tenant(store, &tenant).await?;
            (crate::sync_cli::app(store).revoke_token(kind, &tenant, id)).await?;
            eprintln!("token {id} of tenant {} revoked", tenant.name);
            Ok(())
        }
    }
}
