//! `switchboard`: the engine's command line. Kept thin: it parses arguments, loads the
//! configuration and hands over to the runtime.
#![allow(
    clippy::disallowed_methods,
    reason = "the binary: it reads the wall clock for the reports' \"today\""
)]

use anyhow::Context;
use clap::{Parser, Subcommand};
use sb_config::assets::{load_assets, AssetSource};
use sb_config::{Diagnostic, Model, Source};
use sb_engine::Assets;
use sb_store::report::{Format, GroupBy, PeriodKind};
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Print the call statistics of a day, a week or a month from the store.
    Report {
        /// daily, weekly or monthly.
        #[arg(value_parser = str::parse::<PeriodKind>)]
        period: PeriodKind,
        /// Any day of the period, YYYY-MM-DD (default: today, in reports.time_zone).
        #[arg(long)]
        date: Option<String>,
        /// queue, agent, media, region, shift or total.
        #[arg(long, default_value = "queue", value_parser = str::parse::<GroupBy>)]
        by: GroupBy,
        /// table, csv or json.
        #[arg(long, default_value = "table", value_parser = str::parse::<Format>)]
        format: Format,
        /// Print callers' numbers in full (they are masked by default).
        #[arg(long)]
        show_numbers: bool,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Read a password from standard input (its first line) and print its Argon2id hash,
    /// for a console user's `password_hash` in the configuration.
    HashPassword,
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
    let model = load_model(config, sets)?;
    let base = config_dir(config);
    let src = match base {
        Some(dir) => AssetSource::Dir(dir),
        None => AssetSource::Embedded(EMBEDDED),
    };
    let assets = load_assets(&model, src).map_err(|d| report(&d))?;
    Ok((model, assets))
}

/// The folder relative paths in a configuration file are taken from (none when embedded).
fn config_dir(config: Option<&PathBuf>) -> Option<&std::path::Path> {
    config.and_then(|p| p.parent()).map(|p| {
        if p.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            p
        }
    })
}

/// The configuration alone, with the store's paths taken from the configuration file's
/// folder like the dialplans' (the embedded configuration's from the working directory).
fn load_model(config: Option<&PathBuf>, sets: &[String]) -> Result<Model, ExitCode> {
    let source = read_source(config).map_err(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(EXIT_BAD_CONFIG)
    })?;
    let mut model = sb_config::load(source, sets).map_err(|d| report(&d))?;
    if let Some(dir) = config_dir(config) {
        model.store_path = dir.join(&model.store_path);
        model.store_journal = dir.join(&model.store_journal);
    }
    Ok(model)
}

fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
fn print_report(
    kind: PeriodKind,
    date: Option<String>,
    group: GroupBy,
    fmt: Format,
    show_numbers: bool,
    config: Option<PathBuf>,
    sets: Vec<String>,
) -> ExitCode {
    use sb_store::report::{self, Period};
    let model = match load_model(config.as_ref(), &sets) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let settings = sb_config::build::report_settings(&model);
    let now_ms = unix_ms_now();
    let day = match &date {
        Some(d) => match report::parse_date(d) {
            Some(day) => day,
            None => {
                eprintln!("error: --date `{d}` is not a date (YYYY-MM-DD)");
                return ExitCode::from(2);
            }
        },
        None => report::local_date(now_ms / 1000, settings.utc_offset_min),
    };
    let p = Period::containing(kind, day, settings.utc_offset_min);
    let rt = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let path = model.store_path.clone();
    let result = rt.block_on(async {
        let mut conn = sb_store::db::open(&path, sb_store::db::Access::Read).await?;
        report::run(&mut conn, &path, p, group, &settings).await
    });
    match result {
        Ok(r) => {
            print!(
                "{}",
                report::render(&r, fmt, &settings, group.name(), show_numbers)
            );
            if fmt != Format::Table {
                eprintln!("{}", settings.formula());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `hash-password`: the password from standard input (never the command line, where other
/// users of the machine would see it), its hash on standard output.
fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("error: cannot read the password: {e}");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.chars().count() < 8 {
        eprintln!("error: a console password needs at least 8 characters");
        return ExitCode::from(64);
    }
    match sb_api::users::hash_password(password) {
        Ok(h) => {
            println!("{h}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::HashPassword => hash_password(),
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
        Command::Report {
            period,
            date,
            by,
            format,
            show_numbers,
            config,
            sets,
        } => print_report(period, date, by, format, show_numbers, config, sets),
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
        let switchboard = sb_runtime::build(&model, assets).await?;
        tracing::info!(
            sip = %switchboard.sip_addr(),
            hospital = %model.hospital_name,
            number = %model.hospital_number,
            extensions = model.extensions.len(),
            "switchboard ready (UDP and TCP)"
        );
        switchboard.run(stop_signals()).await?;
        tracing::info!("shut down cleanly");
        anyhow::Ok(())
    })
}

/// SIGTERM and SIGINT, each time they come: the first stops the engine gracefully, a
/// second at once.
fn stop_signals() -> sb_runtime::StopSignals {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the engine");
                None
            }
        };
        loop {
            let got = match term.as_mut() {
                Some(t) => tokio::select! {
                    r = tokio::signal::ctrl_c() => r.ok().map(|_| "SIGINT"),
                    r = t.recv() => r.map(|_| "SIGTERM"),
                },
                None => tokio::signal::ctrl_c().await.ok().map(|_| "SIGINT"),
            };
            let Some(name) = got else {
                return;
            };
            tracing::info!(signal = name, "shutting down");
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    rx
}
