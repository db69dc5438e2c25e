//! Clean: runs the configured strategy chain on one confirmed container
//! until its confirmed zombies are gone. Strategies, in the order given:
//!
//! - `restart`: asks the runtime to stop the container gracefully (CRI
//!   StopContainer, so the kubelet restarts it; Docker restart), bounded by
//!   `container_timeout`.
//! - `kill-init`: SIGKILL of the container's PID 1. The narrow fallback:
//!   the other containers of the pod survive.
//! - `kill-shim`: SIGKILL of the container's shim. On CRI containerd one
//!   shim serves the WHOLE pod, so this kills every container of the pod
//!   (Docker and CRI-O's conmon run one shim per container).
//!
//! After each step the confirmed zombies must be gone (their pid missing or
//! carrying another start time) before the chain stops; otherwise it
//! escalates to the next strategy. `kill-init` and `kill-shim` never ask the
//! runtime: they are needed precisely when it does not answer, so the init
//! and the shim are found from `/proc` alone (the container's cgroup, the
//! process tree, the shim's `-id`), and every kill goes through
//! [`signal::kill_verified`]. In a dry run every step logs what it would do
//! and nothing is changed.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rustix::process::Signal;

use crate::attribute::{parse_shim_cmdline, ContainerRef, RuntimeKind};
use crate::confirm::ZombieKey;
use crate::runtime::{ContainerInfo, Runtime, RuntimeError};
use crate::sanitize;
use crate::signal::{self, cgroup_names_container, stat_of, Expected, Ownership};

/// How long a step waits for the zombies to disappear once it succeeded.
/// Orphaned zombies are reaped by the shim (a subreaper) within
/// milliseconds; a host PID 1 that reaps slowly can take about a second.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(5);
const VERIFY_POLL: Duration = Duration::from_millis(50);
/// Bound on the parent walk from the init to its shim.
const MAX_ANCESTORS: usize = 64;
/// Bound on finding and signalling a process from `/proc`. Separate from
/// `container_timeout`, which bounds runtime calls: a short runtime timeout
/// must not make a loaded node give up on reading `/proc`.
pub const PROC_TIMEOUT: Duration = Duration::from_secs(10);

/// One way to remove a container's zombies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    Restart,
    KillInit,
    KillShim,
}

/// The default chain: `[restart, kill-init, kill-shim]`.
pub const DEFAULT_CHAIN: [Strategy; 3] =
    [Strategy::Restart, Strategy::KillInit, Strategy::KillShim];

impl Strategy {
    /// The config spelling, also a closed-set metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Restart => "restart",
            Strategy::KillInit => "kill-init",
            Strategy::KillShim => "kill-shim",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cleanup strategy {0:?} (expected restart, kill-init or kill-shim)")]
pub struct UnknownStrategy(pub String);

impl FromStr for Strategy {
    type Err = UnknownStrategy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "restart" => Ok(Strategy::Restart),
            "kill-init" => Ok(Strategy::KillInit),
            "kill-shim" => Ok(Strategy::KillShim),
            other => Err(UnknownStrategy(other.to_owned())),
        }
    }
}

/// A confirmed container to clean.
#[derive(Debug, Clone)]
pub struct Target {
    pub container: ContainerRef,
    /// What the runtime said about the container when it was resolved.
    pub info: ContainerInfo,
    /// The confirmed zombies: success means all of them are gone.
    pub zombies: Vec<ZombieKey>,
}

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    /// The step ran and the confirmed zombies are gone.
    Ok,
    Failed(String),
    /// The runtime did not answer within `container_timeout`.
    TimedOut,
    /// The step did not run (dry run, no runtime, nothing to do).
    Skipped(String),
}

impl StepResult {
    /// Closed-set label for metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            StepResult::Ok => "ok",
            StepResult::Failed(_) => "failed",
            StepResult::TimedOut => "timed_out",
            StepResult::Skipped(_) => "skipped",
        }
    }
}

/// One strategy tried on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub strategy: Strategy,
    pub result: StepResult,
    /// The pid signalled (or, in a dry run, that would be).
    pub pid: Option<i32>,
}

/// How the whole chain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The zombies were gone before anything was done.
    AlreadyGone,
    /// The zombies disappeared after this strategy.
    Cleaned(Strategy),
    /// Every strategy was tried and the zombies are still there.
    Failed,
    /// Dry run: steps were logged, nothing was done.
    DryRun,
}

