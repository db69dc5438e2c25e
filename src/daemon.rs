//! Daemon: the cleaning loop. Every `check_interval` (the first tick after
//! a random delay, so nodes do not act in lockstep) it scans, attributes,
//! confirms, guards, cleans and reports. A failed cycle is logged, counted
//! and retried next tick: the loop never exits on a runtime or /proc error.
//! SIGTERM stops new work and lets in-flight cleanups finish; a changed
//! config file (or SIGHUP) is reloaded, and an invalid one is rejected while
//! the running config stays.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::Regex;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::attribute::{ContainerRef, RuntimeKind};
use crate::clean::{self, CleanReport, Outcome, StepResult, Strategy, Target};
use crate::config::{Config, ConfigErrors, ProcessEnv};
use crate::confirm::{Tracker, ZombieKey};
use crate::events::{ApiClient, EventType, PodEvent};
use crate::guard::{Decision, Guard, Identity, SkipReason};
use crate::report::http::{self, HealthState};
use crate::report::metrics::{self, CleanupResult, Metrics, Operation};
use crate::runtime::select::{self, RuntimePreference, Runtimes};
use crate::runtime::ContainerInfo;
use crate::scan::{self, ScanOptions, Zombie};
use crate::scan_command::{attribute_all, node_name};

/// How often the config file is checked for changes.
const RELOAD_POLL: Duration = Duration::from_secs(2);
/// How often to retry runtimes that did not answer.
const RECONNECT_EVERY: Duration = Duration::from_secs(60);
/// At most this many "zombie found" lines per cycle; the rest are logged in
/// the next cycles.
const MAX_DETECTION_LOGS: usize = 100;
/// Upper bound of the random delay before the first cycle.
const MAX_FIRST_DELAY: Duration = Duration::from_secs(30);

/// Reloads the config the way it was loaded at start-up (file, environment,
/// flags), so a reload changes only what the file changed.
pub type Reloader = Box<dyn Fn() -> Result<Config, ConfigErrors> + Send + Sync>;

/// Runs the daemon until SIGTERM or SIGINT. `watch_file` is the config file
/// to watch for changes.
pub fn main(cfg: Config, watch_file: Option<PathBuf>, reload: Reloader) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cfg, watch_file, reload)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "daemon stopped");
            ExitCode::FAILURE
        }
    }
}

/// Start-up failures; everything after start-up is logged and retried.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr} for metrics: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install the {0} signal handler: {1}")]
    Signal(&'static str, std::io::Error),
}

