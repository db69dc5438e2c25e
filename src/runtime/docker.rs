//! Docker Engine API client over its Unix socket: a lean hyper 1 HTTP/1
//! client (one connection per call; the agent makes a few calls per cycle).
//! Owns the mapping from `GET /containers/{id}/json` to [`ContainerInfo`],
//! including the pod identity cri-dockerd leaves in labels and in the
//! container name `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`.
//! Paths are unversioned so the daemon's own API version answers (newer
//! daemons refuse old pinned versions).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio::time::Instant;

use super::cri::{
    existing_socket, LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID,
};
use super::{ContainerInfo, ContainerState, Runtime, RuntimeError};
use crate::attribute::RuntimeKind;

/// cri-dockerd's label naming a container's pod sandbox.
const LABEL_SANDBOX_ID: &str = "io.kubernetes.sandbox.id";
/// cri-dockerd's label telling a pod sandbox (pause) from a container.
const LABEL_DOCKER_TYPE: &str = "io.kubernetes.docker.type";
/// cri-dockerd stores the pod's annotations as labels with this prefix.
const ANNOTATION_LABEL_PREFIX: &str = "annotation.";
/// Upper bound on a response body: inspect answers are a few KiB.
const MAX_BODY: usize = 4 << 20;

/// A Docker Engine endpoint.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    endpoint: String,
    path: PathBuf,
    timeout: Duration,
}

/// Pod identity parsed from a cri-dockerd container name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriDockerdName {
    pub container: String,
    pub pod: String,
    pub namespace: String,
    pub uid: String,
    pub attempt: u32,
}

