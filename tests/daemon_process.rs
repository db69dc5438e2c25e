//! The daemon as the DaemonSet runs it: the real binary as a child process,
//! scraped over HTTP on a free port, its JSON log lines read from stderr,
//! its config file rewritten under it, and stopped with SIGTERM. No runtime
//! is reachable (`RUNTIME_ENDPOINTS` names a socket that does not exist), so
//! nothing on this machine can be resolved, let alone acted on. Every wait
//! polls towards a deadline and asserts nothing about how long it took.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_zombie-cleaner");
const NO_RUNTIME: &str = "unix:///nonexistent/x.sock";
/// How long any single wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);
/// Waits spanning a config-file poll (every 2 s) get a longer deadline.
const RELOAD_DEADLINE: Duration = Duration::from_secs(20);

/// The six metric names of SPEC §3, as sample names in the text exposition.
const SPEC_SAMPLES: [&str; 6] = [
    "zombie_cleaner_zombie_processes_found",
    "zombie_cleaner_containers_cleaned_total",
    "zombie_cleaner_cleanup_failures_total",
    "zombie_cleaner_check_duration_seconds_count",
    "zombie_cleaner_container_operation_timeouts_total",
    "zombie_cleaner_tracked_containers",
];

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// The daemon child process, with its stderr collected line by line.
/// Dropping it (also while a failed assertion unwinds) kills it by pid.
struct Agent {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

/// Options every test sets; `extra` adds or overrides variables.
fn spawn(args: &[&str], port: Option<u16>, extra: &[(&str, &str)]) -> Agent {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Whatever the developer's shell exports must not change the daemon.
    for (k, _) in std::env::vars() {
        let ours = [
            "CHECK_INTERVAL",
            "CONFIRM_COUNT",
            "CONTAINER_TIMEOUT",
            "PROCESS_TIMEOUT",
            "DRY_RUN",
            "LOG_LEVEL",
            "LOG_FORMAT",
            "METRICS_PORT",
            "METRICS_PATH",
            "METRICS_ENABLED",
            "PROC_ROOT",
            "RUNTIME_ENDPOINTS",
            "CONTAINER_RUNTIME",
            "WHITELIST_PATTERNS",
            "STRATEGIES",
            "MAX_CLEANUPS_PER_HOUR",
            "MAX_CONCURRENT_CONTAINERS",
            "NODE_NAME",
            "POD_UID",
        ];
        if ours.contains(&k.as_str()) || k.starts_with("KUBERNETES_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUNTIME_ENDPOINTS", NO_RUNTIME)
        .env("LOG_FORMAT", "json");
    if let Some(p) = port {
        cmd.env("METRICS_PORT", p.to_string());
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn zombie-cleaner");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("piped stderr");
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
    Agent {
        child,
        port: port.unwrap_or(0),
        lines,
    }
}

/// The short-interval daemon most tests run: 200 ms cycles, dry run.
fn spawn_daemon(extra: &[(&str, &str)]) -> Agent {
    let mut env = vec![
        ("CHECK_INTERVAL", "200ms"),
        ("CONTAINER_TIMEOUT", "100ms"),
        ("DRY_RUN", "true"),
        ("LOG_LEVEL", "info"),
    ];
    env.extend_from_slice(extra);
    spawn(&["run"], Some(free_port()), &env)
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Child::kill signals this child's own pid (SIGKILL).
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Agent {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn logs(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every stderr line as JSON; a line that is not JSON fails the test.
    fn json_logs(&self) -> Vec<Value> {
        self.logs()
            .iter()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    fn dump(&self) -> String {
        self.logs().join("\n")
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Polls `f` until it gives a value; fails with the daemon's logs.
    fn wait_for<T>(
        &mut self,
        what: &str,
        deadline: Duration,
        mut f: impl FnMut(&mut Agent) -> Option<T>,
    ) -> T {
        let until = Instant::now() + deadline;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            if Instant::now() >= until {
                let status = self.child.try_wait();
                panic!(
                    "timed out after {deadline:?} waiting for {what} (daemon status {status:?}); logs:\n{}",
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }

    fn metrics(&self) -> Option<String> {
        self.get("/metrics")
            .and_then(|(code, body)| (code == 200).then_some(body))
    }

    /// Value of the first sample named `name` whose labels contain every
    /// `label`, in the current scrape.
    fn sample(&self, name: &str, labels: &[&str]) -> Option<f64> {
        sample(&self.metrics()?, name, labels)
    }

    fn cycles(&self) -> Option<f64> {
        self.sample("zombie_cleaner_check_duration_seconds_count", &[])
    }

    /// Waits until at least `n` cycles completed; returns the count.
    fn wait_cycles(&mut self, n: f64) -> f64 {
        self.wait_for(&format!("{n} completed cycles"), DEADLINE, |a| {
            a.cycles().filter(|&c| c >= n)
        })
    }

    /// Waits for a JSON log line satisfying `pred`.
    fn wait_log(&mut self, what: &str, deadline: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(what, deadline, |a| a.json_logs().into_iter().find(&pred))
    }

    /// Sends `signal` (a `kill` name: TERM, INT, HUP) to the daemon's pid.
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {} failed", self.pid());
    }

    fn wait_exit(&mut self, what: &str) -> ExitStatus {
        let status = self.wait_for(what, Duration::from_secs(10), |a| {
            a.child.try_wait().ok().flatten()
        });
        // Let the reader thread drain what the daemon wrote last.
        std::thread::sleep(Duration::from_millis(100));
        status
    }
}

/// A minimal HTTP/1.1 GET; `None` when nothing answers (yet).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Some((code, body))
}

fn dechunk(mut rest: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}

/// Value of the first sample `name{...}` (or `name` without labels) whose
/// label set contains every entry of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, label_set) = match series.split_once('{') {
                Some((n, rest)) => (n, rest),
                None => (series, ""),
            };
            (n == name && labels.iter().all(|want| label_set.contains(want)))
                .then(|| value.parse().ok())
                .flatten()
        })
        .next()
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn has_std_fields(v: &Value) -> bool {
    ["time", "level", "msg", "component"].iter().all(|k| {
        v.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    })
}

/// Writes a file the way a ConfigMap update lands: all at once.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write temp config");
    std::fs::rename(&tmp, path).expect("rename config into place");
}

/// (pid, ppid, state, start time) from `/proc/PID/stat`.
fn stat_of(pid: u32) -> Option<(u32, u32, char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    let f: Vec<&str> = rest.split(' ').collect();
    let state = f.first()?.chars().next()?;
    let ppid = f.get(1)?.parse().ok()?;
    let start = f.get(19)?.parse().ok()?;
    Some((pid, ppid, state, start))
}

/// (pid, start time) of the zombie children of `parent`.
fn zombies_of(parent: u32) -> Vec<(u32, u64)> {
    let mut out: Vec<(u32, u64)> = std::fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat_of)
        .filter(|&(_, ppid, state, _)| ppid == parent && state == 'Z')
        .map(|(pid, _, _, start)| (pid, start))
        .collect();
    out.sort();
    out
}

/// A parent that never reaps, killed by its pid when dropped.
struct ZombieParent(Child);

impl Drop for ZombieParent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serves_spec_metrics_health_and_ready_while_cycles_run() {
    let mut a = spawn_daemon(&[("NODE_NAME", "e2e-node-7")]);
    let first = a.wait_cycles(1.0);
    let text = a.metrics().expect("metrics after the first cycle");
    for name in SPEC_SAMPLES {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .unwrap_or_else(|| panic!("no sample {name} in\n{text}"));
        assert!(
            line.contains("node=\"e2e-node-7\""),
            "{name} has no node label from NODE_NAME: {line}"
        );
    }
    for t in [
        "# TYPE zombie_cleaner_zombie_processes_found gauge",
        "# TYPE zombie_cleaner_containers_cleaned_total counter",
        "# TYPE zombie_cleaner_cleanup_failures_total counter",
        "# TYPE zombie_cleaner_check_duration_seconds histogram",
        "# TYPE zombie_cleaner_container_operation_timeouts_total counter",
        "# TYPE zombie_cleaner_tracked_containers gauge",
    ] {
        assert!(text.contains(t), "missing {t:?} in\n{text}");
    }
    assert_eq!(a.get("/health").map(|r| r.0), Some(200), "/health");
    // The cycle is counted just before it marks the agent ready.
    a.wait_for("/ready 200", DEADLINE, |a| {
        a.get("/ready").filter(|r| r.0 == 200)
    });
    assert_eq!(a.get("/nope").map(|r| r.0), Some(404), "unknown path");
    // Cycles keep coming.
    a.wait_cycles(first + 3.0);
    assert!(a.alive(), "daemon exited:\n{}", a.dump());
    let started = a
        .json_logs()
        .into_iter()
        .find(|v| str_field(v, "msg") == "zombie-cleaner started")
        .unwrap_or_else(|| panic!("no start line in\n{}", a.dump()));
    assert!(has_std_fields(&started), "{started}");
    assert_eq!(str_field(&started, "node"), "e2e-node-7");
}

/// A `sh` that starts `n` background `child` commands and then execs
/// `sleep`, which never reaps them; returns it with its zombies' (pid, start
/// time). `sh` itself reaps children that exit while it still runs, so
/// `child` must outlive the loop (`/bin/true` races with it).
fn make_zombies(n: usize, child: &str) -> (ZombieParent, Vec<(u32, u64)>) {
    let script = format!("i=0; while [ $i -lt {n} ]; do {child} & i=$((i+1)); done; exec sleep 30");
    let parent = ZombieParent(
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sh"),
    );
    let ppid = parent.0.id();
    let until = Instant::now() + DEADLINE;
    loop {
        let z = zombies_of(ppid);
        if z.len() == n {
            return (parent, z);
        }
        assert!(
            Instant::now() < until,
            "our {n} zombies never appeared: {z:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn host_zombie_is_logged_once_and_never_touched() {
    // Not a dry run: host zombies must be left alone by the guard itself.
    let mut a = spawn_daemon(&[("DRY_RUN", "false"), ("CONFIRM_COUNT", "2")]);
    // Zombies already on the host are logged in the first cycles; ours
    // come after, as new zombies do on a node.
    a.wait_cycles(2.0);
    let (parent, zombies) = make_zombies(2, "sleep 1");
    let ppid = parent.0.id();

    let is_ours =
        |v: &Value, pid: u32| v.get("zombie_pid").and_then(Value::as_u64) == Some(pid.into());
    for &(pid, _) in &zombies {
        let line = a.wait_log(&format!("the log line of zombie {pid}"), DEADLINE, |v| {
            is_ours(v, pid)
        });
        assert!(has_std_fields(&line), "{line}");
        assert_eq!(str_field(&line, "component"), "scan", "{line}");
        assert_eq!(line["zombie_ppid"].as_u64(), Some(ppid.into()), "{line}");
        assert_eq!(str_field(&line, "zombie_cmdline"), "sleep", "{line}");
        assert_eq!(str_field(&line, "container_id"), "", "{line}");
        assert!(str_field(&line, "msg").contains("host zombie"), "{line}");
    }
    // Well past confirm_count scans.
    let seen = a.cycles().expect("cycles");
    a.wait_cycles(seen + 5.0);
    for &(pid, start) in &zombies {
        let n = a.json_logs().iter().filter(|v| is_ours(v, pid)).count();
        assert_eq!(n, 1, "zombie {pid} logged {n} times:\n{}", a.dump());
        assert_eq!(
            stat_of(pid),
            Some((pid, ppid, 'Z', start)),
            "our zombie {pid} was touched"
        );
    }
    assert!(
        stat_of(ppid).is_some_and(|(_, _, state, _)| state != 'Z'),
        "the zombies' parent {ppid} was touched"
    );
    let text = a.metrics().expect("metrics");
    assert!(
        sample(&text, "zombie_cleaner_host_zombie_processes", &[]).is_some_and(|v| v >= 2.0),
        "host zombie gauge below our two:\n{text}"
    );
    assert_eq!(
        sample(&text, "zombie_cleaner_containers_cleaned_total", &[]),
        Some(0.0)
    );
    assert!(a.alive(), "daemon exited:\n{}", a.dump());
    drop(parent);
}

#[test]
fn config_file_change_is_reloaded_and_an_invalid_one_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.yaml");
    write_atomically(
        &file,
        "cleaner: {check_interval: 200ms, container_timeout: 100ms, dry_run: true}\n",
    );
    let port = free_port();
    let path = file.to_str().expect("utf-8 temp path");
    let mut a = spawn(&["-config", path], Some(port), &[("LOG_LEVEL", "info")]);
    // The first cycle comes after the daemon took its copy of the file.
    let before = a.wait_cycles(1.0);

    write_atomically(
        &file,
        "cleaner: {check_interval: soon, container_timeout: 100ms, dry_run: true}\n",
    );
    let rejected = a.wait_log(
        "the rejection of the invalid config",
        RELOAD_DEADLINE,
        |v| str_field(v, "level") == "error" && str_field(v, "error").contains("check_interval"),
    );
    assert_eq!(str_field(&rejected, "component"), "config", "{rejected}");
    assert!(
        str_field(&rejected, "msg").contains("rejected"),
        "{rejected}"
    );
    // Still running the old config: alive, healthy, cycling.
    a.wait_cycles(before + 3.0);
    assert_eq!(a.get("/health").map(|r| r.0), Some(200));
    assert!(a.alive(), "daemon exited:\n{}", a.dump());
    assert!(
        !a.json_logs()
            .iter()
            .any(|v| str_field(v, "msg") == "config reloaded"),
        "an invalid config was applied:\n{}",
        a.dump()
    );

    write_atomically(
        &file,
        "cleaner: {check_interval: 200ms, container_timeout: 100ms, dry_run: true, confirm_count: 7}\n",
    );
    let reloaded = a.wait_log("the reload of the valid config", RELOAD_DEADLINE, |v| {
        str_field(v, "msg") == "config reloaded"
    });
    assert_eq!(reloaded["confirm_count"].as_u64(), Some(7), "{reloaded}");
    assert!(has_std_fields(&reloaded), "{reloaded}");
    let after = a.cycles().expect("cycles");
    a.wait_cycles(after + 2.0);
    assert!(a.alive(), "daemon exited:\n{}", a.dump());

    // SIGHUP reloads on demand (and does not kill, its default action).
    a.signal("HUP");
    a.wait_log("the SIGHUP reload line", DEADLINE, |v| {
        str_field(v, "msg").starts_with("SIGHUP")
    });
    let after = a.cycles().expect("cycles");
    a.wait_cycles(after + 2.0);
    assert!(a.alive(), "daemon exited on SIGHUP:\n{}", a.dump());
}

#[test]
fn sigterm_and_sigint_stop_cleanly_with_status_0() {
    for signal in ["TERM", "INT"] {
        let mut a = spawn_daemon(&[]);
        a.wait_cycles(2.0);
        a.signal(signal);
        let status = a.wait_exit(&format!("exit after SIG{signal}"));
        assert!(
            status.success(),
            "exit status {status:?} after SIG{signal}:\n{}",
            a.dump()
        );
        let bye = a
            .json_logs()
            .into_iter()
            .find(|v| str_field(v, "msg") == "shutting down")
            .unwrap_or_else(|| panic!("no 'shutting down' line after SIG{signal}:\n{}", a.dump()));
        assert!(has_std_fields(&bye), "{bye}");
        assert!(
            a.get("/health").is_none(),
            "the port still answers after exit"
        );
    }
}

#[test]
fn original_single_dash_flags_start_the_daemon_from_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.yaml");
    let port = free_port();
    // The port comes from the file only: it proves the file was read.
    std::fs::write(
        &file,
        format!(
            "cleaner: {{check_interval: 200ms, container_timeout: 100ms, dry_run: true}}\nmetrics: {{port: {port}}}\n"
        ),
    )
    .expect("write config");
    let path = file.to_str().expect("utf-8 temp path");
    let mut a = spawn(&["-config", path, "-log-level", "debug"], None, &[]);
    a.port = port;
    a.wait_cycles(1.0);
    assert_eq!(a.get("/health").map(|r| r.0), Some(200));
    let debug = a.wait_log("a debug line", DEADLINE, |v| {
        str_field(v, "level") == "debug"
    });
    assert!(has_std_fields(&debug), "{debug}");
    let started = a.wait_log("the start line", DEADLINE, |v| {
        str_field(v, "msg") == "zombie-cleaner started"
    });
    assert_eq!(started["dry_run"].as_bool(), Some(true), "{started}");
    assert_eq!(str_field(&started, "check_interval"), "200ms", "{started}");
}

#[test]
fn metrics_port_in_use_fails_start_naming_the_address() {
    let taken = TcpListener::bind("0.0.0.0:0").expect("bind a port");
    let port = taken.local_addr().expect("local_addr").port();
    let mut a = spawn(
        &["run"],
        Some(port),
        &[
            ("CHECK_INTERVAL", "200ms"),
            ("CONTAINER_TIMEOUT", "100ms"),
            ("DRY_RUN", "true"),
        ],
    );
    let status = a.wait_exit("exit on a taken port");
    assert!(!status.success(), "exit status {status:?}:\n{}", a.dump());
    let logs = a.dump();
    assert!(
        logs.contains(&format!(":{port}")) && logs.contains("cannot listen"),
        "no error naming port {port}:\n{logs}"
    );
    drop(taken);
}

/// Asserts the daemon's answer to a proc root it cannot scan: it keeps
/// running, logs the scan error naming the root, and counts it under
/// `proc_unreadable`. A failed scan is not a completed cycle: no cycle is
/// counted, `/ready` stays 503, and `/health` passes only within the
/// start-up grace (it says no cycle completed yet).
fn assert_unscannable(root: &Path) {
    let root_s = root.to_str().expect("utf-8 path");
    let mut a = spawn_daemon(&[("PROC_ROOT", root_s)]);
    let line = a.wait_log("the scan error", DEADLINE, |v| {
        str_field(v, "component") == "scan" && str_field(v, "level") == "error"
    });
    assert!(
        str_field(&line, "error").contains(root_s),
        "the error does not name {root_s}: {line}"
    );
    let reason = "reason=\"proc_unreadable\"";
    let first = a.wait_for("a proc_unreadable scan error", DEADLINE, |a| {
        a.sample("zombie_cleaner_scan_errors_total", &[reason])
            .filter(|&v| v >= 1.0)
    });
    a.wait_for("the scan error count to rise", DEADLINE, |a| {
        a.sample("zombie_cleaner_scan_errors_total", &[reason])
            .filter(|&v| v >= first + 2.0)
    });
    assert!(a.alive(), "daemon exited:\n{}", a.dump());
    assert_eq!(a.cycles(), Some(0.0), "a failed scan counted as a cycle");
    let (code, body) = a.get("/health").expect("/health answers");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("no cycle yet"), "{body}");
    assert_eq!(a.get("/ready").map(|r| r.0), Some(503), "/ready");
}

#[test]
fn missing_proc_root_is_a_counted_scan_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_unscannable(&dir.path().join("missing"));
}
#[test]
fn empty_dir_as_proc_root_is_a_counted_scan_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root: PathBuf = dir.path().join("proc");
    std::fs::create_dir(&root).expect("mkdir");
    assert_unscannable(&root);
}

/// Regression: past the per-cycle cap of detection lines (100), the extra
/// zombies were marked as known and so never logged at all. They must be
/// logged, once each, in the following cycles.
#[test]
fn zombies_past_the_per_cycle_log_cap_are_logged_in_later_cycles() {
    // All of them are new in the daemon's first scan.
    let (parent, zombies) = make_zombies(130, "sleep 2");
    let mut a = spawn_daemon(&[]);
    let ppid = parent.0.id();
    let logged = |a: &Agent| -> Vec<u64> {
        a.json_logs()
            .iter()
            .filter(|v| v["zombie_ppid"].as_u64() == Some(ppid.into()))
            .filter_map(|v| v["zombie_pid"].as_u64())
            .collect()
    };
    a.wait_for("a line for each of our 130 zombies", DEADLINE, |a| {
        (logged(a).len() >= zombies.len()).then_some(())
    });
    let seen = a.cycles().expect("cycles");
    a.wait_cycles(seen + 3.0);
    let mut pids = logged(&a);
    pids.sort_unstable();
    let want: Vec<u64> = zombies.iter().map(|&(p, _)| p.into()).collect();
    assert_eq!(pids, want, "each zombie logged exactly once");
    drop(parent);
}