async fn run(cfg: Config, watch_file: Option<PathBuf>, reload: Reloader) -> Result<(), StartError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigterm =
        signal(SignalKind::terminate()).map_err(|e| StartError::Signal("SIGTERM", e))?;
    let mut sigint =
        signal(SignalKind::interrupt()).map_err(|e| StartError::Signal("SIGINT", e))?;
    let mut sighup = signal(SignalKind::hangup()).map_err(|e| StartError::Signal("SIGHUP", e))?;

    let node = node_name(&cfg);
    let metrics = Arc::new(Metrics::new(&node));
    let health = Arc::new(HealthState::new(
        Instant::now(),
        cfg.check_interval,
        health_margin(&cfg),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);

    let mut server = None;
    if cfg.metrics.enabled {
        let addr = format!("0.0.0.0:{}", cfg.metrics.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| StartError::Listen {
                addr: addr.clone(),
                source,
            })?;
        let mut rx = stop_rx.clone();
        let shutdown = async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let (path, h, m) = (cfg.metrics.path.clone(), health.clone(), metrics.clone());
        server = Some(tokio::spawn(async move {
            if let Err(e) = http::serve(listener, path, h, m, shutdown).await {
                tracing::error!(component = "report", error = %e, "metrics server stopped");
            }
        }));
        tracing::info!(component = "report", addr = %addr, path = %cfg.metrics.path, "serving metrics, /health and /ready");
    }

    let events = match ApiClient::in_cluster(&ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(component = "report", error = %e, "Kubernetes Events disabled");
            None
        }
    };
    let mut daemon = Daemon::new(cfg, node, metrics, health.clone(), events);
    tracing::info!(
        component = "daemon",
        node = %daemon.node,
        check_interval = %crate::config::format_duration(daemon.cfg.check_interval),
        confirm_count = daemon.cfg.confirm_count,
        dry_run = daemon.cfg.dry_run,
        strategies = %daemon.cfg.strategies.join(","),
        "zombie-cleaner started"
    );
    daemon.connect_runtimes().await;

    let mut last_file = watch_file.as_ref().and_then(|p| std::fs::read(p).ok());
    let mut reload_tick = tokio::time::interval(RELOAD_POLL);
    let first = jitter(daemon.cfg.check_interval.min(MAX_FIRST_DELAY));
    let mut next_cycle = tokio::time::Instant::now() + first;
    tracing::debug!(
        component = "daemon",
        first_cycle_in_ms = first.as_millis() as u64,
        "waiting for the first cycle"
    );
    loop {
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            _ = sighup.recv() => {
                tracing::info!(component = "config", "SIGHUP: reloading the config");
                daemon.apply_reload(reload());
                last_file = watch_file.as_ref().and_then(|p| std::fs::read(p).ok());
            }
            _ = reload_tick.tick() => {
                if let Some(path) = &watch_file {
                    let now = std::fs::read(path).ok();
                    if now.is_some() && now != last_file {
                        tracing::info!(component = "config", file = %path.display(), "config file changed: reloading");
                        last_file = now;
                        daemon.apply_reload(reload());
                    }
                }
            }
            _ = tokio::time::sleep_until(next_cycle) => {
                {
                    let work = daemon.cycle(&stop_rx);
                    tokio::pin!(work);
                    // A signal during a cycle stops new cleanups; those under
                    // way finish (bounded by container_timeout per step).
                    loop {
                        tokio::select! {
                            _ = &mut work => break,
                            _ = sigterm.recv() => { let _ = stop_tx.send(true); }
                            _ = sigint.recv() => { let _ = stop_tx.send(true); }
                        }
                    }
                }
                if *stop_rx.borrow() {
                    break;
                }
                next_cycle = tokio::time::Instant::now() + daemon.cfg.check_interval;
            }
        }
    }
    tracing::info!(component = "daemon", "shutting down");
    health.set_shutting_down();
    let _ = stop_tx.send(true);
    if let Some(s) = server {
        let _ = s.await;
    }
    Ok(())
}

/// Slack on top of two intervals before /health fails: a slow scan and the
/// first tick's random delay.
fn health_margin(cfg: &Config) -> Duration {
    cfg.process_timeout.max(Duration::from_secs(30)) + MAX_FIRST_DELAY
}

/// A random delay in `[0, max)`, from the standard library's per-process
/// random hash keys (no extra crate for one number).
fn jitter(max: Duration) -> Duration {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    let r = h.finish();
    let max_ms = max.as_millis().max(1) as u64;
    Duration::from_millis(r % max_ms)
}

/// What one cycle found and did, for tests and logs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CycleSummary {
    pub zombies: usize,
    pub host_zombies: usize,
    pub tracked: usize,
    pub confirmed: usize,
    pub cleaned: Vec<String>,
    pub failed: Vec<String>,
    pub skipped: Vec<(String, &'static str)>,
}

/// The loop's state between cycles.
pub struct Daemon {
    pub cfg: Config,
    pub node: String,
    metrics: Arc<Metrics>,
    health: Arc<HealthState>,
    tracker: Tracker,
    guard: Guard,
    chain: Vec<Strategy>,
    runtimes: Arc<Runtimes>,
    /// Identities resolved while their container is tracked; a container
    /// never resolved stays absent and is never acted on.
    identities: HashMap<ContainerRef, ContainerInfo>,
    /// Zombies seen last cycle, to log each one once when it appears.
    known: HashSet<ZombieKey>,
    /// When the runtimes were last (re)connected, to retry at most once
    /// a minute while a runtime is down.
    last_connect: Option<Instant>,
    events: Option<ApiClient>,
}

