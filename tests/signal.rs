//! `signal::kill_verified` against real processes this test starts: a
//! `sleep` moved into a cgroup v2 group the test creates (standing in for a
//! container's cgroup) and a fake shim (a process whose comm and command
//! line are those of `containerd-shim-runc-v2 ... -id <id>`). Every refusal
//! leaves its process alive. Needs root and a writable cgroup v2 hierarchy;
//! without them the cgroup tests fail and say so.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::process::Signal;
use zombie_cleaner::signal::{kill_verified, Expected, Ownership, SignalError};

const PROC: &str = "/proc";

/// A 64-hex id unique to this test run, like a container id.
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
        0x5a5a_u64
    )
}

struct Stat {
    comm: String,
    state: u8,
    start_time: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let raw = fs::read(format!("/proc/{pid}/stat")).ok()?;
    let open = raw.iter().position(|&b| b == b'(')?;
    let close = raw.iter().rposition(|&b| b == b')')?;
    let comm = String::from_utf8_lossy(&raw[open + 1..close]).into_owned();
    let rest = String::from_utf8_lossy(&raw[close + 1..]).into_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        comm,
        state: *fields.first()?.as_bytes().first()?,
        start_time: fields.get(22 - 3)?.parse().ok()?,
    })
}

/// A child this test started; killed (by its own pid, still unreaped, so
/// it cannot have been reused) and reaped on drop.
struct Proc {
    child: Child,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn start_time(&self) -> u64 {
        stat(self.pid())
            .unwrap_or_else(|| panic!("no stat for our child {}", self.pid()))
            .start_time
    }

    /// Alive: not exited, not reaped, not a zombie.
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
            && stat(self.pid()).is_some_and(|s| s.state != b'Z')
    }

    /// Waits for the child to end and returns the signal that ended it.
    fn wait_signal(&mut self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.child.wait().ok()?.signal()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_sleep() -> Proc {
    let child = Command::new("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sleep: {e}"));
    Proc { child }
}

/// A temp dir holding `containerd-shim-runc-v2`, a symlink to `/bin/dash`
/// (exec through the link gives comm `containerd-shim`; a symlink rather
/// than a copy avoids ETXTBSY when another test thread forks while the copy
/// is still open for writing), and the script it runs: block reading stdin,
/// so the fake shim also ends when the test process goes away.
struct ShimDir {
    dir: tempfile::TempDir,
}

impl ShimDir {
    fn new() -> ShimDir {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        assert!(
            Path::new("/bin/dash").exists(),
            "prerequisite missing: /bin/dash (the fake shim runs it)"
        );
        std::os::unix::fs::symlink("/bin/dash", dir.path().join("containerd-shim-runc-v2"))
            .unwrap_or_else(|e| panic!("symlink: {e}"));
        fs::write(dir.path().join("shim.sh"), "read x\n").unwrap_or_else(|e| panic!("{e}"));
        ShimDir { dir }
    }

    /// Runs `containerd-shim-runc-v2 shim.sh -namespace test -id <id> 1000`.
    fn spawn(&self, id: &str) -> Proc {
        let child = Command::new(self.dir.path().join("containerd-shim-runc-v2"))
            .arg(self.dir.path().join("shim.sh"))
            .args(["-namespace", "test", "-id", id, "1000"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the fake shim: {e}"));
        let mut proc = Proc { child };
        let deadline = Instant::now() + Duration::from_secs(5);
        // The comm changes before the new command line is in place: wait
        // for both, or the shim would be caught half-way through exec.
        let ready = |pid: u32| {
            stat(pid).is_some_and(|s| s.comm == "containerd-shim")
                && fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.windows(4).any(|w| w == b"\0-id"))
        };
        while !ready(proc.pid()) {
            assert!(Instant::now() < deadline, "fake shim did not start");
            assert!(proc.alive(), "fake shim exited");
            std::thread::sleep(Duration::from_millis(5));
        }
        proc
    }
}

/// A cgroup v2 group created for one test, standing in for a container's
/// cgroup; removed on drop (after its processes are gone).
struct TestCgroup {
    path: PathBuf,
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

impl TestCgroup {
    fn new(container_id: &str) -> TestCgroup {
        let path = cgroup2_mount().join(format!("zc-test-{container_id}"));
        fs::create_dir(&path).unwrap_or_else(|e| {
            panic!(
                "prerequisite missing: cannot create cgroup {} ({e}); run the tests as root",
                path.display()
            )
        });
        TestCgroup { path }
    }

