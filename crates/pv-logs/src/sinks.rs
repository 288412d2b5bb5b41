//! The writer side of the server: applies each record to the configured
//! outputs (filetree, singlefile, stdout), the update sink, and keeps the
//! log directory within its budget.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use pv_fs::{FsError, IoResultExt};

use crate::format;
use crate::platform::PANTAVISOR_PLATFORM;
use crate::record::LogRecord;
use crate::rotation::{self, Watermarks};
use crate::{Level, LogConfig, TimestampMode};

/// File name of the runtime's own log inside `<logs>/<rev>/pantavisor/`.
pub const PANTAVISOR_LOG: &str = "pantavisor.log";
/// File name of the singlefile output inside `<logs>/<rev>/`.
pub const SINGLEFILE_LOG: &str = "pv.log";
/// The update sink file while the update runs.
pub const UPDATE_LOGS_TMP: &str = "logs.tmp";
/// The update sink file once the update is finished.
pub const UPDATE_LOGS: &str = "logs";
/// Messages between two recomputations of the directory size.
pub const RECOMPUTE_EVERY: u64 = 100;

/// `<storage>/trails/<rev>/.pv/<name>`.
pub fn update_log_path(storage_dir: &Path, rev: &str, name: &str) -> PathBuf {
    storage_dir.join("trails").join(rev).join(".pv").join(name)
}

/// Make a platform name usable as one path segment.
pub fn sanitize_platform(p: &str) -> String {
    let s: String = p
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    match s.as_str() {
        "" | "." | ".." => "_".to_string(),
        _ => s,
    }
}

/// Make a source usable as a relative path below the platform directory:
/// leading `/` and empty or `.` segments are dropped, `..` becomes `_`.
pub fn sanitize_source(src: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for seg in src.split('/') {
        match seg {
            "" | "." => {}
            ".." => out.push("_"),
            s => out.push(s.replace('\0', "_")),
        }
    }
    if out.as_os_str().is_empty() {
        out.push("unknown");
    }
    out
}

/// State of the writer thread.
pub(crate) struct Writer {
    cfg: LogConfig,
    running_rev: Option<String>,
    update_rev: Option<String>,
    wm: Watermarks,
    cur_size: u64,
    counter: u64,
    last_error: Option<String>,
    stdout: Box<dyn Write + Send>,
}

impl Writer {
    pub(crate) fn new(cfg: LogConfig, wm: Watermarks) -> Self {
        let cur_size = rotation::tree_size(&cfg.logs_dir);
        let mut w = Writer {
            running_rev: cfg.revision.clone(),
            cfg,
            update_rev: None,
            wm,
            cur_size,
            counter: 0,
            last_error: None,
            stdout: Box::new(std::io::stdout()),
        };
        w.enforce_budget();
        w
    }

    fn tsec(&self, rec: &LogRecord) -> u64 {
        match self.cfg.timestamp {
            TimestampMode::Relative => rec.mono,
            TimestampMode::Absolute => u64::try_from(rec.time).unwrap_or(0),
        }
    }

    pub(crate) fn handle(&mut self, rec: &LogRecord) {
        let tsec = self.tsec(rec);
        if rec.level.passes(self.cfg.level) {
            if self.cfg.outputs.filetree {
                let r = self.write_filetree(rec, tsec);
                self.report(r);
            }
            if self.cfg.outputs.singlefile {
                let r = self.write_singlefile(rec, tsec);
                self.report(r);
            }
            self.write_stdout(rec, tsec);
        }
        if rec.level <= Level::Error {
            let r = self.write_update(rec, tsec);
            self.report(r);
        }
        self.counter += 1;
        if self.counter >= RECOMPUTE_EVERY {
            self.counter = 0;
            self.cur_size = rotation::tree_size(&self.cfg.logs_dir);
            self.enforce_budget();
        }
    }

    fn enforce_budget(&mut self) {
        let (size, _removed) =
            rotation::enforce_budget(&self.cfg.logs_dir, &self.wm, self.cur_size);
        self.cur_size = size;
    }

    fn report(&mut self, r: Result<(), FsError>) {
        if let Err(e) = r {
            let msg = e.to_string();
            if self.last_error.as_deref() != Some(msg.as_str()) {
                eprintln!("pv-logs: {msg}");
                self.last_error = Some(msg);
            }
        }
    }

