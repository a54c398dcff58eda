//! Log output on stderr: text for people (`--log-format text`, the default) or one JSON object
//! per line for log collectors (`--log-format json`): `time`, `level`, `target`, `spans`,
//! `message` and every field of the event under its own name (numbers and booleans as such).
//! JSON escapes every control character, so one event is always one line.

use serde_json::{Map, Value};
use std::fmt;
use tracing::{field::Field, Event, Subscriber};
use tracing_subscriber::{
	fmt::{
		format::Writer,
		time::{FormatTime, SystemTime},
		FmtContext, FormatEvent, FormatFields,
	},
	registry::LookupSpan,
};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
	/// Human-readable text.
	#[default]
	Text,
	/// One JSON object per line.
	Json,
}

/// Sets up the process's logging to stderr: `filter` is an `EnvFilter` directive (invalid
/// ones fall back to `warn`).
pub fn init(filter: &str, format: Format) {
	let filter = tracing_subscriber::EnvFilter::try_new(filter)
		.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
	let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
	match format {
		Format::Text => builder.init(),
		Format::Json => builder.event_format(JsonLines).init(),
	}
}

/// The JSON-lines event format.
pub struct JsonLines;

struct Fields(Map<String, Value>);

impl tracing::field::Visit for Fields {
	fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
		self.0.insert(field.name().into(), Value::String(format!("{value:?}")));
	}
	fn record_str(&mut self, field: &Field, value: &str) {
		self.0.insert(field.name().into(), Value::String(value.into()));
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
	fn record_f64(&mut self, field: &Field, value: f64) {
		self.0.insert(field.name().into(), value.into());
	}
	fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
		self.0.insert(field.name().into(), Value::String(value.to_string()));
	}
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
	S: Subscriber + for<'a> LookupSpan<'a>,
	N: for<'a> FormatFields<'a> + 'static,
{
	fn format_event(
		&self,
		ctx: &FmtContext<'_, S, N>,
		mut writer: Writer<'_>,
		event: &Event<'_>,
	) -> fmt::Result {
		let mut time = String::new();
		SystemTime.format_time(&mut Writer::new(&mut time))?;
		let meta = event.metadata();
		let mut line = Map::new();
		line.insert("time".into(), time.into());
		line.insert("level".into(), meta.level().as_str().into());
		line.insert("target".into(), meta.target().into());
		if let Some(scope) = ctx.event_scope() {
			let spans: Vec<Value> = scope.from_root().map(|s| s.name().into()).collect();
			line.insert("spans".into(), spans.into());
		}
		let mut fields = Fields(Map::new());
		event.record(&mut fields);
		if let Some(message) = fields.0.remove("message") {
			line.insert("message".into(), message);
		}
		for (name, value) in fields.0 {
			// An event's field never replaces the line's own keys.
			let name = if line.contains_key(&name) { format!("field.{name}") } else { name };
			line.insert(name, value);
		}
		writeln!(writer, "{}", Value::Object(line))
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::sync::{Arc, Mutex};

	#[derive(Clone, Default)]
	struct Buffer(Arc<Mutex<Vec<u8>>>);

	impl std::io::Write for Buffer {
		fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
			self.0.lock().unwrap().extend_from_slice(bytes);
			Ok(bytes.len())
		}
		fn flush(&mut self) -> std::io::Result<()> {
			Ok(())
		}
	}

	#[test]
	fn every_event_is_one_json_line_with_typed_fields() {
		let buffer = Buffer::default();
		let sink = buffer.clone();
		let subscriber = tracing_subscriber::fmt()
			.with_writer(move || sink.clone())
			.event_format(JsonLines)
			.finish();
		tracing::subscriber::with_default(subscriber, || {
			let span = tracing::info_span!("duty");
			let _entered = span.enter();
			let forged = "ok\n{\"level\":\"ERROR\"}";
			tracing::warn!(target: "tea::test", block = 7u32, lag = -1i64, up = true, level = "x", "{forged}");
		});
		let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
		let lines: Vec<&str> = text.lines().collect();
		assert_eq!(lines.len(), 1, "{text}");
		let line: Value = serde_json::from_str(lines[0]).unwrap();
		assert_eq!(line["level"], "WARN");
		assert_eq!(line["target"], "tea::test");
		assert_eq!(line["message"], "ok\n{\"level\":\"ERROR\"}");
		assert_eq!(line["block"], 7);
		assert_eq!(line["lag"], -1);
		assert_eq!(line["up"], true);
		assert_eq!(line["field.level"], "x", "a field named like a key does not replace it");
		assert_eq!(line["spans"], serde_json::json!(["duty"]));
		assert!(line["time"].as_str().unwrap().starts_with("20"), "{line}");
	}
}
