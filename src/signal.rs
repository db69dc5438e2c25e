//! Signal: the only place in the crate that sends a signal to a process.
//! Every signal is sent through a pidfd that is opened FIRST, then the
//! process behind the pid is verified from `/proc` (start time, comm, and
//! ownership: its cgroup names the target container, or its command line is
//! the shim serving the target), and only then is the signal sent through
//! that pidfd.
//!
//! Why this order is safe against pid reuse: the pidfd pins the process
//! that had the pid when it was opened. If that process is still there when
//! `pidfd_send_signal` succeeds, it held the pid during the whole check, so
//! the `/proc` files we read were its own. If it died (was reaped) at any
//! point, the send fails with `ESRCH` and nothing is signalled, even if the
//! pid now belongs to another process.
//!
//! The proc root must be the procfs of the agent's own pid namespace
//! (`hostPID: true`): pidfds are opened by pid in that namespace. This is
//! checked (`<proc_root>/self` must name our own pid) before anything else.
//! Pid 1, the agent itself and the agent's own ancestors (its shim, the
//! runtime) are refused outright.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};

use crate::attribute::parse_shim_cmdline;

/// The kernel keeps at most 15 bytes of a command name (`TASK_COMM_LEN - 1`).
const COMM_MAX: usize = 15;

/// How to prove a process belongs to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// One of the process's cgroup lines (the v2 `0::` line or a v1 line)
    /// has a path component naming this container id (`<id>`,
    /// `cri-containerd-<id>.scope`, `docker-<id>.scope`, `crio-<id>`, ...).
    CgroupContains(String),
    /// The process's command line parses as a runtime shim
    /// ([`parse_shim_cmdline`]) serving exactly this id.
    ShimId(String),
}

/// What a process must look like to be signalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub pid: i32,
    /// Field 22 of `/proc/PID/stat`, as recorded when the process was found.
    pub start_time: u64,
    /// The expected command name; compared on the kernel's 15-byte
    /// truncation, so `containerd-shim-runc-v2` matches `containerd-shim`.
    pub comm: String,
    pub check: Ownership,
}

/// Why a signal was refused or failed. One variant per check.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("refusing to signal pid {pid}: pid 1, the agent itself or not a valid pid")]
    ForbiddenPid { pid: i32 },
    #[error(
        "refusing to signal pid {pid}: it is an ancestor of the agent (its own shim or runtime)"
    )]
    AgentAncestor { pid: i32 },
    #[error("proc root {path} is not the agent's pid namespace (self is {found:?}, we are {own})")]
    ForeignProcRoot {
        path: PathBuf,
        found: Option<String>,
        own: u32,
    },
    #[error("pid {pid} no longer exists")]
    Gone { pid: i32 },
    #[error("pidfd_open({pid}) failed: {source}")]
    PidfdOpen {
        pid: i32,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot parse {path}")]
    ParseStat { path: PathBuf },
    #[error("pid {pid} started at {found}, expected {expected}: it is another process")]
    StartTime { pid: i32, expected: u64, found: u64 },
    #[error("pid {pid} is {found:?}, expected {expected:?}")]
    Comm {
        pid: i32,
        expected: String,
        found: String,
    },
    #[error("pid {pid} is not in a cgroup of container {container_id}")]
    Cgroup { pid: i32, container_id: String },
    #[error("pid {pid} is not a runtime shim")]
    NotAShim { pid: i32 },
    #[error("pid {pid} is the shim of {found}, expected {expected}")]
    ShimId {
        pid: i32,
        expected: String,
        found: String,
    },
    #[error("pidfd_send_signal({pid}) failed: {source}")]
    Send {
        pid: i32,
        #[source]
        source: io::Error,
    },
}

