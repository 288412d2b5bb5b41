//! `pv-xconnect [--ctrl SOCKET]`: the xconnect service mesh daemon
//! (`pv_xconnect::daemon`), a program of its own as in the original. The
//! runtime starts it as a managed daemon from beside its own executable
//! (or `PV_XCONNECT_PATH`); keeping it out of `pantavisor` keeps the dbus
//! stack out of PID 1. The control socket defaults to the original's path.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const DEFAULT_CTRL: &str = "/run/pantavisor/pv/pv-ctrl";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut ctrl = std::path::PathBuf::from(DEFAULT_CTRL);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--ctrl", Some(v)) => ctrl = v.into(),
            _ => {
                eprintln!("usage: pv-xconnect [--ctrl SOCKET]");
                std::process::exit(2);
            }
        }
    }
    tracing_subscriber::registry()
        .with(pantavisor::stderr_layer())
        .init();
    std::process::exit(pv_xconnect::daemon::run(&pv_xconnect::daemon::Options {
        ctrl,
        period: pv_xconnect::daemon::PERIOD,
    }))
}
