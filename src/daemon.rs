//! Daemon: the cleaning loop (scan → attribute → confirm → guard → clean →
//! report) on every `check_interval`.

use std::process::ExitCode;

use crate::config::Config;

/// Runs the daemon until SIGTERM.
pub fn main(_cfg: Config) -> ExitCode {
    eprintln!("zombie-cleaner: the daemon is not built yet");
    ExitCode::FAILURE
}
