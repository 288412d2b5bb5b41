//! The command line of `pantavisor` (appengine mode and the main loop of
//! embedded mode), read by hand: the device binary takes a handful of long
//! options, and an argument-parser library costs PID 1 more than 100 KiB.
//!
//! Every option is `--name VALUE` or `--name=VALUE`; flags take no value.
//! `--help`/`-h` and `--version`/`-V` print and exit 0; a mistake prints
//! the usage on stderr and exits 2.

use std::path::PathBuf;

/// What `pantavisor` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    /// Storage directory (objects, trails, logs, boot env, disks).
    pub storage: PathBuf,
    /// Run directory (control and log sockets, metadata views, mounts).
    pub run_dir: PathBuf,
    /// pantavisor.config file.
    pub config: Option<PathBuf>,
    /// State for revision 0 when the storage is empty.
    pub factory: Option<PathBuf>,
    /// Used instead of /proc/cmdline.
    pub cmdline: Option<String>,
    /// Engine tick in milliseconds (hidden).
    pub tick_ms: u64,
    /// Only seed an empty storage with `factory` and exit.
    pub seed_only: bool,
    /// The main loop of embedded mode, started by PID 1 (hidden).
    pub embedded: bool,
}

/// The engine tick when `--tick-ms` is not given.
pub const DEFAULT_TICK_MS: u64 = 200;

pub const USAGE: &str = "\
Pantavisor runtime (appengine mode)

Usage: pantavisor [OPTIONS] --storage <STORAGE> --run-dir <RUN_DIR>

Options:
      --storage <STORAGE>  Storage directory (objects, trails, logs, boot env, disks)
      --run-dir <RUN_DIR>  Run directory (control and log sockets, metadata views, mounts)
      --config <CONFIG>    pantavisor.config file
      --factory <FACTORY>  State for revision 0 when the storage is empty: a pvr checkout or a .pvrexport.tgz
      --cmdline <CMDLINE>  Use this instead of /proc/cmdline
      --seed-only          Only seed an empty storage with --factory (revision 0, boot env pv_rev=0) and exit: how an image's storage partition is prepared
  -h, --help               Print help
  -V, --version            Print version
";

/// Why the command line was not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// `--help` or `--version`: print this on stdout, exit 0.
    Print(String),
    /// A mistake: print this and the usage on stderr, exit 2.
    Usage(String),
}

impl Exit {
    /// Print what is due and exit with its code.
    pub fn exit(self) -> ! {
        match self {
            Exit::Print(s) => {
                print!("{s}");
                std::process::exit(0)
            }
            Exit::Usage(e) => {
                eprintln!("error: {e}\n\n{USAGE}");
                std::process::exit(2)
            }
        }
    }
}

/// Read the arguments after the program name.
pub fn parse<I, S>(args: I) -> Result<Cli, Exit>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut storage = None;
    let mut run_dir = None;
    let mut config = None;
    let mut factory = None;
    let mut cmdline = None;
    let mut tick_ms = None;
    let mut seed_only = false;
    let mut embedded = false;
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Err(Exit::Print(USAGE.to_string())),
            "-V" | "--version" => {
                return Err(Exit::Print(format!(
                    "pantavisor {}\n",
                    env!("CARGO_PKG_VERSION")
                )))
            }
            "--seed-only" => set_flag(&mut seed_only, "--seed-only")?,
            "--embedded" => set_flag(&mut embedded, "--embedded")?,
            _ => {
                let (name, inline) = match arg.split_once('=') {
                    Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                    _ => (arg.clone(), None),
                };
                let slot = match name.as_str() {
                    "--storage" => &mut storage,
                    "--run-dir" => &mut run_dir,
                    "--config" => &mut config,
                    "--factory" => &mut factory,
                    "--cmdline" => &mut cmdline,
                    "--tick-ms" => &mut tick_ms,
                    "--seed-only" | "--embedded" => {
                        return Err(Exit::Usage(format!("{name} takes no value")))
                    }
                    _ if name.starts_with('-') => {
                        return Err(Exit::Usage(format!("unexpected argument '{name}'")))
                    }
                    _ => return Err(Exit::Usage(format!("unexpected argument '{arg}'"))),
                };
                let value = match inline {
                    Some(v) => v,
                    None => args
                        .next()
                        .ok_or_else(|| Exit::Usage(format!("{name} needs a value")))?,
                };
                if slot.replace(value).is_some() {
                    return Err(Exit::Usage(format!("{name} given more than once")));
                }
            }
        }
    }
    let storage = storage.ok_or_else(|| Exit::Usage("--storage <STORAGE> is required".into()))?;
    let run_dir = run_dir.ok_or_else(|| Exit::Usage("--run-dir <RUN_DIR> is required".into()))?;
    if seed_only && factory.is_none() {
        return Err(Exit::Usage("--seed-only needs --factory".into()));
    }
    let tick_ms = match tick_ms {
        Some(t) => t
            .parse()
            .map_err(|_| Exit::Usage(format!("--tick-ms {t:?}: not a number of milliseconds")))?,
        None => DEFAULT_TICK_MS,
    };
    Ok(Cli {
        storage: storage.into(),
        run_dir: run_dir.into(),
        config: config.map(PathBuf::from),
        factory: factory.map(PathBuf::from),
        cmdline,
        tick_ms,
        seed_only,
        embedded,
    })
}

