//! The agent's Prometheus metrics: one [`Metrics`] value owns its own
//! [`Registry`] (no process-wide default registry), carries the node name as
//! a constant `node` label on every sample, and offers plain recording
//! methods the loop calls. Every other label value comes from a closed Rust
//! enum in this module, so the number of series is fixed at start-up and
//! never grows with pods, containers or pids.
//!
//! Naming: `prometheus-client` appends the type suffix itself (a counter
//! registered as `x` is exposed as `x_total`, an info as `x_info`), so the
//! names below are registered without it; `tests/metrics.rs` parses the
//! exposition to check that the exposed names are exactly the SPEC ones.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::{
    prometheus_text, text, EncodeLabelSet, EncodeLabelValue, LabelValueEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::attribute::RuntimeKind;
use crate::scan::ScanError;

/// Content type of [`Metrics::encode`] (OpenMetrics 1.0 text), what
/// Prometheus asks for first in its `Accept` header.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Content type of [`Metrics::encode_prometheus_text`] (text format 0.0.4),
/// served to clients that do not ask for OpenMetrics (curl, `promtool`).
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the scan-duration buckets, in seconds: a scan of a small
/// host takes about a millisecond, `process_timeout` caps it at 10 s by
/// default; anything longer lands in `+Inf`.
pub const CHECK_DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Encoding the registry failed. Writing into a `String` cannot fail, so
/// this only happens if a label encoder reports an error; kept typed rather
/// than unwrapped because the agent must never panic.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode metrics in {format} format")]
pub struct EncodeError {
    pub format: &'static str,
}

/// Writes a closed-set label value given by `as_str`.
macro_rules! label_value {
    ($ty:ty) => {
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    };
}

/// Declares a closed label enum with its exposed strings and `ALL` list, so
/// the metric families can be pre-populated with every value.
macro_rules! closed_label {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exposed label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        label_value!($name);
    };
}

// A step of the cleaning chain: the strategy type itself is the label.
pub use crate::clean::Strategy;
label_value!(Strategy);

closed_label! {
    /// How one strategy step ended.
    CleanupResult {
        /// The step ran and the confirmed zombies are gone.
        Success => "success",
        /// The step ran (or failed to run) and the zombies are still there.
        Failure => "failure",
        /// The runtime did not answer in time.
        Timeout => "timeout",
        /// The step was not attempted (dry run, not applicable).
        Skipped => "skipped",
    }
}

closed_label! {
    /// Why a scan failed or was incomplete.
    ScanErrorReason {
        /// The scan did not finish within `process_timeout`.
        Timeout => "timeout",
        /// The proc root (or a required file in it) could not be read.
        ProcUnreadable => "proc_unreadable",
        /// The previous scan was still running.
        Busy => "busy",
        /// Anything else.
        Other => "other",
    }
}

closed_label! {
    /// Why a container with confirmed zombies was not acted on.
    SkipReason {
        /// A whitelist pattern matched.
        Whitelisted => "whitelisted",
        /// The container belongs to the agent's own pod.
        OwnPod => "own_pod",
        /// The pod is annotated `zombie-cleaner.io/ignore: "true"`.
        IgnoreAnnotation => "ignore_annotation",
        /// The container's pod identity could never be resolved.
        Unresolved => "unresolved",
        /// `max_cleanups_per_hour` is spent on this node.
        BudgetSpent => "budget_spent",
        /// `dry_run` is on.
        DryRun => "dry_run",
        /// The zombie belongs to no container.
        HostProcess => "host_process",
    }
}

closed_label! {
    /// A container runtime call that can time out.
    Operation {
        /// Reading a container's status/identity.
        Inspect => "inspect",
        /// Stopping/restarting a container.
        Restart => "restart",
        /// Checking that the runtime answers at all.
        Probe => "probe",
    }
}

label_value!(RuntimeKind);

/// All runtime kinds, so the per-runtime series exist from the start.
const RUNTIMES: [RuntimeKind; 4] = [
    RuntimeKind::Containerd,
    RuntimeKind::CriO,
    RuntimeKind::Docker,
    RuntimeKind::Unknown,
];

