//! `zombie-cleaner scan` names containers through the real runtimes of the
//! test lab: a CRI pod's zombies carry container, pod and namespace; a
//! Docker container's zombies carry its id and name.

#[path = "lab/mod.rs"]
mod lab;

use std::process::{Command, Stdio};

use lab::{wait_zombies, zombie_command, ContainerSpec, Daemons, Lab};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_names_cri_and_docker_containers() {
    let lab = Lab::start_with(Daemons {
        containerd: true,
        docker: true,
    })
    .await;
    let pod = lab
        .create_pod(
            "payments",
            "ledger-0",
            &[ContainerSpec::new("worker", zombie_command(2, false))],
            false,
        )
        .await;
    let cri_id = pod.container_id("worker").to_owned();
    let docker_id = lab.docker_run("zc-scan-named", &zombie_command(2, false), &[]);
    let cri_zombies = wait_zombies(&cri_id, 2);
    let docker_zombies = wait_zombies(&docker_id, 2);

    let endpoints = format!("{},{}", lab.cri_endpoint(), lab.docker_endpoint());
    let out = Command::new(env!("CARGO_BIN_EXE_zombie-cleaner"))
        .args(["scan", "--output", "json"])
        .env("RUNTIME_ENDPOINTS", &endpoints)
        .env_remove("CONTAINER_RUNTIME")
        .stdin(Stdio::null())
        .output()
        .expect("run scan");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let zombies = report["zombies"].as_array().expect("zombies");
    let find = |pid: i32| {
        zombies
            .iter()
            .find(|z| z["pid"].as_i64() == Some(i64::from(pid)))
            .unwrap_or_else(|| panic!("zombie {pid} missing from {report}"))
    };
    for &(pid, start) in &cri_zombies {
        let z = find(pid);
        assert_eq!(z["start_time_ticks"].as_u64(), Some(start));
        let c = &z["container"];
        assert_eq!(c["id"], cri_id.as_str(), "{z}");
        assert_eq!(c["runtime"], "containerd");
        assert_eq!(c["name"], "worker");
        assert_eq!(c["pod_name"], "ledger-0");
        assert_eq!(c["namespace"], "payments");
        assert_eq!(c["pod_uid"], pod.uid.as_str());
    }
    for &(pid, _) in &docker_zombies {
        let c = &find(pid)["container"];
        assert_eq!(c["id"], docker_id.as_str(), "{c}");
        assert_eq!(c["runtime"], "docker");
        assert_eq!(c["name"], "zc-scan-named");
        assert!(c["pod_name"].is_null() && c["namespace"].is_null(), "{c}");
    }
}
