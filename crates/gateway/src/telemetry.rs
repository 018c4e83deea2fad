//! Structured JSON logs.
//!
//! Every line is one JSON object with `timestamp`, `level`, `target`,
//! `message`, the event's fields, and the fields of the enclosing request
//! span (`request_id`, `method`, `route`). Handlers never log bodies,
//! envelopes, metadata, keys or tokens.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// A subscriber writing JSON lines to `writer`, filtered by `filter`
/// (a `tracing` directive such as `info`). Tests use it with a capturing
/// writer.
pub fn json_subscriber<W>(filter: &str, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(true)
            .with_writer(writer),
    )
}

/// Installs the JSON subscriber on stderr as the global default. Returns an
/// error if a global subscriber is already set.
pub fn init(filter: &str) -> anyhow::Result<()> {
    json_subscriber(filter, std::io::stderr)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}
