//! Confirm: decides when a container's zombies have lasted long enough to
//! act on. A zombie is identified by (pid, start time), never by pid alone,
//! because pids are reused within minutes on a busy node. A container is
//! confirmed once one of its zombies was seen in `confirm_count` consecutive
//! scans; transient zombies (exec probes, shell wrappers that reap a moment
//! later) never reach that count. Pure logic, no I/O: the caller hands in
//! what one scan saw and gets back one observation per container.
//!
//! State is bounded by the last scan: a container with no zombies in a scan
//! is dropped, and so is a zombie that was not seen again (its count would
//! restart at 1 if it came back, which a real zombie cannot do).

use std::collections::{BTreeMap, BTreeSet};

use crate::attribute::ContainerRef;

/// A zombie's identity: the pid together with its start time (field 22 of
/// `/proc/PID/stat`), so a reused pid is a different zombie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ZombieKey {
    pub pid: i32,
    pub start_time: u64,
}

/// What the tracker concluded about one container after one scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub container: ContainerRef,
    /// Every zombie seen in this container in this scan.
    pub zombies: BTreeSet<ZombieKey>,
    /// The longest run of consecutive scans in which one and the same
    /// zombie was seen (1 for zombies that are new this scan).
    pub consecutive_scans: u32,
    /// True when some zombie was seen in `confirm_count` consecutive scans.
    pub confirmed: bool,
    /// The zombies that reached `confirm_count`: the ones a cleanup must
    /// make disappear. Empty unless `confirmed`.
    pub confirmed_zombies: BTreeSet<ZombieKey>,
}

/// Consecutive-scan counts per container and zombie.
#[derive(Debug, Clone)]
pub struct Tracker {
    confirm_count: u32,
    containers: BTreeMap<ContainerRef, BTreeMap<ZombieKey, u32>>,
}

impl Tracker {
    /// `confirm_count` of 0 is treated as 1: a container cannot be
    /// confirmed before its zombies were seen at all.
    pub fn new(confirm_count: u32) -> Self {
        Tracker {
            confirm_count: confirm_count.max(1),
            containers: BTreeMap::new(),
        }
    }

    /// Feeds one complete scan: every container that has zombies now, with
    /// those zombies. Containers absent from `seen` (or with an empty set)
    /// are forgotten. Observations come back in container order.
    pub fn observe(
        &mut self,
        seen: BTreeMap<ContainerRef, BTreeSet<ZombieKey>>,
    ) -> Vec<Observation> {
        let mut previous = std::mem::take(&mut self.containers);
        let mut observations = Vec::with_capacity(seen.len());
        for (container, zombies) in seen {
            if zombies.is_empty() {
                continue;
            }
            let before = previous.remove(&container).unwrap_or_default();
            let counts: BTreeMap<ZombieKey, u32> = zombies
                .iter()
                .map(|key| {
                    let count = before.get(key).map_or(1, |c| c.saturating_add(1));
                    (*key, count)
                })
                .collect();
            let consecutive_scans = counts.values().copied().max().unwrap_or(0);
            let confirmed_zombies: BTreeSet<ZombieKey> = counts
                .iter()
                .filter(|(_, &c)| c >= self.confirm_count)
                .map(|(k, _)| *k)
                .collect();
            observations.push(Observation {
                container: container.clone(),
                zombies,
                consecutive_scans,
                confirmed: !confirmed_zombies.is_empty(),
                confirmed_zombies,
            });
            self.containers.insert(container, counts);
        }
        observations
    }

    /// Number of containers currently tracked (containers with zombies in
    /// the last scan).
    pub fn tracked(&self) -> usize {
        self.containers.len()
    }