impl SignalError {
    /// Closed-set label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            SignalError::ForbiddenPid { .. } => "forbidden_pid",
            SignalError::AgentAncestor { .. } => "agent_ancestor",
            SignalError::ForeignProcRoot { .. } => "foreign_proc_root",
            SignalError::Gone { .. } => "gone",
            SignalError::PidfdOpen { .. } => "pidfd_open",
            SignalError::Read { .. } => "read",
            SignalError::ParseStat { .. } => "parse_stat",
            SignalError::StartTime { .. } => "start_time",
            SignalError::Comm { .. } => "comm",
            SignalError::Cgroup { .. } => "cgroup",
            SignalError::NotAShim { .. } => "not_a_shim",
            SignalError::ShimId { .. } => "shim_id",
            SignalError::Send { .. } => "send",
        }
    }

    /// True when the process simply was not there any more (nothing was
    /// signalled and nothing needs to be).
    pub fn is_gone(&self) -> bool {
        matches!(self, SignalError::Gone { .. })
    }
}

/// Opens a pidfd for `expected.pid`, verifies the process, and sends
/// `signal` through the pidfd. Any failed check refuses with its own error
/// and sends nothing.
pub fn kill_verified(
    proc_root: &Path,
    expected: &Expected,
    signal: Signal,
) -> Result<(), SignalError> {
    let pidfd = open_verified(proc_root, expected)?;
    pidfd_send_signal(&pidfd, signal).map_err(|e| {
        if e == rustix::io::Errno::SRCH {
            SignalError::Gone { pid: expected.pid }
        } else {
            SignalError::Send {
                pid: expected.pid,
                source: e.into(),
            }
        }
    })
}

/// Runs every check of [`kill_verified`] without sending anything (for dry
/// runs: says whether the real run would be allowed to signal).
pub fn check(proc_root: &Path, expected: &Expected) -> Result<(), SignalError> {
    open_verified(proc_root, expected).map(drop)
}

fn open_verified(
    proc_root: &Path,
    expected: &Expected,
) -> Result<rustix::fd::OwnedFd, SignalError> {
    let pid = expected.pid;
    let own = std::process::id();
    if pid <= 1 || u32::try_from(pid).ok() == Some(own) {
        return Err(SignalError::ForbiddenPid { pid });
    }
    same_pid_namespace(proc_root, own)?;
    if is_own_ancestor(proc_root, own, pid) {
        return Err(SignalError::AgentAncestor { pid });
    }
    let raw = Pid::from_raw(pid).ok_or(SignalError::ForbiddenPid { pid })?;
    // The pidfd first: everything read below is only trusted because the
    // final send through this fd fails if the process was replaced.
    let pidfd = pidfd_open(raw, PidfdFlags::empty()).map_err(|e| {
        if e == rustix::io::Errno::SRCH {
            SignalError::Gone { pid }
        } else {
            SignalError::PidfdOpen {
                pid,
                source: e.into(),
            }
        }
    })?;

    let dir = proc_root.join(pid.to_string());
    let stat_path = dir.join("stat");
    let stat = read_stat(&stat_path, pid)?;
    if stat.start_time != expected.start_time {
        return Err(SignalError::StartTime {
            pid,
            expected: expected.start_time,
            found: stat.start_time,
        });
    }
    if !comm_matches(&expected.comm, &stat.comm) {
        return Err(SignalError::Comm {
            pid,
            expected: expected.comm.clone(),
            found: stat.comm,
        });
    }
    match &expected.check {
        Ownership::CgroupContains(container_id) => {
            let path = dir.join("cgroup");
            let cgroup = read(&path, pid)?;
            if !cgroup_names_container(&String::from_utf8_lossy(&cgroup), container_id) {
                return Err(SignalError::Cgroup {
                    pid,
                    container_id: container_id.clone(),
                });
            }
        }
        Ownership::ShimId(id) => {
            let path = dir.join("cmdline");
            let cmdline = read(&path, pid)?;
            let shim = parse_shim_cmdline(&cmdline).ok_or(SignalError::NotAShim { pid })?;
            if id.is_empty() || &shim.id != id {
                return Err(SignalError::ShimId {
                    pid,
                    expected: id.clone(),
                    found: shim.id,
                });
            }
        }
    }
    Ok(pidfd)
}

