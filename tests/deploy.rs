//! Checks of what `deploy/` and `config/` ship to users: every kustomization
//! renders, every rendered object validates offline against the Kubernetes
//! OpenAPI schema, the DaemonSet asks for the least privilege the docs
//! promise, the ConfigMap is the repo's config/config.yaml byte for byte, and
//! the alerting rules and Grafana dashboard only query metrics the agent
//! exports, in PromQL that promtool accepts.
//!
//! Tools: `kubectl` (for `kubectl kustomize`), `kubernetes-validate` and
//! `promtool`. `scripts/deploy-deps.sh` installs whichever is missing (these
//! tests run it once when one is); a test that still cannot find one fails
//! and names it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The metric names the agent exports (SPEC's six plus the finer ones).
const METRICS: &[&str] = &[
    "zombie_cleaner_zombie_processes_found",
    "zombie_cleaner_containers_cleaned_total",
    "zombie_cleaner_cleanup_failures_total",
    "zombie_cleaner_check_duration_seconds",
    "zombie_cleaner_container_operation_timeouts_total",
    "zombie_cleaner_tracked_containers",
    "zombie_cleaner_cleanups_total",
    "zombie_cleaner_host_zombie_processes",
    "zombie_cleaner_container_zombie_processes",
    "zombie_cleaner_scan_errors_total",
    "zombie_cleaner_skipped_decisions_total",
    "zombie_cleaner_runtime_operation_timeouts_total",
    "zombie_cleaner_oldest_zombie_age_seconds",
    "zombie_cleaner_last_successful_scan_timestamp_seconds",
    "zombie_cleaner_build_info",
];

/// The environment variables that override the config (and NODE_NAME, PROC_ROOT).
const CONFIG_ENV: &[&str] = &[
    "CHECK_INTERVAL",
    "CONFIRM_COUNT",
    "CONTAINER_TIMEOUT",
    "PROCESS_TIMEOUT",
    "MAX_CONCURRENT_CONTAINERS",
    "WHITELIST_PATTERNS",
    "DRY_RUN",
    "RUNTIME_ENDPOINTS",
    "CONTAINER_RUNTIME",
    "STRATEGIES",
    "MAX_CLEANUPS_PER_HOUR",
    "METRICS_ENABLED",
    "METRICS_PORT",
    "METRICS_PATH",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "NODE_NAME",
    "PROC_ROOT",
];

/// Every kustomization a user may apply, relative to the repo root.
const TARGETS: &[&str] = &[
    "deploy",
    "deploy/base",
    "deploy/overlays/cri-o",
    "deploy/overlays/docker",
    "deploy/overlays/dry-run",
    "deploy/overlays/debug",
    "deploy/overlays/prometheus-operator",
];

/// The sockets the agent auto-probes; a runtime component must mount one of
/// them at the same path inside the container.
const PROBED_SOCKETS: &[&str] = &[
    "/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/cri-dockerd.sock",
    "/var/run/docker.sock",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tools_dir() -> PathBuf {
    std::env::var_os("ZC_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/tools"))
}

/// Runs scripts/deploy-deps.sh once per test binary when a tool is missing,
/// so `cargo test` alone works on a fresh machine; what it cannot install
/// still fails the test that needs it, by name.
fn ensure_tools() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let have_validator = tools_dir().join("venv/bin/kubernetes-validate").is_file();
        let have_promtool = Command::new("promtool")
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !(have_validator && have_promtool) {
            let status = Command::new(repo().join("scripts/deploy-deps.sh")).status();
            eprintln!("scripts/deploy-deps.sh: {status:?}");
        }
    });
}

