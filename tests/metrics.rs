//! The metrics endpoint as a scraper sees it: the server runs on a real
//! socket, the tests scrape it over HTTP and check names, types, labels and
//! values in the exposition, run `promtool check metrics` on it, and drive
//! `/health` and `/ready` through their states with a short interval.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use zombie_cleaner::attribute::RuntimeKind;
use zombie_cleaner::report::{
    serve, serve_with_drain, CleanupResult, HealthState, HttpError, Metrics, Operation,
    ScanErrorReason, SkipReason, Strategy,
};

const NODE: &str = "test-node-1";

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), HttpError>>,
}

async fn start(path: &str, health: Arc<HealthState>, metrics: Arc<Metrics>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        path.to_owned(),
        health,
        metrics,
        async move {
            let _ = stopped.await;
        },
    ));
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

impl Server {
    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let res = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops after shutdown")
            .expect("server task");
        assert!(res.is_ok(), "serve returned {res:?}");
    }
}

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

async fn request(addr: SocketAddr, method: &str, path: &str, accept: Option<&str>) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string());
    if let Some(accept) = accept {
        req = req.header(hyper::header::ACCEPT, accept);
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).expect("request"))
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).expect("utf-8 body"),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, None).await
}

/// One sample line: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: `# TYPE` lines (name → type) and samples.
#[derive(Debug)]
struct Exposition {
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    fn parse(text: &str) -> Self {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').expect("TYPE line");
                assert!(
                    types.insert(name.to_owned(), ty.to_owned()).is_none(),
                    "duplicate TYPE for {name}"
                );
            } else if line.starts_with('#') || line.is_empty() {
                continue;
            } else {
                samples.push(parse_sample(line));
            }
        }
        Exposition { types, samples }
    }

    /// The value of the one sample named `name` whose labels include `want`.
    fn value(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| {
                s.name == name
                    && want
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert_eq!(found.len(), 1, "{name}{want:?}: {found:?}");
        found[0].value
    }
}

fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').expect("sample has a value");
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest.strip_suffix('}').expect("closing brace");
            let mut labels = BTreeMap::new();
            let mut chars = body.chars().peekable();
            while chars.peek().is_some() {
                let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
                assert_eq!(chars.next(), Some('"'), "quoted value in {line}");
                let mut val = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => val.push(chars.next().expect("escaped char")),
                        '"' => break,
                        c => val.push(c),
                    }
                }
                if chars.peek() == Some(&',') {
                    chars.next();
                }
                labels.insert(key, val);
            }
            (name, labels)
        }
    };
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// Records a known set of values; the assertions below expect exactly these.
fn feed(m: &Metrics) {
    m.record_scan(
        7,
        2,
        &[(RuntimeKind::Containerd, 4), (RuntimeKind::Docker, 1)],
        Some(Duration::from_secs(90)),
        Duration::from_millis(3),
    );
    m.record_scan(
        7,
        2,
        &[(RuntimeKind::Containerd, 4), (RuntimeKind::Docker, 1)],
        Some(Duration::from_secs(95)),
        Duration::from_millis(40),
    );
    m.record_scan_error(ScanErrorReason::Timeout);
    m.record_cleanup(Strategy::Restart, CleanupResult::Timeout);
    m.record_cleanup(Strategy::KillInit, CleanupResult::Success);
    m.record_cleaned();
    m.record_cleaned();
    m.record_failure();
    m.record_timeout(RuntimeKind::Containerd, Operation::Restart);
    m.set_tracked(4);
    m.record_skip(SkipReason::Whitelisted);
    m.record_skip(SkipReason::Whitelisted);
    m.record_skip(SkipReason::DryRun);
}

/// The six SPEC metrics: exposed sample name and type.
const SPEC: [(&str, &str); 6] = [
    ("zombie_cleaner_zombie_processes_found", "gauge"),
    ("zombie_cleaner_containers_cleaned_total", "counter"),
    ("zombie_cleaner_cleanup_failures_total", "counter"),
    ("zombie_cleaner_check_duration_seconds", "histogram"),
    (
        "zombie_cleaner_container_operation_timeouts_total",
        "counter",
    ),
    ("zombie_cleaner_tracked_containers", "gauge"),
];

/// Every label key and the values it may take: the closed sets.
fn allowed_labels() -> BTreeMap<&'static str, BTreeSet<String>> {
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    // Both spellings of a bound: text 0.0.4 writes `1`, OpenMetrics `1.0`.
    let mut le: Vec<String> = zombie_cleaner::report::metrics::CHECK_DURATION_BUCKETS
        .iter()
        .flat_map(|b| [format!("{b}"), format!("{b:?}")])
        .collect();
    le.push("+Inf".into());
    BTreeMap::from([
        ("node", set(&[NODE])),
        ("le", le.into_iter().collect()),
        ("strategy", set(&["restart", "kill-init", "kill-shim"])),
        ("result", set(&["success", "failure", "timeout", "skipped"])),
        (
            "runtime",
            set(&["containerd", "cri-o", "docker", "unknown"]),
        ),
        ("operation", set(&["inspect", "restart", "probe"])),
        (
            "reason",
            set(&[
                "timeout",
                "proc_unreadable",
                "busy",
                "other",
                "whitelisted",
                "own_pod",
                "ignore_annotation",
                "unresolved",
                "budget_spent",
                "dry_run",
                "host_process",
            ]),
        ),
        ("version", set(&[env!("CARGO_PKG_VERSION")])),
    ])
}

