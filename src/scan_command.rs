//! The `scan` command: one scan of this host, attributed to containers (and
//! named by the runtime when one answers), printed as a table for people or
//! as JSON for machines. Exit 0 when the scan succeeded, zombies or not;
//! 1 when it failed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::attribute::{self, ContainerRef, ProcessIndex};
use crate::cli::Output;
use crate::config::Config;
use crate::runtime::select::{self, RuntimePreference};
use crate::runtime::ContainerInfo;
use crate::sanitize;
use crate::scan::{self, ScanOptions, Snapshot, Zombie};

/// The JSON document of `scan --output json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub node: String,
    pub scanned_processes: usize,
    pub duration_seconds: f64,
    pub zombies: Vec<ZombieRecord>,
}

#[derive(Debug, Serialize)]
pub struct ZombieRecord {
    pub pid: i32,
    pub ppid: i32,
    pub start_time_ticks: u64,
    pub age_seconds: f64,
    pub comm: String,
    pub cmdline: String,
    pub container: Option<ContainerRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerRecord {
    pub id: String,
    pub runtime: &'static str,
    pub pod_uid: Option<String>,
    pub name: Option<String>,
    pub pod_name: Option<String>,
    pub namespace: Option<String>,
}

/// The node name used in reports and metrics: `NODE_NAME`, else the hostname.
pub fn node_name(cfg: &Config) -> String {
    cfg.node_name.clone().unwrap_or_else(|| {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    })
}

/// Attributes every zombie of a snapshot; host zombies get `None`.
pub fn attribute_all<'a>(
    snapshot: &'a Snapshot,
    cfg: &Config,
) -> Vec<(&'a Zombie, Option<ContainerRef>)> {
    let index = ProcessIndex::new(&snapshot.processes);
    snapshot
        .zombies
        .iter()
        .map(|z| (z, attribute::attribute(z, &index, &cfg.proc_root)))
        .collect()
}

pub fn run(cfg: &Config, output: Output) -> ExitCode {
    let opts = ScanOptions {
        proc_root: cfg.proc_root.clone(),
        timeout: cfg.process_timeout,
    };
    let snapshot = match scan::scan(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("zombie-cleaner: scan failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let attributed = attribute_all(&snapshot, cfg);
    let infos = resolve_names(cfg, &attributed);
    let report = build_report(node_name(cfg), &snapshot, &attributed, &infos);
    let text = match output {
        Output::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("zombie-cleaner: cannot encode the report: {e}");
                return ExitCode::FAILURE;
            }
        },
        Output::Table => render_table(&report),
    };
    print!("{text}");
    ExitCode::SUCCESS
}

/// Asks the runtimes for the names of the containers that have zombies.
/// Runtimes are only contacted when there is something to name, and a
/// runtime that does not answer only costs the names, never the report.
fn resolve_names(
    cfg: &Config,
    attributed: &[(&Zombie, Option<ContainerRef>)],
) -> BTreeMap<ContainerRef, ContainerInfo> {
    let mut wanted: Vec<ContainerRef> = attributed.iter().filter_map(|(_, c)| c.clone()).collect();
    wanted.sort();
    wanted.dedup();
    let mut out = BTreeMap::new();
    if wanted.is_empty() {
        return out;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!(component = "runtime", error = %e, "cannot start the async runtime; containers stay unnamed");
            return out;
        }
    };
    rt.block_on(async {
        let preference: RuntimePreference = cfg.container_runtime.parse().unwrap_or_default();
        let runtimes = select::connect_all(&cfg.runtime_endpoints, preference, cfg.container_timeout).await;
        for w in runtimes.warnings() {
            tracing::warn!(component = "runtime", "{w}");
        }
        for c in wanted {
            let Some(rt) = runtimes.for_container(&c) else {
                continue;
            };
            match rt.inspect(&c.id).await {
                Ok(info) => {
                    out.insert(c, info);
                }
                Err(e) => {
                    tracing::warn!(component = "runtime", container_id = %c.id, error = %e, "cannot name container")
                }
            }
        }
    });
    out
}

