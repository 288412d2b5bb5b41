//! Errors with the exit codes of the original pvr.

use std::fmt::Display;

/// An error and the process exit code it maps to.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
    /// Unwrapped errors are printed as `ERROR: <message>` (exit 1).
    pub prefixed: bool,
}

impl Exit {
    /// An error the command wraps with its own exit code.
    pub fn code(code: i32, e: impl Display) -> Self {
        Exit {
            code,
            message: e.to_string(),
            prefixed: false,
        }
    }

    /// Print to stderr and return the exit code.
    pub fn report(&self) -> i32 {
        if self.prefixed {
            eprintln!("ERROR: {}", self.message);
        } else if !self.message.is_empty() {
            eprintln!("{}", self.message);
        }
        self.code
    }
}

impl<E: Into<anyhow::Error>> From<E> for Exit {
    fn from(e: E) -> Self {
        let e: anyhow::Error = e.into();
        Exit {
            code: 1,
            message: format!("{e:#}"),
            prefixed: true,
        }
    }
}

/// Attach an exit code to a result.
pub trait WithCode<T> {
    fn code(self, code: i32) -> Result<T, Exit>;
}

impl<T, E: Display> WithCode<T> for Result<T, E> {
    fn code(self, code: i32) -> Result<T, Exit> {
        self.map_err(|e| Exit::code(code, e))
    }
}

/// Write to stdout; exit with 141 (128 + SIGPIPE) if the reader went away.
pub fn write_stdout(args: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let r = out.write_fmt(args).and_then(|_| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = r.and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("ERROR: write to stdout: {e}");
        std::process::exit(1);
    }
}
