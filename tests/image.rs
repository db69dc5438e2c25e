//! The container image, for real: `make image` builds it against a private
//! dockerd started by this test (its own data root, exec root and socket
//! under a temp dir, no iptables, no bridge: never the machine's own Docker),
//! then the image runs as the DaemonSet runs it (host PID namespace, the
//! Docker socket, read-only root, every capability dropped but KILL) and its
//! `scan --output json` must find the zombies of a container this test made;
//! then the daemon, started with the DaemonSet's arguments and config file,
//! must serve /health, /ready and metrics labelled with NODE_NAME, and in
//! dry-run leave those zombies alone.
//!
//! Needs dockerd, the docker CLI and busybox (Debian docker.io and
//! busybox-static); a missing one fails the test and names it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const IMAGE: &str = "zombie-cleaner:image-test";
const ZOMBIES: usize = 3;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "missing prerequisite: {tool} (Debian package {package})"
    );
}

fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A private dockerd, stopped (by its pid) and cleaned up on drop.
struct Dockerd {
    dir: tempfile::TempDir,
    child: Child,
    /// cgroup `docker` parents this test's dockerd created (not the
    /// machine's): removed, when empty, at teardown.
    new_cgroup_parents: Vec<PathBuf>,
}

/// `<controller>/docker` directories under every mounted cgroup hierarchy.
fn docker_cgroup_parents() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("docker")).collect();
    out.push(PathBuf::from("/sys/fs/cgroup/docker"));
    out
}

/// Mount points at or below `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(m.replace("\\040", " ")))
        .filter(|m| m.starts_with(dir))
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    out
}

