//! Logging: one line per event, JSON by default with the field names
//! operators query (`time`, `level`, `msg`, `component`, then the event's
//! own fields such as `container_id`, `pod_name`, `zombie_pid`), or plain
//! text. JSON string encoding escapes every control character, and the text
//! format escapes them too, so workload-chosen names cannot forge lines.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::sanitize;

/// Output shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "text" => Some(Format::Text),
            _ => None,
        }
    }
}

/// Installs the global subscriber writing to stderr. `level` is one of
/// `trace|debug|info|warn|error`; it applies to this crate, while other
/// crates stay at `warn` so their chatter does not drown ours.
pub fn init(level: &str, format: Format) {
    let filter = EnvFilter::new(format!("warn,zombie_cleaner={level}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(LineFormat { format })
        .try_init();
}

/// The event formatter, public so tests can render events into a buffer.
pub struct LineFormat {
    pub format: Format,
}

#[derive(Default)]
struct Fields {
    msg: String,
    component: Option<String>,
    rest: Map<String, Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = if field.name() == "message" {
            format!("{value:?}")
        } else {
            // Debug of a string adds quotes; keep the plain value.
            let s = format!("{value:?}");
            s.strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .map(str::to_owned)
                .unwrap_or(s)
        };
        self.put(field, Value::String(text));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => {
                self.msg = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                }
            }
            "component" => {
                self.component = Some(match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
            }
            name => {
                self.rest.insert(name.to_owned(), value);
            }
        }
    }
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let component = fields
            .component
            .unwrap_or_else(|| component_of(meta.target()).to_owned());
        let level = level_name(*meta.level());
        let time = rfc3339(SystemTime::now());
        match self.format {
            Format::Json => {
                let mut obj = Map::new();
                obj.insert("time".into(), Value::String(time));
                obj.insert("level".into(), Value::String(level.into()));
                obj.insert("msg".into(), Value::String(fields.msg));
                obj.insert("component".into(), Value::String(component));
                for (k, v) in fields.rest {
                    obj.insert(k, v);
                }
                writeln!(writer, "{}", Value::Object(obj))
            }
            Format::Text => {
                let mut line = format!(
                    "{time} {level:<5} [{}] {}",
                    sanitize::text(&component),
                    sanitize::text(&fields.msg)
                );
                for (k, v) in fields.rest {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    let v = sanitize::text(&v);
                    if v.contains(' ') || v.is_empty() {
                        let _ = write!(line, " {k}={v:?}");
                    } else {
                        let _ = write!(line, " {k}={v}");
                    }
                }
                writeln!(writer, "{line}")
            }
        }
    }
}

/// `zombie_cleaner::clean::x` → `clean`; other crates keep their name.
fn component_of(target: &str) -> &str {
    let mut parts = target.split("::");
    match (parts.next(), parts.next()) {
        (Some("zombie_cleaner"), Some(module)) => module,
        (Some(first), _) => first,
        _ => target,
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// UTC RFC 3339 with milliseconds, without pulling in a date crate.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil-from-days (Howard Hinnant), valid for any date after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(b);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(format: Format, f: impl FnOnce()) -> String {
        let buf = Buf::default();
        let out = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .event_format(LineFormat { format })
            .finish();
        tracing::subscriber::with_default(sub, f);
        let bytes = buf.0.lock().map(|v| v.clone()).unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    #[test]
    fn json_line_has_spec_fields_and_no_raw_control_characters() {
        let evil = "sh\n{\"level\":\"error\"}\x1b[2J";
        let out = capture(Format::Json, || {
            tracing::warn!(
                component = "scan",
                zombie_pid = 42,
                zombie_cmdline = evil,
                "zombie found"
            );
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(!out.trim_end().contains(['\n', '\x1b']), "{out:?}");
        let v: Value = serde_json::from_str(out.trim()).expect("valid JSON");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["msg"], "zombie found");
        assert_eq!(v["component"], "scan");
        assert_eq!(v["zombie_pid"], 42);
        assert_eq!(v["zombie_cmdline"], evil);
        assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn text_line_escapes_control_characters() {
        let out = capture(Format::Text, || {
            tracing::info!(pod_name = "a\nb", "msg\rhere");
        });
        assert_eq!(out.lines().count(), 1, "{out:?}");
        assert!(out.contains("pod_name=a\\x0ab"), "{out}");
        assert!(out.contains("msg\\x0dhere"), "{out}");
    }

    #[test]
    fn component_defaults_to_module() {
        assert_eq!(component_of("zombie_cleaner::clean::chain"), "clean");
        assert_eq!(component_of("hyper"), "hyper");
    }

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_796_303_150_123);
        assert_eq!(rfc3339(t), "2026-12-03T13:05:50.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