impl Daemon {
    pub fn new(
        cfg: Config,
        node: String,
        metrics: Arc<Metrics>,
        health: Arc<HealthState>,
        events: Option<ApiClient>,
    ) -> Daemon {
        let own_pod = own_pod_uid(&cfg);
        Daemon {
            tracker: Tracker::new(cfg.confirm_count),
            guard: Guard::new(
                compile(&cfg.whitelist_patterns),
                own_pod,
                cfg.max_cleanups_per_hour,
            ),
            chain: chain_of(&cfg),
            cfg,
            node,
            metrics,
            health,
            runtimes: Arc::new(Runtimes::new(Vec::new(), Vec::new())),
            identities: HashMap::new(),
            known: HashSet::new(),
            last_connect: None,
            events,
        }
    }

    /// Connects to the configured runtimes; no runtime is a warning, the
    /// agent still scans and reports.
    pub async fn connect_runtimes(&mut self) {
        let first = self.last_connect.is_none();
        self.last_connect = Some(Instant::now());
        let preference: RuntimePreference = self.cfg.container_runtime.parse().unwrap_or_default();
        let runtimes = select::connect_all(
            &self.cfg.runtime_endpoints,
            preference,
            self.cfg.container_timeout,
        )
        .await;
        for w in runtimes.warnings() {
            if first {
                tracing::warn!(component = "runtime", "{w}");
            } else {
                tracing::debug!(component = "runtime", "{w}");
            }
        }
        let names: Vec<String> = runtimes
            .runtimes()
            .map(|r| format!("{} at {}", r.kind().as_str(), r.endpoint()))
            .collect();
        if names.is_empty() {
            if first {
                tracing::warn!(component = "runtime", "no container runtime answered: zombies are reported, containers cannot be named or restarted");
            }
        } else {
            tracing::info!(component = "runtime", runtimes = %names.join(", "), "connected to container runtimes");
            self.health.set_ready();
        }
        self.runtimes = Arc::new(runtimes);
    }

    /// Applies a reloaded config, or keeps the running one on error.
    pub fn apply_reload(&mut self, new: Result<Config, ConfigErrors>) {
        let new = match new {
            Ok(c) => c,
            Err(errors) => {
                for e in &errors.0 {
                    tracing::error!(component = "config", error = %e, "new config rejected; the running config stays");
                }
                return;
            }
        };
        if new == self.cfg {
            return;
        }
        if new.metrics != self.cfg.metrics || new.logger != self.cfg.logger {
            tracing::warn!(
                component = "config",
                "metrics and logger settings change only after a restart"
            );
        }
        if new.confirm_count != self.cfg.confirm_count {
            // Counts towards the old threshold mean nothing for the new one.
            self.tracker = Tracker::new(new.confirm_count);
        }
        self.guard
            .reconfigure(compile(&new.whitelist_patterns), new.max_cleanups_per_hour);
        self.chain = chain_of(&new);
        let reconnect = new.runtime_endpoints != self.cfg.runtime_endpoints
            || new.container_runtime != self.cfg.container_runtime;
        self.cfg = Config {
            metrics: self.cfg.metrics.clone(),
            logger: self.cfg.logger.clone(),
            ..new
        };
        self.health
            .set_check_interval(self.cfg.check_interval, health_margin(&self.cfg));
        if reconnect {
            self.runtimes = Arc::new(Runtimes::new(Vec::new(), Vec::new()));
        }
        tracing::info!(
            component = "config",
            check_interval = %crate::config::format_duration(self.cfg.check_interval),
            confirm_count = self.cfg.confirm_count,
            dry_run = self.cfg.dry_run,
            "config reloaded"
        );
    }

