//! One bounded scan of a proc root, printing the zombie count (and, with
//! `-v`, each zombie). Stands in for `zombie-cleaner scan` until the CLI
//! lands, and is the bench's fallback one-shot binary.
//!
//! Usage: scan_once [PROC_ROOT] [-v]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use zombie_cleaner::scan::{scan, ScanOptions};

fn main() -> ExitCode {
    let mut proc_root = PathBuf::from("/proc");
    let mut verbose = false;
    for arg in std::env::args().skip(1) {
        if arg == "-v" {
            verbose = true;
        } else {
            proc_root = PathBuf::from(arg);
        }
    }
    let opts = ScanOptions {
        proc_root,
        timeout: Duration::from_secs(10),
    };
    match scan(&opts) {
        Ok(snapshot) => {
            println!(
                "scanned {} processes in {:?}: {} zombies",
                snapshot.processes.len(),
                snapshot.duration,
                snapshot.zombies.len()
            );
            if verbose {
                for z in &snapshot.zombies {
                    println!(
                        "pid={} ppid={} start={} age={:.1}s comm={:?} cmdline={:?} cgroup={:?}",
                        z.pid, z.ppid, z.start_time, z.age_seconds, z.comm, z.cmdline, z.cgroup
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scan failed: {e}");
            ExitCode::FAILURE
        }
    }
}
