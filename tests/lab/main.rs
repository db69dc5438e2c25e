//! Self-test of the test lab (this directory's `main.rs` is its own test
//! binary): a test that panics with everything in a bad state — a killed
//! shim, a SIGSTOPped pause and containerd, SIGTERM-ignoring PID 1s — still
//! leaves nothing of the lab behind.

#[path = "mod.rs"]
mod lab;

use std::path::Path;
use std::sync::{Arc, Mutex};

use lab::{zombie_command, ContainerSpec, Lab};
use rustix::process::Signal;

#[derive(Debug, Clone, Default)]
struct Made {
    dir: String,
    pod_uids: Vec<String>,
    docker_id: String,
    sandbox_ids: Vec<String>,
}

#[tokio::test]
async fn a_panicking_test_leaves_nothing_behind() {
    let made: Arc<Mutex<Made>> = Arc::default();
    let record = made.clone();
    let task = tokio::spawn(async move {
        let lab = Lab::start().await;
        let plain = lab
            .create_pod(
                "ns-a",
                "plain",
                &[ContainerSpec::new("app", zombie_command(2, true))],
                false,
            )
            .await;
        let shared = lab
            .create_pod(
                "ns-a",
                "shared",
                &[ContainerSpec::new("app", zombie_command(2, true))],
                true,
            )
            .await;
        let docker_id = lab.docker_run("zc-selftest", &zombie_command(2, true), &[]);
        lab::wait_zombies(&docker_id, 2);
        let (zombie, _) = lab::wait_zombies(plain.container_id("app"), 2)[0];
        let init = lab::proc_stat(zombie).expect("zombie").ppid;
        let shim = lab::proc_stat(init).expect("container init").ppid;
        *record.lock().unwrap_or_else(|e| e.into_inner()) = Made {
            dir: lab.dir().display().to_string(),
            pod_uids: vec![plain.uid.clone(), shared.uid.clone()],
            docker_id,
            sandbox_ids: vec![plain.sandbox_id.clone(), shared.sandbox_id.clone()],
        };
        assert!(lab::signal_pid(shim, Signal::KILL), "kill the pod's shim");
        assert!(
            lab::signal_pid(shared.pause_pid, Signal::STOP),
            "stop pause"
        );
        lab.pause();
        panic!("deliberate panic with the lab in a bad state");
    });
    let joined = task.await;
    assert!(
        joined.is_err_and(|e| e.is_panic()),
        "the task must have panicked"
    );

    let made = made.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(!made.dir.is_empty(), "the lab never got going");
    assert!(!Path::new(&made.dir).exists(), "{} left behind", made.dir);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(&made.dir),
        "mounts left under {}",
        made.dir
    );
    for pid in lab::all_pids() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains(&made.dir),
            "process {pid} of the lab left running"
        );
    }
    let roots = std::fs::read_dir("/sys/fs/cgroup").expect("/sys/fs/cgroup");
    for root in roots.flatten() {
        let mut ours: Vec<String> = made
            .pod_uids
            .iter()
            .map(|u| format!("kubepods/besteffort/pod{u}"))
            .collect();
        ours.push(format!("docker/{}", made.docker_id));
        for dir in ours {
            let path = root.path().join(dir);
            assert!(!path.exists(), "cgroup {} left behind", path.display());
        }
    }
    // a shim that died leaves /run/containerd/s/<hash>: the lab removes it
    let address = Path::new(&made.dir).join("containerd/containerd.sock");
    for id in &made.sandbox_ids {
        let socket = lab::shim_socket_path(&address, "k8s.io", id).expect("sha256sum");
        assert!(
            !socket.exists(),
            "shim socket {} left behind",
            socket.display()
        );
    }
}
