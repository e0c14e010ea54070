//! The `corridor` command line (DESIGN.md section 3).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
mod audit;
mod bench;
mod bench_scheduler;
mod generate;
mod letter;

use corridor::config::Config;
use corridor::startup;
use corridor_engine::auth;
use corridor_engine::clock::SystemClock;
use corridor_engine::lang::Lang;
use corridor_engine::organisation::OrganisationKind;
use corridor_engine::role::Role;
use corridor_engine::store::NewUser;
use corridor_engine::workflow::{self, graph};

#[derive(Parser)]
#[command(name = "corridor", version, about = "Workflow engine for business visa and market access applications")]
struct Cli {
    /// Configuration file.
    #[arg(long, global = true, default_value = "config/corridor.toml", env = "CORRIDOR_CONFIG")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web UI, the JSON API and the scheduler.
    Serve {
        /// Fill an empty database with demo organisations, users and applications.
        #[arg(long)]
        demo: bool,
    },
    /// Check workflow files; exit 1 listing every problem as path:line:column.
    Check {
        /// Files or folders (default: the configured workflows folder).
        paths: Vec<PathBuf>,
    },
    /// Print a workflow as a diagram.
    Graph {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Apply database migrations.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Fill the configured database with a large data set for load tests (see README).
    Generate {
        /// How many applications to write.
        #[arg(long, default_value_t = 1_000_000)]
        applications: usize,
        /// How many firms they belong to.
        #[arg(long, default_value_t = 200)]
        firms: usize,
        /// The same seed gives the same data set.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Measure the engine against the raw database doing the same writes.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// The scheduler's jobs: list them, retry a dead letter.
    Jobs {
        #[command(subcommand)]
        command: corridor::scheduler_cli::JobsCommand,
    },
    /// Measure the scheduler: finding and enqueueing due jobs among many applications, and
    /// e-mails per second to a local SMTP server; prints the plan of the due-work query.
    BenchScheduler(bench_scheduler::BenchSchedulerArgs),
    /// Holidays changed at run time: list, add, remove (open deadlines move).
    Holiday {
        #[command(subcommand)]
        command: corridor::scheduler_cli::HolidayCommand,
    },
    /// The audit record: verify it, sign checkpoints, export and check proofs.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Decision letters: print one, check a letter file offline.
    Letter {
        #[command(subcommand)]
        command: letter::LetterCommand,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (and the organisation if new). Prints a generated password unless one
    /// comes on stdin.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
        /// Organisation name.
        #[arg(long)]
        org: String,
        /// Kind of a new organisation: firm, ministry, embassy, authority, operator (default:
        /// what the workflow files declare for the role).
        #[arg(long)]
        org_kind: Option<OrganisationKind>,
        /// Preferred language: en, ar, ur.
        #[arg(long, default_value = "en")]
        language: Lang,
    },
    /// Remove a user's second factor and recovery codes and end their sessions (a lost phone;
    /// an administrator sets up a new one at the next sign-in).
    ResetSecondFactor {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new API token for the user (shown once; only its digest is kept).
    Create {
        #[arg(long)]
        email: String,
        /// What the token is for, shown in lists.
        #[arg(long, default_value = "")]
        name: String,
        /// Days until it expires (default: `[api] token_days`, 90).
        #[arg(long)]
        days: Option<i64>,
    },
    /// List tokens: id, name, owner, created, expires, last used, state.
    List {
        /// Only this user's tokens.
        #[arg(long)]
        email: Option<String>,
    },
    /// Revoke a token by its id (from `corridor token list`).
    Revoke { id: corridor_engine::model::TokenId },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Transitions per second through the engine and as raw SQL, and their ratio.
    Transitions {
        /// How many applications to take through the workflow.
        #[arg(long, default_value_t = 200)]
        applications: usize,
        #[arg(long, default_value = "it-business-visa")]
        workflow: String,
        /// The state each application is taken to.
        #[arg(long, default_value = "visa_issued")]
        target: String,
        /// SQLite durability for both sides: full (every commit on disk) or normal.
        #[arg(long, default_value = "full")]
        synchronous: String,
        /// Also measure on PostgreSQL: a server URL whose user may create databases.
        #[arg(long)]
        postgres: Option<String>,
    },
    /// The reviewer queue page with a large data set (made by `corridor generate`).
    Queue {
        #[arg(long, default_value_t = 1_000_000)]
        applications: usize,
        /// Timed requests per page.
        #[arg(long, default_value_t = 50)]
        requests: usize,
        /// Measure on PostgreSQL (a server URL whose user may create databases) instead of SQLite.
        #[arg(long)]
        postgres: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every application's row against its hash chain, every chain against the newest
    /// signed checkpoint, and the checkpoints against the witness file; exit 1 listing every
    /// problem, one line each, naming its application or checkpoint.
    Verify {
        /// Only this application (and the checkpoints).
        #[arg(long)]
        reference: Option<String>,
        /// Verify signatures with this public key (ed25519:HEX, or a file holding it)
        /// instead of the configured key file's.
        #[arg(long)]
        public_key: Option<String>,
        /// Compare with this copy of the witness file (e.g. the published one).
        #[arg(long)]
        witness: Option<PathBuf>,
    },
    /// Sign a checkpoint over every application's chain head now, and append it to the
    /// witness file.
    Checkpoint,
    /// Write one application's self-contained proof (events, inclusion proof, signed
    /// checkpoint) as JSON.
    Export {
        #[arg(long)]
        reference: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Check an exported proof offline, with the public key alone.
    VerifyProof {
        file: PathBuf,
        /// ed25519:HEX, or a file holding it (`corridor audit public-key` prints it).
        #[arg(long)]
        public_key: String,
    },
    /// Print the checkpoints' public key and its fingerprint (the key file is made when
    /// missing).
    PublicKey,
    /// Print the access log (full views of sensitive fields, document downloads), newest
    /// first, one tab-separated line each.
    AccessLog {
        /// Only this application's lines.
        #[arg(long)]
        reference: Option<String>,
        /// At most this many lines (default: all).
        #[arg(long)]
        limit: Option<usize>,
    },
}

async fn token_cmd(config: &Config, command: TokenCommand) -> anyhow::Result<ExitCode> {
    use corridor_engine::tokens;
    let store = startup::open_store(config).await?;
    let now = chrono::Utc::now();
    match command {
        TokenCommand::Create { email, name, days } => {
            let user = store.user_by_email(&email).await?.with_context(|| format!("no user with e-mail {email}"))?;
            let days = days.unwrap_or(config.api.token_days);
            let issued = tokens::issue(store.as_ref(), &user, &name, days, now).await?;
            eprintln!(
                "token {} for {} expires {}",
                issued.token.id,
                user.email,
                issued.token.expires_at.format("%Y-%m-%d %H:%M UTC")
            );
            println!("{}", issued.secret);
        }
        TokenCommand::List { email } => {
            let user_id = match email {
                Some(email) => {
                    Some(store.user_by_email(&email).await?.with_context(|| format!("no user with e-mail {email}"))?.id)
                }
                None => None,
            };
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "-".into())
            };
            println!("id\tname\towner\tcreated\texpires\tlast used\tstate");
            for t in store.tokens(user_id).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    t.id,
                    if t.name.is_empty() { "-" } else { &t.name },
                    t.user_email,
                    time(Some(t.created_at)),
                    time(Some(t.expires_at)),
                    time(t.last_used_at),
                    match t.revoked_at {
                        Some(at) => format!("revoked {}", time(Some(at))),
                        None => t.state(now).as_str().to_string(),
                    }
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let token = match store.token(id).await {
                Ok(t) => t,
                Err(corridor_engine::store::StoreError::NotFound(_)) => bail!("there is no token {id}"),
                Err(e) => return Err(e.into()),
            };
            if store.revoke_token(id, now).await? {
                println!("token {id} of {} revoked", token.user_email);
            } else {
                println!("token {id} of {} was already revoked", token.user_email);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CORRIDOR_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // `check` and `graph` work on files alone and must not need a valid configuration.
    match &cli.command {
        Command::Check { paths } => return Ok(check(&cli.config, paths)),
        Command::Graph { file, format } => return graph_cmd(&cli.config, file, *format),
        // Offline: a proof is checked without configuration or database.
        Command::Audit { command: AuditCommand::VerifyProof { file, public_key } } => {
            return audit::verify_proof(file, public_key);
        }
        _ => {}
    }
    // Offline too: a letter file checked against a key given on the command line.
    if matches!(&cli.command, Command::Letter { command } if letter::is_offline(command))
        && let Command::Letter { command } = cli.command
    {
        return letter::run(None, command).await;
    }
    let config = Config::load(&cli.config)?;
    match cli.command {
        Command::Check { .. } | Command::Graph { .. } => unreachable!("handled above"),
        Command::Serve { demo } => serve(config, demo).await,
        Command::Migrate => {
            startup::open_store(&config).await?;
            println!("migrations applied to {}", startup::redact(&config.database.url));
            Ok(ExitCode::SUCCESS)
        }
        Command::User { command: UserCommand::Add { email, name, role, org, org_kind, language } } => {
            user_add(&config, email, name, role, org, org_kind, language).await
        }
        Command::User { command: UserCommand::ResetSecondFactor { email } } => {
            let engine = startup::build_engine(&config, Arc::new(SystemClock)).await?;
            let store = startup::open_store(&config).await?;
            let user = store.user_by_email(&email).await?.with_context(|| format!("no user with e-mail {email}"))?;
            engine.reset_second_factor(&user).await?;
            println!("second factor of {} removed; its sessions ended", user.email);
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { command } => token_cmd(&config, command).await,
        Command::Generate { applications, firms, seed } => {
            let made = generate::run(&config, applications, firms, seed).await?;
            println!(
                "{} applications for {} firms written to {} in {:.1} s",
                made.applications,
                made.firms,
                startup::redact(&config.database.url),
                made.seconds
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command: BenchCommand::Transitions { applications, workflow, target, synchronous, postgres },
        } => {
            let bench = bench::TransitionBench { workflow, target, applications, synchronous, postgres };
            let results = bench::run(&config, &bench).await?;
            print!("{}", bench::report(&results));
            Ok(ExitCode::SUCCESS)
        }
        Command::Jobs { command } => corridor::scheduler_cli::jobs(&config, command).await,
        Command::Holiday { command } => corridor::scheduler_cli::holiday(&config, command).await,
        Command::BenchScheduler(args) => {
            let results = bench_scheduler::run(&config, &args).await?;
            print!("{}", bench_scheduler::report(&results));
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { command: BenchCommand::Queue { applications, requests, postgres } } => {
            let bench = bench::QueueBench { applications, requests, postgres };
            let measured = bench::queue(&config, &bench).await?;
            print!("{}", bench::queue_report(&measured));
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command } => audit::run(&config, command).await,
        Command::Letter { command } => letter::run(Some(&config), command).await,
    }
}

/// The workflow folder and lint context, from the configuration when it can be read and the
/// defaults otherwise.
fn check_setup(config_path: &PathBuf) -> (PathBuf, workflow::LintContext) {
    match Config::load(config_path) {
        Ok(config) => (config.paths.workflows.clone(), startup::lint_context(&config)),
        Err(_) => (
            PathBuf::from("workflows"),
            workflow::LintContext {
                templates_dir: PathBuf::from("config/templates/email"),
                calendars_dir: PathBuf::from("config/calendars"),
                languages: corridor_engine::lang::LANGS.to_vec(),
            },
        ),
    }
}

fn check(config_path: &PathBuf, paths: &[PathBuf]) -> ExitCode {
    let (default_dir, ctx) = check_setup(config_path);
    let paths = if paths.is_empty() { vec![default_dir] } else { paths.to_vec() };
    let (workflows, problems) = workflow::check_paths(&paths, &ctx);
    for p in &problems {
        println!("{p}");
    }
    let errors = problems.iter().filter(|p| p.is_error()).count();
    if errors > 0 {
        eprintln!("{errors} error(s)");
        ExitCode::FAILURE
    } else {
        eprintln!("{} workflow(s) valid", workflows.len());
        ExitCode::SUCCESS
    }
}

fn graph_cmd(config_path: &PathBuf, file: &PathBuf, format: GraphFormat) -> anyhow::Result<ExitCode> {
    let (_, ctx) = check_setup(config_path);
    let source = std::fs::read_to_string(file).with_context(|| format!("{}: cannot read", file.display()))?;
    match workflow::parse_workflow(file, &source, &ctx) {
        Ok(wf) => {
            let out = match format {
                GraphFormat::Mermaid => graph::mermaid(&wf),
                GraphFormat::Dot => graph::dot(&wf),
            };
            println!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for p in problems {
                println!("{p}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn user_add(
    config: &Config,
    email: String,
    name: String,
    role: String,
    org: String,
    org_kind: Option<OrganisationKind>,
    language: Lang,
) -> anyhow::Result<ExitCode> {
    let engine = startup::build_engine(config, Arc::new(SystemClock)).await?;
    let role = Role::from(role);
    let roles = engine.assignable_roles();
    if !roles.contains(&role) {
        bail!(
            "--role: `{role}` is not a role; use one of {}",
            roles.iter().map(Role::as_str).collect::<Vec<_>>().join(", ")
        );
    }
    if !email.contains('@') || email.contains(char::is_whitespace) {
        bail!("--email: `{email}` is not an e-mail address");
    }
    let store = startup::open_store(config).await?;
    let organisation = match store.organisation_by_name(&org).await? {
        Some(o) => o,
        None => {
            let Some(kind) = org_kind.or_else(|| engine.organisation_kind_of_role(&role)) else {
                bail!(
                    "--org-kind: the organisation `{org}` is new and no workflow says what kind of organisation holds \
                     `{role}`; give one of firm, ministry, embassy, authority, operator"
                );
            };
            store.create_organisation(&org, kind.code(), None).await?
        }
    };
    let given = if std::io::stdin().is_terminal() {
        None
    } else {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading the password from stdin")?;
        Some(s.trim_end_matches(['\r', '\n']).to_string()).filter(|s| !s.is_empty())
    };
    if let Some(p) = &given {
        if p.chars().count() < 12 {
            bail!("the password on stdin must be at least 12 characters");
        }
        if auth::is_guessable_password(p) {
            bail!(
                "the password on stdin is too easy to guess: a common or breached password, one character repeated, \
                 or a simple pattern (like aaaaaaaaaaaa or password1234); choose another"
            );
        }
    }
    let password = given.clone().unwrap_or_else(auth::generate_password);
    let user = store
        .create_user(NewUser {
            email,
            name,
            role,
            organisation_id: organisation.id,
            password_hash: Some(auth::hash_password(&password)?),
            language: language.code().to_string(),
        })
        .await?;
    println!("created user {} ({}) in {}", user.email, user.role, organisation.name);
    if given.is_none() {
        println!("password: {password}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<ExitCode> {
    let startup::Built { engine, store } = startup::build(&config, Arc::new(SystemClock)).await?;
    audit::announce_key(&engine)?;
    startup::warn_about_mail_placeholders(&config, demo);
    if demo {
        corridor::demo::seed(&engine, store.as_ref()).await?;
    }
    let listener = tokio::net::TcpListener::bind(&config.server.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.bind))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = %startup::redact(&config.database.url), "Corridor is serving");
    println!("Corridor is running at http://{addr}/ (Ctrl-C stops it)");
    startup::serve(engine, &config, listener).await?;
    Ok(ExitCode::SUCCESS)
}