fn kustomize_works(kubectl: &Path) -> bool {
    Command::new(kubectl)
        .args(["kustomize", "--help"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// kubectl from PATH, else the one scripts/deploy-deps.sh put in the venv.
fn kubectl() -> PathBuf {
    ensure_tools();
    let candidates = [
        std::env::var_os("KUBECTL").map(PathBuf::from),
        Some(PathBuf::from("kubectl")),
        Some(tools_dir().join("venv/bin/kubectl")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|k| kustomize_works(k))
        .unwrap_or_else(|| {
            panic!("missing prerequisite: kubectl with `kubectl kustomize`; run scripts/deploy-deps.sh")
        })
}

fn tool_in_venv(name: &str) -> PathBuf {
    ensure_tools();
    let path = tools_dir().join("venv/bin").join(name);
    assert!(
        path.is_file(),
        "missing prerequisite: {} not found; run scripts/deploy-deps.sh",
        path.display()
    );
    path
}

fn promtool() -> PathBuf {
    ensure_tools();
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "missing prerequisite: promtool (Debian package prometheus); run scripts/deploy-deps.sh"
    );
    PathBuf::from("promtool")
}

/// `kubectl kustomize DIR`: the YAML text and its objects.
fn render_uncached(kubectl: &Path, target: &str) -> (String, Vec<Value>) {
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(repo().join(target))
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize {target} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("kustomize output is UTF-8");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("{target}: rendered YAML does not parse: {e}"));
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    assert!(!docs.is_empty(), "{target} rendered no object");
    (text, docs)
}

/// Every target rendered once per test binary (kubectl takes ~0.5 s a run),
/// all at the same time.
fn rendered() -> &'static BTreeMap<&'static str, (String, Vec<Value>)> {
    static RENDERED: OnceLock<BTreeMap<&'static str, (String, Vec<Value>)>> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let kubectl = kubectl();
        std::thread::scope(|s| {
            let handles: Vec<_> = TARGETS
                .iter()
                .map(|t| {
                    let kubectl = &kubectl;
                    (*t, s.spawn(move || render_uncached(kubectl, t)))
                })
                .collect();
            handles
                .into_iter()
                .map(|(t, h)| {
                    (
                        t,
                        h.join().unwrap_or_else(|_| panic!("rendering {t} failed")),
                    )
                })
                .collect()
        })
    })
}

fn render(target: &str) -> (String, Vec<Value>) {
    rendered()
        .get(target)
        .cloned()
        .unwrap_or_else(|| panic!("{target} is not in TARGETS"))
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} named {name}"))
}

fn daemonset(docs: &[Value]) -> &Value {
    find(docs, "DaemonSet", "zombie-cleaner")
}

fn agent_container(ds: &Value) -> &Value {
    let containers = ds["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container in the agent pod");
    &containers[0]
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// Every value under a key named `key`, anywhere in the tree.
fn values_of_key<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == key {
                    out.push(child);
                }
                values_of_key(child, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|c| values_of_key(c, key, out)),
        _ => {}
    }
}

fn cpu_millis(q: &str) -> u64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().expect("cpu millis"),
        None => (q.parse::<f64>().expect("cpu cores") * 1000.0) as u64,
    }
}

fn mem_mib(q: &str) -> u64 {
    if let Some(m) = q.strip_suffix("Mi") {
        m.parse().expect("Mi")
    } else if let Some(g) = q.strip_suffix("Gi") {
        g.parse::<u64>().expect("Gi") * 1024
    } else {
        panic!("memory quantity {q}: use Mi or Gi")
    }
}

/// Metric names a PromQL expression reads, histogram suffixes folded.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("zombie_cleaner_") {
        let start = i + pos;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &expr[start..end];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|b| *b == "zombie_cleaner_check_duration_seconds")
            })
            .unwrap_or(name);
        names.insert(base.to_string());
        i = end;
    }
    names
}

fn assert_known_metrics(what: &str, expr: &str) {
    let names = metric_names(expr);
    for name in &names {
        assert!(
            METRICS.contains(&name.as_str()),
            "{what}: `{expr}` queries {name}, which the agent does not export"
        );
    }
}

/// `promtool check rules` on a rules file holding `rules` in one group.
fn promtool_check_rules(label: &str, groups: &Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("{label}.rules.json"));
    // promtool reads YAML, and JSON is YAML.
    let body = serde_json::json!({ "groups": groups });
    std::fs::write(&path, body.to_string()).expect("write rules");
    let out = Command::new(promtool())
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check rules ({label}) failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_target_is_listed_and_renders() {
    // A new overlay must be added to TARGETS so it is checked like the others.
    let mut on_disk: BTreeSet<String> = std::fs::read_dir(repo().join("deploy/overlays"))
        .expect("deploy/overlays")
        .map(|e| {
            format!(
                "deploy/overlays/{}",
                e.expect("entry").file_name().to_string_lossy()
            )
        })
        .collect();
    on_disk.insert("deploy".into());
    on_disk.insert("deploy/base".into());
    let listed: BTreeSet<String> = TARGETS.iter().map(|s| s.to_string()).collect();
    assert_eq!(on_disk, listed, "deploy/overlays and TARGETS differ");
    for target in TARGETS {
        render(target);
    }
}

