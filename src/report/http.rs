//! The agent's HTTP endpoints on the metrics port: `<path>` (default
//! `/metrics`) serves [`Metrics`], `/health` is the liveness probe, `/ready`
//! the readiness probe; every other path is 404. [`HealthState`] is what the
//! loop updates and the probes read; it holds no clock of its own (callers
//! pass `now`), so its rules are tested with made-up instants.
//!
//! Liveness: healthy while the loop has completed a cycle within
//! `2 × check_interval + margin` of `now`. Before the first cycle the same
//! limit counts from start-up, which is the start-up grace: the first cycle
//! runs after a random delay of at most one interval, so it is due well
//! before the limit. A loop stuck in a hung scan or runtime call therefore
//! fails the probe after two missed cycles and the kubelet restarts it.
//!
//! Readiness: ready once the loop says it can act — [`HealthState::set_ready`]
//! (e.g. when the runtime connection is up) or the first completed cycle,
//! whichever comes first — and not ready again once shutdown has begun.
//! Readiness never goes back to "not ready" because of a slow cycle: that is
//! liveness's job, and flapping readiness would only drop the metrics
//! endpoint from the Service.

use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE};

const TEXT: &str = "text/plain; charset=utf-8";

/// Why the HTTP server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The metrics path must be an absolute path distinct from the probes.
    #[error("invalid metrics path {path:?}: must start with '/' and not be /health or /ready")]
    InvalidPath { path: String },
    /// The server failed while serving on `addr`.
    #[error("metrics server on {addr} failed: {source}")]
    Serve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// What `/health` answers, with the reason shown in its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No cycle yet, still within the start-up grace.
    Starting {
        since_start: Duration,
        limit: Duration,
    },
    /// The last cycle completed recently enough.
    Healthy {
        since_last: Duration,
        limit: Duration,
    },
    /// No cycle ever completed and the grace is over.
    NeverCompleted {
        since_start: Duration,
        limit: Duration,
    },
    /// The last completed cycle is too old.
    Stale {
        since_last: Duration,
        limit: Duration,
    },
}

impl Health {
    /// Whether the probe passes.
    pub fn is_ok(self) -> bool {
        matches!(self, Health::Starting { .. } | Health::Healthy { .. })
    }
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Health::Starting { since_start, limit } => write!(
                f,
                "ok: starting, no cycle yet ({:.1}s since start, limit {:.1}s)",
                since_start.as_secs_f64(),
                limit.as_secs_f64()
            ),
            Health::Healthy { since_last, limit } => write!(
                f,
                "ok: last cycle completed {:.1}s ago (limit {:.1}s)",
                since_last.as_secs_f64(),
                limit.as_secs_f64()
            ),
            Health::NeverCompleted { since_start, limit } => write!(
                f,
                "unhealthy: no cycle completed in {:.1}s since start (limit {:.1}s)",
                since_start.as_secs_f64(),
                limit.as_secs_f64()
            ),
            Health::Stale { since_last, limit } => write!(
                f,
                "unhealthy: last cycle completed {:.1}s ago (limit {:.1}s)",
                since_last.as_secs_f64(),
                limit.as_secs_f64()
            ),
        }
    }
}

/// What `/ready` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotYet,
    ShuttingDown,
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Readiness::Ready => "ready",
            Readiness::NotYet => "not ready: no cycle completed and runtime not connected yet",
            Readiness::ShuttingDown => "not ready: shutting down",
        })
    }
}

fn limit_nanos(check_interval: Duration, margin: Duration) -> u64 {
    let limit = check_interval.saturating_mul(2).saturating_add(margin);
    u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX)
}

/// Liveness and readiness state, shared between the loop (writer) and the
/// HTTP server (reader) without locks.
#[derive(Debug)]
pub struct HealthState {
    started: Instant,
    /// The liveness limit in nanoseconds; a reload may change it.
    limit_nanos: AtomicU64,
    /// Nanoseconds from `started` to the last completed cycle, plus one;
    /// 0 means no cycle yet.
    last_cycle: AtomicU64,
    ready: AtomicBool,
    shutting_down: AtomicBool,
}

