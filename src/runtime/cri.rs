//! CRI v1 client (containerd, CRI-O) over a Unix socket. Owns the mapping
//! from CRI answers to [`ContainerInfo`]: pod identity from the kubelet's
//! `io.kubernetes.*` labels, init pid and sandbox id from the verbose
//! `info["info"]` JSON, pod annotations from the sandbox. Every trait call
//! is bounded as a whole by `container_timeout`, so a hung runtime shows up
//! as [`RuntimeError::Timeout`] instead of a hung agent.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerStatusRequest, PodSandboxStatusRequest, StopContainerRequest, VersionRequest,
};
use tokio::net::UnixStream;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::Code;

use super::{ContainerInfo, ContainerState, Runtime, RuntimeError};
use crate::attribute::RuntimeKind;

/// Kubelet labels that carry the pod identity on every CRI container.
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Kubelet annotation holding the container's restart count.
pub const ANNOTATION_RESTART_COUNT: &str = "io.kubernetes.container.restartCount";

/// A connected CRI runtime service.
#[derive(Debug, Clone)]
pub struct CriRuntime {
    endpoint: String,
    kind: RuntimeKind,
    runtime_name: String,
    timeout: Duration,
    client: RuntimeServiceClient<Channel>,
}

/// Returns the socket path of a `unix:///path` endpoint URL.
pub fn socket_path(endpoint: &str) -> Result<PathBuf, RuntimeError> {
    match endpoint.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
        _ => Err(RuntimeError::Connect {
            endpoint: endpoint.to_owned(),
            message: "not a unix:///absolute/path URL".to_owned(),
        }),
    }
}

/// The socket path of `endpoint`, which must exist: a missing socket is a
/// connect error naming it.
pub fn existing_socket(endpoint: &str) -> Result<PathBuf, RuntimeError> {
    let path = socket_path(endpoint)?;
    if !path.exists() {
        return Err(RuntimeError::Connect {
            endpoint: endpoint.to_owned(),
            message: format!("socket {} does not exist", path.display()),
        });
    }
    Ok(path)
}

/// Opens a gRPC channel to a Unix socket. The channel reconnects on its
/// own after the runtime restarts, so it is made once per endpoint.
pub async fn unix_channel(path: &Path, timeout: Duration) -> Result<Channel, RuntimeError> {
    let endpoint_name = format!("unix://{}", path.display());
    let connect_err = |message: String| RuntimeError::Connect {
        endpoint: endpoint_name.clone(),
        message,
    };
    // The URI is never dialled: the connector below ignores it.
    let endpoint = Endpoint::try_from("http://[::1]:50051")
        .map_err(|e| connect_err(e.to_string()))?
        .connect_timeout(timeout);
    let path = path.to_path_buf();
    let connecting = endpoint.connect_with_connector(tower::service_fn(move |_: Uri| {
        let path = path.clone();
        async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
    }));
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(e)) => Err(connect_err(error_chain(&e))),
        Err(_) => Err(RuntimeError::Timeout {
            endpoint: endpoint_name.clone(),
            operation: "connect",
            timeout,
        }),
    }
}

/// Renders an error with its sources: tonic's top-level transport error
/// says only "transport error", the cause (ENOENT, ECONNREFUSED) is below.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Maps a CRI `runtime_name` (Version RPC) to a kind.
pub fn kind_from_runtime_name(name: &str) -> RuntimeKind {
    match name.to_ascii_lowercase().as_str() {
        "containerd" => RuntimeKind::Containerd,
        "cri-o" | "crio" => RuntimeKind::CriO,
        // cri-dockerd answers "docker": its containers are Docker containers.
        "docker" => RuntimeKind::Docker,
        _ => RuntimeKind::Unknown,
    }
}

impl CriRuntime {
    /// Connects to `endpoint` (`unix:///run/containerd/containerd.sock`) and
    /// asks Version() to learn which runtime answers. `timeout` bounds the
    /// connect and, later, every trait call.
    pub async fn connect(endpoint: &str, timeout: Duration) -> Result<Self, RuntimeError> {
        let path = existing_socket(endpoint)?;
        let channel = unix_channel(&path, timeout).await.map_err(|e| match e {
            RuntimeError::Connect { message, .. } => RuntimeError::Connect {
                endpoint: endpoint.to_owned(),
                message,
            },
            other => other,
        })?;
        let mut rt = CriRuntime {
            endpoint: endpoint.to_owned(),
            kind: RuntimeKind::Unknown,
            runtime_name: String::new(),
            timeout,
            client: RuntimeServiceClient::new(channel),
        };
        let deadline = Instant::now() + timeout;
        let mut client = rt.client.clone();
        let version = rt
            .bounded(
                deadline,
                "Version",
                client.version(VersionRequest {
                    version: "v1".to_owned(),
                }),
            )
            .await?
            .into_inner();
        rt.kind = kind_from_runtime_name(&version.runtime_name);
        rt.runtime_name = version.runtime_name;
        Ok(rt)
    }

