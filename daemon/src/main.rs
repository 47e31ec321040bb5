//! The `callgate` binary: `serve | migrate | import FILE | export | check … | explain | token`.
//!
//! A failure is one line on stderr (`callgate: ` and the chain of causes joined by `: `), never
//! a backtrace unless `-v` asks for the whole chain, and the exit code says what kind of
//! failure it was ([`Exit`], listed in `callgate --help` and the README).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use callgate::{Action, Category, DirectoryError, RecordingAction, Table};
use callgate_daemon::config::{Config, ConfigError};
use callgate_daemon::store::{Store, StoreError};
use callgate_daemon::{serve, telemetry};
use clap::{Args, Parser, Subcommand};

/// What `callgate --help` says after the options; the README's "Exit codes" says the same.
const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  1  internal or other error
  2  usage: an unknown subcommand, a missing or malformed flag
  3  input refused: an unreadable or invalid directory file, a refused import, an unknown
     tenant, user, category or action, a bad config file or --db URL
  4  store unreachable: the database can't be opened, or went away
  5  a listener could not bind: its address is in use or not available

Errors are one line on stderr; -v (or CALLGATE_VERBOSE=1) prints every cause on its own line,
and a backtrace too if RUST_BACKTRACE=1 is also set.";

/// Call-control authorization for hosted PBX platforms.
#[derive(Parser)]
#[command(name = "callgate", version, after_help = EXIT_CODES)]
struct Cli {
    /// The store: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "CALLGATE_DB")]
    db: Option<String>,
    /// On failure, print every cause (and a backtrace if RUST_BACKTRACE is set); log too.
    #[arg(
        short,
        long,
        global = true,
        env = "CALLGATE_VERBOSE",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    verbose: bool,
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
    /// Write shell completions for callgate to standard output.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Write callgate's man page (roff) to standard output.
    Manpage,
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
        /// The caller was authenticated (the answer's STIR/SHAKEN attestation is A or B only
        /// if so; C otherwise).
        #[arg(long)]
        authenticated: bool,
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

/// How `callgate` exits; [`EXIT_CODES`] documents each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// Done.
    Ok = 0,
    /// Anything not classified below (a bug, a full disk, a broken pipe).
    Internal = 1,
    /// clap refused the command line (clap's own code).
    Usage = 2,
    /// The input was refused: a file, a directory, an argument, the config, the `--db` URL.
    Refused = 3,
    /// The store could not be opened or failed while in use.
    StoreUnreachable = 4,
    /// A listener's address is in use or not available.
    Bind = 5,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// Failures of the command line itself (the store's and the engine's have their own types).
#[derive(Debug, thiserror::Error)]
enum CliError {
    /// An input file (or standard input) could not be read.
    #[error("reading {what}")]
    Read {
        /// `` `PATH` `` or `standard input`.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A directory file was refused, whole: printed as its listing, one problem a line.
    #[error("{file}: refused, nothing imported")]
    Refused {
        /// The file as named on the command line.
        file: String,
        /// Every problem.
        source: DirectoryError,
    },
    /// An argument names something unknown (a tenant, user, category, action).
    #[error("{0}")]
    Argument(String),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    let verbose = cli.verbose;
    if !verbose {
        std::panic::set_hook(Box::new(one_line_panic));
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?
            .block_on(run(cli))
    }));
    match result {
        Ok(Ok(())) => Exit::Ok.into(),
        Ok(Err(e)) => report(&e, verbose).into(),
        // The panic hook has said what and where.
        Err(_) => Exit::Internal.into(),
    }
}

/// Prints clap's answer: help and version as clap writes them, a usage error on one line.
fn usage(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let code = u8::try_from(e.exit_code()).unwrap_or(Exit::Usage as u8);
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(code);
    }
    let line = usage_line(&e.render().to_string());
    let _ = writeln!(
        std::io::stderr().lock(),
        "callgate: {line} (see `callgate --help`)"
    );
    ExitCode::from(code)
}