#[test]
fn rendered_objects_validate_against_kubernetes_openapi() {
    let validator = tool_in_venv("kubernetes-validate");
    let dir = tempfile::tempdir().expect("tempdir");
    let rendered: Vec<(PathBuf, Vec<Value>)> = TARGETS
        .iter()
        .map(|target| {
            let (text, docs) = render(target);
            let file = dir
                .path()
                .join(format!("{}.yaml", target.replace('/', "_")));
            std::fs::write(&file, &text).expect("write rendered");
            (file, docs)
        })
        .collect();
    // The oldest and the newest Kubernetes the package knows: the manifests
    // must not depend on fields of one version only.
    for version in ["1.25.0", "1.37.0"] {
        let out = Command::new(&validator)
            .args(["--strict", "-k", version])
            .args(rendered.iter().map(|(file, _)| file))
            .output()
            .expect("run kubernetes-validate");
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "rendered manifests do not validate against Kubernetes {version}:\n{log}"
        );
        for (file, docs) in &rendered {
            for doc in docs {
                let kind = doc["kind"].as_str().expect("kind");
                let name = doc["metadata"]["name"].as_str().expect("name");
                let api = doc["apiVersion"].as_str().expect("apiVersion");
                if api.starts_with("monitoring.coreos.com/") {
                    // CRDs: no schema in the package; checked by
                    // prometheus_operator_objects_are_consistent.
                    continue;
                }
                let passed = format!(
                    "{} passed for resource {}/{name} ",
                    file.display(),
                    kind.to_ascii_lowercase()
                );
                assert!(
                    log.contains(&passed),
                    "{}: {kind}/{name} was not validated against {version}:\n{log}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn objects_have_the_documented_names_namespace_and_labels() {
    for target in TARGETS {
        let (_, docs) = render(target);
        let mut core: BTreeSet<(String, String)> = BTreeSet::new();
        for doc in &docs {
            let kind = doc["kind"].as_str().expect("kind").to_string();
            let name = doc["metadata"]["name"].as_str().expect("name").to_string();
            assert_eq!(
                doc["metadata"]["labels"]["app"], "zombie-cleaner",
                "{target}: {kind}/{name} lacks label app=zombie-cleaner"
            );
            let cluster_scoped = kind == "ClusterRole" || kind == "ClusterRoleBinding";
            if cluster_scoped {
                assert!(doc["metadata"]["namespace"].is_null(), "{target}: {kind}");
            } else {
                assert_eq!(
                    doc["metadata"]["namespace"], "kube-system",
                    "{target}: {kind}/{name} not in kube-system"
                );
            }
            if !doc["apiVersion"]
                .as_str()
                .expect("apiVersion")
                .starts_with("monitoring.coreos.com/")
            {
                core.insert((kind, name));
            }
        }
        let expected: BTreeSet<(String, String)> = [
            ("ServiceAccount", "zombie-cleaner"),
            ("ClusterRole", "zombie-cleaner"),
            ("ClusterRoleBinding", "zombie-cleaner"),
            ("ConfigMap", "zombie-cleaner-config"),
            ("Service", "zombie-cleaner-metrics"),
            ("DaemonSet", "zombie-cleaner"),
        ]
        .iter()
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect();
        assert_eq!(core, expected, "{target}: objects");

        let ds = daemonset(&docs);
        assert_eq!(
            ds["spec"]["selector"]["matchLabels"]["app"],
            "zombie-cleaner"
        );
        assert_eq!(
            ds["spec"]["template"]["metadata"]["labels"]["app"],
            "zombie-cleaner"
        );
        assert_eq!(
            ds["spec"]["template"]["spec"]["serviceAccountName"],
            "zombie-cleaner"
        );

        let svc = find(&docs, "Service", "zombie-cleaner-metrics");
        assert_eq!(svc["spec"]["selector"]["app"], "zombie-cleaner");
        let ports = svc["spec"]["ports"].as_array().expect("service ports");
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0]["port"], 9090);
        assert_eq!(ports[0]["name"], "metrics");
        assert_eq!(ports[0]["targetPort"], "metrics");

        let binding = find(&docs, "ClusterRoleBinding", "zombie-cleaner");
        assert_eq!(binding["roleRef"]["name"], "zombie-cleaner");
        assert_eq!(binding["subjects"][0]["kind"], "ServiceAccount");
        assert_eq!(binding["subjects"][0]["name"], "zombie-cleaner");
        assert_eq!(binding["subjects"][0]["namespace"], "kube-system");
    }
}

#[test]
fn cluster_role_grants_only_event_creation() {
    let (_, docs) = render("deploy");
    let role = find(&docs, "ClusterRole", "zombie-cleaner");
    let mut grants = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        for group in rule["apiGroups"].as_array().expect("apiGroups") {
            for res in rule["resources"].as_array().expect("resources") {
                for verb in rule["verbs"].as_array().expect("verbs") {
                    grants.insert(format!(
                        "{}/{}/{}",
                        group.as_str().expect("group"),
                        res.as_str().expect("resource"),
                        verb.as_str().expect("verb")
                    ));
                }
            }
        }
    }
    let expected: BTreeSet<String> = ["/events/create"].iter().map(|s| s.to_string()).collect();
    assert_eq!(grants, expected);
}

