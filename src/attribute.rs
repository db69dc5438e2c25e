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
