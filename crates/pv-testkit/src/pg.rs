//! A throwaway PostgreSQL cluster for tests (Debian's `postgresql`, see
//! scripts/deps.sh): initdb in a temp dir, a server on a free loopback
//! port, stopped and removed on drop. When PostgreSQL is missing or cannot
//! start, the test fails with the reason: it never skips silently.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster; `url` reaches its `postgres` database as `ph`.
pub struct PgCluster {
    bin: PathBuf,
    data: PathBuf,
    pub url: String,
    _dir: tempfile::TempDir,
}

fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    found.retain(|b| b.join("initdb").exists());
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/deps.sh")
    })
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Run a PostgreSQL tool, as `nobody` when we are root (initdb refuses root).
fn pg_run(bin: &Path, tool: &str, args: &[&str]) {
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    };
    let out = c
        .args(args)
        .current_dir("/")
        .output()
        .unwrap_or_else(|e| panic!("PostgreSQL: cannot run {tool}: {e}"));
    assert!(
        out.status.success(),
        "PostgreSQL: {tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgCluster {
    /// Create and start a cluster (fsync off: it is thrown away).
    pub fn start() -> Self {
        let bin = pg_bin();
        let dir = tempfile::tempdir().expect("temp dir for PostgreSQL");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod the PostgreSQL temp dir");
        let data = dir.path().join("data");
        let port = crate::free_port();
        let d = data.to_str().expect("utf-8 temp path");
        pg_run(
            &bin,
            "initdb",
            &["-D", d, "-A", "trust", "-U", "ph", "--no-sync"],
        );
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=200",
            dir.path().display()
        );
        let log = dir.path().join("pg.log");
        pg_run(
            &bin,
            "pg_ctl",
            &[
                "-D",
                d,
                "-l",
                log.to_str().expect("utf-8 temp path"),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        );
        PgCluster {
            bin,
            data,
            url: format!("postgres://ph@127.0.0.1:{port}/postgres"),
            _dir: dir,
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let d = self.data.to_string_lossy().to_string();
        pg_run(&self.bin, "pg_ctl", &["-D", &d, "-m", "immediate", "stop"]);
    }
}
