//! Docker Engine client (and endpoint selection) against a real (private)
//! dockerd from the test lab: zombies resolve to their container id and
//! name, cri-dockerd names carry the pod, restart leaves the old zombies
//! gone, and probing tells a CRI socket from a Docker one.

#[path = "lab/mod.rs"]
mod lab;

use std::time::Duration;

use lab::{wait_zombies, zombie_command, ContainerSpec, Daemons, Lab};
use zombie_cleaner::attribute::{ContainerRef, RuntimeKind};
use zombie_cleaner::runtime::docker::DockerRuntime;
use zombie_cleaner::runtime::select::{connect_all, RuntimePreference};
use zombie_cleaner::runtime::{ContainerState, Runtime, RuntimeError};

const CONTAINER_TIMEOUT: Duration = Duration::from_secs(10);

async fn docker_lab() -> Lab {
    Lab::start_with(Daemons {
        containerd: false,
        docker: true,
    })
    .await
}

/// Test-only cgroup reader: the container id in `0::/docker/<id>`.
fn docker_id_from_cgroup(pid: i32) -> String {
    let line = lab::cgroup_v2(pid).unwrap_or_else(|| panic!("pid {pid}: no 0:: cgroup line"));
    let id = line
        .strip_prefix("/docker/")
        .unwrap_or_else(|| panic!("pid {pid}: cgroup {line:?} is not a Docker container"));
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{line:?}"
    );
    id.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_zombies_resolve_to_container_id_and_name() {
    let lab = docker_lab().await;
    let plain = lab.docker_run("zc-plain", &zombie_command(2, false), &[("team", "blue")]);
    let kubelet = lab.docker_run(
        "k8s_app_web_team-d_0a1b-uid_3",
        &zombie_command(1, false),
        &[],
    );
    let rt = DockerRuntime::connect(&lab.docker_endpoint(), CONTAINER_TIMEOUT)
        .await
        .expect("connect to the lab dockerd");
    assert_eq!(rt.kind(), RuntimeKind::Docker);

    for (pid, _) in wait_zombies(&plain, 2) {
        let id = docker_id_from_cgroup(pid);
        assert_eq!(id, plain);
        let info = rt.inspect(&id).await.expect("inspect");
        assert_eq!(info.id, plain);
        assert_eq!(info.name.as_deref(), Some("zc-plain"));
        assert_eq!(info.labels.get("team").map(String::as_str), Some("blue"));
        assert_eq!(info.pod_name, None);
        assert_eq!(info.state, ContainerState::Running);
        let ppid = lab::proc_stat(pid).expect("zombie").ppid;
        assert_eq!(info.init_pid, Some(ppid));
    }
    // cri-dockerd's name form carries the pod identity
    let (pid, _) = wait_zombies(&kubelet, 1)[0];
    let info = rt
        .inspect(&docker_id_from_cgroup(pid))
        .await
        .expect("inspect");
    assert_eq!(info.id, kubelet);
    assert_eq!(info.name.as_deref(), Some("app"));
    assert_eq!(info.pod_name.as_deref(), Some("web"));
    assert_eq!(info.pod_namespace.as_deref(), Some("team-d"));
    assert_eq!(info.pod_uid.as_deref(), Some("0a1b-uid"));
    assert_eq!(info.restart_count, Some(3));

    let missing = "0".repeat(64);
    match rt.inspect(&missing).await {
        Err(RuntimeError::NotFound { id, .. }) => assert_eq!(id, missing),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_through_docker_leaves_the_old_zombies_gone() {
    let lab = docker_lab().await;
    // PID 1 ignores SIGTERM: Docker kills it after the grace period
    let id = lab.docker_run("zc-restart", &zombie_command(2, true), &[]);
    let old = wait_zombies(&id, 2);
    let rt = DockerRuntime::connect(&lab.docker_endpoint(), CONTAINER_TIMEOUT)
        .await
        .expect("connect");
    let before = rt.inspect(&id).await.expect("inspect");
    rt.restart(&id, Duration::from_secs(1))
        .await
        .expect("restart");
    // the old pid namespace is gone once Docker reports the restart; allow
    // the kernel a moment to finish reaping it
    for _ in 0..250 {
        if old.iter().all(|&(pid, start)| !lab::alive(pid, start)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for &(pid, start) in &old {
        assert!(
            !lab::alive(pid, start),
            "old zombie {pid} survived the restart"
        );
    }
    let after = rt.inspect(&id).await.expect("inspect");
    assert_eq!(after.state, ContainerState::Running);
    assert_ne!(after.init_pid, before.init_pid);
    // the restarted command makes new zombies, none of them an old one
    let new = wait_zombies(&id, 2);
    assert!(
        new.iter().all(|z| !old.contains(z)),
        "old {old:?} new {new:?}"
    );
}

#[tokio::test]
async fn missing_docker_socket_is_an_error_naming_the_socket() {
    let sock = "/tmp/zc-no-such-dir/docker.sock";
    let err = DockerRuntime::connect(&format!("unix://{sock}"), Duration::from_secs(1))
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, RuntimeError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(sock), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_probed_and_containers_routed_to_their_runtime() {
    let lab = Lab::start().await;
    let pod = lab
        .create_pod(
            "team-x",
            "mixed",
            &[ContainerSpec::new("app", zombie_command(1, false))],
            false,
        )
        .await;
    let docker_id = lab.docker_run("zc-mixed", &zombie_command(1, false), &[]);
    // the Docker socket first: kinds come from probing, not from the order
    let endpoints = vec![lab.docker_endpoint(), lab.cri_endpoint()];
    let rts = connect_all(&endpoints, RuntimePreference::Auto, CONTAINER_TIMEOUT).await;
    assert!(rts.warnings().is_empty(), "{:?}", rts.warnings());
    let mut kinds: Vec<(String, RuntimeKind)> = rts
        .runtimes()
        .map(|r| (r.endpoint().to_owned(), r.kind()))
        .collect();
    kinds.sort();
    let mut expected = vec![
        (lab.docker_endpoint(), RuntimeKind::Docker),
        (lab.cri_endpoint(), RuntimeKind::Containerd),
    ];
    expected.sort();
    assert_eq!(kinds, expected);

    let cri_ref = ContainerRef {
        runtime: RuntimeKind::Containerd,
        id: pod.container_id("app").to_owned(),
        pod_uid: Some(pod.uid.clone()),
        namespace: None,
    };
    let rt = rts
        .for_container(&cri_ref)
        .expect("a runtime for the CRI container");
    assert_eq!(rt.endpoint(), lab.cri_endpoint());
    assert_eq!(
        rt.inspect(&cri_ref.id)
            .await
            .expect("inspect")
            .pod_name
            .as_deref(),
        Some("mixed")
    );
    // a Docker container runs in containerd's moby namespace: never CRI
    for docker_ref in [
        ContainerRef {
            runtime: RuntimeKind::Docker,
            id: docker_id.clone(),
            pod_uid: None,
            namespace: None,
        },
        ContainerRef {
            runtime: RuntimeKind::Containerd,
            id: docker_id.clone(),
            pod_uid: None,
            namespace: Some("moby".into()),
        },
    ] {
        let rt = rts
            .for_container(&docker_ref)
            .expect("a runtime for the Docker container");
        assert_eq!(rt.endpoint(), lab.docker_endpoint());
        assert_eq!(
            rt.inspect(&docker_id)
                .await
                .expect("inspect")
                .name
                .as_deref(),
            Some("zc-mixed")
        );
    }

    // the probe order guessed from a socket's name is only a guess
    let misnamed_docker = lab.dir().join("runtime.sock");
    let misnamed_cri = lab.dir().join("docker-like.sock");
    std::os::unix::fs::symlink(lab.dir().join("docker.sock"), &misnamed_docker).expect("symlink");
    std::os::unix::fs::symlink(lab.dir().join("containerd/containerd.sock"), &misnamed_cri)
        .expect("symlink");
    let misnamed = vec![
        format!("unix://{}", misnamed_docker.display()),
        format!("unix://{}", misnamed_cri.display()),
    ];
    let probed = connect_all(&misnamed, RuntimePreference::Auto, CONTAINER_TIMEOUT).await;
    assert!(probed.warnings().is_empty(), "{:?}", probed.warnings());
    let kinds: Vec<(&str, RuntimeKind)> = probed
        .runtimes()
        .map(|r| (r.endpoint(), r.kind()))
        .collect();
    assert!(
        kinds.contains(&(misnamed[0].as_str(), RuntimeKind::Docker)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(misnamed[1].as_str(), RuntimeKind::Containerd)),
        "{kinds:?}"
    );

    // container_runtime narrows the choice and says what it skipped
    let only = connect_all(&endpoints, RuntimePreference::Containerd, CONTAINER_TIMEOUT).await;
    let kept: Vec<&str> = only.runtimes().map(|r| r.endpoint()).collect();
    assert_eq!(kept, vec![lab.cri_endpoint().as_str()]);
    assert!(
        only.warnings()
            .iter()
            .any(|w| w.contains(&lab.docker_endpoint())),
        "{:?}",
        only.warnings()
    );
}
