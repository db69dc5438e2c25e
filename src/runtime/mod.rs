//! Runtime: the boundary to container runtimes (CRI for containerd and
//! CRI-O, Docker Engine API). Every call is bounded by `container_timeout`;
//! a timeout is its own error so it can be counted separately.

pub mod cri;
pub mod docker;
pub mod select;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::attribute::RuntimeKind;

/// What a runtime knows about one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// Container name (`io.kubernetes.container.name` on CRI).
    pub name: Option<String>,
    pub pod_name: Option<String>,
    pub pod_namespace: Option<String>,
    pub pod_uid: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Container annotations merged over the pod sandbox's annotations.
    pub annotations: BTreeMap<String, String>,
    pub state: ContainerState,
    /// Host pid of the container's PID 1, when running.
    pub init_pid: Option<i32>,
    pub sandbox_id: Option<String>,
    pub restart_count: Option<u32>,
}

impl ContainerInfo {
    /// True when the id named a CRI pod sandbox (the pause container), not
    /// a container: a zombie reparented to pause carries the sandbox's
    /// cgroup. Such an entry identifies the pod; it cannot be restarted.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox_id.as_deref() == Some(self.id.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Exited,
    #[default]
    Unknown,
}

/// Why a runtime call failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("runtime endpoint {endpoint}: {operation} did not answer within {timeout:?}")]
    Timeout {
        endpoint: String,
        operation: &'static str,
        timeout: Duration,
    },
    #[error("runtime endpoint {endpoint}: cannot connect: {message}")]
    Connect { endpoint: String, message: String },
    #[error("runtime endpoint {endpoint}: container {id} not found")]
    NotFound { endpoint: String, id: String },
    #[error("runtime endpoint {endpoint}: {operation} failed: {message}")]
    Call {
        endpoint: String,
        operation: &'static str,
        message: String,
    },
}

impl RuntimeError {
    /// Closed-set label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            RuntimeError::Timeout { .. } => "timeout",
            RuntimeError::Connect { .. } => "connect",
            RuntimeError::NotFound { .. } => "not_found",
            RuntimeError::Call { .. } => "call",
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, RuntimeError::Timeout { .. })
    }
}

/// One container runtime endpoint.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync {
    /// Which kind of runtime answers at this endpoint.
    fn kind(&self) -> RuntimeKind;
    /// The endpoint URL, for logs (`unix:///run/containerd/containerd.sock`).
    fn endpoint(&self) -> &str;
    /// Looks a container up by its full id.
    async fn inspect(&self, id: &str) -> Result<ContainerInfo, RuntimeError>;
    /// Stops the container gracefully (CRI StopContainer, so the kubelet
    /// restarts it; Docker restart), waiting at most `grace` before the
    /// runtime kills it.
    async fn restart(&self, id: &str, grace: Duration) -> Result<(), RuntimeError>;
}