#[test]
fn daemonset_asks_for_least_privilege() {
    for target in TARGETS {
        let (_, docs) = render(target);
        let ds = daemonset(&docs);
        let pod = &ds["spec"]["template"]["spec"];
        let c = agent_container(ds);

        assert_eq!(pod["hostPID"], true, "{target}: hostPID");
        assert!(pod["hostNetwork"].is_null() || pod["hostNetwork"] == false);
        assert!(pod["hostIPC"].is_null() || pod["hostIPC"] == false);
        let mut privileged = Vec::new();
        values_of_key(ds, "privileged", &mut privileged);
        assert!(
            privileged.iter().all(|v| **v == Value::Bool(false)),
            "{target}: privileged: true somewhere"
        );
        let sc = &c["securityContext"];
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{target}"
        );
        assert_eq!(
            sc["capabilities"]["add"],
            serde_json::json!(["KILL"]),
            "{target}"
        );
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{target}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{target}");
        assert_eq!(sc["runAsUser"], 0, "{target}: root owns the runtime socket");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );

        assert_eq!(pod["priorityClassName"], "system-node-critical");
        let tolerations = pod["tolerations"].as_array().expect("tolerations");
        assert!(
            tolerations
                .iter()
                .any(|t| t["operator"] == "Exists" && t["key"].is_null() && t["effect"].is_null()),
            "{target}: must tolerate every taint"
        );

        let node = env_value(c, "NODE_NAME").expect("NODE_NAME env");
        assert_eq!(node["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");

        let ports = c["ports"].as_array().expect("ports");
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0]["containerPort"], 9090);
        assert_eq!(ports[0]["name"], "metrics");
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
        assert_eq!(c["livenessProbe"]["httpGet"]["port"], "metrics");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
        assert_eq!(c["readinessProbe"]["httpGet"]["port"], "metrics");

        assert_eq!(
            c["args"],
            serde_json::json!(["-config", "/etc/zombie-cleaner/config.yaml"])
        );

        // SPEC's budget: usually < 100m CPU and < 64Mi, peak < 500m and < 256Mi.
        let res = &c["resources"];
        let get = |k: &str, r: &str| {
            res[k][r]
                .as_str()
                .unwrap_or_else(|| panic!("{k}.{r}"))
                .to_string()
        };
        assert!(cpu_millis(&get("requests", "cpu")) <= 100);
        assert!(mem_mib(&get("requests", "memory")) <= 64);
        assert!(cpu_millis(&get("limits", "cpu")) < 500);
        assert!(mem_mib(&get("limits", "memory")) < 256);
        assert!(cpu_millis(&get("requests", "cpu")) <= cpu_millis(&get("limits", "cpu")));

        // The ConfigMap is mounted as a directory (not subPath) so changes
        // reach the running agent.
        let mounts = c["volumeMounts"].as_array().expect("volumeMounts");
        let config_mount = mounts
            .iter()
            .find(|m| m["mountPath"] == "/etc/zombie-cleaner")
            .expect("config mount");
        assert!(config_mount["subPath"].is_null());
        assert_eq!(config_mount["readOnly"], true);

        // hostPath: nothing in the base; exactly the runtime socket otherwise,
        // mounted where the agent's auto-probe looks for it.
        let volumes = pod["volumes"].as_array().expect("volumes");
        let host_paths: Vec<&Value> = volumes
            .iter()
            .filter(|v| !v["hostPath"].is_null())
            .collect();
        if *target == "deploy/base" {
            assert!(host_paths.is_empty(), "base mounts nothing from the host");
        } else {
            assert_eq!(host_paths.len(), 1, "{target}: only the runtime socket");
            let hp = &host_paths[0]["hostPath"];
            assert_eq!(hp["type"], "Socket", "{target}");
            let path = hp["path"].as_str().expect("path");
            assert!(PROBED_SOCKETS.contains(&path), "{target}: {path}");
            let name = &host_paths[0]["name"];
            let mount = mounts
                .iter()
                .find(|m| &m["name"] == name)
                .expect("socket mount");
            assert_eq!(
                mount["mountPath"], path,
                "{target}: socket at its host path"
            );
            assert!(mount["readOnly"].is_null() || mount["readOnly"] == false);
        }
    }
}