    fn add(&self, pid: u32) {
        let procs = self.path.join("cgroup.procs");
        fs::write(&procs, pid.to_string())
            .unwrap_or_else(|e| panic!("cannot move {pid} into {}: {e}", procs.display()));
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(3);
        while let Err(e) = fs::remove_dir(&self.path) {
            if e.kind() == ErrorKind::NotFound || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn expect(proc: &Proc, comm: &str, check: Ownership) -> Expected {
    Expected {
        pid: proc.pid() as i32,
        start_time: proc.start_time(),
        comm: comm.to_owned(),
        check,
    }
}

fn refused(expected: &Expected) -> SignalError {
    match kill_verified(Path::new(PROC), expected, Signal::KILL) {
        Ok(()) => panic!("{expected:?} was signalled but must have been refused"),
        Err(e) => e,
    }
}

#[test]
fn kills_a_process_in_the_container_cgroup() {
    let id = unique_id();
    let mut proc = spawn_sleep();
    let cgroup = TestCgroup::new(&id);
    cgroup.add(proc.pid());
    let expected = expect(&proc, "sleep", Ownership::CgroupContains(id));
    kill_verified(Path::new(PROC), &expected, Signal::KILL)
        .unwrap_or_else(|e| panic!("refused a matching process: {e}"));
    assert_eq!(proc.wait_signal(), Some(9));
    drop(proc);
    drop(cgroup);
}

#[test]
fn kills_a_shim_serving_the_expected_id() {
    let id = unique_id();
    let shims = ShimDir::new();
    let mut shim = shims.spawn(&id);
    // The caller may name the shim by its full program name.
    let expected = expect(&shim, "containerd-shim-runc-v2", Ownership::ShimId(id));
    kill_verified(Path::new(PROC), &expected, Signal::KILL)
        .unwrap_or_else(|e| panic!("refused a matching shim: {e}"));
    assert_eq!(shim.wait_signal(), Some(9));
}

#[test]
fn refuses_a_live_pid_with_another_start_time() {
    // Simulated pid reuse: the pid is live, but it is not the process that
    // was recorded.
    let id = unique_id();
    let mut proc = spawn_sleep();
    let cgroup = TestCgroup::new(&id);
    cgroup.add(proc.pid());
    let mut expected = expect(&proc, "sleep", Ownership::CgroupContains(id));
    expected.start_time += 1;
    let err = refused(&expected);
    assert!(
        matches!(err, SignalError::StartTime { .. }),
        "unexpected refusal: {err}"
    );
    assert_eq!(err.metric_label(), "start_time");
    assert!(proc.alive(), "refused process must still be alive");
    drop(proc);
    drop(cgroup);
}

#[test]
fn refuses_the_pid_of_a_reaped_child() {
    let mut proc = spawn_sleep();
    let expected = expect(&proc, "sleep", Ownership::ShimId(unique_id()));
    let _ = proc.child.kill();
    let _ = proc.child.wait();
    // The pid is free now (or already reused by someone else's process):
    // either way nothing may be signalled.
    let err = refused(&expected);
    assert!(
        matches!(
            err,
            SignalError::Gone { .. } | SignalError::StartTime { .. }
        ),
        "unexpected refusal: {err}"
    );
}

#[test]
fn refuses_a_wrong_comm() {
    let id = unique_id();
    let mut proc = spawn_sleep();
    let cgroup = TestCgroup::new(&id);
    cgroup.add(proc.pid());
    let expected = expect(&proc, "bash", Ownership::CgroupContains(id));
    let err = refused(&expected);
    assert!(
        matches!(err, SignalError::Comm { .. }),
        "unexpected refusal: {err}"
    );
    assert!(proc.alive(), "refused process must still be alive");
    drop(proc);
    drop(cgroup);
}

#[test]
fn refuses_a_process_outside_the_container_cgroup() {
    let id = unique_id();
    let other = unique_id();
    let mut proc = spawn_sleep();
    let cgroup = TestCgroup::new(&other);
    cgroup.add(proc.pid());
    let expected = expect(&proc, "sleep", Ownership::CgroupContains(id));
    let err = refused(&expected);
    assert!(
        matches!(err, SignalError::Cgroup { .. }),
        "unexpected refusal: {err}"
    );
    assert!(proc.alive(), "refused process must still be alive");
    drop(proc);
    drop(cgroup);
}

#[test]
fn refuses_a_shim_serving_another_id() {
    let shims = ShimDir::new();
    let mut shim = shims.spawn(&unique_id());
    let expected = expect(&shim, "containerd-shim", Ownership::ShimId(unique_id()));
    let err = refused(&expected);
    assert!(
        matches!(err, SignalError::ShimId { .. }),
        "unexpected refusal: {err}"
    );
    assert!(shim.alive(), "refused shim must still be alive");
}

#[test]
fn refuses_a_process_that_is_not_a_shim() {
    let mut proc = spawn_sleep();
    let expected = expect(&proc, "sleep", Ownership::ShimId(unique_id()));
    let err = refused(&expected);
    assert!(
        matches!(err, SignalError::NotAShim { .. }),
        "unexpected refusal: {err}"
    );
    assert!(proc.alive(), "refused process must still be alive");
}

#[test]
fn refuses_pid_one_and_itself() {
    for pid in [1, std::process::id() as i32] {
        let expected = Expected {
            pid,
            start_time: stat(pid as u32).map_or(0, |s| s.start_time),
            comm: stat(pid as u32).map_or_else(String::new, |s| s.comm),
            check: Ownership::CgroupContains("x".into()),
        };
        let err = refused(&expected);
        assert!(
            matches!(err, SignalError::ForbiddenPid { .. }),
            "unexpected refusal for {pid}: {err}"
        );
    }
}
