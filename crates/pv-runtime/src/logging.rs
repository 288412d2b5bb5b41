//! The runtime's own messages and its containers' output go to the log
//! server (`pv-logs`): `<logs>/<rev>/pantavisor/pantavisor.log`,
//! `<logs>/<rev>/<container>/lxc/console.log`, and the other outputs
//! `PV_LOG_SERVER_OUTPUTS` selects.

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use pv_config::{Config, Key};
use pv_logs::{DirMaxSize, Level, LogConfig, LogHandle, Outputs};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::layout::Layout;

static HANDLE: OnceLock<Mutex<Option<LogHandle>>> = OnceLock::new();

fn slot() -> &'static Mutex<Option<LogHandle>> {
    HANDLE.get_or_init(|| Mutex::new(None))
}

/// Route tracing events to `handle` from now on (`None` stops it).
pub fn set_handle(handle: Option<LogHandle>) {
    *slot().lock().expect("log handle lock") = handle;
}

/// A tracing layer that forwards every event to the log server, once
/// [`set_handle`] has been called.
#[derive(Debug, Default)]
pub struct LogServerLayer;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for LogServerLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let guard = slot().lock().expect("log handle lock");
        let Some(h) = guard.as_ref() else { return };
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::TRACE => Level::All,
        };
        // below the configured level: not written, so not formatted
        if !h.wants(level) {
            return;
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        let module = event
            .metadata()
            .target()
            .rsplit("::")
            .next()
            .unwrap_or("pantavisor");
        h.log(level, "pantavisor", module, &m.0);
    }
}

/// The log server configuration from the runtime's config.
pub fn log_config(cfg: &Config, layout: &Layout, rev: &str) -> LogConfig {
    let mut c = LogConfig {
        run_dir: layout.rundir.clone(),
        logs_dir: layout.logs(),
        storage_dir: layout.storage.clone(),
        revision: Some(rev.to_string()),
        ..Default::default()
    };
    c.level = Level::from_config(cfg.get_int(Key::PvLogLevel));
    if let Ok(o) = Outputs::parse(&cfg.log_server_outputs().names()) {
        c.outputs = o;
    }
    if let Ok(d) = DirMaxSize::parse(&cfg.get(Key::PvLogDirMaxsize).display_string()) {
        c.dir_maxsize = d;
    }
    c.hysteresis_factor = cfg.get_int(Key::PvLogHysteresisFactor).max(1) as u64;
    c.rotate_factor = cfg.get_int(Key::PvLogRotateFactor).max(1) as u64;
    c.max_message_size = (cfg.get_int(Key::PvLogBufNitems).max(1) as usize) * 1024;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_messages_reach_pantavisor_log() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::new(&d.path().join("storage"), &d.path().join("run"));
        layout.create().unwrap();
        let mut cfg = Config::new();
        cfg.set("PV_LOG_LEVEL", "4", pv_config::Level::PvConf);
        let server = pv_logs::LogServer::start(log_config(&cfg, &layout, "0")).unwrap();
        let h = server.handle();
        h.log(
            pv_logs::Level::Info,
            "pantavisor",
            "daemon",
            "hello from the runtime",
        );
        assert!(h.flush(std::time::Duration::from_secs(5)));
        server.stop().unwrap();
        let text =
            std::fs::read_to_string(layout.logs().join("0/pantavisor/pantavisor.log")).unwrap();
        assert!(text.contains("hello from the runtime"), "{text}");
    }

    /// Counts how often it is formatted.
    struct Costly<'a>(&'a std::sync::atomic::AtomicUsize);

    impl std::fmt::Debug for Costly<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            f.write_str("costly")
        }
    }

    #[test]
    fn messages_below_the_level_are_not_formatted() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tracing_subscriber::layer::SubscriberExt;
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::new(&d.path().join("storage"), &d.path().join("run"));
        layout.create().unwrap();
        let mut cfg = Config::new();
        cfg.set("PV_LOG_LEVEL", "2", pv_config::Level::PvConf);
        let server = pv_logs::LogServer::start(log_config(&cfg, &layout, "0")).unwrap();
        set_handle(Some(server.handle()));
        let n = AtomicUsize::new(0);
        let subscriber = tracing_subscriber::registry().with(LogServerLayer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("{:?}", Costly(&n));
            tracing::info!(v = ?Costly(&n), "not at level 2 either");
            assert_eq!(n.load(Ordering::SeqCst), 0);
            tracing::warn!("{:?} and kept", Costly(&n));
            assert_eq!(n.load(Ordering::SeqCst), 1);
        });
        set_handle(None);
        assert!(server.handle().flush(std::time::Duration::from_secs(5)));
        server.stop().unwrap();
        let text =
            std::fs::read_to_string(layout.logs().join("0/pantavisor/pantavisor.log")).unwrap();
        assert!(text.contains("costly and kept"), "{text}");
        assert!(!text.contains("not at level"), "{text}");
    }
}