impl HealthState {
    /// `started` is when the loop started; the liveness limit is
    /// `2 × check_interval + margin` (a margin of `process_timeout` or 30 s
    /// covers a slow scan and the first tick's random delay).
    pub fn new(started: Instant, check_interval: Duration, margin: Duration) -> Self {
        HealthState {
            started,
            limit_nanos: AtomicU64::new(limit_nanos(check_interval, margin)),
            last_cycle: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// The liveness limit, `2 × check_interval + margin`.
    pub fn limit(&self) -> Duration {
        Duration::from_nanos(self.limit_nanos.load(Ordering::Relaxed))
    }

    /// A reloaded config changed `check_interval`: the limit follows, so a
    /// longer interval does not make a healthy agent look dead.
    pub fn set_check_interval(&self, check_interval: Duration, margin: Duration) {
        self.limit_nanos
            .store(limit_nanos(check_interval, margin), Ordering::Relaxed);
    }

    /// The loop completed a cycle at `now` (a cycle whose scan failed does
    /// not count: a scan that keeps failing makes the agent unhealthy).
    /// Also makes the agent ready.
    pub fn cycle_completed(&self, now: Instant) {
        let nanos = now.saturating_duration_since(self.started).as_nanos();
        let stamp = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
        // fetch_max: an update from a late caller never moves time backwards.
        self.last_cycle.fetch_max(stamp, Ordering::Relaxed);
        self.ready.store(true, Ordering::Relaxed);
    }

    /// The loop can act (e.g. the runtime answered) before its first cycle.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// Shutdown began: stop advertising readiness.
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
    }

    /// The liveness verdict at `now`.
    pub fn health(&self, now: Instant) -> Health {
        let limit = self.limit();
        match self.last_cycle.load(Ordering::Relaxed) {
            0 => {
                let since_start = now.saturating_duration_since(self.started);
                if since_start <= limit {
                    Health::Starting { since_start, limit }
                } else {
                    Health::NeverCompleted { since_start, limit }
                }
            }
            stamp => {
                let last = self.started + Duration::from_nanos(stamp - 1);
                let since_last = now.saturating_duration_since(last);
                if since_last <= limit {
                    Health::Healthy { since_last, limit }
                } else {
                    Health::Stale { since_last, limit }
                }
            }
        }
    }

    /// The readiness verdict.
    pub fn readiness(&self) -> Readiness {
        if self.shutting_down.load(Ordering::Relaxed) {
            Readiness::ShuttingDown
        } else if self.ready.load(Ordering::Relaxed) {
            Readiness::Ready
        } else {
            Readiness::NotYet
        }
    }
}

#[derive(Clone)]
struct App {
    path: Arc<str>,
    health: Arc<HealthState>,
    metrics: Arc<Metrics>,
}

/// How long [`serve`] lets in-flight requests finish after `shutdown`.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// Serves the endpoints on `listener` until `shutdown` completes, then lets
/// in-flight requests finish for at most [`SHUTDOWN_DRAIN`] and returns.
/// `path` is the metrics path (`metrics.path` in the config).
pub async fn serve<F>(
    listener: TcpListener,
    path: String,
    health: Arc<HealthState>,
    metrics: Arc<Metrics>,
    shutdown: F,
) -> Result<(), HttpError>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with_drain(listener, path, health, metrics, shutdown, SHUTDOWN_DRAIN).await
}

/// [`serve`] with the drain time given.
pub async fn serve_with_drain<F>(
    listener: TcpListener,
    path: String,
    health: Arc<HealthState>,
    metrics: Arc<Metrics>,
    shutdown: F,
    drain: Duration,
) -> Result<(), HttpError>
where
    F: Future<Output = ()> + Send + 'static,
{
    if !path.starts_with('/') || path == "/health" || path == "/ready" {
        return Err(HttpError::InvalidPath { path });
    }
    let addr = listener
        .local_addr()
        .map_or_else(|_| "<unknown address>".to_owned(), |a| a.to_string());
    let app = App {
        path: path.into(),
        health,
        metrics,
    };
    // One fallback handler matching the path by hand: the configured path is
    // never parsed as a route pattern, so no path can make the router panic.
    let router = Router::new().fallback(handle).with_state(app);
    let (begun, begun_rx) = oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = begun.send(());
    };
    let serving = axum::serve(listener, router)
        .with_graceful_shutdown(signal)
        .into_future();
    // Graceful shutdown waits for every open connection; a client stalled in
    // the middle of a request would hold the agent's exit until SIGKILL.
    let drained = async move {
        match begun_rx.await {
            Ok(()) => tokio::time::sleep(drain).await,
            // The server ended on its own; `serving` has the result.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        res = serving => res.map_err(|source| HttpError::Serve { addr, source }),
        () = drained => {
            tracing::warn!(component = "report", %addr, "metrics server: connections still open after drain, closing");
            Ok(())
        }
    }
}

