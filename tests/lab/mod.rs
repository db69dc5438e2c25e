//! The real-runtime test lab: a PRIVATE containerd with the CRI plugin and
//! a PRIVATE dockerd (own root, state, sockets, all under one unique
//! `/tmp/zc-lab-*` dir; never the machine's defaults), registry-free busybox
//! images, and pods/containers whose PID 1 leaves lasting zombies. Dropping
//! the [`Lab`] (also while a test panics) removes everything it made:
//! containers, sandboxes, daemons, leftover shims and their sockets,
//! mounts, cgroup dirs, the temp dir. Needs root; a missing binary fails
//! the test naming it (`scripts/lab-deps.sh` installs them). Each `Lab` is
//! independent: tests and test binaries may run several at once.
//! `ZC_LAB_TRACE=1` prints how long each phase took. Use a `Lab` from the
//! tokio runtime that started it (its CRI channel's worker lives there).
//!
//! API:
//! - [`Lab::start`] (both daemons) / [`Lab::start_with`]; [`Lab::cri_endpoint`],
//!   [`Lab::docker_endpoint`] (`unix://` URLs); [`Lab::pause`] /
//!   [`Lab::resume`] SIGSTOP/SIGCONT the lab containerd.
//! - [`Lab::create_pod`] / [`Lab::create_pod_annotated`] -> [`Pod`] (uid,
//!   sandbox id, pause pid, (name, id) per container);
//!   [`Lab::remove_container`]; [`Lab::cri_client`] for other CRI calls.
//! - [`Lab::docker_run`] -> container id; [`Lab::docker_cmd`] for the CLI.
//! - [`zombie_command`]`(k, ignore_term)`: PID 1 with exactly `k` lasting zombies.
//! - /proc: [`zombies_of`], [`wait_zombies`] -> `(pid, start_time)`;
//!   [`proc_stat`], [`cgroup_v2`], [`alive`], [`signal_pid`].
//!
//! From an integration test:
//! ```ignore
//! #[path = "lab/mod.rs"]
//! mod lab;
//! let lab = lab::Lab::start().await;
//! let pod = lab.create_pod("team-a", "web",
//!     &[lab::ContainerSpec::new("app", lab::zombie_command(3, false))], false).await;
//! let zombies = lab::wait_zombies(pod.container_id("app"), 3);   // [(pid, start_time)]
//! let id = lab.docker_run("zc-app", &lab::zombie_command(2, false), &[("team", "a")]);
//! ```
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    security_profile::ProfileType, ContainerConfig, ContainerMetadata, CreateContainerRequest,
    ImageSpec, LinuxContainerConfig, LinuxContainerResources, LinuxContainerSecurityContext,
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, ListContainersRequest,
    ListPodSandboxRequest, NamespaceOption, PodSandboxConfig, PodSandboxMetadata,
    PodSandboxStatusRequest, RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest,
    SecurityProfile, StartContainerRequest, StopContainerRequest, StopPodSandboxRequest,
};
use rustix::process::{kill_process, Pid, Signal};
use tonic::transport::Channel;

/// Image every lab container runs (busybox + applets + /pause).
pub const BUSYBOX_IMAGE: &str = "localhost/zc-lab/busybox:1";
/// Sandbox image of the lab containerd: the reaping static pause.
pub const PAUSE_IMAGE: &str = "localhost/zc-lab/pause:1";

const BINARIES: &[&str] = &[
    "containerd",
    "ctr",
    "containerd-shim-runc-v2",
    "runc",
    "tini",
    "dockerd",
    "docker",
    "gcc",
    "tar",
    "sha256sum",
    "umount",
];
const APPLETS: &[&str] = &[
    "sh", "sleep", "mkfifo", "rm", "cat", "ls", "echo", "true", "kill", "ps", "test",
];
const CRI_NAMESPACE: &str = "k8s.io";
/// Deepest first: a parent is removed after its children.
const SHARED_CGROUP_PARENTS: [&str; 3] = ["kubepods/besteffort", "kubepods", "docker"];
/// Lab dirs are /tmp/zc-lab-*; markers must not look like one.
const LAB_PREFIX: &str = "zc-lab-";

fn parent_marker(parent: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/zc-labparent-{}", parent.replace('/', "_")))
}
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// One container of a pod: its name and command (argv).
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub name: String,
    pub command: Vec<String>,
}

impl ContainerSpec {
    pub fn new(name: &str, command: Vec<String>) -> Self {
        ContainerSpec {
            name: name.to_owned(),
            command,
        }
    }
}

/// A running CRI pod made by [`Lab::create_pod`].
#[derive(Debug, Clone)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub sandbox_id: String,
    /// Host pid of the sandbox's pause process.
    pub pause_pid: i32,
    /// (container name, container id) in the order of the specs.
    pub containers: Vec<(String, String)>,
}

impl Pod {
    /// The id of the container called `name`.
    pub fn container_id(&self, name: &str) -> &str {
        self.containers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id.as_str())
            .unwrap_or_else(|| panic!("pod {} has no container {name}", self.name))
    }
}

