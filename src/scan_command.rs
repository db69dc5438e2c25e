//! The `scan` command: one scan of this host, attributed and printed.

use std::process::ExitCode;

use crate::cli::Output;
use crate::config::Config;

pub fn run(_cfg: &Config, _output: Output) -> ExitCode {
    ExitCode::FAILURE
}
