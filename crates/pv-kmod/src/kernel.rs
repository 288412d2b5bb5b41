//! The kernel side: what is loaded (`/proc/modules`, `/sys/module`),
//! `finit_module`/`init_module` and `delete_module`.

use std::ffi::CString;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// `MODULE_INIT_COMPRESSED_FILE` (Linux 6.4+): the kernel decompresses.
const MODULE_INIT_COMPRESSED_FILE: i32 = 4;

/// Where the kernel shows its modules (`/proc` and `/sys`, movable for tests).
#[derive(Debug, Clone)]
pub struct KernelView {
    pub proc_modules: PathBuf,
    pub sys_module: PathBuf,
}

impl Default for KernelView {
    fn default() -> Self {
        KernelView {
            proc_modules: "/proc/modules".into(),
            sys_module: "/sys/module".into(),
        }
    }
}

/// How a module is present in the running kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModState {
    /// Loaded and live.
    Live,
    /// Being loaded or unloaded.
    Transient,
    /// Built into the kernel image.
    Builtin,
    Absent,
}

impl KernelView {
    /// True if this kernel can load modules at all.
    pub fn supports_modules(&self) -> bool {
        self.proc_modules.exists()
    }

    /// The state of module `name` (normalized).
    pub fn state(&self, name: &str) -> ModState {
        let sys = self.sys_module.join(name);
        match std::fs::read_to_string(sys.join("initstate")) {
            Ok(s) if s.trim() == "live" => return ModState::Live,
            Ok(_) => return ModState::Transient,
            Err(_) => {}
        }
        // /proc/modules is the authority where /sys lacks the module
        if let Ok(text) = std::fs::read_to_string(&self.proc_modules) {
            for line in text.lines() {
                let mut f = line.split_whitespace();
                if f.next() == Some(name) {
                    return match f.nth(3) {
                        Some("Live") | None => ModState::Live,
                        Some(_) => ModState::Transient,
                    };
                }
            }
        }
        // a /sys/module dir without initstate is a built-in (or its params)
        if sys.is_dir() {
            return ModState::Builtin;
        }
        ModState::Absent
    }

    /// Reference count of a loaded module (`None` if unknown).
    pub fn refcount(&self, name: &str) -> Option<u32> {
        if let Ok(s) = std::fs::read_to_string(self.sys_module.join(name).join("refcnt")) {
            return s.trim().parse().ok();
        }
        let text = std::fs::read_to_string(&self.proc_modules).ok()?;
        text.lines().find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some(name))
                .then(|| f.nth(1).and_then(|n| n.parse().ok()))
                .flatten()
        })
    }

    /// The compression the kernel can undo itself (`/sys/module/compression`).
    pub fn kernel_decompresses(&self) -> Option<String> {
        std::fs::read_to_string(self.sys_module.join("compression"))
            .ok()
            .map(|s| s.trim().to_string())
    }
}

/// The compression of a module file, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
    Zstd,
    Gzip,
}

impl Compression {
    pub fn of(path: &Path) -> Compression {
        let s = path.to_string_lossy();
        if s.ends_with(".ko.xz") {
            Compression::Xz
        } else if s.ends_with(".ko.zst") {
            Compression::Zstd
        } else if s.ends_with(".ko.gz") {
            Compression::Gzip
        } else {
            Compression::None
        }
    }
    fn sysfs_name(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
        }
    }
}

/// Read a module file into memory, decompressed.
pub fn read_image(path: &Path) -> Result<Vec<u8>> {
    let io = |op: &'static str| {
        move |e: std::io::Error| Error::Io {
            op,
            path: path.to_path_buf(),
            source: e,
        }
    };
    let raw = std::fs::read(path).map_err(io("read"))?;
    let bad = |detail: String| Error::Decompress {
        path: path.to_path_buf(),
        detail,
    };
    match Compression::of(path) {
        Compression::None => Ok(raw),
        Compression::Xz => {
            let mut out = vec![];
            lzma_rs::xz_decompress(&mut raw.as_slice(), &mut out)
                .map_err(|e| bad(format!("{e:?}")))?;
            Ok(out)
        }
        Compression::Zstd => {
            let mut out = vec![];
            ruzstd::decoding::StreamingDecoder::new(raw.as_slice())
                .map_err(|e| bad(e.to_string()))?
                .read_to_end(&mut out)
                .map_err(|e| bad(e.to_string()))?;
            Ok(out)
        }
        Compression::Gzip => {
            let mut out = vec![];
            flate2::read::GzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .map_err(|e| bad(e.to_string()))?;
            Ok(out)
        }
    }
}

/// Insert one module file with `params` (`"a=1 b=2"`). A module that is
/// already loaded (`EEXIST`) is success.
pub fn insert(view: &KernelView, name: &str, path: &Path, params: &str) -> Result<()> {
    let cparams = CString::new(params).map_err(|_| Error::BadOptions(params.to_string()))?;
    let comp = Compression::of(path);
    let by_kernel = comp == Compression::None
        || view
            .kernel_decompresses()
            .is_some_and(|k| k == comp.sysfs_name());
    let r = if by_kernel {
        let f = std::fs::File::open(path).map_err(|e| Error::Io {
            op: "open",
            path: path.to_path_buf(),
            source: e,
        })?;
        let flags = if comp == Compression::None {
            0
        } else {
            MODULE_INIT_COMPRESSED_FILE
        };
        rustix::system::finit_module(&f, &cparams, flags)
    } else {
        let image = read_image(path)?;
        rustix::system::init_module(&image, &cparams)
    };
    match r {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(Error::Insert {
            name: name.to_string(),
            path: path.to_path_buf(),
            reason: insert_reason(e),
        }),
    }
}

fn insert_reason(e: rustix::io::Errno) -> String {
    let what = match e {
        rustix::io::Errno::NOEXEC => "invalid module format (built for another kernel?)",
        rustix::io::Errno::NOENT => "unknown symbol in module, or unknown parameter",
        rustix::io::Errno::INVAL => "invalid parameters",
        rustix::io::Errno::PERM => "operation not permitted (root and CAP_SYS_MODULE needed)",
        rustix::io::Errno::NOSYS => "the kernel has no module support",
        rustix::io::Errno::KEYREJECTED | rustix::io::Errno::BADMSG => {
            "signature rejected by the kernel"
        }
        _ => "",
    };
    let e = std::io::Error::from(e);
    if what.is_empty() {
        e.to_string()
    } else {
        format!("{what} ({e})")
    }
}

/// Remove a loaded module (non-blocking, as `modprobe -r`).
pub fn remove(name: &str) -> Result<()> {
    let c = CString::new(name).map_err(|_| Error::BadOptions(name.to_string()))?;
    rustix::system::delete_module(&c, libc_o_nonblock()).map_err(|e| Error::Remove {
        name: name.to_string(),
        reason: match e {
            rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::BUSY => {
                format!("module is in use ({})", std::io::Error::from(e))
            }
            rustix::io::Errno::NOENT => "module is not loaded".to_string(),
            e => std::io::Error::from(e).to_string(),
        },
    })
}

fn libc_o_nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}
