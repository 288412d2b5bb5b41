//! Command line: options first, then a command and its arguments, as the
//! original shell tool takes them. Syntax errors print the relevant usage
//! on stdout and exit 1; `-h` / `--help` print it and exit 0.

use std::path::{Path, PathBuf};

/// Options given before the command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `-s PATH`.
    pub socket: Option<PathBuf>,
    /// `-f PATH`: write the output there instead of stdout.
    pub output: Option<PathBuf>,
    /// `-m MSG`: commit message for `steps put` / `steps install`.
    pub message: Option<String>,
    /// `-v`: show request and response heads on stderr.
    pub verbose: bool,
    /// `-j` / `--json`: print bodies exactly as received.
    pub raw: bool,
}

/// A command and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `ls`, `containers ls`.
    Containers,
    ContainerAction {
        name: String,
        action: &'static str,
    },
    Groups,
    Graph,
    Daemons,
    DaemonGet {
        name: String,
    },
    DaemonAction {
        name: String,
        action: &'static str,
    },
    DaemonRestart {
        name: String,
    },
    /// `signal ready|alive`.
    Signal {
        kind: &'static str,
    },
    /// `cmd ...`: an operation and its payload.
    Command {
        op: &'static str,
        payload: String,
    },
    MetaList {
        device: bool,
    },
    MetaSave {
        device: bool,
        key: String,
        value: String,
    },
    MetaDelete {
        device: bool,
        key: String,
    },
    BuildInfo,
    ObjectList,
    ObjectGet {
        sha: String,
    },
    /// `objects put PATH SHA`; `PATH` `-` (or `-<size>`) reads stdin.
    ObjectPut {
        path: String,
        sha: String,
    },
    StepList,
    StepGet {
        rev: String,
    },
    StepProgress {
        rev: String,
    },
    StepPut {
        path: PathBuf,
        rev: String,
    },
    StepInstall {
        path: PathBuf,
        rev: Option<String>,
    },
    /// `config ls`: legacy aliases.
    ConfigLegacy,
    /// `conf ls`.
    Config,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(Options, Cmd),
    /// Print this usage and exit with this code.
    Usage(Topic, i32),
}

/// Which usage text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Main,
    Ls,
    Containers,
    Groups,
    Graph,
    Daemons,
    Signal,
    Cmd,
    Devmeta,
    Usrmeta,
    Buildinfo,
    Objects,
    Steps,
    Config,
    Conf,
}

/// Socket paths tried, in order, when neither `-s` nor
/// `PVCONTROL_SOCKET` is given: the first that is a socket wins, else the
/// last.
pub use pv_ctrl_client::SOCKET_SEARCH;

fn is_socket(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

/// The socket to use: `-s`, else `$PVCONTROL_SOCKET`, else the search order.
pub fn socket_path(opt: Option<&Path>, env: Option<&str>) -> PathBuf {
    if let Some(p) = opt {
        return p.to_path_buf();
    }
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        return PathBuf::from(e);
    }
    SOCKET_SEARCH[..2]
        .iter()
        .map(PathBuf::from)
        .find(|p| is_socket(p))
        .unwrap_or_else(|| PathBuf::from(SOCKET_SEARCH[2]))
}

/// A usage text to print and the exit status.
type Usage = (Topic, i32);

fn help_or(topic: Topic, arg: Option<&str>) -> Usage {
    (topic, if arg == Some("--help") { 0 } else { 1 })
}

/// Parse `args` (without the program name).
pub fn parse(args: &[String]) -> Parsed {
    let mut o = Options::default();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let mut value = || {
            i += 1;
            args.get(i).cloned()
        };
        match a.as_str() {
            "-h" => return Parsed::Usage(Topic::Main, 0),
            "-v" => o.verbose = true,
            "-j" | "--json" => o.raw = true,
            "-s" => match value() {
                Some(v) => o.socket = Some(v.into()),
                None => return Parsed::Usage(Topic::Main, 1),
            },
            "-f" => match value() {
                Some(v) => o.output = Some(v.into()),
                None => return Parsed::Usage(Topic::Main, 1),
            },
            "-m" => match value() {
                Some(v) => o.message = Some(v),
                None => return Parsed::Usage(Topic::Main, 1),
            },
            _ => break,
        }
        i += 1;
    }
    let rest: Vec<&str> = args[i.min(args.len())..]
        .iter()
        .map(String::as_str)
        .collect();
    match command(&rest) {
        Ok(cmd) => Parsed::Run(o, cmd),
        Err((topic, code)) => Parsed::Usage(topic, code),
    }
}

