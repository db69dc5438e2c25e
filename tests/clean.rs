//! The cleanup chain against real processes and a fake runtime.
//!
//! Each test builds its own fake pod, a real process tree shaped like a
//! containerd one:
//!
//! ```text
//! containerd-shim-runc-v2 shim.sh -namespace test -id <id> 1000   (test's child, test's cgroup)
//!  └─ sleep 1000          the "init", moved into a cgroup v2 group named after the container id
//!      ├─ [sleep] Z       zombies it never reaps (FIFO recipe from the runtime lab)
//!      └─ [sleep] Z
//! ```
//!
//! The fake shim is `/bin/dash` run through a symlink named
//! `containerd-shim-runc-v2` (GNU `sleep` rejects `-namespace`, so a copy of
//! it cannot carry a shim's command line); its comm is `containerd-shim` and
//! its command line parses as a shim. It blocks reading stdin, so it ends
//! when the test process does. The init runs under `setpriv --pdeathsig
//! KILL`, so killing the fake shim takes its "container" down, as killing a
//! real shim does. Orphaned zombies are reaped by the host's PID 1.
//!
//! Only the runtime is fake (it records calls; it can hang, fail, or stop
//! the container by killing its init). Needs root, a writable cgroup v2
//! hierarchy, `/bin/dash` and `setpriv` (util-linux); a missing one fails
//! the test naming it.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::process::Signal;
use zombie_cleaner::attribute::{ContainerRef, RuntimeKind};
use zombie_cleaner::clean::{clean, Outcome, Step, StepResult, Strategy, Target, DEFAULT_CHAIN};
use zombie_cleaner::confirm::ZombieKey;
use zombie_cleaner::runtime::{ContainerInfo, Runtime, RuntimeError};
use zombie_cleaner::signal::{kill_verified, Expected, Ownership};

const PROC: &str = "/proc";
const ZOMBIES: usize = 2;

fn unique_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        std::process::id(),
        nanos,
        n,
        0xc1ea_u64
    )
}

#[derive(Debug, Clone)]
struct Stat {
    pid: i32,
    comm: String,
    state: u8,
    ppid: i32,
    start_time: u64,
}

fn stat(pid: i32) -> Option<Stat> {
    let raw = fs::read(format!("/proc/{pid}/stat")).ok()?;
    let open = raw.iter().position(|&b| b == b'(')?;
    let close = raw.iter().rposition(|&b| b == b')')?;
    let comm = String::from_utf8_lossy(&raw[open + 1..close]).into_owned();
    let rest = String::from_utf8_lossy(&raw[close + 1..]).into_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        pid,
        comm,
        state: *fields.first()?.as_bytes().first()?,
        ppid: fields.get(1)?.parse().ok()?,
        start_time: fields.get(22 - 3)?.parse().ok()?,
    })
}

fn children(ppid: i32) -> Vec<Stat> {
    // The kernel's list of a thread's children is cheap; the walk over all
    // of /proc is the fallback for kernels without CONFIG_PROC_CHILDREN.
    if let Ok(list) = fs::read_to_string(format!("/proc/{ppid}/task/{ppid}/children")) {
        return list
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .filter_map(stat)
            .filter(|s| s.ppid == ppid)
            .collect();
    }
    let Ok(dir) = fs::read_dir(PROC) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .filter(|s| s.ppid == ppid)
        .collect()
}

/// Alive: present and not a zombie, with the start time we recorded.
fn alive(pid: i32, start_time: u64) -> bool {
    stat(pid).is_some_and(|s| s.start_time == start_time && s.state != b'Z')
}

fn present(z: &ZombieKey) -> bool {
    stat(z.pid).is_some_and(|s| s.start_time == z.start_time)
}

fn cgroup2_mount() -> PathBuf {
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .find_map(|line| {
            let mut f = line.split_whitespace();
            let (_, dir, fstype) = (f.next()?, f.next()?, f.next()?);
            (fstype == "cgroup2").then(|| PathBuf::from(dir))
        })
        .unwrap_or_else(|| panic!("prerequisite missing: a mounted cgroup v2 hierarchy"))
}

const SHIM_SH: &str = r#"setpriv --pdeathsig KILL sh "$ZC_INIT" "$ZC_CGROUP" "$ZC_FIFO" "$ZC_ZOMBIES" &
read x
"#;