    /// One pass of the pipeline. Never fails: problems are logged, counted
    /// and retried next cycle.
    pub async fn cycle(&mut self, stop: &watch::Receiver<bool>) -> CycleSummary {
        let started = Instant::now();
        let mut summary = CycleSummary::default();
        let opts = ScanOptions {
            proc_root: self.cfg.proc_root.clone(),
            timeout: self.cfg.process_timeout,
        };
        let scanned = tokio::task::spawn_blocking(move || scan::scan(&opts)).await;
        let snapshot = match scanned {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::error!(component = "scan", error = %e, "scan failed; retrying next cycle");
                self.metrics.record_scan_error((&e).into());
                return summary;
            }
            Err(e) => {
                tracing::error!(component = "scan", error = %e, "scan task failed; retrying next cycle");
                self.metrics
                    .record_scan_error(metrics::ScanErrorReason::Other);
                return summary;
            }
        };

        // Attribute (reads parents' cgroups: off the async thread).
        let cfg = self.cfg.clone();
        let attributed: Vec<(Zombie, Option<ContainerRef>)> = match tokio::task::spawn_blocking(
            move || {
                attribute_all(&snapshot, &cfg)
                    .into_iter()
                    .map(|(z, c)| (z.clone(), c))
                    .collect()
            },
        )
        .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(component = "attribute", error = %e, "attribution task failed; retrying next cycle");
                self.metrics
                    .record_scan_error(metrics::ScanErrorReason::Other);
                return summary;
            }
        };

        let mut seen: BTreeMap<ContainerRef, BTreeSet<ZombieKey>> = BTreeMap::new();
        let mut by_zombie: HashMap<ZombieKey, &Zombie> = HashMap::new();
        let mut by_runtime: BTreeMap<RuntimeKind, usize> = BTreeMap::new();
        let mut oldest: Option<f64> = None;
        for (z, c) in &attributed {
            let key = ZombieKey {
                pid: z.pid,
                start_time: z.start_time,
            };
            by_zombie.insert(key, z);
            oldest = Some(oldest.map_or(z.age_seconds, |o: f64| o.max(z.age_seconds)));
            match c {
                Some(c) => {
                    seen.entry(c.clone()).or_default().insert(key);
                    *by_runtime.entry(c.runtime).or_default() += 1;
                }
                None => summary.host_zombies += 1,
            }
        }
        summary.zombies = attributed.len();

        let observations = self.tracker.observe(seen);
        let tracked: HashSet<&ContainerRef> = observations.iter().map(|o| &o.container).collect();
        self.identities.retain(|c, _| tracked.contains(c));

        // Name what is new, once per container while it is tracked.
        if observations
            .iter()
            .any(|o| !self.identities.contains_key(&o.container))
        {
            self.ensure_runtimes(
                &observations
                    .iter()
                    .map(|o| o.container.clone())
                    .collect::<Vec<_>>(),
            )
            .await;
        }
        for o in &observations {
            if !self.identities.contains_key(&o.container) {
                if let Some(info) = self.resolve(&o.container).await {
                    self.identities.insert(o.container.clone(), info);
                }
            }
        }

        // Log each zombie once, when it first appears. Past the per-cycle
        // cap a zombie stays unknown, so a later cycle logs it: none is
        // left without its detection line.
        let mut new = 0usize;
        let mut known = HashSet::with_capacity(by_zombie.len());
        for (z, c) in &attributed {
            let key = ZombieKey {
                pid: z.pid,
                start_time: z.start_time,
            };
            if self.known.contains(&key) {
                known.insert(key);
                continue;
            }
            new += 1;
            if new <= MAX_DETECTION_LOGS {
                let info = c.as_ref().and_then(|c| self.identities.get(c));
                log_zombie(z, c.as_ref(), info);
                known.insert(key);
            }
        }
        if new > MAX_DETECTION_LOGS {
            tracing::info!(
                component = "scan",
                new_zombies = new,
                logged = MAX_DETECTION_LOGS,
                "more new zombies than logged one by one; the rest follow in the next cycles"
            );
        }
        self.known = known;

        // Decide.
        let now = Instant::now();
        let mut targets = Vec::new();
        for o in &observations {
            let info = self.identities.get(&o.container);
            let id = &o.container.id;
            if !o.confirmed {
                tracing::debug!(
                    component = "confirm",
                    container_id = %id,
                    pod_name = info.and_then(|i| i.pod_name.as_deref()).unwrap_or(""),
                    namespace = info.and_then(|i| i.pod_namespace.as_deref()).unwrap_or(""),
                    zombies = o.zombies.len(),
                    seen_in_scans = o.consecutive_scans,
                    confirm_count = self.cfg.confirm_count,
                    "zombies not yet confirmed: waiting"
                );
                continue;
            }
            summary.confirmed += 1;
            let identity = identity_of(info);
            let decision = self.guard.decide(&identity, now);
            let fields = Fields::of(&o.container, info);
            match decision {
                Decision::Skip(reason) => {
                    let pattern = match &reason {
                        SkipReason::Whitelisted { pattern } => pattern.as_str(),
                        _ => "",
                    };
                    tracing::info!(
                        component = "guard",
                        container_id = %id,
                        pod_name = fields.pod_name,
                        namespace = fields.namespace,
                        container_name = fields.container_name,
                        zombies = o.confirmed_zombies.len(),
                        reason = reason.as_str(),
                        pattern,
                        "confirmed zombies left alone"
                    );
                    self.metrics.record_skip((&reason).into());
                    summary.skipped.push((id.clone(), reason.as_str()));
                    // Confirm again from scratch before the next report.
                    self.tracker.forget(&o.container);
                }
                Decision::Act => {
                    if self.cfg.dry_run {
                        self.metrics.record_skip(metrics::SkipReason::DryRun);
                        summary.skipped.push((id.clone(), "dry_run"));
                    } else {
                        self.guard.record_cleanup(now);
                    }
                    targets.push(Target {
                        container: o.container.clone(),
                        info: info.cloned().unwrap_or_default(),
                        zombies: o.confirmed_zombies.iter().copied().collect(),
                    });
                }
            }
        }

        // Clean, at most max_concurrent_containers at once.
        let limit = Arc::new(Semaphore::new(self.cfg.max_concurrent_containers.max(1)));
        let mut tasks = JoinSet::new();
        for target in targets {
            if *stop.borrow() {
                tracing::info!(component = "clean", container_id = %target.container.id, "shutting down: cleanup not started");
                break;
            }
            let Ok(permit) = limit.clone().acquire_owned().await else {
                break;
            };
            let runtimes = self.runtimes.clone();
            let chain = self.chain.clone();
            let proc_root = self.cfg.proc_root.clone();
            let (timeout, dry_run) = (self.cfg.container_timeout, self.cfg.dry_run);
            tasks.spawn(async move {
                let _permit = permit;
                let rt = runtimes.for_container(&target.container);
                let report = clean::clean(&target, &chain, rt, &proc_root, timeout, dry_run).await;
                (target, report)
            });
        }
        while let Some(done) = tasks.join_next().await {
            let Ok((target, report)) = done else {
                tracing::error!(component = "clean", "a cleanup task failed");
                self.metrics.record_failure();
                continue;
            };
            self.tracker.forget(&target.container);
            self.account(&target, &report, &mut summary);
        }

        summary.tracked = self.tracker.tracked();
        self.metrics.set_tracked(summary.tracked);
        let by_runtime: Vec<(RuntimeKind, usize)> = by_runtime.into_iter().collect();
        self.metrics.record_scan(
            summary.zombies,
            summary.host_zombies,
            &by_runtime,
            oldest.map(Duration::from_secs_f64),
            started.elapsed(),
        );
        self.health.cycle_completed(Instant::now());
        tracing::debug!(
            component = "daemon",
            zombies = summary.zombies,
            host_zombies = summary.host_zombies,
            tracked = summary.tracked,
            confirmed = summary.confirmed,
            cleaned = summary.cleaned.len(),
            failed = summary.failed.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "cycle done"
        );
        summary
    }

    /// Reconnects when a container's runtime is not connected (the runtime
    /// was down at start-up, or the config changed).
    async fn ensure_runtimes(&mut self, containers: &[ContainerRef]) {
        let due = self
            .last_connect
            .is_none_or(|t| t.elapsed() >= RECONNECT_EVERY);
        if due
            && containers
                .iter()
                .any(|c| self.runtimes.for_container(c).is_none())
        {
            self.connect_runtimes().await;
        }
    }

    async fn resolve(&self, c: &ContainerRef) -> Option<ContainerInfo> {
        let rt = self.runtimes.for_container(c)?;
        match rt.inspect(&c.id).await {
            Ok(info) => Some(info),
            Err(e) => {
                if e.is_timeout() {
                    self.metrics.record_timeout(rt.kind(), Operation::Inspect);
                }
                tracing::warn!(component = "runtime", container_id = %c.id, error = %e, "cannot resolve the container's identity; it will not be acted on");
                None
            }
        }
    }

    fn account(&mut self, target: &Target, report: &CleanReport, summary: &mut CycleSummary) {
        let info = Some(&target.info).filter(|i| !i.id.is_empty());
        let fields = Fields::of(&target.container, info);
        for step in &report.steps {
            let result = match step.result {
                StepResult::Ok => CleanupResult::Success,
                StepResult::Failed(_) => CleanupResult::Failure,
                StepResult::TimedOut => CleanupResult::Timeout,
                StepResult::Skipped(_) => CleanupResult::Skipped,
            };
            self.metrics.record_cleanup(step.strategy, result);
        }
        if report.runtime_timed_out {
            self.metrics
                .record_timeout(target.container.runtime, Operation::Restart);
        }
        let steps: Vec<String> = report
            .steps
            .iter()
            .map(|s| format!("{}={}", s.strategy.as_str(), s.result.as_str()))
            .collect();
        let steps = steps.join(",");
        let id = target.container.id.clone();
        match report.outcome {
            Outcome::Cleaned(strategy) => {
                self.metrics.record_cleaned();
                summary.cleaned.push(id.clone());
                tracing::info!(component = "clean", container_id = %id, pod_name = fields.pod_name,
                    namespace = fields.namespace, container_name = fields.container_name,
                    strategy = strategy.as_str(), steps = %steps, zombies = target.zombies.len(),
                    "zombies removed");
                self.post_event(
                    target,
                    EventType::Normal,
                    "ZombiesCleaned",
                    strategy,
                    format!(
                    "zombie-cleaner removed {} lasting zombie process(es) of container {} by {}",
                    target.zombies.len(), fields.container_name, strategy.as_str()),
                );
            }
            Outcome::Failed => {
                self.metrics.record_failure();
                summary.failed.push(id.clone());
                tracing::error!(component = "clean", container_id = %id, pod_name = fields.pod_name,
                    namespace = fields.namespace, container_name = fields.container_name,
                    steps = %steps, zombies = target.zombies.len(),
                    "zombies remain after every strategy");
                let last = report
                    .steps
                    .last()
                    .map_or(Strategy::Restart, |s| s.strategy);
                self.post_event(target, EventType::Warning, "ZombieCleanupFailed", last, format!(
                    "zombie-cleaner could not remove {} lasting zombie process(es) of container {} (tried {steps})",
                    target.zombies.len(), fields.container_name));
            }
            Outcome::AlreadyGone => {
                tracing::info!(component = "clean", container_id = %id, pod_name = fields.pod_name,
                    namespace = fields.namespace, "confirmed zombies were already gone");
            }
            Outcome::DryRun => {
                tracing::info!(component = "clean", container_id = %id, pod_name = fields.pod_name,
                    namespace = fields.namespace, container_name = fields.container_name,
                    steps = %self.chain.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
                    zombies = target.zombies.len(), "dry run: nothing was done");
            }
        }
    }

    fn post_event(
        &self,
        target: &Target,
        kind: EventType,
        reason: &'static str,
        strategy: Strategy,
        message: String,
    ) {
        let Some(client) = self.events.clone() else {
            return;
        };
        let info = &target.info;
        let (Some(ns), Some(pod)) = (info.pod_namespace.clone(), info.pod_name.clone()) else {
            return;
        };
        let ev = PodEvent {
            namespace: ns,
            pod_name: pod,
            pod_uid: info.pod_uid.clone(),
            event_type: kind,
            reason,
            action: match strategy {
                Strategy::Restart => "Restart",
                Strategy::KillInit => "KillInit",
                Strategy::KillShim => "KillShim",
            },
            message,
        };
        let node = self.node.clone();
        tokio::spawn(async move {
            if let Err(e) = client.post(&node, &ev).await {
                tracing::warn!(component = "report", error = %e, pod_name = %ev.pod_name, namespace = %ev.namespace, "cannot post the Kubernetes Event");
            }
        });
    }
}

