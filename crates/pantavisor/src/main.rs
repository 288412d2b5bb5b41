//! `pantavisor`: the runtime binary.
//!
//! `pantavisor --storage DIR --run-dir RUN [--config FILE] [--factory PATH]`
//! runs appengine mode in the foreground. The hidden subcommand
//! `__container-init` is what a container's init runs first, in the
//! container's namespaces (see `pv_container::setup`).
//!
//! As PID 1 (the initramfs's `/init`), or with `--init` as the only
//! argument, it does the init duties of embedded mode
//! (`pv_runtime::init`) and starts itself again as the main loop with
//! `--embedded`. Called as `modprobe` (the kernel's module helper) it
//! loads modules from `/lib/modules/$(uname -r)`. The service mesh daemon
//! the runtime manages is the `pv-xconnect` binary beside this one.

use std::time::Duration;

use anyhow::Context;
use pantavisor::cli::{self, Cli};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.first().is_some_and(|a| a.ends_with("modprobe")) {
        std::process::exit(pv_kmod::modprobe_main(
            &args[1..],
            &pv_kmod::host_modules_dir(),
        ));
    }
    if args.get(1).map(String::as_str) == Some("__container-init") {
        std::process::exit(pv_container::setup::container_init(
            args.get(2).map(String::as_str).unwrap_or("").as_ref(),
            args.get(3).map(String::as_str),
        ));
    }
    let pid1 = std::process::id() == 1 || (args.len() == 2 && args[1] == "--init");
    let cli = if pid1 {
        None
    } else {
        Some(cli::parse(args.into_iter().skip(1)).unwrap_or_else(|e| e.exit()))
    };
    // everything also goes to the log server (pantavisor.log) once it runs
    init_tracing(pv_runtime::logging::LogServerLayer);
    let Some(cli) = cli else {
        // the options of a PID 1 are the kernel's (ignored, as the original)
        pv_runtime::init::pid1_main(&pv_runtime::init::InitOptions::default())
    };
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("pantavisor: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let stop = pv_runtime::daemon::Stop::default();
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.reboot.clone())
        .context("install SIGTERM handler")?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.poweroff.clone())
        .context("install SIGINT handler")?;
    let opts = pv_runtime::daemon::Options {
        storage: std::path::absolute(&cli.storage)?,
        rundir: std::path::absolute(&cli.run_dir)?,
        config: cli.config,
        factory: cli.factory,
        cmdline: cli.cmdline,
        exe: std::env::current_exe().context("locate the pantavisor binary")?,
        tick: Duration::from_millis(cli.tick_ms),
        embedded: cli.embedded,
    };
    if cli.seed_only {
        pv_runtime::daemon::seed_only(&opts)?;
        return Ok(0);
    }
    Ok(pv_runtime::daemon::run(&opts, &stop)?)
}

/// Trace lines on stderr (`pantavisor::stderr_layer`), plus the
/// runtime's log-server layer.
fn init_tracing(log_server: pv_runtime::logging::LogServerLayer) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(pantavisor::stderr_layer())
        .with(log_server)
        .init();
}