async fn handle(State(app): State<App>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD"), (header::CONTENT_TYPE, TEXT)],
            "method not allowed\n",
        )
            .into_response();
    }
    let path = uri.path();
    if path == &*app.path {
        return metrics_response(&app.metrics, &headers);
    }
    match path {
        "/health" => {
            let health = app.health.health(Instant::now());
            let status = if health.is_ok() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (
                status,
                [(header::CONTENT_TYPE, TEXT)],
                format!("{health}\n"),
            )
                .into_response()
        }
        "/ready" => {
            let readiness = app.health.readiness();
            let status = if readiness == Readiness::Ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (
                status,
                [(header::CONTENT_TYPE, TEXT)],
                format!("{readiness}\n"),
            )
                .into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, TEXT)],
            "not found\n",
        )
            .into_response(),
    }
}

/// OpenMetrics when the client asks for it (Prometheus does, first in its
/// `Accept`), the classic text format otherwise: `promtool check metrics`
/// and older scrapers only understand the latter (a counter's `# TYPE` line
/// names `x` in OpenMetrics but `x_total` in text 0.0.4).
fn metrics_response(metrics: &Metrics, headers: &HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (body, content_type) = if wants_openmetrics {
        (metrics.encode(), OPENMETRICS_CONTENT_TYPE)
    } else {
        (
            metrics.encode_prometheus_text(),
            PROMETHEUS_TEXT_CONTENT_TYPE,
        )
    };
    match body {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(err) => {
            tracing::error!(component = "report", error = %err, "cannot encode metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, TEXT)],
                format!("{err}\n"),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_longer_interval_after_reload_moves_the_limit() {
        let t0 = Instant::now();
        let h = HealthState::new(t0, S, S);
        h.cycle_completed(t0);
        assert!(!h.health(t0 + 10 * S).is_ok());
        h.set_check_interval(300 * S, S);
        assert_eq!(h.limit(), 601 * S);
        assert!(h.health(t0 + 10 * S).is_ok());
    }

    #[test]
    fn starting_then_never_completed() {
        let t0 = Instant::now();
        let h = HealthState::new(t0, 10 * S, 5 * S);
        assert_eq!(h.limit(), 25 * S);
        assert!(h.health(t0).is_ok());
        assert!(matches!(h.health(t0 + 25 * S), Health::Starting { .. }));
        assert!(matches!(
            h.health(t0 + 26 * S),
            Health::NeverCompleted { .. }
        ));
    }

    #[test]
    fn healthy_then_stale_then_healthy_again() {
        let t0 = Instant::now();
        let h = HealthState::new(t0, 10 * S, 5 * S);
        h.cycle_completed(t0 + 20 * S);
        assert!(matches!(h.health(t0 + 45 * S), Health::Healthy { .. }));
        let stale = h.health(t0 + 46 * S);
        assert_eq!(
            stale,
            Health::Stale {
                since_last: 26 * S,
                limit: 25 * S
            }
        );
        assert!(!stale.is_ok());
        // An older stamp arriving late does not move the last cycle back.
        h.cycle_completed(t0 + 50 * S);
        h.cycle_completed(t0 + 30 * S);
        assert!(h.health(t0 + 75 * S).is_ok());
        assert!(!h.health(t0 + 76 * S).is_ok());
    }

    #[test]
    fn readiness_follows_the_loop() {
        let t0 = Instant::now();
        let h = HealthState::new(t0, S, S);
        assert_eq!(h.readiness(), Readiness::NotYet);
        h.cycle_completed(t0);
        assert_eq!(h.readiness(), Readiness::Ready);
        h.set_shutting_down();
        assert_eq!(h.readiness(), Readiness::ShuttingDown);

        let h = HealthState::new(t0, S, S);
        h.set_ready();
        assert_eq!(h.readiness(), Readiness::Ready);
    }
}