#[test]
fn runtime_overlays_mount_their_runtime_socket() {
    for (target, socket) in [
        ("deploy", "/run/containerd/containerd.sock"),
        ("deploy/overlays/dry-run", "/run/containerd/containerd.sock"),
        ("deploy/overlays/cri-o", "/run/crio/crio.sock"),
        ("deploy/overlays/docker", "/var/run/docker.sock"),
    ] {
        let (_, docs) = render(target);
        let volumes = daemonset(&docs)["spec"]["template"]["spec"]["volumes"].clone();
        assert!(
            volumes
                .as_array()
                .expect("volumes")
                .iter()
                .any(|v| v["hostPath"]["path"] == socket),
            "{target} must mount {socket}"
        );
    }
}

#[test]
fn feature_components_set_only_their_variable() {
    let (_, docs) = render("deploy");
    let default = agent_container(daemonset(&docs));
    assert!(env_value(default, "DRY_RUN").is_none());
    assert!(env_value(default, "LOG_LEVEL").is_none());

    let (_, docs) = render("deploy/overlays/dry-run");
    let c = agent_container(daemonset(&docs));
    assert_eq!(env_value(c, "DRY_RUN").expect("DRY_RUN")["value"], "true");
    assert!(env_value(c, "LOG_LEVEL").is_none());

    let (_, docs) = render("deploy/overlays/debug");
    let c = agent_container(daemonset(&docs));
    assert_eq!(
        env_value(c, "LOG_LEVEL").expect("LOG_LEVEL")["value"],
        "debug"
    );
    assert!(env_value(c, "DRY_RUN").is_none());
}

#[test]
fn configmap_is_config_yaml_byte_for_byte() {
    let file =
        std::fs::read_to_string(repo().join("config/config.yaml")).expect("config/config.yaml");
    for target in TARGETS {
        let (_, docs) = render(target);
        let cm = find(&docs, "ConfigMap", "zombie-cleaner-config");
        assert_eq!(
            cm["data"]["config.yaml"].as_str(),
            Some(file.as_str()),
            "{target}: ConfigMap drifted from config/config.yaml"
        );
    }
}

#[test]
fn config_yaml_spells_out_every_default() {
    let text =
        std::fs::read_to_string(repo().join("config/config.yaml")).expect("config/config.yaml");
    let cfg: Value = serde_saphyr::from_str(&text).expect("config/config.yaml parses");
    let c = &cfg["cleaner"];
    assert_eq!(c["check_interval"], "5m");
    assert_eq!(c["confirm_count"], 3);
    assert_eq!(c["container_timeout"], "30s");
    assert_eq!(c["process_timeout"], "10s");
    assert_eq!(c["max_concurrent_containers"], 10);
    assert_eq!(
        c["whitelist_patterns"],
        serde_json::json!(["^kube-system-.*", "^monitoring-.*", "^logging-.*"])
    );
    assert_eq!(c["dry_run"], false);
    assert_eq!(c["runtime_endpoints"], serde_json::json!([]));
    assert_eq!(c["container_runtime"], "auto");
    assert_eq!(
        c["strategies"],
        serde_json::json!(["restart", "kill-init", "kill-shim"])
    );
    assert_eq!(c["max_cleanups_per_hour"], 20);
    assert_eq!(
        cfg["metrics"],
        serde_json::json!({"enabled": true, "port": 9090, "path": "/metrics"})
    );
    assert_eq!(
        cfg["logger"],
        serde_json::json!({"level": "info", "format": "json"})
    );
    let top: BTreeSet<&str> = cfg
        .as_object()
        .expect("map")
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(top, BTreeSet::from(["cleaner", "metrics", "logger"]));
    assert_eq!(
        c.as_object().expect("cleaner map").len(),
        11,
        "cleaner keys"
    );
}

#[test]
fn prometheus_operator_objects_are_consistent() {
    let (_, docs) = render("deploy/overlays/prometheus-operator");
    let sm = find(&docs, "ServiceMonitor", "zombie-cleaner");
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    let svc = find(&docs, "Service", "zombie-cleaner-metrics");
    let selector = sm["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("selector");
    for (k, v) in selector {
        assert_eq!(
            &svc["metadata"]["labels"][k], v,
            "ServiceMonitor selects the Service"
        );
    }
    assert_eq!(
        sm["spec"]["namespaceSelector"]["matchNames"],
        serde_json::json!(["kube-system"])
    );
    let endpoints = sm["spec"]["endpoints"].as_array().expect("endpoints");
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["port"], svc["spec"]["ports"][0]["name"]);
    assert_eq!(endpoints[0]["path"], "/metrics");

    let rule = find(&docs, "PrometheusRule", "zombie-cleaner");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    let groups = &rule["spec"]["groups"];
    let mut alerts = BTreeSet::new();
    for group in groups.as_array().expect("groups") {
        for r in group["rules"].as_array().expect("rules") {
            let name = r["alert"].as_str().expect("alert name");
            let expr = r["expr"].as_str().expect("expr");
            assert_known_metrics(name, expr);
            assert!(
                !metric_names(expr).is_empty()
                    || expr.contains("up{job=\"zombie-cleaner-metrics\"}"),
                "{name}: queries nothing of the agent"
            );
            assert!(r["annotations"]["summary"].is_string(), "{name}: summary");
            alerts.insert(name.to_string());
        }
    }
    for needed in [
        "ZombieCleanerLastingZombies",
        "ZombieCleanerCleanupFailures",
        "ZombieCleanerRuntimeTimeouts",
        "ZombieCleanerDown",
    ] {
        assert!(alerts.contains(needed), "missing alert {needed}");
    }
    promtool_check_rules("prometheusrule", groups);
}

