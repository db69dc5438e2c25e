//! CRI client against a real (private) containerd from the test lab:
//! zombies made by real pods resolve to their container, pod, namespace
//! and container name; shared-PID pods; removed containers; a hung runtime;
//! restart through StopContainer.

#[path = "lab/mod.rs"]
mod lab;

use std::time::Duration;

use lab::{wait_zombies, zombie_command, ContainerSpec, Daemons, Lab};
use zombie_cleaner::attribute::RuntimeKind;
use zombie_cleaner::runtime::cri::CriRuntime;
use zombie_cleaner::runtime::select::{connect_all, RuntimePreference};
use zombie_cleaner::runtime::{ContainerState, Runtime, RuntimeError};

const CONTAINER_TIMEOUT: Duration = Duration::from_secs(10);

async fn cri_lab() -> Lab {
    Lab::start_with(Daemons {
        containerd: true,
        docker: false,
    })
    .await
}

/// Test-only cgroup reader (the attribution module is written elsewhere):
/// the 64-hex container id at the end of a process's cgroup v2 path.
fn container_id_from_cgroup(pid: i32) -> String {
    let line = lab::cgroup_v2(pid).unwrap_or_else(|| panic!("pid {pid}: no 0:: cgroup line"));
    let path = line.strip_suffix(" (deleted)").unwrap_or(&line);
    let last = path.rsplit('/').next().unwrap_or("");
    assert!(
        last.len() == 64 && last.bytes().all(|b| b.is_ascii_hexdigit()),
        "pid {pid}: cgroup {line:?} names no container id"
    );
    last.to_owned()
}

/// Polls `cond` for up to 10 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombies_in_two_pods_and_two_containers_resolve_to_their_container_and_pod() {
    let lab = cri_lab().await;
    let web = lab
        .create_pod_annotated(
            "team-a",
            "web",
            &[
                ContainerSpec::new("app", zombie_command(2, false)),
                ContainerSpec::new("sidecar", zombie_command(1, false)),
            ],
            false,
            &[("example.com/owner", "alice")],
        )
        .await;
    let db = lab
        .create_pod(
            "team-b",
            "db",
            &[ContainerSpec::new("app", zombie_command(2, false))],
            false,
        )
        .await;
    let rt = CriRuntime::connect(&lab.cri_endpoint(), CONTAINER_TIMEOUT)
        .await
        .expect("connect to the lab containerd");
    assert_eq!(rt.kind(), RuntimeKind::Containerd);

    for (pod, container, k) in [(&web, "app", 2), (&web, "sidecar", 1), (&db, "app", 2)] {
        let cid = pod.container_id(container);
        let zombies = wait_zombies(cid, k);
        assert_eq!(zombies.len(), k, "{}/{container}: {zombies:?}", pod.name);
        for (pid, _) in zombies {
            let found = container_id_from_cgroup(pid);
            assert_eq!(found, cid, "zombie {pid} of {}/{container}", pod.name);
            let info = rt.inspect(&found).await.expect("inspect");
            assert_eq!(info.id, cid);
            assert_eq!(info.name.as_deref(), Some(container));
            assert_eq!(info.pod_name.as_deref(), Some(pod.name.as_str()));
            assert_eq!(info.pod_namespace.as_deref(), Some(pod.namespace.as_str()));
            assert_eq!(info.pod_uid.as_deref(), Some(pod.uid.as_str()));
            assert_eq!(info.sandbox_id.as_deref(), Some(pod.sandbox_id.as_str()));
            assert!(!info.is_sandbox());
            assert_eq!(info.state, ContainerState::Running);
            assert_eq!(info.restart_count, Some(0));
            let ppid = lab::proc_stat(pid).expect("zombie still there").ppid;
            assert_eq!(
                info.init_pid,
                Some(ppid),
                "the zombie's parent is the container init"
            );
        }
    }
    // pod annotations come from the sandbox, merged under the container's
    let info = rt
        .inspect(web.container_id("sidecar"))
        .await
        .expect("inspect");
    assert_eq!(
        info.annotations
            .get("example.com/owner")
            .map(String::as_str),
        Some("alice")
    );
    assert_eq!(
        info.annotations
            .get("io.kubernetes.container.restartCount")
            .map(String::as_str),
        Some("0")
    );
    let db_info = rt.inspect(db.container_id("app")).await.expect("inspect");
    assert!(!db_info.annotations.contains_key("example.com/owner"));
}

