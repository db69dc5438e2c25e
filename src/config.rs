//! Config: the YAML file (keys under `cleaner:`, plus the original tool's
//! `metrics:` and `logger:` sections), then environment overrides, then
//! validation — three separate steps. Every problem is collected and named
//! with where it came from (file line, variable, or key), so `check-config`
//! can print them all at once.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Strategy names accepted in `cleaner.strategies`, in escalation order.
pub const STRATEGY_NAMES: [&str; 3] = ["restart", "kill-init", "kill-shim"];
/// Values accepted in `cleaner.container_runtime`.
pub const RUNTIME_NAMES: [&str; 4] = ["auto", "containerd", "cri-o", "docker"];
/// Values accepted in `logger.level`.
pub const LOG_LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];
/// Values accepted in `logger.format`.
pub const LOG_FORMATS: [&str; 2] = ["json", "text"];

/// The effective, validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub check_interval: Duration,
    pub confirm_count: u32,
    pub container_timeout: Duration,
    pub process_timeout: Duration,
    pub max_concurrent_containers: usize,
    /// Validated regular expressions, as written.
    pub whitelist_patterns: Vec<String>,
    pub dry_run: bool,
    /// `unix:///path` URLs; empty means auto-probe the usual sockets.
    pub runtime_endpoints: Vec<String>,
    /// One of [`RUNTIME_NAMES`].
    pub container_runtime: String,
    /// Each one of [`STRATEGY_NAMES`], no repeats.
    pub strategies: Vec<String>,
    pub max_cleanups_per_hour: u32,
    pub metrics: MetricsConfig,
    pub logger: LoggerConfig,
    pub proc_root: PathBuf,
    /// Node label for metrics and logs (`NODE_NAME`, else the hostname).
    pub node_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub port: u16,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggerConfig {
    /// One of [`LOG_LEVELS`].
    pub level: String,
    /// One of [`LOG_FORMATS`].
    pub format: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            check_interval: Duration::from_secs(300),
            confirm_count: 3,
            container_timeout: Duration::from_secs(30),
            process_timeout: Duration::from_secs(10),
            max_concurrent_containers: 10,
            whitelist_patterns: ["^kube-system-.*", "^monitoring-.*", "^logging-.*"]
                .map(String::from)
                .to_vec(),
            dry_run: false,
            runtime_endpoints: Vec::new(),
            container_runtime: "auto".into(),
            strategies: STRATEGY_NAMES.map(String::from).to_vec(),
            max_cleanups_per_hour: 20,
            metrics: MetricsConfig {
                enabled: true,
                port: 9090,
                path: "/metrics".into(),
            },
            logger: LoggerConfig {
                level: "info".into(),
                format: "json".into(),
            },
            proc_root: PathBuf::from("/proc"),
            node_name: None,
        }
    }
}

/// Every problem found while loading a config; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads environment variables; tests pass a map instead of touching the
/// process environment.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

// The file as written. Every field optional so that defaults apply, and
// unknown keys rejected so a typo is an error with its line, not a silent
// default. Numbers are read wide so negatives get our own message.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    cleaner: Option<RawCleaner>,
    #[serde(default)]
    metrics: Option<RawMetrics>,
    #[serde(default)]
    logger: Option<RawLogger>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawCleaner {
    check_interval: Option<String>,
    confirm_count: Option<i64>,
    container_timeout: Option<String>,
    process_timeout: Option<String>,
    max_concurrent_containers: Option<i64>,
    whitelist_patterns: Option<Vec<String>>,
    dry_run: Option<bool>,
    runtime_endpoints: Option<Vec<String>>,
    container_runtime: Option<String>,
    strategies: Option<Vec<String>>,
    max_cleanups_per_hour: Option<i64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    enabled: Option<bool>,
    port: Option<i64>,
    path: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawLogger {
    level: Option<String>,
    format: Option<String>,
}

/// Loads `path` (or only defaults when `None`), applies environment
/// overrides from `env`, and validates the result.
pub fn load(path: Option<&Path>, env: &dyn Env) -> Result<Config, ConfigErrors> {
    let raw = match path {
        None => RawFile::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigErrors(vec![format!("{}: cannot read: {e}", p.display())]))?;
            parse_file(&text, &p.display().to_string())?
        }
    };
    let source = path.map_or_else(|| "defaults".to_owned(), |p| p.display().to_string());
    resolve(raw, env, &source)
}