/// Parses `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>` (with or
/// without the leading `/`). Kubernetes names cannot contain `_`, so the
/// split is unambiguous; anything else is not a kubelet container.
pub fn parse_cri_dockerd_name(name: &str) -> Option<CriDockerdName> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let parts: Vec<&str> = name.split('_').collect();
    let [prefix, container, pod, namespace, uid, attempt] = parts.as_slice() else {
        return None;
    };
    if *prefix != "k8s"
        || [container, pod, namespace, uid]
            .iter()
            .any(|p| p.is_empty())
    {
        return None;
    }
    Some(CriDockerdName {
        container: (*container).to_owned(),
        pod: (*pod).to_owned(),
        namespace: (*namespace).to_owned(),
        uid: (*uid).to_owned(),
        attempt: attempt.parse().ok()?,
    })
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    restart_count: Option<u32>,
    #[serde(default)]
    state: InspectState,
    #[serde(default)]
    config: InspectConfig,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectState {
    #[serde(default)]
    status: String,
    #[serde(default)]
    pid: i32,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectConfig {
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Docker ids and names are `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; anything else
/// would change the request path, so it is refused before any I/O.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn state_of(status: &str) -> ContainerState {
    match status {
        "created" => ContainerState::Created,
        // A paused container still has its processes (and its zombies).
        "running" | "paused" => ContainerState::Running,
        "exited" | "dead" => ContainerState::Exited,
        _ => ContainerState::Unknown,
    }
}

fn info_from_inspect(inspect: Inspect) -> ContainerInfo {
    let labels = inspect.config.labels.unwrap_or_default();
    let name = inspect.name.trim_start_matches('/').to_owned();
    let parsed = parse_cri_dockerd_name(&name);
    let label = |key: &str| labels.get(key).filter(|v| !v.is_empty()).cloned();
    let annotations = labels
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(ANNOTATION_LABEL_PREFIX)
                .map(|k| (k.to_owned(), v.clone()))
        })
        .collect();
    let state = state_of(&inspect.state.status);
    // Same convention as CRI: a sandbox has sandbox_id == id and no name.
    let is_sandbox = labels.get(LABEL_DOCKER_TYPE).map(String::as_str) == Some("podsandbox");
    ContainerInfo {
        name: label(LABEL_CONTAINER_NAME)
            .or_else(|| parsed.as_ref().map(|p| p.container.clone()))
            .or_else(|| (!name.is_empty()).then(|| name.clone()))
            .filter(|_| !is_sandbox),
        pod_name: label(LABEL_POD_NAME).or_else(|| parsed.as_ref().map(|p| p.pod.clone())),
        pod_namespace: label(LABEL_POD_NAMESPACE)
            .or_else(|| parsed.as_ref().map(|p| p.namespace.clone())),
        pod_uid: label(LABEL_POD_UID).or_else(|| parsed.as_ref().map(|p| p.uid.clone())),
        sandbox_id: if is_sandbox {
            Some(inspect.id.clone())
        } else {
            label(LABEL_SANDBOX_ID)
        },
        // For kubelet containers the attempt in the name is the restart
        // count the operator knows; Docker's own counter is for policies.
        restart_count: parsed.as_ref().map(|p| p.attempt).or(inspect.restart_count),
        init_pid: (state == ContainerState::Running && inspect.state.pid > 0)
            .then_some(inspect.state.pid),
        id: inspect.id,
        labels,
        annotations,
        state,
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl DockerRuntime {
    /// Connects to `endpoint` (`unix:///var/run/docker.sock`) and checks
    /// that a Docker Engine answers `GET /_ping` within `timeout`, which
    /// also bounds every later call.
    pub async fn connect(endpoint: &str, timeout: Duration) -> Result<Self, RuntimeError> {
        let path = existing_socket(endpoint)?;
        let rt = DockerRuntime {
            endpoint: endpoint.to_owned(),
            path,
            timeout,
        };
        let deadline = Instant::now() + timeout;
        let (status, body) = rt.request(deadline, "ping", Method::GET, "/_ping").await?;
        if status != StatusCode::OK || body.as_ref() != b"OK" {
            return Err(RuntimeError::Connect {
                endpoint: endpoint.to_owned(),
                message: format!("GET /_ping answered {status}, not a Docker Engine"),
            });
        }
        Ok(rt)
    }

    async fn request(
        &self,
        deadline: Instant,
        operation: &'static str,
        method: Method,
        path: &str,
    ) -> Result<(StatusCode, Bytes), RuntimeError> {
        let call = async {
            let stream = UnixStream::connect(&self.path)
                .await
                .map_err(|e| self.connect_error(format!("{}: {e}", self.path.display())))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| self.call_error(operation, &e))?;
            // Aborted when this future ends or is dropped on timeout, so a
            // hung daemon does not leave a task behind.
            let _conn_task = AbortOnDrop(tokio::spawn(conn));
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header(hyper::header::HOST, "docker")
                .body(Empty::<Bytes>::new())
                .map_err(|e| self.call_error(operation, &e))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| self.call_error(operation, &e))?;
            let status = resp.status();
            let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| RuntimeError::Call {
                    endpoint: self.endpoint.clone(),
                    operation,
                    message: e.to_string(),
                })?
                .to_bytes();
            Ok((status, body))
        };
        match tokio::time::timeout_at(deadline, call).await {
            Ok(r) => r,
            Err(_) => Err(RuntimeError::Timeout {
                endpoint: self.endpoint.clone(),
                operation,
                timeout: self.timeout,
            }),
        }
    }

    fn connect_error(&self, message: String) -> RuntimeError {
        RuntimeError::Connect {
            endpoint: self.endpoint.clone(),
            message,
        }
    }

    fn call_error(&self, operation: &'static str, e: &dyn std::error::Error) -> RuntimeError {
        RuntimeError::Call {
            endpoint: self.endpoint.clone(),
            operation,
            message: e.to_string(),
        }
    }

    fn check_id(&self, operation: &'static str, id: &str) -> Result<(), RuntimeError> {
        if valid_id(id) {
            Ok(())
        } else {
            Err(RuntimeError::Call {
                endpoint: self.endpoint.clone(),
                operation,
                message: format!("invalid container id {id:?}"),
            })
        }
    }

    fn status_error(
        &self,
        operation: &'static str,
        id: &str,
        status: StatusCode,
        body: &[u8],
    ) -> RuntimeError {
        if status == StatusCode::NOT_FOUND {
            return RuntimeError::NotFound {
                endpoint: self.endpoint.clone(),
                id: id.to_owned(),
            };
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
        RuntimeError::Call {
            endpoint: self.endpoint.clone(),
            operation,
            message: format!("HTTP {status}: {}", text.trim()),
        }
    }
}

