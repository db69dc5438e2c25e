//! Scan: reads every `/proc/PID/stat` under a proc root and records each
//! process (pid, ppid, state, comm, start time); for zombies it also reads
//! the cmdline and cgroup lines. A scan either completes or fails: a
//! timed-out or unreadable proc root is an error, never "no zombies".
//!
//! The walk is the hot path of the agent (tens of thousands of processes on
//! a busy node), so it opens the proc root once, lists it with `getdents`
//! into one buffer, opens each `PID/stat` relative to that directory fd and
//! reads it into one reusable buffer: the only per-process allocation is the
//! record's comm. Everything else (cmdline, cgroup, uptime) is read only when
//! a zombie was found.

use std::collections::HashSet;
use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags, RawDir, CWD};
use rustix::io::Errno;

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
    /// The worker of an earlier, timed-out scan of the same root is still
    /// blocked (typically a read stuck on a D-state process). Starting
    /// another would pile up threads stuck on the same read.
    #[error("an earlier scan of {path} is still blocked; not starting another")]
    Busy { path: PathBuf },
    #[error("cannot start the scan worker for {path}: {source}")]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("scan worker for {path} ended without a result")]
    WorkerLost { path: PathBuf },
    /// A proc tree lists at least the scanner itself; an empty one is a
    /// wrong proc root or a missing mount.
    #[error("no process found under {path}: not a proc filesystem")]
    NoProcesses { path: PathBuf },
    /// Zombie ages need the boot-relative clock; without it a scan that
    /// found zombies cannot say how old they are.
    #[error("cannot read uptime {path}: {source}")]
    Uptime {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ScanError {
    /// Closed-set label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ScanError::ProcRoot { .. } => "proc_unreadable",
            ScanError::Timeout { .. } => "timeout",
            ScanError::Busy { .. } => "busy",
            ScanError::Spawn { .. } => "spawn",
            ScanError::WorkerLost { .. } => "worker_lost",
            ScanError::Uptime { .. } => "uptime_unreadable",
            ScanError::NoProcesses { .. } => "no_processes",
        }
    }
}

/// Proc roots whose scan worker is still running. This is the one piece of
/// process-wide state in the crate, and it has to be: a worker stuck in a
/// D-state read outlives the `scan` call that started it, and the next call
/// (with the coordinator-fixed signature `scan(&ScanOptions)`) must see it.
/// Keyed by root so that a stuck fixture tree does not block scans of `/proc`.
fn in_flight() -> &'static Mutex<HashSet<PathBuf>> {
    static IN_FLIGHT: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    IN_FLIGHT.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Removes a root from [`in_flight`] when the worker ends, however it ends.
struct InFlightGuard(PathBuf);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut set = in_flight().lock().unwrap_or_else(|e| e.into_inner());
        set.remove(&self.0);
    }
}

/// Scans `opts.proc_root`, giving up after `opts.timeout`. The walk runs on
/// a worker thread; on timeout the worker is left to finish (a blocked
/// `read` cannot be cancelled) and later calls for the same root fail with
/// [`ScanError::Busy`] until it has.
pub fn scan(opts: &ScanOptions) -> Result<Snapshot, ScanError> {
    let root = opts.proc_root.clone();
    {
        let mut set = in_flight().lock().unwrap_or_else(|e| e.into_inner());
        if !set.insert(root.clone()) {
            return Err(ScanError::Busy { path: root });
        }
    }
    let guard = InFlightGuard(root.clone());
    let (tx, rx) = mpsc::sync_channel(1);
    let worker_root = root.clone();
    let spawned = std::thread::Builder::new()
        .name("proc-scan".into())
        .spawn(move || {
            let result = scan_blocking(&worker_root);
            // Leave the in-flight set before reporting, so a caller that
            // scans again right after this result never sees Busy.
            drop(guard);
            // The caller may have timed out and gone: nothing to do then.
            let _ = tx.send(result);
        });
    if let Err(source) = spawned {
        // The closure (and the guard in it) was dropped by the failed spawn.
        return Err(ScanError::Spawn { path: root, source });
    }
    match rx.recv_timeout(opts.timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ScanError::Timeout {
            path: root,
            timeout: opts.timeout,
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ScanError::WorkerLost { path: root }),
    }
}

