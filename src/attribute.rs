//! Attribute: maps a zombie to the container it belongs to, from cgroup
//! paths (its own v2 line, then its parent's cgroup, then the ancestor walk
//! up to the runtime shim). Zombies in no container are host zombies.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::scan::{parse_stat, read_cgroup, read_cmdline, Process, Zombie};

/// Which container runtime a cgroup path or shim names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum RuntimeKind {
    #[serde(rename = "containerd")]
    Containerd,
    #[serde(rename = "cri-o")]
    CriO,
    #[serde(rename = "docker")]
    Docker,
    #[serde(rename = "unknown")]
    Unknown,
}

impl RuntimeKind {
    /// Closed-set label for metrics and the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Containerd => "containerd",
            RuntimeKind::CriO => "cri-o",
            RuntimeKind::Docker => "docker",
            RuntimeKind::Unknown => "unknown",
        }
    }
}

/// A container as named by the kernel's view (cgroup path or shim).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerRef {
    pub runtime: RuntimeKind,
    /// Full container id (64 hex for CRI and Docker; any id for plain containerd).
    pub id: String,
    /// Pod UID (dashes restored) when the path names a pod.
    pub pod_uid: Option<String>,
    /// containerd namespace (`k8s.io`, `moby`, ...) when known.
    pub namespace: Option<String>,
}

/// A runtime shim process as named by its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimRef {
    /// `Containerd` for `containerd-shim*` (Docker's shims too), `CriO` for conmon.
    pub runtime: RuntimeKind,
    /// containerd namespace (`-namespace`), when given.
    pub namespace: Option<String>,
    /// The id the shim serves: `-id` (containerd: a pod sandbox id on CRI,
    /// a container id on Docker) or conmon's `-c`/`--cid` (one container).
    pub id: String,
}

/// Parses a shim's NUL-separated `/proc/PID/cmdline`. Returns `None` for
/// anything that is not a containerd shim or conmon with an id.
pub fn parse_shim_cmdline(cmdline: &[u8]) -> Option<ShimRef> {
    let mut args = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| std::str::from_utf8(a).ok());
    let argv0 = args.next()??;
    let program = argv0.rsplit('/').next().unwrap_or(argv0);
    let (runtime, id_flags): (RuntimeKind, &[&str]) = if program.starts_with("containerd-shim") {
        (RuntimeKind::Containerd, &["-id", "--id"])
    } else if program == "conmon" {
        (RuntimeKind::CriO, &["-c", "--cid"])
    } else {
        return None;
    };
    let (mut namespace, mut id) = (None, None);
    let rest: Vec<Option<&str>> = args.collect();
    let mut i = 0;
    while i < rest.len() {
        let Some(arg) = rest[i] else {
            i += 1;
            continue;
        };
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v)),
            None => (arg, None),
        };
        let value = match inline {
            Some(v) => Some(v),
            None => rest.get(i + 1).copied().flatten(),
        };
        let consumed = if inline.is_some() { 1 } else { 2 };
        if id_flags.contains(&flag) {
            id = value.map(str::to_owned);
            i += consumed;
        } else if flag == "-namespace" || flag == "--namespace" {
            namespace = value.map(str::to_owned);
            i += consumed;
        } else {
            i += 1;
        }
    }
    let id = id.filter(|s| !s.is_empty())?;
    Some(ShimRef {
        runtime,
        namespace,
        id,
    })
}

/// Maps one cgroup path to the container it names. Host paths
/// (`/system.slice/foo.service`, `/user.slice/...`, `/init.scope`, `/`)
/// are `None`. Accepts paths relative to a cgroup namespace
/// (`/../../kubepods/...`) and paths of removed cgroups (` (deleted)`).
pub fn container_from_cgroup_path(path: &str) -> Option<ContainerRef> {
    let path = path.trim_end_matches('\n');
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
        .collect();
    // The deepest component that names a container wins: processes may sit
    // in a sub-cgroup of their container (systemd inside it, nested runtimes).
    for (i, comp) in parts.iter().enumerate().rev() {
        match classify(&parts[..i], comp) {
            Component::Container(c) => return Some(c),
            Component::NotAContainer => return None,
            Component::Unknown => {}
        }
    }
    None
}