// Children block opening the FIFO for writing; the init's last command
// opens it, so they exit only once the init is a `sleep` that never reaps.
const INIT_SH: &str = r#"echo $$ > "$1/cgroup.procs" || exit 1
mkfifo "$2" || exit 1
i=0
while [ "$i" -lt "$3" ]; do (exec 5>"$2"; exec sleep 0) & i=$((i+1)); done
exec sleep 1000 3<>"$2" <"$2"
"#;

/// One fake pod: shim → init (in its own cgroup) → zombies.
struct FakePod {
    container_id: String,
    shim_id: String,
    init: Stat,
    zombies: Vec<ZombieKey>,
    shim: Child,
    shim_stat: Stat,
    cgroup: PathBuf,
    _dir: tempfile::TempDir,
}

impl FakePod {
    /// A pod whose container is `container_id`, served by a shim whose
    /// `-id` is `shim_id`.
    fn start(container_id: &str, shim_id: &str) -> FakePod {
        for tool in ["/bin/dash", "/usr/bin/setpriv"] {
            assert!(
                Path::new(tool).exists(),
                "prerequisite missing: {tool} (needed to build the fake pod)"
            );
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let shim_bin = dir.path().join("containerd-shim-runc-v2");
        std::os::unix::fs::symlink("/bin/dash", &shim_bin).unwrap_or_else(|e| panic!("{e}"));
        fs::write(dir.path().join("shim.sh"), SHIM_SH).unwrap_or_else(|e| panic!("{e}"));
        fs::write(dir.path().join("init.sh"), INIT_SH).unwrap_or_else(|e| panic!("{e}"));
        let cgroup = cgroup2_mount().join(format!("zc-test-{container_id}"));
        fs::create_dir(&cgroup).unwrap_or_else(|e| {
            panic!(
                "prerequisite missing: cannot create cgroup {} ({e}); run the tests as root",
                cgroup.display()
            )
        });
        let shim = Command::new(&shim_bin)
            .arg(dir.path().join("shim.sh"))
            .args(["-namespace", "test", "-id", shim_id, "1000"])
            .env("ZC_INIT", dir.path().join("init.sh"))
            .env("ZC_CGROUP", &cgroup)
            .env("ZC_FIFO", dir.path().join("fifo"))
            .env("ZC_ZOMBIES", ZOMBIES.to_string())
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the fake shim: {e}"));
        let shim_pid = shim.id() as i32;
        let mut pod = FakePod {
            container_id: container_id.to_owned(),
            shim_id: shim_id.to_owned(),
            init: Stat {
                pid: 0,
                comm: String::new(),
                state: 0,
                ppid: 0,
                start_time: 0,
            },
            zombies: Vec::new(),
            shim,
            shim_stat: Stat {
                pid: shim_pid,
                comm: String::new(),
                state: 0,
                ppid: 0,
                start_time: 0,
            },
            cgroup,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                Instant::now() < deadline,
                "fake pod did not come up (shim {shim_pid}: {:?})",
                children(shim_pid)
            );
            assert!(
                matches!(pod.shim.try_wait(), Ok(None)),
                "fake shim exited early"
            );
            let init = children(shim_pid)
                .into_iter()
                .find(|s| s.comm == "sleep" && s.state != b'Z');
            if let Some(init) = init {
                let zombies: Vec<ZombieKey> = children(init.pid)
                    .into_iter()
                    .filter(|s| s.state == b'Z')
                    .map(|s| ZombieKey {
                        pid: s.pid,
                        start_time: s.start_time,
                    })
                    .collect();
                if zombies.len() == ZOMBIES {
                    pod.init = init;
                    pod.zombies = zombies;
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        pod.shim_stat = stat(shim_pid).unwrap_or_else(|| panic!("no stat for the fake shim"));
        assert_eq!(pod.shim_stat.comm, "containerd-shim");
        pod
    }

    fn target(&self, info: ContainerInfo) -> Target {
        Target {
            container: ContainerRef {
                runtime: RuntimeKind::Containerd,
                id: self.container_id.clone(),
                pod_uid: None,
                namespace: Some("k8s.io".into()),
            },
            info: ContainerInfo {
                id: self.container_id.clone(),
                ..info
            },
            zombies: self.zombies.clone(),
        }
    }

    fn init_alive(&self) -> bool {
        alive(self.init.pid, self.init.start_time)
    }

    fn shim_alive(&mut self) -> bool {
        matches!(self.shim.try_wait(), Ok(None))
            && alive(self.shim_stat.pid, self.shim_stat.start_time)
    }

    fn init_expected(&self) -> Expected {
        Expected {
            pid: self.init.pid,
            start_time: self.init.start_time,
            comm: self.init.comm.clone(),
            check: Ownership::CgroupContains(self.container_id.clone()),
        }
    }
}

impl Drop for FakePod {
    fn drop(&mut self) {
        // Only our own processes, by pid, verified: the init (if still
        // there) through the same pidfd path, then the shim, our child.
        let _ = kill_verified(Path::new(PROC), &self.init_expected(), Signal::KILL);
        let _ = self.shim.kill();
        let _ = self.shim.wait();
        let deadline = Instant::now() + Duration::from_secs(3);
        while let Err(e) = fs::remove_dir(&self.cgroup) {
            if e.kind() == ErrorKind::NotFound || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// How the fake runtime answers `restart`.
enum Mode {
    /// Never answers.
    Hang,
    /// Answers with an error at once.
    Fail,
    /// Stops the container like a runtime would: kills its init.
    Stop(Expected),
}

struct FakeRuntime {
    mode: Mode,
    calls: Mutex<Vec<(String, Duration)>>,
}

impl FakeRuntime {
    fn new(mode: Mode) -> FakeRuntime {
        FakeRuntime {
            mode,
            calls: Mutex::new(Vec::new()),
        }
    }

    fn calls(&self) -> Vec<(String, Duration)> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Runtime for FakeRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Containerd
    }

    fn endpoint(&self) -> &str {
        "fake://runtime"
    }

    async fn inspect(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        Err(RuntimeError::NotFound {
            endpoint: self.endpoint().into(),
            id: id.into(),
        })
    }

    async fn restart(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((id.to_owned(), grace));
        }
        match &self.mode {
            Mode::Hang => std::future::pending().await,
            Mode::Fail => Err(RuntimeError::Call {
                endpoint: self.endpoint().into(),
                operation: "restart",
                message: "injected failure".into(),
            }),
            Mode::Stop(init) => {
                kill_verified(Path::new(PROC), init, Signal::KILL).map_err(|e| RuntimeError::Call {
                    endpoint: self.endpoint().into(),
                    operation: "restart",
                    message: e.to_string(),
                })
            }
        }
    }
}

fn results(steps: &[Step]) -> Vec<(Strategy, &'static str)> {
    steps
        .iter()
        .map(|s| (s.strategy, s.result.as_str()))
        .collect()
}

const TIMEOUT: Duration = Duration::from_millis(300);

/// Log lines of the whole test binary, as JSON, captured by a global
/// subscriber (the kill steps log from a blocking thread, so a
/// thread-local subscriber would miss them).
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buf) = self.0.lock() {
            buf.extend_from_slice(data);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured log lines about one container.
fn log_lines(container_id: &str) -> Vec<serde_json::Value> {
    let raw = captured().lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["container_id"] == container_id)
        .collect()
}

#[tokio::test]
async fn hanging_runtime_times_out_then_kill_init_clears_the_zombies() {
    let mut pod = FakePod::start(&unique_id(), &unique_id());
    let runtime = FakeRuntime::new(Mode::Hang);
    let target = pod.target(ContainerInfo::default());
    let report = clean(
        &target,
        &DEFAULT_CHAIN,
        Some(&runtime),
        Path::new(PROC),
        TIMEOUT,
        false,
    )
    .await;

    assert_eq!(
        results(&report.steps),
        vec![(Strategy::Restart, "timed_out"), (Strategy::KillInit, "ok")],
        "{report:?}"
    );
    assert!(report.runtime_timed_out);
    assert_eq!(report.outcome, Outcome::Cleaned(Strategy::KillInit));
    assert_eq!(report.steps[1].pid, Some(pod.init.pid));
    let calls = runtime.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, pod.container_id);
    assert!(
        calls[0].1 <= TIMEOUT,
        "grace {:?} above the bound",
        calls[0].1
    );
    assert!(!pod.zombies.iter().any(present), "zombies still present");
    assert!(!pod.init_alive());
    assert!(
        pod.shim_alive(),
        "kill-init must leave the shim (and the pod's other containers) alone"
    );
}

#[tokio::test]
async fn failing_runtime_escalates_to_kill_shim() {
    // Docker/moby and conmon: one shim per container, `-id` is the container id.
    let id = unique_id();
    let mut pod = FakePod::start(&id, &id);
    let runtime = FakeRuntime::new(Mode::Fail);
    let target = pod.target(ContainerInfo::default());
    let chain = [Strategy::Restart, Strategy::KillShim];
    let report = clean(
        &target,
        &chain,
        Some(&runtime),
        Path::new(PROC),
        TIMEOUT,
        false,
    )
    .await;

    assert_eq!(
        results(&report.steps),
        vec![(Strategy::Restart, "failed"), (Strategy::KillShim, "ok")],
        "{report:?}"
    );
    assert!(!report.runtime_timed_out);
    assert_eq!(report.outcome, Outcome::Cleaned(Strategy::KillShim));
    assert_eq!(report.steps[1].pid, Some(pod.shim_stat.pid));
    assert!(!pod.zombies.iter().any(present), "zombies still present");
    use std::os::unix::process::ExitStatusExt;
    let status = pod.shim.wait().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        status.signal(),
        Some(9),
        "the shim must have been SIGKILLed"
    );
}

#[tokio::test]
async fn kill_shim_of_a_cri_pod_matches_the_sandbox_id() {
    // CRI containerd: one shim per pod, `-id` is the sandbox id.
    let sandbox = unique_id();
    let pod = FakePod::start(&unique_id(), &sandbox);
    let target = pod.target(ContainerInfo {
        sandbox_id: Some(sandbox),
        ..ContainerInfo::default()
    });
    let report = clean(
        &target,
        &[Strategy::KillShim],
        None,
        Path::new(PROC),
        TIMEOUT,
        false,
    )
    .await;
    assert_eq!(
        report.outcome,
        Outcome::Cleaned(Strategy::KillShim),
        "{report:?}"
    );
    assert_eq!(report.steps[0].pid, Some(pod.shim_stat.pid));
    assert!(!pod.zombies.iter().any(present), "zombies still present");
}

#[tokio::test]
async fn a_restart_that_clears_the_zombies_stops_the_chain() {
    let mut pod = FakePod::start(&unique_id(), &unique_id());
    let runtime = FakeRuntime::new(Mode::Stop(pod.init_expected()));
    let target = pod.target(ContainerInfo {
        init_pid: Some(pod.init.pid),
        ..ContainerInfo::default()
    });
    let report = clean(
        &target,
        &DEFAULT_CHAIN,
        Some(&runtime),
        Path::new(PROC),
        TIMEOUT,
        false,
    )
    .await;
    assert_eq!(
        results(&report.steps),
        vec![(Strategy::Restart, "ok")],
        "{report:?}"
    );
    assert_eq!(report.outcome, Outcome::Cleaned(Strategy::Restart));
    assert_eq!(runtime.calls().len(), 1);
    assert!(!pod.zombies.iter().any(present));
    assert!(pod.shim_alive(), "no escalation after a successful restart");
}

#[tokio::test]
async fn dry_run_touches_nothing() {
    captured();
    let mut pod = FakePod::start(&unique_id(), &unique_id());
    let runtime = FakeRuntime::new(Mode::Stop(pod.init_expected()));
    // A wrong hint (the shim is not in the container's cgroup) must be
    // rejected in favour of the init found in /proc.
    let shim_pid = pod.shim_stat.pid;
    let target = pod.target(ContainerInfo {
        init_pid: Some(shim_pid),
        sandbox_id: Some(pod.shim_id.clone()),
        ..ContainerInfo::default()
    });
    let report = clean(
        &target,
        &DEFAULT_CHAIN,
        Some(&runtime),
        Path::new(PROC),
        TIMEOUT,
        true,
    )
    .await;

    assert_eq!(report.outcome, Outcome::DryRun, "{report:?}");
    assert!(report
        .steps
        .iter()
        .all(|s| matches!(s.result, StepResult::Skipped(_))));
    assert_eq!(report.steps.len(), 3);
    assert_eq!(
        report.steps[1].pid,
        Some(pod.init.pid),
        "would kill the init"
    );
    assert_eq!(report.steps[2].pid, Some(shim_pid), "would kill the shim");
    assert!(runtime.calls().is_empty(), "dry run called the runtime");
    assert!(pod.init_alive());
    assert!(pod.shim_alive());
    assert!(pod.zombies.iter().all(present), "dry run removed zombies");

    // Each step logged what it would do, with the fields operators filter on.
    let lines = log_lines(&pod.container_id);
    let would = |strategy: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["strategy"] == strategy)
            .unwrap_or_else(|| panic!("no dry-run log line for {strategy}: {lines:?}"))
            .clone()
    };
    assert!(would("restart")["fields"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("would restart")));
    assert_eq!(would("kill-init")["fields"]["would_signal"], pod.init.pid);
    let shim_line = would("kill-shim");
    assert_eq!(shim_line["fields"]["would_signal"], shim_pid);
    assert_eq!(shim_line["fields"]["whole_pod"], true);
    assert_eq!(shim_line["fields"]["verdict"], "verified");
}

