//! A real Prometheus (Debian's `/usr/bin/prometheus`) scrapes the agent's
//! metrics server every second while the test feeds the metrics, then the
//! three PromQL queries of SPEC must answer with the node label and finite
//! values. Prometheus runs on its own port with its own temporary storage
//! and is killed by pid when the test ends, also when it fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use zombie_cleaner::attribute::RuntimeKind;
use zombie_cleaner::report::{serve, HealthState, Metrics};

const NODE: &str = "prom-test-node";
const PROMETHEUS: &str = "/usr/bin/prometheus";
const DEADLINE: Duration = Duration::from_secs(30);

const Q_FOUND: &str = "sum(zombie_cleaner_zombie_processes_found) by (node)";
const Q_SUCCESS_RATIO: &str = "rate(zombie_cleaner_containers_cleaned_total[5m]) / \
     (rate(zombie_cleaner_containers_cleaned_total[5m]) + rate(zombie_cleaner_cleanup_failures_total[5m]))";
const Q_P95: &str =
    "histogram_quantile(0.95, rate(zombie_cleaner_check_duration_seconds_bucket[5m]))";

/// The Prometheus child: killed (by its pid, through `Child`) and reaped on
/// drop, so a failing assertion does not leave it running.
struct PrometheusGuard {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for PrometheusGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PrometheusGuard {
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind for a free port");
    l.local_addr().expect("local_addr").port()
}

fn start_prometheus(target: SocketAddr, port: u16) -> PrometheusGuard {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} missing: install the Debian package `prometheus` (scripts/metrics-deps.sh)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: zombie-cleaner\n    static_configs:\n      \
             - targets: ['{target}']\n"
        ),
    )
    .expect("write config");
    let log = dir.path().join("prometheus.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {PROMETHEUS}: {e}"));
    PrometheusGuard {
        child,
        log,
        _dir: dir,
    }
}

/// GET over HTTP/1.1; `None` while the server does not answer yet.
async fn get(addr: SocketAddr, path_and_query: &str) -> Option<(u16, String)> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path_and_query)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .ok()?;
    let resp = sender.send_request(req).await.ok()?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The result vector of an instant query, if the query succeeded.
async fn query(prom: SocketAddr, q: &str) -> Result<Vec<Value>, String> {
    let path = format!("/api/v1/query?query={}", percent_encode(q));
    let (status, body) = get(prom, &path)
        .await
        .ok_or_else(|| "no answer".to_owned())?;
    let json: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status != 200 || json["status"] != "success" {
        return Err(format!("HTTP {status}: {body}"));
    }
    json["data"]["result"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("no result array: {body}"))
}

/// Checks one result vector: one series labelled with our node whose value
/// satisfies `ok`.
fn check(result: &[Value], ok: impl Fn(f64) -> bool) -> Result<f64, String> {
    let [series] = result else {
        return Err(format!("want one series, got {result:?}"));
    };
    if series["metric"]["node"] != NODE {
        return Err(format!("node label missing or wrong: {series}"));
    }
    let value: f64 = series["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no value: {series}"))?;
    if value.is_finite() && ok(value) {
        Ok(value)
    } else {
        Err(format!("value {value} out of range: {series}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_answers_the_spec_queries() {
    let metrics = Arc::new(Metrics::new(NODE));
    let health = Arc::new(HealthState::new(
        Instant::now(),
        Duration::from_secs(1),
        Duration::from_secs(30),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = listener.local_addr().expect("local_addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        "/metrics".to_owned(),
        health,
        metrics.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    // The loop's stand-in: a scan every 200 ms of 2..=40 ms, every scan
    // cleans a container, every third one fails one.
    let feeder = {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            for i in 0u64.. {
                metrics.record_scan(
                    5,
                    1,
                    &[(RuntimeKind::Containerd, 4)],
                    Some(Duration::from_secs(60 + i)),
                    Duration::from_millis(2 + (i * 7) % 39),
                );
                metrics.record_cleaned();
                if i % 3 == 0 {
                    metrics.record_failure();
                }
                metrics.set_tracked(2);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let port = free_port();
    let prom_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let prom = start_prometheus(target, port);

    let start = Instant::now();
    let mut last = Vec::new();
    let mut done = false;
    while start.elapsed() < DEADLINE {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A scrape error (e.g. a parse failure of our exposition) fails at once.
        if let Some((200, body)) = get(prom_addr, "/api/v1/targets").await {
            let json: Value = serde_json::from_str(&body).expect("targets JSON");
            for t in json["data"]["activeTargets"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let err = t["lastError"].as_str().unwrap_or("");
                assert!(err.is_empty(), "Prometheus cannot scrape us: {err}");
            }
        }
        let results = [
            query(prom_addr, Q_FOUND)
                .await
                .and_then(|r| check(&r, |v| v == 5.0)),
            query(prom_addr, Q_SUCCESS_RATIO)
                .await
                .and_then(|r| check(&r, |v| v > 0.0 && v < 1.0)),
            query(prom_addr, Q_P95)
                .await
                .and_then(|r| check(&r, |v| v > 0.0 && v <= 0.05)),
        ];
        done = results.iter().all(Result::is_ok);
        last = results.to_vec();
        if done {
            break;
        }
    }
    assert!(
        done,
        "within {DEADLINE:?} the SPEC queries did not all answer:\n{Q_FOUND}: {:?}\n\
         {Q_SUCCESS_RATIO}: {:?}\n{Q_P95}: {:?}\nprometheus log:\n{}",
        last.first(),
        last.get(1),
        last.get(2),
        prom.log_tail()
    );

    // Prometheus negotiated OpenMetrics: only that format has an `info` type.
    let (status, body) = get(prom_addr, "/api/v1/metadata?metric=zombie_cleaner_build")
        .await
        .expect("metadata answer");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""type":"info""#), "{body}");

    drop(prom);
    feeder.abort();
    let _ = stop.send(());
    let res = server.await.expect("server task");
    assert!(res.is_ok(), "{res:?}");
}