/// Size of the `getdents` buffer: ~1000 `/proc` entries per syscall.
const DIRENT_BUF: usize = 32 * 1024;
/// A stat line is ~300 bytes; comm is at most 64 bytes even on new kernels.
const STAT_BUF: usize = 1024;
/// A zombie's cmdline is normally empty; this only bounds a hostile one.
const CMDLINE_CAP: usize = 64 * 1024;
/// `/proc/PID/cgroup` is a few lines even on cgroup v1 hosts.
const CGROUP_CAP: usize = 64 * 1024;

/// The unbounded walk of `proc_root`. Processes that vanish or cannot be
/// read mid-scan are skipped; only an unreadable proc root is an error.
pub fn scan_blocking(proc_root: &Path) -> Result<Snapshot, ScanError> {
    let started = Instant::now();
    let root_err = |e: Errno| ScanError::ProcRoot {
        path: proc_root.to_path_buf(),
        source: e.into(),
    };
    let dir = rustix::fs::openat(
        CWD,
        proc_root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(root_err)?;

    let mut processes = Vec::new();
    let mut dirents: Vec<u8> = Vec::with_capacity(DIRENT_BUF);
    let mut stat_buf = [0u8; STAT_BUF];
    let mut path = [0u8; 32];
    let mut entries = RawDir::new(dir.as_fd(), dirents.spare_capacity_mut());
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(root_err)?;
        let Some(pid) = parse_pid_name(entry.file_name().to_bytes()) else {
            continue;
        };
        let Some(rel) = pid_path(&mut path, pid, b"stat") else {
            continue;
        };
        let Ok(len) = read_small_at(dir.as_fd(), rel, &mut stat_buf) else {
            // ENOENT/ESRCH: the process exited between getdents and open.
            // Anything else (a numeric non-directory, EACCES under
            // hidepid) is equally not a process we can report on.
            continue;
        };
        if let Some(process) = stat_buf.get(..len).and_then(parse_stat) {
            processes.push(process);
        }
    }

    // A real proc tree always lists the scanner itself: an empty one is a
    // wrong proc root or a missing mount, not a node without zombies.
    if processes.is_empty() {
        return Err(ScanError::NoProcesses {
            path: proc_root.to_path_buf(),
        });
    }
    let zombies = collect_zombies(dir.as_fd(), proc_root, &processes)?;
    Ok(Snapshot {
        processes,
        zombies,
        duration: started.elapsed(),
    })
}

fn collect_zombies(
    dir: BorrowedFd<'_>,
    proc_root: &Path,
    processes: &[Process],
) -> Result<Vec<Zombie>, ScanError> {
    let mut zombies = Vec::new();
    let mut found = processes.iter().filter(|p| p.state == b'Z').peekable();
    if found.peek().is_none() {
        return Ok(zombies);
    }
    // Read after the stat files so that no zombie looks younger than zero.
    let uptime = read_uptime(dir).map_err(|e| ScanError::Uptime {
        path: proc_root.join("uptime"),
        source: e,
    })?;
    let ticks = rustix::param::clock_ticks_per_second().max(1) as f64;
    let mut path = [0u8; 32];
    let mut buf = Vec::new();
    for p in found {
        let cmdline = match pid_path(&mut path, p.pid, b"cmdline") {
            Some(rel) => read_vec_at(dir, rel, &mut buf, CMDLINE_CAP)
                .ok()
                .map(|()| cmdline_to_string(&buf)),
            None => None,
        }
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| p.comm.clone());
        let cgroup = match pid_path(&mut path, p.pid, b"cgroup") {
            Some(rel) => read_vec_at(dir, rel, &mut buf, CGROUP_CAP)
                .ok()
                .map(|()| String::from_utf8_lossy(&buf).into_owned()),
            None => None,
        }
        .unwrap_or_default();
        let age_seconds = (uptime - p.start_time as f64 / ticks).max(0.0);
        zombies.push(Zombie {
            pid: p.pid,
            ppid: p.ppid,
            start_time: p.start_time,
            comm: p.comm.clone(),
            cmdline,
            cgroup,
            age_seconds,
        });
    }
    Ok(zombies)
}