#[tokio::test]
async fn processes_outside_the_target_are_never_signalled() {
    // The pod's processes are real and have zombies, but they belong to
    // another container: the target's id names no cgroup, the runtime's
    // init hint points at the other container's init, and the shim above
    // the zombies serves another id.
    let mut pod = FakePod::start(&unique_id(), &unique_id());
    let target = Target {
        container: ContainerRef {
            runtime: RuntimeKind::Containerd,
            id: unique_id(),
            pod_uid: None,
            namespace: Some("k8s.io".into()),
        },
        info: ContainerInfo {
            init_pid: Some(pod.init.pid),
            sandbox_id: Some(unique_id()),
            ..ContainerInfo::default()
        },
        zombies: pod.zombies.clone(),
    };
    let report = clean(
        &target,
        &[Strategy::KillInit, Strategy::KillShim],
        None,
        Path::new(PROC),
        TIMEOUT,
        false,
    )
    .await;
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    assert_eq!(
        results(&report.steps),
        vec![
            (Strategy::KillInit, "failed"),
            (Strategy::KillShim, "failed")
        ]
    );
    assert!(report.steps.iter().all(|s| s.pid.is_none()));
    assert!(pod.init_alive(), "init of another container was hit");
    assert!(pod.shim_alive(), "shim of another pod was hit");
    assert!(pod.zombies.iter().all(present));
}