impl From<&crate::guard::SkipReason> for SkipReason {
    fn from(r: &crate::guard::SkipReason) -> Self {
        use crate::guard::SkipReason as G;
        match r {
            G::Whitelisted { .. } => SkipReason::Whitelisted,
            G::OwnPod => SkipReason::OwnPod,
            G::IgnoreAnnotation => SkipReason::IgnoreAnnotation,
            G::Unresolved => SkipReason::Unresolved,
            G::BudgetSpent => SkipReason::BudgetSpent,
            G::HostProcess => SkipReason::HostProcess,
        }
    }
}

impl From<&ScanError> for ScanErrorReason {
    fn from(err: &ScanError) -> Self {
        match err {
            ScanError::ProcRoot { .. }
            | ScanError::Uptime { .. }
            | ScanError::NoProcesses { .. } => ScanErrorReason::ProcUnreadable,
            ScanError::Timeout { .. } => ScanErrorReason::Timeout,
            ScanError::Busy { .. } => ScanErrorReason::Busy,
            ScanError::Spawn { .. } | ScanError::WorkerLost { .. } => ScanErrorReason::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CleanupLabels {
    strategy: Strategy,
    result: CleanupResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RuntimeLabels {
    runtime: RuntimeKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ScanErrorLabels {
    reason: ScanErrorReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SkipLabels {
    reason: SkipReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TimeoutLabels {
    runtime: RuntimeKind,
    operation: Operation,
}

type F64Gauge = Gauge<f64, AtomicU64>;

/// The agent's metrics and the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    // SPEC metrics.
    zombies_found: Gauge,
    containers_cleaned: Counter,
    cleanup_failures: Counter,
    check_duration: Histogram,
    operation_timeouts: Counter,
    tracked_containers: Gauge,
    // Finer-grained ones.
    cleanups: Family<CleanupLabels, Counter>,
    host_zombies: Gauge,
    zombies_by_runtime: Family<RuntimeLabels, Gauge>,
    scan_errors: Family<ScanErrorLabels, Counter>,
    skipped: Family<SkipLabels, Counter>,
    runtime_timeouts: Family<TimeoutLabels, Counter>,
    oldest_zombie_age: F64Gauge,
    last_success: F64Gauge,
}

impl Metrics {
    /// Builds the registry with every metric at zero and every closed-set
    /// series present (so `rate()` has a starting point), labelled with
    /// `node` (from `NODE_NAME`, else the hostname: the caller decides).
    pub fn new(node: &str) -> Self {
        let mut registry = Registry::with_labels(std::iter::once((
            Cow::Borrowed("node"),
            Cow::Owned(node.to_owned()),
        )));

        let zombies_found = Gauge::default();
        registry.register(
            "zombie_cleaner_zombie_processes_found",
            "Zombie processes found in the last scan",
            zombies_found.clone(),
        );
        let containers_cleaned = Counter::default();
        registry.register(
            "zombie_cleaner_containers_cleaned",
            "Containers whose zombies were removed",
            containers_cleaned.clone(),
        );
        let cleanup_failures = Counter::default();
        registry.register(
            "zombie_cleaner_cleanup_failures",
            "Containers whose cleanup failed after every strategy",
            cleanup_failures.clone(),
        );
        let check_duration = Histogram::new(CHECK_DURATION_BUCKETS);
        registry.register_with_unit(
            "zombie_cleaner_check_duration",
            "Time one scan cycle took",
            Unit::Seconds,
            check_duration.clone(),
        );
        let operation_timeouts = Counter::default();
        registry.register(
            "zombie_cleaner_container_operation_timeouts",
            "Container runtime operations that timed out",
            operation_timeouts.clone(),
        );
        let tracked_containers = Gauge::default();
        registry.register(
            "zombie_cleaner_tracked_containers",
            "Containers currently tracked with zombies awaiting confirmation or cleanup",
            tracked_containers.clone(),
        );

        let cleanups = Family::<CleanupLabels, Counter>::default();
        for &strategy in &crate::clean::DEFAULT_CHAIN {
            for &result in CleanupResult::ALL {
                drop(cleanups.get_or_create(&CleanupLabels { strategy, result }));
            }
        }
        registry.register(
            "zombie_cleaner_cleanups",
            "Cleanup steps by strategy and result",
            cleanups.clone(),
        );
        let host_zombies = Gauge::default();
        registry.register(
            "zombie_cleaner_host_zombie_processes",
            "Zombie processes in the last scan that belong to no container",
            host_zombies.clone(),
        );
        let zombies_by_runtime = Family::<RuntimeLabels, Gauge>::default();
        for runtime in RUNTIMES {
            drop(zombies_by_runtime.get_or_create(&RuntimeLabels { runtime }));
        }
        registry.register(
            "zombie_cleaner_container_zombie_processes",
            "Zombie processes in the last scan attributed to a container, by runtime",
            zombies_by_runtime.clone(),
        );
        let scan_errors = Family::<ScanErrorLabels, Counter>::default();
        for &reason in ScanErrorReason::ALL {
            drop(scan_errors.get_or_create(&ScanErrorLabels { reason }));
        }
        registry.register(
            "zombie_cleaner_scan_errors",
            "Failed or incomplete scans by reason",
            scan_errors.clone(),
        );
        let skipped = Family::<SkipLabels, Counter>::default();
        for &reason in SkipReason::ALL {
            drop(skipped.get_or_create(&SkipLabels { reason }));
        }
        registry.register(
            "zombie_cleaner_skipped_decisions",
            "Decisions not to act on a container with zombies, by reason",
            skipped.clone(),
        );
        let runtime_timeouts = Family::<TimeoutLabels, Counter>::default();
        for runtime in RUNTIMES {
            for &operation in Operation::ALL {
                drop(runtime_timeouts.get_or_create(&TimeoutLabels { runtime, operation }));
            }
        }
        registry.register(
            "zombie_cleaner_runtime_operation_timeouts",
            "Container runtime operations that timed out, by runtime and operation",
            runtime_timeouts.clone(),
        );
        let oldest_zombie_age = F64Gauge::default();
        registry.register_with_unit(
            "zombie_cleaner_oldest_zombie_age",
            "Age of the oldest zombie in the last scan, 0 when there is none",
            Unit::Seconds,
            oldest_zombie_age.clone(),
        );
        let last_success = F64Gauge::default();
        registry.register(
            "zombie_cleaner_last_successful_scan_timestamp_seconds",
            "Unix time of the last successful scan, 0 before the first",
            last_success.clone(),
        );
        registry.register(
            "zombie_cleaner_build",
            "Build information",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );

        Metrics {
            registry,
            zombies_found,
            containers_cleaned,
            cleanup_failures,
            check_duration,
            operation_timeouts,
            tracked_containers,
            cleanups,
            host_zombies,
            zombies_by_runtime,
            scan_errors,
            skipped,
            runtime_timeouts,
            oldest_zombie_age,
            last_success,
        }
    }

    /// Records a successful scan: `found` zombies in all, `host` of them in
    /// no container, the container ones counted per runtime in `by_runtime`
    /// (repeated runtimes are summed; runtimes absent are set to 0), the age
    /// of the oldest zombie, and how long the cycle took. Also stamps the
    /// last-successful-scan time with the wall clock.
    pub fn record_scan(
        &self,
        found: usize,
        host: usize,
        by_runtime: &[(RuntimeKind, usize)],
        oldest_age: Option<Duration>,
        duration: Duration,
    ) {
        self.zombies_found.set(to_i64(found));
        self.host_zombies.set(to_i64(host));
        for runtime in RUNTIMES {
            let n: usize = by_runtime
                .iter()
                .filter(|(r, _)| *r == runtime)
                .map(|(_, n)| *n)
                .sum();
            self.zombies_by_runtime
                .get_or_create(&RuntimeLabels { runtime })
                .set(to_i64(n));
        }
        self.oldest_zombie_age
            .set(oldest_age.map_or(0.0, |a| a.as_secs_f64()));
        self.check_duration.observe(duration.as_secs_f64());
        // A clock before 1970 is a broken host; 0 reads as "never" there.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_success.set(now);
    }

    /// Counts a failed scan. The gauges keep the last good scan's values.
    pub fn record_scan_error(&self, reason: ScanErrorReason) {
        self.scan_errors
            .get_or_create(&ScanErrorLabels { reason })
            .inc();
    }

    /// Counts one strategy step's outcome. Independent of
    /// [`record_cleaned`](Self::record_cleaned) / [`record_failure`](Self::record_failure),
    /// which count containers, not steps.
    pub fn record_cleanup(&self, strategy: Strategy, result: CleanupResult) {
        self.cleanups
            .get_or_create(&CleanupLabels { strategy, result })
            .inc();
    }

    /// Counts a container whose zombies are gone after cleaning.
    pub fn record_cleaned(&self) {
        self.containers_cleaned.inc();
    }

    /// Counts a container that still has its zombies after every strategy.
    pub fn record_failure(&self) {
        self.cleanup_failures.inc();
    }

    /// Counts a runtime operation that timed out, both in the SPEC total and
    /// by runtime and operation.
    pub fn record_timeout(&self, runtime: RuntimeKind, operation: Operation) {
        self.operation_timeouts.inc();
        self.runtime_timeouts
            .get_or_create(&TimeoutLabels { runtime, operation })
            .inc();
    }

    /// Sets the number of containers currently tracked.
    pub fn set_tracked(&self, n: usize) {
        self.tracked_containers.set(to_i64(n));
    }

    /// Counts a decision not to act, by reason.
    pub fn record_skip(&self, reason: SkipReason) {
        self.skipped.get_or_create(&SkipLabels { reason }).inc();
    }

    /// The OpenMetrics 1.0 text exposition (ends with `# EOF`); serve it
    /// with [`OPENMETRICS_CONTENT_TYPE`].
    pub fn encode(&self) -> Result<String, EncodeError> {
        let mut out = String::with_capacity(8 * 1024);
        text::encode(&mut out, &self.registry).map_err(|_| EncodeError {
            format: "OpenMetrics",
        })?;
        Ok(out)
    }

    /// The Prometheus text format 0.0.4 exposition (`# TYPE x_total counter`,
    /// no `# EOF`); serve it with [`PROMETHEUS_TEXT_CONTENT_TYPE`].
    pub fn encode_prometheus_text(&self) -> Result<String, EncodeError> {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_text::encode(&mut out, &self.registry).map_err(|_| EncodeError {
            format: "Prometheus text 0.0.4",
        })?;
        Ok(out)
    }
}

/// Counts never reach `i64::MAX`; saturate rather than wrap if one did.
fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_documented_strings() {
        let all: Vec<&str> = crate::clean::DEFAULT_CHAIN
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(all, ["restart", "kill-init", "kill-shim"]);
        let all: Vec<&str> = SkipReason::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            all,
            [
                "whitelisted",
                "own_pod",
                "ignore_annotation",
                "unresolved",
                "budget_spent",
                "dry_run",
                "host_process"
            ]
        );
    }

    #[test]
    fn every_sample_carries_the_node_label() {
        let m = Metrics::new("node-a");
        m.record_scan(3, 1, &[(RuntimeKind::Docker, 2)], None, Duration::ZERO);
        for text in [m.encode(), m.encode_prometheus_text()] {
            let text = text.expect("encode");
            let samples: Vec<&str> = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .collect();
            assert!(samples.len() > 50, "{text}");
            for s in samples {
                assert!(s.contains("node=\"node-a\""), "no node label: {s}");
            }
        }
    }

    #[test]
    fn scan_error_maps_to_reason() {
        let err = ScanError::Timeout {
            path: "/proc".into(),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(ScanErrorReason::from(&err), ScanErrorReason::Timeout);
    }

    #[test]
    fn by_runtime_sums_and_resets() {
        let m = Metrics::new("n");
        let rt = |t: &str, r: &str| {
            t.lines()
                .find(|l| {
                    l.starts_with("zombie_cleaner_container_zombie_processes{")
                        && l.contains(&format!("runtime=\"{r}\""))
                })
                .map(|l| l.rsplit(' ').next().unwrap_or("").to_owned())
        };
        m.record_scan(
            5,
            0,
            &[(RuntimeKind::Docker, 2), (RuntimeKind::Docker, 3)],
            None,
            Duration::ZERO,
        );
        let t = m.encode().expect("encode");
        assert_eq!(rt(&t, "docker").as_deref(), Some("5"));
        m.record_scan(0, 0, &[], None, Duration::ZERO);
        let t = m.encode().expect("encode");
        assert_eq!(rt(&t, "docker").as_deref(), Some("0"));
        assert_eq!(rt(&t, "cri-o").as_deref(), Some("0"));
    }
}