#[test]
fn grafana_dashboard_queries_only_exported_metrics() {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/zombie-cleaner.json"))
        .expect("deploy/grafana/zombie-cleaner.json");
    let dash: Value = serde_json::from_str(&text).expect("dashboard JSON parses");
    assert_eq!(dash["uid"], "zombie-cleaner");
    let mut exprs = Vec::new();
    values_of_key(&dash, "expr", &mut exprs);
    let exprs: Vec<&str> = exprs
        .iter()
        .map(|e| e.as_str().expect("expr is a string"))
        .collect();
    assert!(exprs.len() >= 10, "dashboard has {} queries", exprs.len());

    let mut used = BTreeSet::new();
    for expr in &exprs {
        assert_known_metrics("dashboard", expr);
        used.extend(metric_names(expr));
    }
    // What the dashboard promises: zombies by node, cleanups and failures,
    // success rate, check duration p95, timeouts.
    for needed in [
        "zombie_cleaner_zombie_processes_found",
        "zombie_cleaner_containers_cleaned_total",
        "zombie_cleaner_cleanup_failures_total",
        "zombie_cleaner_check_duration_seconds",
        "zombie_cleaner_container_operation_timeouts_total",
    ] {
        assert!(used.contains(needed), "dashboard never shows {needed}");
    }
    assert!(exprs.iter().any(|e| e.contains("histogram_quantile(0.95")));
    assert!(exprs
        .iter()
        .any(|e| e.contains("by (node)") && e.contains("zombie_cleaner_zombie_processes_found")));

    // Every expression, with Grafana's variables replaced, must be PromQL
    // that promtool accepts.
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let promql = e.replace("$__rate_interval", "5m").replace("$node", ".*");
            serde_json::json!({ "record": format!("dashboard:query_{i}"), "expr": promql })
        })
        .collect();
    promtool_check_rules(
        "dashboard",
        &serde_json::json!([{ "name": "dashboard", "rules": rules }]),
    );
}
#[test]
fn spec_promql_examples_parse() {
    // The three queries SPEC promises work against the agent's metrics.
    let queries = [
        "sum(zombie_cleaner_zombie_processes_found) by (node)",
        "rate(zombie_cleaner_containers_cleaned_total[5m]) / (rate(zombie_cleaner_containers_cleaned_total[5m]) + rate(zombie_cleaner_cleanup_failures_total[5m]))",
        "histogram_quantile(0.95, rate(zombie_cleaner_check_duration_seconds_bucket[5m]))",
    ];
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let rules: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            assert_known_metrics("SPEC example", q);
            assert!(readme.contains(q), "README.md does not show `{q}`");
            serde_json::json!({ "record": format!("spec:query_{i}"), "expr": q })
        })
        .collect();
    promtool_check_rules(
        "spec",
        &serde_json::json!([{ "name": "spec", "rules": rules }]),
    );
}