impl Outcome {
    /// Closed-set label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::AlreadyGone => "already_gone",
            Outcome::Cleaned(_) => "cleaned",
            Outcome::Failed => "failed",
            Outcome::DryRun => "dry_run",
        }
    }
}

/// What [`clean`] did, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanReport {
    pub container_id: String,
    pub steps: Vec<Step>,
    pub outcome: Outcome,
    /// A runtime call did not answer in time (counts toward
    /// `zombie_cleaner_container_operation_timeouts_total`).
    pub runtime_timed_out: bool,
}

/// Runs `chain` on `target` until its confirmed zombies are gone.
/// `runtime` is only needed by `restart`; `proc_root` must be the procfs of
/// the agent's pid namespace. Never panics and never returns early with an
/// error: every failure is a step in the report.
pub async fn clean(
    target: &Target,
    chain: &[Strategy],
    runtime: Option<&dyn Runtime>,
    proc_root: &Path,
    container_timeout: Duration,
    dry_run: bool,
) -> CleanReport {
    let id = target.container.id.clone();
    let mut report = CleanReport {
        container_id: id.clone(),
        steps: Vec::with_capacity(chain.len()),
        outcome: Outcome::Failed,
        runtime_timed_out: false,
    };
    if zombies_gone(proc_root, &target.zombies) {
        tracing::info!(container_id = %id, "confirmed zombies already gone, nothing to do");
        report.outcome = Outcome::AlreadyGone;
        return report;
    }
    for &strategy in chain {
        // A previous step may have worked late (a restart that timed out
        // but went through): do not escalate to a harsher kill for nothing.
        if let Some(previous) = report.steps.last() {
            if !dry_run && zombies_gone(proc_root, &target.zombies) {
                tracing::info!(container_id = %id, strategy = previous.strategy.as_str(),
                    "zombies disappeared after the previous step");
                report.outcome = match previous.result {
                    StepResult::Skipped(_) => Outcome::AlreadyGone,
                    _ => Outcome::Cleaned(previous.strategy),
                };
                return report;
            }
        }
        let mut step = match strategy {
            Strategy::Restart => {
                let (step, timed_out) = restart(target, runtime, container_timeout, dry_run).await;
                report.runtime_timed_out |= timed_out;
                step
            }
            // A sandbox's init is the pod's pause: killing it takes the whole
            // pod, which is kill-shim's blast radius, not kill-init's.
            Strategy::KillInit if target.info.is_sandbox() => Step {
                strategy,
                result: StepResult::Skipped(
                    "the target is a pod sandbox: its init is pause, whose death ends the whole pod; left to kill-shim".into(),
                ),
                pid: None,
            },
            Strategy::KillInit | Strategy::KillShim => {
                kill_step(strategy, target, proc_root, dry_run).await
            }
        };
        if step.result == StepResult::Ok {
            if wait_until_gone(proc_root, &target.zombies).await {
                tracing::info!(container_id = %id, strategy = strategy.as_str(), pid = step.pid,
                    "confirmed zombies are gone");
                report.steps.push(step);
                report.outcome = Outcome::Cleaned(strategy);
                return report;
            }
            step.result = StepResult::Failed(format!(
                "zombies still present {VERIFY_TIMEOUT:?} after {strategy}"
            ));
        }
        if !dry_run {
            tracing::warn!(container_id = %id, strategy = strategy.as_str(), pid = step.pid,
                result = step.result.as_str(), reason = ?step.result, "cleanup step did not clear the zombies");
        }
        report.steps.push(step);
    }
    report.outcome = if dry_run {
        Outcome::DryRun
    } else {
        Outcome::Failed
    };
    report
}