/// Maps a whole `/proc/PID/cgroup` file: the unified (`0::`) line first,
/// then the v1 lines (`N:controllers:path`), skipping root (`/`) paths.
pub fn container_from_cgroup_file(contents: &str) -> Option<ContainerRef> {
    let lines = contents.lines().filter_map(|l| {
        let mut f = l.splitn(3, ':');
        let (id, _controllers, path) = (f.next()?, f.next()?, f.next()?);
        Some((id, path))
    });
    let (unified, legacy): (Vec<_>, Vec<_>) = lines.partition(|(id, _)| *id == "0");
    unified
        .into_iter()
        .chain(legacy)
        .map(|(_, path)| path.trim())
        .filter(|path| *path != "/" && !path.is_empty())
        .find_map(container_from_cgroup_path)
}

enum Component {
    Container(ContainerRef),
    /// A component that settles the question: no container here (conmon's
    /// own scope sits beside the container's, under the pod).
    NotAContainer,
    Unknown,
}

/// containerd namespaces whose `/<namespace>/<id>` cgroups (containerd's
/// default for non-CRI containers) are taken as containers with any id.
const KNOWN_NAMESPACES: &[&str] = &["default", "k8s.io", "moby", "buildkit", "services.linuxkit"];

fn classify(before: &[&str], comp: &str) -> Component {
    let under_kubepods = before.iter().any(|c| c.starts_with("kubepods"));
    let container = |runtime, id: &str, namespace: Option<&str>| {
        Component::Container(ContainerRef {
            runtime,
            id: id.to_owned(),
            pod_uid: pod_uid(before),
            namespace: namespace.map(str::to_owned),
        })
    };
    if let Some(id) = scope_id(comp, "cri-containerd-") {
        return container(RuntimeKind::Containerd, id, Some("k8s.io"));
    }
    if comp.starts_with("crio-conmon-") {
        return Component::NotAContainer;
    }
    if let Some(id) = scope_id(comp, "crio-") {
        return container(RuntimeKind::CriO, id, None);
    }
    if let Some(id) = scope_id(comp, "docker-") {
        return container(RuntimeKind::Docker, id, Some("moby"));
    }
    // cgroupfs layouts: the bare id under its parent.
    let parent = before.last().copied();
    if is_hex64(comp) {
        if parent.is_some_and(is_pod_dir) {
            // kubelet's cgroupfs driver under containerd (CRI-O names its
            // containers `crio-<id>`, handled above).
            return container(RuntimeKind::Containerd, comp, Some("k8s.io"));
        }
        if parent == Some("docker") {
            // Docker's cgroupfs driver: `/docker/<id>`, the `moby` namespace.
            return container(RuntimeKind::Docker, comp, Some("moby"));
        }
    }
    // Plain containerd (`ctr run`, nerdctl): `/<namespace>/<id>` directly
    // under the root, and never under kubepods. A known namespace takes any
    // valid id; another namespace only a 64-hex id, since two-level host
    // paths exist (`/system.slice/x.service`, `/user.slice/user-0.slice`,
    // `/lxc/name`, `/machine/qemu-1`) but none ends in a bare 64-hex id.
    if let [namespace] = before {
        if !under_kubepods && is_namespace_name(namespace) && is_plain_id(comp) {
            let known = KNOWN_NAMESPACES.contains(namespace);
            if known || is_hex64(comp) {
                let runtime = if *namespace == "moby" {
                    RuntimeKind::Docker
                } else {
                    RuntimeKind::Containerd
                };
                return container(runtime, comp, Some(namespace));
            }
        }
    }
    Component::Unknown
}

/// `<prefix><64-hex>.scope` (systemd driver) or `<prefix><64-hex>` (cgroupfs).
fn scope_id<'a>(comp: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = comp.strip_prefix(prefix)?;
    let id = rest.strip_suffix(".scope").unwrap_or(rest);
    is_hex64(id).then_some(id)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `pod<uid>` of the cgroupfs driver.