/// Runs a mk/kubernetes.mk target with a recording kubectl (the only fake:
/// it stands for the cluster); `apply -k`/`delete -k` are rendered with the
/// real kubectl so the generated kustomization itself is checked.
fn make_kubernetes(target: &str, vars: &[(&str, &str)]) -> (Vec<String>, Vec<Value>) {
    let real = kubectl();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("calls");
    let rendered = dir.path().join("rendered.yaml");
    let fake = dir.path().join("kubectl");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{log}'\n\
             if [ \"$1\" = apply ] || [ \"$1\" = delete ]; then exec '{real}' kustomize \"$3\" > '{rendered}'; fi\n",
            log = log.display(),
            real = real.display(),
            rendered = rendered.display()
        ),
    )
    .expect("write fake kubectl");
    Command::new("chmod")
        .arg("+x")
        .arg(&fake)
        .status()
        .expect("chmod");
    let mut cmd = Command::new("make");
    // Run inside `make test`: keep the outer make's flags (-n, -s, jobserver)
    // out of this one.
    cmd.env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .current_dir(repo())
        .args(["--no-print-directory", "-f", "mk/kubernetes.mk", target])
        .arg(format!("KUBECTL={}", fake.display()))
        .arg(format!(
            "ZC_KUSTOMIZE_DIR={}",
            dir.path().join("kz").display()
        ))
        .arg("CARGO=true");
    for (k, v) in vars {
        cmd.arg(format!("{k}={v}"));
    }
    let out = cmd.output().expect("run make");
    assert!(
        out.status.success(),
        "make {target} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let docs = match std::fs::read_to_string(&rendered) {
        Ok(text) => serde_saphyr::from_multiple::<Value>(&text)
            .expect("rendered YAML")
            .into_iter()
            .filter(|d| !d.is_null())
            .collect(),
        Err(_) => Vec::new(),
    };
    (calls, docs)
}

#[test]
fn make_deploy_applies_deploy_dir_components_and_namespace() {
    let (calls, docs) = make_kubernetes(
        "dry-run",
        &[
            ("NAMESPACE", "zc-test"),
            ("DEPLOY_DIR", "deploy/overlays/docker"),
            ("COMPONENTS", "prometheus-operator"),
            ("IMAGE", "registry.example.com:5000/team/zombie-cleaner:1.2"),
        ],
    );
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with("apply -k "), "{calls:?}");
    assert_eq!(
        calls[1],
        "-n zc-test rollout status daemonset/zombie-cleaner --timeout=5m"
    );
    for doc in &docs {
        let kind = doc["kind"].as_str().expect("kind");
        if kind != "ClusterRole" && kind != "ClusterRoleBinding" {
            assert_eq!(doc["metadata"]["namespace"], "zc-test", "{kind}");
        }
    }
    let binding = find(&docs, "ClusterRoleBinding", "zombie-cleaner");
    assert_eq!(binding["subjects"][0]["namespace"], "zc-test");
    find(&docs, "ServiceMonitor", "zombie-cleaner");
    let ds = daemonset(&docs);
    let c = agent_container(ds);
    assert_eq!(env_value(c, "DRY_RUN").expect("DRY_RUN")["value"], "true");
    let volumes = ds["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(volumes.contains("/var/run/docker.sock"), "{volumes}");
    assert_eq!(
        c["image"],
        "registry.example.com:5000/team/zombie-cleaner:1.2"
    );

    // Plain deploy: the default kustomization, no component, kube-system.
    let (calls, docs) = make_kubernetes("deploy", &[]);
    assert!(calls[0].starts_with("apply -k "), "{calls:?}");
    let c = agent_container(daemonset(&docs));
    assert!(env_value(c, "DRY_RUN").is_none());
    assert_eq!(daemonset(&docs)["metadata"]["namespace"], "kube-system");
    assert_eq!(c["image"], "zombie-cleaner:latest");
}

#[test]
fn make_cluster_targets_call_kubectl_as_documented() {
    let (calls, _) = make_kubernetes("metrics", &[]);
    assert_eq!(
        calls,
        ["-n kube-system port-forward svc/zombie-cleaner-metrics 9090:9090"]
    );
    let (calls, _) = make_kubernetes("restart", &[("NAMESPACE", "ns1")]);
    assert_eq!(
        calls,
        [
            "-n ns1 rollout restart daemonset/zombie-cleaner",
            "-n ns1 rollout status daemonset/zombie-cleaner --timeout=5m"
        ]
    );
    let (calls, _) = make_kubernetes("status", &[]);
    assert_eq!(
        calls,
        [
            "-n kube-system get daemonset/zombie-cleaner -o wide",
            "-n kube-system get pods -l app=zombie-cleaner -o wide"
        ]
    );
    let (calls, _) = make_kubernetes("logs", &[]);
    assert_eq!(
        calls,
        ["-n kube-system logs -f -l app=zombie-cleaner --prefix --tail=50 --max-log-requests=50"]
    );
    let (calls, docs) = make_kubernetes("debug", &[]);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let c = agent_container(daemonset(&docs));
    assert_eq!(
        env_value(c, "LOG_LEVEL").expect("LOG_LEVEL")["value"],
        "debug"
    );
    let (calls, docs) = make_kubernetes("undeploy", &[]);
    assert!(calls[0].starts_with("delete -k ") && calls[0].ends_with(" --ignore-not-found"));
    assert_eq!(docs.len(), 6);
    // config-update applies the ConfigMap alone (after check-config, which
    // CARGO=true stands in for here).
    let (calls, docs) = make_kubernetes("config-update", &[]);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["kind"], "ConfigMap");
    assert_eq!(docs[0]["metadata"]["name"], "zombie-cleaner-config");
    assert_eq!(docs[0]["metadata"]["namespace"], "kube-system");
}

