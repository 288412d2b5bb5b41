//! What the two device binaries share: `pantavisor` (the runtime, PID 1
//! of embedded mode) and `pv-xconnect` (the service mesh daemon the
//! runtime starts from beside its own executable) trace the same way.
//! `cli` reads the runtime's command line.

pub mod cli;

use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Trace lines on stderr, filtered by `PV_TRACE` (`debug`,
/// `info,pv_kmod=debug`: levels per target; `info` when unset or bad),
/// coloured only on a terminal.
pub fn stderr_layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let filter: tracing_subscriber::filter::Targets = std::env::var("PV_TRACE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| "info".parse().expect("a level"));
    tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_filter(filter)
}