fn is_pod_dir(comp: &str) -> bool {
    comp.strip_prefix("pod").is_some_and(is_uid)
}

/// Pod UIDs are UUIDs, except static pods' (a 32-hex config hash).
fn is_uid(s: &str) -> bool {
    s.len() >= 32 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The pod UID named by the nearest pod cgroup above the container:
/// `pod<uid>` (cgroupfs) or `kubepods[-qos]-pod<uid_with_underscores>.slice`
/// (systemd, which turns the UID's dashes into underscores).
fn pod_uid(before: &[&str]) -> Option<String> {
    before.iter().rev().find_map(|comp| {
        if let Some(uid) = comp.strip_prefix("pod").filter(|u| is_uid(u)) {
            return Some(uid.to_owned());
        }
        let slice = comp.strip_suffix(".slice")?;
        if !slice.starts_with("kubepods") {
            return None;
        }
        let (_, uid) = slice.rsplit_once("-pod")?;
        let uid = uid.replace('_', "-");
        is_uid(&uid).then_some(uid)
    })
}

/// containerd namespace names: letters, digits, `.`, `_`, `-`, starting
/// with a letter or digit; systemd unit names (`x.slice`, `x.service`) are
/// host cgroups, never namespaces.
fn is_namespace_name(s: &str) -> bool {
    const UNIT_SUFFIXES: &[&str] = &[".slice", ".scope", ".service", ".mount", ".socket"];
    s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !UNIT_SUFFIXES.iter().any(|suf| s.ends_with(suf))
}

/// containerd container ids: `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 76 bytes,
/// and not a systemd unit name.
fn is_plain_id(s: &str) -> bool {
    s.len() <= 76 && is_namespace_name(s)
}

/// How far up the process tree [`attribute`] looks for a container or shim:
/// shim → container init → shell → child is 3; anything deeper than this is
/// a host tree.
const MAX_ANCESTORS: usize = 32;

/// pid → ppid for every process of a snapshot, so the ancestor walk does not
/// reread stat files the scan has just read.
#[derive(Debug, Clone, Default)]
pub struct ProcessIndex {
    parents: HashMap<i32, i32>,
}

impl ProcessIndex {
    pub fn new(processes: &[Process]) -> Self {
        Self {
            parents: processes.iter().map(|p| (p.pid, p.ppid)).collect(),
        }
    }

    /// The parent the scan saw for `pid`.
    pub fn parent_of(&self, pid: i32) -> Option<i32> {
        self.parents.get(&pid).copied()
    }

    pub fn len(&self) -> usize {
        self.parents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parents.is_empty()
    }
}

impl From<&[Process]> for ProcessIndex {
    fn from(processes: &[Process]) -> Self {
        Self::new(processes)
    }
}

/// The container a zombie belongs to: its own cgroup, then its parent's
/// (read now: the parent is alive), then each further ancestor's cgroup or,
/// when an ancestor is a runtime shim, the id the shim serves. `None` for a
/// host zombie. The walk stops at pid 1/0, at a cycle (pids reused since the
/// scan) and after [`MAX_ANCESTORS`] steps.
///
/// A containerd shim on CRI serves a pod sandbox: its `-id` is the sandbox
/// id, not a container id, so a shim-derived ref names the sandbox.
pub fn attribute(zombie: &Zombie, index: &ProcessIndex, proc_root: &Path) -> Option<ContainerRef> {
    if let Some(c) = container_from_cgroup_file(&zombie.cgroup) {
        return Some(c);
    }
    let mut seen = vec![zombie.pid];
    let mut pid = zombie.ppid;
    for _ in 0..MAX_ANCESTORS {
        if pid <= 1 || seen.contains(&pid) {
            return None;
        }
        seen.push(pid);
        if let Some(c) = read_cgroup(proc_root, pid)
            .as_deref()
            .and_then(container_from_cgroup_file)
        {
            return Some(c);
        }
        if let Some(shim) = read_cmdline(proc_root, pid)
            .as_deref()
            .and_then(parse_shim_cmdline)
        {
            return Some(container_from_shim(shim));
        }
        pid = match index.parent_of(pid) {
            Some(ppid) => ppid,
            // Started after the scan: ask /proc directly.
            None => read_stat(proc_root, pid)?.ppid,
        };
    }
    None
}

fn container_from_shim(shim: ShimRef) -> ContainerRef {
    let runtime = match (shim.runtime, shim.namespace.as_deref()) {
        (RuntimeKind::Containerd, Some("moby")) => RuntimeKind::Docker,
        (runtime, _) => runtime,
    };
    ContainerRef {
        runtime,
        id: shim.id,
        pod_uid: None,
        namespace: shim.namespace,
    }
}

fn read_stat(proc_root: &Path, pid: i32) -> Option<Process> {
    let bytes = std::fs::read(proc_root.join(pid.to_string()).join("stat")).ok()?;
    parse_stat(&bytes)
}

#[cfg(test)]
mod path_tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "1b2c3d4e-aaaa-bbbb-cccc-0123456789ab";

    fn c(runtime: RuntimeKind, pod: Option<&str>, ns: Option<&str>) -> Option<ContainerRef> {
        Some(ContainerRef {
            runtime,
            id: ID.into(),
            pod_uid: pod.map(Into::into),
            namespace: ns.map(Into::into),
        })
    }

    #[test]
    fn kubepods_cgroupfs_all_qos_classes() {
        for qos in ["", "/burstable", "/besteffort"] {
            assert_eq!(
                container_from_cgroup_path(&format!("/kubepods{qos}/pod{UID}/{ID}")),
                c(RuntimeKind::Containerd, Some(UID), Some("k8s.io")),
                "qos {qos:?}"
            );
        }
    }

    #[test]
    fn kubepods_systemd_restores_uid_dashes() {
        let u = UID.replace('-', "_");
        let p = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope"
        );
        assert_eq!(
            container_from_cgroup_path(&p),
            c(RuntimeKind::Containerd, Some(UID), Some("k8s.io"))
        );
        let guaranteed = format!("/kubepods.slice/kubepods-pod{u}.slice/cri-containerd-{ID}.scope");
        assert_eq!(
            container_from_cgroup_path(&guaranteed),
            c(RuntimeKind::Containerd, Some(UID), Some("k8s.io"))
        );
    }

    #[test]
    fn crio_both_drivers_and_conmon_is_not_a_container() {
        let u = UID.replace('-', "_");
        let systemd = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/crio-{ID}.scope"
        );
        assert_eq!(
            container_from_cgroup_path(&systemd),
            c(RuntimeKind::CriO, Some(UID), None)
        );
        let cgroupfs = format!("/kubepods/besteffort/pod{UID}/crio-{ID}");
        assert_eq!(
            container_from_cgroup_path(&cgroupfs),
            c(RuntimeKind::CriO, Some(UID), None)
        );
        let conmon = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/crio-conmon-{ID}.scope"
        );
        assert_eq!(container_from_cgroup_path(&conmon), None);
    }

    #[test]
    fn docker_both_drivers() {
        assert_eq!(
            container_from_cgroup_path(&format!("/docker/{ID}")),
            c(RuntimeKind::Docker, None, Some("moby"))
        );
        assert_eq!(
            container_from_cgroup_path(&format!("/system.slice/docker-{ID}.scope")),
            c(RuntimeKind::Docker, None, Some("moby"))
        );
    }

    #[test]
    fn plain_containerd_namespaces() {
        assert_eq!(
            container_from_cgroup_path("/default/redis-1"),
            Some(ContainerRef {
                runtime: RuntimeKind::Containerd,
                id: "redis-1".into(),
                pod_uid: None,
                namespace: Some("default".into()),
            })
        );
        assert_eq!(
            container_from_cgroup_path(&format!("/myns/{ID}")),
            c(RuntimeKind::Containerd, None, Some("myns"))
        );
        assert_eq!(
            container_from_cgroup_path(&format!("/moby/{ID}")),
            c(RuntimeKind::Docker, None, Some("moby"))
        );
    }

    #[test]
    fn host_paths_are_not_containers() {
        for p in [
            "/",
            "",
            "/init.scope",
            "/system.slice/cron.service",
            "/system.slice/containerd.service",
            "/user.slice/user-1000.slice/session-3.scope",
            "/user.slice/user-0.slice",
            "/lxc/web",
            "/machine/qemu-1",
            "/process_api/02ea2a2ffb08ca4f4b0e03f71eb48407",
            "/kubepods/burstable",
            &format!("/kubepods/burstable/pod{UID}"),
            &format!("/system.slice/{ID}.service"),
            &format!("/a/b/{ID}"),
            &format!("/docker/{}", &ID[..12]),
        ] {
            assert_eq!(container_from_cgroup_path(p), None, "{p}");
        }
    }

    #[test]
    fn deleted_and_namespace_relative_paths() {
        assert_eq!(
            container_from_cgroup_path(&format!("/kubepods/pod{UID}/{ID} (deleted)")),
            c(RuntimeKind::Containerd, Some(UID), Some("k8s.io"))
        );
        assert_eq!(
            container_from_cgroup_path(&format!("/../../kubepods/burstable/pod{UID}/{ID}")),
            c(RuntimeKind::Containerd, Some(UID), Some("k8s.io"))
        );
        assert_eq!(container_from_cgroup_path("/../.."), None);
    }

    #[test]
    fn nested_cgroup_inside_a_container_names_the_container() {
        assert_eq!(
            container_from_cgroup_path(&format!("/system.slice/docker-{ID}.scope/init.scope")),
            c(RuntimeKind::Docker, None, Some("moby"))
        );
    }

    #[test]
    fn file_prefers_unified_then_skips_root_v1_lines() {
        let v2 = format!("12:pids:/docker/{ID}\n0::/kubepods/pod{UID}/{ID}\n");
        assert_eq!(
            container_from_cgroup_file(&v2),
            c(RuntimeKind::Containerd, Some(UID), Some("k8s.io"))
        );
        let v1 = format!("12:pids:/\n11:memory:/docker/{ID}\n1:name=systemd:/\n0::/\n");
        assert_eq!(
            container_from_cgroup_file(&v1),
            c(RuntimeKind::Docker, None, Some("moby"))
        );
        assert_eq!(container_from_cgroup_file("12:pids:/\n0::/\n"), None);
        assert_eq!(container_from_cgroup_file(""), None);
        assert_eq!(container_from_cgroup_file("garbage"), None);
    }
}