/// clap's multi-line usage error as one line: its message, list items and tips, without the
/// usage synopsis that follows them.
fn usage_line(rendered: &str) -> String {
    let mut out = String::new();
    for line in rendered.lines() {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        let text = line.trim();
        let text = text.strip_prefix("error: ").unwrap_or(text);
        if text.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str(if out.ends_with(':') {
                " "
            } else if line.starts_with(' ') && !text.starts_with("tip:") {
                ", "
            } else {
                "; "
            });
        }
        out.push_str(text);
    }
    out
}

/// Prints a failure and returns its exit code: a refused directory as its listing, anything
/// else as one line (every cause, and a backtrace if captured, with `verbose`).
fn report(error: &anyhow::Error, verbose: bool) -> Exit {
    let mut err = std::io::stderr().lock();
    let refused = error
        .chain()
        .find_map(|c| match c.downcast_ref::<CliError>() {
            Some(CliError::Refused { file, source }) => Some((file, source)),
            _ => None,
        });
    let _ = if let Some((file, source)) = refused {
        writeln!(err, "{file}: refused, nothing imported:").and_then(|()| {
            source
                .problems()
                .iter()
                .try_for_each(|p| writeln!(err, "  {p}"))
        })
    } else if verbose {
        writeln!(err, "callgate: {error:?}")
    } else {
        writeln!(err, "callgate: {}", one_line(error))
    };
    exit_code(error)
}

/// The chain of causes joined by `: `, each said once (a cause whose text its parent already
/// ends with is skipped), without `(os error N)` suffixes and on one line.
fn one_line(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if out.ends_with(text.as_str()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    let mut line = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find(" (os error ") {
        let (before, after) = rest.split_at(at);
        line.push_str(before);
        let tail = after.trim_start_matches(" (os error ");
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        match tail.get(digits..).and_then(|t| t.strip_prefix(')')) {
            Some(t) if digits > 0 => rest = t,
            _ => {
                line.push_str(" (os error ");
                rest = tail;
            }
        }
    }
    line.push_str(rest);
    line.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// What kind of failure `error` is: the first cause, outermost first, of a known type decides.
fn exit_code(error: &anyhow::Error) -> Exit {
    for cause in error.chain() {
        if cause.is::<CliError>()
            || cause.is::<DirectoryError>()
            || cause.is::<ConfigError>()
            || cause.is::<callgate_daemon::shaken::ShakenError>()
        {
            return Exit::Refused;
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return match e {
                StoreError::Database(_) | StoreError::Migrate(_) => Exit::StoreUnreachable,
                StoreError::BadUrl(_) | StoreError::Invalid(_) | StoreError::NotFound(_) => {
                    Exit::Refused
                }
            };
        }
        if cause.is::<sqlx::Error>() || cause.is::<sqlx::migrate::MigrateError>() {
            return Exit::StoreUnreachable;
        }
        if let Some(e) = cause.downcast_ref::<std::io::Error>()
            && matches!(
                e.kind(),
                std::io::ErrorKind::AddrInUse | std::io::ErrorKind::AddrNotAvailable
            )
        {
            return Exit::Bind;
        }
    }
    Exit::Internal
}

/// Without `-v`, a panic is one line (what and where), never a backtrace.
fn one_line_panic(info: &std::panic::PanicHookInfo<'_>) {
    let payload = info.payload();
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic");
    let what = what.replace(['\r', '\n'], " ");
    let _ = match info.location() {
        Some(at) => writeln!(
            std::io::stderr().lock(),
            "callgate: internal error: {what} (at {}:{})",
            at.file(),
            at.line()
        ),
        None => writeln!(std::io::stderr().lock(), "callgate: internal error: {what}"),
    };
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let db = cli.db.clone();
    let verbose = cli.verbose;
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
            serve::run(config, args.config.clone()).await
        }
        // Generated from these same definitions, so they can't fall behind the flags.
        Command::Completions { shell } => {
            let mut cli = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cli, "callgate", &mut std::io::stdout().lock());
            Ok(())
        }
        Command::Manpage => {
            let cli = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cli).render(&mut std::io::stdout().lock())?;
            Ok(())
        }
        command => {
            // What went wrong is the one error line; the store's own log lines would repeat it.
            if verbose || std::env::var_os("RUST_LOG").is_some() {
                telemetry::init_logs(false);
            }
            let url = db.unwrap_or_else(|| Config::default().db);
            let store = Store::open(&url).await.with_context(|| {
                format!(
                    "opening the store at `{}`",
                    callgate_daemon::config::redacted(&url)
                )
            })?;
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
        Command::Serve(_) | Command::Completions { .. } | Command::Manpage => {
            anyhow::bail!("handled before the store is opened")
        }
        Command::Migrate => writeln!(
            out,
            "migrations applied (revision {})",
            store.revision().await?
        )?,
        Command::Import { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).map_err(|source| CliError::Read {
                    what: "standard input".into(),
                    source,
                })?
            } else {
                std::fs::read_to_string(&file).map_err(|source| CliError::Read {
                    what: format!("`{}`", file.display()),
                    source,
                })?
            };
            let refused = |source| CliError::Refused {
                file: file.display().to_string(),
                source,
            };
            let tenants = callgate::directory::parse(&text).map_err(refused)?;
            let outcome = match store.import(&tenants, "cli").await {
                Err(StoreError::Invalid(e)) => return Err(refused(e).into()),
                other => other?,
            };
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
                return Err(CliError::Argument(format!("no tenant `{t}`")).into());
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
            let e = table.explain(&tenant, &user).ok_or_else(|| {
                CliError::Argument(format!("no user `{user}` in tenant `{tenant}`"))
            })?;
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
    let check = asked(check)?;
    Ok(serde_json::to_value(table.check(&check))?)
}

