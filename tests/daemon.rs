//! The cleaning loop end to end, against the real containerd (CRI) and
//! Docker Engine of the test lab. Cycles are driven one by one, so "after
//! exactly confirm_count scans" is asserted without timing. Tests run one at
//! a time: each daemon scans the whole host, and the guard (identity never
//! resolved → never acted on) keeps it away from containers of other labs
//! and of the machine.

#[path = "lab/mod.rs"]
mod lab;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lab::{alive, wait_zombies, zombie_command, ContainerSpec, Daemons, Lab};
use tokio::sync::{watch, Mutex};
use zombie_cleaner::config::Config;
use zombie_cleaner::daemon::{CycleSummary, Daemon};
use zombie_cleaner::report::http::HealthState;
use zombie_cleaner::report::metrics::Metrics;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn config(endpoints: Vec<String>, edit: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config {
        check_interval: Duration::from_secs(1),
        confirm_count: 3,
        container_timeout: Duration::from_secs(5),
        runtime_endpoints: endpoints,
        ..Config::default()
    };
    edit(&mut c);
    c
}

struct Harness {
    daemon: Daemon,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
    _stop_tx: watch::Sender<bool>,
}

impl Harness {
    async fn new(cfg: Config) -> Harness {
        let metrics = Arc::new(Metrics::new("test-node"));
        let health = Arc::new(HealthState::new(
            Instant::now(),
            cfg.check_interval,
            Duration::from_secs(30),
        ));
        let mut daemon = Daemon::new(cfg, "test-node".into(), metrics.clone(), health, None);
        daemon.connect_runtimes().await;
        let (tx, rx) = watch::channel(false);
        Harness {
            daemon,
            metrics,
            stop: rx,
            _stop_tx: tx,
        }
    }

    async fn cycle(&mut self) -> CycleSummary {
        self.daemon.cycle(&self.stop).await
    }

    /// The value of a sample in the Prometheus text exposition.
    fn metric(&self, name_and_labels: &str) -> f64 {
        let text = self.metrics.encode_prometheus_text().expect("encode");
        text.lines()
            .find(|l| l.starts_with(name_and_labels))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no sample {name_and_labels} in\n{text}"))
    }
}

fn all_alive(zombies: &[(i32, u64)]) -> bool {
    zombies.iter().all(|&(pid, start)| alive(pid, start))
}

fn none_alive(zombies: &[(i32, u64)]) -> bool {
    zombies.iter().all(|&(pid, start)| !alive(pid, start))
}

/// Nothing was done or decided about container `id` (other containers on
/// the machine are not this test's business).
fn untouched(s: &CycleSummary, id: &str) -> bool {
    !s.cleaned.iter().chain(&s.failed).any(|c| c == id) && !s.skipped.iter().any(|(c, _)| c == id)
}

/// The host pid of a container's PID 1: the parent of its zombies.
fn init_of(zombies: &[(i32, u64)]) -> (i32, u64) {
    let (pid, _) = zombies[0];
    let ppid = lab::proc_stat(pid).expect("zombie stat").ppid;
    let start = lab::proc_stat(ppid).expect("init stat").start_time;
    (ppid, start)
}