fn same_pid_namespace(proc_root: &Path, own: u32) -> Result<(), SignalError> {
    let link = proc_root.join("self");
    let found = fs::read_link(&link)
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    if found.as_deref() == Some(own.to_string().as_str()) {
        Ok(())
    } else {
        Err(SignalError::ForeignProcRoot {
            path: proc_root.to_path_buf(),
            found,
            own,
        })
    }
}

/// Whether `pid` is on the agent's own parent chain: killing our own shim
/// would take the agent (and its pod) down. Unreadable links end the walk.
fn is_own_ancestor(proc_root: &Path, own: u32, pid: i32) -> bool {
    let Ok(mut current) = i32::try_from(own) else {
        return false;
    };
    for _ in 0..64 {
        match stat_of(proc_root, current) {
            Ok(Some(stat)) if stat.ppid > 0 => {
                if stat.ppid == pid {
                    return true;
                }
                current = stat.ppid;
            }
            _ => return false,
        }
    }
    false
}

fn read(path: &Path, pid: i32) -> Result<Vec<u8>, SignalError> {
    fs::read(path).map_err(|source| {
        // ENOENT/ESRCH on a proc file: the process went away under us.
        if source.kind() == io::ErrorKind::NotFound
            || source.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error())
        {
            SignalError::Gone { pid }
        } else {
            SignalError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

fn read_stat(path: &Path, pid: i32) -> Result<Stat, SignalError> {
    let raw = read(path, pid)?;
    parse_stat(&raw).ok_or_else(|| SignalError::ParseStat {
        path: path.to_path_buf(),
    })
}

use crate::scan::parse_stat;
/// The fields of `/proc/PID/stat` this crate's signalling needs.
/// A process's stat record, parsed by the scan module's parser.
pub(crate) use crate::scan::Process as Stat;

/// Reads and parses `<proc_root>/<pid>/stat`; `Ok(None)` when the process
/// does not exist.
pub(crate) fn stat_of(proc_root: &Path, pid: i32) -> Result<Option<Stat>, SignalError> {
    let path = proc_root.join(pid.to_string()).join("stat");
    match read_stat(&path, pid) {
        Ok(stat) => Ok(Some(stat)),
        Err(SignalError::Gone { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn comm_matches(expected: &str, found: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let truncated = truncate_comm(expected);
    found == expected || found == truncated
}

fn truncate_comm(comm: &str) -> &str {
    if comm.len() <= COMM_MAX {
        return comm;
    }
    let mut end = COMM_MAX;
    while !comm.is_char_boundary(end) {
        end -= 1;
    }
    &comm[..end]
}

/// Whether some line of a `/proc/PID/cgroup` file has a path component
/// that names `container_id`: the component is the id itself, or ends in
/// `-<id>` / `:<id>` once a `.scope` suffix is removed (systemd driver
/// forms). Substring matches elsewhere in a component do not count, so a
/// short id cannot match an unrelated cgroup.
pub(crate) fn cgroup_names_container(cgroup: &str, container_id: &str) -> bool {
    if container_id.is_empty() || container_id.contains('/') {
        return false;
    }
    cgroup.lines().any(|line| {
        // hierarchy-ID:controllers:path; the path may itself contain ':'.
        let Some(path) = line.splitn(3, ':').nth(2) else {
            return false;
        };
        let path = path.strip_suffix(" (deleted)").unwrap_or(path);
        path.split('/').any(|component| {
            let name = component.strip_suffix(".scope").unwrap_or(component);
            name == container_id
                || name
                    .strip_suffix(container_id)
                    .is_some_and(|prefix| prefix.ends_with('-') || prefix.ends_with(':'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_parentheses_and_spaces_in_comm() {
        let raw = b"4242 (a) b (c) S 17 4242 17 0 -1 4194560 95 0 0 0 0 0 0 0 20 0 1 0 987654 5648384 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let stat = parse_stat(raw).unwrap();
        assert_eq!(stat.comm, "a) b (c");
        assert_eq!(stat.state, b'S');
        assert_eq!(stat.ppid, 17);
        assert_eq!(stat.start_time, 987654);
    }

    #[test]
    fn truncated_stat_is_rejected() {
        assert_eq!(parse_stat(b"1 (init) S 0 1 1"), None);
        assert_eq!(parse_stat(b"garbage"), None);
        assert_eq!(parse_stat(b""), None);
    }

    #[test]
    fn own_stat_parses() {
        let raw = fs::read("/proc/self/stat").unwrap();
        let stat = parse_stat(&raw).unwrap();
        assert!(stat.start_time > 0);
        assert!(stat.ppid > 0);
    }

    #[test]
    fn comm_compares_on_the_kernel_truncation() {
        assert!(comm_matches("containerd-shim-runc-v2", "containerd-shim"));
        assert!(comm_matches("sleep", "sleep"));
        assert!(!comm_matches("sleep", "sleeper"));
        assert!(!comm_matches("", ""));
        assert!(!comm_matches("containerd-shim-runc-v2", "containerd-shi"));
    }

    #[test]
    fn cgroup_forms() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let v2_cgroupfs = format!("0::/kubepods/besteffort/pod1234/{id}\n");
        let v2_systemd = format!(
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/cri-containerd-{id}.scope\n"
        );
        let docker = format!("0::/docker/{id}\n");
        let crio = format!("0::/kubepods.slice/crio-{id}.scope\n");
        let cri_containerd_colon = format!("0::/system.slice/cri-containerd:{id}\n");
        let v1 = format!("4:memory:/kubepods/besteffort/pod1234/{id}\n0::/\n");
        let deleted = format!("0::/docker/{id} (deleted)\n");
        for text in [
            &v2_cgroupfs,
            &v2_systemd,
            &docker,
            &crio,
            &cri_containerd_colon,
            &v1,
            &deleted,
        ] {
            assert!(cgroup_names_container(text, id), "{text}");
        }
        let zombie_v1_only = "9:name=systemd:/\n4:memory:/\n0::/\n";
        assert!(!cgroup_names_container(zombie_v1_only, id));
        assert!(!cgroup_names_container(&v2_cgroupfs, "0123"));
        assert!(!cgroup_names_container(&v2_cgroupfs, "pod1234/x"));
        assert!(!cgroup_names_container(&v2_cgroupfs, ""));
        assert!(!cgroup_names_container("0::/kubepods/abc-def\n", "def-x"));
        assert!(!cgroup_names_container("0::/kubepods/xabc\n", "abc"));
    }

    #[test]
    fn pid_one_and_self_are_refused_before_anything_else() {
        for pid in [1, 0, -5, i32::try_from(std::process::id()).unwrap()] {
            let expected = Expected {
                pid,
                start_time: 0,
                comm: "x".into(),
                check: Ownership::ShimId("x".into()),
            };
            let err = kill_verified(Path::new("/proc"), &expected, Signal::KILL).unwrap_err();
            assert_eq!(err.metric_label(), "forbidden_pid", "{pid}");
        }
    }

    #[test]
    fn the_agents_own_ancestors_are_refused() {
        let parent = stat_of(
            Path::new("/proc"),
            i32::try_from(std::process::id()).unwrap(),
        )
        .unwrap()
        .unwrap()
        .ppid;
        let parent_stat = stat_of(Path::new("/proc"), parent).unwrap().unwrap();
        let expected = Expected {
            pid: parent,
            start_time: parent_stat.start_time,
            comm: parent_stat.comm,
            check: Ownership::ShimId("x".into()),
        };
        let err = check(Path::new("/proc"), &expected).unwrap_err();
        assert_eq!(err.metric_label(), "agent_ancestor", "{err}");
    }

    #[test]
    fn a_proc_root_of_another_namespace_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let expected = Expected {
            pid: 2,
            start_time: 0,
            comm: "x".into(),
            check: Ownership::ShimId("x".into()),
        };
        let err = kill_verified(dir.path(), &expected, Signal::KILL).unwrap_err();
        assert_eq!(err.metric_label(), "foreign_proc_root");
    }
}
