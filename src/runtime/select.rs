//! Endpoint selection: which runtime endpoints to use and which one answers
//! for a given container. Each configured `unix://` endpoint is probed
//! (CRI `Version` or Docker `GET /_ping`) to learn its kind;
//! `container_runtime` narrows the choice; with no endpoints configured the
//! well-known sockets are probed. Endpoints that do not answer become
//! warnings, never a failure: `scan` still reports cgroup-level attribution.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::cri::{socket_path, CriRuntime};
use super::docker::DockerRuntime;
use super::{Runtime, RuntimeError};
use crate::attribute::{ContainerRef, RuntimeKind};

/// Sockets probed when no endpoint is configured, in this order.
pub const DEFAULT_ENDPOINTS: [&str; 4] = [
    "unix:///run/containerd/containerd.sock",
    "unix:///run/crio/crio.sock",
    "unix:///var/run/cri-dockerd.sock",
    "unix:///var/run/docker.sock",
];

/// `container_runtime`: which kind of runtime to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RuntimePreference {
    #[default]
    Auto,
    Containerd,
    CriO,
    Docker,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid container_runtime {0:?}: expected auto, containerd, cri-o or docker")]
pub struct PreferenceError(pub String);

impl FromStr for RuntimePreference {
    type Err = PreferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(RuntimePreference::Auto),
            "containerd" => Ok(RuntimePreference::Containerd),
            "cri-o" | "crio" => Ok(RuntimePreference::CriO),
            "docker" => Ok(RuntimePreference::Docker),
            _ => Err(PreferenceError(s.to_owned())),
        }
    }
}

impl RuntimePreference {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimePreference::Auto => "auto",
            RuntimePreference::Containerd => "containerd",
            RuntimePreference::CriO => "cri-o",
            RuntimePreference::Docker => "docker",
        }
    }

    fn accepts(self, kind: RuntimeKind) -> bool {
        match self {
            RuntimePreference::Auto => kind != RuntimeKind::Unknown,
            RuntimePreference::Containerd => kind == RuntimeKind::Containerd,
            RuntimePreference::CriO => kind == RuntimeKind::CriO,
            RuntimePreference::Docker => kind == RuntimeKind::Docker,
        }
    }

    /// The default sockets worth probing for this preference.
    fn default_endpoints(self) -> Vec<String> {
        let wanted: &[usize] = match self {
            RuntimePreference::Auto => &[0, 1, 2, 3],
            RuntimePreference::Containerd => &[0],
            RuntimePreference::CriO => &[1],
            RuntimePreference::Docker => &[2, 3],
        };
        wanted
            .iter()
            .map(|&i| DEFAULT_ENDPOINTS[i].to_owned())
            .collect()
    }
}

/// Checks an endpoint URL without connecting, for config validation: the
/// error names the value.
pub fn parse_endpoint(url: &str) -> Result<std::path::PathBuf, RuntimeError> {
    socket_path(url)
}