/// The engine's [`callgate::Check`] for a `check` subcommand.
fn asked(check: Check) -> anyhow::Result<callgate::Check<'static>> {
    use callgate::check::{
        AgentPauseCheck, CallerIdCheck, FeatureCodeCheck, PermissionCheck, RecordingCheck,
        RecordingOf, ResourceOf, Texts,
    };
    let user = |u: String| callgate::Principal::User(u.into());
    Ok(match check {
        Check::CallerId {
            tenant,
            user: u,
            requested,
            dialed,
            authenticated,
        } => callgate::Check::CallerId(CallerIdCheck {
            tenant: tenant.into(),
            user: user(u),
            requested: requested.map(Into::into),
            dialed: dialed.into(),
            authenticated: Some(authenticated),
        }),
        Check::AgentPause {
            tenant,
            actor,
            agent,
            queue,
            unpause,
        } => callgate::Check::AgentPause(AgentPauseCheck {
            tenant: tenant.into(),
            actor: actor.into(),
            agent: agent.into(),
            queue: queue.into(),
            paused: !unpause,
        }),
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
                CliError::Argument(format!(
                    "unknown action `{action}` (list, play, download, delete)"
                ))
            })?;
            callgate::Check::Recording(RecordingCheck {
                tenant: tenant.into(),
                actor: actor.into(),
                action,
                recording: RecordingOf {
                    queue: queue.map(Into::into),
                    extensions: Texts::Owned(extensions),
                    numbers: Texts::Owned(numbers),
                    site: site.map(Into::into),
                },
            })
        }
        Check::FeatureCode {
            tenant,
            user: u,
            dialed,
        } => callgate::Check::FeatureCode(FeatureCodeCheck {
            tenant: tenant.into(),
            user: user(u),
            dialed: dialed.into(),
        }),
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
            let category: Category = category
                .parse()
                .map_err(|_| CliError::Argument(format!("unknown category `{category}`")))?;
            let action: Action = action
                .parse()
                .map_err(|_| CliError::Argument(format!("unknown action `{action}`")))?;
            callgate::Check::Permission(PermissionCheck {
                tenant: tenant.into(),
                user: user.into(),
                category,
                action,
                resource: ResourceOf {
                    site: site.map(Into::into),
                    queue: queue.map(Into::into),
                    extension: extension.map(Into::into),
                    number: number.map(Into::into),
                },
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> std::io::Error {
        std::io::Error::from(kind)
    }

    #[test]
    fn each_failure_has_its_documented_exit_code() {
        let cases: Vec<(anyhow::Error, Exit)> = vec![
            (anyhow::anyhow!("something else"), Exit::Internal),
            (
                anyhow::Error::new(io(std::io::ErrorKind::NotFound)).context("opening a socket"),
                Exit::Internal,
            ),
            (
                anyhow::Error::new(io(std::io::ErrorKind::AddrInUse))
                    .context("binding HTTP on 127.0.0.1:8070"),
                Exit::Bind,
            ),
            (
                anyhow::Error::new(io(std::io::ErrorKind::AddrNotAvailable))
                    .context("binding SIP/UDP on 10.9.9.9:5070"),
                Exit::Bind,
            ),
            (
                anyhow::Error::new(StoreError::Database(sqlx::Error::PoolTimedOut))
                    .context("opening the store at `postgres://x@127.0.0.1:1/x`"),
                Exit::StoreUnreachable,
            ),
            (
                anyhow::Error::new(sqlx::Error::PoolClosed),
                Exit::StoreUnreachable,
            ),
            (
                anyhow::Error::new(StoreError::BadUrl("foo://x".into())).context("opening"),
                Exit::Refused,
            ),
            (
                anyhow::Error::new(StoreError::NotFound("tenant `x`".into())),
                Exit::Refused,
            ),
            (
                anyhow::Error::new(CliError::Read {
                    what: "`/nonexistent.yaml`".into(),
                    source: io(std::io::ErrorKind::NotFound),
                }),
                Exit::Refused,
            ),
            (
                anyhow::Error::new(CliError::Argument("unknown category `x`".into())),
                Exit::Refused,
            ),
            (
                anyhow::Error::new(ConfigError::Peer("nonsense".into())),
                Exit::Refused,
            ),
            (
                anyhow::Error::new(DirectoryError::Invalid(Vec::new())).context("the demo"),
                Exit::Refused,
            ),
        ];
        for (error, exit) in cases {
            assert_eq!(exit_code(&error), exit, "{error:#}");
        }
    }

    #[test]
    fn a_chain_is_one_line_with_each_cause_once() {
        let e = anyhow::Error::new(CliError::Read {
            what: "`/nonexistent.yaml`".into(),
            source: std::io::Error::from_raw_os_error(2),
        });
        assert_eq!(
            one_line(&e),
            "reading `/nonexistent.yaml`: No such file or directory"
        );
        // A parent that already prints its source's text does not get it twice.
        let e = anyhow::Error::new(ConfigError::Read {
            path: "x.toml".into(),
            source: std::io::Error::from_raw_os_error(2),
        });
        assert_eq!(
            one_line(&e),
            "cannot read config file `x.toml`: No such file or directory"
        );
        let e = anyhow::anyhow!("first\nsecond (os error x)");
        assert_eq!(one_line(&e), "first; second (os error x)");
    }

    #[test]
    fn a_usage_error_is_one_line() {
        let rendered = "error: unrecognized subcommand 'serv'\n\n  tip: a similar subcommand exists: 'serve'\n\nUsage: callgate [OPTIONS] <COMMAND>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_line(rendered),
            "unrecognized subcommand 'serv'; tip: a similar subcommand exists: 'serve'"
        );
        let rendered = "error: the following required arguments were not provided:\n  --tenant <TENANT>\n  --user <USER>\n\nUsage: callgate explain --tenant <TENANT> --user <USER>\n";
        assert_eq!(
            usage_line(rendered),
            "the following required arguments were not provided: --tenant <TENANT>, --user <USER>"
        );
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            callgate_daemon::config::redacted("postgres://callgate:s3cret@db:5432/callgate"),
            "postgres://callgate:***@db:5432/callgate"
        );
        assert_eq!(
            callgate_daemon::config::redacted("postgres://callgate@127.0.0.1:1/x"),
            "postgres://callgate@127.0.0.1:1/x"
        );
        assert_eq!(
            callgate_daemon::config::redacted("sqlite://callgate.db"),
            "sqlite://callgate.db"
        );
        assert_eq!(callgate_daemon::config::redacted("nonsense"), "nonsense");
    }
}
