//! `metacloud [--config FILE] all | api | scheduler | conductor | compute | db sync | config check`

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use metacloud::{Role, Running};
use metacloud_config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "metacloud", version, about = "Metacloud Compute")]
struct Cli {
    /// Configuration file (TOML). Without it: embedded defaults, data in ./metacloud-data
    /// (or $METACLOUD_DATA).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every service in one process.
    All,
    /// The API service.
    Api,
    /// The scheduler.
    Scheduler,
    /// The conductor.
    Conductor,
    /// A compute worker for this host.
    Compute,
    /// The network worker of this host (multi-host) or of every network.
    Network,
    /// Database management.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Configuration checks.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Plugin tools.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Run a scheduler plugin on canned input, without a cloud, and print what it decided.
    Test {
        /// The plugin component (.wasm).
        plugin: PathBuf,
        /// JSON array of hosts (fields of the scheduler's host state; missing ones are 0).
        #[arg(long)]
        hosts: PathBuf,
        /// JSON request spec (flavor, image properties, availability zone, hints).
        #[arg(long)]
        spec: PathBuf,
        /// Plugin settings as KEY=VALUE (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create or upgrade the schema.
    Sync,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration, then print what it resolves to.
    Check,
}

/// The log filter without `METACLOUD_LOG`. netlink-packet-route warns on every link it
/// reads from a kernel newer than it knows (a longer `IFLA_INET6_CONF`): harmless, silenced.
const DEFAULT_LOG: &str = "info,sqlx=warn,lapin=warn,netlink_packet_route=error";

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("METACLOUD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The first-party plugins of the source tree this binary was built from.
const BUILT_PLUGINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins/dist");

/// Without a config file, the scheduler runs the first-party WASM plugins when they were
/// built (`scripts/build-plugins.sh`), as `examples/all-in-one.toml` does.
fn use_built_plugins(config: &mut Config) {
    let dir = std::path::Path::new(BUILT_PLUGINS);
    if dir.join("filter-compute.wasm").is_file() {
        config.scheduler.driver = metacloud_config::SchedulerDriver::Wasm;
        config.scheduler.plugin_dir = Some(dir.to_path_buf());
    }
    if dir.join("api").is_dir() && config.api.plugin_dir.is_none() {
        config.api.plugin_dir = Some(dir.join("api"));
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("metacloud: {e}");
            return ExitCode::from(2);
        }
    };
    if config.source == "<defaults>" {
        use_built_plugins(&mut config);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("metacloud: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metacloud: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let roles: &[Role] = match command {
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            println!("config ok: {}", config.source);
            println!("  data dir  {}", config.data_dir().display());
            println!(
                "  database  {}",
                metacloud_db::redact_url(config.database_url())
            );
            println!("  queue     {:?}", config.queue.backend);
            println!("  host      {}", config.host());
            match (&config.scheduler.driver, &config.scheduler.plugin_dir) {
                (metacloud_config::SchedulerDriver::Wasm, Some(dir)) => {
                    println!("  scheduler wasm plugins from {}", dir.display())
                }
                _ => println!("  scheduler native chain"),
            }
            return Ok(());
        }
        Command::Db {
            command: DbCommand::Sync,
        } => {
            metacloud::connect_db(&config).await?;
            println!(
                "database schema is up to date: {}",
                metacloud_db::redact_url(config.database_url())
            );
            return Ok(());
        }
        Command::Plugin {
            command:
                PluginCommand::Test {
                    plugin,
                    hosts,
                    spec,
                    settings,
                },
        } => return plugin_test(&plugin, &hosts, &spec, &settings),
        Command::All => &Role::ALL,
        Command::Api => &[Role::Api],
        Command::Scheduler => &[Role::Scheduler],
        Command::Conductor => &[Role::Conductor],
        Command::Compute => &[Role::Compute],
        Command::Network => &[Role::Network],
    };
    init_logging();
    let running = metacloud::start(&config, roles).await?;
    print_banner(&config, roles, &running);
    wait_for_signal(&running)
        .await
        .context("waiting for signals")?;
    tracing::info!("stopping");
    running.stop();
    Ok(())
}

fn plugin_test(
    plugin: &std::path::Path,
    hosts: &std::path::Path,
    spec: &std::path::Path,
    settings: &[String],
) -> anyhow::Result<()> {
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let hosts: Vec<metacloud_rpc::objects::HostState> = serde_json::from_str(&read(hosts)?)
        .with_context(|| format!("{}: not a JSON array of hosts", hosts.display()))?;
    let spec: metacloud_rpc::objects::RequestSpec = serde_json::from_str(&read(spec)?)
        .with_context(|| format!("{}: not a JSON request spec", spec.display()))?;
    let settings = settings
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => anyhow::bail!("--set {kv}: expected KEY=VALUE"),
        })
        .collect::<anyhow::Result<_>>()?;
    let report = metacloud_scheduler::wasm::trial(plugin, settings, &hosts, &spec)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn print_banner(config: &Config, roles: &[Role], running: &Running) {
    let what = if roles.len() > 1 {
        "all services in one process".to_string()
    } else {
        roles[0].binary().to_string()
    };
    println!("Metacloud Compute {} — {what}", env!("CARGO_PKG_VERSION"));
    println!("  config     {}", config.source);
    println!("  data       {}", config.data_dir().display());
    if running.db.is_some() {
        println!(
            "  database   {}",
            metacloud_db::redact_url(config.database_url())
        );
    }
    println!("  queue      {}", running.bus.describe());
    for (service, place) in &running.listening {
        println!("  {service:<10} {place}");
    }
    if running.api_addr.is_some() && config.api.token.is_none() {
        println!(
            "  api token  {}",
            config.data_dir().join("api-token").display()
        );
    }
    println!("ready");
}

/// Waits for SIGINT or SIGTERM; SIGHUP reloads the scheduler's policy and the API
/// dialects meanwhile.
async fn wait_for_signal(running: &Running) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => return r,
            _ = term.recv() => return Ok(()),
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                if let Some(s) = running.scheduler.clone() {
                    let _ = tokio::task::spawn_blocking(move || s.reload()).await;
                }
                for d in running.all_dialects.clone() {
                    let _ = tokio::task::spawn_blocking(move || d.reload()).await;
                }
            }
        }
    }
}