#[tokio::test]
async fn a_shim_serving_another_id_is_never_signalled() {
    // Right container (the init is in its cgroup), but the shim above it
    // serves neither the container nor a known sandbox.
    let mut pod = FakePod::start(&unique_id(), &unique_id());
    let target = pod.target(ContainerInfo::default());
    let report = clean(
        &target,
        &[Strategy::KillShim],
        None,
        Path::new(PROC),
        TIMEOUT,
        false,
    )
    .await;
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    match &report.steps[0].result {
        StepResult::Failed(reason) => assert!(reason.contains("serves"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(pod.shim_alive());
    assert!(pod.init_alive());
}

#[tokio::test]
async fn zombies_already_gone_means_nothing_is_done() {
    let mut child = Command::new("true")
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = child.id() as i32;
    let _ = child.wait();
    let runtime = FakeRuntime::new(Mode::Fail);
    let target = Target {
        container: ContainerRef {
            runtime: RuntimeKind::Docker,
            id: unique_id(),
            pod_uid: None,
            namespace: None,
        },
        info: ContainerInfo::default(),
        // Reaped already; a reused pid would carry another start time.
        zombies: vec![ZombieKey {
            pid,
            start_time: u64::MAX,
        }],
    };
    let report = clean(
        &target,
        &DEFAULT_CHAIN,
        Some(&runtime),
        Path::new(PROC),
        TIMEOUT,
        false,
    )
    .await;
    assert_eq!(report.outcome, Outcome::AlreadyGone);
    assert!(report.steps.is_empty());
    assert!(runtime.calls().is_empty());
}

#[tokio::test]
async fn kill_init_never_kills_a_pod_sandbox() {
    let pod = FakePod::start(&unique_id(), &unique_id());
    let runtime = FakeRuntime::new(Mode::Fail);
    // The zombies' cgroup named the sandbox itself (reparented to pause).
    let sandbox = pod.container_id.clone();
    let target = pod.target(ContainerInfo {
        sandbox_id: Some(sandbox),
        ..ContainerInfo::default()
    });
    let report = clean(
        &target,
        &[Strategy::KillInit],
        Some(&runtime),
        Path::new(PROC),
        TIMEOUT,
        false,
    )
    .await;
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    assert!(
        matches!(&report.steps[0].result, StepResult::Skipped(why) if why.contains("sandbox")),
        "{report:?}"
    );
    assert!(pod.init_alive(), "the sandbox's init was killed");
    assert!(pod.zombies.iter().all(present));
}
