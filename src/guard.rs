//! Guard: the last word before a confirmed container is cleaned. It skips
//! host processes, containers whose identity was never resolved, the agent's
//! own pod, pods annotated `zombie-cleaner.io/ignore: "true"`, whitelisted
//! containers, and everything once the hourly cleanup budget is spent.
//! Pure logic, no I/O: the caller passes the identity and the clock.
//!
//! # What a whitelist pattern is matched against
//!
//! Each pattern (a regular expression, unanchored unless it anchors itself)
//! is tried against EACH of these strings, and a match on ANY of them
//! protects the container:
//!
//! | string | example |
//! |---|---|
//! | `namespace` | `kube-system` |
//! | `namespace/pod` | `kube-system/coredns-5d78c9869d-abcde` |
//! | `namespace/pod/container` | `kube-system/coredns-5d78c9869d-abcde/coredns` |
//! | `namespace-pod` (the original tool's form) | `kube-system-coredns-5d78c9869d-abcde` |
//!
//! The default patterns `^kube-system-.*`, `^monitoring-.*`, `^logging-.*`
//! protect every pod of those namespaces through the `namespace-pod` form.
//! That form is ambiguous (`kube` + `system-x` also gives `kube-system-x`);
//! it errs on the side of protecting, which is the safe direction.
//! A string is only formed when all its parts are known. For a container
//! outside Kubernetes (no pod namespace, e.g. a plain Docker container) the
//! container name alone is matched instead.
//!
//! Order of the checks (the first that applies is the reason reported):
//! host process, unresolved identity, own pod, ignore annotation,
//! whitelist, budget.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use regex::Regex;

/// The annotation that opts a pod (or a single container) out.
pub const IGNORE_ANNOTATION: &str = "zombie-cleaner.io/ignore";

/// The budget window: cleanups are counted over the last hour.
const BUDGET_WINDOW: Duration = Duration::from_secs(3600);

/// Who a cleanup would hit, as far as it is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The zombies are in no container at all (host processes).
    pub host: bool,
    /// The runtime answered for this container at least once. An identity
    /// that was never resolved is never acted on: it might be whitelisted.
    pub resolved: bool,
    pub namespace: Option<String>,
    pub pod_name: Option<String>,
    pub container_name: Option<String>,
    pub pod_uid: Option<String>,
    /// Container annotations merged over the pod's.
    pub annotations: BTreeMap<String, String>,
}

/// Why a confirmed container is left alone. A closed set: `as_str` values
/// are metric label values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A whitelist pattern matched; carries the pattern for the logs.
    Whitelisted { pattern: String },
    /// The agent's own pod.
    OwnPod,
    /// Annotated `zombie-cleaner.io/ignore: "true"`.
    IgnoreAnnotation,
    /// The container's identity was never resolved.
    Unresolved,
    /// `max_cleanups_per_hour` cleanups already happened in the last hour.
    BudgetSpent,
    /// Zombies outside any container: reported, never acted on.
    HostProcess,
}

impl SkipReason {
    /// Closed-set label for metrics and logs (the pattern is not part of it).
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::Whitelisted { .. } => "whitelisted",
            SkipReason::OwnPod => "own_pod",
            SkipReason::IgnoreAnnotation => "ignore_annotation",
            SkipReason::Unresolved => "unresolved",
            SkipReason::BudgetSpent => "budget_spent",
            SkipReason::HostProcess => "host_process",
        }
    }
}

/// What to do with a confirmed container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Act,
    Skip(SkipReason),
}

/// Whitelist, own-pod and budget checks for one node.
#[derive(Debug)]
pub struct Guard {
    patterns: Vec<Regex>,
    own_pod_uid: Option<String>,
    max_cleanups_per_hour: u32,
    /// Times of the cleanups inside the window, oldest first; never longer
    /// than `max_cleanups_per_hour`.
    cleanups: VecDeque<Instant>,
}

impl Guard {
    /// `max_cleanups_per_hour` of 0 means report only: nothing is ever
    /// cleaned.
    pub fn new(
        patterns: Vec<Regex>,
        own_pod_uid: Option<String>,
        max_cleanups_per_hour: u32,
    ) -> Self {
        Guard {
            patterns,
            own_pod_uid: own_pod_uid.filter(|uid| !uid.is_empty()),
            max_cleanups_per_hour,
            cleanups: VecDeque::new(),
        }
    }

