//! Report: everything the agent tells the outside world about what it saw
//! and did — Prometheus metrics ([`metrics`]). Kubernetes Events on the pod
//! will live here too. Nothing in this module decides anything: the loop
//! calls it with plain values.

pub mod metrics;

pub use metrics::{
    CleanupResult, EncodeError, Metrics, Operation, ScanErrorReason, SkipReason, Strategy,
};
