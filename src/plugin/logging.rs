//! Logs as JSON lines on stderr in hclog's format (`@level`, `@message`, `@timestamp`),
//! which Terraform's plugin host parses and shows under `TF_LOG`/`TF_LOG_PROVIDER` at the
//! right level. Only what code logs explicitly is written: never configuration values,
//! so no secret can reach a log.

use std::fmt;

use serde_json::{Map, Value as Json};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the logger at the level `TF_LOG_PROVIDER` (else `TF_LOG`) asks for; logs
/// nothing when neither is set, as Terraform would discard it anyway.
pub fn init() {
    let level = std::env::var("TF_LOG_PROVIDER").ok().or_else(|| std::env::var("TF_LOG").ok());
    let Some(level) = level.as_deref().and_then(parse_level) else { return };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Only our own events: the HTTP/2 and TLS libraries log every frame at debug level.
    let ours = tracing_subscriber::filter::Targets::new()
        .with_target("dbaas", level)
        .with_target("terraform_provider_dbaas", level);
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).event_format(Hclog))
        .with(ours)
        .try_init();
}

fn parse_level(text: &str) -> Option<Level> {
    match text.trim().to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" => Some(Level::ERROR),
        _ => None,
    }
}

struct Hclog;

impl<S, N> FormatEvent<S, N> for Hclog
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        writeln!(writer, "{}", hclog_line(event))
    }
}

fn hclog_line(event: &Event<'_>) -> String {
    let mut fields = Fields(Map::new());
    event.record(&mut fields);
    let mut line = fields.0;
    let message = line.remove("message").unwrap_or(Json::String(String::new()));
    let level = match *event.metadata().level() {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    };
    // go-plugin parses exactly this layout ("2006-01-02T15:04:05.000000Z07:00"); any
    // other and the host prints the raw JSON instead of a log entry.
    let timestamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap_or_default();
    line.insert("@level".into(), level.into());
    line.insert("@message".into(), message);
    line.insert("@module".into(), "dbaas".into());
    line.insert("@timestamp".into(), timestamp.into());
    Json::Object(line).to_string()
}

struct Fields(Map<String, Json>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_tf_log_names() {
        assert_eq!(parse_level("debug"), Some(Level::DEBUG));
        assert_eq!(parse_level("JSON"), Some(Level::TRACE));
        assert_eq!(parse_level("off"), None);
    }

    #[test]
    fn lines_are_hclog_json() {
        use std::sync::{Arc, Mutex};
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::DEBUG)
            .with_writer(move || SinkWriter(sink.clone()))
            .event_format(Hclog)
            .finish();
        tracing::subscriber::with_default(subscriber, || tracing::debug!(rpc = "PlanResourceChange", "handled"));
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let line: Json = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["@level"], "debug");
        assert_eq!(line["@message"], "handled");
        assert_eq!(line["rpc"], "PlanResourceChange");
        let stamp = line["@timestamp"].as_str().unwrap();
        assert_eq!(stamp.len(), "2026-11-22T10:48:36.867495Z".len(), "{stamp}");
        assert!(stamp.ends_with('Z'));
    }

    struct SinkWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for SinkWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