/// Container fields for log lines ("" when unknown).
struct Fields<'a> {
    pod_name: &'a str,
    namespace: &'a str,
    container_name: &'a str,
}

impl<'a> Fields<'a> {
    fn of(_c: &'a ContainerRef, info: Option<&'a ContainerInfo>) -> Fields<'a> {
        Fields {
            pod_name: info.and_then(|i| i.pod_name.as_deref()).unwrap_or(""),
            namespace: info.and_then(|i| i.pod_namespace.as_deref()).unwrap_or(""),
            container_name: info.and_then(|i| i.name.as_deref()).unwrap_or(""),
        }
    }
}

fn log_zombie(z: &Zombie, c: Option<&ContainerRef>, info: Option<&ContainerInfo>) {
    match c {
        None => tracing::info!(
            component = "scan",
            container_id = "",
            pod_name = "",
            namespace = "",
            zombie_pid = z.pid,
            zombie_ppid = z.ppid,
            zombie_cmdline = %z.cmdline,
            age_seconds = (z.age_seconds * 1000.0).round() / 1000.0,
            "host zombie found: reported, never acted on"
        ),
        Some(c) => {
            let f = Fields::of(c, info);
            tracing::info!(
                component = "scan",
                container_id = %c.id,
                runtime = c.runtime.as_str(),
                pod_name = f.pod_name,
                namespace = f.namespace,
                container_name = f.container_name,
                zombie_pid = z.pid,
                zombie_ppid = z.ppid,
                zombie_cmdline = %z.cmdline,
                age_seconds = (z.age_seconds * 1000.0).round() / 1000.0,
                "zombie found"
            )
        }
    }
}

/// The agent's own pod: `POD_UID` (downward API), else the pod named by the
/// agent's own cgroup. Never acting on it does not depend on the manifest.
fn own_pod_uid(cfg: &Config) -> Option<String> {
    std::env::var("POD_UID")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| {
            let own = std::fs::read_to_string(cfg.proc_root.join("self/cgroup")).ok()?;
            crate::attribute::container_from_cgroup_file(&own)?.pod_uid
        })
}

fn identity_of(info: Option<&ContainerInfo>) -> Identity {
    match info {
        None => Identity::default(),
        Some(i) => Identity {
            host: false,
            resolved: true,
            namespace: i.pod_namespace.clone(),
            pod_name: i.pod_name.clone(),
            container_name: i.name.clone(),
            pod_uid: i.pod_uid.clone(),
            annotations: i.annotations.clone(),
        },
    }
}

fn compile(patterns: &[String]) -> Vec<Regex> {
    // Validated when the config was loaded.
    patterns.iter().filter_map(|p| Regex::new(p).ok()).collect()
}

fn chain_of(cfg: &Config) -> Vec<Strategy> {
    cfg.strategies
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}
