//! The `callgate` binary: `serve | migrate | import FILE | export | check … | explain | token`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use callgate::{Action, Category, Recording, RecordingAction, Resource, Table};
use callgate_daemon::config::Config;
use callgate_daemon::store::Store;
use callgate_daemon::{serve, telemetry};
use clap::{Args, Parser, Subcommand};

/// Call-control authorization for hosted PBX platforms.
#[derive(Parser)]
#[command(name = "callgate", version)]
struct Cli {
    /// The store: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "CALLGATE_DB")]
    db: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (HTTP, SIP over UDP and TCP).
    Serve(ServeArgs),
    /// Apply the store's migrations and exit.
    Migrate,
    /// Import a directory file (YAML or JSON): validated whole, applied atomically.
    Import {
        /// The file (`-` for standard input).
        file: PathBuf,
    },
    /// Write the stored directory (YAML, or JSON with --json).
    Export {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Ask a decision of the stored directory, as the daemon would answer it.
    #[command(subcommand)]
    Check(Check),
    /// Show a user's effective rights.
    Explain {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// Read a tenant's audit trail (changes and decisions), oldest first.
    Audit {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// From this time (ms since the epoch).
        #[arg(long)]
        since: Option<i64>,
        /// Until this time (ms since the epoch).
        #[arg(long)]
        until: Option<i64>,
        /// Only this principal.
        #[arg(long)]
        principal: Option<String>,
        /// Only `decision` or `change` records.
        #[arg(long)]
        kind: Option<String>,
        /// Only `allow`, `substitute` or `deny`.
        #[arg(long)]
        decision: Option<String>,
        /// At most this many records.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create an admin token (printed once; only its hash is stored).
    Token {
        /// The token's name (what the audit trail records as "who").
        name: String,
        /// Limit it to one tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// HTTP listen address [default: 127.0.0.1:8070].
    #[arg(long)]
    http: Option<SocketAddr>,
    /// SIP listen address, UDP and TCP [default: 127.0.0.1:5070].
    #[arg(long)]
    sip: Option<SocketAddr>,
    /// Unix socket that feeds in-process replicas (libcallgate).
    #[arg(long)]
    feed: Option<PathBuf>,
    /// Addresses or CIDRs allowed to ask over SIP, comma-separated [default: loopback].
    #[arg(long, value_delimiter = ',')]
    peers: Option<Vec<String>>,
    /// A TOML file with these same settings (flags win).
    #[arg(long)]
    config: Option<String>,
    /// Load the demo directory into the store if it is empty.
    #[arg(long)]
    demo: bool,
    /// Log JSON lines.
    #[arg(long)]
    log_json: bool,
    /// Record allowed decisions in the audit trail too: every one, or one in N.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "1")]
    audit_allows: Option<u64>,
    /// How long decision records are kept (90d, 12h, 30m; 0 = forever) [default: 90d].
    #[arg(long)]
    audit_retention: Option<String>,
}

#[derive(Subcommand)]
enum Check {
    /// May USER present REQUESTED calling DIALED?
    CallerId {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        requested: Option<String>,
        #[arg(long)]
        dialed: String,
    },
    /// May ACTOR pause AGENT in QUEUE?
    AgentPause {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        actor: String,
        #[arg(long)]
        agent: String,
        #[arg(long)]
        queue: String,
        /// Unpause instead of pause.
        #[arg(long)]
        unpause: bool,
    },
    /// May ACTOR list/play/download/delete this recording?
    Recording {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        actor: String,
        /// list, play, download or delete.
        #[arg(long)]
        action: String,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long = "extension")]
        extensions: Vec<String>,
        #[arg(long = "number")]
        numbers: Vec<String>,
        #[arg(long)]
        site: Option<String>,
    },
    /// May USER dial this feature code, and what does it mean?
    FeatureCode {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        dialed: String,
    },
    /// May USER do ACTION on CATEGORY (over a resource)?
    Permission {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        #[arg(long)]
        category: String,
        #[arg(long)]
        action: String,
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        extension: Option<String>,
        #[arg(long)]
        number: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let db = cli.db.clone();
    match cli.command {
        Command::Serve(args) => {
            let mut config = match &args.config {
                Some(path) => Config::from_file(path)?,
                None => Config::default(),
            };
            if let Some(db) = db {
                config.db = db;
            }
            if let Some(a) = args.http {
                config.http = a;
            }
            if let Some(a) = args.sip {
                config.sip = a;
            }
            if args.feed.is_some() {
                config.feed = args.feed;
            }
            if let Some(p) = args.peers {
                config.peers = p;
            }
            config.demo |= args.demo;
            if let Some(n) = args.audit_allows {
                config.audit_allows = n;
            }
            if let Some(r) = args.audit_retention {
                config.audit_retention = r;
            }
            config.audit_retention()?;
            config.log_json |= args.log_json;
            config.peer_set()?;
            telemetry::init_logs(config.log_json);
            raise_open_file_limit();
            serve::run(config).await
        }
        command => {
            telemetry::init_logs(false);
            let url = db.unwrap_or_else(|| Config::default().db);
            let store = Store::open(&url)
                .await
                .with_context(|| format!("opening the store at `{url}`"))?;
            offline(command, store).await
        }
    }
}

/// Raises the open-file soft limit to the hard limit, so connections (HTTP, SIP/TCP, feed)
/// are bounded by their own caps rather than by a default of 1,024 descriptors; logs both.
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    if current == maximum {
        tracing::info!(soft = ?current, hard = ?maximum, "open-file limit");
        return;
    }
    match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: maximum,
            maximum,
        },
    ) {
        Ok(()) => tracing::info!(from = ?current, to = ?maximum, "raised the open-file limit"),
        Err(e) => {
            tracing::warn!(soft = ?current, hard = ?maximum, error = %e, "cannot raise the open-file limit")
        }
    }
}

