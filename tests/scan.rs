//! Scanner integration tests: the fixture proc tree (odd comms, vanished
//! pids, kernel threads), real zombies made by this test process, and the
//! failure modes (timeout on a blocked read, unreadable proc root).
//! Only processes created here are asserted about: the host has others.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zombie_cleaner::scan::{scan, scan_blocking, ScanError, ScanOptions, Snapshot};

/// `scan` refuses a second concurrent scan of the same root (by design, so
/// stuck workers do not pile up); the tests that scan `/proc` take turns.
static PROC_SCAN: Mutex<()> = Mutex::new(());

fn scan_proc() -> Snapshot {
    let _turn = PROC_SCAN.lock().unwrap_or_else(|e| e.into_inner());
    scan(&ScanOptions {
        proc_root: PathBuf::from("/proc"),
        timeout: Duration::from_secs(30),
    })
    .expect("scan of /proc succeeds")
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc")
}

/// (state, ppid, start time) of `pid`, parsed here independently of the
/// scanner: the fields after the last `)`.
fn proc_stat(pid: u32) -> Option<(char, i32, u64)> {
    let raw = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = raw.iter().rposition(|&b| b == b')')?;
    let rest = String::from_utf8(raw[close + 2..].to_vec()).ok()?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f.first()?.chars().next()?,
        f.get(1)?.parse().ok()?,
        f.get(19)?.parse().ok()?,
    ))
}