    /// Append to a file under the log directory, then rotate it if needed.
    fn append_log_file(&mut self, path: &Path, data: &[u8]) -> Result<(), FsError> {
        if data.is_empty() {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).at("create directory", dir)?;
        }
        append(path, data)?;
        self.cur_size += data.len() as u64;
        if let Some(r) = rotation::rotate_if_needed(path, self.wm.rotate_size)? {
            self.cur_size = (self.cur_size + r.compressed_size).saturating_sub(r.original_size);
        }
        Ok(())
    }

    fn write_filetree(&mut self, rec: &LogRecord, tsec: u64) -> Result<(), FsError> {
        let Some(rev) = self.running_rev.clone() else {
            return Ok(());
        };
        let base = self.cfg.logs_dir.join(&rev);
        let ts = self.cfg.filetree_timestamp_format.clone();
        if rec.platform == PANTAVISOR_PLATFORM {
            let path = base.join(PANTAVISOR_PLATFORM).join(PANTAVISOR_LOG);
            let text = format::pv_lines(rec, tsec, ts.as_deref());
            self.append_log_file(&path, text.as_bytes())
        } else {
            let path = base
                .join(sanitize_platform(&rec.platform))
                .join(sanitize_source(&rec.source));
            let data = format::raw_bytes(rec, ts.as_deref());
            self.append_log_file(&path, &data)
        }
    }

    fn write_singlefile(&mut self, rec: &LogRecord, tsec: u64) -> Result<(), FsError> {
        let Some(rev) = self.running_rev.clone() else {
            return Ok(());
        };
        let path = self.cfg.logs_dir.join(&rev).join(SINGLEFILE_LOG);
        let text = format::json_lines(rec, tsec, self.cfg.singlefile_timestamp_format.as_deref());
        self.append_log_file(&path, text.as_bytes())
    }

    fn write_stdout(&mut self, rec: &LogRecord, tsec: u64) {
        let o = &self.cfg.outputs;
        let is_pv = rec.platform == PANTAVISOR_PLATFORM;
        if o.stdout || (o.stdout_pantavisor && is_pv) || (o.stdout_containers && !is_pv) {
            let text = format::pv_lines(rec, tsec, self.cfg.stdout_timestamp_format.as_deref());
            let _ = self.stdout.write_all(text.as_bytes());
            let _ = self.stdout.flush();
        }
    }

    fn write_update(&mut self, rec: &LogRecord, tsec: u64) -> Result<(), FsError> {
        let Some(rev) = &self.update_rev else {
            return Ok(());
        };
        let path = update_log_path(&self.cfg.storage_dir, rev, UPDATE_LOGS_TMP);
        let text = format::json_lines(rec, tsec, self.cfg.singlefile_timestamp_format.as_deref());
        if text.is_empty() {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).at("create directory", dir)?;
        }
        append(&path, text.as_bytes())
    }

    pub(crate) fn set_revision(&mut self, rev: String) {
        self.running_rev = Some(rev);
    }

    pub(crate) fn start_update(&mut self, rev: String) {
        self.update_rev = Some(rev);
    }

    /// Promote `.pv/logs.tmp` to `.pv/logs` and stop collecting. Returns
    /// the promoted file, if there was one.
    pub(crate) fn stop_update(&mut self) -> Result<Option<PathBuf>, FsError> {
        let Some(rev) = self.update_rev.take() else {
            return Ok(None);
        };
        let tmp = update_log_path(&self.cfg.storage_dir, &rev, UPDATE_LOGS_TMP);
        if !tmp.exists() {
            return Ok(None);
        }
        let dst = update_log_path(&self.cfg.storage_dir, &rev, UPDATE_LOGS);
        pv_fs::rename_durable(&tmp, &dst)?;
        Ok(Some(dst))
    }
}

fn append(path: &Path, data: &[u8]) -> Result<(), FsError> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(path)
        .at("open", path)?;
    f.write_all(data).at("append to", path)
}

/// Read the update log of `rev` (`.pv/logs`, else `.pv/logs.tmp`) for the
/// progress JSON: at most `max` bytes (the original embeds ≤ 4 KiB), cut at
/// a line boundary, without the final newline. `None` if there is none.
pub fn read_update_logs(storage_dir: &Path, rev: &str, max: usize) -> Option<String> {
    let data = [UPDATE_LOGS, UPDATE_LOGS_TMP]
        .iter()
        .find_map(|n| fs::read(update_log_path(storage_dir, rev, n)).ok())?;
    let mut text = String::from_utf8_lossy(&data).into_owned();
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let cut = text[..cut].rfind('\n').map_or(cut, |p| p + 1);
        text.truncate(cut);
    }
    while text.ends_with('\n') {
        text.pop();
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Payload;
    use crate::Outputs;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn stdout_of(outputs: &str) -> String {
        let d = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            logs_dir: d.path().join("logs"),
            storage_dir: d.path().to_path_buf(),
            revision: Some("0".into()),
            level: Level::Info,
            outputs: Outputs::parse(outputs).unwrap(),
            ..LogConfig::default()
        };
        let mut w = Writer::new(cfg, Watermarks::new(0, 4, 5));
        let cap = Capture::default();
        w.stdout = Box::new(cap.clone());
        for (plat, lvl) in [
            ("pantavisor", Level::Info),
            ("app", Level::Warn),
            ("app", Level::Debug),
        ] {
            let mut r = LogRecord::now(lvl, plat, "s", b"m".to_vec(), Payload::Line);
            r.mono = 7;
            w.handle(&r);
        }
        let out = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
        out
    }

    #[test]
    fn stdout_variants() {
        let pv = "[pantavisor] 7 INFO\t -- [s]: m\n";
        let app = "[app] 7 WARN\t -- [s]: m\n";
        assert_eq!(stdout_of("stdout"), format!("{pv}{app}"));
        assert_eq!(stdout_of("stdout.pantavisor"), pv);
        assert_eq!(stdout_of("stdout.containers"), app);
        assert_eq!(stdout_of("filetree,nullsink"), "");
    }

    #[test]
    fn sanitizing() {
        assert_eq!(sanitize_platform("a/b"), "a_b");
        assert_eq!(sanitize_platform(".."), "_");
        assert_eq!(
            sanitize_source("/var/log/syslog"),
            PathBuf::from("var/log/syslog")
        );
        assert_eq!(sanitize_source("../../etc/x"), PathBuf::from("_/_/etc/x"));
        assert_eq!(sanitize_source("//"), PathBuf::from("unknown"));
        assert_eq!(
            sanitize_source("lxc/console.log"),
            PathBuf::from("lxc/console.log")
        );
    }

    #[test]
    fn update_logs_reader() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_update_logs(d.path(), "1", 4096), None);
        let p = update_log_path(d.path(), "1", UPDATE_LOGS);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, "{\"a\":1}\n{\"b\":2}\n").unwrap();
        assert_eq!(
            read_update_logs(d.path(), "1", 4096).unwrap(),
            "{\"a\":1}\n{\"b\":2}"
        );
        assert_eq!(read_update_logs(d.path(), "1", 10).unwrap(), "{\"a\":1}");
    }
}
