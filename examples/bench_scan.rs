//! Benchmark harness for scripts/bench.sh (not used by the agent).
//!
//! `bench_scan inproc ROUNDS [PROC_ROOT]` alternates, ROUNDS times, the
//! floor (list the proc root, then open+read+close every `PID/stat`, no
//! parsing) with `scan_blocking`, and prints both medians, wall-clock and
//! thread CPU time. Both use the
//! same syscalls (`getdents64` on a dir fd, `openat` relative to it, one
//! `read`, `close`), so the ratio is the cost of parsing and recording.
//!
//! `bench_scan cmd ROUNDS PROG [ARGS...]` runs a command ROUNDS times with
//! its output discarded and prints the median wall time, so `ps` and the
//! one-shot `scan` are timed by the same clock the same way; it also prints
//! the children's mean CPU time (user + system), which a loaded machine
//! disturbs much less than wall time.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags, RawDir, CWD};
use zombie_cleaner::scan::scan_blocking;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Returns (stat files read, bytes read).
fn floor(root: &Path) -> std::io::Result<(usize, usize)> {
    let dir = rustix::fs::openat(
        CWD,
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut dirents: Vec<u8> = Vec::with_capacity(32 * 1024);
    let mut buf = [0u8; 1024];
    let mut path = Vec::with_capacity(32);
    let (mut files, mut bytes) = (0, 0);
    let mut entries = RawDir::new(dir.as_fd(), dirents.spare_capacity_mut());
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
            continue;
        }
        path.clear();
        path.extend_from_slice(name);
        path.extend_from_slice(b"/stat\0");
        let Ok(rel) = std::ffi::CStr::from_bytes_with_nul(&path) else {
            continue;
        };
        let Ok(fd) = rustix::fs::openat(
            dir.as_fd(),
            rel,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            continue;
        };
        if let Ok(n) = rustix::io::read(&fd, &mut buf) {
            files += 1;
            bytes += n;
        }
    }
    Ok((files, bytes))
}

/// CPU time of this thread (first field of `/proc/thread-self/schedstat`,
/// ns): on a shared machine wall time also counts time spent preempted.
fn thread_cpu() -> Result<Duration, String> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat")
        .map_err(|e| format!("/proc/thread-self/schedstat: {e}"))?;
    let ns = s
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .ok_or("/proc/thread-self/schedstat: no cpu time")?;
    Ok(Duration::from_nanos(ns))
}

/// Wall and CPU time of one call.
fn timed<T>(f: impl FnOnce() -> Result<T, String>) -> Result<(T, Duration, Duration), String> {
    let (c0, t0) = (thread_cpu()?, Instant::now());
    let out = f()?;
    let wall = t0.elapsed();
    Ok((out, wall, thread_cpu()?.saturating_sub(c0)))
}

fn inproc(rounds: usize, root: &Path) -> Result<(), String> {
    let run_floor = || floor(root).map_err(|e| format!("floor: {e}"));
    let run_scan = || scan_blocking(root).map_err(|e| e.to_string());
    // Warm the dentry cache and the allocator once before timing.
    run_floor()?;
    run_scan()?;
    let (mut floors, mut scans, mut floor_cpu, mut scan_cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut files, mut procs, mut zombies) = (0, 0, 0);
    for round in 0..rounds {
        // Alternate which goes first so neither always runs on a cache the
        // other just warmed.
        for which in [round % 2, 1 - round % 2] {
            if which == 0 {
                let ((n, _), wall, cpu) = timed(run_floor)?;
                files = n;
                floors.push(wall);
                floor_cpu.push(cpu);
            } else {
                let (snap, wall, cpu) = timed(run_scan)?;
                procs = snap.processes.len();
                zombies = snap.zombies.len();
                scans.push(wall);
                scan_cpu.push(cpu);
            }
        }
    }
    let ms = |v: Vec<Duration>| median(v).as_secs_f64() * 1e3;
    println!(
        "floor_ms={:.3} scan_ms={:.3} floor_cpu_ms={:.3} scan_cpu_ms={:.3} \
         stat_files={files} processes={procs} zombies={zombies}",
        ms(floors),
        ms(scans),
        ms(floor_cpu),
        ms(scan_cpu),
    );
    Ok(())
}

/// CPU time (user + system) of every child reaped so far: fields 16 and 17
/// (`cutime`, `cstime`) of `/proc/self/stat`, in clock ticks.
fn children_cpu_ticks() -> Result<u64, String> {
    let raw = std::fs::read("/proc/self/stat").map_err(|e| format!("/proc/self/stat: {e}"))?;
    let close = raw
        .iter()
        .rposition(|&b| b == b')')
        .ok_or("/proc/self/stat: no comm")?;
    let rest = String::from_utf8_lossy(&raw[close + 1..]).into_owned();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> Result<u64, String> {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("/proc/self/stat: field {}", i + 3))
    };
    Ok(tick(13)? + tick(14)?)
}

fn cmd(rounds: usize, argv: &[String]) -> Result<(), String> {
    let (prog, args) = argv.split_first().ok_or("cmd: no program")?;
    let ticks_before = children_cpu_ticks()?;
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let status = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("{prog}: {e}"))?;
        times.push(t.elapsed());
        if !status.success() {
            return Err(format!("{prog} failed: {status}"));
        }
    }
    // The kernel only keeps children's CPU time in ticks (10 ms): the mean
    // over all runs is as precise as it gets without wait4.
    let ticks = children_cpu_ticks()?.saturating_sub(ticks_before) as f64;
    let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
    println!(
        "median_ms={:.3} mean_cpu_ms={:.3}",
        median(times).as_secs_f64() * 1e3,
        ticks / hz * 1e3 / rounds as f64
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(0);
    let result = match (args.first().map(String::as_str), rounds) {
        (Some("inproc"), 1..) => inproc(
            rounds,
            &args
                .get(2)
                .map_or_else(|| PathBuf::from("/proc"), PathBuf::from),
        ),
        (Some("cmd"), 1..) => cmd(rounds, &args[2..]),
        _ => Err("usage: bench_scan inproc ROUNDS [PROC_ROOT] | cmd ROUNDS PROG [ARGS...]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_scan: {e}");
            ExitCode::FAILURE
        }
    }
}