/// `sh -c` command whose PID 1 ends up with exactly `k` lasting zombie
/// children (the FIFO recipe: each child blocks opening the FIFO for
/// writing until PID 1 is inside the `exec sleep` that never reaps).
/// `ignore_term` makes PID 1 ignore SIGTERM, so a graceful stop needs the
/// runtime's SIGKILL after the grace period.
pub fn zombie_command(k: usize, ignore_term: bool) -> Vec<String> {
    let trap = if ignore_term { "trap '' TERM; " } else { "" };
    let script = format!(
        "{trap}F=/tmp/.zc-fifo; rm -f $F; mkfifo $F; i=0; \
         while [ $i -lt {k} ]; do (exec 5>$F; exec sleep 0) & i=$((i+1)); done; \
         exec sleep 2147483647 3<>$F <$F"
    );
    vec!["sh".into(), "-c".into(), script]
}

/// Daemons to start.
#[derive(Debug, Clone, Copy)]
pub struct Daemons {
    pub containerd: bool,
    pub docker: bool,
}

struct Daemon {
    /// `tini -s` wrapping the daemon: reaps shims and orphans at once.
    tini: Child,
    /// The daemon itself (child of tini).
    pid: i32,
}

#[derive(Default)]
struct Created {
    pod_uids: Vec<String>,
    sandbox_ids: Vec<String>,
    docker_ids: Vec<String>,
}

/// A private containerd (CRI) and/or dockerd. See the module docs.
pub struct Lab {
    dir: PathBuf,
    containerd: Option<Daemon>,
    dockerd: Option<Daemon>,
    cri: Option<RuntimeServiceClient<Channel>>,
    created: Mutex<Created>,
    /// cgroup parents (relative to a hierarchy root) that did not exist
    /// before this lab: removed at teardown when no other lab is running.
    new_parents: Vec<PathBuf>,
}

/// With `ZC_LAB_TRACE` set, prints how long each lab phase took.
fn trace(since: Instant, what: &str) {
    if std::env::var_os("ZC_LAB_TRACE").is_some() {
        eprintln!("test lab: {what} after {:?}", since.elapsed());
    }
}

fn lab_fail(msg: impl std::fmt::Display) -> ! {
    panic!("test lab: {msg}")
}

fn find_on_path(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn check_prerequisites(d: Daemons) {
    if !rustix::process::geteuid().is_root() {
        lab_fail("must run as root (it starts containerd and dockerd)");
    }
    for bin in BINARIES {
        let needed = match *bin {
            "containerd" | "ctr" => d.containerd,
            "dockerd" | "docker" => d.docker,
            _ => true,
        };
        if needed && find_on_path(bin).is_none() {
            lab_fail(format!(
                "required binary `{bin}` not found on PATH; install it (scripts/lab-deps.sh)"
            ));
        }
    }
    if !Path::new("/bin/busybox").is_file() {
        lab_fail("required binary `/bin/busybox` (package busybox-static) not found");
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| lab_fail(format!("cannot run {cmd:?}: {e}")));
    if !out.status.success() {
        lab_fail(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256_hex_of_file(path: &Path) -> String {
    run(Command::new("sha256sum").arg(path))
        .split_whitespace()
        .next()
        .unwrap_or_else(|| lab_fail("sha256sum printed nothing"))
        .to_owned()
}

fn sha256_hex_of_str(s: &str) -> Option<String> {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(s.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    fs::write(path, content).unwrap_or_else(|e| lab_fail(format!("write {}: {e}", path.display())));
}

fn mkdirs(path: &Path) {
    fs::create_dir_all(path).unwrap_or_else(|e| lab_fail(format!("mkdir {}: {e}", path.display())));
}

fn random_uuid() -> String {
    fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| lab_fail(format!("read /proc/sys/kernel/random/uuid: {e}")))
}

fn signal(pid: i32, sig: Signal) -> bool {
    Pid::from_raw(pid).is_some_and(|p| kill_process(p, sig).is_ok())
}

/// Sends `sig` to `pid` (a process the test created, e.g. a pod's pause);
/// false if it failed.
pub fn signal_pid(pid: i32, sig: Signal) -> bool {
    signal(pid, sig)
}

/// Every cgroup hierarchy root (each v1 controller dir and the unified one).
fn cgroup_roots() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut roots = vec![base.to_path_buf()];
    if let Ok(entries) = fs::read_dir(base) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                roots.push(p);
            }
        }
    }
    roots
}

impl Lab {
    /// Starts both daemons and imports the images. Panics (failing the
    /// test) with a message naming what is missing or what failed.
    pub async fn start() -> Lab {
        Lab::start_with(Daemons {
            containerd: true,
            docker: true,
        })
        .await
    }

