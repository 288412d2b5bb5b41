//! Progress bars on a terminal, silence otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Whether long operations draw progress bars (on stderr).
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Bars only when stderr is a terminal.
    pub fn auto() -> Self {
        Progress {
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Never draw anything.
    pub fn quiet() -> Self {
        Progress { enabled: false }
    }

    /// A byte-counting bar for `total()` bytes (hidden when disabled or
    /// small; `total` is only called when bars are drawn, so that a quiet
    /// run does not stat every file for nothing).
    pub fn bytes(&self, what: &str, total: impl FnOnce() -> u64) -> Bar {
        self.bytes_over(what, 64 << 20, total)
    }

    /// As [`Progress::bytes`], drawn from `min` bytes on.
    pub fn bytes_over(&self, what: &str, min: u64, total: impl FnOnce() -> u64) -> Bar {
        if !self.enabled {
            return Bar(None);
        }
        let total = total();
        if total < min {
            return Bar(None);
        }
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        Bar(Some(pb))
    }
}

/// A bar that may be hidden.
#[derive(Debug)]
pub struct Bar(Option<ProgressBar>);

impl Bar {
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
    /// Advance by `n()` bytes, computed only if the bar is drawn.
    pub fn inc_with(&self, n: impl FnOnce() -> u64) {
        if let Some(b) = &self.0 {
            b.inc(n());
        }
    }
    /// `r`, advancing the bar by what is read from it.
    pub fn reader<R: std::io::Read>(&self, r: R) -> BarReader<R> {
        BarReader {
            inner: r,
            bar: self.0.clone(),
        }
    }
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// A reader that advances a bar.
pub struct BarReader<R> {
    inner: R,
    bar: Option<ProgressBar>,
}

impl<R: std::io::Read> std::io::Read for BarReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}