fn assert_values(e: &Exposition) {
    let n = [("node", NODE)];
    assert_eq!(e.value("zombie_cleaner_zombie_processes_found", &n), 7.0);
    assert_eq!(e.value("zombie_cleaner_containers_cleaned_total", &n), 2.0);
    assert_eq!(e.value("zombie_cleaner_cleanup_failures_total", &n), 1.0);
    assert_eq!(
        e.value("zombie_cleaner_check_duration_seconds_count", &n),
        2.0
    );
    assert!((e.value("zombie_cleaner_check_duration_seconds_sum", &n) - 0.043).abs() < 1e-9);
    assert_eq!(
        e.value(
            "zombie_cleaner_check_duration_seconds_bucket",
            &[("node", NODE), ("le", "0.005")]
        ),
        1.0
    );
    assert_eq!(
        e.value(
            "zombie_cleaner_check_duration_seconds_bucket",
            &[("node", NODE), ("le", "+Inf")]
        ),
        2.0
    );
    assert_eq!(
        e.value("zombie_cleaner_container_operation_timeouts_total", &n),
        1.0
    );
    assert_eq!(e.value("zombie_cleaner_tracked_containers", &n), 4.0);
    assert_eq!(
        e.value(
            "zombie_cleaner_cleanups_total",
            &[("strategy", "restart"), ("result", "timeout")]
        ),
        1.0
    );
    assert_eq!(
        e.value(
            "zombie_cleaner_cleanups_total",
            &[("strategy", "kill-shim"), ("result", "success")]
        ),
        0.0
    );
    assert_eq!(e.value("zombie_cleaner_host_zombie_processes", &n), 2.0);
    assert_eq!(
        e.value(
            "zombie_cleaner_container_zombie_processes",
            &[("runtime", "containerd")]
        ),
        4.0
    );
    assert_eq!(
        e.value(
            "zombie_cleaner_container_zombie_processes",
            &[("runtime", "cri-o")]
        ),
        0.0
    );
    assert_eq!(
        e.value("zombie_cleaner_scan_errors_total", &[("reason", "timeout")]),
        1.0
    );
    assert_eq!(
        e.value(
            "zombie_cleaner_skipped_decisions_total",
            &[("reason", "whitelisted")]
        ),
        2.0
    );
    assert_eq!(
        e.value(
            "zombie_cleaner_runtime_operation_timeouts_total",
            &[("runtime", "containerd"), ("operation", "restart")]
        ),
        1.0
    );
    assert_eq!(
        e.value("zombie_cleaner_oldest_zombie_age_seconds", &n),
        95.0
    );
    let last = e.value("zombie_cleaner_last_successful_scan_timestamp_seconds", &n);
    assert!(last > 1.7e9, "unix seconds, got {last}");
    assert_eq!(
        e.value(
            "zombie_cleaner_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    let allowed = allowed_labels();
    for s in &e.samples {
        assert_eq!(
            s.labels.get("node").map(String::as_str),
            Some(NODE),
            "{s:?}"
        );
        for (k, v) in &s.labels {
            let values = allowed
                .get(k.as_str())
                .unwrap_or_else(|| panic!("label {k} not in a closed set: {s:?}"));
            assert!(values.contains(v), "label {k}={v} not in its set: {s:?}");
        }
    }
}

#[tokio::test]
async fn text_format_has_spec_names_types_node_label_and_values() {
    let metrics = Arc::new(Metrics::new(NODE));
    feed(&metrics);
    let health = Arc::new(HealthState::new(
        Instant::now(),
        Duration::from_secs(60),
        Duration::from_secs(30),
    ));
    let server = start("/metrics", health, metrics).await;

    let reply = get(server.addr, "/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let e = Exposition::parse(&reply.body);
    // In text 0.0.4 the TYPE line names the sample itself (with `_total`).
    for (name, ty) in SPEC {
        assert_eq!(e.types.get(name).map(String::as_str), Some(ty), "{name}");
    }
    assert!(!reply.body.contains("_total_total"), "{}", reply.body);
    assert_values(&e);

    promtool_check(&reply.body);
    server.shutdown().await;
}

#[tokio::test]
async fn openmetrics_on_request_with_the_same_samples() {
    let metrics = Arc::new(Metrics::new(NODE));
    feed(&metrics);
    let health = Arc::new(HealthState::new(
        Instant::now(),
        Duration::from_secs(60),
        Duration::from_secs(30),
    ));
    let server = start("/metrics", health, metrics).await;

    // The Accept header Prometheus 2.x sends.
    let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                  version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let reply = request(server.addr, "GET", "/metrics", Some(accept)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(reply.body.ends_with("# EOF\n"), "{}", reply.body);
    let e = Exposition::parse(&reply.body);
    // In OpenMetrics a counter family is named without `_total`, its sample
    // with it; the sample names are what PromQL sees.
    for (name, ty) in SPEC {
        let family = name.strip_suffix("_total").unwrap_or(name);
        assert_eq!(e.types.get(family).map(String::as_str), Some(ty), "{name}");
        let sample = if ty == "histogram" {
            format!("{name}_count")
        } else {
            name.to_owned()
        };
        assert!(
            e.samples.iter().any(|s| s.name == sample),
            "no sample {sample}"
        );
    }
    assert!(!reply.body.contains("_total_total"), "{}", reply.body);
    assert_values(&e);
    server.shutdown().await;
}

/// `promtool check metrics` (Debian package `prometheus`) reports nothing.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install the Debian package `prometheus` \
                 (scripts/metrics-deps.sh does it)"
            )
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics: {}: {report}",
        out.status
    );
}

#[tokio::test]
async fn health_and_ready_follow_the_loop() {
    let interval = Duration::from_millis(200);
    let margin = Duration::from_millis(200);
    let health = Arc::new(HealthState::new(Instant::now(), interval, margin));
    let past_limit = health.limit() + Duration::from_millis(200);
    let server = start("/metrics", health.clone(), Arc::new(Metrics::new(NODE))).await;

    // Start-up grace: alive, not ready.
    let r = get(server.addr, "/health").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.starts_with("ok: starting"), "{}", r.body);
    let r = get(server.addr, "/ready").await;
    assert_eq!(r.status, 503, "{}", r.body);

    // No cycle within the limit: dead.
    tokio::time::sleep(past_limit).await;
    let r = get(server.addr, "/health").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("no cycle completed"), "{}", r.body);

    // A cycle: alive and ready.
    health.cycle_completed(Instant::now());
    let r = get(server.addr, "/health").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(server.addr, "/ready").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "ready\n");

    // The loop stalls: dead again, still ready.
    tokio::time::sleep(past_limit).await;
    let r = get(server.addr, "/health").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("last cycle completed"), "{}", r.body);
    assert_eq!(get(server.addr, "/ready").await.status, 200);

    // Shutdown: not ready.
    health.set_shutting_down();
    let r = get(server.addr, "/ready").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("shutting down"), "{}", r.body);
    server.shutdown().await;
}