/// The `restart` step. Returns the step and whether the runtime timed out.
async fn restart(
    target: &Target,
    runtime: Option<&dyn Runtime>,
    container_timeout: Duration,
    dry_run: bool,
) -> (Step, bool) {
    let id = &target.container.id;
    let step = |result| Step {
        strategy: Strategy::Restart,
        result,
        pid: None,
    };
    let Some(runtime) = runtime else {
        return (
            step(StepResult::Skipped("no runtime for this container".into())),
            false,
        );
    };
    // Leave at least a quarter of the bound for the runtime to kill the
    // container after the grace period and answer. CRI counts the grace in
    // whole seconds, so round down: rounding up would eat the margin.
    let grace = Duration::from_secs((container_timeout.saturating_mul(3) / 4).as_secs());
    if dry_run {
        tracing::info!(container_id = %id, strategy = "restart", endpoint = runtime.endpoint(),
            grace_seconds = grace.as_secs_f64(), "dry run: would restart the container through the runtime");
        return (step(StepResult::Skipped("dry run".into())), false);
    }
    tracing::info!(container_id = %id, strategy = "restart", endpoint = runtime.endpoint(),
        grace_seconds = grace.as_secs_f64(), "restarting container through the runtime");
    match tokio::time::timeout(container_timeout, runtime.restart(id, grace)).await {
        Ok(Ok(())) => (step(StepResult::Ok), false),
        Ok(Err(e)) if e.is_timeout() => (step(StepResult::TimedOut), true),
        Ok(Err(e)) => (step(StepResult::Failed(runtime_failure(&e))), false),
        Err(_) => (step(StepResult::TimedOut), true),
    }
}

fn runtime_failure(e: &RuntimeError) -> String {
    format!("runtime {}: {e}", e.metric_label())
}

/// `kill-init` and `kill-shim`. The `/proc` walk and the kill run on a
/// blocking thread bounded by [`PROC_TIMEOUT`]: a proc read can hang on a
/// process stuck in the kernel, and that must not hang the agent.
async fn kill_step(strategy: Strategy, target: &Target, proc_root: &Path, dry_run: bool) -> Step {
    let job = KillJob {
        strategy,
        proc_root: proc_root.to_path_buf(),
        container_id: target.container.id.clone(),
        runtime: target.container.runtime,
        sandbox_id: target.info.sandbox_id.clone().filter(|s| !s.is_empty()),
        init_hint: target.info.init_pid,
        zombies: target.zombies.clone(),
        dry_run,
    };
    let work = tokio::task::spawn_blocking(move || job.run());
    match tokio::time::timeout(PROC_TIMEOUT, work).await {
        Ok(Ok(step)) => step,
        Ok(Err(join)) => Step {
            strategy,
            result: StepResult::Failed(format!("{strategy} task failed: {join}")),
            pid: None,
        },
        Err(_) => Step {
            strategy,
            result: StepResult::Failed(format!(
                "reading {} did not finish within {PROC_TIMEOUT:?}",
                proc_root.display()
            )),
            pid: None,
        },
    }
}

/// Everything a kill step needs, owned, so it can run on a blocking thread.
struct KillJob {
    strategy: Strategy,
    proc_root: PathBuf,
    container_id: String,
    runtime: RuntimeKind,
    sandbox_id: Option<String>,
    init_hint: Option<i32>,
    zombies: Vec<ZombieKey>,
    dry_run: bool,
}

/// A process found in `/proc`, as it must still look when signalled.
#[derive(Debug, Clone)]
struct Found {
    pid: i32,
    start_time: u64,
    comm: String,
}

impl KillJob {
    fn run(self) -> Step {
        let found = match self.strategy {
            Strategy::KillShim => self.find_shim(),
            _ => find_init(
                &self.proc_root,
                &self.container_id,
                self.init_hint,
                &self.zombies,
            )
            .map(|init| (init, Ownership::CgroupContains(self.container_id.clone()))),
        };
        let (process, ownership) = match found {
            Ok(x) => x,
            Err(reason) => {
                return Step {
                    strategy: self.strategy,
                    result: StepResult::Failed(reason),
                    pid: None,
                }
            }
        };
        let pid = Some(process.pid);
        let step = |result| Step {
            strategy: self.strategy,
            result,
            pid,
        };
        let whole_pod = matches!(&ownership, Ownership::ShimId(sid) if *sid != self.container_id);
        let what = match (self.strategy, whole_pod) {
            (Strategy::KillShim, true) => {
                "SIGKILL the pod's shim: this kills EVERY container of the pod"
            }
            (Strategy::KillShim, false) => "SIGKILL the container's shim",
            _ => "SIGKILL the container's init",
        };
        let expected = Expected {
            pid: process.pid,
            start_time: process.start_time,
            comm: process.comm.clone(),
            check: ownership,
        };
        let comm = sanitize::text(&process.comm);
        if self.dry_run {
            let verdict = match signal::check(&self.proc_root, &expected) {
                Ok(()) => "verified".to_owned(),
                Err(e) => format!("would be refused: {e}"),
            };
            tracing::info!(container_id = %self.container_id, strategy = self.strategy.as_str(),
                would_signal = process.pid, comm = %comm, whole_pod, verdict = %verdict,
                "dry run: would {what}");
            return step(StepResult::Skipped("dry run".into()));
        }
        if whole_pod {
            tracing::warn!(container_id = %self.container_id, strategy = self.strategy.as_str(),
                pid = process.pid, sandbox_id = self.sandbox_id.as_deref().unwrap_or(""),
                "killing the pod's shim: this kills EVERY container of the pod");
        }
        tracing::info!(container_id = %self.container_id, strategy = self.strategy.as_str(),
            pid = process.pid, comm = %comm, "about to {what}");
        match signal::kill_verified(&self.proc_root, &expected, Signal::KILL) {
            Ok(()) => step(StepResult::Ok),
            Err(e) => step(StepResult::Failed(format!(
                "signal refused ({}): {e}",
                e.metric_label()
            ))),
        }
    }

