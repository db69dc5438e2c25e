//! Events: posts a Kubernetes Event on the pod the agent acted on (or
//! refused to act on), so `kubectl describe pod` tells the story. A small
//! in-cluster client: the service account token (re-read on every call,
//! since projected tokens rotate), the cluster CA, one HTTPS POST to
//! `/api/v1/namespaces/{ns}/events`. Outside a cluster there is no sink and
//! nothing is sent. A failed post is logged and never stops the agent.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

use crate::logging::rfc3339;

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Where the API server is and how to authenticate.
#[derive(Clone)]
pub struct ApiClient {
    scheme: Scheme,
    host: String,
    port: u16,
    token_path: PathBuf,
    timeout: Duration,
}

#[derive(Clone)]
enum Scheme {
    Http,
    Https(Arc<rustls::ClientConfig>),
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no usable CA certificate in {0}")]
    Ca(PathBuf),
    #[error("bad API server address {0:?}")]
    Address(String),
    #[error("API server {host}: {message}")]
    Transport { host: String, message: String },
    #[error("API server {host} did not answer within {timeout:?}")]
    Timeout { host: String, timeout: Duration },
    #[error("API server refused the event: HTTP {status}: {body}")]
    Status { status: u16, body: String },
}

/// Normal or Warning, as Kubernetes spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// One event about one pod.
#[derive(Debug, Clone)]
pub struct PodEvent {
    pub namespace: String,
    pub pod_name: String,
    pub pod_uid: Option<String>,
    pub event_type: EventType,
    /// CamelCase reason from a closed set (`ZombiesCleaned`, `ZombieCleanupFailed`, ...).
    pub reason: &'static str,
    /// What was done (`Restart`, `KillInit`, `KillShim`, `None`).
    pub action: &'static str,
    pub message: String,
}

impl ApiClient {
    /// The in-cluster client, or `None` when not running in a pod
    /// (`KUBERNETES_SERVICE_HOST` unset).
    pub fn in_cluster(env: &dyn crate::config::Env) -> Result<Option<ApiClient>, EventError> {
        let Some(host) = env.var("KUBERNETES_SERVICE_HOST").filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let port = env
            .var("KUBERNETES_SERVICE_PORT")
            .unwrap_or_else(|| "443".into());
        let port: u16 = port
            .parse()
            .map_err(|_| EventError::Address(format!("{host}:{port}")))?;
        let dir = Path::new(SA_DIR);
        let tls = tls_config(&dir.join("ca.crt"))?;
        Ok(Some(ApiClient {
            scheme: Scheme::Https(tls),
            host,
            port,
            token_path: dir.join("token"),
            timeout: Duration::from_secs(10),
        }))
    }

    /// A client for a plain-HTTP API endpoint (`http://host:port`), as a
    /// local proxy (`kubectl proxy`) or a test server offers.
    pub fn plain_http(url: &str, token_path: PathBuf) -> Result<ApiClient, EventError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| EventError::Address(url.into()))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = rest
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?)))
            .ok_or_else(|| EventError::Address(url.into()))?;
        Ok(ApiClient {
            scheme: Scheme::Http,
            host,
            port,
            token_path,
            timeout: Duration::from_secs(10),
        })
    }

    /// Posts one event; bounded by the client's timeout.
    pub async fn post(&self, node: &str, ev: &PodEvent) -> Result<(), EventError> {
        let token =
            std::fs::read_to_string(&self.token_path).map_err(|source| EventError::Read {
                path: self.token_path.clone(),
                source,
            })?;
        let body = event_body(node, ev, SystemTime::now()).to_string();
        let path = format!("/api/v1/namespaces/{}/events", ev.namespace);
        let req = hyper::Request::post(path)
            .header(hyper::header::HOST, format!("{}:{}", self.host, self.port))
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", token.trim()),
            )
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ACCEPT, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("zombie-cleaner/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.transport(e))?;
        match tokio::time::timeout(self.timeout, self.send(req)).await {
            Ok(r) => r,
            Err(_) => Err(EventError::Timeout {
                host: self.host.clone(),
                timeout: self.timeout,
            }),
        }
    }

    async fn send(&self, req: hyper::Request<Full<Bytes>>) -> Result<(), EventError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| self.transport(e))?;
        let resp = match &self.scheme {
            Scheme::Http => self.exchange(TokioIo::new(tcp), req).await?,
            Scheme::Https(tls) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|_| EventError::Address(self.host.clone()))?;
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| self.transport(e))?;
                self.exchange(TokioIo::new(stream), req).await?
            }
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| {
                String::from_utf8_lossy(&b.to_bytes())
                    .chars()
                    .take(300)
                    .collect()
            })
            .unwrap_or_default();
        Err(EventError::Status { status, body })
    }

    async fn exchange<T>(
        &self,
        io: TokioIo<T>,
        req: hyper::Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, EventError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| self.transport(e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        sender
            .send_request(req)
            .await
            .map_err(|e| self.transport(e))
    }

    fn transport(&self, e: impl std::fmt::Display) -> EventError {
        EventError::Transport {
            host: self.host.clone(),
            message: e.to_string(),
        }
    }
}

