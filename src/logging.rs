//! Structured JSON logs on stderr (tracing). The filter comes from `SWITCHBOARD_LOG` (or
//! `RUST_LOG`), default `info`; `SWITCHBOARD_LOG_FORMAT=text` gives human-readable lines.
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = std::env::var("SWITCHBOARD_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_string());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests) is not an error worth reporting.
    let _ = if std::env::var("SWITCHBOARD_LOG_FORMAT").as_deref() == Ok("text") {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(false).try_init()
    };
}