    /// The shim is the nearest ancestor of a confirmed zombie (or, failing
    /// that, of the container's init) whose command line parses as a shim. Its id must be the container id (Docker, CRI-O conmon) or
    /// the pod sandbox id (CRI containerd); any other shim is refused.
    fn find_shim(&self) -> Result<(Found, Ownership), String> {
        // The zombies first: their ancestors lead to the shim without a
        // walk over all of /proc (in a shared-pid pod they were reparented
        // to the pause process, whose parent is the same shim).
        let mut last_reason = format!("no shim found above {}", self.container_id);
        for zombie in &self.zombies {
            let present = stat_of(&self.proc_root, zombie.pid)
                .ok()
                .flatten()
                .is_some_and(|s| s.start_time == zombie.start_time);
            if !present {
                continue;
            }
            match self.shim_above(zombie.pid) {
                Ok(found) => return Ok(found),
                Err(reason) => last_reason = reason,
            }
        }
        let init = find_init(&self.proc_root, &self.container_id, self.init_hint, &[])
            .map_err(|reason| format!("{last_reason}; {reason}"))?;
        self.shim_above(init.pid)
    }

    fn shim_above(&self, start: i32) -> Result<(Found, Ownership), String> {
        let root = &self.proc_root;
        let stat = stat_of(root, start)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("pid {start} is gone"))?;
        let mut pid = stat.ppid;
        for _ in 0..MAX_ANCESTORS {
            if pid <= 1 {
                break;
            }
            let stat = stat_of(root, pid)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("ancestor pid {pid} is gone"))?;
            let cmdline = fs::read(root.join(pid.to_string()).join("cmdline")).unwrap_or_default();
            if let Some(shim) = parse_shim_cmdline(&cmdline) {
                let serves_pod = self.runtime != RuntimeKind::CriO
                    && shim.runtime == RuntimeKind::Containerd
                    && self.sandbox_id.as_deref() == Some(shim.id.as_str());
                if shim.id != self.container_id && !serves_pod {
                    return Err(format!(
                        "shim pid {pid} serves {:?}, neither container {} nor its sandbox {:?}",
                        sanitize::text(&shim.id),
                        self.container_id,
                        self.sandbox_id
                    ));
                }
                return Ok((
                    Found {
                        pid,
                        start_time: stat.start_time,
                        comm: stat.comm,
                    },
                    Ownership::ShimId(shim.id),
                ));
            }
            pid = stat.ppid;
        }
        Err(format!(
            "no shim among the ancestors of pid {start} (container {})",
            self.container_id
        ))
    }
}