#[async_trait::async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn inspect(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        const OP: &str = "inspect";
        self.check_id(OP, id)?;
        let deadline = Instant::now() + self.timeout;
        let (status, body) = self
            .request(deadline, OP, Method::GET, &format!("/containers/{id}/json"))
            .await?;
        if status != StatusCode::OK {
            return Err(self.status_error(OP, id, status, &body));
        }
        let inspect: Inspect = serde_json::from_slice(&body).map_err(|e| RuntimeError::Call {
            endpoint: self.endpoint.clone(),
            operation: OP,
            message: format!("bad JSON: {e}"),
        })?;
        Ok(info_from_inspect(inspect))
    }

    /// `POST /containers/{id}/restart?t=N`: Docker sends SIGTERM, waits
    /// `grace` (whole seconds, rounded up), SIGKILLs, and starts it again.
    async fn restart(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        const OP: &str = "restart";
        self.check_id(OP, id)?;
        let deadline = Instant::now() + self.timeout;
        let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let (status, body) = self
            .request(
                deadline,
                OP,
                Method::POST,
                &format!("/containers/{id}/restart?t={secs}"),
            )
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(self.status_error(OP, id, status, &body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_dockerd_names() {
        assert_eq!(
            parse_cri_dockerd_name("/k8s_app_web-1_team-a_0b1c-22_3"),
            Some(CriDockerdName {
                container: "app".into(),
                pod: "web-1".into(),
                namespace: "team-a".into(),
                uid: "0b1c-22".into(),
                attempt: 3,
            })
        );
        for not in [
            "k8s_app_web_ns_uid",
            "k8s_app_web_ns_uid_x",
            "k8s__web_ns_uid_0",
            "my_app_web_ns_uid_0",
            "k8s_a_b_c_d_0_extra",
            "plain",
        ] {
            assert_eq!(parse_cri_dockerd_name(not), None, "{not}");
        }
    }

    #[test]
    fn inspect_mapping_prefers_labels_then_name() {
        let json = r#"{"Id":"abc","Name":"/k8s_app_web_team-a_u1_2","RestartCount":0,
            "State":{"Status":"running","Pid":77},
            "Config":{"Labels":{"io.kubernetes.pod.name":"web-from-label","annotation.team":"x"}}}"#;
        let info = info_from_inspect(serde_json::from_str(json).expect("valid json"));
        assert_eq!(info.id, "abc");
        assert_eq!(info.name.as_deref(), Some("app"));
        assert_eq!(info.pod_name.as_deref(), Some("web-from-label"));
        assert_eq!(info.pod_namespace.as_deref(), Some("team-a"));
        assert_eq!(info.pod_uid.as_deref(), Some("u1"));
        assert_eq!(info.restart_count, Some(2));
        assert_eq!(info.init_pid, Some(77));
        assert_eq!(info.annotations.get("team").map(String::as_str), Some("x"));

        let json = r#"{"Id":"def","Name":"/plain","State":{"Status":"exited","Pid":0},"Config":{"Labels":null}}"#;
        let info = info_from_inspect(serde_json::from_str(json).expect("valid json"));
        assert_eq!(info.name.as_deref(), Some("plain"));
        assert_eq!(info.pod_name, None);
        assert_eq!(info.state, ContainerState::Exited);
        assert_eq!(info.init_pid, None);
    }

    #[test]
    fn cri_dockerd_sandboxes_are_marked_like_cri_ones() {
        let json = r#"{"Id":"sb1","Name":"/k8s_POD_web_team-a_u1_0",
            "State":{"Status":"running","Pid":5},
            "Config":{"Labels":{"io.kubernetes.docker.type":"podsandbox","io.kubernetes.pod.name":"web"}}}"#;
        let info = info_from_inspect(serde_json::from_str(json).expect("valid json"));
        assert!(info.is_sandbox());
        assert_eq!(info.name, None);
        assert_eq!(info.pod_name.as_deref(), Some("web"));
        let json = r#"{"Id":"c1","Name":"/k8s_app_web_team-a_u1_0","State":{"Status":"running","Pid":6},
            "Config":{"Labels":{"io.kubernetes.docker.type":"container","io.kubernetes.sandbox.id":"sb1"}}}"#;
        let info = info_from_inspect(serde_json::from_str(json).expect("valid json"));
        assert!(!info.is_sandbox());
        assert_eq!(info.sandbox_id.as_deref(), Some("sb1"));
    }

    #[test]
    fn ids_that_would_change_the_path_are_refused() {
        assert!(valid_id("0123abcdef"));
        assert!(valid_id("k8s_app_web_ns_uid_0"));
        for bad in ["", "../x", "a/b", "a?b", "a b", "a%2f"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }
}
