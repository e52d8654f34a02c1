//! `switchboard`: the engine's command line. Kept thin: it parses arguments, loads the
//! configuration and hands over to the runtime.

use anyhow::Context;
use clap::{Parser, Subcommand};
use sb_config::{Diagnostic, Model, Source};
use sb_engine::{load_assets, AssetSource, Assets};
use std::path::PathBuf;
use std::process::ExitCode;

/// The shipped demo configuration, embedded so `serve` runs with no files around it.
const DEFAULT_CONFIG: &str = include_str!("../config/switchboard.toml");
const DEFAULT_CONFIG_NAME: &str = "config/switchboard.toml (embedded)";

include!(concat!(env!("OUT_DIR"), "/embedded_assets.rs"));
/// EX_CONFIG would be 78; the interface in DESIGN.md fixes 64 (EX_USAGE) for a bad config.
const EXIT_BAD_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Telephony switchboard and IVR/ACD engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine (on the embedded demo configuration unless --config is given).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override a configuration key by dotted path, e.g. --set sip.listen=0.0.0.0:5060
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Validate the configuration and print every problem; exit 0 if good, 64 if not.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
}

fn read_source(config: Option<&PathBuf>) -> anyhow::Result<Source> {
    Ok(match config {
        None => Source {
            name: DEFAULT_CONFIG_NAME.into(),
            text: DEFAULT_CONFIG.into(),
        },
        Some(p) => Source {
            name: p.display().to_string(),
            text: std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?,
        },
    })
}

fn report(diags: &[Diagnostic]) -> ExitCode {
    for d in diags {
        eprintln!("{d}");
    }
    eprintln!("{} problem(s) in the configuration", diags.len());
    ExitCode::from(EXIT_BAD_CONFIG)
}

/// The configuration, then the dialplans and prompts it names, all checked before anything
/// is bound. Relative asset paths are taken from the configuration file's folder; the
/// embedded configuration uses the embedded assets.
fn load(config: Option<&PathBuf>, sets: &[String]) -> Result<(Model, Assets), ExitCode> {
    let source = read_source(config).map_err(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(EXIT_BAD_CONFIG)
    })?;
    let model = sb_config::load(source, sets).map_err(|d| report(&d))?;
    let base = config.and_then(|p| p.parent()).map(|p| {
        if p.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            p
        }
    });
    let src = match base {
        Some(dir) => AssetSource::Dir(dir),
        None => AssetSource::Embedded(EMBEDDED),
    };
    let assets = load_assets(&model, src).map_err(|d| report(&d))?;
    Ok((model, assets))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config, sets } => match load(config.as_ref(), &sets) {
            Ok((m, a)) => {
                println!(
                    "configuration OK: {} extensions, {} queues, {} IVR flows, {} prompts in {} languages, SIP on {}",
                    m.extensions.len(),
                    m.queues.len(),
                    a.plans.flows.len(),
                    a.prompts.len(),
                    m.languages.len(),
                    m.sip_listen
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Serve { config, sets } => {
            let (model, assets) = match load(config.as_ref(), &sets) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            init_tracing();
            match serve(model, assets) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn serve(model: Model, assets: Assets) -> anyhow::Result<()> {
    let demo = model.demo_credentials();
    if !demo.is_empty() && !model.sip_listen.ip().is_loopback() {
        tracing::warn!(
            listen = %model.sip_listen,
            extensions = demo.len(),
            "demo credentials (demo-<extension>) are in use on a non-loopback address: change the passwords"
        );
    }
    // One thread: the core is a single task by design (sans-IO state machines driven by
    // one loop), and the load benchmarks pin the engine to one core.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let server = sb_runtime::Server::bind(&model, assets).await?;
        tracing::info!(
            sip = %server.local_addr(),
            hospital = %model.hospital_name,
            number = %model.hospital_number,
            extensions = model.extensions.len(),
            "switchboard ready (UDP and TCP)"
        );
        server.run(shutdown_signal()).await?;
        tracing::info!("shut down cleanly");
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the engine");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
    }
}
