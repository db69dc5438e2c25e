//! Attribution over the fixture proc tree (tests/fixtures/proc, written by
//! tests/fixtures/generate.py): one zombie per cgroup layout, plus the
//! parent and ancestor-walk cases.

use std::collections::BTreeMap;
use std::path::PathBuf;

use zombie_cleaner::attribute::{attribute, ContainerRef, ProcessIndex, RuntimeKind};
use zombie_cleaner::scan::scan_blocking;

const UID: &str = "1b2c3d4e-aaaa-bbbb-cccc-0123456789ab";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc")
}

/// The container id the generator gives zombie `pid`.
fn cid(pid: i32) -> String {
    format!("{pid:04}{}", "c0ffee".repeat(10))
}

fn c(runtime: RuntimeKind, id: &str, pod: bool, ns: Option<&str>) -> Option<ContainerRef> {
    Some(ContainerRef {
        runtime,
        id: id.to_owned(),
        pod_uid: pod.then(|| UID.to_owned()),
        namespace: ns.map(str::to_owned),
    })
}

#[test]
fn every_fixture_zombie_is_attributed_as_expected() {
    use RuntimeKind::*;
    let root = fixture();
    let snap = scan_blocking(&root).expect("fixture tree scans");
    let index = ProcessIndex::new(&snap.processes);
    let got: BTreeMap<i32, Option<ContainerRef>> = snap
        .zombies
        .iter()
        .map(|z| (z.pid, attribute(z, &index, &root)))
        .collect();

    let k8s = Some("k8s.io");
    let moby = Some("moby");
    let want: BTreeMap<i32, Option<ContainerRef>> = [
        (201, c(Containerd, &cid(201), true, k8s)),
        (202, c(Containerd, &cid(202), true, k8s)),
        (203, c(Containerd, &cid(203), true, k8s)),
        (204, c(CriO, &cid(204), true, None)),
        // conmon's own scope: not a container, and its parent is init
        (205, None),
        (206, c(CriO, &cid(206), true, None)),
        (207, c(Docker, &cid(207), false, moby)),
        (208, c(Docker, &cid(208), false, moby)),
        (209, c(Containerd, "redis-1", false, Some("default"))),
        (210, c(Containerd, &cid(210), true, k8s)),
        (211, c(Containerd, &cid(211), true, k8s)),
        (212, None),
        (213, None),
        // v1 host, zombie lines all `/`: the parent (300) names the container
        (214, c(Docker, &cid(214), false, moby)),
        // `0::/` all the way up to a CRI shim: the sandbox it serves
        (215, c(Containerd, &"5a".repeat(32), false, k8s)),
        (216, None),
        (217, None),
        (218, None),
        (220, c(Docker, &cid(220), false, moby)),
        // 400 <-> 401 cycle: terminates, host
        (221, None),
        // nothing readable, parent is kthreadd
        (222, None),
        // Docker's shim (namespace moby) above a `0::/` zombie
        (223, c(Docker, &cid(223), false, moby)),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
}

#[test]
fn parent_that_appeared_after_the_scan_is_read_from_proc_root() {
    // An empty index: every ancestor step must fall back to PID/stat.
    let root = fixture();
    let snap = scan_blocking(&root).expect("fixture tree scans");
    let empty = ProcessIndex::new(&[]);
    let z215 = snap
        .zombies
        .iter()
        .find(|z| z.pid == 215)
        .expect("zombie 215 in fixture");
    assert_eq!(
        attribute(z215, &empty, &root).map(|c| c.id),
        Some("5a".repeat(32))
    );
    let z221 = snap
        .zombies
        .iter()
        .find(|z| z.pid == 221)
        .expect("zombie 221 in fixture");
    assert_eq!(attribute(z221, &empty, &root), None);
}

#[test]
fn index_maps_pids_to_parents() {
    let snap = scan_blocking(&fixture()).expect("fixture tree scans");
    let index = ProcessIndex::new(&snap.processes);
    assert_eq!(index.len(), snap.processes.len());
    assert_eq!(index.parent_of(214), Some(300));
    assert_eq!(index.parent_of(3), Some(2));
    assert_eq!(index.parent_of(219), None);
}