#[tokio::test]
async fn ready_before_first_cycle_when_loop_says_so() {
    let health = Arc::new(HealthState::new(
        Instant::now(),
        Duration::from_secs(60),
        Duration::from_secs(30),
    ));
    let server = start("/metrics", health.clone(), Arc::new(Metrics::new(NODE))).await;
    assert_eq!(get(server.addr, "/ready").await.status, 503);
    health.set_ready();
    assert_eq!(get(server.addr, "/ready").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn custom_path_unknown_paths_and_methods() {
    let health = Arc::new(HealthState::new(
        Instant::now(),
        Duration::from_secs(60),
        Duration::from_secs(30),
    ));
    let server = start("/custom/metrics", health, Arc::new(Metrics::new(NODE))).await;
    let r = get(server.addr, "/custom/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r
        .body
        .contains("zombie_cleaner_tracked_containers{node=\"test-node-1\"} 0"));
    for path in [
        "/metrics",
        "/",
        "/healthz",
        "/custom/metrics/x",
        "/health/x",
    ] {
        assert_eq!(get(server.addr, path).await.status, 404, "{path}");
    }
    let r = request(server.addr, "POST", "/custom/metrics", None).await;
    assert_eq!(r.status, 405);
    // HEAD: the status and headers of GET, no body.
    let r = request(server.addr, "HEAD", "/health", None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_path_must_not_shadow_the_probes() {
    for path in ["/health", "/ready", "metrics", ""] {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let health = Arc::new(HealthState::new(
            Instant::now(),
            Duration::from_secs(1),
            Duration::from_secs(1),
        ));
        let res = serve(
            listener,
            path.to_owned(),
            health,
            Arc::new(Metrics::new(NODE)),
            std::future::pending(),
        )
        .await;
        assert!(
            matches!(res, Err(HttpError::InvalidPath { .. })),
            "{path:?}: {res:?}"
        );
    }
}

#[tokio::test]
async fn shutdown_is_not_held_up_by_a_stalled_client() {
    use tokio::io::AsyncWriteExt as _;
    let health = Arc::new(HealthState::new(
        Instant::now(),
        Duration::from_secs(60),
        Duration::from_secs(30),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_with_drain(
        listener,
        "/metrics".to_owned(),
        health,
        Arc::new(Metrics::new(NODE)),
        async move {
            let _ = stopped.await;
        },
        Duration::from_millis(200),
    ));
    // A client that sends half a request and then nothing: without the
    // drain bound, graceful shutdown waits for it forever.
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    stalled
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // The server answers normally meanwhile.
    assert_eq!(get(addr, "/health").await.status, 200);
    let _ = stop.send(());
    let res = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("server stops after shutdown despite the stalled client")
        .expect("server task");
    assert!(res.is_ok(), "{res:?}");
    drop(stalled);
}
