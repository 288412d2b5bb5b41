//! A `modprobe` command line, for the kernel's module requests
//! (`/proc/sys/kernel/modprobe` calls `modprobe -q -- NAME`) and for a
//! PID 1 that is its own `/sbin/modprobe`.

use std::path::Path;

use crate::{Error, Modprobe};

/// Run `modprobe [-q] [-r] [-v] [-b] [--] NAME [OPTION...]` over the
/// modules of `dir`; the exit code modprobe would give (0 or 1).
pub fn modprobe_main(args: &[String], dir: &Path) -> i32 {
    let (mut quiet, mut remove) = (false, false);
    let mut rest: Vec<&str> = vec![];
    let mut opts_done = false;
    for a in args {
        match a.as_str() {
            "--" if !opts_done => opts_done = true,
            "-q" | "--quiet" if !opts_done => quiet = true,
            "-r" | "--remove" if !opts_done => remove = true,
            // -b (blacklist) and -v (verbose) change nothing here
            "-b" | "--use-blacklist" | "-v" | "--verbose" if !opts_done => {}
            a if !opts_done && a.starts_with('-') => {
                eprintln!("modprobe: unsupported option {a}");
                return 1;
            }
            a => {
                opts_done = true;
                rest.push(a);
            }
        }
    }
    let Some((name, options)) = rest.split_first() else {
        eprintln!("modprobe: no module name");
        return 1;
    };
    let r = Modprobe::open(dir).and_then(|mp| {
        if remove {
            mp.unload(name).map(|_| ())
        } else {
            mp.load(name, &options.join(" ")).map(|_| ())
        }
    });
    match r {
        Ok(()) => 0,
        // a request for something this kernel does not have: quiet, as modprobe
        Err(Error::NotFound { .. }) if quiet => 1,
        Err(e) => {
            eprintln!("modprobe: ERROR: {e}");
            1
        }
    }
}
