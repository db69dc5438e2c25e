//! The binary as users run it: flags, exit codes, `check-config`, and
//! `scan` finding real zombies made by this test.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_zombie-cleaner");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null());
    for var in [
        "CHECK_INTERVAL",
        "CONFIRM_COUNT",
        "DRY_RUN",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "PROC_ROOT",
        "RUNTIME_ENDPOINTS",
        "WHITELIST_PATTERNS",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run zombie-cleaner")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn original_tool_config_loads_with_single_dash_flags() {
    let out = run(
        &[
            "-config",
            "tests/data/original-config.yaml",
            "-log-level",
            "debug",
            "check-config",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    for line in [
        "check_interval: 5m",
        "confirm_count: 3",
        "container_timeout: 30s",
        "container_runtime: containerd",
        "level: debug",
        "port: 9090",
        "- ^kube-system-.*",
    ] {
        assert!(yaml.contains(line), "missing {line:?} in\n{yaml}");
    }
}

#[test]
fn env_overrides_show_in_effective_config() {
    let out = run(
        &[
            "--config",
            "tests/data/original-config.yaml",
            "check-config",
        ],
        &[("CHECK_INTERVAL", "1h30m"), ("DRY_RUN", "true")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert!(yaml.contains("check_interval: 1h30m"), "{yaml}");
    assert!(yaml.contains("dry_run: true"), "{yaml}");
}

#[test]
fn bad_config_exits_2_listing_every_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "cleaner:\n  confirm_count: -1\n  whitelist_patterns: ['a(']\n",
    )
    .expect("write");
    let out = run(
        &["check-config", "-config", file.to_str().expect("utf8")],
        &[("CONFIRM_COUNT", "x")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("cleaner.confirm_count"), "{err}");
    assert!(err.contains("\"a(\""), "{err}");
    assert!(err.contains("CONFIRM_COUNT"), "{err}");

    std::fs::write(&file, "cleaner:\n  dry_run: false\n  chek_interval: 5m\n").expect("write");
    let out = run(
        &["check-config", "-config", file.to_str().expect("utf8")],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("chek_interval") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn bad_usage_exits_2() {
    let out = run(&["scan", "--output", "yaml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn failed_scan_exits_1_and_says_why() {
    let out = run(&["scan", "--proc-root", "/nonexistent/proc"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent/proc"),
        "{}",
        text(&out.stderr)
    );
}

/// A parent that never reaps: `sh` starts children, then execs `sleep`,
/// which never calls wait. The children exit only after a short delay, so
/// the shell cannot reap them before it becomes `sleep`.
fn zombie_parent(children: usize) -> Child {
    let script =
        format!("i=0; while [ $i -lt {children} ]; do (sleep 0.2; exec /bin/true) & i=$((i+1)); done; exec sleep 60");
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sh")
}

/// (pid, start time) of the zombie children of `parent`.
fn zombies_of(parent: u32) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split(' ').collect();
        if f.first() == Some(&"Z") && f.get(1).and_then(|p| p.parse().ok()) == Some(parent) {
            if let Some(start) = f.get(19).and_then(|s| s.parse().ok()) {
                out.push((pid, start));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn scan_json_reports_our_zombies_with_parent_and_start_time() {
    let mut parent = zombie_parent(3);
    let ppid = parent.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    // busybox/dash may reap a child before the exec; wait for what stays.
    let mut ours = zombies_of(ppid);
    while ours.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        ours = zombies_of(ppid);
    }
    let out = run(&["scan", "-output", "json"], &[]);
    let _ = parent.kill();
    let _ = parent.wait();
    assert!(!ours.is_empty(), "the test made no zombie");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(v["node"].is_string());
    assert!(v["scanned_processes"].as_u64().is_some_and(|n| n > 0));
    assert!(v["duration_seconds"].as_f64().is_some());
    let zombies = v["zombies"].as_array().expect("zombies array");
    for (pid, start) in &ours {
        let z = zombies
            .iter()
            .find(|z| z["pid"].as_u64() == Some(u64::from(*pid)))
            .unwrap_or_else(|| panic!("zombie {pid} not reported"));
        assert_eq!(z["ppid"].as_u64(), Some(u64::from(ppid)));
        assert_eq!(z["start_time_ticks"].as_u64(), Some(*start));
        assert_eq!(z["comm"], "true");
        assert_eq!(z["cmdline"], "true");
        assert!(z["age_seconds"].as_f64().is_some_and(|a| a >= 0.0));
        assert!(
            z["container"].is_null(),
            "a host zombie has no container: {z}"
        );
    }
}

#[test]
fn scan_table_is_grouped_and_counts() {
    let mut parent = zombie_parent(2);
    let ppid = parent.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while zombies_of(ppid).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let ours = zombies_of(ppid);
    let out = run(&["scan"], &[]);
    let _ = parent.kill();
    let _ = parent.wait();
    assert!(!ours.is_empty(), "the test made no zombie");
    assert_eq!(out.status.code(), Some(0));
    let table = text(&out.stdout);
    assert!(table.starts_with("CONTAINER"), "{table}");
    assert!(table.contains("(host)"), "{table}");
    for (pid, _) in ours {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(&format!("{pid} ")) && l.contains(&ppid.to_string())),
            "zombie {pid} missing from\n{table}"
        );
    }
}

#[test]
fn shipped_config_passes_check_config_and_spells_out_the_defaults() {
    let out = run(&["check-config", "-config", "config/config.yaml"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let none: [(&str, &str); 0] = [];
    let shipped =
        zombie_cleaner::config::load(Some(std::path::Path::new("config/config.yaml")), &none)
            .expect("config/config.yaml loads");
    assert_eq!(shipped, zombie_cleaner::config::Config::default());
}