fn command(a: &[&str]) -> Result<Cmd, Usage> {
    let at = |n: usize| a.get(n).copied().filter(|s| !s.is_empty());
    let need = |n: usize, t: Topic| at(n).map(str::to_string).ok_or((t, 1));
    let sub = at(1);
    use Cmd as C;
    Ok(match at(0) {
        Some("ls" | "list") => match sub {
            None => C::Containers,
            s => return Err(help_or(Topic::Ls, s)),
        },
        Some("containers") => match sub {
            Some("ls" | "list") => C::Containers,
            Some(act @ ("start" | "stop" | "restart")) => C::ContainerAction {
                name: need(2, Topic::Containers)?,
                action: match act {
                    "start" => "start",
                    "stop" => "stop",
                    _ => "restart",
                },
            },
            s => return Err(help_or(Topic::Containers, s)),
        },
        Some("groups") => match sub {
            Some("ls" | "list") => C::Groups,
            s => return Err(help_or(Topic::Groups, s)),
        },
        Some("graph") => match sub {
            Some("ls" | "list") => C::Graph,
            s => return Err(help_or(Topic::Graph, s)),
        },
        Some("daemons") => match sub {
            Some("ls" | "list") => C::Daemons,
            Some("get") => C::DaemonGet {
                name: need(2, Topic::Daemons)?,
            },
            Some("start") => C::DaemonAction {
                name: need(2, Topic::Daemons)?,
                action: "start",
            },
            Some("stop") => C::DaemonAction {
                name: need(2, Topic::Daemons)?,
                action: "stop",
            },
            Some("restart") => C::DaemonRestart {
                name: need(2, Topic::Daemons)?,
            },
            s => return Err(help_or(Topic::Daemons, s)),
        },
        Some("signal") => match sub {
            Some("ready") => C::Signal { kind: "ready" },
            Some("alive") => C::Signal { kind: "alive" },
            s => return Err(help_or(Topic::Signal, s)),
        },
        Some("cmd" | "command" | "commands") => cmd_command(sub, at(2))?,
        Some(m @ ("devmeta" | "usrmeta")) => {
            let device = m == "devmeta";
            let topic = if device {
                Topic::Devmeta
            } else {
                Topic::Usrmeta
            };
            match sub {
                // `upload` is an alias of `save` for device metadata only
                Some("save") | Some("upload") if sub == Some("save") || device => C::MetaSave {
                    device,
                    key: need(2, topic)?,
                    value: at(3).unwrap_or_default().to_string(),
                },
                Some("delete") => C::MetaDelete {
                    device,
                    key: need(2, topic)?,
                },
                Some("ls" | "list") => C::MetaList { device },
                s => return Err(help_or(topic, s)),
            }
        }
        Some("buildinfo") => match sub {
            None => C::BuildInfo,
            s => return Err(help_or(Topic::Buildinfo, s)),
        },
        Some("objects") => match sub {
            Some("put") => C::ObjectPut {
                path: need(2, Topic::Objects)?,
                sha: need(3, Topic::Objects)?,
            },
            Some("get") => C::ObjectGet {
                sha: need(2, Topic::Objects)?,
            },
            Some("ls" | "list") => C::ObjectList,
            s => return Err(help_or(Topic::Objects, s)),
        },
        Some("steps") => match sub {
            Some("install") => C::StepInstall {
                path: need(2, Topic::Steps)?.into(),
                rev: at(3).map(str::to_string),
            },
            Some("put") => C::StepPut {
                path: need(2, Topic::Steps)?.into(),
                rev: need(3, Topic::Steps)?,
            },
            Some("get") => C::StepGet {
                rev: need(2, Topic::Steps)?,
            },
            Some("show-progress") => C::StepProgress {
                rev: need(2, Topic::Steps)?,
            },
            Some("ls" | "list") => C::StepList,
            s => return Err(help_or(Topic::Steps, s)),
        },
        Some("config") => match sub {
            Some("ls" | "list") => C::ConfigLegacy,
            s => return Err(help_or(Topic::Config, s)),
        },
        Some("conf" | "configuration") => match sub {
            Some("ls" | "list") => C::Config,
            s => return Err(help_or(Topic::Conf, s)),
        },
        s => return Err(help_or(Topic::Main, s)),
    })
}