/// Parses the `RUNTIME_ENDPOINTS` form: comma-separated URLs, blanks ignored.
pub fn split_endpoints(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The connected runtimes, plus one clear warning per endpoint that could
/// not be used.
#[derive(Default)]
pub struct Runtimes {
    runtimes: Vec<Box<dyn Runtime>>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for Runtimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let endpoints: Vec<(&str, &str)> = self
            .runtimes
            .iter()
            .map(|r| (r.endpoint(), r.kind().as_str()))
            .collect();
        f.debug_struct("Runtimes")
            .field("runtimes", &endpoints)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl Runtimes {
    /// Builds a set from already-connected runtimes (tests use fakes).
    /// Earlier entries win when two serve the same kind.
    pub fn new(runtimes: Vec<Box<dyn Runtime>>, warnings: Vec<String>) -> Self {
        Runtimes { runtimes, warnings }
    }

    pub fn runtimes(&self) -> impl Iterator<Item = &dyn Runtime> {
        self.runtimes.iter().map(|r| r.as_ref())
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn is_empty(&self) -> bool {
        self.runtimes.is_empty()
    }

    /// The runtime that manages `c`, from the kind its cgroup or shim
    /// names. A Docker container runs in containerd's `moby` namespace and
    /// is only known to the Docker endpoint; containerd containers outside
    /// the CRI namespace (`ctr`, nerdctl) are known to no CRI endpoint.
    pub fn for_container(&self, c: &ContainerRef) -> Option<&dyn Runtime> {
        let kind = match (c.runtime, c.namespace.as_deref()) {
            (RuntimeKind::Docker, _) | (RuntimeKind::Containerd, Some("moby")) => {
                RuntimeKind::Docker
            }
            (RuntimeKind::Containerd, None | Some("k8s.io")) => RuntimeKind::Containerd,
            (RuntimeKind::Containerd, Some(_)) => return None,
            (RuntimeKind::CriO, _) => RuntimeKind::CriO,
            (RuntimeKind::Unknown, _) => return None,
        };
        self.runtimes().find(|r| r.kind() == kind)
    }
}

/// One probed endpoint.
enum Probe {
    Connected(Box<dyn Runtime>),
    Failed(String),
    /// Default socket that does not exist: normal, reported only in summary.
    Absent,
}

async fn probe(endpoint: String, explicit: bool, timeout: Duration) -> Probe {
    let path = match socket_path(&endpoint) {
        Ok(p) => p,
        Err(e) => return Probe::Failed(e.to_string()),
    };
    if !path.exists() {
        return if explicit {
            Probe::Failed(format!(
                "runtime endpoint {endpoint}: socket {} does not exist",
                path.display()
            ))
        } else {
            Probe::Absent
        };
    }
    // Try the likely protocol first: a wrong guess costs one failed
    // handshake, and each attempt is bounded by `timeout`.
    let docker_first = looks_like_docker_engine(&path);
    let first = if docker_first {
        probe_docker(&endpoint, timeout).await
    } else {
        probe_cri(&endpoint, timeout).await
    };
    let first_err = match first {
        Ok(rt) => return Probe::Connected(rt),
        Err(e) => e,
    };
    if first_err.is_timeout() {
        // A hung socket would hang the second protocol too.
        return Probe::Failed(first_err.to_string());
    }
    let second = if docker_first {
        probe_cri(&endpoint, timeout).await
    } else {
        probe_docker(&endpoint, timeout).await
    };
    match second {
        Ok(rt) => Probe::Connected(rt),
        Err(second_err) => Probe::Failed(format!(
            "runtime endpoint {endpoint}: neither CRI nor Docker Engine answered ({first_err}; {second_err})"
        )),
    }
}

fn looks_like_docker_engine(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("docker") && !n.contains("cri-dockerd"))
}

async fn probe_cri(endpoint: &str, timeout: Duration) -> Result<Box<dyn Runtime>, RuntimeError> {
    let rt = CriRuntime::connect(endpoint, timeout).await?;
    Ok(Box::new(rt))
}

async fn probe_docker(endpoint: &str, timeout: Duration) -> Result<Box<dyn Runtime>, RuntimeError> {
    let rt = DockerRuntime::connect(endpoint, timeout).await?;
    Ok(Box::new(rt))
}

/// Connects to every endpoint (all at once, each bounded by `timeout`) and
/// keeps those `preference` accepts. An empty `endpoints` probes
/// [`DEFAULT_ENDPOINTS`]. Invalid URLs and unreachable sockets are
/// warnings naming the endpoint; use [`parse_endpoint`] to reject bad URLs
/// at config time.
pub async fn connect_all(
    endpoints: &[String],
    preference: RuntimePreference,
    timeout: Duration,
) -> Runtimes {
    let explicit = !endpoints.is_empty();
    let list = if explicit {
        endpoints.to_vec()
    } else {
        preference.default_endpoints()
    };
    let mut set = tokio::task::JoinSet::new();
    for (i, endpoint) in list.iter().enumerate() {
        let endpoint = endpoint.clone();
        set.spawn(async move { (i, probe(endpoint, explicit, timeout).await) });
    }
    let mut probes: Vec<(usize, Probe)> = Vec::with_capacity(list.len());
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(p) => probes.push(p),
            Err(e) => probes.push((usize::MAX, Probe::Failed(format!("probe task failed: {e}")))),
        }
    }
    probes.sort_by_key(|(i, _)| *i);

    let mut runtimes: Vec<Box<dyn Runtime>> = Vec::new();
    let mut warnings = Vec::new();
    for (_, p) in probes {
        match p {
            Probe::Connected(rt) if preference.accepts(rt.kind()) => runtimes.push(rt),
            Probe::Connected(rt) => warnings.push(format!(
                "runtime endpoint {} is {}, skipped: container_runtime is {}",
                rt.endpoint(),
                rt.kind().as_str(),
                preference.as_str()
            )),
            Probe::Failed(w) => warnings.push(w),
            Probe::Absent => {}
        }
    }
    // The Docker Engine knows every Docker container; cri-dockerd (a CRI
    // endpoint of kind Docker) only the kubelet's. Prefer the Engine.
    runtimes.sort_by_key(|r| {
        r.kind() == RuntimeKind::Docker && !looks_like_docker_engine_url(r.endpoint())
    });
    if runtimes.is_empty() {
        warnings.push(format!(
            "no container runtime answered (tried {}): zombies are attributed from cgroups only",
            list.join(", ")
        ));
    }
    Runtimes { runtimes, warnings }
}