fn tls_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, EventError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let pem = std::fs::read(ca).map_err(|source| EventError::Read {
        path: ca.to_owned(),
        source,
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(EventError::Ca(ca.to_owned()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| EventError::Ca(ca.to_owned()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The core/v1 Event object for `ev`.
pub fn event_body(node: &str, ev: &PodEvent, now: SystemTime) -> serde_json::Value {
    let ts = rfc3339(now);
    // Kubernetes timestamps are second precision.
    let ts_secs = format!("{}Z", &ts[..19]);
    let mut involved = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "name": ev.pod_name,
        "namespace": ev.namespace,
    });
    if let Some(uid) = &ev.pod_uid {
        involved["uid"] = json!(uid);
    }
    // Names must be DNS subdomains: keep the pod name's prefix short.
    let prefix: String = ev.pod_name.chars().take(200).collect();
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": format!("{prefix}.zombie-cleaner."),
            "namespace": ev.namespace,
        },
        "involvedObject": involved,
        "type": match ev.event_type { EventType::Normal => "Normal", EventType::Warning => "Warning" },
        "reason": ev.reason,
        "action": ev.action,
        "message": ev.message.chars().take(1024).collect::<String>(),
        "source": { "component": "zombie-cleaner", "host": node },
        "reportingComponent": "zombie-cleaner",
        "reportingInstance": node,
        "firstTimestamp": ts_secs,
        "lastTimestamp": ts_secs,
        "eventTime": serde_json::Value::Null,
        "count": 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_names_the_pod_and_the_agent() {
        let ev = PodEvent {
            namespace: "shop".into(),
            pod_name: "web-1".into(),
            pod_uid: Some("1234".into()),
            event_type: EventType::Warning,
            reason: "ZombieCleanupFailed",
            action: "KillInit",
            message: "3 zombies remain".into(),
        };
        let v = event_body("node-a", &ev, SystemTime::UNIX_EPOCH);
        assert_eq!(v["involvedObject"]["kind"], "Pod");
        assert_eq!(v["involvedObject"]["uid"], "1234");
        assert_eq!(v["metadata"]["namespace"], "shop");
        assert_eq!(v["type"], "Warning");
        assert_eq!(v["source"]["host"], "node-a");
        assert_eq!(v["firstTimestamp"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn plain_http_url_parsing() {
        assert!(ApiClient::plain_http("http://127.0.0.1:8001", "t".into()).is_ok());
        assert!(ApiClient::plain_http("https://x:1", "t".into()).is_err());
        assert!(ApiClient::plain_http("http://nohost", "t".into()).is_err());
    }

    #[test]
    fn outside_a_cluster_there_is_no_client() {
        let env: [(&str, &str); 0] = [];
        assert!(matches!(ApiClient::in_cluster(&env), Ok(None)));
    }
}
