//! Kernel modules with `modprobe` semantics, without `modprobe`.
//!
//! * [`ModuleIndex`]: a modules directory's `modules.dep`, `modules.alias`
//!   (fnmatch patterns), `modules.softdep` and `modules.builtin`, and the
//!   resolution of a name or alias into the files to insert, dependencies
//!   first.
//! * [`Modprobe`]: load (`finit_module`; compressed `.ko.xz`/`.ko.zst`/
//!   `.ko.gz` handed to the kernel when it decompresses itself, else
//!   decompressed here) and unload (`delete_module`, then the dependencies
//!   nobody uses any more), skipping what `/sys/module` and `/proc/modules`
//!   show as loaded or built in.
//!
//! * [`modprobe_main`]: a `modprobe` command line over the same, for the
//!   kernel's own module requests (`/proc/sys/kernel/modprobe`).
//!
//! Used by the runtime's managed drivers and by the PID-1 boot.

mod cli;
mod index;
mod kernel;
pub mod managed;

use std::path::{Path, PathBuf};

pub use cli::modprobe_main;
pub use index::{name_of_path, ModuleEntry, ModuleIndex, Resolved, SoftDep};
pub use kernel::{insert, read_image, remove, Compression, KernelView, ModState};
use tracing::{debug, info};

/// Errors of module resolution and loading.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no modules.dep in {0} (not a modules directory, or depmod was not run)")]
    NoIndex(PathBuf),
    #[error("{file}: {detail}")]
    BadIndex { file: PathBuf, detail: String },
    #[error("module {name} not found in {dir}")]
    NotFound { name: String, dir: PathBuf },
    #[error("module {module} depends on {dep}, which is not in {dir}")]
    MissingDependency {
        module: String,
        dep: String,
        dir: PathBuf,
    },
    #[error("dependency cycle: {0}")]
    Cycle(String),
    #[error("invalid module options {0:?}")]
    BadOptions(String),
    #[error("{path}: cannot decompress: {detail}")]
    Decompress { path: PathBuf, detail: String },
    #[error("cannot insert module {name} ({path}): {reason}")]
    Insert {
        name: String,
        path: PathBuf,
        reason: String,
    },
    #[error("cannot remove module {name}: {reason}")]
    Remove { name: String, reason: String },
    #[error("module {0} is not loaded")]
    NotLoaded(String),
    #[error("this kernel has no loadable module support (no /proc/modules)")]
    NoModuleSupport,
}

pub type Result<T> = std::result::Result<T, Error>;

/// A module name as the kernel knows it: `-` becomes `_`.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// The host's modules directory: `/lib/modules/$(uname -r)`.
pub fn host_modules_dir() -> PathBuf {
    Path::new("/lib/modules").join(kernel_release())
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Modules inserted now, in order.
    pub inserted: Vec<String>,
    /// Modules that were loaded or built in already.
    pub present: Vec<String>,
}

/// `modprobe` over one modules directory.
#[derive(Debug, Clone)]
pub struct Modprobe {
    pub index: ModuleIndex,
    pub kernel: KernelView,
}

impl Modprobe {
    /// Read the index of `dir` (e.g. [`host_modules_dir`]).
    pub fn open(dir: &Path) -> Result<Modprobe> {
        Ok(Modprobe {
            index: ModuleIndex::load(dir)?,
            kernel: KernelView::default(),
        })
    }

    /// `modprobe NAME [OPTIONS]`: resolve, then insert what is missing,
    /// dependencies first; `options` go to the named module only (to each
    /// module an alias matched). Loaded or built-in modules are skipped.
    pub fn load(&self, name: &str, options: &str) -> Result<LoadReport> {
        let mut report = LoadReport::default();
        let modules = match self.index.resolve(name)? {
            Resolved::Builtin(m) => {
                debug!("module {m} is built into the kernel");
                report.present.push(m);
                return Ok(report);
            }
            Resolved::Modules(m) => m,
        };
        if !self.kernel.supports_modules() {
            return Err(Error::NoModuleSupport);
        }
        let wanted = normalize(name);
        let direct: Vec<String> = if self.index.modules.contains_key(&wanted) {
            vec![wanted]
        } else {
            self.index.alias_matches(name)
        };
        for m in &modules {
            match self.kernel.state(&m.name) {
                ModState::Live | ModState::Builtin | ModState::Transient => {
                    report.present.push(m.name.clone());
                    continue;
                }
                ModState::Absent => {}
            }
            let params = if direct.contains(&m.name) {
                options
            } else {
                ""
            };
            let path = self.index.path_of(m);
            kernel::insert(&self.kernel, &m.name, &path, params)?;
            info!("inserted module {} ({})", m.name, path.display());
            report.inserted.push(m.name.clone());
        }
        Ok(report)
    }

    /// `modprobe -r NAME`: remove the module (every module an alias
    /// matches), then its dependencies that nothing uses any more, in
    /// reverse load order. Built-in modules cannot be removed.
    pub fn unload(&self, name: &str) -> Result<Vec<String>> {
        let modules = match self.index.resolve(name)? {
            Resolved::Builtin(m) => {
                return Err(Error::Remove {
                    name: m,
                    reason: "module is built into the kernel".into(),
                })
            }
            Resolved::Modules(m) => m,
        };
        let wanted = normalize(name);
        let direct: Vec<String> = if self.index.modules.contains_key(&wanted) {
            vec![wanted]
        } else {
            self.index.alias_matches(name)
        };
        let mut removed = vec![];
        let mut any_loaded = false;
        for m in modules.iter().rev() {
            let is_direct = direct.contains(&m.name);
            match self.kernel.state(&m.name) {
                ModState::Live | ModState::Transient => {}
                ModState::Builtin => continue,
                ModState::Absent => continue,
            }
            if is_direct {
                any_loaded = true;
                kernel::remove(&m.name)?;
                info!("removed module {}", m.name);
                removed.push(m.name.clone());
            } else if self.kernel.refcount(&m.name) == Some(0) && self.holders_gone(&m.name) {
                // a dependency: best effort, as modprobe -r does
                match kernel::remove(&m.name) {
                    Ok(()) => {
                        info!("removed unused dependency {}", m.name);
                        removed.push(m.name.clone());
                    }
                    Err(e) => debug!("{e}"),
                }
            }
        }
        if !any_loaded {
            return Err(Error::NotLoaded(normalize(name)));
        }
        Ok(removed)
    }

    fn holders_gone(&self, name: &str) -> bool {
        let dir = self.kernel.sys_module.join(name).join("holders");
        std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true)
    }

    /// True if `name` (a module or an alias) is loaded or built in.
    pub fn is_loaded(&self, name: &str) -> bool {
        let targets = match self.index.resolve(name) {
            Ok(Resolved::Builtin(_)) => return true,
            Ok(Resolved::Modules(_)) => {
                let n = normalize(name);
                if self.index.modules.contains_key(&n) {
                    vec![n]
                } else {
                    self.index.alias_matches(name)
                }
            }
            Err(_) => vec![normalize(name)],
        };
        !targets.is_empty()
            && targets
                .iter()
                .all(|t| self.kernel.state(t) != ModState::Absent)
    }
}