/// Finds the container's init: a live process in the container's cgroup
/// whose parent is not in it. In order, cheapest first:
/// 1. the runtime's `init_pid`, only as a hint, verified the same way;
/// 2. the top of the container above a confirmed zombie, when it is pid 1
///    of its own pid namespace (`NSpid` ends in 1): certainly the init;
/// 3. a walk over all of `/proc`: of the top processes (those started by
///    `exec` also have the shim as parent) the oldest is the init.
fn find_init(
    proc_root: &Path,
    container_id: &str,
    hint: Option<i32>,
    zombies: &[ZombieKey],
) -> Result<Found, String> {
    let own = i32::try_from(std::process::id()).unwrap_or(0);
    let is_init = |pid: i32| -> Option<Found> {
        if pid <= 1 || pid == own || !in_container(proc_root, pid, container_id) {
            return None;
        }
        let stat = stat_of(proc_root, pid).ok()??;
        if stat.state == b'Z' || in_container(proc_root, stat.ppid, container_id) {
            return None;
        }
        Some(Found {
            pid,
            start_time: stat.start_time,
            comm: stat.comm,
        })
    };
    if let Some(hint) = hint {
        if let Some(found) = is_init(hint) {
            return Ok(found);
        }
        tracing::warn!(
            container_id,
            hint,
            "the runtime's init pid is not the container's init in /proc, searching /proc"
        );
    }
    for zombie in zombies {
        if let Some(top) = top_above(proc_root, container_id, zombie) {
            if is_namespace_init(proc_root, top) {
                if let Some(found) = is_init(top) {
                    return Ok(found);
                }
            }
        }
    }
    let entries =
        fs::read_dir(proc_root).map_err(|e| format!("cannot read {}: {e}", proc_root.display()))?;
    let mut best: Option<Found> = None;
    let mut candidates = 0usize;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(found) = is_init(pid) {
            candidates += 1;
            let older = best
                .as_ref()
                .is_none_or(|b| (found.start_time, found.pid) < (b.start_time, b.pid));
            if older {
                best = Some(found);
            }
        }
    }
    if candidates > 1 {
        tracing::debug!(
            container_id,
            candidates,
            "several top processes in the container cgroup; taking the oldest"
        );
    }
    best.ok_or_else(|| {
        format!(
            "no live process of container {container_id} found in {}",
            proc_root.display()
        )
    })
}

/// The highest ancestor of a (still present) zombie that is in the
/// container's cgroup, if the zombie's parent is.
fn top_above(proc_root: &Path, container_id: &str, zombie: &ZombieKey) -> Option<i32> {
    let stat = stat_of(proc_root, zombie.pid).ok()??;
    if stat.start_time != zombie.start_time {
        return None;
    }
    let mut top = None;
    let mut pid = stat.ppid;
    for _ in 0..MAX_ANCESTORS {
        if pid <= 1 || !in_container(proc_root, pid, container_id) {
            break;
        }
        top = Some(pid);
        pid = stat_of(proc_root, pid).ok()??.ppid;
    }
    top
}