    /// The runtime's own name from Version() (`containerd`, `cri-o`, ...).
    pub fn runtime_name(&self) -> &str {
        &self.runtime_name
    }

    /// The raw CRI client, for callers that need RPCs beyond the trait.
    pub fn client(&self) -> RuntimeServiceClient<Channel> {
        self.client.clone()
    }

    /// Runs one RPC against the shared deadline, mapping gRPC statuses.
    async fn bounded<T>(
        &self,
        deadline: Instant,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, tonic::Status>>,
    ) -> Result<T, RuntimeError> {
        match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(status)) => Err(self.status_error(operation, &status)),
            Err(_) => Err(RuntimeError::Timeout {
                endpoint: self.endpoint.clone(),
                operation,
                timeout: self.timeout,
            }),
        }
    }

    fn status_error(&self, operation: &'static str, status: &tonic::Status) -> RuntimeError {
        match status.code() {
            Code::NotFound => RuntimeError::NotFound {
                endpoint: self.endpoint.clone(),
                id: String::new(),
            },
            // A CRI call that cannot even reach the socket (runtime gone).
            Code::Unavailable => RuntimeError::Connect {
                endpoint: self.endpoint.clone(),
                message: format!("{operation}: {}", status.message()),
            },
            // CRI-O has answered a missing id with Unknown + "not found".
            Code::Unknown if status.message().contains("not found") => RuntimeError::NotFound {
                endpoint: self.endpoint.clone(),
                id: String::new(),
            },
            code => RuntimeError::Call {
                endpoint: self.endpoint.clone(),
                operation,
                message: format!("{code:?}: {}", status.message()),
            },
        }
    }

    /// A lookup that answered without the object.
    fn missing(&self, id: &str) -> RuntimeError {
        RuntimeError::NotFound {
            endpoint: self.endpoint.clone(),
            id: id.to_owned(),
        }
    }

    fn not_found(&self, id: &str, e: RuntimeError) -> RuntimeError {
        match e {
            RuntimeError::NotFound { endpoint, .. } => RuntimeError::NotFound {
                endpoint,
                id: id.to_owned(),
            },
            other => other,
        }
    }

    /// Resolves a pod sandbox id (the pause container's cgroup names it) to
    /// its pod. Used when `id` is not a container.
    async fn inspect_sandbox(
        &self,
        deadline: Instant,
        id: &str,
    ) -> Result<ContainerInfo, RuntimeError> {
        let mut client = self.client.clone();
        let resp = self
            .bounded(
                deadline,
                "PodSandboxStatus",
                client.pod_sandbox_status(PodSandboxStatusRequest {
                    pod_sandbox_id: id.to_owned(),
                    verbose: true,
                }),
            )
            .await
            .map_err(|e| self.not_found(id, e))?
            .into_inner();
        let Some(status) = resp.status else {
            return Err(self.missing(id));
        };
        let verbose = VerboseInfo::parse(&resp.info);
        let labels = sorted(status.labels);
        let meta = status.metadata.unwrap_or_default();
        // SANDBOX_READY = 0, SANDBOX_NOTREADY = 1.
        let state = match status.state {
            0 => ContainerState::Running,
            1 => ContainerState::Exited,
            _ => ContainerState::Unknown,
        };
        Ok(ContainerInfo {
            id: status.id.clone(),
            name: None,
            pod_name: label_or(&labels, LABEL_POD_NAME, &meta.name),
            pod_namespace: label_or(&labels, LABEL_POD_NAMESPACE, &meta.namespace),
            pod_uid: label_or(&labels, LABEL_POD_UID, &meta.uid),
            annotations: sorted(status.annotations),
            labels,
            state,
            init_pid: verbose.pid.filter(|_| state == ContainerState::Running),
            // sandbox_id == id marks a sandbox: see ContainerInfo::is_sandbox.
            sandbox_id: Some(status.id),
            restart_count: Some(meta.attempt),
        })
    }
}

/// The fields of ContainerStatus/PodSandboxStatus(verbose).info["info"]
/// that we need; containerd and CRI-O both write `pid` and `sandboxID`.
#[derive(Debug, Default, serde::Deserialize)]
struct VerboseInfo {
    #[serde(default)]
    pid: Option<i32>,
    #[serde(default, rename = "sandboxID")]
    sandbox_id: Option<String>,
}

impl VerboseInfo {
    fn parse(info: &HashMap<String, String>) -> Self {
        let mut v: VerboseInfo = info
            .get("info")
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        // pid 0 means "not running" in containerd's verbose info.
        v.pid = v.pid.filter(|&p| p > 0);
        v.sandbox_id = v.sandbox_id.filter(|s| !s.is_empty());
        v
    }
}

fn sorted(map: HashMap<String, String>) -> BTreeMap<String, String> {
    map.into_iter().collect()
}

fn label_or(labels: &BTreeMap<String, String>, key: &str, fallback: &str) -> Option<String> {
    labels
        .get(key)
        .filter(|v| !v.is_empty())
        .cloned()
        .or_else(|| (!fallback.is_empty()).then(|| fallback.to_owned()))
}