pub fn build_report(
    node: String,
    snapshot: &Snapshot,
    attributed: &[(&Zombie, Option<ContainerRef>)],
    infos: &BTreeMap<ContainerRef, ContainerInfo>,
) -> Report {
    let zombies = attributed
        .iter()
        .map(|(z, c)| ZombieRecord {
            pid: z.pid,
            ppid: z.ppid,
            start_time_ticks: z.start_time,
            age_seconds: round3(z.age_seconds),
            comm: z.comm.clone(),
            cmdline: z.cmdline.clone(),
            container: c.as_ref().map(|c| {
                let info = infos.get(c);
                ContainerRecord {
                    id: c.id.clone(),
                    runtime: c.runtime.as_str(),
                    pod_uid: info
                        .and_then(|i| i.pod_uid.clone())
                        .or_else(|| c.pod_uid.clone()),
                    name: info.and_then(|i| i.name.clone()),
                    pod_name: info.and_then(|i| i.pod_name.clone()),
                    namespace: info.and_then(|i| i.pod_namespace.clone()),
                }
            }),
        })
        .collect();
    Report {
        node,
        scanned_processes: snapshot.processes.len(),
        duration_seconds: snapshot.duration.as_secs_f64(),
        zombies,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Human table: one row per container (host zombies as `(host)`), with the
/// zombie count and the oldest zombie's age, then one row per zombie.
pub fn render_table(r: &Report) -> String {
    let mut out = String::new();
    let took = Duration::from_secs_f64(r.duration_seconds);
    if r.zombies.is_empty() {
        let _ = writeln!(
            out,
            "No zombie processes on {} ({} processes scanned in {:.1} ms).",
            sanitize::text(&r.node),
            r.scanned_processes,
            took.as_secs_f64() * 1000.0
        );
        return out;
    }
    let mut groups: BTreeMap<Option<&str>, Vec<&ZombieRecord>> = BTreeMap::new();
    for z in &r.zombies {
        groups
            .entry(z.container.as_ref().map(|c| c.id.as_str()))
            .or_default()
            .push(z);
    }
    let mut rows = vec![[
        "CONTAINER".to_owned(),
        "RUNTIME".into(),
        "NAMESPACE".into(),
        "POD".into(),
        "NAME".into(),
        "ZOMBIES".into(),
        "OLDEST".into(),
    ]];
    for zs in groups.values() {
        let c = zs[0].container.as_ref();
        let oldest = zs.iter().map(|z| z.age_seconds).fold(0.0, f64::max);
        let dash = || "-".to_owned();
        rows.push([
            c.map_or("(host)".into(), |c| c.id.chars().take(13).collect()),
            c.map_or(dash(), |c| c.runtime.to_owned()),
            c.and_then(|c| c.namespace.clone()).unwrap_or_else(dash),
            c.and_then(|c| c.pod_name.clone()).unwrap_or_else(dash),
            c.and_then(|c| c.name.clone()).unwrap_or_else(dash),
            zs.len().to_string(),
            human_age(oldest),
        ]);
    }
    push_rows(&mut out, &rows);
    let _ = writeln!(out);
    let mut detail = vec![[
        "PID".to_owned(),
        "PPID".into(),
        "AGE".into(),
        "CONTAINER".into(),
        "COMMAND".into(),
    ]];
    for zs in groups.values() {
        for z in zs {
            detail.push([
                z.pid.to_string(),
                z.ppid.to_string(),
                human_age(z.age_seconds),
                z.container
                    .as_ref()
                    .map_or("(host)".into(), |c| c.id.chars().take(13).collect()),
                z.cmdline.clone(),
            ]);
        }
    }
    push_rows(&mut out, &detail);
    let _ = writeln!(
        out,
        "\n{} zombies in {} groups on {} ({} processes scanned in {:.1} ms).",
        r.zombies.len(),
        groups.len(),
        sanitize::text(&r.node),
        r.scanned_processes,
        took.as_secs_f64() * 1000.0
    );
    out
}

fn push_rows<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|r| r.clone().map(|c| sanitize::text(&c).into_owned()))
        .collect();
    let mut width = [0usize; N];
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ", w = width[i]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn human_age(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zombie(pid: i32, container: Option<ContainerRecord>, cmd: &str) -> ZombieRecord {
        ZombieRecord {
            pid,
            ppid: 1,
            start_time_ticks: 5,
            age_seconds: 125.0,
            comm: "sh".into(),
            cmdline: cmd.into(),
            container,
        }
    }

    #[test]
    fn table_groups_by_container_and_escapes_names() {
        let c = ContainerRecord {
            id: "0123456789abcdef".into(),
            runtime: "containerd",
            pod_uid: None,
            name: Some("app".into()),
            pod_name: Some("web\x1b[31m".into()),
            namespace: Some("default".into()),
        };
        let r = Report {
            node: "n1".into(),
            scanned_processes: 10,
            duration_seconds: 0.001,
            zombies: vec![
                zombie(10, Some(c.clone()), "sleep"),
                zombie(11, Some(c), "evil\nline"),
                zombie(12, None, "x"),
            ],
        };
        let t = render_table(&r);
        assert!(!t.contains('\x1b'), "{t}");
        assert!(t.contains("evil\\x0aline"), "{t}");
        assert!(t.contains("(host)"), "{t}");
        let row = t
            .lines()
            .find(|l| l.starts_with("0123456789abc"))
            .expect("group row");
        assert!(row.contains(" 2 ") && row.contains("2m5s"), "{row}");
        assert!(t.contains("3 zombies in 2 groups"), "{t}");
    }

    #[test]
    fn no_zombies_is_said_plainly() {
        let r = Report {
            node: "n1".into(),
            scanned_processes: 3,
            duration_seconds: 0.0,
            zombies: vec![],
        };
        assert!(render_table(&r).starts_with("No zombie processes on n1"));
    }
}