    /// Decides whether `target` may be cleaned now. Does not spend budget:
    /// call [`Guard::record_cleanup`] when a cleanup was really attempted.
    pub fn decide(&mut self, target: &Identity, now: Instant) -> Decision {
        if target.host {
            return Decision::Skip(SkipReason::HostProcess);
        }
        if !target.resolved {
            return Decision::Skip(SkipReason::Unresolved);
        }
        if let (Some(own), Some(uid)) = (&self.own_pod_uid, &target.pod_uid) {
            if own == uid {
                return Decision::Skip(SkipReason::OwnPod);
            }
        }
        if target
            .annotations
            .get(IGNORE_ANNOTATION)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            return Decision::Skip(SkipReason::IgnoreAnnotation);
        }
        if let Some(pattern) = self.whitelisted_by(target) {
            return Decision::Skip(SkipReason::Whitelisted { pattern });
        }
        self.expire(now);
        if self.cleanups.len() >= self.max_cleanups_per_hour as usize {
            return Decision::Skip(SkipReason::BudgetSpent);
        }
        Decision::Act
    }

    /// Takes new patterns and budget from a reloaded config. The cleanups
    /// already made stay counted: a reload must not refill the budget.
    pub fn reconfigure(&mut self, patterns: Vec<Regex>, max_cleanups_per_hour: u32) {
        self.patterns = patterns;
        self.max_cleanups_per_hour = max_cleanups_per_hour;
    }

    /// Counts one cleanup against the hourly budget.
    pub fn record_cleanup(&mut self, now: Instant) {
        self.expire(now);
        self.cleanups.push_back(now);
        // Bounded: once the budget is spent only the newest entries matter.
        while self.cleanups.len() > (self.max_cleanups_per_hour as usize).max(1) {
            self.cleanups.pop_front();
        }
    }

    /// Cleanups still allowed in the current window.
    pub fn remaining_budget(&mut self, now: Instant) -> u32 {
        self.expire(now);
        let used = u32::try_from(self.cleanups.len()).unwrap_or(u32::MAX);
        self.max_cleanups_per_hour.saturating_sub(used)
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&oldest) = self.cleanups.front() {
            if now.saturating_duration_since(oldest) >= BUDGET_WINDOW {
                self.cleanups.pop_front();
            } else {
                break;
            }
        }
    }

    /// The first pattern matching any of the documented strings.
    fn whitelisted_by(&self, target: &Identity) -> Option<String> {
        let candidates = match_strings(target);
        self.patterns
            .iter()
            .find(|re| candidates.iter().any(|s| re.is_match(s)))
            .map(|re| re.as_str().to_owned())
    }
}