fn container_state(state: i32) -> ContainerState {
    match state {
        0 => ContainerState::Created,
        1 => ContainerState::Running,
        2 => ContainerState::Exited,
        _ => ContainerState::Unknown,
    }
}

#[async_trait::async_trait]
impl Runtime for CriRuntime {
    fn kind(&self) -> RuntimeKind {
        self.kind
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Looks up a container; an id that is not a container but a pod
    /// sandbox (a zombie reparented to pause carries the sandbox's cgroup)
    /// resolves to the pod with `name: None` and `sandbox_id == id`.
    async fn inspect(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        let deadline = Instant::now() + self.timeout;
        let mut client = self.client.clone();
        let resp = match self
            .bounded(
                deadline,
                "ContainerStatus",
                client.container_status(ContainerStatusRequest {
                    container_id: id.to_owned(),
                    verbose: true,
                }),
            )
            .await
        {
            Ok(resp) => resp.into_inner(),
            Err(RuntimeError::NotFound { .. }) => return self.inspect_sandbox(deadline, id).await,
            Err(e) => return Err(e),
        };
        let Some(status) = resp.status else {
            return Err(self.missing(id));
        };
        let verbose = VerboseInfo::parse(&resp.info);
        let labels = sorted(status.labels);
        let meta = status.metadata.unwrap_or_default();
        let state = container_state(status.state);
        let mut annotations = BTreeMap::new();
        if let Some(sandbox_id) = &verbose.sandbox_id {
            // Pod annotations live on the sandbox. A sandbox that vanished
            // in between is not an error for the container; a hung runtime is.
            let mut client = self.client.clone();
            match self
                .bounded(
                    deadline,
                    "PodSandboxStatus",
                    client.pod_sandbox_status(PodSandboxStatusRequest {
                        pod_sandbox_id: sandbox_id.clone(),
                        verbose: false,
                    }),
                )
                .await
            {
                Ok(sb) => {
                    if let Some(sb) = sb.into_inner().status {
                        annotations.extend(sb.annotations);
                    }
                }
                Err(e @ RuntimeError::Timeout { .. }) => return Err(e),
                Err(_) => {}
            }
        }
        let restart_count = status
            .annotations
            .get(ANNOTATION_RESTART_COUNT)
            .and_then(|v| v.parse().ok())
            .unwrap_or(meta.attempt);
        annotations.extend(status.annotations);
        Ok(ContainerInfo {
            id: status.id,
            name: label_or(&labels, LABEL_CONTAINER_NAME, &meta.name),
            pod_name: label_or(&labels, LABEL_POD_NAME, ""),
            pod_namespace: label_or(&labels, LABEL_POD_NAMESPACE, ""),
            pod_uid: label_or(&labels, LABEL_POD_UID, ""),
            labels,
            annotations,
            state,
            init_pid: verbose.pid.filter(|_| state == ContainerState::Running),
            sandbox_id: verbose.sandbox_id,
            restart_count: Some(restart_count),
        })
    }

    /// StopContainer with `grace` (whole seconds, rounded up): under a
    /// kubelet the container is then restarted per the pod's restartPolicy.
    /// The call itself is bounded by `container_timeout`, so choose
    /// `grace` below it.
    async fn restart(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let deadline = Instant::now() + self.timeout;
        let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let mut client = self.client.clone();
        self.bounded(
            deadline,
            "StopContainer",
            client.stop_container(StopContainerRequest {
                container_id: id.to_owned(),
                timeout: i64::try_from(secs).unwrap_or(i64::MAX),
            }),
        )
        .await
        .map_err(|e| self.not_found(id, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        assert_eq!(
            socket_path("unix:///run/containerd/containerd.sock").ok(),
            Some(PathBuf::from("/run/containerd/containerd.sock"))
        );
        for bad in ["/run/x.sock", "tcp://1.2.3.4:1", "unix://relative", ""] {
            let err = socket_path(bad).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(bad)),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn runtime_names() {
        assert_eq!(
            kind_from_runtime_name("containerd"),
            RuntimeKind::Containerd
        );
        assert_eq!(kind_from_runtime_name("cri-o"), RuntimeKind::CriO);
        assert_eq!(kind_from_runtime_name("docker"), RuntimeKind::Docker);
        assert_eq!(kind_from_runtime_name("other"), RuntimeKind::Unknown);
    }

    #[test]
    fn verbose_info() {
        let mut info = HashMap::new();
        info.insert(
            "info".to_owned(),
            r#"{"sandboxID":"abc","pid":42,"runtimeSpec":{}}"#.to_owned(),
        );
        let v = VerboseInfo::parse(&info);
        assert_eq!(v.pid, Some(42));
        assert_eq!(v.sandbox_id.as_deref(), Some("abc"));
        info.insert("info".to_owned(), r#"{"pid":0}"#.to_owned());
        assert_eq!(VerboseInfo::parse(&info).pid, None);
        info.insert("info".to_owned(), "not json".to_owned());
        assert_eq!(VerboseInfo::parse(&info).pid, None);
    }
}