async fn cri_lab() -> Lab {
    Lab::start_with(Daemons {
        containerd: true,
        docker: false,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_is_restarted_after_exactly_confirm_count_scans() {
    let _one = ONE_AT_A_TIME.lock().await;
    let lab = cri_lab().await;
    let pod = lab
        .create_pod(
            "shop",
            "web",
            &[ContainerSpec::new("app", zombie_command(3, false))],
            false,
        )
        .await;
    let id = pod.container_id("app").to_owned();
    let zombies = wait_zombies(&id, 3);
    let mut h = Harness::new(config(vec![lab.cri_endpoint()], |c| {
        c.strategies = vec!["restart".into()];
        // PID 1 of a container ignores SIGTERM unless it handles it: the
        // stop takes the grace period, then SIGKILL.
        c.container_timeout = Duration::from_secs(10);
    }))
    .await;

    for scan in 1..3 {
        let s = h.cycle().await;
        assert!(s.cleaned.is_empty(), "acted after {scan} scans: {s:?}");
        assert!(all_alive(&zombies), "zombies gone after {scan} scans");
    }
    let s = h.cycle().await;
    assert_eq!(s.cleaned, vec![id.clone()], "{s:?}");
    assert!(none_alive(&zombies), "old zombies still there");
    assert_eq!(
        h.metric("zombie_cleaner_containers_cleaned_total{"),
        1.0,
        "cleaned counter"
    );
    assert_eq!(
        h.metric("zombie_cleaner_cleanups_total{node=\"test-node\",strategy=\"restart\",result=\"success\"}"),
        1.0
    );
    // The tracker forgot the container: nothing is confirmed right away.
    let s = h.cycle().await;
    assert!(s.cleaned.is_empty() && s.failed.is_empty(), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_zombies_never_trigger() {
    let _one = ONE_AT_A_TIME.lock().await;
    let lab = cri_lab().await;
    // PID 1 keeps two zombies until a line arrives on its FIFO, then reaps
    // them (`wait`) and sleeps.
    let script = "F=/tmp/.zc-fifo; rm -f $F; mkfifo $F; i=0; \
        while [ $i -lt 2 ]; do (exec 5>$F; exec sleep 0) & i=$((i+1)); done; \
        read x 3<>$F <$F; wait; exec sleep 2147483647";
    let pod = lab
        .create_pod(
            "shop",
            "probe",
            &[ContainerSpec::new(
                "app",
                vec!["sh".into(), "-c".into(), script.into()],
            )],
            false,
        )
        .await;
    let id = pod.container_id("app").to_owned();
    let zombies = wait_zombies(&id, 2);
    let init = init_of(&zombies);
    let mut h = Harness::new(config(vec![lab.cri_endpoint()], |_| {})).await;

    for _ in 0..2 {
        let s = h.cycle().await;
        assert!(untouched(&s, &id), "{s:?}");
    }
    // Release PID 1: it reaps its zombies before they are confirmed.
    let fifo = format!("/proc/{}/root/tmp/.zc-fifo", init.0);
    std::fs::write(&fifo, "go\n").expect("write the container's FIFO");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !none_alive(&zombies) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(none_alive(&zombies), "PID 1 did not reap");
    for _ in 0..4 {
        let s = h.cycle().await;
        assert!(untouched(&s, &id), "{s:?}");
    }
    assert!(alive(init.0, init.1), "the container was touched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whitelisted_annotated_and_host_zombies_are_untouched() {
    let _one = ONE_AT_A_TIME.lock().await;
    let lab = cri_lab().await;
    let spec = || [ContainerSpec::new("app", zombie_command(2, false))];
    let watched = lab.create_pod("monitoring", "prom", &spec(), false).await;
    let ignored = lab
        .create_pod_annotated(
            "shop",
            "legacy",
            &spec(),
            false,
            &[("zombie-cleaner.io/ignore", "true")],
        )
        .await;
    let watched_id = watched.container_id("app").to_owned();
    let ignored_id = ignored.container_id("app").to_owned();
    let wz = wait_zombies(&watched_id, 2);
    let iz = wait_zombies(&ignored_id, 2);

    // Host zombies: children of a host process that never reaps.
    let mut host = std::process::Command::new("sh")
        .args([
            "-c",
            "(sleep 0.2; exec /bin/true) & (sleep 0.2; exec /bin/true) & exec sleep 60",
        ])
        .spawn()
        .expect("spawn host parent");
    let deadline = Instant::now() + Duration::from_secs(10);
    let host_zombies = loop {
        let z: Vec<(i32, u64)> = lab::all_pids()
            .into_iter()
            .filter_map(|p| {
                let st = lab::proc_stat(p)?;
                (st.state == 'Z' && st.ppid == host.id() as i32).then_some((p, st.start_time))
            })
            .collect();
        if !z.is_empty() || Instant::now() > deadline {
            break z;
        }
        std::thread::sleep(Duration::from_millis(20));
    };

    let mut h = Harness::new(config(vec![lab.cri_endpoint()], |_| {})).await;
    let mut skipped = Vec::new();
    for _ in 0..4 {
        let s = h.cycle().await;
        assert!(s.cleaned.is_empty() && s.failed.is_empty(), "{s:?}");
        skipped.extend(s.skipped);
    }
    let _ = host.kill();
    let _ = host.wait();
    assert!(!host_zombies.is_empty(), "the test made no host zombie");
    assert!(
        skipped.contains(&(watched_id.clone(), "whitelisted")),
        "{skipped:?}"
    );
    assert!(
        skipped.contains(&(ignored_id.clone(), "ignore_annotation")),
        "{skipped:?}"
    );
    assert!(
        all_alive(&wz) && all_alive(&iz),
        "protected zombies were removed"
    );
    assert!(
        h.metric(
            "zombie_cleaner_skipped_decisions_total{node=\"test-node\",reason=\"whitelisted\"}"
        ) >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_changes_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let lab = cri_lab().await;
    let pod = lab
        .create_pod(
            "shop",
            "cart",
            &[ContainerSpec::new("app", zombie_command(2, false))],
            false,
        )
        .await;
    let id = pod.container_id("app").to_owned();
    let zombies = wait_zombies(&id, 2);
    let init = init_of(&zombies);
    let mut h = Harness::new(config(vec![lab.cri_endpoint()], |c| c.dry_run = true)).await;
    let mut skipped = Vec::new();
    for _ in 0..4 {
        let s = h.cycle().await;
        assert!(s.cleaned.is_empty() && s.failed.is_empty(), "{s:?}");
        skipped.extend(s.skipped);
    }
    assert!(skipped.contains(&(id.clone(), "dry_run")), "{skipped:?}");
    assert!(all_alive(&zombies), "dry run removed zombies");
    assert!(alive(init.0, init.1), "dry run touched the container");
    assert_eq!(h.metric("zombie_cleaner_containers_cleaned_total{"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_runtime_times_out_and_kill_init_spares_the_sibling() {
    let _one = ONE_AT_A_TIME.lock().await;
    let lab = cri_lab().await;
    let pod = lab
        .create_pod(
            "shop",
            "api",
            &[
                ContainerSpec::new("app", zombie_command(2, false)),
                ContainerSpec::new("sidecar", vec!["sleep".into(), "2147483647".into()]),
            ],
            false,
        )
        .await;
    let id = pod.container_id("app").to_owned();
    let zombies = wait_zombies(&id, 2);
    let sidecar = pod.container_id("sidecar").to_owned();
    let sidecar_init = lab::all_pids()
        .into_iter()
        .find(|&p| {
            lab::cgroup_v2(p).is_some_and(|c| c.contains(&sidecar))
                && lab::proc_stat(p).is_some_and(|s| s.state != 'Z')
        })
        .and_then(|p| Some((p, lab::proc_stat(p)?.start_time)))
        .expect("sidecar init");
    let mut h = Harness::new(config(vec![lab.cri_endpoint()], |c| {
        c.container_timeout = Duration::from_secs(1);
    }))
    .await;
    // Identity is resolved while the runtime answers...
    for _ in 0..2 {
        let s = h.cycle().await;
        assert!(s.cleaned.is_empty(), "{s:?}");
    }
    // ...then the runtime hangs.
    lab.pause();
    let s = h.cycle().await;
    lab.resume();
    assert_eq!(s.cleaned, vec![id.clone()], "{s:?}");
    assert!(none_alive(&zombies), "zombies survived kill-init");
    assert!(
        h.metric("zombie_cleaner_container_operation_timeouts_total{") >= 1.0,
        "timeout not counted"
    );
    assert_eq!(
        h.metric("zombie_cleaner_cleanups_total{node=\"test-node\",strategy=\"kill-init\",result=\"success\"}"),
        1.0
    );
    assert!(
        alive(sidecar_init.0, sidecar_init.1),
        "kill-init hit the pod's other container"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_shim_on_cri_takes_the_pod_down() {
    let _one = ONE_AT_A_TIME.lock().await;
    let lab = cri_lab().await;
    let pod = lab
        .create_pod(
            "shop",
            "batch",
            &[ContainerSpec::new("app", zombie_command(2, false))],
            false,
        )
        .await;
    let id = pod.container_id("app").to_owned();
    let zombies = wait_zombies(&id, 2);
    let mut h = Harness::new(config(vec![lab.cri_endpoint()], |c| {
        c.strategies = vec!["kill-shim".into()];
    }))
    .await;
    for _ in 0..2 {
        assert!(h.cycle().await.cleaned.is_empty());
    }
    let s = h.cycle().await;
    assert_eq!(s.cleaned, vec![id.clone()], "{s:?}");
    assert!(none_alive(&zombies));
    assert!(
        lab::proc_stat(pod.pause_pid).is_none_or(|st| st.state == 'Z'),
        "the pod's pause survived its shim"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_shim_on_docker() {
    let _one = ONE_AT_A_TIME.lock().await;
    let lab = Lab::start_with(Daemons {
        containerd: false,
        docker: true,
    })
    .await;
    let id = lab.docker_run("zc-shim-victim", &zombie_command(2, false), &[]);
    let zombies = wait_zombies(&id, 2);
    let mut h = Harness::new(config(vec![lab.docker_endpoint()], |c| {
        c.strategies = vec!["kill-shim".into()];
    }))
    .await;
    for _ in 0..2 {
        assert!(h.cycle().await.cleaned.is_empty());
    }
    let s = h.cycle().await;
    assert_eq!(s.cleaned, vec![id.clone()], "{s:?}");
    assert!(none_alive(&zombies));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_stops_further_cleanups() {
    let _one = ONE_AT_A_TIME.lock().await;
    let lab = cri_lab().await;
    let spec = || [ContainerSpec::new("app", zombie_command(2, false))];
    let a = lab.create_pod("shop", "a", &spec(), false).await;
    let b = lab.create_pod("shop", "b", &spec(), false).await;
    let (ida, idb) = (
        a.container_id("app").to_owned(),
        b.container_id("app").to_owned(),
    );
    let za = wait_zombies(&ida, 2);
    let zb = wait_zombies(&idb, 2);
    let mut h = Harness::new(config(vec![lab.cri_endpoint()], |c| {
        c.max_cleanups_per_hour = 1;
        c.strategies = vec!["restart".into()];
        c.container_timeout = Duration::from_secs(10);
    }))
    .await;
    let mut cleaned = Vec::new();
    let mut skipped = Vec::new();
    for _ in 0..3 {
        let s = h.cycle().await;
        cleaned.extend(s.cleaned);
        skipped.extend(s.skipped);
    }
    assert_eq!(cleaned.len(), 1, "{cleaned:?}");
    let spared = if cleaned[0] == ida {
        (&idb, &zb)
    } else {
        (&ida, &za)
    };
    assert!(
        skipped.contains(&(spared.0.clone(), "budget_spent")),
        "{skipped:?}"
    );
    assert!(all_alive(spared.1), "the budget did not hold");
}