/// Parses one `/proc/PID/stat`. The comm sits between the first `(` and the
/// LAST `)`: it may itself hold spaces, parentheses, newlines and bytes
/// that are not UTF-8, and nothing after it can contain `)`.
pub fn parse_stat(buf: &[u8]) -> Option<Process> {
    let open = buf.iter().position(|&b| b == b'(')?;
    let close = rfind_byte(buf, b')')?;
    if close < open {
        return None;
    }
    let pid = i32::try_from(parse_u64(buf[..open].trim_ascii())?).ok()?;
    let comm = &buf[open + 1..close];
    let comm = match std::str::from_utf8(comm) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(comm).into_owned(),
    };
    let mut rest = &buf[close + 1..];
    // Field 3 is the state, field 4 the ppid, field 22 the start time.
    let state = match next_field(&mut rest)? {
        [s] => *s,
        _ => return None,
    };
    let ppid = i32::try_from(parse_u64(next_field(&mut rest)?)?).ok()?;
    for _ in 5..22 {
        next_field(&mut rest)?;
    }
    let start_time = parse_u64(next_field(&mut rest)?)?;
    Some(Process {
        pid,
        ppid,
        state,
        comm,
        start_time,
    })
}

/// The next space-separated field of a stat line, advancing `rest` past it.
fn next_field<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let is_sep = |b: &u8| *b == b' ' || *b == b'\n';
    let start = rest.iter().position(|b| !is_sep(b))?;
    let tail = &rest[start..];
    let len = tail.iter().position(is_sep).unwrap_or(tail.len());
    *rest = &tail[len..];
    Some(&tail[..len])
}

/// Last index of `needle`, eight bytes at a time: the stat line is ~300
/// bytes and its `)` is near the start, so a byte-wise scan from the end
/// dominated parsing.
fn rfind_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(needle);
    let mut end = hay.len();
    while end >= 8 {
        let chunk = &hay[end - 8..end];
        let word = u64::from_le_bytes(chunk.try_into().ok()?) ^ pattern;
        // Non-zero iff some byte of `word` is zero, i.e. equals `needle`.
        if word.wrapping_sub(LO) & !word & HI != 0 {
            return chunk
                .iter()
                .rposition(|&b| b == needle)
                .map(|i| end - 8 + i);
        }
        end -= 8;
    }
    hay[..end].iter().rposition(|&b| b == needle)
}

/// Raw `/proc/PID/cgroup`, lossily decoded; `None` when it cannot be read.
pub fn read_cgroup(proc_root: &Path, pid: i32) -> Option<String> {
    let bytes = read_capped(&proc_root.join(pid.to_string()).join("cgroup"), CGROUP_CAP)?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Raw NUL-separated `/proc/PID/cmdline` (for shim parsing); `None` when it
/// cannot be read.
pub fn read_cmdline(proc_root: &Path, pid: i32) -> Option<Vec<u8>> {
    read_capped(
        &proc_root.join(pid.to_string()).join("cmdline"),
        CMDLINE_CAP,
    )
}

fn read_capped(path: &Path, cap: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut out = Vec::new();
    file.take(cap as u64).read_to_end(&mut out).ok()?;
    Some(out)
}

/// NULs become spaces and trailing separators go, so that `sh\0-c\0x\0`
/// reads `sh -c x`.
fn cmdline_to_string(raw: &[u8]) -> String {
    let s: Vec<u8> = raw.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
    String::from_utf8_lossy(s.trim_ascii_end()).into_owned()
}

/// A `/proc` entry name that is a pid: all digits, a positive i32.
fn parse_pid_name(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 10 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    i32::try_from(parse_u64(name)?).ok().filter(|&p| p > 0)
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Writes `PID/<file>\0` into `buf` without allocating.
fn pid_path<'a>(buf: &'a mut [u8; 32], pid: i32, file: &[u8]) -> Option<&'a CStr> {
    let mut digits = [0u8; 10];
    let mut n = u32::try_from(pid).ok()?;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = &digits[i..];
    let len = digits.len() + 1 + file.len();
    if len + 1 > buf.len() {
        return None;
    }
    buf[..digits.len()].copy_from_slice(digits);
    buf[digits.len()] = b'/';
    buf[digits.len() + 1..len].copy_from_slice(file);
    buf[len] = 0;
    CStr::from_bytes_with_nul(&buf[..=len]).ok()
}

fn open_at(dir: BorrowedFd<'_>, rel: &CStr) -> Result<rustix::fd::OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
}

/// Reads a file that fits in `buf` (a stat line). procfs hands over the
/// whole line in one `read`, which ends in `\n`: then we stop without the
/// extra `read` that would only return 0 (one syscall per process).
fn read_small_at(dir: BorrowedFd<'_>, rel: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = open_at(dir, rel)?;
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if buf[len - 1] == b'\n' {
                    break;
                }
            }
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}