/// Whether the process is pid 1 of a pid namespace nested in ours.
fn is_namespace_init(proc_root: &Path, pid: i32) -> bool {
    let Ok(status) = fs::read_to_string(proc_root.join(pid.to_string()).join("status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("NSpid:"))
        .is_some_and(|ids| {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            ids.len() > 1 && ids.last() == Some(&"1")
        })
}

fn in_container(proc_root: &Path, pid: i32, container_id: &str) -> bool {
    if pid <= 0 {
        return false;
    }
    fs::read(proc_root.join(pid.to_string()).join("cgroup"))
        .map(|raw| cgroup_names_container(&String::from_utf8_lossy(&raw), container_id))
        .unwrap_or(false)
}

/// A zombie is gone when its pid is missing or carries another start time.
/// An unreadable stat counts as present: gone must be proven.
fn zombie_gone(proc_root: &Path, zombie: &ZombieKey) -> bool {
    match stat_of(proc_root, zombie.pid) {
        Ok(Some(stat)) => stat.start_time != zombie.start_time,
        Ok(None) => true,
        Err(_) => false,
    }
}

fn zombies_gone(proc_root: &Path, zombies: &[ZombieKey]) -> bool {
    zombies.iter().all(|z| zombie_gone(proc_root, z))
}

async fn wait_until_gone(proc_root: &Path, zombies: &[ZombieKey]) -> bool {
    let deadline = tokio::time::Instant::now() + VERIFY_TIMEOUT;
    loop {
        if zombies_gone(proc_root, zombies) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(VERIFY_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "c0ffee";

    /// Writes `<root>/<pid>/{stat,cgroup,status}` for a fixture process.
    fn proc_entry(
        root: &Path,
        pid: i32,
        ppid: i32,
        state: char,
        start: u64,
        in_target: bool,
        nspid_one: bool,
    ) {
        let dir = root.join(pid.to_string());
        fs::create_dir_all(&dir).unwrap();
        let filler = "0 ".repeat(17);
        fs::write(
            dir.join("stat"),
            format!("{pid} (p {pid}) {state} {ppid} {filler}{start} 0 0\n"),
        )
        .unwrap();
        let cgroup = if in_target {
            format!("4:memory:/kubepods/pod1/{ID}\n0::/kubepods/pod1/{ID}\n")
        } else {
            "4:memory:/\n0::/system.slice/containerd.service\n".to_owned()
        };
        fs::write(dir.join("cgroup"), cgroup).unwrap();
        let nspid = if nspid_one {
            format!("NSpid:\t{pid}\t1\n")
        } else {
            format!("NSpid:\t{pid}\n")
        };
        fs::write(dir.join("status"), nspid).unwrap();
    }

    /// shim 100 → init 200 → worker 201 → zombie 202; `exec` 300 under the
    /// shim too; 400 is an unrelated host process.
    fn pod_tree(root: &Path, exec_start: u64, init_nspid_one: bool) {
        proc_entry(root, 100, 1, 'S', 10, false, false);
        proc_entry(root, 200, 100, 'S', 1000, true, init_nspid_one);
        proc_entry(root, 201, 200, 'S', 1100, true, false);
        proc_entry(root, 202, 201, 'Z', 1200, true, false);
        proc_entry(root, 300, 100, 'S', exec_start, true, false);
        proc_entry(root, 400, 1, 'S', 5, false, false);
    }

    const ZOMBIE: ZombieKey = ZombieKey {
        pid: 202,
        start_time: 1200,
    };

    #[test]
    fn init_is_the_oldest_top_process_of_the_cgroup() {
        let root = tempfile::tempdir().unwrap();
        pod_tree(root.path(), 2000, false);
        let init = find_init(root.path(), ID, None, &[ZOMBIE]).unwrap();
        assert_eq!((init.pid, init.start_time), (200, 1000));
        assert_eq!(init.comm, "p 200");
    }

    #[test]
    fn a_namespace_init_above_the_zombies_is_taken_without_a_full_walk() {
        // The exec'd process is (artificially) older: only the fast path
        // through the zombie's ancestors picks the pid-namespace init.
        let root = tempfile::tempdir().unwrap();
        pod_tree(root.path(), 500, true);
        assert_eq!(
            find_init(root.path(), ID, None, &[ZOMBIE]).unwrap().pid,
            200
        );
        assert_eq!(find_init(root.path(), ID, None, &[]).unwrap().pid, 300);
    }

    #[test]
    fn wrong_hints_are_rejected() {
        let root = tempfile::tempdir().unwrap();
        pod_tree(root.path(), 2000, false);
        // Outside the cgroup; inside but under another process; a zombie.
        for hint in [400, 201, 202, 1, -3] {
            assert_eq!(
                find_init(root.path(), ID, Some(hint), &[]).unwrap().pid,
                200,
                "hint {hint}"
            );
        }
        assert_eq!(find_init(root.path(), ID, Some(300), &[]).unwrap().pid, 300);
    }

    #[test]
    fn no_process_of_the_container_means_no_init() {
        let root = tempfile::tempdir().unwrap();
        pod_tree(root.path(), 2000, false);
        assert!(find_init(root.path(), "another", Some(200), &[ZOMBIE]).is_err());
    }

    #[test]
    fn zombies_gone_means_missing_or_another_start_time() {
        let root = tempfile::tempdir().unwrap();
        pod_tree(root.path(), 2000, false);
        assert!(!zombies_gone(root.path(), &[ZOMBIE]));
        let reused = ZombieKey {
            pid: 202,
            start_time: 1,
        };
        let missing = ZombieKey {
            pid: 999,
            start_time: 1200,
        };
        assert!(zombies_gone(root.path(), &[reused, missing]));
        assert!(!zombies_gone(root.path(), &[reused, ZOMBIE]));
    }

    #[test]
    fn strategies_parse_and_print() {
        for s in DEFAULT_CHAIN {
            assert_eq!(s.as_str().parse::<Strategy>(), Ok(s));
        }
        assert_eq!(" kill-init ".parse::<Strategy>(), Ok(Strategy::KillInit));
        assert!("kill".parse::<Strategy>().is_err());
        assert!("Restart".parse::<Strategy>().is_err());
    }
}