fn cmd_command(sub: Option<&str>, arg: Option<&str>) -> Result<Cmd, Usage> {
    let payload = arg.unwrap_or_default().to_string();
    let required = || arg.map(str::to_string).ok_or((Topic::Cmd, 1));
    let (op, payload) = match sub {
        Some("run" | "local-run") => ("LOCAL_RUN", required()?),
        Some("run-commit" | "local-run-commit") => ("LOCAL_RUN_COMMIT", required()?),
        Some("reboot") => ("REBOOT_DEVICE", payload),
        Some("poweroff") => ("POWEROFF_DEVICE", payload),
        Some("make-factory") => ("MAKE_FACTORY", payload),
        Some("run-gc") => ("RUN_GC", String::new()),
        Some("enable-ssh") => ("ENABLE_SSH", String::new()),
        Some("disable-ssh") => ("DISABLE_SSH", String::new()),
        Some("go-remote") => ("GO_REMOTE", String::new()),
        Some("unclaim") => ("UNCLAIM", String::new()),
        Some("defer-reboot") => ("DEFER_REBOOT", required()?),
        Some("update-metadata") => ("UPDATE_METADATA", required()?),
        s => return Err(help_or(Topic::Cmd, s)),
    };
    Ok(Cmd::Command { op, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Parsed {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_then_command() {
        let Parsed::Run(o, c) = p(&[
            "-v", "-s", "/tmp/s", "-m", "msg", "steps", "put", "j", "locals/x",
        ]) else {
            panic!()
        };
        assert_eq!(o.socket.as_deref(), Some(Path::new("/tmp/s")));
        assert_eq!(o.message.as_deref(), Some("msg"));
        assert!(o.verbose);
        assert_eq!(
            c,
            Cmd::StepPut {
                path: "j".into(),
                rev: "locals/x".into()
            }
        );
        assert_eq!(p(&["ls"]), Parsed::Run(Options::default(), Cmd::Containers));
        assert!(matches!(
            p(&["cmd", "reboot", "bye"]),
            Parsed::Run(_, Cmd::Command { op: "REBOOT_DEVICE", payload }) if payload == "bye"
        ));
        assert!(matches!(
            p(&["cmd", "local-run", "locals/t1"]),
            Parsed::Run(
                _,
                Cmd::Command {
                    op: "LOCAL_RUN",
                    ..
                }
            )
        ));
        assert!(matches!(
            p(&["devmeta", "upload", "k", "v"]),
            Parsed::Run(_, Cmd::MetaSave { device: true, .. })
        ));
    }

    #[test]
    fn usage_and_help() {
        assert_eq!(p(&[]), Parsed::Usage(Topic::Main, 1));
        assert_eq!(p(&["-h"]), Parsed::Usage(Topic::Main, 0));
        assert_eq!(p(&["--help"]), Parsed::Usage(Topic::Main, 0));
        assert_eq!(p(&["ls", "extra"]), Parsed::Usage(Topic::Ls, 1));
        assert_eq!(p(&["steps", "--help"]), Parsed::Usage(Topic::Steps, 0));
        assert_eq!(p(&["cmd", "run"]), Parsed::Usage(Topic::Cmd, 1));
        assert_eq!(
            p(&["objects", "put", "f"]),
            Parsed::Usage(Topic::Objects, 1)
        );
        assert_eq!(
            p(&["usrmeta", "upload", "k"]),
            Parsed::Usage(Topic::Usrmeta, 1)
        );
        assert_eq!(p(&["-s"]), Parsed::Usage(Topic::Main, 1));
        assert_eq!(p(&["-x", "ls"]), Parsed::Usage(Topic::Main, 1));
    }

    #[test]
    fn socket_order() {
        assert_eq!(
            socket_path(Some(Path::new("/a")), Some("/b")),
            PathBuf::from("/a")
        );
        assert_eq!(socket_path(None, Some("/b")), PathBuf::from("/b"));
        // nothing here is a socket on a build machine
        if !SOCKET_SEARCH[..2].iter().any(|s| is_socket(Path::new(s))) {
            assert_eq!(
                socket_path(None, None),
                PathBuf::from("/pantavisor/pv-ctrl")
            );
        }
    }
}