    /// Starts only the daemons asked for (a CRI-only test saves dockerd).
    pub async fn start_with(daemons: Daemons) -> Lab {
        check_prerequisites(daemons);
        let dir = tempfile::Builder::new()
            .prefix(LAB_PREFIX)
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| lab_fail(format!("cannot create a temp dir in /tmp: {e}")))
            .keep();
        // Shared cgroup parents (runc makes them) that the machine did not
        // have: a marker file says a lab made them, so the last lab to stop
        // removes them even when another lab started in between.
        let mut new_parents = Vec::new();
        for parent in SHARED_CGROUP_PARENTS {
            let marker = parent_marker(parent);
            if marker.exists() || !cgroup_roots().iter().any(|r| r.join(parent).exists()) {
                let _ = fs::write(&marker, "");
                new_parents.push(PathBuf::from(parent));
            }
        }
        // From here on Drop cleans up whatever got started.
        let mut lab = Lab {
            dir,
            containerd: None,
            dockerd: None,
            cri: None,
            created: Mutex::new(Created::default()),
            new_parents,
        };
        let t0 = Instant::now();
        let archive = lab.build_images();
        trace(t0, "images built");
        if daemons.containerd {
            lab.start_containerd().await;
            run(Command::new("ctr")
                .arg("-a")
                .arg(lab.containerd_socket())
                .args(["-n", CRI_NAMESPACE, "images", "import"])
                .arg(&archive));
            trace(t0, "containerd ready, images imported");
        }
        if daemons.docker {
            lab.start_dockerd().await;
            trace(t0, "dockerd ready");
            run(lab
                .docker_cmd()
                .arg("load")
                .arg("-q")
                .arg("-i")
                .arg(&archive));
            trace(t0, "docker images loaded");
        }
        lab
    }

    /// The lab's unique root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn containerd_socket(&self) -> PathBuf {
        self.dir.join("containerd/containerd.sock")
    }

    fn docker_socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// `unix://` URL of the lab containerd's CRI socket.
    pub fn cri_endpoint(&self) -> String {
        format!("unix://{}", self.containerd_socket().display())
    }

    /// `unix://` URL of the lab dockerd's Engine API socket.
    pub fn docker_endpoint(&self) -> String {
        format!("unix://{}", self.docker_socket().display())
    }

    /// Pid of the lab containerd (not of its tini).
    pub fn containerd_pid(&self) -> i32 {
        self.containerd
            .as_ref()
            .map(|d| d.pid)
            .unwrap_or_else(|| lab_fail("containerd not started in this lab"))
    }

    /// SIGSTOPs the lab containerd: its sockets accept but never answer.
    pub fn pause(&self) {
        if !signal(self.containerd_pid(), Signal::STOP) {
            lab_fail("cannot SIGSTOP the lab containerd");
        }
    }

    /// SIGCONTs the lab containerd after [`Lab::pause`].
    pub fn resume(&self) {
        if !signal(self.containerd_pid(), Signal::CONT) {
            lab_fail("cannot SIGCONT the lab containerd");
        }
    }

    /// Builds the busybox and pause images as one docker-archive tar that
    /// both `ctr images import` and `docker load` accept.
    fn build_images(&self) -> PathBuf {
        let img = self.dir.join("images");
        let rootfs = img.join("rootfs");
        for d in ["bin", "dev", "proc", "sys", "tmp", "etc", "root"] {
            mkdirs(&rootfs.join(d));
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .unwrap_or_else(|e| lab_fail(format!("copy /bin/busybox: {e}")));
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .unwrap_or_else(|e| lab_fail(format!("symlink {applet}: {e}")));
        }
        write(
            &rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n",
        );
        write(&rootfs.join("etc/group"), "root:x:0:\n");
        let pause_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab_assets/pause.c");
        run(Command::new("gcc")
            .args(["-static", "-Os", "-s", "-o"])
            .arg(rootfs.join("pause"))
            .arg(&pause_src));
        let archive_dir = img.join("archive");
        mkdirs(&archive_dir);
        let layer = img.join("layer.tar");
        run(Command::new("tar")
            .args([
                "--numeric-owner",
                "--owner=0",
                "--group=0",
                "--mtime=@0",
                "--sort=name",
                "-C",
            ])
            .arg(&rootfs)
            .arg("-cf")
            .arg(&layer)
            .arg("."));
        let layer_digest = sha256_hex_of_file(&layer);
        mkdirs(&archive_dir.join(&layer_digest));
        fs::rename(&layer, archive_dir.join(&layer_digest).join("layer.tar"))
            .unwrap_or_else(|e| lab_fail(format!("move layer: {e}")));
        let mut manifest = Vec::new();
        for (tag, cfg) in [
            (
                BUSYBOX_IMAGE,
                serde_json::json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]}),
            ),
            (
                PAUSE_IMAGE,
                serde_json::json!({"Env": ["PATH=/bin"], "Entrypoint": ["/pause"]}),
            ),
        ] {
            let config = serde_json::json!({
                "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
                "config": cfg,
                "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
                "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "zombie-cleaner test lab"}],
            });
            let tmp = img.join("config.json");
            write(&tmp, config.to_string());
            let digest = sha256_hex_of_file(&tmp);
            fs::rename(&tmp, archive_dir.join(format!("{digest}.json")))
                .unwrap_or_else(|e| lab_fail(format!("move config: {e}")));
            manifest.push(serde_json::json!({
                "Config": format!("{digest}.json"),
                "RepoTags": [tag],
                "Layers": [format!("{layer_digest}/layer.tar")],
            }));
        }
        write(
            &archive_dir.join("manifest.json"),
            serde_json::Value::Array(manifest).to_string(),
        );
        let archive = img.join("images.tar");
        run(Command::new("tar")
            .arg("-C")
            .arg(&archive_dir)
            .arg("-cf")
            .arg(&archive)
            .arg("."));
        archive
    }

    fn spawn_under_tini(&self, log: &Path, argv: &[String]) -> Child {
        let log_file =
            fs::File::create(log).unwrap_or_else(|e| lab_fail(format!("{}: {e}", log.display())));
        let log_err = log_file
            .try_clone()
            .unwrap_or_else(|e| lab_fail(format!("{}: {e}", log.display())));
        use std::os::unix::process::CommandExt;
        Command::new("tini")
            .args(["-s", "--"])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            // own process group: a Ctrl-C of the test run reaches the test,
            // whose Drop then stops the daemons in order
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| lab_fail(format!("cannot start {argv:?} under tini: {e}")))
    }

    /// Finds the daemon tini started (its only child named `comm`).
    fn child_of(tini: &mut Child, comm: &str, log: &Path) -> i32 {
        let tini_pid = i32::try_from(tini.id()).unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = tini.try_wait() {
                lab_fail(format!(
                    "{comm} exited at start ({status}); log {}:\n{}",
                    log.display(),
                    fs::read_to_string(log).unwrap_or_default()
                ));
            }
            for pid in all_pids() {
                if let Some(st) = proc_stat(pid) {
                    if st.ppid == tini_pid && st.comm == comm {
                        return pid;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        lab_fail(format!("{comm} did not appear under tini {tini_pid}"))
    }

    async fn start_containerd(&mut self) {
        let root = self.dir.join("containerd");
        for d in [
            "root", "state", "opt", "runc", "cni/bin", "cni/conf", "logs",
        ] {
            mkdirs(&root.join(d));
        }
        let r = root.display();
        let config = format!(
            r#"# private, registry-free containerd 1.6 with CRI for the test lab
version = 2
root = "{r}/root"
state = "{r}/state"
[grpc]
  address = "{r}/containerd.sock"
[ttrpc]
  address = ""
[debug]
  address = ""
  level = "warn"
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{r}/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{PAUSE_IMAGE}"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    # no CAP_SYS_RESOURCE here: runc cannot set oom_score_adj=-998 otherwise
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "{r}/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{r}/cni/bin"
      conf_dir = "{r}/cni/conf"
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = ""
"#
        );
        let config_path = root.join("config.toml");
        write(&config_path, config);
        let log = root.join("containerd.log");
        let mut tini = self.spawn_under_tini(
            &log,
            &[
                "containerd".into(),
                "--config".into(),
                config_path.display().to_string(),
            ],
        );
        let pid = Lab::child_of(&mut tini, "containerd", &log);
        self.containerd = Some(Daemon { tini, pid });
        let endpoint = self.cri_endpoint();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match zombie_cleaner::runtime::cri::CriRuntime::connect(
                &endpoint,
                Duration::from_secs(2),
            )
            .await
            {
                Ok(rt) => {
                    self.cri = Some(rt.client());
                    return;
                }
                Err(e) if Instant::now() > deadline => lab_fail(format!(
                    "containerd CRI not ready at {endpoint}: {e}; log:\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                )),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    async fn start_dockerd(&mut self) {
        let root = self.dir.join("docker");
        mkdirs(&root.join("data"));
        mkdirs(&root.join("exec"));
        mkdirs(&self.dir.join("docker-cli"));
        // Our own daemon.json keeps the machine's out. dockerd before 24
        // also writes a trust key, by default to /etc/docker/key.json; its
        // path is only settable here (24+ has no such key and rejects it).
        let config = if dockerd_major_version() < 24 {
            serde_json::json!({"deprecated-key-path": root.join("key.json")})
        } else {
            serde_json::json!({})
        };
        write(&root.join("daemon.json"), config.to_string());
        let log = root.join("dockerd.log");
        let d = |p: &str| root.join(p).display().to_string();
        let mut tini = self.spawn_under_tini(
            &log,
            &[
                "dockerd".into(),
                "--config-file".into(),
                d("daemon.json"),
                "--data-root".into(),
                d("data"),
                "--exec-root".into(),
                d("exec"),
                "-H".into(),
                self.docker_endpoint(),
                "--pidfile".into(),
                d("dockerd.pid"),
                "--iptables=false".into(),
                "--ip6tables=false".into(),
                "--bridge=none".into(),
                "--log-level=warn".into(),
            ],
        );
        let pid = Lab::child_of(&mut tini, "dockerd", &log);
        self.dockerd = Some(Daemon { tini, pid });
        let endpoint = self.docker_endpoint();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match zombie_cleaner::runtime::docker::DockerRuntime::connect(
                &endpoint,
                Duration::from_secs(2),
            )
            .await
            {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => lab_fail(format!(
                    "dockerd not ready at {endpoint}: {e}; log:\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                )),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// A `docker` CLI command bound to the lab dockerd.
    pub fn docker_cmd(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.arg("-H")
            .arg(self.docker_endpoint())
            .env("DOCKER_CONFIG", self.dir.join("docker-cli"));
        cmd
    }

    /// Runs a detached Docker container of the busybox image (no network)
    /// with `command` as PID 1 and the given labels; returns its full id.
    pub fn docker_run(&self, name: &str, command: &[String], labels: &[(&str, &str)]) -> String {
        let mut cmd = self.docker_cmd();
        cmd.args([
            "run",
            "-d",
            "--network",
            "none",
            "--pull",
            "never",
            "--name",
            name,
        ]);
        for (k, v) in labels {
            cmd.arg("--label").arg(format!("{k}={v}"));
        }
        cmd.arg(BUSYBOX_IMAGE).args(command);
        let id = run(&mut cmd).trim().to_owned();
        if id.len() != 64 {
            lab_fail(format!("docker run printed {id:?}, not a container id"));
        }
        self.created_mut().docker_ids.push(id.clone());
        id
    }

    fn created_mut(&self) -> std::sync::MutexGuard<'_, Created> {
        self.created.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A CRI client of the lab containerd, for RPCs the helpers lack.
    pub fn cri_client(&self) -> RuntimeServiceClient<Channel> {
        self.cri
            .clone()
            .unwrap_or_else(|| lab_fail("containerd not started in this lab"))
    }

    /// Creates and starts a pod (host network, `hostname = ""`, cgroup
    /// parent `/kubepods/besteffort/pod<uid>`, kubelet labels on sandbox
    /// and containers) with one container per spec. `shared_pid` makes a
    /// shareProcessNamespace pod: the pause process is PID 1 for all.
    pub async fn create_pod(
        &self,
        namespace: &str,
        name: &str,
        containers: &[ContainerSpec],
        shared_pid: bool,
    ) -> Pod {
        self.create_pod_annotated(namespace, name, containers, shared_pid, &[])
            .await
    }

    /// [`Lab::create_pod`] with pod annotations (they land on the sandbox).
    pub async fn create_pod_annotated(
        &self,
        namespace: &str,
        name: &str,
        containers: &[ContainerSpec],
        shared_pid: bool,
        annotations: &[(&str, &str)],
    ) -> Pod {
        let mut client = self.cri_client();
        let uid = random_uuid();
        self.created_mut().pod_uids.push(uid.clone());
        let pod_labels: HashMap<String, String> = [
            ("io.kubernetes.pod.name", name),
            ("io.kubernetes.pod.namespace", namespace),
            ("io.kubernetes.pod.uid", uid.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let log_dir = self
            .dir
            .join("containerd/logs")
            .join(format!("{namespace}_{name}_{uid}"));
        mkdirs(&log_dir);
        // NODE = 2, CONTAINER = 1, POD = 0
        let ns_opts = NamespaceOption {
            network: 2,
            pid: if shared_pid { 0 } else { 1 },
            ipc: 0,
            ..Default::default()
        };
        let sandbox_config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.to_owned(),
                uid: uid.clone(),
                namespace: namespace.to_owned(),
                attempt: 0,
            }),
            // host UTS namespace: runc refuses a hostname there
            hostname: String::new(),
            log_directory: log_dir.display().to_string(),
            labels: pod_labels.clone(),
            annotations: annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: format!("/kubepods/besteffort/pod{uid}"),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(ns_opts.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sandbox_id = tokio::time::timeout(
            CALL_TIMEOUT,
            client.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(sandbox_config.clone()),
                runtime_handler: String::new(),
            }),
        )
        .await
        .unwrap_or_else(|_| lab_fail("RunPodSandbox timed out"))
        .unwrap_or_else(|e| lab_fail(format!("RunPodSandbox {namespace}/{name}: {e}")))
        .into_inner()
        .pod_sandbox_id;
        self.created_mut().sandbox_ids.push(sandbox_id.clone());
        let status = client
            .pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: sandbox_id.clone(),
                verbose: true,
            })
            .await
            .unwrap_or_else(|e| lab_fail(format!("PodSandboxStatus: {e}")))
            .into_inner();
        let pause_pid = info_pid(&status.info)
            .unwrap_or_else(|| lab_fail(format!("no pause pid in {:?}", status.info)));

        let mut ids = Vec::new();
        for spec in containers {
            let mut labels = pod_labels.clone();
            labels.insert("io.kubernetes.container.name".into(), spec.name.clone());
            let config = ContainerConfig {
                metadata: Some(ContainerMetadata {
                    name: spec.name.clone(),
                    attempt: 0,
                }),
                image: Some(ImageSpec {
                    image: BUSYBOX_IMAGE.to_owned(),
                    ..Default::default()
                }),
                command: spec.command.clone(),
                log_path: format!("{}/0.log", spec.name),
                labels,
                annotations: [(
                    "io.kubernetes.container.restartCount".to_owned(),
                    "0".to_owned(),
                )]
                .into_iter()
                .collect(),
                linux: Some(LinuxContainerConfig {
                    resources: Some(LinuxContainerResources {
                        cpu_shares: 2,
                        oom_score_adj: 1000,
                        ..Default::default()
                    }),
                    security_context: Some(LinuxContainerSecurityContext {
                        namespace_options: Some(ns_opts.clone()),
                        seccomp: Some(SecurityProfile {
                            profile_type: ProfileType::Unconfined as i32,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            };
            let id = tokio::time::timeout(
                CALL_TIMEOUT,
                client.create_container(CreateContainerRequest {
                    pod_sandbox_id: sandbox_id.clone(),
                    config: Some(config),
                    sandbox_config: Some(sandbox_config.clone()),
                }),
            )
            .await
            .unwrap_or_else(|_| lab_fail("CreateContainer timed out"))
            .unwrap_or_else(|e| lab_fail(format!("CreateContainer {}: {e}", spec.name)))
            .into_inner()
            .container_id;
            tokio::time::timeout(
                CALL_TIMEOUT,
                client.start_container(StartContainerRequest {
                    container_id: id.clone(),
                }),
            )
            .await
            .unwrap_or_else(|_| lab_fail("StartContainer timed out"))
            .unwrap_or_else(|e| lab_fail(format!("StartContainer {}: {e}", spec.name)));
            ids.push((spec.name.clone(), id));
        }
        Pod {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid,
            sandbox_id,
            pause_pid,
            containers: ids,
        }
    }

    /// CRI StopContainer(timeout 0) then RemoveContainer.
    pub async fn remove_container(&self, id: &str) {
        let mut client = self.cri_client();
        client
            .stop_container(StopContainerRequest {
                container_id: id.to_owned(),
                timeout: 0,
            })
            .await
            .unwrap_or_else(|e| lab_fail(format!("StopContainer {id}: {e}")));
        client
            .remove_container(RemoveContainerRequest {
                container_id: id.to_owned(),
            })
            .await
            .unwrap_or_else(|e| lab_fail(format!("RemoveContainer {id}: {e}")));
    }
}

/// `Docker version 20.10.24+dfsg1, build ...` -> 20 (0 when unknown).
fn dockerd_major_version() -> u32 {
    let out = run(Command::new("dockerd").arg("--version"));
    out.split_whitespace()
        .nth(2)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

fn info_pid(info: &HashMap<String, String>) -> Option<i32> {
    let v: serde_json::Value = serde_json::from_str(info.get("info")?).ok()?;
    v.get("pid")?.as_i64().and_then(|p| i32::try_from(p).ok())
}

// ------------------------------------------------------------------ /proc

/// The fields of /proc/PID/stat the lab needs.
#[derive(Debug, Clone)]
pub struct ProcStat {
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    /// Field 22: start time in clock ticks since boot.
    pub start_time: u64,
}

/// Parses /proc/PID/stat (comm may hold spaces and `)`).
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = s.get(close + 2..)?.split_whitespace().collect();
    Some(ProcStat {
        comm,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        start_time: rest.get(19)?.parse().ok()?,
    })
}

pub fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The cgroup v2 (`0::`) path of a process, as /proc shows it.
pub fn cgroup_v2(pid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
}

/// Whether (pid, start_time) still names the same process.
pub fn alive(pid: i32, start_time: u64) -> bool {
    proc_stat(pid).is_some_and(|s| s.start_time == start_time)
}

/// Zombies whose cgroup v2 line contains `container_id`: (pid, start_time).
pub fn zombies_of(container_id: &str) -> Vec<(i32, u64)> {
    let mut out: Vec<(i32, u64)> = all_pids()
        .into_iter()
        .filter_map(|pid| {
            let st = proc_stat(pid)?;
            (st.state == 'Z' && cgroup_v2(pid)?.contains(container_id))
                .then_some((pid, st.start_time))
        })
        .collect();
    out.sort_unstable();
    out
}

/// Waits (up to 10 s) until `container_id` has at least `k` zombies.
pub fn wait_zombies(container_id: &str, k: usize) -> Vec<(i32, u64)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let z = zombies_of(container_id);
        if z.len() >= k || Instant::now() > deadline {
            assert!(
                z.len() >= k,
                "container {container_id}: expected {k} zombies, found {z:?}"
            );
            return z;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// --------------------------------------------------------------- teardown

impl Drop for Lab {
    fn drop(&mut self) {
        let td = Teardown {
            dir: self.dir.clone(),
            containerd: self.containerd.take(),
            dockerd: self.dockerd.take(),
            cri_socket: self.cri.take().map(|_| self.containerd_socket()),
            created: std::mem::take(self.created.get_mut().unwrap_or_else(|e| e.into_inner())),
            new_parents: std::mem::take(&mut self.new_parents),
        };
        // Own thread and runtime: Drop may run inside the test's runtime
        // (which cannot block_on) or during a panic.
        let joined = std::thread::spawn(move || td.run()).join();
        if joined.is_err() {
            eprintln!("test lab: teardown of {} panicked", self.dir.display());
        }
    }
}

struct Teardown {
    dir: PathBuf,
    containerd: Option<Daemon>,
    dockerd: Option<Daemon>,
    /// Not the lab's client: a tonic channel runs a worker task on the
    /// runtime that made it, which may be blocked in this very Drop.
    cri_socket: Option<PathBuf>,
    created: Created,
    new_parents: Vec<PathBuf>,
}

fn warn(msg: impl std::fmt::Display) {
    eprintln!("test lab teardown: {msg}");
}

impl Teardown {
    fn run(mut self) {
        let t0 = Instant::now();
        let dir_s = self.dir.display().to_string();
        if let Some(d) = &self.containerd {
            signal(d.pid, Signal::CONT);
        }
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(self.remove_cri_pods()),
            Err(e) => warn(format!("no runtime for CRI cleanup: {e}")),
        }
        trace(t0, "teardown: CRI pods removed");
        self.remove_docker_containers();
        trace(t0, "teardown: docker containers removed");
        let docker_containerd = format!("{dir_s}/docker/exec/containerd/containerd.sock");
        if let Some(d) = self.dockerd.take() {
            stop_daemon(d, "dockerd", Duration::from_secs(15));
        }
        if let Some(d) = self.containerd.take() {
            stop_daemon(d, "containerd", Duration::from_secs(10));
        }
        trace(t0, "teardown: daemons stopped");
        // Anything still running from this lab: shims, dockerd's containerd.
        // Identified by pid and verified by a cmdline naming our dir.
        for pid in all_pids() {
            let Ok(cmd) = fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let prog = cmd.split(' ').next().unwrap_or("");
            let prog = prog.rsplit('/').next().unwrap_or(prog);
            if cmd.contains(&dir_s)
                && matches!(
                    prog,
                    "containerd-shim-runc-v2" | "containerd" | "dockerd" | "tini"
                )
            {
                warn(format!("killing leftover {prog} {pid}"));
                signal(pid, Signal::KILL);
            }
        }
        // Workload processes left by a killed shim live in our cgroups.
        let cgroup_dirs = self.cgroup_dirs();
        for d in &cgroup_dirs {
            kill_cgroup(d);
        }
        self.unmount_all();
        trace(t0, "teardown: unmounted");
        std::thread::sleep(Duration::from_millis(100));
        for d in &cgroup_dirs {
            remove_cgroup_tree(d);
        }
        self.remove_new_parents();
        self.remove_shim_sockets(&docker_containerd);
        trace(t0, "teardown: cgroups and sockets removed");
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            warn(format!("cannot remove {dir_s}: {e}"));
        }
        trace(t0, "teardown: done");
    }

    async fn remove_cri_pods(&mut self) {
        let Some(socket) = self.cri_socket.take() else {
            return;
        };
        let t = Duration::from_secs(10);
        let mut client = match zombie_cleaner::runtime::cri::unix_channel(&socket, t).await {
            Ok(channel) => RuntimeServiceClient::new(channel),
            Err(e) => {
                warn(format!("cannot reach containerd to remove pods: {e}"));
                return;
            }
        };
        if let Ok(Ok(list)) =
            tokio::time::timeout(t, client.list_containers(ListContainersRequest::default())).await
        {
            for c in list.into_inner().containers {
                let _ = tokio::time::timeout(
                    t,
                    client.stop_container(StopContainerRequest {
                        container_id: c.id.clone(),
                        timeout: 0,
                    }),
                )
                .await;
                let _ = tokio::time::timeout(
                    t,
                    client.remove_container(RemoveContainerRequest { container_id: c.id }),
                )
                .await;
            }
        }
        match tokio::time::timeout(t, client.list_pod_sandbox(ListPodSandboxRequest::default()))
            .await
        {
            Ok(Ok(list)) => {
                for sb in list.into_inner().items {
                    if let Some(m) = &sb.metadata {
                        self.created.pod_uids.push(m.uid.clone());
                    }
                    self.created.sandbox_ids.push(sb.id.clone());
                    let _ = tokio::time::timeout(
                        t,
                        client.stop_pod_sandbox(StopPodSandboxRequest {
                            pod_sandbox_id: sb.id.clone(),
                        }),
                    )
                    .await;
                    if let Ok(Err(e)) = tokio::time::timeout(
                        t,
                        client.remove_pod_sandbox(RemovePodSandboxRequest {
                            pod_sandbox_id: sb.id.clone(),
                        }),
                    )
                    .await
                    {
                        warn(format!("RemovePodSandbox {}: {e}", sb.id));
                    }
                }
            }
            Ok(Err(e)) => warn(format!("ListPodSandbox: {e}")),
            Err(_) => warn("ListPodSandbox timed out"),
        }
    }

    fn remove_docker_containers(&mut self) {
        if self.dockerd.is_none() {
            return;
        }
        let sock = format!("unix://{}/docker.sock", self.dir.display());
        let docker = || {
            let mut c = Command::new("docker");
            c.arg("-H")
                .arg(&sock)
                .env("DOCKER_CONFIG", self.dir.join("docker-cli"))
                .stdin(Stdio::null())
                .stderr(Stdio::null());
            c
        };
        if let Ok(out) = docker().args(["ps", "-aq", "--no-trunc"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if !self.created.docker_ids.iter().any(|i| i == id) {
                    self.created.docker_ids.push(id.to_owned());
                }
            }
        }
        if !self.created.docker_ids.is_empty() {
            // force: a SIGTERM-ignoring PID 1 would make dockerd's own
            // shutdown wait ~10 s per container
            let _ = docker()
                .args(["rm", "-f"])
                .args(&self.created.docker_ids)
                .stdout(Stdio::null())
                .status();
        }
    }

    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for root in cgroup_roots() {
            for uid in &self.created.pod_uids {
                let d = root.join(format!("kubepods/besteffort/pod{uid}"));
                if d.is_dir() {
                    dirs.push(d);
                }
            }
            for id in &self.created.docker_ids {
                let d = root.join(format!("docker/{id}"));
                if d.is_dir() {
                    dirs.push(d);
                }
            }
        }
        dirs
    }

    fn unmount_all(&self) {
        let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        let prefix = format!("{}/", self.dir.display());
        let mut points: Vec<String> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        // deepest first
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points.dedup();
        for p in points {
            let ok = Command::new("umount")
                .args(["-l", &p])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                warn(format!("cannot unmount {p}"));
            }
        }
    }

    fn remove_new_parents(&self) {
        // Shared parents go only when no other lab may be using them.
        let others = fs::read_dir("/tmp")
            .map(|d| {
                d.flatten().any(|e| {
                    e.file_name().to_string_lossy().starts_with(LAB_PREFIX) && e.path() != self.dir
                })
            })
            .unwrap_or(true);
        if others {
            return;
        }
        for p in &self.new_parents {
            for root in cgroup_roots() {
                // fails harmlessly if someone else (a foreign dockerd) uses it
                let _ = fs::remove_dir(root.join(p));
            }
            let _ = fs::remove_file(parent_marker(&p.to_string_lossy()));
        }
    }

    /// A dead shim leaves /run/containerd/s/<sha256(address/ns/id)>.
    fn remove_shim_sockets(&self, docker_containerd: &str) {
        let cri_sock = format!("{}/containerd/containerd.sock", self.dir.display());
        let names = self
            .created
            .sandbox_ids
            .iter()
            .map(|id| format!("{cri_sock}/{CRI_NAMESPACE}/{id}"))
            .chain(
                self.created
                    .docker_ids
                    .iter()
                    .map(|id| format!("{docker_containerd}/moby/{id}")),
            );
        for name in names {
            if let Some(p) = shim_socket_for(&name) {
                if p.exists() {
                    warn(format!("removing leftover shim socket {}", p.display()));
                    let _ = fs::remove_file(p);
                }
            }
        }
    }
}

/// The socket containerd 1.6 gives the shim of `id` in `namespace` when
/// containerd listens on `address`: /run/containerd/s/<sha256(address/ns/id)>.
pub fn shim_socket_path(address: &Path, namespace: &str, id: &str) -> Option<PathBuf> {
    shim_socket_for(&format!("{}/{namespace}/{id}", address.display()))
}

fn shim_socket_for(name: &str) -> Option<PathBuf> {
    sha256_hex_of_str(name).map(|hex| Path::new("/run/containerd/s").join(hex))
}

fn stop_daemon(mut d: Daemon, name: &str, grace: Duration) {
    // tini forwards SIGTERM to the daemon
    signal(d.pid, Signal::TERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(d.tini.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    warn(format!("{name} {} did not stop, SIGKILL", d.pid));
    signal(d.pid, Signal::KILL);
    let _ = d.tini.kill();
    let _ = d.tini.wait();
}

fn kill_cgroup(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(procs) = fs::read_to_string(d.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                warn(format!("killing leftover process {pid} in {}", d.display()));
                signal(pid, Signal::KILL);
            }
        }
        if let Ok(entries) = fs::read_dir(&d) {
            stack.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    if dir.exists() {
        if let Err(e) = fs::remove_dir(dir) {
            warn(format!("cannot remove cgroup {}: {e}", dir.display()));
        }
    }
}