impl Dockerd {
    fn start() -> Dockerd {
        require("dockerd", "docker.io");
        require("docker", "docker.io");
        // Short path: the socket path must fit in sun_path.
        let dir = tempfile::Builder::new()
            .prefix("zc-img-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("log");
        let new_cgroup_parents: Vec<PathBuf> = docker_cgroup_parents()
            .into_iter()
            .filter(|p| !p.exists())
            .collect();
        // Keep dockerd 20.10's identity key out of /etc/docker.
        let daemon_json = dir.path().join("daemon.json");
        std::fs::write(
            &daemon_json,
            serde_json::json!({"deprecated-key-path": dir.path().join("key.json")}).to_string(),
        )
        .expect("daemon.json");
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(&daemon_json)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("-H")
            .arg(format!(
                "unix://{}",
                dir.path().join("docker.sock").display()
            ))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let d = Dockerd {
            dir,
            child,
            new_cgroup_parents,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up = d
                .docker()
                .args(["version", "--format", "{{.Server.Version}}"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if up {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "private dockerd not ready; log:\n{}",
                std::fs::read_to_string(d.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", self.host());
        c
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Force-remove every container first: a container ignoring SIGTERM
        // would otherwise hold dockerd's shutdown for ~10 s.
        if let Ok(out) = self.docker().args(["ps", "-aq"]).output() {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = self.docker().args(["rm", "-f"]).args(&ids).output();
            }
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut exited = false;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // dockerd leaves its netns (nsfs) mount under its exec root.
        for m in mounts_under(self.dir.path()) {
            let _ = Command::new("umount").arg("-l").arg(&m).status();
        }
        for parent in &self.new_cgroup_parents {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// A one-layer busybox image made from the host's static busybox, imported
/// without any registry.
fn busybox_image(d: &Dockerd) -> &'static str {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "missing prerequisite: /bin/busybox (Debian package busybox-static)"
    );
    let root = d.dir.path().join("rootfs");
    for sub in ["bin", "tmp", "proc", "dev", "sys", "etc"] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir rootfs");
    }
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "sleep", "mkfifo", "rm"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("symlink");
    }
    let tar = d.dir.path().join("rootfs.tar");
    ok(
        "tar rootfs",
        Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .output()
            .expect("tar"),
    );
    let name = "zc-busybox:image-test";
    ok(
        "docker import",
        d.docker()
            .args(["import", "--change", "ENV PATH=/bin"])
            .arg(&tar)
            .arg(name)
            .output()
            .expect("docker import"),
    );
    name
}

/// Pids of the zombie children of `parent`, read from the host's /proc.
fn zombie_children(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after_comm) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut fields = after_comm.split(' ');
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if state == Some("Z") && ppid == Some(parent) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}

#[test]
fn image_scans_zombies_and_runs_the_daemon_as_the_daemonset_does() {
    let d = Dockerd::start();

    // The image, built by `make image` exactly as a user runs it.
    require("make", "make");
    let mut make = Command::new("make");
    // The environment `cargo test` gives a test (CARGO_*, LD_LIBRARY_PATH)
    // differs from a user's shell and would make the release build start
    // over; an outer make's flags must not leak in either.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if (key.starts_with("CARGO") && key != "CARGO_HOME")
            || [
                "LD_LIBRARY_PATH",
                "OUT_DIR",
                "MAKEFLAGS",
                "MFLAGS",
                "MAKELEVEL",
            ]
            .contains(&key.as_str())
        {
            make.env_remove(&key);
        }
    }
    ok(
        "make image",
        make.current_dir(repo())
            .env("DOCKER_HOST", d.host())
            .args(["--no-print-directory", "-f", "mk/image.mk", "image"])
            .arg(format!("IMAGE={IMAGE}"))
            .output()
            .expect("run make"),
    );
    let size: u64 = ok(
        "docker image inspect",
        d.docker()
            .args(["image", "inspect", "--format", "{{.Size}}", IMAGE])
            .output()
            .expect("docker image inspect"),
    )
    .trim()
    .parse()
    .expect("image size");
    assert!(size < 20 * 1024 * 1024, "image is {size} bytes, over 20 MB");
    let layers = ok(
        "docker history",
        d.docker()
            .args([
                "image",
                "inspect",
                "--format",
                "{{len .RootFS.Layers}}",
                IMAGE,
            ])
            .output()
            .expect("docker image inspect"),
    );
    assert_eq!(layers.trim(), "1", "FROM scratch + the binary: one layer");

    // A container whose PID 1 never reaps: ZOMBIES children block opening a
    // FIFO for writing until PID 1 is inside a command it never leaves.
    let busybox = busybox_image(&d);
    let name = format!("zc-image-test-{}", std::process::id());
    let script = format!(
        "F=/tmp/.fifo; rm -f $F; mkfifo $F; i=0; \
         while [ $i -lt {ZOMBIES} ]; do (exec 5>$F; exec sleep 0) & i=$((i+1)); done; \
         exec sleep 2147483647 3<>$F <$F"
    );
    let id = ok(
        "docker run zombie maker",
        d.docker()
            .args([
                "run",
                "-d",
                "--network",
                "none",
                "--name",
                &name,
                busybox,
                "sh",
                "-c",
            ])
            .arg(&script)
            .output()
            .expect("docker run"),
    )
    .trim()
    .to_string();
    let init: u32 = ok(
        "docker inspect",
        d.docker()
            .args(["inspect", "--format", "{{.State.Pid}}", &id])
            .output()
            .expect("docker inspect"),
    )
    .trim()
    .parse()
    .expect("init pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    let zombies = loop {
        let z = zombie_children(init);
        if z.len() == ZOMBIES {
            break z;
        }
        assert!(
            Instant::now() < deadline,
            "container {name} (init {init}) made {z:?}, not {ZOMBIES} zombies"
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    // The agent's image, run with the DaemonSet's privileges.
    let out = d
        .docker()
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--pid=host",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "KILL",
            "--user",
            "0:0",
            "-v",
        ])
        .arg(format!("{}:/var/run/docker.sock", d.socket().display()))
        .args([IMAGE, "scan", "--output", "json"])
        .output()
        .expect("docker run image");
    let json = ok("zombie-cleaner scan in the image", out);
    let report: Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("scan output is not JSON ({e}):\n{json}"));
    assert!(report["scanned_processes"].as_u64().unwrap_or(0) > ZOMBIES as u64);

    let ours: Vec<&Value> = report["zombies"]
        .as_array()
        .expect("zombies array")
        .iter()
        .filter(|z| z["ppid"].as_u64() == Some(u64::from(init)))
        .collect();
    let mut found: Vec<u32> = ours
        .iter()
        .map(|z| z["pid"].as_u64().expect("pid") as u32)
        .collect();
    found.sort_unstable();
    assert_eq!(
        found, zombies,
        "the image's scan finds exactly our zombies:\n{json}"
    );
    for z in ours {
        let c = &z["container"];
        assert_eq!(c["id"], id.as_str(), "{z}");
        assert_eq!(c["runtime"], "docker", "{z}");
        // Named through the mounted Docker socket: the runtime answered.
        assert_eq!(c["name"], name.as_str(), "{z}");
        assert_eq!(z["comm"], "sleep", "{z}");
    }

    // The daemon, as the DaemonSet starts it (same args, config file mounted
    // read-only, NODE_NAME set), in dry-run so it changes nothing, serving
    // its probes and metrics on a free port of the host network.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config_dir = d.dir.path().join("config");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::copy(
        repo().join("config/config.yaml"),
        config_dir.join("config.yaml"),
    )
    .expect("copy config");
    let agent = ok(
        "docker run agent",
        d.docker()
            .args([
                "run",
                "-d",
                "--network",
                "host",
                "--pid=host",
                "--read-only",
                "--cap-drop",
                "ALL",
                "--cap-add",
                "KILL",
                "--user",
                "0:0",
                "-e",
                "NODE_NAME=image-test-node",
                "-e",
                "DRY_RUN=true",
                "-e",
                "CHECK_INTERVAL=2s",
                "-e",
                "CONTAINER_TIMEOUT=1s",
                "-e",
                "PROCESS_TIMEOUT=1s",
                "-e",
            ])
            .arg(format!("METRICS_PORT={port}"))
            .arg("-v")
            .arg(format!("{}:/etc/zombie-cleaner:ro", config_dir.display()))
            .arg("-v")
            .arg(format!("{}:/var/run/docker.sock", d.socket().display()))
            .args([IMAGE, "-config", "/etc/zombie-cleaner/config.yaml"])
            .output()
            .expect("docker run agent"),
    )
    .trim()
    .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let health = http_get(port, "/health");
        let metrics = http_get(port, "/metrics");
        if let (Some((200, _)), Some((200, body))) = (health, metrics) {
            if scraped_value(
                &body,
                "zombie_cleaner_last_successful_scan_timestamp_seconds",
            )
            .is_some_and(|v| v > 0.0)
            {
                break body;
            }
        }
        let running = ok(
            "docker inspect agent",
            d.docker()
                .args(["inspect", "--format", "{{.State.Running}}", &agent])
                .output()
                .expect("docker inspect"),
        );
        if running.trim() != "true" || Instant::now() >= deadline {
            let logs = d
                .docker()
                .args(["logs", &agent])
                .output()
                .expect("docker logs");
            panic!(
                "agent never served /health and a scan on port {port}; logs:\n{}{}",
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let found = scraped_value(&metrics, "zombie_cleaner_zombie_processes_found")
        .expect("zombie_processes_found exported");
    assert!(
        found >= ZOMBIES as f64,
        "agent saw {found} zombies:\n{metrics}"
    );
    assert!(
        metrics.contains("node=\"image-test-node\""),
        "NODE_NAME is the node label:\n{metrics}"
    );
    assert_eq!(http_get(port, "/ready").map(|(code, _)| code), Some(200));
    // Dry run: our zombies are still there, untouched.
    assert_eq!(zombie_children(init), zombies);
}

/// One plain HTTP/1.0 GET on localhost: (status, body), None when nothing
/// answers yet.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let code = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// The value of the first sample of `name` in a Prometheus text exposition.
fn scraped_value(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{' | b' ')))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