/// Polls until `pid` is a zombie; a real zombie takes a few ms to appear.
fn wait_until_zombie(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if matches!(proc_stat(pid), Some(('Z', _, _))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("pid {pid} did not become a zombie within 20s");
}

#[test]
fn fixture_tree_processes_comms_and_zombie_details() {
    let snap = scan_blocking(&fixture()).expect("fixture tree scans");
    let pids: BTreeSet<i32> = snap.processes.iter().map(|p| p.pid).collect();
    let mut want: BTreeSet<i32> = [1, 2, 3, 100, 102, 300, 301, 302, 400, 401].into();
    want.extend((201..=223).filter(|&p| p != 219));
    // 219 has no stat (vanished), 500 is garbage, 4242 is a file, sys is not a pid
    assert_eq!(pids, want);

    let kthread = snap.processes.iter().find(|p| p.pid == 3).expect("pid 3");
    assert_eq!(
        (kthread.state, kthread.ppid, kthread.comm.as_str()),
        (b'I', 2, "kworker/0:0H-events_highpri")
    );

    let zombie_pids: BTreeSet<i32> = snap.zombies.iter().map(|z| z.pid).collect();
    assert_eq!(zombie_pids, (201..=223).filter(|&p| p != 219).collect());

    let z = |pid: i32| {
        snap.zombies
            .iter()
            .find(|z| z.pid == pid)
            .unwrap_or_else(|| panic!("zombie {pid} missing"))
    };
    assert_eq!(z(216).comm, "a) b (c");
    assert_eq!(z(216).ppid, 302);
    assert_eq!(z(217).comm, "x\ny");
    assert_eq!(z(218).comm, "\u{fffd}\u{fffd} z");
    assert_eq!(z(218).start_time, 50218);
    // empty cmdline falls back to comm; a real one has NULs as spaces
    assert_eq!(z(216).cmdline, "a) b (c");
    assert_eq!(z(220).cmdline, "sh -c sleep 1");
    assert_eq!(z(222).cmdline, "defunct");
    assert_eq!(z(222).cgroup, "");
    assert_eq!(z(212).cgroup, "0::/system.slice/cron.service\n");

    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let want_age = 1000.50 - 50201.0 / ticks;
    assert!(
        (z(201).age_seconds - want_age.max(0.0)).abs() < 1e-6,
        "age {} != {want_age}",
        z(201).age_seconds
    );
}

#[test]
fn real_zombie_children_are_found_with_ppid_and_start_time() {
    let mut children: Vec<Child> = (0..3)
        .map(|_| Command::new("true").spawn().expect("spawn true"))
        .collect();
    for c in &children {
        wait_until_zombie(c.id());
    }
    let snap = scan_proc();
    let me = std::process::id() as i32;
    for c in &children {
        let pid = c.id() as i32;
        let z = snap
            .zombies
            .iter()
            .find(|z| z.pid == pid)
            .unwrap_or_else(|| panic!("our zombie {pid} not found"));
        let (_, _, start) = proc_stat(c.id()).expect("our zombie is still there");
        assert_eq!(z.ppid, me);
        assert_eq!(z.start_time, start);
        assert_eq!(z.comm, "true");
        // a zombie's cmdline is empty: the comm stands in
        assert_eq!(z.cmdline, "true");
        assert!(!z.cgroup.is_empty(), "cgroup of {pid} was not read");
        assert!(z.age_seconds >= 0.0);
        let p = snap
            .processes
            .iter()
            .find(|p| p.pid == pid)
            .expect("zombie also listed as a process");
        assert_eq!(p.state, b'Z');
    }
    assert!(
        snap.processes
            .iter()
            .any(|p| p.pid == me && p.state != b'Z'),
        "the test process itself was not scanned"
    );
    for c in &mut children {
        c.wait().expect("reap our zombie");
    }
}

#[test]
fn grandchild_zombie_of_a_non_reaping_parent() {
    // sh forks /bin/true (delayed, so sh cannot reap it first), then becomes
    // `sleep`, which never reaps it.
    let mut sleeper = Command::new("sh")
        .args(["-c", "(sleep 0.2; exec /bin/true) & exec sleep 30"])
        .spawn()
        .expect("spawn sh");
    let parent = sleeper.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(20);
    let found = loop {
        let snap = scan_proc();
        let parent_is_sleep = snap
            .processes
            .iter()
            .any(|p| p.pid == parent && p.comm == "sleep");
        let zombie = snap.zombies.iter().find(|z| z.ppid == parent).cloned();
        if let (true, Some(z)) = (parent_is_sleep, zombie) {
            break Some(z);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let checked = found.map(|z| {
        let now = proc_stat(z.pid as u32);
        (z.comm.clone(), now == Some(('Z', parent, z.start_time)))
    });
    // Only the sleep we started, by its pid; its zombie child goes to init.
    sleeper.kill().expect("kill our sleep");
    sleeper.wait().expect("reap our sleep");
    assert_eq!(
        checked,
        Some(("true".to_owned(), true)),
        "zombie child of sleep {parent} not found with matching ppid/start time"
    );
}

fn write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[test]
fn a_blocked_read_times_out_and_does_not_pile_up_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    write(&root.join("uptime"), b"10.0 10.0\n");
    std::fs::create_dir(root.join("1")).expect("mkdir");
    let fifo = root.join("1/stat");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    let opts = ScanOptions {
        proc_root: root.clone(),
        timeout: Duration::from_millis(300),
    };

    // Opening a FIFO nobody writes blocks, like a read of a D-state task.
    match scan(&opts) {
        Err(ScanError::Timeout { path, timeout }) => {
            assert_eq!(path, root);
            assert_eq!(timeout, Duration::from_millis(300));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    // The first worker is still blocked: no second one is started.
    match scan(&opts) {
        Err(e @ ScanError::Busy { .. }) => assert_eq!(e.metric_label(), "busy"),
        other => panic!("expected Busy, got {other:?}"),
    }
    // Another root is not held up by the stuck one.
    let other = scan(&ScanOptions {
        proc_root: fixture(),
        timeout: Duration::from_secs(30),
    })
    .expect("fixture scan while another root is stuck");
    assert!(!other.zombies.is_empty());

    // Unblock the worker (a writer arrives and leaves: EOF), then the root
    // becomes scannable again.
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("open fifo for writing"),
    );
    std::fs::remove_file(&fifo).expect("rm fifo");
    let deadline = Instant::now() + Duration::from_secs(20);
    let result = loop {
        match scan(&opts) {
            Err(ScanError::Busy { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            r => break r,
        }
    };
    // The worker is free again; the tree it held had no readable process
    // left, which is an error, never "no zombies".
    match result {
        Err(ScanError::NoProcesses { path }) => assert_eq!(path, root),
        other => panic!("expected NoProcesses after release, got {other:?}"),
    }
}

#[test]
fn unreadable_proc_root_is_an_error_not_an_empty_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-proc");
    match scan_blocking(&missing) {
        Err(ScanError::ProcRoot { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected ProcRoot, got {other:?}"),
    }
    let file = dir.path().join("a-file");
    write(&file, b"x");
    let err = scan(&ScanOptions {
        proc_root: file.clone(),
        timeout: Duration::from_secs(10),
    })
    .expect_err("a file is not a proc root");
    assert!(matches!(&err, ScanError::ProcRoot { path, .. } if *path == file));
    assert_eq!(err.metric_label(), "proc_unreadable");
}

#[test]
fn zombies_without_uptime_fail_rather_than_report_a_wrong_age() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir(root.join("7")).expect("mkdir");
    write(
        &root.join("7/stat"),
        b"7 (z) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n",
    );
    match scan_blocking(root) {
        Err(ScanError::Uptime { path, .. }) => assert_eq!(path, root.join("uptime")),
        other => panic!("expected Uptime error, got {other:?}"),
    }
    // Without zombies the uptime is not needed.
    write(
        &root.join("7/stat"),
        b"7 (z) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n",
    );
    let snap = scan_blocking(root).expect("no zombies, no uptime needed");
    assert_eq!(snap.processes.len(), 1);
}

#[test]
fn cgroup_and_cmdline_readers() {
    use zombie_cleaner::scan::{read_cgroup, read_cmdline};
    let root = fixture();
    // the vanished pid still has its cgroup file
    assert_eq!(read_cgroup(&root, 219).as_deref(), Some("0::/\n"));
    assert_eq!(read_cgroup(&root, 222), None);
    assert_eq!(read_cgroup(&root, 99999), None);
    let shim = read_cmdline(&root, 100).expect("shim cmdline");
    assert!(
        shim.starts_with(b"/usr/bin/containerd-shim-runc-v2\0-namespace\0k8s.io\0"),
        "{shim:?}"
    );
    // raw: NULs kept, nothing trimmed
    assert_eq!(
        read_cmdline(&root, 220).as_deref(),
        Some(&b"sh\0-c\0sleep 1\0\0"[..])
    );
    assert_eq!(read_cmdline(&root, 222), None);
}
