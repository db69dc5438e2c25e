//! Scan: reads every `/proc/PID/stat` under a proc root and records each
//! process (pid, ppid, state, comm, start time); for zombies it also reads
//! the cmdline and cgroup lines. A scan either completes or fails: a
//! timed-out or unreadable proc root is an error, never "no zombies".

use std::path::PathBuf;
use std::time::Duration;

/// Where and how long to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Root of the proc filesystem (`/proc`, or a fixture tree in tests).
    pub proc_root: PathBuf,
    /// Upper bound for the whole scan (`process_timeout`).
    pub timeout: Duration,
}

/// One process as read from `/proc/PID/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: i32,
    pub ppid: i32,
    /// The state letter (`R`, `S`, `D`, `Z`, ...).
    pub state: u8,
    /// The comm field, lossily decoded, not yet sanitised.
    pub comm: String,
    /// Field 22 of stat: start time in clock ticks since boot.
    pub start_time: u64,
}

/// A zombie found by a scan, with what attribution needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Zombie {
    pub pid: i32,
    pub ppid: i32,
    pub start_time: u64,
    pub comm: String,
    /// The cmdline with NULs as spaces; the comm when empty or unreadable.
    pub cmdline: String,
    /// Raw contents of `/proc/PID/cgroup` (empty when unreadable).
    pub cgroup: String,
    /// Seconds since the zombie's process started.
    pub age_seconds: f64,
}

/// The result of one complete scan.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every process seen (zombies included), in no particular order.
    pub processes: Vec<Process>,
    pub zombies: Vec<Zombie>,
    /// Wall time the scan took.
    pub duration: Duration,
}

/// Why a scan failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read proc root {path}: {source}")]
    ProcRoot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("scan of {path} did not finish within {timeout:?}")]
    Timeout { path: PathBuf, timeout: Duration },
}

impl ScanError {
    /// Closed-set label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ScanError::ProcRoot { .. } => "proc_unreadable",
            ScanError::Timeout { .. } => "timeout",
        }
    }
}