/// Parses config text; `origin` names it in errors.
pub fn load_str(text: &str, origin: &str, env: &dyn Env) -> Result<Config, ConfigErrors> {
    resolve(parse_file(text, origin)?, env, origin)
}

fn parse_file(text: &str, origin: &str) -> Result<RawFile, ConfigErrors> {
    if text.trim().is_empty() {
        return Ok(RawFile::default());
    }
    serde_saphyr::from_str::<Option<RawFile>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|e| {
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid YAML");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            ConfigErrors(vec![format!("{origin}: {first}")])
        })
}

// Collects errors instead of stopping at the first one.
struct Resolver<'a> {
    errors: Vec<String>,
    env: &'a dyn Env,
    source: &'a str,
}

impl Resolver<'_> {
    fn key_err(&mut self, key: &str, msg: impl fmt::Display) {
        self.errors.push(format!("{}: {key}: {msg}", self.source));
    }

    fn env_err(&mut self, var: &str, value: &str, msg: impl fmt::Display) {
        self.errors
            .push(format!("environment variable {var}={value:?}: {msg}"));
    }

    fn duration(
        &mut self,
        key: &str,
        var: &str,
        file: Option<String>,
        default: Duration,
    ) -> Duration {
        let mut out = default;
        if let Some(v) = file {
            match parse_duration(&v) {
                Ok(d) => out = d,
                Err(e) => self.key_err(key, format_args!("{v:?}: {e}")),
            }
        }
        if let Some(v) = self.env.var(var) {
            match parse_duration(&v) {
                Ok(d) => out = d,
                Err(e) => self.env_err(var, &v, e),
            }
        }
        out
    }

    fn count(&mut self, key: &str, var: &str, file: Option<i64>, default: u32, max: u32) -> u32 {
        let mut out = default;
        if let Some(v) = file {
            match check_count(v, max) {
                Ok(n) => out = n,
                Err(e) => self.key_err(key, e),
            }
        }
        if let Some(v) = self.env.var(var) {
            match v.trim().parse::<i64>() {
                Ok(n) => match check_count(n, max) {
                    Ok(n) => out = n,
                    Err(e) => self.env_err(var, &v, e),
                },
                Err(_) => self.env_err(var, &v, "not a whole number"),
            }
        }
        out
    }

    fn boolean(&mut self, var: &str, file: Option<bool>, default: bool) -> bool {
        let mut out = file.unwrap_or(default);
        if let Some(v) = self.env.var(var) {
            match parse_bool(&v) {
                Some(b) => out = b,
                None => self.env_err(var, &v, "expected true or false"),
            }
        }
        out
    }

    fn choice(
        &mut self,
        key: &str,
        var: &str,
        file: Option<String>,
        default: &str,
        allowed: &[&str],
    ) -> String {
        let mut out = default.to_owned();
        if let Some(v) = file {
            let n = normalize_choice(&v);
            if allowed.contains(&n.as_str()) {
                out = n;
            } else {
                self.key_err(
                    key,
                    format_args!("{v:?} is not one of {}", allowed.join(", ")),
                );
            }
        }
        if let Some(v) = self.env.var(var) {
            let n = normalize_choice(&v);
            if allowed.contains(&n.as_str()) {
                out = n;
            } else {
                self.env_err(var, &v, format_args!("not one of {}", allowed.join(", ")));
            }
        }
        out
    }

    /// An error about a list value, named by where the list came from.
    fn list_err(&mut self, key: &str, var: &str, from_env: bool, msg: impl fmt::Display) {
        if from_env {
            self.errors
                .push(format!("environment variable {var}: {msg}"));
        } else {
            self.key_err(key, msg);
        }
    }

    fn list(
        &mut self,
        var: &str,
        file: Option<Vec<String>>,
        default: Vec<String>,
    ) -> (Vec<String>, bool) {
        match self.env.var(var) {
            Some(v) => (split_list(&v), true),
            None => (file.unwrap_or(default), false),
        }
    }
}

