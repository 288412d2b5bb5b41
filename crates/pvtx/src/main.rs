//! `pvtx`: the original's commands, arguments, messages and exit codes,
//! over the `pv-tx` library. Errors go to stderr as `ERROR: <command>:
//! <message>`. Ours: `--socket <path>` (or `PVTX_SOCKET`) names the
//! control socket instead of searching for it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pv_tx::{Base, Options, Pvtx, TxError};

const USAGE: &str = "\
Usage: pvtx [--socket <path>] COMMAND [SUB-COMMAND] args...

Transactions on a Pantavisor revision: start one with 'begin', change it
with 'add' and 'remove', then 'commit' it to the device (remote) or
'deploy' it to a directory (local).

Commands:
  begin [<base>] [<object>]     start from <base>: current (default: the
                                running revision, through pv-ctrl), empty,
                                a revision of the device, or a state JSON
                                file or a directory holding json or
                                .pvr/json. With <object> the transaction is
                                local: objects go to that directory.
  add <file> | -                merge a package: a state JSON, or a .tar,
                                .tar.gz/.tgz or .tar.bz2 holding json and
                                objects/<sha256>; '-' reads stdin
  remove <part>                 remove a part: <name>, _sigs/<name>.json or
                                _config/<name>
  abort                         discard the transaction
  commit                        send a remote transaction to the device as
                                locals/pvtx-<time>-<hash>-<n>; prints it
  show                          print the transaction's state JSON
  deploy <directory>            lay a local transaction out in <directory>
                                (.pvr/json, .pvr/config, objects, .pv/)
  help | --help                 this text

Queue sub-commands (pvtx queue ...):
  new <queue> <object>          start a queue in <queue>, objects in <object>
  remove <part>                 record the removal of <part>
  unpack <tarball> | -          record a package (its objects are saved now)
  process [<base> [<queue> <object>]]
                                replay the queue into the transaction (begun
                                from <base> if given; a new queue first if
                                <queue> and <object> are given)

Environment:
  PVTXDIR                       transaction directory (default
                                /var/pvr-sdk/pvtx as root, else
                                ~/.local/share/pvtx)
  PVTX_OBJECT_BUF_SIZE          object read/write buffer, 512 B to 10 MiB
  PVTX_CTRL_BUF_SIZE            pv-ctrl upload buffer, 16 KiB to 10 MiB
  PVTX_SOCKET                   the control socket (default: the first of
                                /run/pantavisor/pv/pv-ctrl, /pv/pv-ctrl,
                                /pantavisor/pv-ctrl that exists)
";

/// The exit status of a failed command, as the original's.
fn code(cmd: &str, e: &TxError) -> u8 {
    match e {
        TxError::NoTransaction => match cmd {
            "add" => 1,
            "remove" | "queue process" => 3,
            "commit" | "show" | "deploy" => 11,
            _ => 255,
        },
        TxError::IsLocal | TxError::ActiveForQueue => 12,
        TxError::NoQueue(_) => 1,
        _ => 255,
    }
}

fn fail(cmd: &str, msg: impl std::fmt::Display, status: u8) -> ExitCode {
    eprintln!("ERROR: {cmd}: {msg}");
    ExitCode::from(status)
}

fn done(cmd: &str, r: Result<(), TxError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(cmd, &e, code(cmd, &e)),
    }
}

fn print_state(s: &pv_types::State) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&s.to_canonical());
    let _ = out.write_all(b"\n");
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = Options::from_env();
    if args.first().map(String::as_str) == Some("--socket") {
        if args.len() < 2 {
            return fail("command process", "--socket needs a path", 255);
        }
        opts.socket = Some(PathBuf::from(args.remove(1)));
        args.remove(0);
    }
    let pvtx = Pvtx::new(opts);
    let arg = |i: usize| args.get(i).map(String::as_str);
    let Some(op) = arg(0) else {
        print!("{USAGE}");
        return ExitCode::from(255);
    };
    match op {
        "begin" => {
            let base = Base::parse(arg(1));
            done("begin", pvtx.begin(&base, arg(2).map(Path::new)).map(drop))
        }
        "add" => match arg(1) {
            None => fail("add", "missing argument, file or - is needed", 255),
            Some("-") => done(
                "add",
                pvtx.add_reader(std::io::stdin().lock(), "stdin").map(drop),
            ),
            Some(f) => done("add", pvtx.add_file(Path::new(f)).map(drop)),
        },
        "remove" => match arg(1) {
            None => fail("remove", "must supply a part name", 4),
            Some(p) => done("remove", pvtx.remove(p).map(drop)),
        },
        "abort" => done("abort", pvtx.abort().map(drop)),
        "commit" => match pvtx.commit() {
            Ok(rev) => {
                println!("{rev}");
                ExitCode::SUCCESS
            }
            Err(e) => fail("commit", &e, code("commit", &e)),
        },
        "show" => match pvtx.show() {
            Ok(s) => {
                print_state(&s);
                ExitCode::SUCCESS
            }
            Err(e) => fail("show", &e, code("show", &e)),
        },
        "deploy" => match arg(1) {
            None => fail("deploy", "missing deploy folder", 1),
            Some(d) => done("deploy", pvtx.deploy(Path::new(d))),
        },
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        "queue" => queue(&pvtx, &args[1..]),
        other => fail(
            "command process",
            format!(
                "sub command not found: {other}\nplease use 'help' to find the right sub command"
            ),
            255,
        ),
    }
}

fn queue(pvtx: &Pvtx, args: &[String]) -> ExitCode {
    let arg = |i: usize| args.get(i).map(String::as_str);
    match arg(0) {
        Some("new") => match (arg(1), arg(2)) {
            (None, _) => fail("queue new", "queue argument is required", 1),
            (_, None) => fail("queue new", "objects argument is required", 1),
            (Some(q), Some(o)) => done("queue new", pvtx.queue_new(Path::new(q), Path::new(o))),
        },
        Some("remove") => match arg(1) {
            None => fail("queue remove", "missing argument 'part'", 1),
            Some(p) => done("queue remove", pvtx.queue_remove(p).map(drop)),
        },
        Some("unpack") => match arg(1) {
            None => fail("queue unpack", "missing argument, file or - is required", 1),
            Some("-") => done(
                "queue unpack",
                pvtx.queue_unpack_reader(std::io::stdin().lock(), "stdin", "package")
                    .map(drop),
            ),
            Some(f) => done(
                "queue unpack",
                pvtx.queue_unpack_file(Path::new(f)).map(drop),
            ),
        },
        Some("process") => {
            let base = arg(1).map(|b| Base::parse(Some(b)));
            let queue = match (arg(2), arg(3)) {
                (Some(q), Some(o)) => Some((Path::new(q), Path::new(o))),
                (Some(_), None) => {
                    return fail(
                        "queue process",
                        "an object directory must follow the queue",
                        255,
                    )
                }
                _ => None,
            };
            done(
                "queue process",
                pvtx.queue_process(base.as_ref(), queue).map(drop),
            )
        }
        Some(other) => fail(
            "command process",
            format!(
                "sub command not found: {other}\nplease use 'help' to find the right sub command"
            ),
            255,
        ),
        None => fail(
            "command process",
            "sub command not found: queue\nplease use 'help' to find the right sub command",
            255,
        ),
    }
}
