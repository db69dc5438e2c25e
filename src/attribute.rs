//! Attribute: maps a zombie to the container it belongs to, from cgroup
//! paths (its own v2 line, then its parent's cgroup, then the ancestor walk
//! up to the runtime shim). Zombies in no container are host zombies.

use serde::Serialize;

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