/// The subcommands that work on the store directly.
async fn offline(command: Command, store: Store) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Serve(_) => bail!("serve is handled elsewhere"),
        Command::Migrate => writeln!(
            out,
            "migrations applied (revision {})",
            store.revision().await?
        )?,
        Command::Import { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading `{}`", file.display()))?
            };
            let tenants = match callgate::directory::parse(&text) {
                Ok(t) => t,
                Err(e) => {
                    let mut err = std::io::stderr().lock();
                    writeln!(err, "{}: refused, nothing imported:", file.display())?;
                    for p in e.problems() {
                        writeln!(err, "  {p}")?;
                    }
                    std::process::exit(1);
                }
            };
            let outcome = store.import(&tenants, "cli").await?;
            writeln!(
                out,
                "imported {} tenant(s), {} unchanged; revision {}",
                outcome.changed.len(),
                outcome.unchanged.len(),
                outcome.revision
            )?;
        }
        Command::Export { tenant, json } => {
            let tenants = store.export(tenant.as_deref()).await?;
            if let Some(t) = &tenant
                && tenants.is_empty()
            {
                bail!("no tenant `{t}`");
            }
            let directory = callgate::Directory { tenants };
            if json {
                serde_json::to_writer_pretty(&mut out, &directory)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", serde_yaml_ng::to_string(&directory)?)?;
            }
        }
        Command::Check(check) => {
            let table = load(&store).await?;
            let answer = decide(&table, check)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
        }
        Command::Explain { tenant, user } => {
            let table = load(&store).await?;
            let e = table
                .explain(&tenant, &user)
                .with_context(|| format!("no user `{user}` in tenant `{tenant}`"))?;
            writeln!(out, "{}", serde_json::to_string_pretty(&e)?)?;
        }
        Command::Audit {
            tenant,
            since,
            until,
            principal,
            kind,
            decision,
            limit,
            json,
        } => {
            let query = callgate_daemon::store::AuditQuery {
                tenant,
                since_ms: since,
                until_ms: until,
                principal,
                kind,
                decision,
                after: None,
                limit,
            };
            for row in store.query_audit(&query).await? {
                let r = &row.record;
                if json {
                    writeln!(out, "{}", serde_json::to_string(&row)?)?;
                } else {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}\t{}\t{}\trev={}\t{}\t{}",
                        r.at_ms,
                        r.kind,
                        r.action,
                        r.principal,
                        r.decision,
                        r.reason,
                        r.revision,
                        r.source,
                        r.detail
                    )?;
                }
            }
        }
        Command::Token { name, tenant } => {
            let secret = store.add_token(&name, tenant.as_deref()).await?;
            writeln!(out, "{secret}")?;
        }
    }
    Ok(())
}

async fn load(store: &Store) -> anyhow::Result<Table> {
    let (tenants, revision) = store.load_all().await?;
    let table = Table::new();
    table.replace_all(&tenants, revision);
    Ok(table)
}

fn decide(table: &Table, check: Check) -> anyhow::Result<serde_json::Value> {
    Ok(match check {
        Check::CallerId {
            tenant,
            user,
            requested,
            dialed,
        } => serde_json::to_value(table.check_caller_id(
            &tenant,
            &user,
            requested.as_deref(),
            &dialed,
        ))?,
        Check::AgentPause {
            tenant,
            actor,
            agent,
            queue,
            unpause,
        } => serde_json::to_value(
            table.check_agent_pause(&tenant, &actor, &agent, &queue, !unpause),
        )?,
        Check::Recording {
            tenant,
            actor,
            action,
            queue,
            extensions,
            numbers,
            site,
        } => {
            let action: RecordingAction = action.parse().map_err(|_| {
                anyhow::anyhow!("unknown action `{action}` (list, play, download, delete)")
            })?;
            let exts: Vec<&str> = extensions.iter().map(String::as_str).collect();
            let nums: Vec<&str> = numbers.iter().map(String::as_str).collect();
            let rec = Recording {
                queue: queue.as_deref(),
                extensions: &exts,
                numbers: &nums,
                site: site.as_deref(),
            };
            serde_json::to_value(table.check_recording(&tenant, &actor, action, &rec))?
        }
        Check::FeatureCode {
            tenant,
            user,
            dialed,
        } => serde_json::to_value(table.check_feature_code(&tenant, &user, &dialed))?,
        Check::Permission {
            tenant,
            user,
            category,
            action,
            site,
            queue,
            extension,
            number,
        } => {
            let c: Category = category
                .parse()
                .map_err(|_| anyhow::anyhow!("unknown category `{category}`"))?;
            let a: Action = action
                .parse()
                .map_err(|_| anyhow::anyhow!("unknown action `{action}`"))?;
            let r = Resource {
                site: site.as_deref(),
                queue: queue.as_deref(),
                extension: extension.as_deref(),
                number: number.as_deref(),
            };
            serde_json::to_value(table.check_permission(&tenant, &user, c, a, &r))?
        }
    })
}