#[test]
fn readmes_open_with_the_two_commands_and_document_every_interface() {
    for name in ["README.md", "README.zh-CN.md"] {
        let text = std::fs::read_to_string(repo().join(name)).expect(name);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines[0], "# zombie-cleaner", "{name}");
        assert_eq!(lines[1], "```sh", "{name}");
        assert!(lines[2].starts_with("make run "), "{name}: {}", lines[2]);
        assert!(lines[3].starts_with("make test "), "{name}: {}", lines[3]);
        assert_eq!(lines[4], "```", "{name}");
        let cfg: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(repo().join("config/config.yaml")).expect("config"),
        )
        .expect("config parses");
        for section in ["cleaner", "metrics", "logger"] {
            for key in cfg[section].as_object().expect("section").keys() {
                let full = format!("`{section}.{key}`");
                assert!(text.contains(&full), "{name} does not document {full}");
            }
        }
        for var in CONFIG_ENV {
            assert!(text.contains(&format!("`{var}`")), "{name} lacks {var}");
        }
        for metric in METRICS {
            assert!(
                text.contains(&format!("`{metric}`")),
                "{name} lacks {metric}"
            );
        }
        for target in [
            "build",
            "test",
            "run",
            "bench",
            "image",
            "deploy",
            "undeploy",
            "status",
            "logs",
            "metrics",
            "dry-run",
            "restart",
            "debug",
            "config-update",
        ] {
            assert!(
                text.contains(&format!("`{target}`")),
                "{name} lacks make {target}"
            );
        }
        for q in [
            "sum(zombie_cleaner_zombie_processes_found) by (node)",
            "histogram_quantile(0.95, rate(zombie_cleaner_check_duration_seconds_bucket[5m]))",
        ] {
            assert!(text.contains(q), "{name} lacks `{q}`");
        }
    }
}

#[test]
fn configmap_config_passes_check_config() {
    let (_, docs) = render("deploy");
    let cm = find(&docs, "ConfigMap", "zombie-cleaner-config");
    let text = cm["data"]["config.yaml"].as_str().expect("config.yaml key");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, text).expect("write config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zombie-cleaner"));
    // Only the file counts here, not this machine's environment.
    for var in CONFIG_ENV {
        cmd.env_remove(var);
    }
    let out = cmd
        .args(["check-config", "-config"])
        .arg(&path)
        .output()
        .expect("run zombie-cleaner check-config");
    assert!(
        out.status.success(),
        "check-config rejects the ConfigMap's config.yaml:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let effective: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout))
        .expect("check-config prints YAML");
    let c = &effective["cleaner"];
    assert_eq!(c["check_interval"], "5m", "{effective}");
    assert_eq!(c["confirm_count"], 3, "{effective}");
    assert_eq!(c["dry_run"], false, "{effective}");
    assert_eq!(c["max_cleanups_per_hour"], 20, "{effective}");
    assert_eq!(effective["metrics"]["port"], 9090, "{effective}");
}

#[test]
fn both_dockerfiles_ship_the_same_final_image() {
    // `make image` (no registry) and the multi-stage Dockerfile must produce
    // the same image: FROM scratch, the binary at /zombie-cleaner, root, 9090.
    let instructions = |path: &str| -> Vec<String> {
        let text = std::fs::read_to_string(repo().join(path)).expect(path);
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        let from = lines
            .iter()
            .rposition(|l| l.starts_with("FROM "))
            .unwrap_or_else(|| panic!("{path}: no FROM"));
        lines[from..].to_vec()
    };
    let multi = instructions("Dockerfile");
    let prebuilt = instructions("deploy/image/Dockerfile.prebuilt");
    assert_eq!(multi[0], "FROM scratch");
    assert_eq!(
        multi[1], "COPY --from=build /zombie-cleaner /zombie-cleaner",
        "Dockerfile final stage"
    );
    assert_eq!(prebuilt[1], "COPY zombie-cleaner /zombie-cleaner");
    assert_eq!(multi[0], prebuilt[0]);
    assert_eq!(multi[2..], prebuilt[2..], "final stages differ");
    assert!(multi.contains(&"ENTRYPOINT [\"/zombie-cleaner\"]".to_string()));
    assert!(multi.contains(&"EXPOSE 9090".to_string()));
    // The build stage makes a static binary.
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    assert!(text.contains("-C target-feature=+crt-static"));
    assert!(text.contains("--locked"));
}
