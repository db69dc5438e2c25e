//! Command line: raw flags are parsed without side effects, then resolved
//! with the config file and environment into one validated [`Config`].
//! Single-dash long flags (`-config`, `-log-level`) are what the original
//! tool's users type, so they are accepted beside the double-dash forms.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, Config, ConfigErrors, Env, ProcessEnv};
use crate::logging;

/// Long flags that may also be written with a single dash.
const LONG_FLAGS: [&str; 7] = [
    "config",
    "log-level",
    "log-format",
    "proc-root",
    "output",
    "dry-run",
    "help",
];

#[derive(Debug, Parser)]
#[command(
    name = "zombie-cleaner",
    version,
    about = "Finds lasting zombie processes and removes them by restarting their container",
    after_help = "Single-dash long flags work too: zombie-cleaner -config config/config.yaml -log-level debug"
)]
pub struct Args {
    /// Config file (YAML). Without it, defaults and environment variables apply.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log level: trace, debug, info, warn, error (overrides LOG_LEVEL and the file).
    #[arg(long = "log-level", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format: json or text (overrides LOG_FORMAT and the file).
    #[arg(long = "log-format", global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Root of the proc filesystem (overrides PROC_ROOT).
    #[arg(long = "proc-root", global = true, value_name = "DIR")]
    pub proc_root: Option<PathBuf>,
    /// Log what would be done, change nothing (overrides DRY_RUN and the file).
    #[arg(long = "dry-run", global = true)]
    pub dry_run: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the cleaning daemon (the default when no command is given).
    Run,
    /// Scan this host once and report its zombies, grouped by container.
    Scan {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Print the effective configuration as YAML, or every error.
    CheckConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Rewrites `-config x` / `-log-level=debug` into their `--` forms.
pub fn normalize_args<I: IntoIterator<Item = OsString>>(args: I) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || passthrough {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        let rewritten = arg.to_str().and_then(|s| {
            let body = s.strip_prefix('-').filter(|b| !b.starts_with('-'))?;
            let name = body.split_once('=').map_or(body, |(n, _)| n);
            LONG_FLAGS
                .contains(&name)
                .then(|| OsString::from(format!("-{s}")))
        });
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

/// Applies command-line overrides on top of the loaded config.
pub fn resolve(args: &Args, env: &dyn Env) -> Result<Config, ConfigErrors> {
    let mut cfg = config::load(args.config.as_deref(), env)?;
    let mut errors = Vec::new();
    if let Some(level) = &args.log_level {
        match normalize_level(level) {
            Some(l) => cfg.logger.level = l.to_owned(),
            None => errors.push(format!(
                "flag -log-level {level:?}: not one of {}",
                config::LOG_LEVELS.join(", ")
            )),
        }
    }
    if let Some(format) = &args.log_format {
        match logging::Format::parse(format) {
            Some(_) => cfg.logger.format = format.clone(),
            None => errors.push(format!(
                "flag -log-format {format:?}: not one of json, text"
            )),
        }
    }
    if let Some(root) = &args.proc_root {
        cfg.proc_root = root.clone();
    }
    if args.dry_run {
        cfg.dry_run = true;
    }
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn normalize_level(level: &str) -> Option<&'static str> {
    match level.trim().to_ascii_lowercase().as_str() {
        "trace" => Some("trace"),
        "debug" => Some("debug"),
        "info" => Some("info"),
        "warn" | "warning" => Some("warn"),
        "error" | "fatal" | "panic" => Some("error"),
        _ => None,
    }
}

/// The whole program: parse, resolve, dispatch, map to an exit code
/// (0 success, 1 the work failed, 2 bad usage or config).
pub fn main<I: IntoIterator<Item = OsString>>(raw: I) -> ExitCode {
    let args = match Args::try_parse_from(normalize_args(raw)) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    let cfg = match resolve(&args, &ProcessEnv) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("zombie-cleaner: config error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    match &args.command {
        Some(Command::CheckConfig) => {
            print!("{}", cfg.to_yaml());
            ExitCode::SUCCESS
        }
        Some(Command::Scan { output }) => {
            let output = *output;
            logging::init(&cfg.logger.level, log_format(&cfg));
            crate::scan_command::run(&cfg, output)
        }
        Some(Command::Run) | None => {
            logging::init(&cfg.logger.level, log_format(&cfg));
            let watch = args.config.clone();
            let reload: crate::daemon::Reloader = Box::new(move || resolve(&args, &ProcessEnv));
            crate::daemon::main(cfg, watch, reload)
        }
    }
}

fn log_format(cfg: &Config) -> logging::Format {
    logging::Format::parse(&cfg.logger.format).unwrap_or(logging::Format::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Args {
        Args::try_parse_from(normalize_args(v.iter().map(OsString::from))).expect("parses")
    }

    #[test]
    fn single_dash_long_flags_as_the_original_tool() {
        let a = parse(&["zc", "-config", "config/config.yaml", "-log-level", "debug"]);
        assert_eq!(a.config, Some(PathBuf::from("config/config.yaml")));
        assert_eq!(a.log_level.as_deref(), Some("debug"));
        assert!(a.command.is_none());
        let a = parse(&["zc", "--config=c.yaml", "scan", "-output", "json"]);
        assert_eq!(a.config, Some(PathBuf::from("c.yaml")));
        assert!(matches!(
            a.command,
            Some(Command::Scan {
                output: Output::Json
            })
        ));
        let a = parse(&["zc", "check-config", "-log-level=warn"]);
        assert_eq!(a.log_level.as_deref(), Some("warn"));
    }

    #[test]
    fn unknown_single_dash_words_are_left_alone() {
        let v = normalize_args(["zc", "-x", "--", "-config"].map(OsString::from));
        assert_eq!(v, ["zc", "-x", "--", "-config"].map(OsString::from));
    }

    #[test]
    fn flags_override_env_and_bad_flag_values_are_named() {
        let env = [("LOG_LEVEL", "error")];
        let cfg = resolve(&parse(&["zc", "-log-level", "debug", "--dry-run"]), &env).expect("ok");
        assert_eq!(cfg.logger.level, "debug");
        assert!(cfg.dry_run);
        let err = resolve(&parse(&["zc", "-log-level", "loud"]), &env).expect_err("bad level");
        assert!(err.to_string().contains("-log-level"), "{err}");
    }
}