fn set_flag(flag: &mut bool, name: &str) -> Result<(), Exit> {
    if std::mem::replace(flag, true) {
        return Err(Exit::Usage(format!("{name} given more than once")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_error(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Err(Exit::Usage(e)) => e,
            other => panic!("{args:?}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn options_with_separate_and_inline_values() {
        let cli = parse([
            "--storage",
            "/s",
            "--run-dir=/r",
            "--config",
            "/c",
            "--factory=/f.tgz",
            "--cmdline",
            "pv_rev=3 quiet",
            "--tick-ms=50",
            "--seed-only",
        ])
        .unwrap();
        assert_eq!(
            cli,
            Cli {
                storage: "/s".into(),
                run_dir: "/r".into(),
                config: Some("/c".into()),
                factory: Some("/f.tgz".into()),
                cmdline: Some("pv_rev=3 quiet".into()),
                tick_ms: 50,
                seed_only: true,
                embedded: false,
            }
        );
    }

    #[test]
    fn defaults_and_the_hidden_embedded_flag() {
        let cli = parse(["--embedded", "--storage", "/s", "--run-dir", "/r"]).unwrap();
        assert_eq!(cli.tick_ms, DEFAULT_TICK_MS);
        assert!(cli.embedded && !cli.seed_only);
        assert_eq!((cli.config, cli.factory, cli.cmdline), (None, None, None));
        // a value may itself contain '=' or start with '-'
        let cli = parse([
            "--storage",
            "/s",
            "--run-dir",
            "/r",
            "--cmdline=a=b",
            "--config",
            "-x",
        ])
        .unwrap();
        assert_eq!(cli.cmdline.as_deref(), Some("a=b"));
        assert_eq!(cli.config, Some("-x".into()));
    }

    #[test]
    fn mistakes_are_usage_errors() {
        assert!(usage_error(&["--run-dir", "/r"]).contains("--storage"));
        assert!(usage_error(&["--storage", "/s"]).contains("--run-dir"));
        assert!(usage_error(&["--storage", "/s", "--run-dir"]).contains("needs a value"));
        assert!(usage_error(&["--storage=/s", "--run-dir=/r", "--bogus"]).contains("--bogus"));
        assert!(usage_error(&["--storage=/s", "--run-dir=/r", "extra"]).contains("extra"));
        assert!(
            usage_error(&["--storage=/s", "--storage=/t", "--run-dir=/r"])
                .contains("more than once")
        );
        assert!(
            usage_error(&["--storage=/s", "--run-dir=/r", "--seed-only"]).contains("--factory")
        );
        assert!(
            usage_error(&["--storage=/s", "--run-dir=/r", "--seed-only=1"]).contains("no value")
        );
        assert!(
            usage_error(&["--storage=/s", "--run-dir=/r", "--tick-ms=fast"])
                .contains("milliseconds")
        );
    }

    #[test]
    fn help_and_version_print() {
        for a in ["--help", "-h"] {
            assert_eq!(parse([a]), Err(Exit::Print(USAGE.to_string())));
        }
        for a in ["--version", "-V"] {
            let Err(Exit::Print(v)) = parse(["--storage", "/s", a]) else {
                panic!("{a}: no version");
            };
            assert_eq!(v, format!("pantavisor {}\n", env!("CARGO_PKG_VERSION")));
        }
    }
}
