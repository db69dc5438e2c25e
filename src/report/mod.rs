//! Report: everything the agent tells the outside world about what it saw
//! and did — Prometheus metrics ([`metrics`]) and the HTTP endpoints that
//! serve them with the liveness and readiness probes ([`http`]). Kubernetes
//! Events on the pod will live here too. Nothing in this module decides
//! anything: the loop calls it with plain values.

pub mod http;
pub mod metrics;

pub use http::{serve, serve_with_drain, Health, HealthState, HttpError, Readiness};
pub use metrics::{
    CleanupResult, EncodeError, Metrics, Operation, ScanErrorReason, SkipReason, Strategy,
};