fn looks_like_docker_engine_url(endpoint: &str) -> bool {
    socket_path(endpoint).is_ok_and(|p| looks_like_docker_engine(&p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ContainerInfo;

    #[test]
    fn preferences_parse() {
        assert_eq!("auto".parse(), Ok(RuntimePreference::Auto));
        assert_eq!("containerd".parse(), Ok(RuntimePreference::Containerd));
        assert_eq!("cri-o".parse(), Ok(RuntimePreference::CriO));
        assert_eq!("Docker".parse(), Ok(RuntimePreference::Docker));
        let err = "podman"
            .parse::<RuntimePreference>()
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("podman")));
    }

    #[test]
    fn env_form_splits_on_commas() {
        assert_eq!(
            split_endpoints(" unix:///a.sock,,unix:///b.sock "),
            vec!["unix:///a.sock".to_owned(), "unix:///b.sock".to_owned()]
        );
    }

    struct Fake(RuntimeKind, &'static str);

    #[async_trait::async_trait]
    impl Runtime for Fake {
        fn kind(&self) -> RuntimeKind {
            self.0
        }
        fn endpoint(&self) -> &str {
            self.1
        }
        async fn inspect(&self, _id: &str) -> Result<ContainerInfo, RuntimeError> {
            Ok(ContainerInfo::default())
        }
        async fn restart(&self, _id: &str, _grace: Duration) -> Result<(), RuntimeError> {
            Ok(())
        }
    }

    fn cref(runtime: RuntimeKind, namespace: Option<&str>) -> ContainerRef {
        ContainerRef {
            runtime,
            id: "x".into(),
            pod_uid: None,
            namespace: namespace.map(str::to_owned),
        }
    }

    #[test]
    fn containers_go_to_the_runtime_that_manages_them() {
        let rts = Runtimes::new(
            vec![
                Box::new(Fake(RuntimeKind::Containerd, "cri")),
                Box::new(Fake(RuntimeKind::Docker, "engine")),
            ],
            vec![],
        );
        let ep = |c: ContainerRef| rts.for_container(&c).map(|r| r.endpoint().to_owned());
        assert_eq!(
            ep(cref(RuntimeKind::Docker, None)).as_deref(),
            Some("engine")
        );
        assert_eq!(
            ep(cref(RuntimeKind::Containerd, Some("moby"))).as_deref(),
            Some("engine")
        );
        assert_eq!(
            ep(cref(RuntimeKind::Containerd, None)).as_deref(),
            Some("cri")
        );
        assert_eq!(
            ep(cref(RuntimeKind::Containerd, Some("k8s.io"))).as_deref(),
            Some("cri")
        );
        assert_eq!(ep(cref(RuntimeKind::Containerd, Some("default"))), None);
        assert_eq!(ep(cref(RuntimeKind::CriO, None)), None);
        assert_eq!(ep(cref(RuntimeKind::Unknown, None)), None);
    }

    #[tokio::test]
    async fn unusable_endpoints_are_warnings_naming_them() {
        let missing = "unix:///nonexistent/zc-test/runtime.sock".to_owned();
        let invalid = "tcp://127.0.0.1:2375".to_owned();
        let rts = connect_all(
            &[missing.clone(), invalid.clone()],
            RuntimePreference::Auto,
            Duration::from_secs(1),
        )
        .await;
        assert!(rts.is_empty());
        let w = rts.warnings();
        assert!(
            w.iter()
                .any(|w| w.contains("/nonexistent/zc-test/runtime.sock")),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.contains(&invalid)), "{w:?}");
    }
}