fn normalize_choice(v: &str) -> String {
    let v = v.trim().to_ascii_lowercase();
    match v.as_str() {
        // The original tool's logger accepted these spellings.
        "warning" => "warn".into(),
        "fatal" | "panic" => "error".into(),
        "crio" => "cri-o".into(),
        _ => v,
    }
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn check_count(v: i64, max: u32) -> Result<u32, String> {
    if v <= 0 {
        return Err(format!("{v} must be at least 1"));
    }
    u32::try_from(v)
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| format!("{v} is larger than the maximum {max}"))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn resolve(raw: RawFile, env: &dyn Env, source: &str) -> Result<Config, ConfigErrors> {
    let d = Config::default();
    let c = raw.cleaner.unwrap_or_default();
    let m = raw.metrics.unwrap_or_default();
    let l = raw.logger.unwrap_or_default();
    let mut r = Resolver {
        errors: Vec::new(),
        env,
        source,
    };

    let check_interval = r.duration(
        "cleaner.check_interval",
        "CHECK_INTERVAL",
        c.check_interval,
        d.check_interval,
    );
    let confirm_count = r.count(
        "cleaner.confirm_count",
        "CONFIRM_COUNT",
        c.confirm_count,
        d.confirm_count,
        1000,
    );
    let container_timeout = r.duration(
        "cleaner.container_timeout",
        "CONTAINER_TIMEOUT",
        c.container_timeout,
        d.container_timeout,
    );
    let process_timeout = r.duration(
        "cleaner.process_timeout",
        "PROCESS_TIMEOUT",
        c.process_timeout,
        d.process_timeout,
    );
    let max_concurrent_containers = r.count(
        "cleaner.max_concurrent_containers",
        "MAX_CONCURRENT_CONTAINERS",
        c.max_concurrent_containers,
        d.max_concurrent_containers as u32,
        1000,
    ) as usize;
    let (whitelist_patterns, from_env) = r.list(
        "WHITELIST_PATTERNS",
        c.whitelist_patterns,
        d.whitelist_patterns.clone(),
    );
    for p in &whitelist_patterns {
        if let Err(e) = regex::Regex::new(p) {
            let msg = format!(
                "invalid regular expression {p:?}: {}",
                first_line(&e.to_string())
            );
            r.list_err(
                "cleaner.whitelist_patterns",
                "WHITELIST_PATTERNS",
                from_env,
                msg,
            );
        }
    }
    let dry_run = r.boolean("DRY_RUN", c.dry_run, d.dry_run);
    let (runtime_endpoints, from_env) = r.list(
        "RUNTIME_ENDPOINTS",
        c.runtime_endpoints,
        d.runtime_endpoints.clone(),
    );
    for e in &runtime_endpoints {
        let ok = e
            .strip_prefix("unix://")
            .is_some_and(|p| p.starts_with('/') && p.len() > 1);
        if !ok {
            r.list_err(
                "cleaner.runtime_endpoints",
                "RUNTIME_ENDPOINTS",
                from_env,
                format_args!("{e:?} is not a unix:///absolute/path URL"),
            );
        }
    }
    let container_runtime = r.choice(
        "cleaner.container_runtime",
        "CONTAINER_RUNTIME",
        c.container_runtime,
        &d.container_runtime,
        &RUNTIME_NAMES,
    );
    let (strategies, from_env) = r.list("STRATEGIES", c.strategies, d.strategies.clone());
    let strategies: Vec<String> = strategies
        .iter()
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut seen = BTreeSet::new();
    let mut strategy_errors = Vec::new();
    if strategies.is_empty() {
        strategy_errors.push("the list is empty: name at least one strategy".to_owned());
    }
    for s in &strategies {
        if !STRATEGY_NAMES.contains(&s.as_str()) {
            strategy_errors.push(format!("{s:?} is not one of {}", STRATEGY_NAMES.join(", ")));
        } else if !seen.insert(s.clone()) {
            strategy_errors.push(format!("{s:?} is listed twice"));
        }
    }
    for e in strategy_errors {
        r.list_err("cleaner.strategies", "STRATEGIES", from_env, e);
    }
    let max_cleanups_per_hour = r.count(
        "cleaner.max_cleanups_per_hour",
        "MAX_CLEANUPS_PER_HOUR",
        c.max_cleanups_per_hour,
        d.max_cleanups_per_hour,
        100_000,
    );

    let metrics_enabled = r.boolean("METRICS_ENABLED", m.enabled, d.metrics.enabled);
    let port = r.count(
        "metrics.port",
        "METRICS_PORT",
        m.port,
        u32::from(d.metrics.port),
        65535,
    );
    let mut path = d.metrics.path.clone();
    for (origin, value) in [
        ("metrics.path", m.path),
        ("METRICS_PATH", env.var("METRICS_PATH")),
    ] {
        if let Some(v) = value {
            if v.starts_with('/')
                && !v.contains(char::is_whitespace)
                && !["/health", "/ready"].contains(&v.as_str())
            {
                path = v;
            } else if origin == "METRICS_PATH" {
                r.env_err(origin, &v, "must start with / and not be /health or /ready");
            } else {
                r.key_err(
                    origin,
                    format_args!("{v:?} must start with / and not be /health or /ready"),
                );
            }
        }
    }
    let level = r.choice(
        "logger.level",
        "LOG_LEVEL",
        l.level,
        &d.logger.level,
        &LOG_LEVELS,
    );
    let format = r.choice(
        "logger.format",
        "LOG_FORMAT",
        l.format,
        &d.logger.format,
        &LOG_FORMATS,
    );

    if container_timeout >= check_interval && r.errors.is_empty() {
        r.key_err(
            "cleaner.container_timeout",
            format_args!(
                "{} must be shorter than check_interval ({})",
                format_duration(container_timeout),
                format_duration(check_interval)
            ),
        );
    }
    let proc_root = env
        .var("PROC_ROOT")
        .filter(|v| !v.is_empty())
        .map_or(d.proc_root, PathBuf::from);
    let node_name = env.var("NODE_NAME").filter(|v| !v.trim().is_empty());

    if !r.errors.is_empty() {
        return Err(ConfigErrors(r.errors));
    }
    Ok(Config {
        check_interval,
        confirm_count,
        container_timeout,
        process_timeout,
        max_concurrent_containers,
        whitelist_patterns,
        dry_run,
        runtime_endpoints,
        container_runtime,
        strategies,
        max_cleanups_per_hour,
        metrics: MetricsConfig {
            enabled: metrics_enabled,
            port: port as u16,
            path,
        },
        logger: LoggerConfig { level, format },
        proc_root,
        node_name,
    })
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Config {
    /// The effective config as YAML, in the file's own shape.
    pub fn to_yaml(&self) -> String {
        let raw = RawFile {
            cleaner: Some(RawCleaner {
                check_interval: Some(format_duration(self.check_interval)),
                confirm_count: Some(i64::from(self.confirm_count)),
                container_timeout: Some(format_duration(self.container_timeout)),
                process_timeout: Some(format_duration(self.process_timeout)),
                max_concurrent_containers: Some(self.max_concurrent_containers as i64),
                whitelist_patterns: Some(self.whitelist_patterns.clone()),
                dry_run: Some(self.dry_run),
                runtime_endpoints: Some(self.runtime_endpoints.clone()),
                container_runtime: Some(self.container_runtime.clone()),
                strategies: Some(self.strategies.clone()),
                max_cleanups_per_hour: Some(i64::from(self.max_cleanups_per_hour)),
            }),
            metrics: Some(RawMetrics {
                enabled: Some(self.metrics.enabled),
                port: Some(i64::from(self.metrics.port)),
                path: Some(self.metrics.path.clone()),
            }),
            logger: Some(RawLogger {
                level: Some(self.logger.level.clone()),
                format: Some(self.logger.format.clone()),
            }),
        };
        serde_saphyr::to_string(&raw).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// Parses Go-style durations: `300ms`, `30s`, `5m`, `1h30m`, `1.5h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s.starts_with('-') {
        return Err("must be positive".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "expected a number at {rest:?} (write it like 30s, 5m, 1h30m)"
            ));
        }
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("bad number {:?}", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err("missing unit (write it like 30s, 5m, 1h30m)".into()),
            u => return Err(format!("unknown unit {u:?} (use ms, s, m or h)")),
        };
        rest = &rest[unit_len..];
        total += n * secs;
    }
    if !total.is_finite() || total > 366.0 * 86400.0 {
        return Err("too long".into());
    }
    let d = Duration::from_secs_f64(total);
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

/// Formats a duration the way [`parse_duration`] reads it (`1h30m`, `500ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return format!("{}us", d.as_micros());
    }
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let mut secs = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if secs > 0 || out.is_empty() {
        out.push_str(&format!("{secs}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_ENV: [(&str, &str); 0] = [];

    #[test]
    fn durations_round_trip() {
        for (text, secs) in [
            ("5m", 300.0),
            ("30s", 30.0),
            ("1h30m", 5400.0),
            ("1.5h", 5400.0),
            ("200ms", 0.2),
        ] {
            let d = parse_duration(text).expect(text);
            assert!((d.as_secs_f64() - secs).abs() < 1e-9, "{text}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
    }

    #[test]
    fn bad_durations_are_rejected() {
        for bad in ["", "30", "-5m", "0s", "5x", "m", "1..5s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn empty_file_gives_spec_defaults() {
        let c = load_str("", "t.yaml", &NO_ENV).expect("defaults load");
        assert_eq!(c, Config::default());
        assert_eq!(c.check_interval, Duration::from_secs(300));
        assert_eq!(c.confirm_count, 3);
        assert_eq!(c.max_concurrent_containers, 10);
        assert!(!c.dry_run);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = load_str(
            "cleaner:\n  check_interval: 5m\n  chek_interval: 1m\n",
            "c.yaml",
            &NO_ENV,
        )
        .expect_err("typo must fail");
        let msg = err.to_string();
        assert!(msg.contains("c.yaml"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("chek_interval"), "{msg}");
    }

    #[test]
    fn every_error_is_reported() {
        let text = "cleaner:\n  check_interval: 30\n  confirm_count: 0\n  max_concurrent_containers: -2\n  whitelist_patterns: ['(unclosed']\n  strategies: [restart, explode]\nlogger:\n  level: loud\n";
        let err = load_str(text, "c.yaml", &NO_ENV).expect_err("must fail");
        let all = err.to_string();
        for needle in [
            "cleaner.check_interval",
            "cleaner.confirm_count",
            "cleaner.max_concurrent_containers",
            "(unclosed",
            "explode",
            "logger.level",
        ] {
            assert!(all.contains(needle), "missing {needle} in:\n{all}");
        }
        assert_eq!(err.0.len(), 6, "{all}");
    }

    #[test]
    fn env_overrides_file_and_bad_env_names_variable() {
        let env = [
            ("CHECK_INTERVAL", "1m"),
            ("DRY_RUN", "true"),
            ("WHITELIST_PATTERNS", "^a-.*, ^b-.*"),
        ];
        let c = load_str("cleaner:\n  check_interval: 5m\n", "c.yaml", &env).expect("loads");
        assert_eq!(c.check_interval, Duration::from_secs(60));
        assert!(c.dry_run);
        assert_eq!(c.whitelist_patterns, vec!["^a-.*", "^b-.*"]);

        let env = [("CONFIRM_COUNT", "three")];
        let err = load_str("", "c.yaml", &env).expect_err("bad env");
        assert!(err.to_string().contains("CONFIRM_COUNT"), "{err}");
    }

    #[test]
    fn effective_config_yaml_loads_back_identically() {
        let env = [
            ("CHECK_INTERVAL", "1h30m"),
            ("STRATEGIES", "kill-init,restart"),
        ];
        let c = load_str("", "c.yaml", &env).expect("loads");
        let again = load_str(&c.to_yaml(), "out.yaml", &NO_ENV).expect("round trip");
        assert_eq!(c, again);
    }
}
