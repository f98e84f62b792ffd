//! Log output: human-readable lines (colours only on a terminal) or one JSON object per line
//! for log shippers (`--log-format json`; never colour codes).

use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Installs the process's subscriber, writing to stderr, filtered by `PORTCULLIS_LOG`
/// (default `info`).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // Colour codes only on a terminal, never into a file, a pipe or the journal.
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        // Event fields at the top level; the request span (its id) under "span".
        LogFormat::Json => builder
            .json()
            .with_ansi(false)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}