/// Shared-PID pod: when the container init exits, its zombie children are
/// reparented to pause. Pause is SIGSTOPped first so it cannot reap them
/// (as a non-reaping pause would not).
async fn shared_pid_pod_with_zombies_under_pause(lab: &Lab) -> (lab::Pod, String, Vec<(i32, u64)>) {
    let pod = lab
        .create_pod(
            "team-s",
            "shared",
            &[ContainerSpec::new("maker", zombie_command(2, false))],
            true,
        )
        .await;
    let cid = pod.container_id("maker").to_owned();
    let zombies = wait_zombies(&cid, 2);
    assert!(
        lab::signal_pid(pod.pause_pid, rustix::process::Signal::STOP),
        "SIGSTOP pause"
    );
    let rt = CriRuntime::connect(&lab.cri_endpoint(), CONTAINER_TIMEOUT)
        .await
        .expect("connect");
    rt.restart(&cid, Duration::ZERO)
        .await
        .expect("StopContainer");
    let pause = pod.pause_pid;
    eventually("zombies reparented to pause", || {
        zombies
            .iter()
            .all(|&(pid, _)| lab::proc_stat(pid).is_some_and(|s| s.ppid == pause && s.state == 'Z'))
    })
    .await;
    (pod, cid, zombies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_pid_zombie_reparented_to_pause_maps_to_its_pod() {
    let lab = cri_lab().await;
    let (pod, cid, zombies) = shared_pid_pod_with_zombies_under_pause(&lab).await;
    let rt = CriRuntime::connect(&lab.cri_endpoint(), CONTAINER_TIMEOUT)
        .await
        .expect("connect");
    for &(pid, _) in &zombies {
        // its own cgroup still names the (stopped) container ...
        assert_eq!(container_id_from_cgroup(pid), cid);
        let info = rt.inspect(&cid).await.expect("inspect stopped container");
        assert_eq!(info.state, ContainerState::Exited);
        assert_eq!(info.pod_name.as_deref(), Some("shared"));
        // ... and its parent, pause, is in the sandbox's cgroup: the pod
        let parent = lab::proc_stat(pid).expect("zombie").ppid;
        let parent_cgroup = container_id_from_cgroup(parent);
        assert_eq!(parent_cgroup, pod.sandbox_id);
        let sandbox = rt.inspect(&parent_cgroup).await.expect("inspect sandbox");
        assert!(sandbox.is_sandbox());
        assert_eq!(sandbox.name, None);
        assert_eq!(sandbox.pod_name.as_deref(), Some("shared"));
        assert_eq!(sandbox.pod_namespace.as_deref(), Some("team-s"));
        assert_eq!(sandbox.pod_uid.as_deref(), Some(pod.uid.as_str()));
        assert_eq!(sandbox.init_pid, Some(pod.pause_pid));
    }
    assert!(lab::signal_pid(
        pod.pause_pid,
        rustix::process::Signal::CONT
    ));
    eventually("pause reaps the adopted zombies", || {
        zombies.iter().all(|&(pid, start)| !lab::alive(pid, start))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_container_cgroup_reads_deleted_and_inspect_is_not_found() {
    let lab = cri_lab().await;
    let (pod, cid, zombies) = shared_pid_pod_with_zombies_under_pause(&lab).await;
    lab.remove_container(&cid).await;
    let suffix = format!("/{cid} (deleted)");
    eventually("zombie cgroup path reads (deleted)", || {
        zombies
            .iter()
            .all(|&(pid, _)| lab::cgroup_v2(pid).is_some_and(|l| l.ends_with(&suffix)))
    })
    .await;
    let line = lab::cgroup_v2(zombies[0].0).expect("zombie still there");
    assert_eq!(
        line,
        format!("/kubepods/besteffort/pod{}/{cid} (deleted)", pod.uid)
    );
    let rt = CriRuntime::connect(&lab.cri_endpoint(), CONTAINER_TIMEOUT)
        .await
        .expect("connect");
    let res = tokio::time::timeout(CONTAINER_TIMEOUT * 2, rt.inspect(&cid))
        .await
        .expect("inspect of a removed container must not hang");
    match res {
        Err(RuntimeError::NotFound { id, endpoint }) => {
            assert_eq!(id, cid);
            assert_eq!(endpoint, lab.cri_endpoint());
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(lab::signal_pid(
        pod.pause_pid,
        rustix::process::Signal::CONT
    ));
}

#[tokio::test]
async fn missing_socket_is_an_error_naming_the_socket() {
    let sock = "/tmp/zc-no-such-dir/containerd.sock";
    let url = format!("unix://{sock}");
    let err = CriRuntime::connect(&url, Duration::from_secs(1))
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, RuntimeError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(sock), "{err}");
    let rts = connect_all(&[url], RuntimePreference::Auto, Duration::from_secs(1)).await;
    assert!(rts.is_empty());
    assert!(
        rts.warnings().iter().any(|w| w.contains(sock)),
        "{:?}",
        rts.warnings()
    );
    let err = CriRuntime::connect("/run/containerd/containerd.sock", Duration::from_secs(1))
        .await
        .expect_err("not a unix:// URL");
    assert!(
        err.to_string().contains("/run/containerd/containerd.sock"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_containerd_times_out_within_container_timeout() {
    let lab = cri_lab().await;
    let pod = lab
        .create_pod(
            "team-h",
            "hung",
            &[ContainerSpec::new("app", zombie_command(1, false))],
            false,
        )
        .await;
    let cid = pod.container_id("app");
    let timeout = Duration::from_secs(1);
    let rt = CriRuntime::connect(&lab.cri_endpoint(), timeout)
        .await
        .expect("connect");
    rt.inspect(cid)
        .await
        .expect("inspect while containerd runs");
    lab.pause();
    // the outer bound only guards the test against a hang
    let inspect = tokio::time::timeout(timeout * 5, rt.inspect(cid)).await;
    let restart = tokio::time::timeout(timeout * 5, rt.restart(cid, Duration::ZERO)).await;
    let probe = connect_all(&[lab.cri_endpoint()], RuntimePreference::Auto, timeout).await;
    lab.resume();
    match inspect {
        Ok(Err(e @ RuntimeError::Timeout { .. })) => {
            assert!(e.is_timeout());
            assert_eq!(e.metric_label(), "timeout");
            assert!(e.to_string().contains(&lab.cri_endpoint()), "{e}");
        }
        other => panic!("inspect: expected Timeout, got {other:?}"),
    }
    assert!(
        matches!(restart, Ok(Err(RuntimeError::Timeout { .. }))),
        "restart: {restart:?}"
    );
    assert!(probe.is_empty());
    assert!(
        probe
            .warnings()
            .iter()
            .any(|w| w.contains(&lab.cri_endpoint())),
        "{:?}",
        probe.warnings()
    );
    // the same client works again once containerd runs
    let info = rt.inspect(cid).await.expect("inspect after SIGCONT");
    assert_eq!(info.state, ContainerState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_through_cri_leaves_the_old_zombies_gone() {
    let lab = cri_lab().await;
    let pod = lab
        .create_pod(
            "team-r",
            "restart",
            // PID 1 ignores SIGTERM: the grace period runs out, then SIGKILL
            &[ContainerSpec::new("app", zombie_command(2, true))],
            false,
        )
        .await;
    let cid = pod.container_id("app");
    let old = wait_zombies(cid, 2);
    let rt = CriRuntime::connect(&lab.cri_endpoint(), CONTAINER_TIMEOUT)
        .await
        .expect("connect");
    rt.restart(cid, Duration::from_secs(1))
        .await
        .expect("StopContainer");
    eventually("old zombies gone", || {
        old.iter().all(|&(pid, start)| !lab::alive(pid, start))
    })
    .await;
    let info = rt.inspect(cid).await.expect("inspect");
    assert_eq!(info.state, ContainerState::Exited);
    assert_eq!(info.init_pid, None);
}