/// The strings a whitelist pattern is matched against (see the module doc).
pub fn match_strings(target: &Identity) -> Vec<String> {
    let mut out = Vec::with_capacity(4);
    match &target.namespace {
        Some(ns) => {
            out.push(ns.clone());
            if let Some(pod) = &target.pod_name {
                out.push(format!("{ns}/{pod}"));
                if let Some(container) = &target.container_name {
                    out.push(format!("{ns}/{pod}/{container}"));
                }
                out.push(format!("{ns}-{pod}"));
            }
        }
        None => {
            if let Some(container) = &target.container_name {
                out.push(container.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_patterns() -> Vec<Regex> {
        ["^kube-system-.*", "^monitoring-.*", "^logging-.*"]
            .iter()
            .map(|p| Regex::new(p).unwrap())
            .collect()
    }

    fn pod(ns: &str, pod: &str, container: &str) -> Identity {
        Identity {
            host: false,
            resolved: true,
            namespace: Some(ns.into()),
            pod_name: Some(pod.into()),
            container_name: Some(container.into()),
            pod_uid: Some(format!("uid-{ns}-{pod}")),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn default_patterns_protect_every_pod_of_their_namespaces() {
        let mut guard = Guard::new(default_patterns(), None, 100);
        let now = Instant::now();
        for ns in ["kube-system", "monitoring", "logging"] {
            for p in ["coredns-5d78c9869d-abcde", "x", "prometheus-0", "a-b-c"] {
                let decision = guard.decide(&pod(ns, p, "main"), now);
                assert!(
                    matches!(decision, Decision::Skip(SkipReason::Whitelisted { .. })),
                    "{ns}/{p} not protected: {decision:?}"
                );
            }
        }
        for ns in ["default", "kube-public", "monitoring2", "my-logging"] {
            assert_eq!(
                guard.decide(&pod(ns, "web-0", "main"), now),
                Decision::Act,
                "{ns} must not be whitelisted by the defaults"
            );
        }
    }

    #[test]
    fn each_documented_form_can_match() {
        let now = Instant::now();
        let target = pod("shop", "cart-7f9", "app");
        for pattern in [
            "^shop$",
            "^shop/cart-7f9$",
            "^shop/cart-7f9/app$",
            "^shop-cart-7f9$",
        ] {
            let mut guard = Guard::new(vec![Regex::new(pattern).unwrap()], None, 100);
            assert_eq!(
                guard.decide(&target, now),
                Decision::Skip(SkipReason::Whitelisted {
                    pattern: pattern.into()
                }),
                "{pattern}"
            );
        }
        let mut guard = Guard::new(vec![Regex::new("^other$").unwrap()], None, 100);
        assert_eq!(guard.decide(&target, now), Decision::Act);
    }

    #[test]
    fn containers_outside_kubernetes_match_by_container_name() {
        let target = Identity {
            resolved: true,
            container_name: Some("kube-system-proxy".into()),
            ..Identity::default()
        };
        assert_eq!(match_strings(&target), vec!["kube-system-proxy".to_owned()]);
        let mut guard = Guard::new(default_patterns(), None, 100);
        assert!(matches!(
            guard.decide(&target, Instant::now()),
            Decision::Skip(SkipReason::Whitelisted { .. })
        ));
    }

    #[test]
    fn host_unresolved_own_pod_and_annotation_are_skipped() {
        let now = Instant::now();
        let mut guard = Guard::new(vec![], Some("uid-default-agent".into()), 100);

        let host = Identity {
            host: true,
            resolved: true,
            ..Identity::default()
        };
        assert_eq!(
            guard.decide(&host, now),
            Decision::Skip(SkipReason::HostProcess)
        );

        let mut unresolved = pod("default", "web", "main");
        unresolved.resolved = false;
        assert_eq!(
            guard.decide(&unresolved, now),
            Decision::Skip(SkipReason::Unresolved)
        );

        assert_eq!(
            guard.decide(&pod("default", "agent", "main"), now),
            Decision::Skip(SkipReason::OwnPod)
        );

        let mut annotated = pod("default", "web", "main");
        annotated
            .annotations
            .insert(IGNORE_ANNOTATION.into(), "true".into());
        assert_eq!(
            guard.decide(&annotated, now),
            Decision::Skip(SkipReason::IgnoreAnnotation)
        );
        annotated
            .annotations
            .insert(IGNORE_ANNOTATION.into(), "false".into());
        assert_eq!(guard.decide(&annotated, now), Decision::Act);
    }

    #[test]
    fn budget_is_a_sliding_hour() {
        let start = Instant::now();
        let mut guard = Guard::new(vec![], None, 2);
        let target = pod("default", "web", "main");
        assert_eq!(guard.decide(&target, start), Decision::Act);
        guard.record_cleanup(start);
        let t1 = start + Duration::from_secs(600);
        assert_eq!(guard.decide(&target, t1), Decision::Act);
        guard.record_cleanup(t1);
        assert_eq!(guard.remaining_budget(t1), 0);
        assert_eq!(
            guard.decide(&target, start + Duration::from_secs(3599)),
            Decision::Skip(SkipReason::BudgetSpent)
        );
        // The first cleanup leaves the window; the second is still in it.
        let t2 = start + Duration::from_secs(3600);
        assert_eq!(guard.decide(&target, t2), Decision::Act);
        assert_eq!(guard.remaining_budget(t2), 1);
        guard.record_cleanup(t2);
        assert_eq!(
            guard.decide(&target, t2),
            Decision::Skip(SkipReason::BudgetSpent)
        );
    }

    #[test]
    fn zero_budget_means_report_only() {
        let mut guard = Guard::new(vec![], None, 0);
        assert_eq!(
            guard.decide(&pod("default", "web", "main"), Instant::now()),
            Decision::Skip(SkipReason::BudgetSpent)
        );
    }

    #[test]
    fn budget_state_is_bounded() {
        let start = Instant::now();
        let mut guard = Guard::new(vec![], None, 3);
        for i in 0..1000 {
            guard.record_cleanup(start + Duration::from_millis(i));
        }
        assert!(guard.cleanups.len() <= 3);
    }

    #[test]
    fn reasons_have_distinct_labels() {
        let all = [
            SkipReason::Whitelisted {
                pattern: "x".into(),
            },
            SkipReason::OwnPod,
            SkipReason::IgnoreAnnotation,
            SkipReason::Unresolved,
            SkipReason::BudgetSpent,
            SkipReason::HostProcess,
        ];
        let labels: std::collections::BTreeSet<_> = all.iter().map(SkipReason::as_str).collect();
        assert_eq!(labels.len(), all.len());
    }
}