#[cfg(test)]
mod shim_tests {
    use super::*;

    #[test]
    fn containerd_shim_v2() {
        let cmd = b"/usr/bin/containerd-shim-runc-v2\0-namespace\0k8s.io\0-id\0abc123\0-address\0/run/containerd/containerd.sock\0";
        assert_eq!(
            parse_shim_cmdline(cmd),
            Some(ShimRef {
                runtime: RuntimeKind::Containerd,
                namespace: Some("k8s.io".into()),
                id: "abc123".into()
            })
        );
    }

    #[test]
    fn conmon() {
        let cmd = b"/usr/bin/conmon\0-b\0/var/run/x/userdata\0-c\0deadbeef\0--exit-dir\0/x\0";
        let shim = parse_shim_cmdline(cmd).expect("conmon is a shim");
        assert_eq!(shim.runtime, RuntimeKind::CriO);
        assert_eq!(shim.id, "deadbeef");
    }

    #[test]
    fn other_programs_and_missing_ids_are_not_shims() {
        assert_eq!(parse_shim_cmdline(b"/bin/sleep\0-id\0x\0"), None);
        assert_eq!(
            parse_shim_cmdline(b"containerd-shim-runc-v2\0-namespace\0moby\0"),
            None
        );
        assert_eq!(parse_shim_cmdline(b""), None);
    }
}