    /// Drops a container's counts, e.g. after it was cleaned, so zombies
    /// that survive a cleanup must be confirmed again before the next try.
    pub fn forget(&mut self, container: &ContainerRef) {
        self.containers.remove(container);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::RuntimeKind;

    fn container(id: &str) -> ContainerRef {
        ContainerRef {
            runtime: RuntimeKind::Containerd,
            id: id.to_owned(),
            pod_uid: None,
            namespace: None,
        }
    }

    fn key(pid: i32, start_time: u64) -> ZombieKey {
        ZombieKey { pid, start_time }
    }

    fn scan(entries: &[(&str, &[ZombieKey])]) -> BTreeMap<ContainerRef, BTreeSet<ZombieKey>> {
        entries
            .iter()
            .map(|(id, keys)| (container(id), keys.iter().copied().collect()))
            .collect()
    }

    #[test]
    fn confirms_after_exactly_confirm_count_scans() {
        let mut tracker = Tracker::new(3);
        let z = [key(100, 5000)];
        for expected_scans in 1..=2 {
            let obs = tracker.observe(scan(&[("a", &z)]));
            assert_eq!(obs.len(), 1);
            assert_eq!(obs[0].consecutive_scans, expected_scans);
            assert!(!obs[0].confirmed, "confirmed after {expected_scans} scans");
            assert!(obs[0].confirmed_zombies.is_empty());
        }
        let obs = tracker.observe(scan(&[("a", &z)]));
        assert_eq!(obs[0].consecutive_scans, 3);
        assert!(obs[0].confirmed);
        assert_eq!(obs[0].confirmed_zombies, z.iter().copied().collect());
    }

    #[test]
    fn transient_zombies_never_confirm() {
        // An exec probe leaves a fresh zombie every scan that is reaped
        // before the next one: the container always has zombies, but never
        // the same one twice.
        let mut tracker = Tracker::new(3);
        for i in 0..10u64 {
            let pid = 200 + i32::try_from(i).unwrap_or(0);
            let obs = tracker.observe(scan(&[("probe", &[key(pid, 7000 + i)])]));
            assert_eq!(obs[0].consecutive_scans, 1);
            assert!(!obs[0].confirmed);
        }
    }

    #[test]
    fn a_zombie_that_disappears_restarts_its_count() {
        let mut tracker = Tracker::new(3);
        let z = [key(100, 5000)];
        tracker.observe(scan(&[("a", &z)]));
        tracker.observe(scan(&[("a", &z)]));
        tracker.observe(scan(&[]));
        let obs = tracker.observe(scan(&[("a", &z)]));
        assert_eq!(obs[0].consecutive_scans, 1);
        assert!(!obs[0].confirmed);
    }

    #[test]
    fn reused_pid_with_new_start_time_restarts_the_count() {
        let mut tracker = Tracker::new(3);
        tracker.observe(scan(&[("a", &[key(100, 5000)])]));
        tracker.observe(scan(&[("a", &[key(100, 5000)])]));
        // Same pid, different process.
        let obs = tracker.observe(scan(&[("a", &[key(100, 9000)])]));
        assert_eq!(obs[0].consecutive_scans, 1);
        assert!(!obs[0].confirmed);
    }

    #[test]
    fn only_the_lasting_zombies_are_confirmed() {
        let mut tracker = Tracker::new(2);
        let old = key(100, 5000);
        tracker.observe(scan(&[("a", &[old])]));
        let new = key(101, 6000);
        let obs = tracker.observe(scan(&[("a", &[old, new])]));
        assert!(obs[0].confirmed);
        assert_eq!(obs[0].zombies.len(), 2);
        assert_eq!(obs[0].confirmed_zombies, [old].into_iter().collect());
    }

    #[test]
    fn confirm_count_zero_behaves_as_one() {
        let mut tracker = Tracker::new(0);
        let obs = tracker.observe(scan(&[("a", &[key(1, 1)])]));
        assert!(obs[0].confirmed);
    }

    #[test]
    fn state_is_bounded_by_the_last_scan() {
        let mut tracker = Tracker::new(3);
        for round in 0..100u64 {
            let id = format!("c{round}");
            tracker.observe(scan(&[(&id, &[key(1000, round)])]));
            assert_eq!(tracker.tracked(), 1);
        }
        tracker.observe(scan(&[("x", &[]), ("y", &[key(5, 5)])]));
        assert_eq!(tracker.tracked(), 1, "empty sets are not tracked");
        tracker.observe(BTreeMap::new());
        assert_eq!(tracker.tracked(), 0);
    }

    #[test]
    fn forget_drops_a_container() {
        let mut tracker = Tracker::new(2);
        let z = [key(100, 5000)];
        tracker.observe(scan(&[("a", &z), ("b", &z)]));
        assert_eq!(tracker.tracked(), 2);
        tracker.forget(&container("a"));
        assert_eq!(tracker.tracked(), 1);
        let obs = tracker.observe(scan(&[("a", &z), ("b", &z)]));
        assert_eq!(obs[0].consecutive_scans, 1, "a restarts after forget");
        assert_eq!(obs[1].consecutive_scans, 2);
        assert!(obs[1].confirmed);
    }
}
