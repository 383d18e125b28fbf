//! Command line: `serve` (default), `migrate`, `config check`, `user add`, `apikey`, `backup`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::auth::passwords::{check_password_rules, hash_password};
use crate::auth::{AuthError, Role, accounts, api_keys, normalize_email};
use crate::config::{Config, ConfigError, Overrides};
use crate::kinds::WorkspaceId;
use crate::store::{self, Store};

/// Herald: events, contacts, automations and webhooks in one binary and one SQLite file.
#[derive(Parser, Debug)]
#[command(name = "herald", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command that opens the store accepts.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// TOML configuration file.
    #[arg(long, global = true, env = "HERALD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory holding herald.db (overrides store.data_dir).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web server and background workers (the default).
    Serve {
        /// Address to listen on (overrides server.listen).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage workspace API keys.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Write a consistent copy of the database to FILE (safe while the server runs).
    Backup {
        /// Where to write the copy; must not exist.
        file: PathBuf,
    },
    /// Print the route table (method, path, who may call it) as JSON lines.
    Routes,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the configuration and print it with secrets masked.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user (or add an existing one) as a member of a workspace, creating the workspace if needed.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, value_name = "NAME")]
        workspace: String,
        #[arg(long, default_value = "owner", value_parser = ["owner", "admin", "member"])]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApikeyCommand {
    /// Create a key; the key itself is the last line printed.
    Create {
        #[arg(long, value_name = "NAME")]
        workspace: String,
        #[arg(long, value_name = "LABEL", default_value = "")]
        name: String,
    },
    /// List a workspace's keys (prefix and label, never the key).
    List {
        #[arg(long, value_name = "NAME")]
        workspace: String,
    },
    /// Revoke a key by id or prefix.
    Revoke {
        #[arg(long, value_name = "NAME")]
        workspace: String,
        /// Key id or prefix as shown by `apikey list`.
        key: String,
    },
}

/// Parses the command line and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    store::private_files();
    let cli = Cli::parse();
    let listen = match &cli.command {
        Some(Command::Serve { listen }) => *listen,
        _ => None,
    };
    let overrides = Overrides {
        data_dir: cli.global.data_dir.clone(),
        listen,
    };
    let config = match Config::load(cli.global.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(e) => return config_failure(e),
    };
    if let Some(Command::Routes) = &cli.command {
        let lines: String = crate::app::route_specs()
            .iter()
            .map(|spec| format!("{}\n", spec.to_json()))
            .collect();
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), lines.as_bytes());
        return Ok(());
    }
    if let Some(Command::Config {
        command: ConfigCommand::Check,
    }) = &cli.command
    {
        print!("{}", config.to_masked_toml());
        eprintln!("configuration is valid");
        return Ok(());
    }
    crate::logging::init(&config.log);
    match cli.command.unwrap_or(Command::Serve { listen: None }) {
        Command::Serve { .. } => actix_web::rt::System::new().block_on(crate::app::serve(config)),
        Command::Migrate => migrate(&config),
        Command::Config { .. } | Command::Routes => unreachable!("handled above"),
        Command::User {
            command:
                UserCommand::Add {
                    email,
                    workspace,
                    role,
                    ..
                },
        } => user_add(&config, &email, &workspace, &role),
        Command::Apikey { command } => apikey(&config, command),
        Command::Backup { file } => {
            store::backup_to(&config.db_path(), &file)
                .with_context(|| format!("backup to {}", file.display()))?;
            println!("backup written to {} (integrity_check: ok)", file.display());
            Ok(())
        }
    }
}

fn config_failure(e: ConfigError) -> anyhow::Result<()> {
    eprintln!("configuration error: {e}");
    std::process::exit(1);
}

fn migrate(config: &Config) -> anyhow::Result<()> {
    store::private_dir(&config.store.data_dir)?;
    let mut conn = store::open_connection(&config.db_path(), &config.store)?;
    store::tighten_database_files(&config.db_path())?;
    let applied = store::migrate(&mut conn)?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for name in applied {
        println!("applied {name}");
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let password = input.lines().next().unwrap_or("").to_string();
    if let Err(problem) = check_password_rules(&password) {
        bail!(problem);
    }
    Ok(password)
}

fn user_add(config: &Config, email: &str, workspace: &str, role: &str) -> anyhow::Result<()> {
    let role: Role = role.parse().map_err(anyhow::Error::msg)?;
    let email = normalize_email(email)?;
    let password = read_password()?;
    let hash = hash_password(&password);
    let store = Store::open(&config.store)?;
    let workspace = workspace.to_string();
    let (user, ws, created) = store.write_blocking(move |conn| {
        accounts::add_user_to_workspace(conn, &email, &hash, &workspace, role)
    })?;
    if created {
        println!(
            "created user {} as {role} of workspace {} ({})",
            user.email, ws.name, ws.uid
        );
    } else {
        println!(
            "user {} already existed (password unchanged); now {role} of workspace {} ({})",
            user.email, ws.name, ws.uid
        );
    }
    Ok(())
}

fn workspace_id(store: &Store, name: &str) -> anyhow::Result<WorkspaceId> {
    let found = store.read(|conn| accounts::find_workspace_by_name(conn, name))?;
    Ok(found
        .with_context(|| format!("no workspace named '{name}'"))?
        .id)
}

fn apikey(config: &Config, command: ApikeyCommand) -> anyhow::Result<()> {
    let store = Store::open(&config.store)?;
    match command {
        ApikeyCommand::Create { workspace, name } => {
            let ws = workspace_id(&store, &workspace)?;
            let key = store.write_blocking(move |conn| api_keys::create(conn, ws, &name))?;
            println!(
                "created API key {} ({}) for workspace {workspace}; it is shown only now:",
                key.info.id, key.info.name
            );
            println!("{}", key.secret);
        }
        ApikeyCommand::List { workspace } => {
            let ws = workspace_id(&store, &workspace)?;
            let keys = store.read(|conn| api_keys::list(conn, ws))?;
            println!("{:<6} {:<14} {:<8} LABEL", "ID", "PREFIX", "STATUS");
            for key in keys {
                let status = if key.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<6} {:<14} {:<8} {}",
                    key.id, key.prefix, status, key.name
                );
            }
        }
        ApikeyCommand::Revoke { workspace, key } => {
            let ws = workspace_id(&store, &workspace)?;
            let revoked = store.write_blocking(move |conn| -> Result<_, AuthError> {
                api_keys::revoke(conn, ws, &key)
            })?;
            println!("revoked API key {} ({})", revoked.id, revoked.name);
        }
    }
    Ok(())
}