/// Reads a whole file (up to `cap` bytes) into `out`, reusing its storage.
fn read_vec_at(
    dir: BorrowedFd<'_>,
    rel: &CStr,
    out: &mut Vec<u8>,
    cap: usize,
) -> Result<(), Errno> {
    let fd = open_at(dir, rel)?;
    out.clear();
    let mut chunk = [0u8; 4096];
    while out.len() < cap {
        match rustix::io::read(&fd, &mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n.min(cap - out.len())]),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// First field of `/proc/uptime`: seconds since boot, as a float.
fn read_uptime(dir: BorrowedFd<'_>) -> std::io::Result<f64> {
    let mut buf = [0u8; 128];
    let len = read_small_at(dir, c"uptime", &mut buf)?;
    std::str::from_utf8(&buf[..len])
        .ok()
        .and_then(|s| s.split_ascii_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat_line(comm: &[u8]) -> Vec<u8> {
        let mut v = b"4242 (".to_vec();
        v.extend_from_slice(comm);
        v.extend_from_slice(
            b") Z 17 4242 4242 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0 \
              18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
        );
        v
    }

    #[test]
    fn parses_a_plain_stat_line() {
        let p = parse_stat(&stat_line(b"sleep")).expect("valid stat");
        assert_eq!(
            p,
            Process {
                pid: 4242,
                ppid: 17,
                state: b'Z',
                comm: "sleep".into(),
                start_time: 987654,
            }
        );
    }

    #[test]
    fn comm_with_spaces_and_parens_ends_at_the_last_paren() {
        let p = parse_stat(&stat_line(b"a) Z 99 (b")).expect("valid stat");
        assert_eq!(p.comm, "a) Z 99 (b");
        assert_eq!(p.ppid, 17);
        assert_eq!(p.start_time, 987654);
    }

    #[test]
    fn comm_with_newline_and_invalid_utf8() {
        let p = parse_stat(&stat_line(b"x\ny\xff)")).expect("valid stat");
        assert_eq!(p.comm, "x\ny\u{fffd})");
        assert_eq!(p.state, b'Z');
        assert_eq!(p.start_time, 987654);
    }

    #[test]
    fn truncated_or_garbage_lines_are_rejected() {
        assert_eq!(parse_stat(b""), None);
        assert_eq!(parse_stat(b"12 (x) S 1 2 3"), None);
        assert_eq!(parse_stat(b"12 x) S 1"), None);
        assert_eq!(parse_stat(b") 12 (x"), None);
        let mut bad_pid = stat_line(b"x");
        bad_pid[0] = b'-';
        assert_eq!(parse_stat(&bad_pid), None);
        let mut two_letter_state = stat_line(b"x");
        let at = two_letter_state
            .iter()
            .position(|&b| b == b'Z')
            .expect("state");
        two_letter_state.insert(at, b'Z');
        assert_eq!(parse_stat(&two_letter_state), None);
    }

    #[test]
    fn pid_paths_are_nul_terminated_and_exact() {
        let mut buf = [0u8; 32];
        assert_eq!(
            pid_path(&mut buf, 2147483647, b"cmdline").map(CStr::to_bytes),
            Some(&b"2147483647/cmdline"[..])
        );
        assert_eq!(
            pid_path(&mut buf, 7, b"stat").map(CStr::to_bytes),
            Some(&b"7/stat"[..])
        );
        assert_eq!(pid_path(&mut buf, -1, b"stat"), None);
    }

    #[test]
    fn rfind_byte_agrees_with_rposition() {
        let hay: Vec<u8> = (0..200u8).map(|i| b"ab)c )x"[usize::from(i) % 7]).collect();
        for end in 0..hay.len() {
            for needle in [b')', b'x', b'a', b'z'] {
                assert_eq!(
                    rfind_byte(&hay[..end], needle),
                    hay[..end].iter().rposition(|&b| b == needle),
                    "end {end} needle {needle}"
                );
            }
        }
    }

    #[test]
    fn pid_names() {
        assert_eq!(parse_pid_name(b"1"), Some(1));
        assert_eq!(parse_pid_name(b"self"), None);
        assert_eq!(parse_pid_name(b"0"), None);
        assert_eq!(parse_pid_name(b"99999999999"), None);
        assert_eq!(parse_pid_name(b""), None);
    }

    #[test]
    fn cmdline_nuls_become_spaces_and_trailing_ones_go() {
        assert_eq!(cmdline_to_string(b"sh\0-c\0x\0"), "sh -c x");
        assert_eq!(cmdline_to_string(b"\0\0"), "");
        assert_eq!(cmdline_to_string(b"a\xff\0"), "a\u{fffd}");
    }
}
